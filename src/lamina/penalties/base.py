"""The Penalty contract.

A penalty is a pure function of arrays: λ (one value per group) and the partition are passed
to every method and never stored. What a penalty stores is structure only: its penalty factors
(glmnet's ``penalty.factor``; 0 = unpenalized) and, for elastic net, the mixing ratio.

Every method takes ``lam`` of shape (n_groups,) and a :class:`~lamina.groups.Groups`; the
public entry points validate both before any penalty sees them. Solvers and tuners ask a
penalty what they need through these methods only; none of them looks at its class.

Methods every penalty implements
--------------------------------
value(x, lam, groups) -> float
    Σ_g λ_g R_g(x_g).
prox(x, lam, groups, step) -> ndarray
    argmin_z 1/(2·step) ‖z − x‖² + Σ_g λ_g R_g(z_g).
subdiff_distance(x, grad, lam, groups) -> ndarray
    Distance of −grad to the (limiting) subdifferential at x, per coefficient (separable
    penalties) or per group (group penalties): the optimality violation solvers stop on.

With these three, ``lamina.solve`` runs proximal gradient (FISTA for convex penalties, ISTA
otherwise).

Optional capabilities (see :data:`CAPABILITIES`)
------------------------------------------------
A capability is a method a subclass overrides; :meth:`Penalty.supports` says whether it did
and :meth:`Penalty.require` raises :class:`MissingCapability`, naming the penalty, the method
and who needs it, when it did not. The base implementations raise the same error.

dual_norm(v, groups) -> ndarray (n_groups,)
    ‖v_g‖_* per group, the dual norm of the group's unit-λ (non-smooth part of the) penalty;
    0 for unpenalized groups. λ_max and entry thresholds follow from it for convex penalties.
entry_thresholds(grad, groups) -> ndarray (n_groups,)
    λ_g below which a group that is zero enters, given the data-fit gradient ``grad`` at the
    point (= dual_norm for convex penalties, the default).
lam_max(grad0, groups, direction=None) -> float
    Smallest t such that λ = t·direction makes x = 0 stationary when the data-fit gradient at
    0 is grad0; by default max_g entry_g / direction_g.
separable_l1_l2(lam, groups) -> (a, c)
    R = Σ_j a_j|x_j| + c_j x_j²/2 per coefficient: coordinate-descent kernel, fast prox and
    support polishing.
block_l2_thresholds(lam, groups) -> t (n_groups,)
    R = Σ_g t_g ‖x_g‖₂: block coordinate-descent kernel.
quadratic_strengths(lam, groups) -> c
    R = Σ_j c_j x_j²/2 (smooth): closed-form ridge, CG / LSQR, ridge degrees of freedom.
nonzero_costs(lam, groups) -> t
    R = Σ_j t_j [x_j ≠ 0]: the L0 solvers (IHT, OMP, reweighted L1).
generalized_support(x, lam, groups) -> indices S
    The coefficients where R is twice differentiable at x and the solution moves smoothly with
    λ (nonzeros, and coefficients without a non-smooth part).
gradient_on_support(x, lam, groups, S) -> ndarray (|S|,)
    ∇R(x)_S; linear in λ, so it is also ∂∇R_S/∂log λ_g for the entries of group g.
hessian_on_support(x, lam, groups, S) -> ndarray (|S|,) (diagonal) or (|S|, |S|)
    ∇²R(x)_SS. With the two above: implicit differentiation (hypergradients, effective df).
prior_factors(groups), prior_precision_to_lam(alpha, groups)
    The evidence tuner's mapping from a Gaussian prior precision α_g per group to λ_g.
convex_surrogate() -> Penalty
    A convex penalty standing in for this one (itself when convex).
in_scaled_coordinates(scale, groups) -> Penalty or None
    The penalty R' of the same kind with R'(scale ∘ x) = R(x) (new weights), or None where no
    such one exists: a solver may then work on columns scaled to comparable norms.

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

#: the optional methods a penalty may provide (see the module docstring)
CAPABILITIES = ("dual_norm", "entry_thresholds", "lam_max", "separable_l1_l2", "block_l2_thresholds",
                "quadratic_strengths", "nonzero_costs", "generalized_support", "gradient_on_support",
                "hessian_on_support", "prior_factors", "prior_precision_to_lam", "convex_surrogate",
                "dual_scale", "conjugate", "in_scaled_coordinates")

#: what implicit differentiation (hypergradients, effective df) needs
DIFFERENTIABLE = ("generalized_support", "gradient_on_support", "hessian_on_support")


class MissingCapability(ValueError, NotImplementedError):
    """A solver or tuner needs a method the penalty does not provide."""


class Penalty(ABC):
    """Base class; see the module docstring for the contract."""

    name: str = "penalty"
    convex: bool = True
    separable: bool = True  # coefficient-wise (True) or block-wise over groups (False)
    #: degrees of freedom of a fit, for GCV / SURE: "support" (number of nonzeros),
    #: "ridge" (tr A(AᵀA + C)⁻¹Aᵀ) or None (no formula)
    dof_rule: str | None = None
    #: a λ grid from λ_max goes down to λ_max times this (λ_max ∝ |∇|² for L0: deeper)
    grid_depth: float = 1e-3

    def __init__(self, weights=None):
        self.weights = None if weights is None else np.asarray(weights, dtype=np.float64)

    # ------------------------------------------------------------------ structure
    def factors(self, size: int) -> np.ndarray:
        """Penalty factors, ones when none were given."""
        if self.weights is None:
            return np.ones(size)
        if self.weights.shape != (size,):
            unit = "coefficient" if self.separable else "group"
            raise ValueError(f"{self.name} weights must have one value per {unit} ({size}), "
                             f"got shape {self.weights.shape}")
        if not np.all(np.isfinite(self.weights)) or np.any(self.weights < 0):
            raise ValueError(f"{self.name} weights (penalty factors) must be finite numbers >= 0, got "
                             f"{self.weights[~np.isfinite(self.weights) | (self.weights < 0)][:3].tolist()}")
        return self.weights

    def thresholds(self, lam: np.ndarray, groups: Groups) -> np.ndarray:
        """λ times penalty factor, per coefficient (separable) or per group."""
        if self.separable:
            return groups.expand(lam) * self.factors(groups.n_features)
        return np.asarray(lam, dtype=np.float64) * self.factors(groups.n_groups)

    # ------------------------------------------------------------------ every penalty
    @abstractmethod
    def value(self, x, lam, groups: Groups) -> float: ...

    @abstractmethod
    def prox(self, x, lam, groups: Groups, step: float) -> np.ndarray: ...

    @abstractmethod
    def subdiff_distance(self, x, grad, lam, groups: Groups) -> np.ndarray: ...

    # ------------------------------------------------------------------ capabilities
    def supports(self, capability: str) -> bool:
        """Whether this penalty provides ``capability`` (one of :data:`CAPABILITIES`)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"capability must be one of {', '.join(CAPABILITIES)}; got {capability!r}")
        if capability == "entry_thresholds" and self.convex and self._overrides("dual_norm"):
            return True
        if capability == "lam_max" and self.supports("entry_thresholds"):
            return True
        if capability == "convex_surrogate" and self.convex:
            return True
        return self._overrides(capability)

    def require(self, capabilities, purpose: str) -> None:
        """Raise :class:`MissingCapability` naming the first of ``capabilities`` (a name or a
        sequence of names) this penalty lacks and ``purpose``, the caller that needs it."""
        for capability in (capabilities,) if isinstance(capabilities, str) else capabilities:
            if not self.supports(capability):
                raise self._missing(capability, purpose)

    def _overrides(self, capability: str) -> bool:
        return getattr(type(self), capability) is not getattr(Penalty, capability)

    def _missing(self, capability: str, purpose: str = "this operation") -> MissingCapability:
        return MissingCapability(
            f"{purpose} needs penalty {self.name!r} ({type(self).__name__}) to provide the method "
            f"{capability}(), which it does not; implement it or pick another solver / tuner")

    def dual_norm(self, v, groups: Groups) -> np.ndarray:
        raise self._missing("dual_norm")

    def entry_thresholds(self, grad, groups: Groups) -> np.ndarray:
        if self.convex and self._overrides("dual_norm"):
            return self.dual_norm(grad, groups)
        raise self._missing("entry_thresholds")

    def lam_max(self, grad0, groups: Groups, direction=None) -> float:
        direction = np.ones(groups.n_groups) if direction is None else np.asarray(direction, float)
        return max_ratio(self.entry_thresholds(grad0, groups), direction)

    def separable_l1_l2(self, lam, groups: Groups):
        raise self._missing("separable_l1_l2")

    def block_l2_thresholds(self, lam, groups: Groups) -> np.ndarray:
        raise self._missing("block_l2_thresholds")

    def quadratic_strengths(self, lam, groups: Groups) -> np.ndarray:
        raise self._missing("quadratic_strengths")

    def nonzero_costs(self, lam, groups: Groups) -> np.ndarray:
        raise self._missing("nonzero_costs")

    def generalized_support(self, x, lam, groups: Groups) -> np.ndarray:
        raise self._missing("generalized_support")

    def gradient_on_support(self, x, lam, groups: Groups, support) -> np.ndarray:
        raise self._missing("gradient_on_support")

    def hessian_on_support(self, x, lam, groups: Groups, support) -> np.ndarray:
        raise self._missing("hessian_on_support")

    def prior_factors(self, groups: Groups):
        raise self._missing("prior_factors")

    def prior_precision_to_lam(self, alpha, groups: Groups) -> np.ndarray:
        raise self._missing("prior_precision_to_lam")

    def convex_surrogate(self) -> "Penalty":
        if self.convex:
            return self
        raise self._missing("convex_surrogate")

    def in_scaled_coordinates(self, scale, groups: Groups) -> "Penalty | None":
        raise self._missing("in_scaled_coordinates")

    def _with_weights(self, weights) -> "Penalty":
        """The same penalty with other weights (penalty factors)."""
        return type(self)(**{**self.get_params(), "weights": weights})

    def dual_scale(self, corr, lam, groups: Groups) -> float:
        raise self._missing("dual_scale", "a duality gap")

    def conjugate(self, corr, lam, groups: Groups) -> float:
        raise self._missing("conjugate", "a duality gap")

    # ------------------------------------------------------------------ parameters
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


def group_max(values: np.ndarray, groups: Groups) -> np.ndarray:
    """max_{j∈g} values_j per group (values ≥ 0; empty maximum 0)."""
    out = np.zeros(groups.n_groups)
    np.maximum.at(out, groups.labels, values)
    return out
