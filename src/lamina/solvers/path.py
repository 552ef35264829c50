"""Regularization paths: solve along a grid of λ with warm starts.

The grid is a ray λ = t · direction (one value per group) for decreasing multipliers t,
from t_max — the smallest t at which x = 0 is optimal — down to ``eps · t_max``; for convex
penalties each solve starts from the previous solution, which is what makes a path of 50
values cost a few single fits. Non-convex penalties (L0) start every point cold: there the
start decides which local minimum is reached, and the previous (sparser) solution is a bad one
(reweighted L1 on deconvolution: relative error 0.50 warm against 0.01 cold).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lamina._validation import check_lam_values, check_multipliers, check_positive_float, check_positive_int
from lamina.api import check_rhs, solve
from lamina.groups import as_groups
from lamina.operators import as_forward_model, is_explicit, rmatvec
from lamina.penalties import make_penalty
from lamina.solvers.free_coefficients import FreeProjection, free_mask
from lamina.solvers.irl1 import column_norms


@dataclass
class Path:
    """Solutions along a λ grid.

    Attributes
    ----------
    multipliers : ndarray, shape (n_lams,)
        t of each point (λ = t · direction).
    lams : ndarray, shape (n_lams, n_groups)
    coefs : ndarray, shape (n_lams, n_features)
    objectives, n_iters : ndarray, shape (n_lams,)
    results : list of SolveResult
    """

    multipliers: np.ndarray
    lams: np.ndarray
    coefs: np.ndarray
    objectives: np.ndarray
    n_iters: np.ndarray
    results: list


def lam_grid(lam_max: float, n_lams: int = 50, eps: float = 1e-3) -> np.ndarray:
    """Geometric grid from lam_max down to eps · lam_max (n_lams values, decreasing)."""
    check_positive_float(lam_max, "lam_max")
    check_positive_int(n_lams, "n_lams")
    if not 0 < eps < 1:
        raise ValueError(f"eps must lie in (0, 1), got {eps}")
    return lam_max * np.geomspace(1.0, eps, n_lams)


def regularization_path(A, b, penalty="l1", *, groups=None, direction=None, multipliers=None,
                        n_lams: int = 50, eps: float = 1e-3, tol: float = 1e-6, solver=None,
                        callback=None, options=None) -> Path:
    """Warm-started solutions of ½‖Ax − b‖² + Σ_g t·d_g R(x_g) for decreasing t.

    Parameters
    ----------
    A, b, penalty, groups, tol, solver, options
        As in :func:`lamina.solve`.
    direction : array, shape (n_groups,), optional
        Relative λ per group d (e.g. from a scaling rule); ones by default.
    multipliers : array, optional
        The grid of t; by default :func:`lam_grid` from t_max (where x = 0 becomes optimal).
    n_lams, eps : int, float
        Size and depth of the default grid.
    callback : callable, optional
        ``callback(k, result)`` after each grid point (e.g. a progress bar).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A, b = rng.standard_normal((20, 8)), rng.standard_normal(20)
    >>> path = regularization_path(A, b, "l1", n_lams=5)
    >>> path.coefs.shape, int(np.count_nonzero(path.coefs[0]))
    ((5, 8), 0)
    """
    A = as_forward_model(A)
    penalty = make_penalty(penalty)
    n_features = A.shape[1]
    if direction is not None:
        direction = np.atleast_1d(check_lam_values(direction, "direction"))
        if direction.ndim != 1 or (groups is None and direction.size not in (1, n_features)):
            raise ValueError(f"direction must hold one value per group (with groups None: one value, or one "
                             f"per coefficient ({n_features})), got shape {np.shape(direction)}")
    n_lam = 1 if direction is None else direction.size
    groups = as_groups(groups, n_features, n_lam=n_lam)
    direction = np.ones(groups.n_groups) if direction is None else direction
    if direction.shape != (groups.n_groups,) or np.any(direction < 0) or not np.all(np.isfinite(direction)):
        raise ValueError(f"direction must hold {groups.n_groups} finite values >= 0")
    b = check_rhs(A, b)
    if multipliers is None:
        t_max = t_max_at_zero(A, b, penalty, groups, direction)
        if not np.isfinite(t_max):
            raise ValueError(f"penalty {penalty.name!r} has no finite λ_max (no λ makes x = 0); pass multipliers=")
        if t_max <= 0:
            raise ValueError("λ_max is 0 here (b is zero, orthogonal to every penalized column, or fitted by the "
                             "unpenalized ones alone): every λ gives x = 0; pass multipliers= to solve anyway")
        multipliers = lam_grid(t_max, n_lams, eps)
    multipliers = check_multipliers(multipliers)
    x, results = None, []
    for k, t in enumerate(multipliers):
        result = solve(A, b, penalty, t * direction, groups, tol=tol, solver=solver, x0=x,
                       check_adjoint=(k == 0), options=options)
        x = result.x if penalty.convex else None
        results.append(result)
        if callback is not None:
            callback(k, result)
    return Path(multipliers=multipliers, lams=multipliers[:, None] * direction[None, :],
                coefs=np.array([r.x for r in results]), objectives=np.array([r.objective for r in results]),
                n_iters=np.array([r.n_iter for r in results]), results=results)


#: the most unpenalized columns refitted for t_max (two products each on an operator)
_MAX_REFITTED = 256


def t_max_at_zero(A, b, penalty, groups, direction) -> float:
    """The smallest t at which the penalized coefficients are all 0 (L1-type and L0 penalties)."""
    return float(penalty.lam_max(correlations_at_zero(A, b, penalty, groups, direction), groups, direction))


def correlations_at_zero(A, b, penalty, groups, direction) -> np.ndarray:
    """Aᵀr at the point where the penalized coefficients are 0 and the unpenalized ones F (penalty
    factor or direction 0) fit b by least squares: t_max is where that point becomes optimal.
    Aᵀb where there are none, all, or more than _MAX_REFITTED of them (then t_max is approximate).
    L0 on an explicit A: a_jᵀb / ‖a_j‖, so that t_max = max_j (a_jᵀb)² / (2‖a_j‖² w_j), the λ below
    which one atom pays for itself (operators: unit-norm columns assumed). With free coefficients F
    (L0 too): a_jᵀr / ‖P⊥a_j‖, r and P⊥ the residual and projection with F refitted, so that t_max is
    where one atom pays for itself beside the free fit."""
    correlations = rmatvec(A, b)
    mask = free_mask(penalty, direction, groups)
    refit = mask is not None and 0 < int(mask.sum()) < min(mask.size, _MAX_REFITTED + 1)
    projection = FreeProjection(A, np.flatnonzero(mask)) if refit else None
    if projection is not None:
        correlations = projection(b, correlations)[1]
    if penalty.convex:
        return correlations
    norms2 = column_norms(A) ** 2   # the default L0 solver's scale (zero columns: 1)
    if projection is not None and is_explicit(A):
        # ‖P⊥a_j‖² = ‖a_j‖² − a_jᵀA_F A_F⁺a_j: the atom's length left once F is refitted
        along = np.column_stack([rmatvec(A, row) for row in projection.pinv])    # (A_F⁺A)ᵀ
        projected = norms2 - np.sum(projection.gram * along, axis=1)
        norms2 = np.where(projected > 1e-12 * norms2, projected, norms2)         # F's own columns
    return correlations / np.sqrt(norms2)
