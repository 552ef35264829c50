"""Elastic net and its two ends, L1 and L2, with a λ per group.

R(x) = Σ_j λ_j w_j ( ρ |x_j| + (1 − ρ)/2 · x_j² ),  λ_j the λ of x_j's group, w_j its penalty
factor and ρ = ``l1_ratio`` (scikit-learn's parametrization). ρ = 1 is L1, ρ = 0 is L2 = ½‖x‖².
"""
from __future__ import annotations

import numpy as np

from lamina.groups import Groups
from lamina.penalties.base import Penalty, direction_thresholds, max_ratio


def elastic_net_prox(x, l1, l2, step):
    """sign(x) max(|x| − step·l1, 0) / (1 + step·l2), for per-coefficient strengths l1, l2.

    The kernel of :meth:`ElasticNet.prox`, exposed for solvers that split λ once and call the
    prox every iteration.
    """
    threshold = step * l1
    out = x - np.clip(x, -threshold, threshold)  # soft thresholding
    if np.any(l2):
        out /= 1.0 + step * l2
    return out


class ElasticNet(Penalty):
    """Elastic net λ(ρ|x| + (1−ρ)/2 x²) with λ per group and penalty factors per coefficient.

    Parameters
    ----------
    l1_ratio : float in [0, 1]
        ρ, the share of the L1 part.
    weights : array, shape (n_features,), optional
        Penalty factors (0 = unpenalized coefficient).

    Notes
    -----
    prox_{s R}(x)_j = sign(x_j) max(|x_j| − s λ_j w_j ρ, 0) / (1 + s λ_j w_j (1 − ρ)).
    Fenchel conjugate of one coordinate with a = λ_j w_j ρ, c = λ_j w_j (1−ρ) > 0:
    h*(u) = max(|u| − a, 0)² / (2c); when c = 0 it is the indicator of |u| ≤ a.

    Examples
    --------
    >>> from lamina.groups import Groups
    >>> pen = ElasticNet(0.5)
    >>> pen.prox(np.array([3.0, -0.2]), np.array([1.0]), Groups.single(2), step=1.0).tolist()
    [1.6666666666666667, 0.0]
    """

    name = "elasticnet"

    def __init__(self, l1_ratio: float = 0.5, weights=None):
        if not 0.0 <= float(l1_ratio) <= 1.0:
            raise ValueError(f"l1_ratio must lie in [0, 1], got {l1_ratio}")
        self.l1_ratio = float(l1_ratio)
        super().__init__(weights)

    def split(self, lam, groups: Groups) -> tuple[np.ndarray, np.ndarray]:
        """Per-coefficient L1 and L2 strengths (a_j, c_j) with R = Σ a_j|x_j| + c_j x_j²/2."""
        strength = self.thresholds(lam, groups)
        return strength * self.l1_ratio, strength * (1.0 - self.l1_ratio)

    def value(self, x, lam, groups):
        l1, l2 = self.split(lam, groups)
        return float(np.dot(l1, np.abs(x)) + 0.5 * np.dot(l2, x * x))

    def prox(self, x, lam, groups, step):
        l1, l2 = self.split(lam, groups)
        return elastic_net_prox(np.asarray(x, dtype=np.float64), l1, l2, step)

    def subdiff_distance(self, x, grad, lam, groups):
        l1, l2 = self.split(lam, groups)
        smooth = grad + l2 * x
        return np.where(x != 0, np.abs(smooth + l1 * np.sign(x)), np.maximum(np.abs(smooth) - l1, 0.0))

    def lam_max(self, grad0, groups, direction=None):
        if self.l1_ratio == 0:
            return np.inf
        unit = direction_thresholds(self, groups, direction) * self.l1_ratio
        return max_ratio(np.abs(grad0), unit)

    def dual_scale(self, corr, lam, groups):
        l1, l2 = self.split(lam, groups)
        hard = (l2 == 0) & (l1 > 0)
        return max(1.0, max_ratio(np.abs(corr[hard]), l1[hard]))

    def conjugate(self, corr, lam, groups):
        l1, l2 = self.split(lam, groups)
        soft = l2 > 0
        excess = np.maximum(np.abs(corr[soft]) - l1[soft], 0.0)
        return float(np.sum(excess ** 2 / (2.0 * l2[soft])))

    def get_params(self):
        return {"l1_ratio": self.l1_ratio, "weights": self.weights}


class L1(ElasticNet):
    """L1 norm Σ_j λ_j w_j |x_j| (soft thresholding). See :class:`ElasticNet` with ρ = 1."""

    name = "l1"

    def __init__(self, weights=None):
        super().__init__(1.0, weights)

    def get_params(self):
        return {"weights": self.weights}


class L2(ElasticNet):
    """Ridge Σ_j λ_j w_j x_j² / 2 (shrinkage). See :class:`ElasticNet` with ρ = 0."""

    name = "l2"

    def __init__(self, weights=None):
        super().__init__(0.0, weights)

    def get_params(self):
        return {"weights": self.weights}
