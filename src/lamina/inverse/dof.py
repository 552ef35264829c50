"""Degrees of freedom of a regularized fit, df = tr(∂(A x̂)/∂b), as GCV, SURE and the noise
estimate σ̂² = ‖b − A x̂‖²/(m − df) read them.

* **Sparse fits (L1, and L0 by the same count).** For the lasso, df = rank(A_S), S the active
  columns (Tibshirani & Taylor 2012), which is |S| only when those columns are independent. A
  redundant dictionary breaks that: the real-valued Fourier synthesis behind f-k interpolation
  (:func:`lamina.inverse._linops.real_fourier_synthesis`) holds every atom twice, at +k and −k
  (equal cosine columns, opposite sine columns), and a solver that moves both twins alike (the
  proximal gradient does) makes |S| twice the rank. :func:`column_classes` finds the parallel
  columns from three products Aᵀz with Gaussian z — columns a_j′ = c·a_j give
  (Aᵀz)_j′ = c·(Aᵀz)_j for every z, other pairs differ with probability 1 — and
  :func:`support_dof` counts the distinct classes among the active columns. Exact for duplicated
  atoms; further linear dependence among active columns (beyond m of them) is not seen.
* **Ridge with unpenalized columns** (penalty factors 0: an intercept, a trend): the hat matrix
  splits (Frisch–Waugh–Lovell) into the projection P_U on the unpenalized columns A_U plus the
  ridge fit of the penalized columns with A_U projected out,
  df(t) = rank(A_U) + tr(B (BᵀB + t D)⁻¹ Bᵀ),  B = (I − P_U) A_P,
  the second term by :func:`lamina.inverse._linops.ridge_dof`. :func:`ridge_dof_with_free_columns`
  forms A_U from |U| products with A (operators) — at most ``MAX_FREE_COLUMNS`` of them.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import orth
from scipy.sparse.linalg import LinearOperator

from lamina._validation import check_positive_float, check_positive_int
from lamina.inverse._linops import ridge_dof
from lamina.operators import is_explicit, matvec, rmatvec, to_dense

#: Unpenalized columns :func:`ridge_dof_with_free_columns` materializes, at most.
MAX_FREE_COLUMNS = 2000


def column_classes(A, *, n_probes: int = 3, seed: int = 0, tol: float = 1e-8) -> np.ndarray:
    """An integer per column of A, shared by parallel columns (one a multiple of the other:
    duplicated atoms, ± pairs); −1 for zero columns.

    Columns are compared through their signatures s_j = (Aᵀz₁, …, Aᵀz_k)_j (Gaussian probes z,
    k = ``n_probes``), scaled to unit length and signed alike; sorted along a random direction,
    parallel columns fall next to each other, and a class ends where the next signature differs
    by more than ``tol``."""
    n_probes = check_positive_int(n_probes, "n_probes")
    tol = check_positive_float(tol, "tol")
    rng = np.random.default_rng(seed)
    signatures = np.column_stack([rmatvec(A, rng.standard_normal(A.shape[0])) for _ in range(n_probes)])
    norms = np.linalg.norm(signatures, axis=1)
    zero = norms <= 1e-12 * max(float(np.max(norms, initial=0.0)), np.finfo(float).tiny)
    unit = signatures / np.where(zero, 1.0, norms)[:, None]
    unit *= np.where(unit @ rng.standard_normal(n_probes) < 0, -1.0, 1.0)[:, None]
    order = np.argsort(np.where(zero, np.inf, unit @ rng.standard_normal(n_probes)), kind="stable")
    starts = np.linalg.norm(np.diff(unit[order], axis=0), axis=1) > tol
    classes = np.empty(A.shape[1], dtype=np.int64)
    classes[order] = np.concatenate([[0], np.cumsum(starts)])
    classes[zero] = -1
    return classes


def support_dof(coefs, classes: np.ndarray, n_rows: int) -> np.ndarray | float:
    """df of sparse fits: the number of distinct :func:`column_classes` among the nonzero
    coefficients (zero columns not counted), at most ``n_rows``; one value per row of a 2-D
    ``coefs``."""
    coefs = np.asarray(coefs)
    rows = np.atleast_2d(coefs)
    dof = np.array([min(np.unique(classes[(x != 0) & (classes >= 0)]).size, n_rows) for x in rows], dtype=float)
    return dof if coefs.ndim == 2 else float(dof[0])


def ridge_dof_with_free_columns(A, strengths_on_ray, per_coef, **options) -> np.ndarray:
    """df(t) = tr(A (AᵀA + t·D)⁺ Aᵀ) of ridge along the ray t·``per_coef``, where ``per_coef``
    may hold zeros (unpenalized coefficients); ``options`` go to
    :func:`~lamina.inverse._linops.ridge_dof`."""
    per_coef = np.asarray(per_coef, dtype=np.float64)
    if np.any(per_coef < 0):
        raise ValueError("per_coef must hold strengths ≥ 0")
    free = np.flatnonzero(per_coef == 0)
    if free.size == 0:
        return ridge_dof(A, strengths_on_ray, per_coef, **options)
    if free.size > MAX_FREE_COLUMNS:
        raise ValueError(f"{free.size} unpenalized coefficients (penalty factor 0): at most {MAX_FREE_COLUMNS} "
                         "are supported by GCV, SURE and the noise estimate")
    basis = orth(to_dense(_column_subset(A, free)))
    penalized = np.flatnonzero(per_coef > 0)
    rank = float(basis.shape[1])
    if penalized.size == 0:
        return np.full(np.shape(strengths_on_ray), rank)
    return rank + ridge_dof(_projected(_column_subset(A, penalized), basis), strengths_on_ray, per_coef[penalized],
                            **options)


def _column_subset(A, index: np.ndarray):
    """A[:, index]: a dense array for explicit A, else an operator (x placed at ``index``, then A)."""
    if is_explicit(A):
        return to_dense(A[:, index])
    n = A.shape[1]

    def forward(x):
        full = np.zeros(n)
        full[index] = np.asarray(x).ravel()
        return matvec(A, full)

    return LinearOperator((A.shape[0], index.size), matvec=forward,
                          rmatvec=lambda r: rmatvec(A, np.asarray(r).ravel())[index], dtype=np.float64)


def _projected(B, basis: np.ndarray):
    """(I − Q Qᵀ) B, Q = ``basis`` (orthonormal columns): a dense array for explicit B, else an operator."""
    if is_explicit(B):
        return B - basis @ (basis.T @ B)

    def project(y):
        y = np.asarray(y).ravel()
        return y - basis @ (basis.T @ y)

    return LinearOperator(B.shape, matvec=lambda x: project(matvec(B, x)),
                          rmatvec=lambda r: rmatvec(B, project(r)), dtype=np.float64)
