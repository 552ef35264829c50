"""Newton steps on the current orthant face, for coordinate descent on ill-conditioned designs.

Coordinate descent on min_w ½‖y − Xw‖² + Σ_j a_j|w_j| + ½ Σ_j c_j w_j² converges linearly at
a rate set by the conditioning of XᵀX on the support; on nearly collinear columns (the weighted
designs of a logistic fit on nearly separable data, where the IRLS weights span many orders of
magnitude) it needs tens of thousands of epochs. On the *face* where the signs σ = sign(w) of the
support S are fixed, the objective is the quadratic

    q(w_S) = ½‖y − X_S w_S‖² + Σ_{j∈S} a_j σ_j w_j + ½ Σ_{j∈S} c_j w_j²,

minimized in one linear solve: Δ = −H⁻¹g with H = X_SᵀX_S + diag(c_S) and g = −X_Sᵀr + a_S σ_S
+ c_S w_S (r = y − Xw). The step w_S + tΔ is cut at the first penalized coordinate that would
cross zero (t ≤ 1, that coordinate set to exactly 0): along the segment q decreases, and on it the
true objective equals q, so the step never increases the objective (checked, and refused
otherwise). Where H is singular and g has a part in its null space, q is unbounded below on the
open face along −P_null g; the step follows that direction to the face's boundary instead.
Once CD has found the signs, one step lands on the solution, which CD then certifies.
This is the orthant-face step of active-set methods for the Lasso (Osborne, Presnell & Turlach
2000; the "subspace" phase of Wen et al. 2010), used here as an accelerator inside CD.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

#: the step is tried only on faces with at most this many free coordinates (H is s × s)
MAX_FACE = 1500
#: what a step did: the objective fell; the face's minimizer is where w is, to the objective's
#: rounding (a full step predicts no decrease beyond it); the step was refused (no decrease beyond
#: rounding although one was predicted, e.g. cut short by a coordinate next to zero)
MOVED, AT_MINIMUM, REFUSED = "moved", "at minimum", "refused"


def face_newton_step(X, w, residual, coefs, l1, l2):
    """One Newton step on the face of ``w`` over the coordinates ``coefs`` (the working set);
    updates ``w`` and ``residual`` = y − Xw in place where it returns :data:`MOVED`.

    Returns :data:`MOVED` (the objective fell by more than its rounding, 16 ε |objective|, or a
    coordinate reached zero without the objective rising beyond it), :data:`AT_MINIMUM` (the full
    step predicts no decrease beyond rounding: w minimizes the face's quadratic), :data:`REFUSED`
    (nothing changed) or None where no step is tried (an empty face, or one larger than
    :data:`MAX_FACE`).

    Parameters
    ----------
    X : ndarray (n, p) or scipy.sparse CSC matrix (float)
    w, residual : ndarray
    coefs : int ndarray, coordinates allowed to move (others stay as they are)
    l1, l2 : ndarray, shape (p,)
        a_j and c_j of the elastic-net family.
    """
    coefs = np.asarray(coefs)
    face = coefs[(w[coefs] != 0.0) | (l1[coefs] == 0.0)]
    if face.size == 0 or face.size > MAX_FACE:
        return None
    columns = X[:, face]
    if sp.issparse(columns):
        hessian = (columns.T @ columns).toarray()
    else:
        hessian = columns.T @ columns
    hessian[np.diag_indices_from(hessian)] += l2[face]
    w_face = w[face]
    gradient = -np.asarray(columns.T @ residual).ravel() + l1[face] * np.sign(w_face) + l2[face] * w_face
    step, bounded = _newton_direction(hessian, gradient)
    before = _objective(residual, w_face, l1[face], l2[face])
    rounding = 16 * np.finfo(float).eps * abs(before)
    if not np.all(np.isfinite(step)):
        return REFUSED
    if bounded and -0.5 * float(gradient @ step) <= rounding:   # q(w + Δ) − q(w) = ½ gᵀΔ at the minimizer
        return AT_MINIMUM
    t = _largest_step_keeping_signs(w_face, step, l1[face], 1.0 if bounded else np.inf)
    if not np.isfinite(t):
        return REFUSED
    new_face = w_face + t * step
    crossing = (l1[face] > 0) & (np.sign(new_face) != np.sign(w_face))
    new_face[crossing] = 0.0     # the coordinate(s) that reached zero, not rounding past it
    new_residual = residual - np.asarray(columns @ (new_face - w_face)).ravel()
    after = _objective(new_residual, new_face, l1[face], l2[face])
    # a coordinate set to zero shrinks the face even where the objective moves by rounding only
    if not (after < before - rounding or (np.any(crossing) and after <= before + rounding)):
        return REFUSED
    w[face] = new_face
    residual[:] = new_residual
    return MOVED


def _newton_direction(hessian, gradient):
    """(Δ, bounded): Δ = −H⁻¹g by Cholesky. Where H is singular (collinear columns, more
    coordinates than rows) and g has a part in its null space, q falls linearly along −P_null g
    without bound on the open face: Δ = −P_null g, to be followed up to the face's boundary
    (bounded False); otherwise the least-squares Δ = −H⁺g."""
    try:
        return -scipy.linalg.cho_solve(scipy.linalg.cho_factor(hessian, check_finite=False), gradient,
                                       check_finite=False), True
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        pass
    values, vectors = scipy.linalg.eigh(hessian, check_finite=False)
    kept = values > 1e-12 * max(float(values[-1]), np.finfo(float).tiny)
    coefficients = vectors.T @ gradient
    null_part = vectors[:, ~kept] @ coefficients[~kept]
    if np.linalg.norm(null_part) > 1e-8 * np.linalg.norm(gradient):
        return -null_part, False
    return -(vectors[:, kept] @ (coefficients[kept] / values[kept])), True


def _largest_step_keeping_signs(w_face, step, l1_face, cap: float) -> float:
    """Largest t ≤ cap with no penalized coordinate past zero along w + tΔ."""
    toward_zero = (l1_face > 0) & (w_face * step < 0)
    if not np.any(toward_zero):
        return cap
    return float(min(cap, np.min(-w_face[toward_zero] / step[toward_zero])))


def _objective(residual, w_face, l1_face, l2_face) -> float:
    """The objective up to the terms of coordinates off the face (constant here)."""
    return float(0.5 * residual @ residual + l1_face @ np.abs(w_face) + 0.5 * l2_face @ (w_face * w_face))
