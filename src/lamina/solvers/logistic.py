"""Penalized logistic regression by proximal Newton (IRLS steps solved by lamina's solvers).

Solves  min_x Σ_i s_i [log(1 + e^{z_i}) − y_i z_i] + Σ_g λ_g R(x_g),  z = Ax, y_i ∈ {0, 1},
s_i ≥ 0 the sample weights (ones by default),
for any penalty ``lamina.solve`` handles on explicit matrices (L1, L2, elastic net, group L1).

Each outer iteration replaces the log-likelihood by its second-order model at x — a weighted
least-squares problem with weights h = σ(z)(1 − σ(z)) and working response
t = z − (σ(z) − y)/h — and solves ½‖H^{1/2}(Au − t)‖² + Σ λ_g R(u_g) with coordinate descent
(closed form for L2; group L1 with each small block minimized exactly,
:mod:`lamina.solvers._block_kernels`), warm-started at x; the step x + s(u − x) is then
backtracked on the true objective (Armijo, Lee, Sun & Saunders 2014). The inner problem is
solved to a duality gap about 10⁻² times the squared current violation. Stopping criterion: the
largest distance of −∇F(x) to the penalty's subdifferential, relative to ‖∇F(0)‖∞
(``relative_violation``); the solver also stops when no step decreases the objective beyond its
rounding (the same subproblem would repeat).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lamina.api import solve
from lamina.groups import Groups
from lamina.penalties import Penalty
from lamina.solvers.base import Monitor, SolveResult


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _loss(z, y, weight) -> float:
    return float(weight @ (np.logaddexp(0.0, z) - y * z))


def _scale_rows(A, scale):
    return sp.diags(scale) @ A if sp.issparse(A) else A * scale[:, None]


def logistic_regression(A, y, penalty: Penalty, lam, groups: Groups, *, x0=None, tol: float = 1e-6,
                        max_iter: int = 100, callback=None, sample_weight=None,
                        intercept: bool = False) -> SolveResult:
    """Proximal Newton for penalized logistic regression (see module docstring).

    Parameters
    ----------
    A : ndarray or sparse, shape (n, p)
    y : ndarray, shape (n,), values in {0, 1}
    penalty : Penalty
    lam : ndarray, shape (n_groups,)
        λ per group, solver scale (Σ loss, not the mean).
    groups : Groups
    x0 : ndarray, optional
    tol : float
    max_iter : int
        Newton steps.
    sample_weight : ndarray, shape (n,), optional
        s_i ≥ 0 multiplying each sample's loss (ones by default).
    intercept : bool
        The last column of A (dense) is a column of ones, its coefficient unpenalized and
        alone in the last group: each Newton subproblem then eliminates it by weighted
        centering (exact) instead of leaving coordinate descent an unpenalized coordinate,
        which on uncentered features (a mean of 100) left the fit far from optimal.

    Examples
    --------
    >>> from lamina.penalties import L2
    >>> A = np.array([[1.0], [2.0], [-1.0], [-2.0]]); y = np.array([1.0, 1.0, 0.0, 1.0])
    >>> x = logistic_regression(A, y, L2(), np.array([1.0]), Groups.single(1)).x
    >>> bool(abs((A.T @ (_sigmoid(A @ x) - y))[0] + 1.0 * x[0]) < 1e-6)
    True
    """
    y = np.asarray(y, dtype=np.float64)
    weight = np.ones(y.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    n_features = A.shape[1]
    x = np.zeros(n_features) if x0 is None else np.array(x0, dtype=np.float64)
    grad0 = np.asarray(A.T @ (weight * (0.5 - y))).ravel()
    scale = max(float(np.max(np.abs(grad0))), np.finfo(float).tiny)
    monitor = Monitor("prox_newton", tol, "relative_violation", callback)
    centered = _CenteredSubproblem(A, penalty, lam, groups) if intercept and not sp.issparse(A) else None
    z = np.asarray(A @ x).ravel()
    objective = _loss(z, y, weight) + penalty.value(x, lam, groups)
    iteration = 0
    for iteration in range(1, max_iter + 1):
        prob = _sigmoid(z)
        grad = np.asarray(A.T @ (weight * (prob - y))).ravel()
        violation = float(np.max(penalty.subdiff_distance(x, grad, lam, groups), initial=0.0)) / scale
        if monitor.record(iteration, x, objective, violation, tol):
            break
        h = np.maximum(prob * (1.0 - prob), 1e-10)
        root = np.sqrt(weight * h)
        target = root * (z - (prob - y) / h)
        if centered is not None:
            u = centered.solve(root, z - (prob - y) / h, violation * scale, x)
        else:
            u = newton_step(_scale_rows(A, root), target, penalty, lam, groups, x, violation * scale)
        x, z, objective, moved = armijo_backtrack(x, z, objective, grad, u, lambda d: np.asarray(A @ d).ravel(),
                                                  lambda zz: _loss(zz, y, weight), penalty, lam, groups)
        if not moved:   # no decrease left at any step: rounding, not the model, limits the violation
            break
    return monitor.result(x, iteration, lam=lam)


def newton_step(design, target, penalty, lam, groups: Groups, x, violation: float) -> np.ndarray:
    """argmin_u ½‖design·u − target‖² + R(u), warm-started at x, to about 10⁻² times the squared
    outer ``violation``, by :func:`lamina.solve` (coordinate descent; group L1's blocks minimized
    exactly, so unscaled features within a block do not slow it down)."""
    return solve(design, target, penalty, lam, groups, tol=inner_tolerance(violation, target), x0=x,
                 check_adjoint=False, max_iter=1000).x


def inner_tolerance(violation: float, target) -> float:
    """The relative duality gap to solve a Newton subproblem ½‖Bu − t‖² + R(u) to: about 10⁻² times
    the squared current violation (in the solver's units), in the inner solver's relative units."""
    wanted = 1e-2 * violation ** 2 / max(0.5 * float(target @ target), np.finfo(float).tiny)
    return float(np.clip(wanted, 1e-15, 1e-3))


class _CenteredSubproblem:
    """The Newton subproblem min Σ v_i (r_i − x_iᵀw − b)² / 2 + pen(w) with the intercept b
    eliminated: b = r̄ − x̄ᵀw (means weighted by v), w from the centered problem."""

    def __init__(self, A, penalty, lam, groups):
        self.X = A[:, :-1]
        self.groups = Groups(groups.labels[:-1], groups.names[:-1])
        self.lam = lam[:-1]
        if penalty.weights is None:
            self.penalty = penalty
        else:
            self.penalty = type(penalty)(**{**penalty.get_params(), "weights": penalty.weights[:-1]})

    def solve(self, root, response, violation, x):
        v = root * root
        x_mean = v @ self.X / np.sum(v)
        r_mean = float(v @ response / np.sum(v))
        target = root * (response - r_mean)
        u = newton_step((self.X - x_mean) * root[:, None], target, self.penalty, self.lam, self.groups, x[:-1],
                        violation)
        return np.append(u, r_mean - x_mean @ u)


def armijo_backtrack(x, z, objective, grad, u, scores_of, loss_of, penalty, lam, groups):
    """Backtrack x + s(u − x), s = 1, ½, …, until the Armijo decrease holds on the true objective
    loss(z) + R(x), z the scores (``scores_of`` maps a coefficient step to its score step,
    ``loss_of`` scores to the data loss), up to the objective's rounding (near the optimum the
    decrease a Newton step promises is below it, and the solvers' violation decides). Returns
    (x, z, objective, moved); not moved when no step down to s = 2⁻²⁰ decreased the objective
    (x, z, objective unchanged)."""
    direction = u - x
    z_direction = scores_of(direction)
    decrease = float(grad @ direction) + penalty.value(u, lam, groups) - penalty.value(x, lam, groups)
    step = 1.0
    rounding = 16 * np.finfo(float).eps * abs(objective)   # below it, a difference of objectives is noise
    for _ in range(21):
        candidate = x + step * direction
        z_candidate = z + step * z_direction
        value = loss_of(z_candidate) + penalty.value(candidate, lam, groups)
        if value <= objective + 1e-4 * step * min(decrease, 0.0) + rounding:
            return candidate, z_candidate, value, True
        step *= 0.5
    return x, z, objective, False
