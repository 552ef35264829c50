"""A dual point from one Newton step on the support, for duality gaps that rounding in w spoils.

The duality gap of coordinate descent takes its dual point from the residual r = y − Xw of the
iterate itself, scaled into the dual feasible set. Where column norms span many orders of
magnitude (features as they ship: 1e-6 … 1e6), an error in w_j far below what the objective can
see — 2e-16 on a coefficient of 1e-6 whose column has norm 1.5e7 — moves X_jᵀr by
‖X_j‖² · 2e-16 ≈ 0.05: the scaling that makes θ feasible then costs the dual objective
t‖w‖ · (s − 1), and the gap stays a thousand times above tol while P(w) equals the optimum to
2e-16 (``GroupLasso(lam=1e-3)`` on such features). Blockwise exact updates cannot do better: the
block's Gram has condition number 1e24.

Any feasible θ bounds P(w) − P*, so the gap may take its dual point elsewhere: from
w' = w + Δ, Δ the Newton step on the stationarity equations of the support S (nonzero groups and
unpenalized coefficients), H Δ = −g with H = X_SᵀX_S + ∇²R_S and g = −X_Sᵀr + ∇R_S, solved after a
symmetric diagonal scaling of H (each coefficient in units of its own curvature, so small
coefficients of large columns keep their relative accuracy). The gap is then the smaller of the
two bounds; it certifies nothing that is not so (w itself is unchanged, and the dual point is made
feasible exactly as before).
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from lamina.penalties.base import DIFFERENTIABLE

#: the step is tried only on supports with at most this many coefficients (H is s × s), as
#: :data:`lamina.solvers.face_newton.MAX_FACE`
MAX_SUPPORT = 1500


def polished_residual(X, w, residual, penalty, lam, groups):
    """y − X(w + Δ) and its correlations Xᵀ(y − X(w + Δ)) (module docstring), or None where no
    step is tried: a penalty without second derivatives on its support, an empty support or one
    larger than :data:`MAX_SUPPORT`, or a step that is not finite."""
    if not all(penalty.supports(name) for name in DIFFERENTIABLE):
        return None
    support = np.asarray(penalty.generalized_support(w, lam, groups))
    if support.size == 0 or support.size > MAX_SUPPORT:
        return None
    columns = X[:, support]
    columns = columns.toarray() if sp.issparse(columns) else np.asarray(columns, dtype=np.float64)
    step = _scaled_newton_step(columns, w, residual, penalty, lam, groups, support)
    if step is None:
        return None
    polished = residual - columns @ step
    return polished, np.asarray(X.T @ polished).ravel()


def _scaled_newton_step(columns, w, residual, penalty, lam, groups, support):
    """Δ solving H Δ = −g on the support, H scaled to unit diagonal first (None if not finite)."""
    hessian = columns.T @ columns + _as_matrix(penalty.hessian_on_support(w, lam, groups, support))
    gradient = -(columns.T @ residual) + penalty.gradient_on_support(w, lam, groups, support)
    diagonal = np.diag(hessian)
    scale = 1.0 / np.sqrt(np.where(diagonal > 0, diagonal, 1.0))
    scaled = hessian * scale[:, None] * scale[None, :]
    step = -scale * scipy.linalg.lstsq(scaled, scale * gradient, cond=1e-14, check_finite=False)[0]
    return step if np.all(np.isfinite(step)) else None


def _as_matrix(hessian) -> np.ndarray:
    """A penalty's Hessian on the support: a diagonal (vector) or a matrix."""
    hessian = np.asarray(hessian, dtype=np.float64)
    return np.diag(hessian) if hessian.ndim == 1 else hessian
