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
from scipy.special import xlogy

from lamina.penalties.base import MissingCapability
from lamina.solvers.free_coefficients import dense_columns, free_mask, profile_newton

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


def _profile_free(columns, Z, codes, weight) -> np.ndarray:
    """Δ (|F| × K) minimizing F(Z + A_F Δ) (:func:`~lamina.solvers.free_coefficients.profile_newton`)."""
    n_free, K = columns.shape[1], Z.shape[1]

    def derivatives(shift):
        R, P = residual(Z + shift, codes)
        M = np.einsum("ik,kl->ikl", P, np.eye(K)) - P[:, :, None] * P[:, None, :]
        hessian = np.einsum("i,ia,ib,ikl->akbl", weight, columns, columns, M).reshape(n_free * K, n_free * K)
        return (columns.T @ (R * weight[:, None])).ravel(), hessian
    delta = profile_newton(lambda shift: accurate_cross_entropy(Z + shift, codes, weight), derivatives,
                           lambda d: columns @ d.reshape(n_free, K), n_free * K)
    return delta.reshape(n_free, K)


#: ``found`` not given to :func:`free_feature_columns` (None is an answer of :func:`free_features`)
_NOT_GIVEN = object()


def free_feature_columns(A, penalty, lam, groups, n_classes: int, found=_NOT_GIVEN):
    """Columns of A whose K coefficients the penalty leaves free (all λ R = 0 near 0), dense; None
    where the gap cannot be certified (more than :data:`MAX_PROFILED` of them, a feature with only
    some of its K coefficients free — per-coefficient weights: they are not profiled out, and the
    conjugate, which ignores free coefficients, would take their gradient as 0 — or a penalty that
    cannot say which). ``found``: :func:`free_features`' answer for the same arguments, where the
    caller has it already (it is computed otherwise)."""
    found = free_features(penalty, lam, groups, n_classes) if found is _NOT_GIVEN else found
    if found is None or found[1]:
        return None
    features = found[0]
    return None if features.size > MAX_PROFILED else dense_columns(A, features)


def free_features(penalty, lam, groups, n_classes: int) -> tuple[np.ndarray, bool] | None:
    """(the features whose K coefficients the penalty all leaves free, whether some other feature has only
    some of its K free); None where the penalty cannot say which coefficients are free."""
    free = free_mask(penalty, lam, groups)
    if free is None:
        return None
    per_feature = free.reshape(-1, n_classes)
    whole = per_feature.all(axis=1)
    return np.flatnonzero(whole), bool(np.any(per_feature.any(axis=1) & ~whole))


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
