"""Elastic net and its two ends, L1 and L2, with a λ per group.

R(x) = Σ_j λ_j w_j ( ρ |x_j| + (1 − ρ)/2 · x_j² ),  λ_j the λ of x_j's group, w_j its penalty
factor and ρ = ``l1_ratio`` (scikit-learn's parametrization). ρ = 1 is L1, ρ = 0 is L2 = ½‖x‖².
"""
from __future__ import annotations

import numpy as np

from lamina.groups import Groups
from lamina.penalties.base import Penalty, direction_thresholds, group_max, max_ratio


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

    def in_scaled_coordinates(self, scale, groups):
        """L1: weights / scale; L2: weights / scale²; a mix of the two has no such weights (None)."""
        if self.l1_ratio not in (0.0, 1.0):
            return None
        scale = np.asarray(scale, dtype=np.float64)
        return self._with_weights(self.factors(scale.size) / scale ** (1 if self.l1_ratio == 1.0 else 2))

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

    # ------------------------------------------------------------------ capabilities
    @property
    def dof_rule(self):
        """df = support size for L1 (Zou, Hastie & Tibshirani 2007), ridge trace for L2."""
        return {1.0: "support", 0.0: "ridge"}.get(self.l1_ratio)

    def supports(self, capability):
        if capability == "quadratic_strengths":
            return self.l1_ratio == 0.0
        return super().supports(capability)

    def separable_l1_l2(self, lam, groups):
        return self.split(lam, groups)

    def quadratic_strengths(self, lam, groups):
        l1, l2 = self.split(lam, groups)
        if np.any(l1 > 0):
            raise ValueError(f"penalty {self.name!r} has an L1 part (l1_ratio = {self.l1_ratio}); "
                             "ridge solvers handle pure L2 penalties (l1_ratio = 0)")
        return l2

    def dual_norm(self, v, groups):
        """max_{j∈g} |v_j| / (ρ w_j) over penalized coefficients (ρ = 1 when l1_ratio = 0: for a
        pure L2 penalty this is only a scale, every group being nonzero at any λ)."""
        share = self.l1_ratio if self.l1_ratio > 0 else 1.0
        factors = self.factors(groups.n_features) * share
        ratios = np.where(factors > 0, np.abs(v) / np.maximum(factors, 1e-300), 0.0)
        return group_max(ratios, groups)

    def generalized_support(self, x, lam, groups):
        """Nonzeros and coefficients without an L1 part (unpenalized, or ρ = 0)."""
        l1, _ = self.split(lam, groups)
        return np.flatnonzero((np.asarray(x) != 0) | (l1 == 0))

    def gradient_on_support(self, x, lam, groups, support):
        """λ_j w_j (ρ sign(x_j) + (1 − ρ) x_j) on S."""
        x_s = np.asarray(x)[support]
        strength = self.thresholds(lam, groups)[support]
        return strength * (self.l1_ratio * np.sign(x_s) + (1.0 - self.l1_ratio) * x_s)

    def hessian_on_support(self, x, lam, groups, support):
        """Diagonal λ_j w_j (1 − ρ) on S (returned as a vector)."""
        return self.split(lam, groups)[1][support]

    def prior_factors(self, groups):
        return self.factors(groups.n_features)

    def prior_precision_to_lam(self, alpha, groups):
        """β n λ_g from the prior precision α_g: α_g (ridge, exact); √(2α_g)/ρ otherwise (the
        Laplace prior of variance 1/α_g — a moment-matching heuristic)."""
        alpha = np.asarray(alpha, dtype=np.float64)
        if self.l1_ratio == 0.0:
            return alpha
        return np.sqrt(2 * alpha) / self.l1_ratio

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
