"""The duality gap of penalized multinomial logistic regression, accurate on nearly separable data.

Primal: F(W) + Σ_g λ_g R(W_g), F(W) = Σ_i s_i [logsumexp(z_i) − z_{i,y_i}], Z = AW (K classes).
Fenchel dual: max_U −Σ_i s_i Σ_k μ_ik log μ_ik − R*(AᵀU), U_i = s_i (y_i − μ_i) with μ_i in the
probability simplex (Σ_k μ log μ is the conjugate of logsumexp on it). The dual point is
μ = Y + κ(P̃ − Y): κ = 1/c, c ≥ 1 the penalty's ``dual_scale`` (feasible for the L1 parts), and
P̃ the softmax at Z + A_F Δ where Δ minimizes F over the unpenalized coefficients F (the
intercepts), so that A_FᵀU = 0 as R* = ∞ elsewhere demands. Then P(W) − D(U) ≥ P(W) − P*.

Where predictions are confident, 1 − p_{i,y_i} and the sample's loss are tiny: both are computed
from the other classes' probabilities (Σ_{k≠y} p_ik and log(1 + Σ_{k≠y} e^{z_k − z_y})), never as
1 − p or logsumexp − z_y, whose cancellation would hide the objective's error behind rounding.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.special import xlogy

from lamina.penalties.base import MissingCapability

#: unpenalized features whose K coefficients are profiled out exactly (beyond: not certified)
MAX_PROFILED = 20


def accurate_cross_entropy(Z, codes, weight) -> float:
    """Σ_i s_i [logsumexp(z_i) − z_{i,y_i}] without cancellation for confident predictions."""
    rows = np.arange(Z.shape[0])
    D = Z - Z[rows, codes][:, None]            # d_iy = 0
    top = np.max(D, axis=1)                    # ≥ 0
    others = np.exp(D - top[:, None])
    others[rows, codes] = 0.0
    confident = top == 0.0                     # y has the largest score: loss = log1p(Σ_{k≠y} e^{d_k})
    loss = np.where(confident, np.log1p(np.sum(others, axis=1)),
                    top + np.log(np.sum(others, axis=1) + np.exp(-top)))
    return float(weight @ loss)


def residual(Z, codes):
    """(P − Y, P) with P = softmax(Z), the true class's entry −Σ_{k≠y} p_ik (no 1 − p)."""
    rows = np.arange(Z.shape[0])
    E = np.exp(Z - np.max(Z, axis=1, keepdims=True))
    P = E / np.sum(E, axis=1, keepdims=True)
    R = P.copy()
    R[rows, codes] = 0.0
    R[rows, codes] = -np.sum(R, axis=1)
    return R, P


def multinomial_duality_gap(penalty, lam, groups, A, Z, codes, weight, primal: float, free=None) -> float:
    """P(W) − D(U) at the dual point of the module docstring; ``free``: the columns A_F of the
    unpenalized features (dense, shape (n, |F|), possibly with no column), or None where they
    cannot be profiled out (:func:`free_feature_columns`): then, as for a penalty without a dual
    (L0), inf — no certificate."""
    if free is None:
        return np.inf
    if free.shape[1]:
        Z = Z + free @ _profile_free(free, Z, codes, weight)
    R, _ = residual(Z, codes)
    corr = -np.asarray(A.T @ (R * weight[:, None])).ravel()
    try:
        scale = penalty.dual_scale(corr, lam, groups)
    except MissingCapability:          # a penalty without a dual (L0): no certificate
        return np.inf
    rows = np.arange(Z.shape[0])
    mu = R / scale
    mu_true = mu[rows, codes].copy()           # μ_iy − 1 = R_iy / c
    mu[rows, codes] = 0.0
    with np.errstate(divide="ignore", invalid="ignore"):   # μ_iy = 0 (p_iy underflowed): 0 log 0 = 0
        true_term = np.where(mu_true > -1.0, (1.0 + mu_true) * np.log1p(mu_true), 0.0)
    entropy = np.sum(xlogy(mu, mu), axis=1) + true_term
    dual = -float(weight @ entropy) - penalty.conjugate(corr / scale, lam, groups)
    return max(primal - dual, 0.0)


def _profile_free(columns, Z, codes, weight, max_steps: int = 50, polish_steps: int = 3) -> np.ndarray:
    """Δ (|F| × K) minimizing F(Z + A_F Δ): Newton steps (least squares: the K coefficients of a
    feature are determined up to a common shift) with backtracking until the decrease a step
    predicts or achieves is below the loss's rounding, then ``polish_steps`` full steps (the
    gradient on F, the dual's infeasibility, still falls)."""
    n_free, K = columns.shape[1], Z.shape[1]
    delta = np.zeros((n_free, K))
    loss = accurate_cross_entropy(Z, codes, weight)
    rounding = 16 * np.finfo(float).eps * abs(loss)
    polishing = 0
    for _ in range(max_steps + polish_steps):
        shifted = Z + columns @ delta
        R, P = residual(shifted, codes)
        gradient = (columns.T @ (R * weight[:, None])).ravel()
        M = np.einsum("ik,kl->ikl", P, np.eye(K)) - P[:, :, None] * P[:, None, :]
        hessian = np.einsum("i,ia,ib,ikl->akbl", weight, columns, columns, M).reshape(n_free * K, n_free * K)
        step = -scipy.linalg.lstsq(hessian, gradient, cond=1e-14, check_finite=False)[0]
        t, candidate = 1.0, None
        if polishing == 0 and -0.5 * float(gradient @ step) > rounding:
            direction = columns @ step.reshape(n_free, K)
            for t in 0.5 ** np.arange(30):
                candidate = accurate_cross_entropy(shifted + t * direction, codes, weight)
                if candidate < loss - rounding:
                    break
            else:
                t, candidate = 1.0, None
        if candidate is None:          # at the minimizer to rounding: full steps only
            polishing += 1
            if polishing > polish_steps:
                break
        delta = delta + t * step.reshape(n_free, K)
        loss = accurate_cross_entropy(Z + columns @ delta, codes, weight) if candidate is None else candidate
    return delta


def free_feature_columns(A, penalty, lam, groups, n_classes: int):
    """Columns of A whose K coefficients the penalty leaves free (all λ R = 0 near 0), dense; None
    where the gap cannot be certified (more than :data:`MAX_PROFILED` of them, or a penalty that
    cannot say which)."""
    if penalty.supports("separable_l1_l2"):
        l1, l2 = penalty.separable_l1_l2(lam, groups)
        free = (l1 == 0) & (l2 == 0)
    elif penalty.supports("block_l2_thresholds"):
        free = penalty.block_l2_thresholds(lam, groups)[groups.labels] == 0
    else:
        return None
    features = np.flatnonzero(free.reshape(-1, n_classes).all(axis=1))
    if features.size > MAX_PROFILED:
        return None
    columns = A[:, features]
    return columns.toarray() if sp.issparse(columns) else np.asarray(columns, dtype=float)


def relative_gap(A, codes, n_classes: int, penalty, lam, groups, x, sample_weight=None) -> float:
    """The duality gap at the coefficients x (p·K, C order) relative to the objective; inf where
    unpenalized coefficients exist that the gap cannot profile out."""
    codes = np.asarray(codes, dtype=np.int64)
    weight = np.ones(A.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    Z = np.asarray(A @ np.asarray(x).reshape(A.shape[1], n_classes))
    primal = accurate_cross_entropy(Z, codes, weight) + penalty.value(x, lam, groups)
    free = free_feature_columns(A, penalty, lam, groups, n_classes)
    gap = multinomial_duality_gap(penalty, lam, groups, A, Z, codes, weight, primal, free)
    return gap / max(primal, np.finfo(float).tiny)
