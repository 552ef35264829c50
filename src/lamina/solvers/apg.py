"""Accelerated proximal gradient (FISTA) with adaptive restart, for linear operators.

Solves min_x ½‖Ax − b‖² + Σ_g λ_g R(x_g) for any penalty with a prox, using only products
with A and Aᵀ — one of each per iteration: Az is kept as a combination of the stored
products Ax, so the descent test of back-tracking costs nothing extra.

Step size: 1/L with L from a short power iteration (a lower bound on ‖A‖²), raised by
back-tracking whenever the descent condition
f(x⁺) ≤ f(z) + ∇f(z)ᵀ(x⁺ − z) + L/2 ‖x⁺ − z‖² fails — tens of products instead of the
thousands an exact eigenvalue solve costs. Momentum restarts when it points uphill,
(z − x⁺)ᵀ(x⁺ − x) > 0 (O'Donoghue & Candès 2015), which restores linear convergence under
restricted strong convexity (sparse solutions).

Stopping: duality gap ≤ tol · ½‖b‖², checked every ``check_every`` iterations (one extra
Aᵀ product), for convex penalties; relative change ‖x⁺ − x‖ ≤ tol ‖x⁺‖ for L0.
"""
from __future__ import annotations

import numpy as np

from lamina.groups import Groups
from lamina.operators import matvec, rmatvec, squared_norm_estimate
from lamina.penalties import Penalty
from lamina.solvers.base import Monitor, SolveResult, duality_gap


def proximal_gradient(A, b, penalty: Penalty, lam, groups: Groups, *, x0=None, tol: float = 1e-6,
                      max_iter: int = 10_000, step: float | None = None, accelerate: bool = True,
                      restart: bool = True, check_every: int = 10, power_iterations: int = 20,
                      callback=None) -> SolveResult:
    """FISTA with adaptive restart and back-tracking; see the module docstring.

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator, shape (n_rows, n_features)
    b : ndarray, shape (n_rows,)
    penalty : Penalty
    lam : ndarray, shape (n_groups,)
    groups : Groups
    x0 : ndarray, optional
        Warm start.
    tol : float
        Relative duality gap (convex) or relative change (L0) to stop at.
    max_iter : int
    step : float, optional
        Fixed step 1/L; by default estimated by power iteration and back-tracked.
    accelerate, restart : bool
        FISTA momentum and its adaptive restart (both off = ISTA).
    check_every : int
        Iterations between duality-gap evaluations.
    power_iterations : int
        Power-iteration budget of the step estimate.
    callback : callable, optional
        ``callback(iteration, x, objective, criterion)``; returning True stops.
    """
    n_products = 0
    if step is None:
        lipschitz, n_products = squared_norm_estimate(A, n_iter=power_iterations)
        lipschitz = max(lipschitz, np.finfo(float).tiny)
        n_products *= 2
    else:
        lipschitz = 1.0 / step
    x = np.zeros(A.shape[1]) if x0 is None else np.array(x0, dtype=np.float64)
    Ax = matvec(A, x) if np.any(x) else np.zeros(A.shape[0])
    z, Az, t = x.copy(), Ax.copy(), 1.0
    half_norm_b = 0.5 * float(np.dot(b, b))
    threshold = tol * max(half_norm_b, np.finfo(float).tiny)
    convex = penalty.convex
    name = "fista" if accelerate else "ista"
    monitor = Monitor(name, tol, "duality_gap" if convex else "relative_change", callback)
    iteration, n_restarts = 0, 0
    for iteration in range(1, max_iter + 1):
        residual_z = Az - b
        grad = rmatvec(A, residual_z)
        f_z = 0.5 * float(np.dot(residual_z, residual_z))
        while True:
            x_new = penalty.prox(z - grad / lipschitz, lam, groups, 1.0 / lipschitz)
            Ax_new = matvec(A, x_new)
            n_products += 2
            diff = x_new - z
            residual_new = Ax_new - b
            f_new = 0.5 * float(np.dot(residual_new, residual_new))
            bound = f_z + float(np.dot(grad, diff)) + 0.5 * lipschitz * float(np.dot(diff, diff))
            if step is not None or f_new <= bound + 1e-12 * abs(f_z):
                break
            lipschitz *= 2.0
            n_products -= 1  # the gradient at z is reused
        if accelerate and restart and np.dot(z - x_new, x_new - x) > 0:
            t, n_restarts = 1.0, n_restarts + 1
            z, Az = x_new.copy(), Ax_new.copy()
        elif accelerate:
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_new
            z, Az, t = x_new + beta * (x_new - x), Ax_new + beta * (Ax_new - Ax), t_new
        else:
            z, Az = x_new, Ax_new
        change = float(np.linalg.norm(x_new - x))
        x, Ax = x_new, Ax_new
        if iteration % check_every and iteration != max_iter:
            continue
        objective = f_new + penalty.value(x, lam, groups)
        if convex:
            residual = b - Ax
            criterion = duality_gap(penalty, lam, groups, b, residual, rmatvec(A, residual), objective)
            n_products += 1
            stop = monitor.record(iteration, x, objective, criterion, threshold)
        else:
            criterion = change / max(float(np.linalg.norm(x)), np.finfo(float).tiny)
            stop = monitor.record(iteration, x, objective, criterion, tol)
        if stop:
            break
    return monitor.result(x, iteration, lam=lam, lipschitz=lipschitz, n_restarts=n_restarts,
                          n_products=n_products)
