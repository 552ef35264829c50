"""Task functions of every wrong shape, for the loader fuzz test (`--task fuzz_tasks:NAME`)."""
import numpy as np
import torch


def returns_none(seed):
    return None


def returns_three(seed):
    return 1, 2, 3


def raises(seed):
    raise KeyError("no such dataset")


def bad_likelihood(seed):
    return torch.nn.Linear(2, 2), (np.zeros((4, 2)), np.zeros(4)), (np.zeros((4, 2)), np.zeros(4)), "poisson"


def bad_pairs(seed):
    return torch.nn.Linear(2, 2), np.zeros((4, 2)), "test", "classification"


def linear_wrong(seed):
    return np.zeros((5, 2)), None


NOT_A_FUNCTION = 3
