"""Losses of the linear tuners and estimators: squared error, logistic, multinomial.

Each loss gives its mean over samples (the held-out criterion), the gradient of that mean in
the scores, and the per-sample gradient in the solvers' scale (Σ loss, ½ squared error).
"""
from __future__ import annotations

from enum import Enum

import numpy as np

from lamina.solvers.multinomial import logsumexp_rows, softmax_rows


class Loss(str, Enum):
    """Data fits the linear tuners know: squared error (regression), logistic (y ∈ {0, 1})
    and multinomial (y ∈ {0 … K−1}, softmax cross-entropy)."""

    SQUARED = "squared"
    LOGISTIC = "logistic"
    MULTINOMIAL = "multinomial"


def _one_hot(codes, n_classes: int) -> np.ndarray:
    out = np.zeros((codes.shape[0], n_classes))
    out[np.arange(codes.shape[0]), codes.astype(np.int64)] = 1.0
    return out


def mean_loss(loss: Loss, y, z, weight=None) -> float:
    """Mean squared error mean((y − z)²), mean logistic loss of scores z, or mean
    cross-entropy of scores z (n, K) for class codes y; weighted Σ s_i ℓ_i / Σ s_i when
    ``weight`` is given."""
    if loss is Loss.SQUARED:
        per_sample = (y - z) ** 2
    elif loss is Loss.MULTINOMIAL:
        per_sample = logsumexp_rows(z) - z[np.arange(z.shape[0]), y.astype(np.int64)]
    else:
        per_sample = np.logaddexp(0.0, z) - y * z
    if weight is None:
        return float(np.mean(per_sample))
    total = float(np.sum(weight))   # a held-out fold of weight 0 has no mean: NaN, which the criteria skip
    return float(weight @ per_sample / total) if total > 0 else float("nan")


def loss_gradient(loss: Loss, y, z, weight=None) -> np.ndarray:
    """d mean_loss / dz, shape (n,) (or (n, K) for the multinomial loss); NaN where the weights sum
    to 0 (no mean, so no gradient: the criteria skip such a fold, as they skip its NaN mean)."""
    scale = (2.0 if loss is Loss.SQUARED else 1.0)
    if weight is None:
        return sample_gradient(loss, y, z) * (scale / y.shape[0])
    total = float(np.sum(weight))
    if total <= 0:
        return np.full(np.shape(z), np.nan)
    share = scale * weight / total
    return sample_gradient(loss, y, z) * (share[:, None] if z.ndim == 2 else share)


def sample_gradient(loss: Loss, y, z) -> np.ndarray:
    """d (Σ loss) / dz in the solver's scale: z − y (½ squared error), σ(z) − y, softmax(z) − Y."""
    if loss is Loss.SQUARED:
        return z - y
    if loss is Loss.MULTINOMIAL:
        return softmax_rows(z) - _one_hot(y, z.shape[1])
    return sigmoid(z) - y


def sigmoid(z):
    """The logistic function 1/(1 + e^{−z}), by tanh (no overflow)."""
    return 0.5 * (1.0 + np.tanh(0.5 * z))
