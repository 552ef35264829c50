"""The warm-started path every λ rule reads, and K-fold CV over held-out measurements.

For ½‖Ax − b‖² + Σ_g t·d_g R(x_g) on a decreasing grid of multipliers t, :func:`compute_candidates`
solves the path and records what the rules of :mod:`lamina.inverse.rules` score: residual norms
‖b − A x(t)‖, degrees of freedom df(t) (number of nonzeros for L1 and L0; tr A(AᵀA + C)⁻¹Aᵀ
for L2) and the seminorm R(x(t)). :class:`KFoldCV` holds out rows of A (measurements): each
fold solves the path on the other rows with λ scaled by their share of the rows.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from lamina._validation import check_finite_array, check_positive_int
from lamina._warnings import warn
from lamina.groups import Groups, as_groups
from lamina.inverse.dof import column_classes, ridge_dof_with_free_columns, support_dof
from lamina.operators import as_forward_model, matvec, squared_norm_estimate
from lamina.penalties import Penalty, make_penalty
from lamina.solvers.base import ConvergenceWarning
from lamina.solvers.path import regularization_path, t_max_at_zero
from lamina.tuners.base import Compute, TuneResult


@dataclass
class Candidates:
    """Solutions along a decreasing grid λ = t·d and what the rules read from them.

    Attributes
    ----------
    multipliers : ndarray, shape (n_lams,)
    lams : ndarray, shape (n_lams, n_groups)
    coefs : ndarray, shape (n_lams, n_features)
    residual_norms : ndarray, shape (n_lams,)
        ‖b − A x(t)‖.
    dof : ndarray, shape (n_lams,)
        Degrees of freedom of x(t) (see the module docstring).
    seminorms : ndarray, shape (n_lams,)
        R(x(t)) with λ = d: Σ d_g ‖x_g‖₁ (L1), number of nonzeros weighted by d (L0),
        (Σ d_g ‖x_g‖²)^{1/2} (L2) — the L-curve's second axis.
    n_rows : int
    n_iter : int
        Solver iterations summed over the path.
    unconverged : int
        Points whose solver ended on its budget.
    results : list of SolveResult
        The solver's answer at each point (history, solver name).
    """

    multipliers: np.ndarray
    lams: np.ndarray
    coefs: np.ndarray
    residual_norms: np.ndarray
    dof: np.ndarray
    seminorms: np.ndarray
    n_rows: int
    n_iter: int = 0
    unconverged: int = 0
    results: list | None = None


def check_penalty(penalty) -> Penalty:
    """A penalty with a degrees-of-freedom formula (``dof_rule``: L0, L1 and L2, with optional
    penalty factors) and what the λ grid needs (``lam_max``, or ``quadratic_strengths``)."""
    penalty = make_penalty(penalty)
    if penalty.dof_rule not in ("support", "ridge"):
        raise ValueError(f"penalty must be 'l0', 'l1' or 'l2' for automatic λ, or any penalty with a "
                         f"degrees-of-freedom formula (dof_rule 'support' or 'ridge'); got {penalty.name!r} "
                         f"({type(penalty).__name__}) with dof_rule={penalty.dof_rule!r}")
    penalty.require("quadratic_strengths" if penalty.dof_rule == "ridge" else "lam_max", "automatic λ")
    return penalty


def is_l2(penalty: Penalty) -> bool:
    """Whether R is quadratic (ridge df and an ‖A‖²-scaled grid)."""
    return penalty.supports("quadratic_strengths")


def default_multipliers(A, b, penalty: Penalty, groups: Groups, direction: np.ndarray,
                        n_lams: int = 40) -> np.ndarray:
    """Decreasing grid of t: from t_max, where the penalized coefficients become 0 (the
    unpenalized ones fitting b by least squares; L0 with the column norms of an explicit A: see
    :func:`lamina.solvers.path.t_max_at_zero`), down to 10⁻³ of it (L1; 10⁻⁴ for L0); for
    L2 from 10 ‖A‖² to 10⁻⁶ ‖A‖² in units of the largest per-coefficient strength d_g · w_j."""
    n_lams = check_positive_int(n_lams, "n_lams", minimum=3)
    if is_l2(penalty):
        norm2, _ = squared_norm_estimate(A, n_iter=50)
        strongest = float(np.max(groups.expand(direction) * penalty.factors(groups.n_features)))
        if strongest <= 0:
            raise ValueError("penalty: every coefficient has penalty factor 0 (nothing is penalized); "
                             "automatic λ needs at least one penalized coefficient")
        return norm2 / strongest * np.geomspace(10.0, 1e-6, n_lams)
    t_max = t_max_at_zero(A, b, penalty, groups, direction)
    if not np.isfinite(t_max) or t_max <= 0:
        raise ValueError("Aᵀb is zero on every penalized coefficient (after fitting the unpenalized ones): "
                         "x = 0 for every λ")
    depth = penalty.grid_depth
    return t_max * np.geomspace(0.95, depth, n_lams)


def _seminorm(penalty: Penalty, x, direction, groups) -> float:
    value = penalty.value(x, direction, groups)
    return float(np.sqrt(2.0 * value)) if is_l2(penalty) else float(value)


def compute_candidates(A, b, penalty, groups: Groups, direction, multipliers, *, tol: float = 1e-6,
                       solver=None, callback=None, with_dof: bool = True) -> Candidates:
    """Solve the path and evaluate residuals, df and seminorms (see :class:`Candidates`).

    ``with_dof=False`` leaves df as NaN (rules that do not read it skip the ridge trace
    estimate, the one costly part for L2 on operators). The multipliers are taken in decreasing
    order, whatever order they come in: each solve is warm-started at the previous, larger λ (an
    increasing grid of 40 ran 20× slower)."""
    multipliers = np.sort(np.asarray(multipliers, dtype=np.float64).ravel())[::-1]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        path = regularization_path(A, b, penalty, groups=groups, direction=direction,
                                   multipliers=multipliers, tol=tol, solver=solver, callback=callback)
    unconverged = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:  # anything else goes on to the caller
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    residual_norms = np.array([np.linalg.norm(matvec(A, x) - b) for x in path.coefs])
    m = A.shape[0]
    if not with_dof:
        dof = np.full(multipliers.shape, np.nan)
    elif is_l2(penalty):
        per_coef = groups.expand(direction) * penalty.factors(groups.n_features)
        dof = ridge_dof_with_free_columns(A, multipliers, per_coef)
    else:
        dof = support_dof(path.coefs, column_classes(A), m)
    seminorms = np.array([_seminorm(penalty, x, direction, groups) for x in path.coefs])
    return Candidates(multipliers=multipliers, lams=path.lams, coefs=path.coefs,
                      residual_norms=residual_norms, dof=dof, seminorms=seminorms, n_rows=m,
                      n_iter=int(np.sum(path.n_iters)), unconverged=unconverged, results=path.results)


def warn_if_flat(score, rule: str, why: str) -> None:
    """A UserWarning when ``score`` (one value per λ of the path) is the same at every λ to 1e-9:
    its argmin is then decided by rounding, not by the data; ``why`` says when that happens."""
    score = np.asarray(score, dtype=float)
    finite = score[np.isfinite(score)]
    if finite.size > 1 and np.ptp(finite) <= 1e-9 * np.max(np.abs(finite)):
        warn(f"{rule} is the same at every λ of the path (to 1e-9): it cannot choose λ here and its "
             f"argmin is decided by rounding ({why})", UserWarning)


def prepare(A, b, penalty, groups, direction, n_lam=None):
    """Validate the common arguments; returns (A, b, penalty, groups, direction).

    ``n_lam``: how many λ values were given (a fixed λ), which decides what ``groups=None`` means
    as in :func:`lamina.solve` (one per coefficient: singletons); by default the direction's size."""
    A = as_forward_model(A)
    b = check_finite_array(b, "b", ndim=1)
    if A.shape[0] != b.shape[0]:
        raise ValueError(f"A has {A.shape[0]} rows but b has {b.shape[0]} entries; shapes must match")
    penalty = check_penalty(penalty)
    n_direction = 1 if direction is None else np.size(direction)
    groups = as_groups(groups, A.shape[1], n_lam=n_direction if n_lam is None else n_lam)
    if direction is None:
        direction = np.ones(groups.n_groups)
    direction = check_finite_array(direction, "direction", ndim=1)
    if direction.shape[0] != groups.n_groups or np.any(direction <= 0):
        raise ValueError(f"direction must hold {groups.n_groups} values > 0 (one per group)")
    return A, b, penalty, groups, direction


def result_from_candidates(name: str, candidates: Candidates, index: int, score, groups: Groups,
                           started: float, info: dict, fits: float = 1.0) -> TuneResult:
    """TuneResult of a path rule: λ per group at ``index`` and the curve it was read from."""
    lam = candidates.lams[index]
    curve = {"lam": candidates.multipliers, "score": np.asarray(score, dtype=float), "index": int(index),
             "residual": candidates.residual_norms, "dof": candidates.dof, "seminorm": candidates.seminorms,
             "rule": name}
    info = dict(info, dof=float(candidates.dof[index]), residual=float(candidates.residual_norms[index]),
                unconverged_points=candidates.unconverged, candidates=candidates)
    compute = Compute(fits=fits * len(candidates.multipliers), epochs=candidates.n_iter,
                      seconds=time.perf_counter() - started)
    return TuneResult(method=name, lambdas=dict(zip(groups.names, map(float, lam))),
                      fitted=candidates.coefs[index], compute=compute, curve=curve, info=info)
