"""Data shipped with scikit-learn and the small networks the studies and benchmarks train on it.

Nothing is downloaded. Splits are stratified and drawn from ``seed`` (scikit-learn's
``train_test_split``), so that the sparsity study's cells and the benchmark rows of the same seed
see the same data (the `lamina nn` digits and diabetes tasks draw their own splits,
:mod:`lamina.studies.nn`: a study cell and a ``bench_nn`` row of one seed share about a quarter of
their training images); models are built after ``torch.manual_seed`` by the caller.

* :func:`digits_split` — the 8×8 digits, pixels / 16, 500 training images, the other 1297 as test;
* :func:`cancer_split` — breast_cancer, 400 training rows, the other 169 as test, standardized
  with the training mean and standard deviation;
* :func:`relu_mlp` — Linear layers of the given widths with ReLU between them;
* :class:`DigitsCNN` — conv(1→16, 3×3) + BatchNorm + ReLU + 2×2 max-pool → conv(16→32) +
  BatchNorm + ReLU + max-pool → Linear(128 → 10), on the digits as 8×8 images.
"""
from __future__ import annotations

import functools

import numpy as np


def digits_split(seed: int, n_train: int = 500):
    """(X_train, y_train, X_test, y_test) of the digits, X float32 in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, train_size=n_train, random_state=seed, stratify=y)
    return Xtr.astype(np.float32), ytr, Xte.astype(np.float32), yte


def cancer_split(seed: int, n_train: int = 400):
    """(X_train, y_train, X_test, y_test) of breast_cancer, X standardized on the training rows."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=n_train, random_state=seed, stratify=y)
    mean, std = Xtr.mean(0), Xtr.std(0)
    return ((Xtr - mean) / std).astype(np.float32), ytr, ((Xte - mean) / std).astype(np.float32), yte


def relu_mlp(sizes):
    """Linear layers of the given widths with ReLU between them."""
    from torch import nn
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


@functools.lru_cache(maxsize=1)
def _cnn_class():
    import torch
    from torch import nn

    class DigitsCNN(nn.Module):
        """Two conv + BatchNorm + ReLU + max-pool blocks and a linear head, on 8×8 digits."""

        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16)
            self.conv2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32)
            self.head = nn.Linear(32 * 2 * 2, 10)

        def forward(self, x):
            h = x.view(-1, 1, 8, 8)
            h = torch.max_pool2d(self.bn1(self.conv1(h)).relu(), 2)
            h = torch.max_pool2d(self.bn2(self.conv2(h)).relu(), 2)
            return self.head(h.flatten(1))

    return DigitsCNN


def __getattr__(name):
    if name == "DigitsCNN":   # torch is imported on first use only
        return _cnn_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
