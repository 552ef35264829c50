"""Small operator helpers of the inverse-problem layer: row subsets, real-valued Fourier
synthesis, products of operators, and the trace estimates the λ rules need.

Everything returns either an explicit matrix (when the input was one) or a scipy
``LinearOperator``; ``rmatvec`` is always the exact adjoint (checked by the dot test in the
tests).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator

from lamina.operators import adjoint_checked, as_forward_model, is_explicit, matvec, rmatvec


def row_subset(A, rows: np.ndarray):
    """The rows ``rows`` of A: ``A[rows]`` for matrices, R·A for operators (R a restriction).

    Each product with the operator form costs one full product with A.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if is_explicit(A):
        return A[rows] if not sp.issparse(A) else sp.csc_matrix(A[rows])
    n_rows = A.shape[0]

    def forward(x):
        return np.asarray(A.matvec(x)).ravel()[rows]

    def adjoint(r):
        full = np.zeros(n_rows)
        np.add.at(full, rows, np.asarray(r).ravel())   # a row taken twice (bootstrap folds) adds up
        return np.asarray(A.rmatvec(full)).ravel()

    subset = LinearOperator((rows.size, A.shape[1]), matvec=forward, rmatvec=adjoint, dtype=np.float64)
    if adjoint_checked(A):          # R·A has adjoint Aᵀ·Rᵀ, built from A's own rmatvec
        subset.adjoint_checked = True
    return subset


def real_fourier_synthesis(shape: tuple[int, ...]):
    """Real-valued inverse FFT (orthonormal) from stacked real and imaginary parts.

    Maps c = [u; v] ∈ R^{2N} (N = prod(shape)) to Re(F⁻¹(u + i v)) ∈ R^N with the unitary
    N-point FFT F of ``shape``; its adjoint is r ↦ [Re(F r); Im(F r)]. The synthesis is a
    tight frame: S Sᵀ = I, so ‖Sᵀr‖ = ‖r‖ and sparsity of the complex spectrum of a real
    signal (f-k domain for a gather) becomes sparsity of c.

    Examples
    --------
    >>> S = real_fourier_synthesis((8,))
    >>> S.shape
    (8, 16)
    >>> r = np.arange(8.0)
    >>> bool(np.allclose(S.matvec(S.rmatvec(r)), r))
    True
    """
    shape = tuple(int(s) for s in shape)
    size = int(np.prod(shape))
    axes = tuple(range(len(shape)))

    def forward(c):
        c = np.asarray(c).ravel()
        spectrum = (c[:size] + 1j * c[size:]).reshape(shape)
        return np.real(np.fft.ifftn(spectrum, axes=axes, norm="ortho")).ravel()

    def adjoint(r):
        spectrum = np.fft.fftn(np.asarray(r).reshape(shape), axes=axes, norm="ortho").ravel()
        return np.concatenate([spectrum.real, spectrum.imag])

    return LinearOperator((size, 2 * size), matvec=forward, rmatvec=adjoint, dtype=np.float64)


def compose(left, right):
    """left · right as a LinearOperator (or a matrix when both are explicit)."""
    left, right = as_forward_model(left, "left"), as_forward_model(right, "right")
    if is_explicit(left) and is_explicit(right):
        return left @ right
    return LinearOperator((left.shape[0], right.shape[1]), dtype=np.float64,
                          matvec=lambda x: matvec(left, matvec(right, x)),
                          rmatvec=lambda r: rmatvec(right, rmatvec(left, r)))


def ridge_dof(A, strengths_on_ray: np.ndarray, direction_per_coef: np.ndarray, *,
              n_probes: int = 8, max_lanczos: int = 400, rtol: float = 2e-3, seed: int = 0) -> np.ndarray:
    """Degrees of freedom tr(A (AᵀA + t·D)⁻¹ Aᵀ) of ridge along a ray c = t·d, for every t.

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator, shape (m, n)
    strengths_on_ray : array, shape (n_t,)
        The multipliers t.
    direction_per_coef : array, shape (n,)
        d > 0 per coefficient (λ of the coefficient's group for t = 1).
    n_probes, max_lanczos, rtol, seed
        Stochastic estimate (operators, or matrices with min(m, n) > 3000): probes, Lanczos
        steps at most per probe, and the relative change of the estimate at the smallest t
        over 10 steps at which a probe stops.

    Notes
    -----
    With B = A D^{-1/2} and singular values s_i of B, df(t) = Σ_i s_i² / (s_i² + t). Explicit
    matrices with min(m, n) ≤ 3000 use the exact SVD. Otherwise stochastic Lanczos quadrature
    (Golub & Meurant; Ubaru, Chen & Saad 2017): for Rademacher probes z (m entries),
    zᵀ B (BᵀB + t)⁻¹ Bᵀ z = uᵀ(BᵀB + t)⁻¹u with u = Bᵀz, and k Lanczos steps on BᵀB from u
    give the Gauss quadrature ‖u‖² Σ_i τ_i² / (θ_i + t) for every t at once (θ, τ: Ritz
    values and first components of the Ritz vectors) — exactly what k steps of CG on each
    shifted system would give. Gauss quadrature of 1/(θ + t) is a lower bound that grows
    with k, slowest at the smallest t; each probe therefore runs until its estimate at the
    smallest t has settled. The trace is the probe average.
    """
    t = np.asarray(strengths_on_ray, dtype=np.float64)
    d = np.asarray(direction_per_coef, dtype=np.float64)
    if np.any(d <= 0):
        raise ValueError("ridge_dof needs a positive strength for every coefficient")
    scale = 1.0 / np.sqrt(d)
    if is_explicit(A) and min(A.shape) <= 3000:
        dense = A.toarray() if sp.issparse(A) else np.asarray(A)
        s2 = np.linalg.svd(dense * scale, compute_uv=False) ** 2
        return np.array([float(np.sum(s2 / (s2 + ti))) for ti in t])
    rng = np.random.default_rng(seed)
    total = np.zeros_like(t)
    for _ in range(n_probes):
        z = rng.choice([-1.0, 1.0], A.shape[0])
        u = scale * rmatvec(A, z)
        total += _lanczos_quadrature(lambda v: scale * rmatvec(A, matvec(A, scale * v)), u, t,
                                     max_lanczos, rtol)
    return total / n_probes


def _quadrature(alphas, betas, norm2, t):
    k = len(alphas)
    tridiagonal = np.diag(alphas) + np.diag(betas[:k - 1], 1) + np.diag(betas[:k - 1], -1)
    theta, vectors = np.linalg.eigh(tridiagonal)
    tau2 = vectors[0] ** 2
    theta = np.maximum(theta, 0.0)
    return norm2 * np.array([float(np.sum(tau2 / (theta + ti))) for ti in t])


def _lanczos_quadrature(apply, start: np.ndarray, t: np.ndarray, max_steps: int, rtol: float) -> np.ndarray:
    """uᵀ(M + t)⁻¹u for every t by Lanczos quadrature on the symmetric PSD M from u = start
    (full reorthogonalization), stopping when the value at min(t) changes by < rtol over 10
    steps, on breakdown, or after ``max_steps``."""
    norm2 = float(np.dot(start, start))
    if norm2 == 0.0:
        return np.zeros_like(t)
    max_steps = min(max_steps, start.shape[0])
    basis = np.zeros((max_steps, start.shape[0]))
    basis[0] = start / np.sqrt(norm2)
    alphas, betas, previous, smallest = [], [], None, np.array([float(np.min(t))])
    for k in range(max_steps):
        w = apply(basis[k])
        alpha = float(np.dot(basis[k], w))
        alphas.append(alpha)
        w = w - basis[:k + 1].T @ (basis[:k + 1] @ w)
        w = w - basis[:k + 1].T @ (basis[:k + 1] @ w)
        beta = float(np.linalg.norm(w))
        if (k + 1) % 10 == 0:
            current = _quadrature(alphas, betas + [0.0], norm2, smallest)[0]
            if previous is not None and abs(current - previous) <= rtol * current:
                break
            previous = current
        if beta <= 1e-12 * max(abs(alpha), 1.0) or k == max_steps - 1:
            break
        betas.append(beta)
        basis[k + 1] = w / beta
    return _quadrature(alphas, betas + [0.0], norm2, t)
