"""The run on all the data after the calibration: a retraining that learns nothing falls back to
continuing the calibrated weights (lamina.torch.final_run)."""
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from lamina.torch.final_run import learned_nothing, train_on_all_data
from lamina.torch.heldout_budget import continued_epochs
from lamina.torch.likelihoods import Classification, Gaussian, chance_nll
from lamina.torch.penalty import Regularizer
from lamina.torch.result import Recipe


def test_chance_is_the_entropy_of_the_class_frequencies():
    y = torch.tensor([0] * 30 + [1] * 10)
    assert chance_nll(Classification(), y) == pytest.approx(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
    assert chance_nll(Classification(), torch.tensor([2, 2, 5, 5])) == pytest.approx(math.log(2))   # absent classes
    assert chance_nll(Gaussian(), torch.zeros(4)) is None


def test_learned_nothing_reads_the_last_epoch_against_chance():
    assert learned_nothing([0.5, 2.30], math.log(10))
    assert not learned_nothing([2.3, 0.9], math.log(10))
    assert not learned_nothing([], math.log(10)) and not learned_nothing([5.0], None)


def _setup(delta):
    X, y = load_digits(return_X_y=True)
    data = (torch.as_tensor((X[:200] / 16).astype(np.float32)), torch.as_tensor(y[:200]))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.SiLU(), nn.Linear(32, 32), nn.SiLU(), nn.Linear(32, 10))
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with torch.no_grad():   # "calibrated" weights: anything but the initial ones
        for p in model.parameters():
            p.add_(0.01)
    calibrated = {k: v.detach().clone() for k, v in model.state_dict().items()}
    recipe = Recipe(epochs=12, lr=3e-3, batch_size=64, seed=0)
    return model, data, Regularizer(model, 200, delta), recipe, init_state, calibrated


def test_a_retraining_at_chance_falls_back_to_the_calibrated_weights():
    """δ = 10⁵ pulls the retrained weights to zero: a constant output, the training loss at chance.
    A calibration that had learned (its losses below chance): the calibrated weights continue for
    the rest of the run's steps, and the run says so."""
    model, data, reg, recipe, init_state, calibrated = _setup(1e5)
    runs, done = train_on_all_data(model, data, Classification(), recipe, reg, first=4, stretch=1.0, refit=True,
                                   init_state=init_state, calibration_losses=[2.0, 0.6], progress=False)
    assert done == "collapsed: continued" and len(runs) == 2
    assert learned_nothing(runs[0].history["loss"], chance_nll(Classification(), data[1]))
    assert runs[0].epochs == 12 and runs[1].epochs == continued_epochs(12, 4)


def test_a_calibration_at_chance_too_keeps_the_retraining():
    model, data, reg, recipe, init_state, _ = _setup(1e5)
    runs, done = train_on_all_data(model, data, Classification(), recipe, reg, first=4, stretch=1.0, refit=True,
                                   init_state=init_state, calibration_losses=[2.31, 2.30], progress=False)
    assert done is True and len(runs) == 1


def test_a_retraining_that_learns_is_kept_from_the_initial_weights():
    model, data, reg, recipe, init_state, calibrated = _setup(1e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    runs, done = train_on_all_data(model, data, Classification(), recipe, reg, first=4, stretch=1.0, refit=True,
                                   init_state=init_state, calibration_losses=[2.0, 0.6], progress=False)
    assert done is True and len(runs) == 1 and runs[0].epochs == 12
    assert runs[0].history["loss"][-1] < 0.9 * chance_nll(Classification(), data[1])
    # trained from init_state, not from the calibrated weights: the same run from init_state matches
    twin = nn.Sequential(nn.Linear(64, 32), nn.SiLU(), nn.Linear(32, 32), nn.SiLU(), nn.Linear(32, 10))
    twin.load_state_dict(init_state)
    again, _ = train_on_all_data(twin, data, Classification(), recipe, Regularizer(twin, 200, 1e-3), first=4,
                                 stretch=1.0, refit=True, init_state=init_state, calibration_losses=[0.6])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))
    assert not all(torch.equal(a, before[k]) for k, a in model.state_dict().items())


def test_without_refit_the_calibrated_weights_continue():
    model, data, reg, recipe, init_state, calibrated = _setup(1.0)
    runs, done = train_on_all_data(model, data, Classification(), recipe, reg, first=4, stretch=1.0, refit=False,
                                   init_state=None, calibration_losses=[0.6], progress=False)
    assert done is False and len(runs) == 1 and runs[0].epochs == continued_epochs(12, 4)
