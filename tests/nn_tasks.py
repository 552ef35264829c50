"""A user's own model and data for the `lamina nn --task module:function` test."""
import torch
from torch import nn


class TwoBranch(nn.Module):
    """Not a Sequential: two branches joined, with BatchNorm."""

    def __init__(self):
        super().__init__()
        self.left = nn.Linear(6, 8)
        self.norm = nn.BatchNorm1d(8)
        self.right = nn.Linear(6, 8)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(torch.cat([torch.relu(self.norm(self.left(x))), torch.tanh(self.right(x))], dim=1))


def two_branch(seed):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(160, 6, generator=generator)
    y = (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
    torch.manual_seed(seed)
    return TwoBranch(), (X[:120], y[:120]), (X[120:], y[120:]), "classification"


class Broken(nn.Module):
    """A model whose forward pass raises: every cell of a study on it fails."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(6, 3)

    def forward(self, x):
        raise RuntimeError("forward of the <b>broken</b> model")


def broken_forward(seed):
    model, train, test, likelihood = two_branch(seed)
    return Broken(), train, test, likelihood


def flaky(seed):
    """two_branch, or a broken model while LAMINA_TEST_BREAK is set (a fixable environment)."""
    import os
    return broken_forward(seed) if os.environ.get("LAMINA_TEST_BREAK") else two_branch(seed)


def tiny(seed):
    """A very small classification task (kill and fuzz tests): 4 inputs, 2 classes, MLP 4-6-2."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(48, 4, generator=generator)
    y = (X[:, 0] - X[:, 1] > 0).long()
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 2))
    return model, (X[:32], y[:32]), (X[32:], y[32:]), "classification"


EVIL = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"


class Evil(nn.Module):
    """A model whose error message is HTML meant to run in the report."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(4, 2)

    def forward(self, x):
        raise RuntimeError(EVIL)


def evil(seed):
    model, train, test, likelihood = tiny(seed)
    return Evil(), train, test, likelihood


def one_thread_only(seed):
    """The two-branch task, but only in a process whose torch runs one thread (``--threads 1``)."""
    if torch.get_num_threads() != 1:
        raise RuntimeError(f"this worker runs {torch.get_num_threads()} torch threads, not 1")
    return two_branch(seed)
