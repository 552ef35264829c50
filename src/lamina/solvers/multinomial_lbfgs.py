"""Multinomial logistic regression with a smooth (L2) penalty by L-BFGS on preconditioned variables.

Solves the problem of :mod:`lamina.solvers.multinomial` when the penalty has no L1 part,
min_W Σ_i s_i [logsumexp(z_i) − z_{i,y_i}] + ½ Σ_j c_j ‖W_j‖², Z = AW (W of shape (p, K), c_j ≥ 0
per coefficient from ``penalty.separable_l1_l2``). The objective is smooth, so a quasi-Newton
method (scipy's L-BFGS-B) needs only gradients — the proximal Newton solver
(:mod:`lamina.solvers.multinomial_newton`) builds a design of n·K × p·K entries and solves a
penalized least squares on it at every step, which from W = 0 on the digits (1797 × 64, ten classes)
cost 2.4 s, where L-BFGS reaches the tolerance in 0.14 s (benchmarks/RESULTS.md, issue 7).

Quasi-Newton steps are not invariant to the features' scales as Newton's are, so the variables
are changed (an exact reparametrization, the objective is the same): with an intercept (the last
column of A a column of ones, unpenalized) the other columns are centred by their weighted means
μ_j, and every column is divided by d_j = (¼ Σ_i s_i (a_ij − μ_j)² + c_j)^{1/2}, the square root
of a bound on the Hessian's diagonal (a softmax probability's variance is at most ¼):

    W_j = V_j / d_j,   intercepts b = V_b / d_b − Σ_j μ_j W_j.

In V the Hessian's diagonal is about one whatever the features' scales and means (scikit-learn's
wine as it ships: 12 ms to a 10⁻⁵ violation, where L-BFGS on the raw variables takes seconds).
L-BFGS stops by the other solvers' rule — the largest entry of the gradient in W, relative to the
one at W = 0, below ``tol`` (and at least below :data:`LBFGS_AT_LEAST`) — and proximal Newton
(:mod:`lamina.solvers.multinomial_newton`) finishes from there to :data:`FINISH` · tol, in one or
two steps: L-BFGS converges linearly and
stops just below the tolerance, where its answer still depends on its path (scikit-learn's check
that integer sample weights equal repeated samples failed at 8·10⁻⁷ relative even with L-BFGS
run to tol/100), while a Newton step from there lands far below it, as the Newton solver alone
does. Where L-BFGS has not reached ``tol`` in ``max_iter`` steps (near-collinear features, or
features with large means and no intercept to centre them, which a diagonal cannot
precondition), Newton takes over to ``tol``. On the digits (standardized, λ = 1/n, one thread) a
fit took 0.17 s at tol = 10⁻² and 0.6 s at 10⁻⁴ or 10⁻⁶, against 2.0–2.4 s for Newton alone.
"""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
from scipy.optimize import minimize

from lamina._warnings import warn
from lamina.groups import Groups
from lamina.penalties import Penalty
from lamina.solvers.base import ConvergenceWarning, Monitor, SolveResult, unconverged_message
from lamina.solvers.multinomial import _problem_arrays, logsumexp_rows
from lamina.solvers.multinomial_newton import multinomial_newton

#: once L-BFGS reaches ``tol``, proximal Newton finishes to this share of it (module docstring)
FINISH = 1e-3
#: L-BFGS runs at least to this violation before Newton finishes: from a looser point the finish
#: took several Newton steps (digits, tol = 10⁻²: 2.0 s in all)
LBFGS_AT_LEAST = 1e-6


def is_smooth(penalty: Penalty, lam, groups: Groups) -> bool:
    """Whether R(x) = Σ_j c_j x_j² / 2 (an elastic-net family penalty without L1 part)."""
    return penalty.supports("separable_l1_l2") and not np.any(penalty.separable_l1_l2(lam, groups)[0] > 0)


def _preconditioner(A, weight, strengths, intercept: bool):
    """(μ, d): the weighted column means (zero without intercept, and for the intercept column)
    and the scales d_j of the module docstring."""
    mu = weight @ A / np.sum(weight) if intercept else np.zeros(A.shape[1])
    if intercept:
        mu[-1] = 0.0
    spread = weight @ (A - mu) ** 2
    return mu, np.sqrt(np.maximum(0.25 * spread + strengths, np.finfo(float).tiny))


def multinomial_lbfgs(A, codes, n_classes: int, penalty: Penalty, lam, groups: Groups, *, sample_weight=None,
                      x0=None, tol: float = 1e-6, max_iter: int = 1000, callback=None,
                      intercept: bool = False) -> SolveResult:
    """L-BFGS for multinomial logistic regression with a smooth penalty, finished by proximal Newton
    (module docstring); the result is the Newton solver's.

    Arguments as :func:`lamina.solvers.multinomial_newton.multinomial_newton`; ``max_iter`` counts
    L-BFGS steps, and Newton's steps after them (at most 100).

    Examples
    --------
    >>> from lamina.penalties import L2
    >>> from lamina.solvers.multinomial import _gradient, class_groups
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]]); codes = np.array([0, 1, 2, 0])
    >>> res = multinomial_lbfgs(A, codes, 3, L2(), np.array([0.5]), class_groups(Groups.single(2), 3), tol=1e-10)
    >>> grad = _gradient(A, A @ res.x.reshape(2, 3), np.eye(3)[codes], np.ones(4))
    >>> bool(np.max(np.abs(grad + 0.5 * res.x)) < 1e-8)
    True
    """
    if not is_smooth(penalty, lam, groups):
        raise ValueError(f"multinomial_lbfgs needs a penalty without L1 part; got {penalty.name!r}")
    A = np.asarray(A, dtype=np.float64)
    n, p = A.shape
    codes, weight, one_hot, scale = _problem_arrays(A, codes, n_classes, sample_weight)
    strengths = penalty.separable_l1_l2(lam, groups)[1].reshape(p, n_classes)
    mu, d = _preconditioner(A, weight, strengths.mean(axis=1), intercept)
    design = (A - mu) / d
    pen = strengths / d[:, None] ** 2
    target = min(tol, LBFGS_AT_LEAST)
    monitor = Monitor("multinomial_lbfgs", tol, "relative_violation", callback)
    rows = np.arange(n)
    state = {}

    def to_w(v):
        V = v.reshape(p, n_classes)
        W = V / d[:, None]
        if intercept:
            W[-1] -= mu[:-1] @ W[:-1]
        return W

    def objective_and_gradient(v):
        V = v.reshape(p, n_classes)
        Z = design @ V
        lse = logsumexp_rows(Z)
        value = float(weight @ (lse - Z[rows, codes])) + 0.5 * float(np.sum(pen * V * V))
        G = design.T @ ((np.exp(Z - lse[:, None]) - one_hot) * weight[:, None]) + pen * V
        grad_w = d[:, None] * G
        if intercept:
            grad_w[:-1] += mu[:-1, None] * grad_w[-1]
        state.update(v=v, value=value, violation=float(np.max(np.abs(grad_w))) / scale)
        return value, G.ravel()

    def evaluate_at(v):
        if not np.array_equal(state["v"], v):   # the last evaluation (a line-search trial) was not v
            objective_and_gradient(v)

    def step(intermediate_result):
        state["iteration"] = state.get("iteration", 0) + 1
        evaluate_at(intermediate_result.x)
        if monitor.record(state["iteration"], to_w(state["v"]).ravel(), state["value"], state["violation"], target):
            raise StopIteration

    v0 = np.zeros(p * n_classes)
    if x0 is not None:
        W0 = np.asarray(x0, dtype=np.float64).reshape(p, n_classes)
        V0 = W0 * d[:, None]
        if intercept:
            V0[-1] = d[-1] * (W0[-1] + mu[:-1] @ W0[:-1])
        v0 = V0.ravel()
    objective_and_gradient(v0)
    if state["violation"] <= FINISH * tol:
        monitor.record(1, to_w(v0).ravel(), state["value"], state["violation"], tol)
        return monitor.result(to_w(v0).ravel(), 1, lam=lam)
    result = minimize(objective_and_gradient, v0, jac=True, method="L-BFGS-B", callback=step,
                      options={"maxiter": max_iter, "gtol": 0.0, "ftol": 0.0, "maxls": 50})
    x = to_w(result.x).ravel()
    evaluate_at(result.x)
    newton = dict(sample_weight=weight, x0=x, max_iter=min(max_iter, 100), callback=callback, intercept=intercept)
    if state["violation"] > tol:   # near-collinear features: Newton takes over
        return multinomial_newton(A, codes, n_classes, penalty, lam, groups, tol=tol, **newton)
    with warnings.catch_warnings():   # the finish's own, tighter, tolerance is not the user's
        warnings.simplefilter("ignore", ConvergenceWarning)
        finished = multinomial_newton(A, codes, n_classes, penalty, lam, groups, tol=FINISH * tol, **newton)
    converged = finished.criterion <= tol
    if not converged:   # the user's tolerance missed too: warn as every solver does
        warn(unconverged_message(finished.solver, finished.n_iter, tol, finished.criterion_name,
                                 finished.criterion), ConvergenceWarning)
    return replace(finished, converged=converged)
