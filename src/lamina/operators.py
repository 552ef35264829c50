"""The forward model A: explicit matrices and linear operators behind one small interface.

``A`` may be a dense ndarray, a scipy.sparse matrix, a scipy ``LinearOperator`` or any PyLops
operator (anything with ``shape``, ``matvec`` and ``rmatvec``). Explicit matrices stay explicit
(coordinate descent needs their columns); everything else becomes a scipy ``LinearOperator``.
PyLops operators are recognized by what they do; PyLops itself is imported only by
:func:`dottest` (its dot test checks an operator's adjoint).
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


class _Recorder:
    """A's shape, dtype, matvec and rmatvec, keeping the last vectors in and out (so that the
    mismatch of PyLops' dot test can be reported)."""

    def __init__(self, A):
        self.A, self.shape, self.dtype = A, tuple(A.shape), np.dtype(np.float64)
        self.u = self.Au = self.v = self.ATv = None
        self.complex = []   # "matvec" / "rmatvec" where A returned values with an imaginary part

    def _real(self, product, label: str) -> np.ndarray:
        product = np.asarray(product)
        if np.iscomplexobj(product) and np.any(np.imag(product) != 0):
            self.complex.append(label)
        return np.asarray(np.real(product), dtype=np.float64).ravel()

    def matvec(self, u):
        self.u, self.Au = u, self._real(self.A.matvec(u), "matvec")
        return self.Au

    def rmatvec(self, v):
        self.v, self.ATv = v, self._real(self.A.rmatvec(v), "rmatvec")
        return self.ATv


def dottest(A, n_trials: int = 1, rtol: float = 1e-6, seed: int = 0, name: str = "A") -> float:
    """Check that ``A.rmatvec`` is the adjoint of ``A.matvec``: ⟨Au, v⟩ = ⟨u, Aᵀv⟩, with
    PyLops' dot test (:func:`pylops.utils.dottest`, random u and v, relative tolerance
    ``rtol``).

    Raises ``ValueError`` naming ``name`` when a trial fails (or returns NaN, inf or complex
    values); returns
    the largest relative mismatch |⟨Au, v⟩ − ⟨u, Aᵀv⟩| / max(|⟨Au, v⟩|, |⟨u, Aᵀv⟩|) otherwise.
    Costs ``n_trials`` products with A and with Aᵀ. PyLops draws u and v from NumPy's global
    generator: it is seeded with ``seed`` for the test and restored after it, so the check is
    reproducible and leaves the caller's random state alone. PyLops is imported on the first
    call (only operators are checked).
    """
    from pylops.utils import dottest as pylops_dottest

    recorder, worst = _Recorder(A), 0.0
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        for _ in range(n_trials):
            passed = pylops_dottest(recorder, rtol=rtol, atol=0.0, raiseerror=False)
            if recorder.complex:
                raise ValueError(f"{name}'s {recorder.complex[0]} returned complex values (declared dtype "
                                 f"{getattr(A, 'dtype', None)}); lamina solves real problems: split the real and "
                                 "imaginary parts into a real operator")
            forward, adjoint = float(np.dot(recorder.Au, recorder.v)), float(np.dot(recorder.u, recorder.ATv))
            if not (np.isfinite(forward) and np.isfinite(adjoint)):
                raise ValueError(f"{name} returned NaN or inf in the dot test")
            mismatch = abs(forward - adjoint) / max(abs(forward), abs(adjoint), 1e-300)
            worst = max(worst, mismatch)
            if not passed:
                raise ValueError(
                    f"{name} fails the dot test: <A u, v> and <u, A^T v> differ by a relative {mismatch:.2e} "
                    f"(> {rtol:.0e}); its rmatvec is not the adjoint of its matvec")
    finally:
        np.random.set_state(state)
    return worst


def adjoint_checked(A) -> bool:
    """Whether A carries the mark of :func:`mark_adjoint_checked` (its dot test passed, or its
    caller chose to trust it): :func:`lamina.solve` then skips its own dot test."""
    return bool(getattr(A, "adjoint_checked", False))


def mark_adjoint_checked(A):
    """A LinearOperator with A's products, marked as adjoint-checked (the caller's object is
    left untouched); explicit matrices are returned as they are (they need no dot test)."""
    if is_explicit(A):
        return A
    marked = LinearOperator(tuple(A.shape), matvec=A.matvec, rmatvec=A.rmatvec, dtype=np.float64)
    marked.adjoint_checked = True
    return marked


def matvec(A, x) -> np.ndarray:
    """A x for an explicit matrix or a LinearOperator."""
    return A @ x if is_explicit(A) else A.matvec(x)


def rmatvec(A, r) -> np.ndarray:
    """Aᵀ r for an explicit matrix or a LinearOperator."""
    return A.T @ r if is_explicit(A) else A.rmatvec(r)


def to_dense(A) -> np.ndarray:
    """A as a dense float64 array: directly for an explicit matrix (dense or sparse), column by
    column (A e_j) for a LinearOperator — n products, so callers bound the size they accept.

    >>> to_dense(sp.identity(2)).tolist(), to_dense(LinearOperator((1, 2), matvec=lambda x: x[:1] + x[1:])).tolist()
    ([[1.0, 0.0], [0.0, 1.0]], [[1.0, 1.0]])
    """
    if is_explicit(A):
        return A.toarray() if sp.issparse(A) else np.asarray(A, dtype=np.float64)
    columns = np.eye(A.shape[1])
    return np.column_stack([matvec(A, columns[:, j]) for j in range(A.shape[1])]).astype(np.float64)


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
