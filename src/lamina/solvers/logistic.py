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
solved to a duality gap about 10⁻² times the squared current violation. Stopping criterion
(``relative_violation_and_gap``): the larger of the largest distance of −∇F(x) to the penalty's
subdifferential relative to ‖∇F(0)‖∞, and the objective's error bound relative to the objective —
the duality gap (:func:`logistic_duality_gap`) or, when smaller, the proximal Newton decrement
−[∇F·(u − x) + R(u) − R(x)] of the last step (where rounding in Aᵀ(p − y) against a tiny λ on
unscaled features keeps the gap from certifying an optimum the objective has reached to its last
digit). The violation alone, in units of the gradient at 0, does not bound the objective's error
where the objective is tiny (nearly separable data at a small λ: 15 % above the optimum on
standardized wine at λ = 10⁻⁷/n, before the gap). The solver also stops when no step
decreases the objective beyond its rounding (the same subproblem would repeat).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, xlogy

from lamina.api import Solver, default_solver, solve
from lamina.groups import Groups
from lamina.penalties import Penalty
from lamina.penalties.base import MissingCapability
from lamina.solvers.base import Monitor, SolveResult
from lamina.solvers.free_coefficients import dense_columns, free_mask, profile_newton


def _loss(z, y, weight) -> float:
    """Σ s_i [log(1 + e^{z_i}) − y_i z_i], written (1 − y) softplus(z) + y softplus(−z): the same
    value without the cancellation of softplus(z) − z (a well-classified sample's loss e^{−z} kept
    to its relative precision, which the duality gap of nearly separable data needs)."""
    return float(weight @ ((1.0 - y) * np.logaddexp(0.0, z) + y * np.logaddexp(0.0, -z)))


def _residual(z, y):
    """(p − y, p(1 − p)) with p = σ(z), from σ(z) and σ(−z): p − y = (1 − y) p − y (1 − p) keeps a
    well-classified sample's gradient e^{−|z|} to its relative precision (p − 1 would lose it)."""
    p, q = expit(z), expit(-z)
    return (1.0 - y) * p - y * q, p * q


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
    >>> bool(abs((A.T @ (expit(A @ x) - y))[0] + 1.0 * x[0]) < 1e-6)
    True
    """
    y = np.asarray(y, dtype=np.float64)
    weight = np.ones(y.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    n_features = A.shape[1]
    x = np.zeros(n_features) if x0 is None else np.array(x0, dtype=np.float64)
    grad0 = np.asarray(A.T @ (weight * (0.5 - y))).ravel()
    scale = max(float(np.max(np.abs(grad0))), np.finfo(float).tiny)
    monitor = Monitor("prox_newton", tol, "relative_violation_and_gap", callback)
    free = _free_columns(A, penalty, lam, groups)
    # the violation alone decides (as before the gap) for a nonconvex penalty (L0: no dual, no
    # decrement bound) and on samples of one class (a CV fold: the objective's infimum 0 is not
    # attained, no bound relative to it is ever met)
    certify = penalty.convex and np.unique(y[weight > 0]).size > 1
    centered = _CenteredSubproblem(A, penalty, lam, groups) if intercept and not sp.issparse(A) else None
    z = np.asarray(A @ x).ravel()
    objective = _loss(z, y, weight) + penalty.value(x, lam, groups)
    iteration, decrement, stalls = 0, np.inf, 0
    sharpen = 1.0   # the subproblems' target, in units of the violation (see INNER_SHARPEN)
    for iteration in range(1, max_iter + 1):
        resid, h = _residual(z, y)
        grad = np.asarray(A.T @ (weight * resid)).ravel()
        violation = float(np.max(penalty.subdiff_distance(x, grad, lam, groups), initial=0.0)) / scale
        criterion = violation
        if violation <= tol and certify:   # the gap matters only once the violation allows a stop
            gap = logistic_duality_gap(penalty, lam, groups, A, z, y, weight, objective, free)
            criterion = max(violation, min(gap, decrement) / max(objective, np.finfo(float).tiny))
        if monitor.record(iteration, x, objective, criterion, tol) or stalls >= MAX_STALLS:
            break   # converged, or steps no longer lower the objective beyond rounding (tol near machine precision)
        # floored only against 0 / 0: a floor at 1e-10 overstated the curvature of confident samples
        # (Newton then converged linearly and the last decrement, a stop, read a fraction of the error)
        h = np.maximum(h, np.finfo(float).tiny)
        root = np.sqrt(weight * h)
        target = root * (z - resid / h)
        if centered is not None:
            u = centered.solve(root, z - resid / h, sharpen * violation * scale, x)
        else:
            u = newton_step(_scale_rows(A, root), target, penalty, lam, groups, x, sharpen * violation * scale)
        decrease = model_decrease(grad, x, u, penalty, lam, groups)
        decrement, previous = -decrease, objective
        x, z, objective, moved = armijo_backtrack(x, z, objective, decrease, u, lambda d: np.asarray(A @ d).ravel(),
                                                  lambda zz: _loss(zz, y, weight), penalty, lam, groups)
        stalls, sharpen = count_stall(previous, objective, stalls, sharpen)
        if not moved:   # no decrease left at any step: rounding, not the model, limits the violation
            break
    return monitor.result(x, iteration, lam=lam)


#: Newton steps in a row that lower the objective by no more than its rounding before the solver stops
#: unconverged (a tol near machine precision)
MAX_STALLS = 5
#: after such a step every later subproblem is solved this much closer (in units of the violation):
#: the subproblem's duality gap measures a coordinate's violation v_j as v_j² / (2‖B_j‖²), so on an
#: unscaled column (breast_cancer's "worst area", ‖B_j‖² ≈ 10⁸) a gap target that suits unit
#: columns is met at the warm start and the step never moves (relative violation stuck at 4e-4)
INNER_SHARPEN = 0.1


def count_stall(previous: float, objective: float, stalls: int, sharpen: float) -> tuple[int, float]:
    """(stalls, sharpen) after a Newton step from ``previous`` to ``objective``: a step that lowers
    the objective by no more than its rounding adds a stall (:data:`MAX_STALLS` in a row stop the
    solver) and tightens every later subproblem by :data:`INNER_SHARPEN`; any other resets the count."""
    if objective >= previous - 16 * np.finfo(float).eps * abs(previous):
        return stalls + 1, sharpen * INNER_SHARPEN
    return 0, sharpen


#: unpenalized coefficients profiled out of the duality gap exactly up to this many (beyond, the gap
#: is not computed and the Newton decrement alone bounds the error)
MAX_PROFILED = 100


def logistic_duality_gap(penalty, lam, groups: Groups, A, z, y, weight, primal: float, free=None) -> float:
    """Duality gap of Σ_i s_i [log(1 + e^{z_i}) − y_i z_i] + Σ_g λ_g R(x_g) at x (z = Ax).

    Fenchel dual: max_u −Σ_i s_i φ(μ_i) − R*(Aᵀu), u_i = s_i (y_i − μ_i), with
    φ(μ) = μ log μ + (1 − μ) log(1 − μ) the conjugate of the log-loss (μ ∈ [0, 1]). The dual
    point is μ = y + κ(p̃ − y), κ = 1/c with c ≥ 1 the penalty's ``dual_scale`` (feasible for the
    L1 parts), p̃ = σ(z + A_F δ) where δ minimizes the loss over the unpenalized coefficients F
    (the intercept): then A_Fᵀu = 0, as R* = ∞ elsewhere demands, and the gap bounds the
    objective's error even where those coefficients are far from optimal in a way their
    gradient hides (nearly separable data: curvature σ(1 − σ) ≈ e^{−|z|}). ``free``: the columns
    A_F (dense, possibly with no column); None — more than :data:`MAX_PROFILED` of them, or a
    penalty that cannot say which — and penalties without a dual (L0) give inf: no certificate.
    """
    if free is None:
        return np.inf
    if free.shape[1]:
        z = z + free @ _profile_free(free, z, y, weight)
    resid, _ = _residual(z, y)
    corr = -np.asarray(A.T @ (weight * resid)).ravel()
    try:
        scale = penalty.dual_scale(corr, lam, groups)
    except MissingCapability:
        return np.inf
    mu, one_minus_mu = y + resid / scale, (1.0 - y) - resid / scale
    dual = (-float(weight @ (xlogy(mu, mu) + xlogy(one_minus_mu, one_minus_mu)))
            - penalty.conjugate(corr / scale, lam, groups))
    return max(primal - dual, 0.0)


def _profile_free(columns, z, y, weight) -> np.ndarray:
    """δ minimizing Σ s_i ℓ(z_i + (A_F δ)_i) (:func:`~lamina.solvers.free_coefficients.profile_newton`)."""
    def derivatives(shift):
        resid, h = _residual(z + shift, y)
        return columns.T @ (weight * resid), columns.T @ (columns * (weight * h)[:, None])
    return profile_newton(lambda shift: _loss(z + shift, y, weight), derivatives, lambda d: columns @ d,
                          columns.shape[1])


def _free_columns(A, penalty, lam, groups: Groups):
    """The columns of the coefficients the penalty leaves free, dense (no column where there are
    none); None beyond :data:`MAX_PROFILED` of them or when the penalty cannot say."""
    free = free_mask(penalty, lam, groups)
    if free is None or np.count_nonzero(free) > MAX_PROFILED:
        return None
    return dense_columns(A, np.flatnonzero(free))


def newton_step(design, target, penalty, lam, groups: Groups, x, violation: float) -> np.ndarray:
    """argmin_u ½‖design·u − target‖² + R(u), warm-started at x, to a duality gap of about 10⁻² times
    the squared outer ``violation``, by :func:`lamina.solve` (coordinate descent; group L1's blocks
    minimized exactly, so unscaled features within a block do not slow it down)."""
    tol = inner_tolerance(violation, _tolerance_unit(design, target, penalty, lam, groups, x))
    return solve(design, target, penalty, lam, groups, tol=tol, x0=x, check_adjoint=False, max_iter=1000).x


def inner_tolerance(violation: float, unit: float) -> float:
    """The relative tolerance that asks a Newton subproblem for a duality gap of about 10⁻² times the
    squared current violation (in the solver's units), ``unit`` being what the inner solver's
    tolerance is relative to."""
    with np.errstate(over="ignore"):   # a unit near 0 asks for the loosest tolerance: the clip's 10⁻³
        wanted = 1e-2 * violation ** 2 / max(unit, np.finfo(float).tiny)
    return float(np.clip(wanted, 1e-15, 1e-3))


def _tolerance_unit(design, target, penalty, lam, groups, x) -> float:
    """What the subproblem's solver measures its tolerance against: coordinate descent, the
    objective where it is below ½‖t‖² (:func:`lamina.solvers.base.gap_threshold`; here the warm
    start's, which the solve only lowers); the other solvers, ½‖t‖²."""
    half_norm = 0.5 * float(target @ target)
    if default_solver(penalty, explicit=True) is not Solver.CD:
        return half_norm
    residual = np.asarray(design @ x).ravel() - target
    return min(half_norm, 0.5 * float(residual @ residual) + penalty.value(x, lam, groups))


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


def model_decrease(grad, x, u, penalty, lam, groups) -> float:
    """∇F·(u − x) + R(u) − R(x): the change the Newton model's linear part and the penalty promise
    for the step to u (≤ 0; minus it is the proximal Newton decrement, an estimate of P(x) − P*)."""
    return float(grad @ (u - x)) + penalty.value(u, lam, groups) - penalty.value(x, lam, groups)


def armijo_backtrack(x, z, objective, decrease, u, scores_of, loss_of, penalty, lam, groups):
    """Backtrack x + s(u − x), s = 1, ½, …, until the Armijo decrease holds on the true objective
    loss(z) + R(x), z the scores (``scores_of`` maps a coefficient step to its score step,
    ``loss_of`` scores to the data loss; ``decrease`` from :func:`model_decrease`), up to the
    objective's rounding (near the optimum the decrease a Newton step promises is below it, and the
    solvers' violation decides). Returns (x, z, objective, moved); not moved when no step down to
    s = 2⁻²⁰ decreased the objective (x, z, objective unchanged)."""
    direction = u - x
    z_direction = scores_of(direction)
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
