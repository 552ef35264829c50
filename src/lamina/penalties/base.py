"""The Penalty contract.

A penalty is a pure function of arrays: λ (one value per group) and the partition are passed
to every method and never stored. What a penalty stores is structure only: its penalty factors
(glmnet's ``penalty.factor``; 0 = unpenalized) and, for elastic net, the mixing ratio.

Every method takes ``lam`` of shape (n_groups,) and a :class:`~lamina.groups.Groups`; the
public entry points validate both before any penalty sees them.

Methods every penalty implements
--------------------------------
value(x, lam, groups) -> float
    Σ_g λ_g R_g(x_g).
prox(x, lam, groups, step) -> ndarray
    argmin_z 1/(2·step) ‖z − x‖² + Σ_g λ_g R_g(z_g).
subdiff_distance(x, grad, lam, groups) -> ndarray
    Distance of −grad to the (limiting) subdifferential at x, per coefficient (separable
    penalties) or per group (group penalties): the optimality violation solvers stop on.
lam_max(grad0, groups, direction=None) -> float
    Smallest t such that λ = t·direction makes x = 0 stationary when the data-fit gradient at
    0 is grad0 (penalized coefficients only).

Convex penalties also give the pieces of the Fenchel dual used for duality gaps:
dual_scale(corr, lam, groups) -> float
    s ≥ 1 such that θ = r/s is dual feasible, with corr = Aᵀr.
conjugate(corr, lam, groups) -> float
    Σ_j h*(corr_j) of the finite part of the penalty's conjugate at a feasible point.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from lamina.groups import Groups


class Penalty(ABC):
    """Base class; see the module docstring for the contract."""

    name: str = "penalty"
    convex: bool = True
    separable: bool = True  # coefficient-wise (True) or block-wise over groups (False)

    def __init__(self, weights=None):
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)

    def factors(self, size: int) -> np.ndarray:
        """Penalty factors, ones when none were given."""
        if self.weights is None:
            return np.ones(size)
        if self.weights.shape != (size,):
            unit = "coefficient" if self.separable else "group"
            raise ValueError(f"{self.name} weights must have one value per {unit} ({size}), "
                             f"got shape {self.weights.shape}")
        return self.weights

    def thresholds(self, lam: np.ndarray, groups: Groups) -> np.ndarray:
        """λ times penalty factor, per coefficient (separable) or per group."""
        if self.separable:
            return groups.expand(lam) * self.factors(groups.n_features)
        return np.asarray(lam, dtype=np.float64) * self.factors(groups.n_groups)

    @abstractmethod
    def value(self, x, lam, groups: Groups) -> float: ...

    @abstractmethod
    def prox(self, x, lam, groups: Groups, step: float) -> np.ndarray: ...

    @abstractmethod
    def subdiff_distance(self, x, grad, lam, groups: Groups) -> np.ndarray: ...

    @abstractmethod
    def lam_max(self, grad0, groups: Groups, direction=None) -> float: ...

    def dual_scale(self, corr, lam, groups: Groups) -> float:
        raise NotImplementedError(f"{self.name} has no Fenchel dual (non-convex)")

    def conjugate(self, corr, lam, groups: Groups) -> float:
        raise NotImplementedError(f"{self.name} has no Fenchel dual (non-convex)")

    def get_params(self) -> dict:
        return {"weights": self.weights}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"{type(self).__name__}({params})"


def direction_thresholds(penalty: Penalty, groups: Groups, direction) -> np.ndarray:
    """Thresholds of λ = direction (ones by default): the unit the λ_max ratio is taken in."""
    direction = np.ones(groups.n_groups) if direction is None else np.asarray(direction, float)
    return penalty.thresholds(direction, groups)


def max_ratio(numerator: np.ndarray, denominator: np.ndarray) -> float:
    """max_j numerator_j / denominator_j over entries with a positive denominator (0 if none)."""
    mask = denominator > 0
    if not np.any(mask):
        return 0.0
    return float(np.max(numerator[mask] / denominator[mask]))
