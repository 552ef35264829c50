"""What the linear tuners share: the base class, search bounds and grids, fold averages.

λ is in scikit-learn's scaling, objective 1/n Σ loss + Σ_g λ_g R(w_g) (see
:mod:`lamina.tuners.linear_data` for ``spec``); held-out loss: mean squared error
(regression) or mean log-loss (logistic).
"""
from __future__ import annotations

import numpy as np

from lamina.tuners.base import Tuner, TuneResult
from lamina.tuners.linear_data import LinearSpec, Loss, lam_max


def _names(spec: LinearSpec) -> tuple:
    return spec.groups.names


def _as_dict(spec: LinearSpec, lam) -> dict:
    return {name: float(value) for name, value in zip(_names(spec), lam)}


def _bounds(X, y, spec: LinearSpec, sample_weight=None) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) λ per group searched by hypergradient and Optuna.

    L1-type: [λ_max,g · 10⁻³, λ_max,g] (above λ_max,g the group is off and the loss flat).
    Ridge: [10⁻⁷ × the smallest, 10³ × the largest] variance of the group's features (λ is in
    units of ‖x_j‖²/n: λ ≪ var_j leaves w_j unshrunk, λ ≫ var_j shrinks it to 0). On standardized
    features that is [10⁻⁷, 10³] × their common variance; with one bound for every group from the
    mean variance, columns of scales 1 … 10⁶ had a floor of 10⁴ times the unit column's variance,
    and the tuners stopped on it (held-out log-loss 0.35 where λ = 10⁻⁴ gives 0.16).
    """
    if spec.is_ridge:
        X2 = X.multiply(X) if hasattr(X, "multiply") else X * X
        var = np.asarray(X2.mean(axis=0)).ravel()
        if spec.fit_intercept:
            var = var - np.asarray(X.mean(axis=0)).ravel() ** 2
        return _variance_bounds(var, spec.groups, spec.n_classes)
    top = lam_max(X, y, spec, sample_weight)
    return top * 1e-3, top


def _variance_bounds(var, groups, n_classes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per group, (10⁻⁷ × the least, 10³ × the largest) variance among its features that are not
    constant (variance above 10⁻¹² of the largest of all); a group of constant features takes
    the mean variance (at least 10⁻¹²). Multinomial groups cover the p·K coefficients (feature j's
    K classes at j·K … j·K + K − 1): a member's feature is its index // K."""
    var = np.maximum(np.asarray(var, float), 0.0)
    fallback = max(float(np.mean(var)), 1e-12)
    varying = var > 1e-12 * float(var.max(initial=0.0))
    lower, upper = np.empty(groups.n_groups), np.empty(groups.n_groups)
    for g in range(groups.n_groups):
        members = np.unique(groups.indices(g) // max(int(n_classes), 1))
        own = var[members][varying[members]]
        lower[g] = 1e-7 * (float(own.min()) if own.size else fallback)
        upper[g] = 1e3 * (float(own.max()) if own.size else fallback)
    return lower, upper


def _grid(bounds, spec: LinearSpec, n_lams: int, direction=None) -> np.ndarray:
    """Single-λ grid, (n_lams, n_groups), within bounds (``_bounds``), decreasing along
    direction (ones by default)."""
    direction = np.ones(spec.groups.n_groups) if direction is None else np.asarray(direction, float)
    lower, upper = bounds
    top = float(np.max(upper / direction))
    bottom = float(np.min(lower / direction)) if spec.is_ridge else top * 1e-3
    return np.geomspace(top, bottom, n_lams)[:, None] * direction[None, :]


def _mean_over_folds(folds, values):
    sizes = np.array([f.size for f in folds], dtype=float)
    return np.tensordot(sizes / sizes.sum(), np.asarray(values), axes=1)


class LinearTuner(Tuner):
    """Base of the linear tuners: ``tune(X, y, spec) -> TuneResult`` (λ in sklearn scale).

    ``penalty_needs`` names the penalty methods a tuner uses beyond those of every penalty
    (see :mod:`lamina.penalties.base`); :meth:`check_penalty`, called first by ``tune``, refuses
    a penalty without them by name. Every tuner needs ``entry_thresholds`` (λ_max, the bounds
    of the search) unless the penalty is quadratic (bounds from the feature variance).
    """

    penalty_needs: tuple = ()

    def check_penalty(self, spec: LinearSpec) -> None:
        """Raise :class:`~lamina.penalties.base.MissingCapability` for a penalty this tuner
        cannot use, naming the penalty, the missing method and the tuner."""
        needs = self.penalty_needs + (() if spec.is_ridge else ("entry_thresholds",))
        spec.penalty.require(needs, f"tuner {self.name!r}")

    def tune(self, X, y, spec: LinearSpec, cv_groups=None,
             sample_weight=None) -> TuneResult:  # pragma: no cover - abstract
        """``cv_groups``: one label per sample, passed to the ``split`` of a splitter given as
        ``cv`` (GroupKFold …); ignored by tuners that do not cross-validate.
        ``sample_weight``: weights of the samples in the fits and in the held-out loss
        (Σ s_i ℓ_i / Σ s_i); the evidence tuner refuses them."""
        raise NotImplementedError
def _criterion(spec: LinearSpec) -> str:
    return "mse" if spec.loss is Loss.SQUARED else "log_loss"
