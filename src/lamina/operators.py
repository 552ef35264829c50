"""The forward model A: explicit matrices and linear operators behind one small interface.

``A`` may be a dense ndarray, a scipy.sparse matrix, a scipy ``LinearOperator`` or any PyLops
operator (anything with ``shape``, ``matvec`` and ``rmatvec``). Explicit matrices stay explicit
(coordinate descent needs their columns); everything else becomes a scipy ``LinearOperator``.
PyLops is never imported here: its operators are recognized by what they do.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from lamina._validation import check_finite_array, check_real_dtype


def is_explicit(A) -> bool:
    """True for a dense ndarray or a scipy.sparse matrix (columns accessible)."""
    return isinstance(A, np.ndarray) or sp.issparse(A)


def as_forward_model(A, name: str = "A"):
    """Validate ``A`` and return it as a float64 ndarray, a CSC matrix or a LinearOperator.

    Refuses complex matrices and operators (their imaginary part would be dropped) and a
    shape with no rows or no columns (there is nothing to fit, or nothing to fit with).
    """
    if sp.issparse(A):
        check_real_dtype(A, name)
        A = check_finite_array(sp.csc_matrix(A, dtype=np.float64), name)
        if A.ndim != 2:
            raise ValueError(f"{name} must be 2-dimensional")
    elif isinstance(A, LinearOperator):
        check_real_dtype(A, name)
    elif hasattr(A, "matvec") and hasattr(A, "rmatvec") and hasattr(A, "shape"):
        check_real_dtype(A, name)
        operator = A
        A = LinearOperator(tuple(int(s) for s in A.shape), dtype=np.float64,
                           matvec=lambda v: np.asarray(operator.matvec(v)).ravel(),
                           rmatvec=lambda v: np.asarray(operator.rmatvec(v)).ravel())
    elif isinstance(A, (list, tuple, np.ndarray)) or np.isscalar(A):
        A = check_finite_array(A, name, ndim=2)
    else:
        raise TypeError(
            f"{name} must be a numpy array, a scipy.sparse matrix, a scipy LinearOperator or a "
            f"PyLops operator; got {type(A).__name__}"
        )
    check_not_empty(A.shape, name)
    return A


def check_not_empty(shape, name: str = "A") -> None:
    """Refuse a forward model with no rows (measurements) or no columns (unknowns)."""
    if shape[0] == 0:
        raise ValueError(f"{name} has no rows (shape {tuple(shape)}): at least one measurement is needed")
    if shape[1] == 0:
        raise ValueError(f"{name} has no columns (shape {tuple(shape)}): at least one unknown is needed")


def dottest(A, n_trials: int = 2, rtol: float = 1e-6, seed: int = 0, name: str = "A") -> float:
    """Check that ``A.rmatvec`` is the adjoint of ``A.matvec``: ⟨Au, v⟩ = ⟨u, Aᵀv⟩.

    Raises ``ValueError`` naming ``name`` when the relative mismatch exceeds ``rtol``; returns
    the largest mismatch seen otherwise. Costs ``n_trials`` products with A and with Aᵀ.
    """
    rng = np.random.default_rng(seed)
    n_rows, n_cols = A.shape
    worst = 0.0
    for _ in range(n_trials):
        u, v = rng.standard_normal(n_cols), rng.standard_normal(n_rows)
        forward, adjoint = np.dot(A.matvec(u).ravel(), v), np.dot(u, A.rmatvec(v).ravel())
        if not (np.isfinite(forward) and np.isfinite(adjoint)):
            raise ValueError(f"{name} returned NaN or inf in the dot test")
        mismatch = abs(forward - adjoint) / max(abs(forward), abs(adjoint), 1e-300)
        worst = max(worst, mismatch)
    if worst > rtol:
        raise ValueError(
            f"{name} fails the dot test: <A u, v> and <u, A^T v> differ by a relative {worst:.2e} "
            f"(> {rtol:.0e}); its rmatvec is not the adjoint of its matvec"
        )
    return worst


def matvec(A, x) -> np.ndarray:
    """A x for an explicit matrix or a LinearOperator."""
    return A @ x if is_explicit(A) else A.matvec(x)


def rmatvec(A, r) -> np.ndarray:
    """Aᵀ r for an explicit matrix or a LinearOperator."""
    return A.T @ r if is_explicit(A) else A.rmatvec(r)


def squared_norm_estimate(A, n_iter: int = 30, rtol: float = 1e-3, seed: int = 0) -> tuple[float, int]:
    """Estimate ‖A‖₂² = λ_max(AᵀA) by power iteration; returns (estimate, products used).

    The estimate is a lower bound that converges from below; solvers that use it as a step
    size check the descent condition and back-track, so a few iterations suffice.
    """
    rng = np.random.default_rng(seed)
    v = rng.standard_normal(A.shape[1])
    v /= np.linalg.norm(v)
    estimate = 0.0
    for k in range(1, n_iter + 1):
        w = rmatvec(A, matvec(A, v))
        new_estimate = float(np.dot(v, w))
        norm = np.linalg.norm(w)
        if norm == 0:
            return 0.0, k
        v = w / norm
        if abs(new_estimate - estimate) <= rtol * new_estimate:
            return new_estimate, k
        estimate = new_estimate
    return estimate, n_iter
