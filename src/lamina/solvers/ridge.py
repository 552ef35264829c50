"""L2 (ridge / Tikhonov) solvers: closed form for matrices, LSQR/CG for operators.

Solves min_x ½‖Ax − b‖² + ½ Σ_j c_j x_j², c_j = λ_(group of j) · w_j, i.e.
(AᵀA + C) x = Aᵀb with C = diag(c).

:class:`RidgeFactorization` keeps what does not depend on λ — the Gram matrix AᵀA (p ≤ n),
the kernel AAᵀ (p > n) or one SVD — so that many λ vectors cost one factorization of A:
for λ vectors on a ray (c = t · c₀) a single SVD of A C₀^{-1/2} gives every solution in
O(np) each; for arbitrary vectors each solve is one Cholesky of a p×p (or n×n) matrix.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from scipy.sparse.linalg import LinearOperator, cg, lsqr

from lamina.groups import Groups
from lamina.operators import matvec, rmatvec, to_dense
from lamina.penalties import Penalty
from lamina.solvers.base import Monitor, SolveResult


class RidgeFactorization:
    """λ-independent factorization of an explicit matrix for repeated ridge solves.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((20, 5)), rng.standard_normal(20)
    >>> fact = RidgeFactorization(X, y)
    >>> x = fact.solve(np.full(5, 2.0))
    >>> bool(np.allclose(X.T @ (X @ x - y) + 2.0 * x, 0))
    True
    """

    def __init__(self, X, y):
        self.X = to_dense(X)
        self.y = np.asarray(y, dtype=np.float64)
        self.Xty = self.X.T @ self.y
        n, p = self.X.shape
        self.primal = p <= n
        self.gram = self.X.T @ self.X if self.primal else self.X @ self.X.T
        self._svd = {}

    def solve(self, c) -> np.ndarray:
        """x = (XᵀX + diag(c))⁻¹ Xᵀy for per-coefficient strengths c ≥ 0."""
        c = np.asarray(c, dtype=np.float64)
        if self.primal or np.any(c == 0):
            return self._solve_primal(c)
        # Woodbury: x = C⁻¹Xᵀ(X C⁻¹ Xᵀ + I)⁻¹ y, an n×n system.
        inv_c = 1.0 / c
        kernel = (self.X * inv_c) @ self.X.T
        kernel[np.diag_indices_from(kernel)] += 1.0
        alpha = sla.cho_solve(sla.cho_factor(kernel, lower=True, check_finite=False), self.y,
                              check_finite=False)
        return inv_c * (self.X.T @ alpha)

    def _solve_primal(self, c):
        gram = self.gram if self.primal else self.X.T @ self.X
        system = gram + np.diag(c)
        try:
            return sla.cho_solve(sla.cho_factor(system, lower=True, check_finite=False), self.Xty,
                                 check_finite=False)
        except np.linalg.LinAlgError:  # singular: unpenalized directions the data do not fix
            return np.linalg.lstsq(system, self.Xty, rcond=None)[0]

    def solve_ray(self, multipliers, c0) -> np.ndarray:
        """Solutions for c = t · c0, one row per t, from one cached SVD of X C₀^{-1/2} (c0 > 0)."""
        c0 = np.asarray(c0, dtype=np.float64)
        if np.any(c0 <= 0):
            raise ValueError("solve_ray needs c0 > 0 for every coefficient")
        key = c0.tobytes()
        if key not in self._svd:
            scale = 1.0 / np.sqrt(c0)
            U, s, Vt = np.linalg.svd(self.X * scale, full_matrices=False)
            self._svd = {key: (scale, U.T @ self.y, s, Vt)}
        scale, Uty, s, Vt = self._svd[key]
        t = np.asarray(multipliers, dtype=np.float64)[:, None]
        return (((s * Uty) / (s * s + t)) @ Vt) * scale


def _strengths(penalty: Penalty, lam, groups: Groups) -> np.ndarray:
    return penalty.quadratic_strengths(lam, groups)


def _objective(A, b, x, c):
    residual = matvec(A, x) - b
    return 0.5 * float(np.dot(residual, residual)) + 0.5 * float(np.dot(c, x * x))


def _optimality(A, b, x, c):
    """‖Aᵀ(Ax − b) + Cx‖ / ‖Aᵀb‖: the relative residual of the normal equations."""
    grad = rmatvec(A, matvec(A, x) - b) + c * x
    return float(np.linalg.norm(grad)) / max(float(np.linalg.norm(rmatvec(A, b))), np.finfo(float).tiny)


def ridge_closed_form(X, y, penalty: Penalty, lam, groups: Groups, *, tol: float = 1e-6,
                      factorization: RidgeFactorization | None = None, callback=None, x0=None,
                      max_iter=None) -> SolveResult:
    """Exact ridge by Cholesky (Gram or kernel form), reusing ``factorization`` if given; ``x0`` and
    ``max_iter`` (a warm start, an iteration budget) mean nothing to a closed form and are ignored. Any
    other option is refused (it had been swallowed: ``options={"maxiter": 1}`` ran silently)."""
    c = _strengths(penalty, lam, groups)
    factorization = factorization or RidgeFactorization(X, y)
    x = factorization.solve(c)
    monitor = Monitor("cholesky", tol, "relative_residual", callback)
    monitor.record(1, x, _objective(X, y, x, c), _optimality(X, y, x, c), max(tol, 1e-8))
    return monitor.result(x, 1, lam=lam)


def ridge_iterative(A, b, penalty: Penalty, lam, groups: Groups, *, x0=None, tol: float = 1e-6,
                    max_iter: int = 1_000, method: str = "cg", callback=None) -> SolveResult:
    """Ridge on an operator: CG on the normal equations, or LSQR on [A; C^{1/2}].

    ``cg`` stops when ‖Aᵀ(Ax − b) + Cx‖ ≤ tol ‖Aᵀb‖ (criterion ``relative_residual``).
    ``lsqr`` (all c > 0) rescales x = C^{-1/2} z so that LSQR's scalar ``damp`` = 1 handles any
    per-coefficient strengths, and stops on its own test ‖Āᵀr̄‖ ≤ tol ‖Ā‖ ‖r̄‖ on that
    augmented system (criterion ``lsqr_residual``); it is better conditioned than CG
    (κ instead of κ²) when high accuracy on an ill-posed problem is wanted.
    """
    c = _strengths(penalty, lam, groups)
    n_features = A.shape[1]
    if method == "lsqr":
        if np.any(c <= 0):
            raise ValueError("solver 'lsqr' needs λ·weight > 0 for every coefficient; use 'cg'")
        scale = 1.0 / np.sqrt(c)
        m = A.shape[0]
        if x0 is None:
            scaled = LinearOperator(A.shape, matvec=lambda z: matvec(A, scale * z),
                                    rmatvec=lambda r: scale * rmatvec(A, r), dtype=np.float64)
            out = lsqr(scaled, b, damp=1.0, atol=tol, btol=tol, iter_lim=max_iter)
            z = out[0]
        else:
            # scipy's lsqr damps the correction z − z0, not z, when given x0: solve for the
            # correction on the augmented system [Ā; I] dz ≈ [b − Āz0; −z0] instead
            z0 = np.asarray(x0, dtype=np.float64) / scale
            augmented = LinearOperator(
                (m + n_features, n_features), dtype=np.float64,
                matvec=lambda z: np.concatenate([matvec(A, scale * z), z]),
                rmatvec=lambda r: scale * rmatvec(A, r[:m]) + r[m:])
            rhs = np.concatenate([b - matvec(A, scale * z0), -z0])
            out = lsqr(augmented, rhs, atol=tol, btol=tol, iter_lim=max_iter)
            z = z0 + out[0]
        x, n_iter = scale * z, int(out[2])
        anorm, r2norm, arnorm = out[5], out[4], out[7]
        criterion, name = arnorm / max(anorm * r2norm, np.finfo(float).tiny), "lsqr_residual"
    else:
        normal = LinearOperator((n_features, n_features), dtype=np.float64,
                                matvec=lambda v: rmatvec(A, matvec(A, v)) + c * v)
        counter = [0]
        x, _info = cg(normal, rmatvec(A, b), x0=x0, rtol=tol, atol=0.0, maxiter=max_iter,
                      callback=lambda _xk: counter.__setitem__(0, counter[0] + 1))
        n_iter = counter[0]
        criterion, name = _optimality(A, b, x, c), "relative_residual"
    monitor = Monitor(method, tol, name, callback)
    # CG's own residual is recursive; allow its drift from the true one.
    monitor.record(n_iter, x, _objective(A, b, x, c), criterion, tol * (1.0 if method == "lsqr" else 10.0))
    return monitor.result(x, n_iter, lam=lam)
