"""Noiseless sparse recovery: find a sparse x with Ax = b.

Three methods, one entry point (:func:`recover`):

* ``"bp"`` — basis pursuit min Σ w_j|x_j| s.t. Ax = b by ADMM with over-relaxation and
  residual balancing (:func:`basis_pursuit`); the exactly sparse answer is polished by least
  squares on its support when that keeps it a minimizer, so Ax = b holds to working
  precision.
* ``"irl1"`` — reweighted basis pursuit (Candès, Wakin & Boyd 2008): BP with weights
  1/(|x_j| + ε) from the previous solution, ε decreasing with the solution's own magnitudes.
* ``"irls"`` — iteratively reweighted least squares for the ℓ_p quasi-norm, p < 1 (Chartrand &
  Yin 2008): x = W Aᵀ(A W Aᵀ)⁻¹ b with W = diag((x_j² + ε)^{1 − p/2}), ε lowered tenfold each
  time x settles, down to ``eps_min``. Each step is one weighted least-norm solve (an m×m
  Cholesky for matrices, CG for operators).

The default, IRLS with p = 0.5 polished on its support, recovers the largest sparsity of the
three on Gaussian matrices (see ``benchmarks/bench_phase.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import scipy.linalg as sla
from scipy.sparse.linalg import LinearOperator, cg

from lamina._validation import check_finite_array, check_positive_float, check_positive_int, parse_choice
from lamina.operators import as_forward_model, is_explicit, matvec, rmatvec
from lamina.solvers.omp import least_squares_on_support

_TINY = np.finfo(float).tiny


class Method(str, Enum):
    """Recovery methods of :func:`recover`."""

    BP = "bp"
    IRL1 = "irl1"
    IRLS = "irls"
    OMP = "omp"


DEFAULT_METHOD = Method.IRLS


@dataclass
class Recovery:
    """Result of :func:`recover`: ``x``, the relative residual ‖Ax − b‖/‖b‖, iterations."""

    x: np.ndarray
    residual: float
    n_iter: int
    method: str
    info: dict = field(default_factory=dict)


def _relative_residual(A, x, b) -> float:
    return float(np.linalg.norm(matvec(A, x) - b)) / max(float(np.linalg.norm(b)), _TINY)


def zero_recovery(A, method: str, **info) -> Recovery:
    """x = 0 for b = 0: the exact answer of every method here (the sparsest x with Ax = 0,
    and the minimizer of every penalty that is zero only at zero), found without iterating."""
    return Recovery(x=np.zeros(A.shape[1]), residual=0.0, n_iter=0, method=method,
                    info=dict(info, converged=True, exact=True))


def polish_on_support(A, b, x, threshold: float = 1e-7) -> np.ndarray:
    """Least squares on {j : |x_j| > threshold·max|x|} when it has fewer than m columns and
    fits b at least as well as x; x otherwise."""
    if not np.any(x):
        return x
    support = np.flatnonzero(np.abs(x) > threshold * np.max(np.abs(x)))
    if support.size >= A.shape[0]:
        return x
    candidate = least_squares_on_support(A, b, support)
    if _relative_residual(A, candidate, b) <= max(_relative_residual(A, x, b), 1e-12):
        return candidate
    return x


class _Projector:
    """v ↦ v − Aᵀ(AAᵀ)⁻¹(Av − b): the projection onto {x : Ax = b}.

    Matrices factor AAᵀ once (Cholesky); operators run CG on AAᵀ y = Av − b, warm-started from
    the previous y (the iterates of ADMM change little from one step to the next)."""

    def __init__(self, A, b):
        self.A, self.b = A, b
        self.factor = None
        if is_explicit(A):
            dense = A.toarray() if hasattr(A, "toarray") else np.asarray(A)
            gram = dense @ dense.T
            gram[np.diag_indices_from(gram)] += 1e-13 * np.trace(gram) / gram.shape[0]
            self.factor = sla.cho_factor(gram, lower=True, check_finite=False)
            self.dense = dense
        self.y = np.zeros(A.shape[0])

    def __call__(self, v):
        if self.factor is not None:
            y = sla.cho_solve(self.factor, self.dense @ v - self.b, check_finite=False)
            return v - self.dense.T @ y
        m = self.A.shape[0]
        operator = LinearOperator((m, m), dtype=np.float64, matvec=lambda y: matvec(self.A, rmatvec(self.A, y)))
        self.y = cg(operator, matvec(self.A, v) - self.b, x0=self.y, rtol=1e-12, atol=0.0, maxiter=10 * m)[0]
        return v - rmatvec(self.A, self.y)


def _soft(v, threshold):
    return np.sign(v) * np.maximum(np.abs(v) - threshold, 0.0)


def basis_pursuit(A, b, weights=None, *, tol: float = 1e-7, max_iter: int = 5_000, x0=None,
                  polish: bool = True, relaxation: float = 1.6) -> Recovery:
    """min Σ_j w_j |x_j| subject to Ax = b, by ADMM (Boyd et al. 2011, §6.2).

    Parameters
    ----------
    A : ndarray, sparse matrix, LinearOperator or PyLops operator, shape (m, n)
    b : ndarray, shape (m,)
    weights : array, shape (n,), optional
        w_j > 0 (ones by default).
    tol : float
        Relative primal and dual residual tolerance of ADMM.
    max_iter : int
        ADMM iterations.
    x0 : array, optional
        Starting point of the splitting variable z.
    polish : bool
        Replace the answer by least squares on its support when that support has fewer than
        m columns and the result has no larger weighted L1 norm (so the polished point is
        still a minimizer, to 10⁻⁶ relative — only cleaner).
    relaxation : float
        Over-relaxation α ∈ [1, 1.8].

    Notes
    -----
    Splitting min Σ w|z| + ι{Ax = b}(x) s.t. x = z, scaled dual u, penalty ρ:
    x ← P(z − u) (projection onto Ax = b), x̂ = αx + (1 − α)z, z ← soft(x̂ + u, w/ρ),
    u ← u + x̂ − z. ρ is rebalanced (×2 or ÷2) whenever the primal residual ‖x − z‖/max(‖x‖, ‖z‖)
    and the dual residual ρ‖Δz‖/(ρ‖u‖) differ by more than 10× (residual balancing, relative as
    in Wohlberg 2017, so that the iterations do not depend on the data's scale). Stop when
    ‖x − z‖ ≤ tol·max(‖x‖, ‖z‖) and ρ‖Δz‖ ≤ tol·ρ‖u‖; the answer is z (exactly sparse),
    polished as above.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> A = rng.standard_normal((30, 60))
    >>> x = np.zeros(60); x[[3, 17, 40]] = [1.0, -2.0, 0.5]
    >>> rec = basis_pursuit(A, A @ x)
    >>> float(np.max(np.abs(rec.x - x))) < 1e-8
    True
    """
    A = as_forward_model(A)
    b = check_finite_array(b, "b", ndim=1)
    if A.shape[0] != b.shape[0]:
        raise ValueError(f"A has {A.shape[0]} rows but b has {b.shape[0]} entries; shapes must match")
    n = A.shape[1]
    weights = np.ones(n) if weights is None else check_finite_array(weights, "weights", ndim=1)
    if weights.shape[0] != n or np.any(weights <= 0):
        raise ValueError(f"weights must hold {n} values > 0")
    project = _Projector(A, b)
    least_norm = project(np.zeros(n))
    scale = float(np.max(np.abs(least_norm)))
    if scale == 0.0:
        return Recovery(x=np.zeros(n), residual=0.0, n_iter=0, method="bp")
    rho = float(np.mean(weights)) / (0.1 * scale)
    z = least_norm.copy() if x0 is None else np.asarray(x0, dtype=float).copy()
    u = np.zeros(n)
    iteration = 0
    for iteration in range(1, max_iter + 1):
        x = project(z - u)
        x_hat = relaxation * x + (1.0 - relaxation) * z
        z_old = z
        z = _soft(x_hat + u, weights / rho)
        u += x_hat - z
        primal = float(np.linalg.norm(x - z))
        dual = rho * float(np.linalg.norm(z - z_old))
        if primal <= tol * max(np.linalg.norm(x), np.linalg.norm(z)) and dual <= tol * rho * np.linalg.norm(u):
            break
        if iteration % 10:
            continue
        # balanced in the units of the stopping test (Wohlberg 2017): the raw ‖x − z‖ grows with
        # the data's scale and ρ‖Δz‖ does not, so |b| ~ 1e6 doubled ρ for ever (5000 iterations,
        # 33 % off the minimizer)
        primal_rel = primal / max(np.linalg.norm(x), np.linalg.norm(z), np.finfo(float).tiny)
        dual_rel = dual / max(rho * np.linalg.norm(u), np.finfo(float).tiny)
        if primal_rel > 10.0 * dual_rel:
            rho, u = 2.0 * rho, u / 2.0
        elif dual_rel > 10.0 * primal_rel:
            rho, u = rho / 2.0, 2.0 * u
    x = z
    if polish:
        polished = polish_on_support(A, b, z)
        if np.dot(weights, np.abs(polished)) <= np.dot(weights, np.abs(z)) * (1.0 + 1e-6):
            x = polished
    return Recovery(x=x, residual=_relative_residual(A, x, b), n_iter=iteration, method="bp")


def reweighted_basis_pursuit(A, b, *, n_reweights: int = 6, eps_share: float = 0.1, tol: float = 1e-8) -> Recovery:
    """Candès–Wakin–Boyd reweighting of :func:`basis_pursuit`: w_j = 1/(|x_j| + ε), ε = ``eps_share``
    times the largest |x_j| at first, then the ``m/(4 log(n/m))``-th largest magnitude (their
    adaptive rule), never below 10⁻³ of the largest."""
    A = as_forward_model(A)
    b = check_finite_array(b, "b", ndim=1)
    m, n = A.shape
    rec = basis_pursuit(A, b, tol=tol)
    x, total = rec.x, rec.n_iter
    rank = max(1, int(m / (4.0 * np.log(max(n / m, 1.0 + 1e-9)))))
    for step in range(n_reweights):
        magnitudes = np.sort(np.abs(x))[::-1]
        if magnitudes[0] == 0:
            break
        eps = eps_share * magnitudes[0] if step == 0 else max(magnitudes[min(rank, n - 1)], 1e-3 * magnitudes[0])
        weights = 1.0 / (np.abs(x) + eps)
        weights /= np.max(weights)
        new = basis_pursuit(A, b, weights, tol=tol, x0=x)
        total += new.n_iter
        change = np.linalg.norm(new.x - x) / max(np.linalg.norm(new.x), _TINY)
        x = new.x
        if change < 1e-9:
            break
    return Recovery(x=x, residual=_relative_residual(A, x, b), n_iter=total, method="irl1")


def _weighted_least_norm(A, b, w, explicit_matrix):
    """x = W Aᵀ (A W Aᵀ)⁻¹ b (the least Σ x_j²/w_j solution of Ax = b)."""
    if explicit_matrix is not None:
        gram = (explicit_matrix * w) @ explicit_matrix.T
        gram[np.diag_indices_from(gram)] += 1e-14 * np.trace(gram) / gram.shape[0]
        y = sla.cho_solve(sla.cho_factor(gram, lower=True, check_finite=False), b, check_finite=False)
        return w * (explicit_matrix.T @ y)
    m = A.shape[0]
    operator = LinearOperator((m, m), dtype=np.float64, matvec=lambda y: matvec(A, w * rmatvec(A, y)))
    y = cg(operator, b, rtol=1e-12, atol=0.0, maxiter=10 * m)[0]
    return w * rmatvec(A, y)


def irls(A, b, *, p: float = 0.5, eps_min: float = 1e-9, max_iter: int = 400, polish: bool = True) -> Recovery:
    """Iteratively reweighted least squares for min ‖x‖_p^p s.t. Ax = b (Chartrand & Yin 2008).

    Parameters
    ----------
    p : float
        0 ≤ p ≤ 1; smaller p is closer to L0 (p = 1 approximates basis pursuit).
    eps_min : float
        Smoothing ε stops decreasing here (relative to max|x|²).
    max_iter : int
        Weighted least-norm solves.

    Notes
    -----
    ε starts at 1 (in units of max|x₀|², x₀ the least-norm solution) and is divided by 10
    whenever ‖xᵏ⁺¹ − xᵏ‖ < √ε/100 · max|x₀| — the ε-continuation that lets the iteration
    escape the poor local minima a fixed small ε falls into.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((40, 100))
    >>> x = np.zeros(100); x[rng.choice(100, 15, replace=False)] = rng.standard_normal(15)
    >>> float(np.linalg.norm(irls(A, A @ x).x - x)) < 1e-8
    True
    """
    A = as_forward_model(A)
    b = check_finite_array(b, "b", ndim=1)
    if not 0 <= p <= 1:
        raise ValueError(f"p must lie in [0, 1], got {p}")
    check_positive_float(eps_min, "eps_min")
    max_iter = check_positive_int(max_iter, "max_iter")
    if not np.any(b):
        return zero_recovery(A, "irls", p=p)
    explicit_matrix = None
    if is_explicit(A):
        explicit_matrix = A.toarray() if hasattr(A, "toarray") else np.asarray(A)
    x = _weighted_least_norm(A, b, np.ones(A.shape[1]), explicit_matrix)
    scale = max(float(np.max(np.abs(x))), _TINY)
    eps, iteration = 1.0, 0
    for iteration in range(1, max_iter + 1):
        w = (x * x / (scale * scale) + eps) ** (1.0 - p / 2.0)
        x_new = _weighted_least_norm(A, b, w, explicit_matrix)
        change = float(np.linalg.norm(x_new - x)) / scale
        x = x_new
        if change < np.sqrt(eps) / 100.0:
            if eps <= eps_min:
                break
            eps /= 10.0
    if polish:
        x = polish_on_support(A, b, x, threshold=1e-6)
    return Recovery(x=x, residual=_relative_residual(A, x, b), n_iter=iteration, method="irls",
                    info={"p": p, "eps": eps})


def recover(A, b, method=None, **options) -> Recovery:
    """Recover a sparse x from noiseless measurements b = Ax.

    Parameters
    ----------
    A : ndarray, sparse matrix, LinearOperator or PyLops operator, shape (m, n)
    b : ndarray, shape (m,)
    method : {"irls", "irl1", "bp", "omp"}, optional
        Default :data:`DEFAULT_METHOD` ("irls": ℓ_p IRLS with ε-continuation).
    **options
        Passed to the method (e.g. ``p=`` for IRLS, ``sparsity=`` for OMP).

    Returns
    -------
    Recovery
        ``.x``, ``.residual`` (‖Ax − b‖/‖b‖), ``.n_iter``, ``.method``.

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> A = rng.standard_normal((50, 120))
    >>> x = np.zeros(120); x[rng.choice(120, 20, replace=False)] = rng.standard_normal(20)
    >>> float(np.linalg.norm(recover(A, A @ x).x - x) / np.linalg.norm(x)) < 1e-8
    True
    """
    method = DEFAULT_METHOD if method is None else parse_choice(Method, method, "method")
    A = as_forward_model(A)
    b = check_finite_array(b, "b", ndim=1)
    if A.shape[0] != b.shape[0]:
        raise ValueError(f"A has {A.shape[0]} rows but b has {b.shape[0]} entries; shapes must match")
    if not np.any(b):
        return zero_recovery(A, method.value)
    if method is Method.BP:
        return basis_pursuit(A, b, **options)
    if method is Method.IRL1:
        return reweighted_basis_pursuit(A, b, **options)
    if method is Method.IRLS:
        return irls(A, b, **options)
    from lamina.solvers.omp import omp

    sparsity = options.pop("sparsity", None)
    sparsity = max(1, A.shape[0] // 2) if sparsity is None else sparsity   # one measurement: one atom
    x = omp(A, b, sparsity, tol=options.pop("tol", 1e-10)).x
    return Recovery(x=x, residual=_relative_residual(A, x, b), n_iter=int(np.count_nonzero(x)), method="omp")
