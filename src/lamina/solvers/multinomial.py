"""Penalized multinomial logistic regression by accelerated proximal gradient.

Solves  min_W Σ_i s_i [logsumexp(z_i) − z_{i,y_i}] + Σ_g λ_g R(W_g),  Z = AW,
W of shape (p, K) stored flattened in C order (coefficient (j, k) at j·K + k), s_i ≥ 0 the
sample weights (ones by default), for any penalty with a prox (L1, L2, elastic net, group L1)
over a partition of the p·K coefficients (:func:`class_groups` builds the usual one: a group of
features spans all classes' coefficients of those features).

FISTA with backtracking and adaptive restart (O'Donoghue & Candès 2015). The Hessian of the
softmax cross-entropy in z_i is diag(p_i) − p_i p_iᵀ ≼ ½ I (Böhning 1992), so the gradient is
Lipschitz with constant at most ½‖S^{1/2}A‖₂²; the step starts from a power-iteration
estimate of it, and then follows the curvature actually met (shrunk by 10 % before each step,
doubled when the descent test fails): where predictions are confident it is far smaller. The
descent test compares the Bregman divergence of the loss (:func:`bregman`, exact to rounding
for tiny steps) with L/2 ‖d‖². Stopping: the largest distance of −∇F(W) to the penalty's
subdifferential, relative to ‖∇F(0)‖∞ (``relative_violation``), as in
:mod:`lamina.solvers.logistic`, checked every ``check_every`` iterations.
"""
from __future__ import annotations

import numpy as np

from lamina.groups import Groups
from lamina.penalties import Penalty
from lamina.solvers.base import Monitor, SolveResult
from lamina.solvers.multinomial_gap import accurate_cross_entropy


def class_groups(groups: Groups, n_classes: int) -> Groups:
    """The partition of the p·K coefficients (C order) where coefficient (j, k) belongs to the
    group of feature j: a feature group spans every class's coefficients of its features.

    >>> class_groups(Groups.from_labels(["a", "b", "a"]), 2).labels.tolist()
    [0, 0, 1, 1, 0, 0]
    """
    return Groups(np.repeat(groups.labels, n_classes), groups.names)


def logsumexp_rows(Z) -> np.ndarray:
    """log Σ_k exp(z_ik) per row, shifted by the row maximum (plain numpy: scipy's array-API
    wrapper cost 70 % of a multinomial fit on small data)."""
    top = np.max(Z, axis=1)
    return top + np.log(np.sum(np.exp(Z - top[:, None]), axis=1))


def softmax_rows(Z) -> np.ndarray:
    """exp(z_ik) / Σ_k exp(z_ik) per row."""
    E = np.exp(Z - np.max(Z, axis=1, keepdims=True))
    return E / np.sum(E, axis=1, keepdims=True)


def cross_entropy(Z, codes, sample_weight) -> float:
    """Σ_i s_i [logsumexp(z_i) − z_{i,y_i}]."""
    rows = np.arange(Z.shape[0])
    return float(sample_weight @ (logsumexp_rows(Z) - Z[rows, codes]))


def _gradient(A, Z, one_hot, sample_weight) -> np.ndarray:
    """∇F(W) flattened: Aᵀ S (softmax(Z) − Y)."""
    return _gradient_and_probabilities(A, Z, one_hot, sample_weight)[0]


def _gradient_and_probabilities(A, Z, one_hot, sample_weight):
    prob = softmax_rows(Z)
    return np.asarray(A.T @ ((prob - one_hot) * sample_weight[:, None])).ravel(), prob


def bregman(prob, dZ, sample_weight) -> float:
    """F(Z + dZ) − F(Z) − ⟨∇_Z F(Z), dZ⟩ for the cross-entropy F, from P = softmax(Z):
    Σ_i s_i [log(1 + Σ_k p_ik (e^{dz_ik} − 1)) − p_i·dz_i], accurate for tiny steps (a
    difference of two F values loses every digit once dZ is below √ε of Z)."""
    return float(sample_weight @ (np.log1p(np.sum(prob * np.expm1(dZ), axis=1)) - np.sum(prob * dZ, axis=1)))


def _problem_arrays(A, codes, n_classes: int, sample_weight):
    """(codes as int, sample weights, one-hot targets (n, K), ‖∇F(0)‖∞: the violation's unit)."""
    n = A.shape[0]
    codes = np.asarray(codes, dtype=np.int64)
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    one_hot = np.zeros((n, n_classes))
    one_hot[np.arange(n), codes] = 1.0
    grad0 = _gradient(A, np.zeros((n, n_classes)), one_hot, weight)
    return codes, weight, one_hot, max(float(np.max(np.abs(grad0), initial=0.0)), np.finfo(float).tiny)


def _lipschitz_estimate(A, sample_weight, n_iter: int = 20) -> float:
    """½ σ_max(S^{1/2} A)², by a few power iterations (a lower bound; backtracking corrects)."""
    root = np.sqrt(sample_weight)
    v = np.random.default_rng(0).standard_normal(A.shape[1])
    sigma2 = 0.0
    for _ in range(n_iter):
        u = root * np.asarray(A @ v).ravel()
        w = np.asarray(A.T @ (root * u)).ravel()
        norm = float(np.linalg.norm(w))
        if norm == 0.0:
            return 1.0
        sigma2, v = norm, w / norm
    return max(0.5 * sigma2, np.finfo(float).tiny)


# The curvature met where predictions are confident (p_ik near 0 or 1) is far below Böhning's
# bound: L shrinks by _SHRINK before every step and grows by _GROW when the descent test fails.
_SHRINK, _GROW = 0.9, 2.0


def multinomial_regression(A, codes, n_classes: int, penalty: Penalty, lam, groups: Groups, *,
                           sample_weight=None, x0=None, tol: float = 1e-6, max_iter: int = 20_000,
                           check_every: int = 5, callback=None) -> SolveResult:
    """FISTA for penalized multinomial logistic regression (see module docstring).

    Parameters
    ----------
    A : ndarray or sparse, shape (n, p)
        Design (with a column of ones appended when an intercept is wanted, in a group of its
        own with λ = 0).
    codes : ndarray of int, shape (n,)
        Class index 0..K−1 of every sample.
    n_classes : int
        K.
    penalty : Penalty
        Over the p·K coefficients (factors per coefficient or per group of ``groups``).
    lam : ndarray, shape (n_groups,)
        λ per group, solver scale (Σ loss, not the mean).
    groups : Groups
        Partition of the p·K coefficients, C order (:func:`class_groups`).
    sample_weight : ndarray, shape (n,), optional
    x0 : ndarray, shape (p·K,), optional
        Warm start.
    tol : float
        Relative optimality violation to stop at.
    max_iter : int
        Proximal-gradient iterations.
    check_every : int
        Iterations between two evaluations of the stopping criterion (one extra Aᵀ product).

    Returns
    -------
    SolveResult
        ``x`` of shape (p·K,); reshape to (p, K).

    Examples
    --------
    >>> from lamina.penalties import L2
    >>> A = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.5]]); codes = np.array([0, 1, 2, 0])
    >>> groups = class_groups(Groups.single(2), 3)
    >>> res = multinomial_regression(A, codes, 3, L2(), np.array([0.5]), groups, tol=1e-10)
    >>> grad = _gradient(A, A @ res.x.reshape(2, 3), np.eye(3)[codes], np.ones(4))
    >>> bool(np.max(np.abs(grad + 0.5 * res.x)) < 1e-8)
    True
    """
    p = A.shape[1]
    codes, weight, one_hot, scale = _problem_arrays(A, codes, n_classes, sample_weight)
    shape = (p, n_classes)

    def scores(v):
        return np.asarray(A @ v.reshape(shape))

    monitor = Monitor("multinomial_fista", tol, "relative_violation", callback)
    x = np.zeros(p * n_classes) if x0 is None else np.array(x0, dtype=np.float64)
    z_x = scores(x)
    y, z_y, t = x, z_x, 1.0
    L = _lipschitz_estimate(A, weight)
    # the loss of confident predictions without the cancellation of logsumexp − z_y (the objective
    # reported, and the restart test, near separable data)
    objective = accurate_cross_entropy(z_x, codes, weight) + penalty.value(x, lam, groups)
    iteration = 0
    for iteration in range(1, max_iter + 1):
        if (iteration - 1) % check_every == 0:
            grad_x = _gradient(A, z_x, one_hot, weight)
            violation = float(np.max(penalty.subdiff_distance(x, grad_x, lam, groups), initial=0.0)) / scale
            if monitor.record(iteration, x, objective, violation, tol):
                break
        g_y, prob_y = _gradient_and_probabilities(A, z_y, one_hot, weight)
        L *= _SHRINK
        while True:
            x_new = penalty.prox(y - g_y / L, lam, groups, 1.0 / L)
            d = x_new - y
            z_new = scores(x_new)
            if bregman(prob_y, z_new - z_y, weight) <= 0.5 * L * (d @ d) or L > 1e300:
                break
            L *= _GROW
        new_objective = accurate_cross_entropy(z_new, codes, weight) + penalty.value(x_new, lam, groups)
        if (y - x_new) @ (x_new - x) > 0 or new_objective > objective:     # momentum uphill: restart
            t_new, beta = 1.0, 0.0
        else:
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_new
        y, z_y = x_new + beta * (x_new - x), z_new + beta * (z_new - z_x)
        x, z_x, t, objective = x_new, z_new, t_new, new_objective
    else:   # out of iterations: the result's objective and criterion are those of the x returned
        grad_x = _gradient(A, z_x, one_hot, weight)
        violation = float(np.max(penalty.subdiff_distance(x, grad_x, lam, groups), initial=0.0)) / scale
        monitor.record(iteration, x, objective, violation, tol)
    return monitor.result(x, iteration, lam=lam)
