"""Iterative hard thresholding: penalized (L0 prox-gradient) and constrained (normalized IHT).

Penalized IHT (Blumensath & Davies 2008; Attouch, Bolte & Svaiter 2013) is proximal gradient on
½‖Ax − b‖² + Σ_j t_j [x_j ≠ 0] with the hard-thresholding prox of :class:`~lamina.penalties.L0`.
The step 1/L starts from a power-iteration estimate of ‖A‖² (a lower bound) and L doubles until
the descent condition f(x⁺) ≤ f(x) + ∇f(x)ᵀ(x⁺ − x) + L/2 ‖x⁺ − x‖² holds — which, x⁺ being the
minimizer of that model plus the penalty, makes the objective non-increasing. Once the support
stays the same between two iterations and x moves by less than 10⁻⁴‖x‖ per step, the
coefficients are refitted by least squares on it ("polishing", as in hard thresholding
pursuit, Foucart 2011): this lowers the data fit without
adding nonzeros, so monotonicity is kept, and the next prox-gradient step either leaves x
unchanged (an exact fixed point) or moves the support.

Normalized IHT (Blumensath & Davies 2010) solves the constrained problem
min ½‖Ax − b‖² subject to ‖x‖₀ ≤ s with an adaptive step; see :func:`normalized_iht`.
"""
from __future__ import annotations

import numpy as np

from lamina._validation import check_finite_array, check_positive_float, check_positive_int
from lamina.groups import Groups
from lamina.operators import as_forward_model, is_explicit, matvec, rmatvec, squared_norm_estimate
from lamina.penalties import Penalty
from lamina.solvers.base import Monitor, SolveResult
from lamina.solvers.omp import check_sparsity, least_squares_on_support

_TINY = np.finfo(float).tiny
# Polish once x moves by less than this share per step on a support that stopped changing: polishing
# earlier locks in large supports (tested on noisy Gaussian problems: worse local minima).
_POLISH_BELOW = 1e-4


def _relative_change(x_new, x_old) -> float:
    change = float(np.linalg.norm(x_new - x_old))
    return 0.0 if change == 0.0 else change / max(float(np.linalg.norm(x_new)), _TINY)


def iterative_hard_thresholding(A, b, penalty: Penalty, lam, groups: Groups, *, x0=None,
                                tol: float = 1e-6, max_iter: int = 1000, step: float | None = None,
                                power_iterations: int = 20, polish: bool = True,
                                callback=None) -> SolveResult:
    """Penalized IHT: proximal gradient with hard thresholding for the L0 penalty.

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator, shape (n_rows, n_features)
    b : ndarray, shape (n_rows,)
    penalty : L0
        Any penalty with a prox works; the objective is monotone for every one of them.
    lam : ndarray, shape (n_groups,)
        λ per group (validated by the caller).
    groups : Groups
    x0 : ndarray, shape (n_features,), optional
        Warm start.
    tol : float
        Stop when the prox-gradient step moves x by at most tol·‖x‖ (relative change).
    max_iter : int
        Budget of prox-gradient iterations.
    step : float, optional
        Fixed step 1/L (no back-tracking; monotone only when step ≤ 1/‖A‖²). By default 1/L
        with L estimated by power iteration and doubled by back-tracking.
    power_iterations : int
        Power-iteration budget of the ‖A‖² estimate.
    polish : bool
        Refit by least squares on the support once it stops changing and the relative change
        is below 10⁻⁴ (see Notes).
    callback : callable, optional
        ``callback(iteration, x, objective, criterion)``; returning True stops.

    Returns
    -------
    SolveResult
        ``info['lipschitz']`` is the final L: ``x`` is (to ``tol``) a fixed point of
        x ↦ prox_{R/L}(x − Aᵀ(Ax − b)/L).

    Notes
    -----
    With f(x) = ½‖Ax − b‖², t_j = λ_j w_j and H the hard thresholding
    H(u)_j = u_j if u_j² > 2 t_j / L else 0, each iteration is
    x⁺ = H(x − ∇f(x)/L), L doubled until f(x⁺) ≤ f(x) + ∇f(x)ᵀ(x⁺ − x) + L/2 ‖x⁺ − x‖²;
    then F(x⁺) = f(x⁺) + pen(x⁺) ≤ f(x) + pen(x) = F(x). A fixed point satisfies
    ∇f(x)_j = 0 and x_j² > 2 t_j / L on the support, |∇f(x)_j| ≤ √(2 t_j L) off it — a
    local minimizer of F. Polishing replaces x by argmin{f(u) : supp(u) ⊆ supp(x)}, which
    can only lower F. Cost per iteration: one product with A and one with Aᵀ (plus one with A
    per back-tracking step).

    Examples
    --------
    >>> import numpy as np
    >>> from lamina import L0, Groups
    >>> A = np.eye(3); b = np.array([3.0, 0.5, -2.0])
    >>> iterative_hard_thresholding(A, b, L0(), np.array([1.0]), Groups.single(3)).x.tolist()
    [3.0, 0.0, -2.0]
    """
    max_iter = check_positive_int(max_iter, "max_iter")
    check_positive_float(tol, "tol")
    n_products = 0
    if step is None:
        lipschitz, n_products = squared_norm_estimate(A, n_iter=check_positive_int(power_iterations,
                                                                                   "power_iterations"))
        lipschitz = max(lipschitz, _TINY)
        n_products *= 2
    else:
        lipschitz = 1.0 / check_positive_float(step, "step")
    x = np.zeros(A.shape[1]) if x0 is None else np.array(x0, dtype=np.float64)
    residual = (matvec(A, x) - b) if np.any(x) else -np.asarray(b, dtype=np.float64)
    f_x = 0.5 * float(np.dot(residual, residual))
    objective = f_x + penalty.value(x, lam, groups)
    monitor = Monitor("iterative_hard_thresholding", tol, "relative_change", callback)
    previous_support, polished_support, n_polish, iteration = None, None, 0, 0
    for iteration in range(1, max_iter + 1):
        grad = rmatvec(A, residual)
        n_products += 1
        while True:
            x_new = penalty.prox(x - grad / lipschitz, lam, groups, 1.0 / lipschitz)
            residual_new = matvec(A, x_new) - b
            n_products += 1
            f_new = 0.5 * float(np.dot(residual_new, residual_new))
            if step is not None:
                break
            diff = x_new - x
            bound = f_x + float(np.dot(grad, diff)) + 0.5 * lipschitz * float(np.dot(diff, diff))
            if f_new <= bound + 1e-12 * abs(f_x):
                break
            lipschitz *= 2.0
        criterion = _relative_change(x_new, x)
        x, residual, f_x = x_new, residual_new, f_new
        objective = f_x + penalty.value(x, lam, groups)
        support = x != 0
        if (polish and tol < criterion <= _POLISH_BELOW and previous_support is not None
                and np.array_equal(support, previous_support)
                and (polished_support is None or not np.array_equal(support, polished_support))):
            polished_support = support
            x_p = least_squares_on_support(A, b, support)
            residual_p = matvec(A, x_p) - b
            n_products += 1 + (0 if is_explicit(A) else int(np.count_nonzero(support)))
            f_p = 0.5 * float(np.dot(residual_p, residual_p))
            objective_p = f_p + penalty.value(x_p, lam, groups)
            if objective_p <= objective:
                x, residual, f_x, objective, n_polish = x_p, residual_p, f_p, objective_p, n_polish + 1
                support = x != 0
        previous_support = support
        if monitor.record(iteration, x, objective, criterion, tol):
            break
    return monitor.result(x, iteration, lam=lam, lipschitz=lipschitz, n_products=n_products,
                          n_polish=n_polish)


def _hard_threshold(u: np.ndarray, sparsity: int) -> np.ndarray:
    """Keep the ``sparsity`` entries of largest magnitude, zero the rest."""
    if sparsity >= u.size:
        return u.copy()
    keep = np.argpartition(-np.abs(u), sparsity - 1)[:sparsity]
    out = np.zeros_like(u)
    out[keep] = u[keep]
    return out


def normalized_iht(A, b, sparsity: int, *, x0=None, tol: float = 1e-6, max_iter: int = 1000,
                   callback=None, shrink: float = 2.0, margin: float = 0.01) -> SolveResult:
    """Normalized IHT: min ½‖Ax − b‖² subject to ‖x‖₀ ≤ ``sparsity`` (compressed sensing).

    Parameters
    ----------
    A : ndarray, sparse matrix, LinearOperator or PyLops operator, shape (n_rows, n_features)
    b : ndarray, shape (n_rows,)
    sparsity : int
        s, the largest number of nonzeros, 1 ≤ s ≤ n_features.
    x0 : ndarray, shape (n_features,), optional
        Warm start (its s largest entries are kept).
    tol : float
        Stop when an iteration moves x by at most tol·‖x‖ (relative change).
    max_iter : int
        Iteration budget.
    callback : callable, optional
        ``callback(iteration, x, objective, criterion)``; returning True stops.
    shrink : float
        κ > 1/(1 − c), the factor the step is divided by (times 1 − c) when the safeguard fails.
    margin : float
        c in (0, 1) of the safeguard.

    Returns
    -------
    SolveResult
        ``objective`` = ½‖Ax − b‖² (no penalty: the sparsity is a constraint).

    Notes
    -----
    With Γ the support of x (at the start, the s largest entries of Aᵀb) and g = Aᵀ(b − Ax),
    the step is the exact line search along g restricted to Γ, μ = ‖g_Γ‖² / ‖A g_Γ‖², and
    x⁺ = H_s(x + μ g). If the support changes, the step is accepted only when
    μ ≤ ω = (1 − c) ‖x⁺ − x‖² / ‖A(x⁺ − x)‖², otherwise μ ← μ / (κ(1 − c)) and x⁺ is
    recomputed (Blumensath & Davies 2010, "Normalized iterative hard thresholding:
    guaranteed stability and performance"). This guarantees ‖b − Ax‖ does not increase and
    convergence to a local minimizer, without scaling A to ‖A‖ < 1. Cost per iteration:
    one product with Aᵀ and one with A, plus one with A per safeguard step.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.eye(3); b = np.array([3.0, 0.5, -2.0])
    >>> normalized_iht(A, b, 2).x.tolist()
    [3.0, 0.0, -2.0]
    """
    A = as_forward_model(A)
    b = check_finite_array(b, "b", ndim=1)
    if A.shape[0] != b.shape[0]:
        raise ValueError(f"A has {A.shape[0]} rows but b has {b.shape[0]} entries; shapes must match")
    n_features = A.shape[1]
    sparsity = check_sparsity(sparsity, n_features)
    check_positive_float(tol, "tol")
    max_iter = check_positive_int(max_iter, "max_iter")
    if not 0.0 < margin < 1.0:
        raise ValueError(f"margin must lie in (0, 1), got {margin}")
    if not shrink * (1.0 - margin) > 1.0:
        raise ValueError(f"shrink must exceed 1/(1 - margin) = {1.0 / (1.0 - margin):.4g}, got {shrink}")
    if x0 is None:
        x = np.zeros(n_features)
    else:
        x0 = check_finite_array(x0, "x0", ndim=1)
        if x0.shape[0] != n_features:
            raise ValueError(f"x0 must have {n_features} entries (columns of A), got {x0.shape[0]}")
        x = _hard_threshold(x0, sparsity)
    residual = b - matvec(A, x) if np.any(x) else b.copy()
    grad = rmatvec(A, residual)              # minus the gradient of ½‖Ax − b‖²
    support = (x != 0) if np.any(x) else (_hard_threshold(grad, sparsity) != 0)
    monitor = Monitor("normalized_iht", tol, "relative_change", callback)
    n_products, n_shrinks, iteration = 2, 0, 0
    for iteration in range(1, max_iter + 1):
        direction = np.where(support, grad, 0.0)
        if not np.any(direction):
            direction = grad                 # least squares reached on Γ: step along all of g
        if not np.any(direction):            # g = 0: x is stationary
            monitor.record(iteration, x, 0.5 * float(np.dot(residual, residual)), 0.0, tol)
            break
        A_direction = matvec(A, direction)
        n_products += 1
        mu = float(np.dot(direction, direction)) / max(float(np.dot(A_direction, A_direction)), _TINY)
        while True:
            x_new = _hard_threshold(x + mu * grad, sparsity)
            new_support = x_new != 0
            if np.array_equal(new_support, support) and direction is not grad:
                residual_new = residual - mu * A_direction
                break
            diff = x_new - x
            A_diff = matvec(A, diff)
            n_products += 1
            omega = (1.0 - margin) * float(np.dot(diff, diff)) / max(float(np.dot(A_diff, A_diff)), _TINY)
            if mu <= omega or not np.any(diff):
                residual_new = residual - A_diff
                break
            mu /= shrink * (1.0 - margin)
            n_shrinks += 1
        criterion = _relative_change(x_new, x)
        x, residual, support = x_new, residual_new, new_support
        grad = rmatvec(A, residual)
        n_products += 1
        if monitor.record(iteration, x, 0.5 * float(np.dot(residual, residual)), criterion, tol):
            break
    return monitor.result(x, iteration, n_products=n_products, n_shrinks=n_shrinks)
