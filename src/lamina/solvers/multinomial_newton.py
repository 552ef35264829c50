"""Penalized multinomial logistic regression by proximal Newton, for dense designs of moderate size.

Solves the problem of :mod:`lamina.solvers.multinomial`,
min_W Σ_i s_i [logsumexp(z_i) − z_{i,y_i}] + Σ_g λ_g R(W_g), Z = AW, W of shape (p, K) flattened
in C order. Accelerated proximal gradient (that module) needs a number of steps that grows with
the condition number of AᵀA: on features of very different scales (scikit-learn's wine data as
it ships: proline in the thousands, hue near one) it stopped at 20,000 steps far from the
optimum, and tuning λ took minutes. Newton's method is invariant to the features' scales, and so
is each subproblem once its columns are scaled per feature to comparable norms, with the penalty
taken to the scaled coordinates (``Penalty.in_scaled_coordinates``: L1 weights / scale, L2 weights
/ scale², group L1 per group, L0 unchanged; an elastic-net mix is solved unscaled). Unscaled, the
orthant-face steps of :mod:`lamina.solvers.face_newton` were cut at the first tiny coefficient of a
large-scale feature to cross zero: 2000 × 20, columns of scales 1 … 10⁶, four classes, L1 at
λ = 10⁻⁴ took 1,137 face steps and 28 s (0.6 s standardized); scaled, 2.0 s
(benchmarks/RESULTS.md).

Each outer step replaces the cross-entropy by its second-order model at W. Its Hessian is
H = Σ_i s_i (a_i a_iᵀ) ⊗ M_i, M_i = diag(p_i) − p_i p_iᵀ (p_i the softmax of z_i), and its
gradient g = Σ_i s_i a_i ⊗ (p_i − y_i). With R_i = M_i^{1/2} (symmetric, by an eigendecomposition
of the K × K matrix) H = BᵀB for the design B whose K rows of sample i are √s_i (a_iᵀ ⊗ R_i), and
since p_i − y_i sums to zero it lies in the range of M_i (whose null space is the constant
vector), so g = Bᵀr with r_i = √s_i R_i⁺ (p_i − y_i). The model is then the least-squares problem

    ½‖B u − t‖² + Σ_g λ_g R(u_g),   t = B w − r,   (t_i = √s_i (R_i z_i − R_i⁺ (p_i − y_i))),

solved by :func:`lamina.solve` (coordinate descent, warm-started at w) to a duality gap about
10⁻² times the squared current violation, as :mod:`lamina.solvers.logistic` does for two classes;
the step w + s(u − w) is backtracked on the true objective (Armijo; Lee, Sun & Saunders 2014).
An unpenalized intercept (the last feature a column of ones, its K coefficients the last
group, λ = 0) is eliminated from each subproblem exactly: t and the other columns of B are
projected off the span of the intercept's columns, and the intercepts follow by least squares.
B has n·K rows and p·K columns, so :data:`NEWTON_MAX_ENTRIES` bounds where it is used.
Coordinate descent is invariant to the scale of each coordinate, and for group L1 to the scales
within a block, whose block it minimizes exactly (:mod:`lamina.solvers._block_kernels`; with
proximal-gradient block steps one fit on wine's unscaled features took 28 s). Stopping criterion
(``relative_violation_and_gap``), as for two classes: the larger of the relative violation and the
objective's error bound relative to the objective — the duality gap
(:mod:`lamina.solvers.multinomial_gap`, intercepts profiled out) or the last step's Newton
decrement, whichever is smaller (the violation alone stopped 13 % above the optimum on standardized
wine at λ = 10⁻⁷). Once the violation is below :data:`POLISH_BELOW` with the objective certified, a
step that does not halve it (the subproblem's own rounding, around 10⁻¹⁰) hands the iterate to the
proximal-gradient solver to finish.
"""
from __future__ import annotations

import numpy as np

from lamina.groups import Groups
from lamina.penalties import Penalty
from lamina.solvers.base import Monitor, SolveResult
from lamina.solvers.logistic import MAX_STALLS, armijo_backtrack, count_stall, model_decrease, newton_step
from lamina.solvers.multinomial import _problem_arrays, multinomial_regression
from lamina.solvers.multinomial_gap import (accurate_cross_entropy, free_feature_columns, free_features,
                                            multinomial_duality_gap, residual)

#: the largest design B (n·K × p·K entries, 8 bytes each: 160 MB) the Newton solver builds
NEWTON_MAX_ENTRIES = 20_000_000
#: below this relative violation, a Newton step that no longer halves it hands over to proximal
#: gradient steps (a tolerance below about 10⁻⁹ is under the subproblem solver's rounding)
POLISH_BELOW = 1e-7
#: eigenvalues of M_i below this share of the largest are taken as zero (confident predictions)
_EIGEN_FLOOR = 1e-12


def newton_fits(A, n_classes: int) -> bool:
    """Whether the Newton solver's design for A (dense) and ``n_classes`` stays within
    :data:`NEWTON_MAX_ENTRIES`."""
    n, p = A.shape
    return n * n_classes * p * n_classes <= NEWTON_MAX_ENTRIES


def _square_roots(prob):
    """R_i = M_i^{1/2} and R_i⁺ = (M_i⁺)^{1/2} for M_i = diag(p_i) − p_i p_iᵀ, shape (n, K, K)."""
    M = np.einsum("ik,kl->ikl", prob, np.eye(prob.shape[1])) - prob[:, :, None] * prob[:, None, :]
    values, vectors = np.linalg.eigh(M)
    values = np.where(values > _EIGEN_FLOOR * np.max(values, axis=1, keepdims=True), values, 0.0)
    root = np.sqrt(values)
    inverse = np.divide(1.0, root, out=np.zeros_like(root), where=root > 0)
    as_matrix = lambda d: np.einsum("ikm,im,ilm->ikl", vectors, d, vectors)  # noqa: E731
    return as_matrix(root), as_matrix(inverse)


def _subproblem(A, Z, prob, one_hot, weight):
    """B (n·K × p·K) and t of the Newton model ½‖Bu − t‖² (module docstring)."""
    n, p = A.shape
    K = prob.shape[1]
    root, inverse = _square_roots(prob)
    scale = np.sqrt(weight)
    design = np.einsum("ij,ikl->ikjl", scale[:, None] * A, root).reshape(n * K, p * K)
    target = scale[:, None] * (np.einsum("ikl,il->ik", root, Z) - np.einsum("ikl,il->ik", inverse, prob - one_hot))
    return design, target.ravel()


class _Subproblem:
    """The penalized least squares of one Newton step, with the intercept eliminated when there
    is one (module docstring)."""

    def __init__(self, penalty: Penalty, lam, groups: Groups, n_classes: int, intercept: bool, pinned=()):
        self.K, self.intercept = n_classes, intercept
        self.pinned = np.asarray(pinned, dtype=int)   # free features other than the intercept (_pinning_rows)
        self.penalty, self.lam, self.groups = penalty, lam, groups
        if intercept:
            self.lam = lam[:-1]
            self.groups = Groups(groups.labels[:-n_classes], groups.names[:-1])
            if penalty.weights is not None:
                cut = n_classes if penalty.separable else 1
                self.penalty = type(penalty)(**{**penalty.get_params(), "weights": penalty.weights[:-cut]})

    def solve(self, design, target, x, violation: float) -> np.ndarray:
        if self.pinned.size:
            rows = _pinning_rows(design, self.pinned, self.K)
            design, target = np.vstack([design, rows]), np.concatenate([target, np.zeros(rows.shape[0])])
        if not self.intercept:
            return self._step(design, target, x, violation)
        K = self.K
        columns = design[:, -K:]
        left, singular, right = np.linalg.svd(columns, full_matrices=False)
        kept = singular > 1e-8 * max(float(singular[0]), np.finfo(float).tiny)   # the softmax ignores a
        basis = left[:, kept]                                   # common shift of the K intercepts
        rest = design[:, :-K]
        projected = rest - basis @ (basis.T @ rest)
        u = self._step(projected, target - basis @ (basis.T @ target), x[:-K], violation)
        b = right[kept].T @ ((basis.T @ (target - rest @ u)) / singular[kept])   # least squares, Σ_k b_k = 0
        return np.concatenate([u, b])

    def _step(self, design, target, x, violation: float) -> np.ndarray:
        """The subproblem on columns scaled per feature to comparable norms, where the penalty has
        the same form there (module docstring); as it is otherwise."""
        scale = _feature_scales(design, self.K)
        scaled = (self.penalty.in_scaled_coordinates(scale, self.groups)
                  if self.penalty.supports("in_scaled_coordinates") else None)
        if scaled is None:
            return newton_step(design, target, self.penalty, self.lam, self.groups, x, violation)
        return newton_step(design / scale, target, scaled, self.lam, self.groups, x * scale, violation) / scale


def _feature_scales(design, n_classes: int) -> np.ndarray:
    """Per column of the design, the RMS of the column norms of its feature's K classes (1 for a
    zero feature): one scale for the K coefficients of a feature, which keeps their common shift,
    the direction the softmax ignores, a direction of the scaled problem."""
    norms = np.sqrt(np.einsum("ij,ij->j", design, design)).reshape(-1, n_classes)
    scale = np.sqrt(np.mean(norms ** 2, axis=1))
    return np.repeat(np.where(scale > 0, scale, 1.0), n_classes)


def _pinning_rows(design, features, n_classes: int) -> np.ndarray:
    """Rows √μ (1, …, 1) over the K columns of each free feature: ½μ(Σ_k u_jk)² joins the subproblem, whose
    least squares (B(e_j ⊗ 1) = 0: the softmax ignores the shift) and penalty (zero on free coefficients) are
    flat along that shift — the minimizer is the same up to it, now with Σ_k u_jk = 0, and the coordinate
    descent no longer wanders along a null direction (an elastic net with one unpenalized feature: 50 Newton
    steps of 0.65 s each). μ: the mean squared norm of those columns, for the conditioning."""
    K = n_classes
    columns = (features[:, None] * K + np.arange(K)).ravel()
    mu = float(np.mean(np.einsum("ij,ij->j", design[:, columns], design[:, columns])))
    rows = np.zeros((features.size, design.shape[1]))
    rows[np.repeat(np.arange(features.size), K), columns] = np.sqrt(max(mu, np.finfo(float).tiny))
    return rows


def _shift_free_features(found) -> np.ndarray:
    """Features whose K coefficients the penalty leaves free (the intercept among them), from
    :func:`~lamina.solvers.multinomial_gap.free_features`' answer ``found``: the softmax ignores a shift
    common to a feature's K coefficients, so the objective is flat along it; their mean is kept at 0."""
    return np.zeros(0, int) if found is None else found[0]


def _centred(x, shape, features) -> np.ndarray:
    """x (p·K, C order) with the K coefficients of each of ``features`` shifted to mean 0 (the same softmax)."""
    if not features.size:
        return x
    W = np.array(x, dtype=np.float64).reshape(shape)
    W[features] -= W[features].mean(axis=1, keepdims=True)
    return W.ravel()


def multinomial_newton(A, codes, n_classes: int, penalty: Penalty, lam, groups: Groups, *, sample_weight=None,
                       x0=None, tol: float = 1e-6, max_iter: int = 100, callback=None,
                       intercept: bool = False) -> SolveResult:
    """Proximal Newton for penalized multinomial logistic regression (module docstring).

    Arguments as :func:`lamina.solvers.multinomial.multinomial_regression` (``A`` dense), and
    ``intercept``: the last column of A is a column of ones whose K coefficients form the last
    group, unpenalized. ``max_iter`` counts Newton steps.

    Examples
    --------
    >>> from lamina.penalties import L2
    >>> from lamina.solvers.multinomial import _gradient, class_groups
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]]); codes = np.array([0, 1, 2, 0])
    >>> res = multinomial_newton(A, codes, 3, L2(), np.array([0.5]), class_groups(Groups.single(2), 3), tol=1e-10)
    >>> grad = _gradient(A, A @ res.x.reshape(2, 3), np.eye(3)[codes], np.ones(4))
    >>> bool(np.max(np.abs(grad + 0.5 * res.x)) < 1e-8)
    True
    """
    A = np.asarray(A, dtype=np.float64)
    shape = (A.shape[1], n_classes)
    codes, weight, one_hot, scale = _problem_arrays(A, codes, n_classes, sample_weight)
    x = np.zeros(A.shape[1] * n_classes) if x0 is None else np.array(x0, dtype=np.float64)
    monitor = Monitor("multinomial_newton", tol, "relative_violation_and_gap", callback)
    found = free_features(penalty, lam, groups, n_classes)    # once: the gap's columns and the shifts
    free = free_feature_columns(A, penalty, lam, groups, n_classes, found=found)
    shifted = _shift_free_features(found)
    subproblem = _Subproblem(penalty, lam, groups, n_classes, intercept,
                             pinned=shifted[shifted != A.shape[1] - 1] if intercept else shifted)
    x = _centred(x, shape, shifted)
    # the violation alone decides (as before the gap) for a nonconvex penalty (L0: no dual, no
    # decrement bound) and on samples of one class (a CV fold: the objective's infimum 0 is not
    # attained, no bound relative to it is ever met)
    certify = penalty.convex and np.unique(codes[weight > 0]).size > 1
    def loss(scores):
        return accurate_cross_entropy(scores, codes, weight)

    Z = A @ x.reshape(shape)
    objective = loss(Z) + penalty.value(x, lam, groups)
    iteration, previous, decrement, stalls = 0, np.inf, np.inf, 0
    sharpen = 1.0   # the subproblems' target, in units of the violation (logistic.count_stall)
    for iteration in range(1, max_iter + 1):
        R, prob = residual(Z, codes)
        grad = np.asarray(A.T @ (R * weight[:, None])).ravel()
        violation = float(np.max(penalty.subdiff_distance(x, grad, lam, groups), initial=0.0)) / scale
        bound = np.inf
        if violation <= max(tol, POLISH_BELOW):   # the gap matters only once the violation allows a stop
            gap = (multinomial_duality_gap(penalty, lam, groups, A, Z, codes, weight, objective, free)
                   if certify else np.inf)
            bound = min(gap, decrement) / max(objective, np.finfo(float).tiny)
        criterion = max(violation, bound) if violation <= tol and certify else violation
        if violation < POLISH_BELOW and violation > 0.5 * previous and (bound <= tol or not certify):
            # the subproblem's rounding stalls Newton on the violation, the objective being certified
            return multinomial_regression(A, codes, n_classes, penalty, lam, groups, sample_weight=weight, x0=x,
                                          tol=tol, callback=callback)
        if monitor.record(iteration, x, objective, criterion, tol) or stalls >= MAX_STALLS:
            break
        previous = violation
        design, target = _subproblem(A, Z, prob, one_hot, weight)
        u = subproblem.solve(design, target, x, sharpen * violation * scale)
        decrease = model_decrease(grad, x, u, penalty, lam, groups)
        decrement, last = -decrease, objective
        x, Z, objective, moved = armijo_backtrack(x, Z, objective, decrease, u, lambda d: A @ d.reshape(shape), loss,
                                                  penalty, lam, groups)
        stalls, sharpen = count_stall(last, objective, stalls, sharpen)
        if not moved:   # no decrease left at any step: rounding, not the model, limits the violation
            break
    return monitor.result(x, iteration, lam=lam)
