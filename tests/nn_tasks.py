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
