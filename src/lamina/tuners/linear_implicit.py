"""Implicit differentiation of a linear model's solution with respect to log λ per group.

At a solution x̂ of  F(x) + Σ_g n λ_g R_g(x_g)  (F = Σ loss, solver scale), the optimality
condition restricted to the support S (where R is smooth) is
    ∇_S F(x̂) + Σ_g n λ_g ∇_S R_g(x̂) = 0.
Differentiating with respect to θ_g = log λ_g gives the linear system
    H_S ∂x̂_S/∂θ_g = −d_g,   H_S = ∇²_SS F + Σ_g n λ_g ∇²_SS R_g,   d_g = n λ_g ∇_S R_g(x̂),
and ∂x̂_j/∂θ_g = 0 off the support (Bertrand et al. 2020, "Implicit differentiation of
Lasso-type models for hyperparameter optimization"). For a criterion C(x̂) (held-out loss)
the chain rule with the adjoint v = H_S⁻¹ ∇_S C gives
    ∂C/∂θ_g = −d_gᵀ v,
one linear solve of size |S| whatever the number of groups. Per penalty:

* elastic net (L1 ρ = 1, ridge ρ = 0), factor w_j: ∇R_j = w_j(ρ sign x_j + (1−ρ) x_j),
  ∇²R = diag(w_j (1−ρ)); S = nonzeros (all coefficients for ridge);
* group L1, factor c_g: ∇R_g = c_g x_g/‖x_g‖, ∇²R_g = c_g (I − u uᵀ)/‖x_g‖, u = x_g/‖x_g‖;
  S = the active groups.

∇²F is AᵀA (squared loss), Aᵀ diag(s σ(1−σ)) A (logistic, sample weights s) or, for the
multinomial loss over W (p, K) flattened in C order, Σ_i s_i a_i a_iᵀ ⊗ (diag(p_i) − p_i p_iᵀ),
p_i = softmax(z_i), formed class pair by class pair (:func:`_gram`).
The softmax is unchanged when a row of W moves by the same amount in every class: a row that
is unpenalized (the intercepts) or L1-penalized with all K entries on the support is a null
direction u of H_S, which the criterion does not see either; H_S + c uuᵀ (c > 0) fixes that
gauge and gives the pseudo-inverse's answer. When |S| exceeds the number of
rows and the penalty Hessian is a positive diagonal C (ridge), the Woodbury identity
H⁻¹u = C⁻¹u − C⁻¹Aᵀ(D⁻¹ + AC⁻¹Aᵀ)⁻¹AC⁻¹u turns the p×p solve into an n×n one.

The same Hessian gives the effective degrees of freedom of the fit, per coefficient
df_j = [H_S⁻¹ ∇²F_SS]_jj (1 on the support of a Lasso, s_j²/(s_j² + c_j) along the principal
axes of a ridge), summed per group in :func:`effective_dof`.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from lamina.penalties.base import DIFFERENTIABLE
from lamina.solvers.multinomial import softmax_rows
from lamina.tuners.linear_data import Fold, TrainingSet
from lamina.tuners.linear_losses import Loss, loss_gradient, mean_loss, sigmoid


def _columns(A, S) -> np.ndarray:
    block = A[:, S]
    return block.toarray() if sp.issparse(block) else np.asarray(block)


def _sample_weights(train: TrainingSet, x) -> np.ndarray | None:
    """Diagonal of ∇²F in sample space: None for squared loss (identity), s σ(1−σ) for logistic."""
    if train.spec.loss is Loss.SQUARED:
        return None
    prob = sigmoid(np.asarray(train.A @ x).ravel())
    weights = np.maximum(prob * (1.0 - prob), 1e-12)
    return weights if train.sample_weight is None else weights * train.sample_weight


#: the largest linear system :func:`effective_dof` solves (rows); beyond, df is NaN
MAX_DOF_SYSTEM = 3000


def _curvature_design(train: TrainingSet, x, S):
    """(D_S, weights) with ∇²F_SS = D_Sᵀ diag(weights) D_S (weights None: identity); for the
    multinomial loss (None, None): only its Gram matrix is formed (:func:`_gram`)."""
    if train.spec.loss is Loss.MULTINOMIAL:
        return None, None
    return _columns(train.A, S), _sample_weights(train, x)


def _gram(train: TrainingSet, x, S, A_S, weights) -> np.ndarray:
    """∇²F_SS. Multinomial, coefficient (j, k) at j·K + k: Σ_i s_i a_ij a_ij' (δ_kk' p_ik −
    p_ik p_ik'), one weighted Gram matrix of the support's columns per pair of classes: K²·n·m²
    flops for m columns, where an explicit root G (GᵀG = ∇²F, G = B(A ⊗ I_K) with
    B_i = (I − q qᵀ) diag(q), q = √p_i) costs K³·n·m² flops and K²·n·m floats (90 MB on digits)."""
    if train.spec.loss is not Loss.MULTINOMIAL:
        return A_S.T @ A_S if weights is None else (A_S * weights[:, None]).T @ A_S
    K = train.n_classes
    prob = softmax_rows(np.asarray(train.A @ x.reshape(-1, K)))
    if train.sample_weight is not None:
        prob_weighted = prob * train.sample_weight[:, None]
    else:
        prob_weighted = prob
    columns, position = np.unique(S // K, return_inverse=True)
    block = _columns(train.A, columns)
    full = np.empty((columns.size, K, columns.size, K))
    for k in range(K):
        for l in range(k, K):
            w = prob_weighted[:, k] * (float(k == l) - prob[:, l])
            full[:, k, :, l] = (block * w[:, None]).T @ block
            full[:, l, :, k] = full[:, k, :, l]
    index = position * K + S % K
    return full.reshape(columns.size * K, columns.size * K)[np.ix_(index, index)]


def _gauge(train: TrainingSet, S, pen_hessian) -> np.ndarray | None:
    """Unit vectors (|S| × m) of the multinomial null directions of H_S (module docstring)."""
    if train.spec.loss is not Loss.MULTINOMIAL:
        return None
    K = train.n_classes
    rows, counts = np.unique(S // K, return_counts=True)
    vectors = []
    for row in rows[counts == K]:
        idx = np.flatnonzero(S // K == row)
        block = pen_hessian[idx] if pen_hessian.ndim == 1 else pen_hessian[np.ix_(idx, idx)]
        if not np.any(block):
            u = np.zeros(S.size)
            u[idx] = 1.0 / np.sqrt(K)
            vectors.append(u)
    return np.column_stack(vectors) if vectors else None


def _gauge_weight(hessian) -> float:
    """μ of :func:`_with_gauge`: the mean diagonal of H_S, so the null directions get its scale."""
    return float(np.mean(np.diag(hessian)))


def _with_gauge(hessian, gauge):
    if gauge is None:
        return hessian
    return hessian + _gauge_weight(hessian) * (gauge @ gauge.T)


def penalty_terms(train: TrainingSet, x, lam):
    """(S, penalty Hessian on S, directions d (|S| × n_groups)) in the solver's scale.

    From the penalty's ``generalized_support``, ``hessian_on_support`` (a vector when diagonal,
    as for the elastic-net family, a dense matrix for group L1) and ``gradient_on_support``:
    ∇R is linear in λ, so its derivative in log λ_g is its own entries of group g. Columns of
    d follow the user's groups (the intercept group is dropped).
    """
    n_groups = train.spec.groups.n_groups
    solver_lam = train.n * train.full_lam(lam)
    groups, penalty = train.groups, train.penalty
    penalty.require(DIFFERENTIABLE, "hypergradients and effective degrees of freedom")
    S = penalty.generalized_support(x, solver_lam, groups)
    directions = _by_group(groups.labels[S], penalty.gradient_on_support(x, solver_lam, groups, S), n_groups)
    return S, penalty.hessian_on_support(x, solver_lam, groups, S), directions


def _by_group(labels, values, n_groups) -> np.ndarray:
    """Matrix (len(values) × n_groups) with values[i] in column labels[i] (< n_groups)."""
    out = np.zeros((values.shape[0], n_groups))
    keep = labels < n_groups
    out[np.flatnonzero(keep), labels[keep]] = values[keep]
    return out


def _hessian_solve(train: TrainingSet, x, S, pen_hessian, rhs) -> np.ndarray:
    """H_S⁻¹ rhs (rhs of shape (|S|,) or (|S|, k))."""
    A_S, weights = _curvature_design(train, x, S)
    diagonal = pen_hessian.ndim == 1
    if A_S is not None and diagonal and S.size > A_S.shape[0] and np.all(pen_hessian > 0):
        inv_c = 1.0 / pen_hessian
        kernel = (A_S * inv_c) @ A_S.T
        kernel[np.diag_indices_from(kernel)] += 1.0 if weights is None else 1.0 / weights
        scaled = rhs * (inv_c if rhs.ndim == 1 else inv_c[:, None])
        inner = _spd_solve(kernel, A_S @ scaled)
        correction = A_S.T @ inner
        return scaled - (correction * (inv_c if rhs.ndim == 1 else inv_c[:, None]))
    gram = _gram(train, x, S, A_S, weights)
    hessian = gram + (np.diag(pen_hessian) if diagonal else pen_hessian)
    return _spd_solve(_with_gauge(hessian, _gauge(train, S, pen_hessian)), rhs)


def _spd_solve(matrix, rhs):
    try:
        return sla.cho_solve(sla.cho_factor(matrix, lower=True, check_finite=False), rhs, check_finite=False)
    except np.linalg.LinAlgError:  # singular (|S| > n on a Lasso, or a degenerate group)
        return np.linalg.lstsq(matrix, rhs, rcond=None)[0]


def fold_value_and_gradient(fold: Fold, lam) -> tuple[float, np.ndarray]:
    """Held-out loss of a fold at λ and its gradient with respect to log λ (per group).

    Fits the fold's training set (warm-started), then applies the adjoint formula of the
    module docstring with C = mean held-out loss.
    """
    train = fold.train
    x = train.fit(lam)
    V, offset = train.validation_design(fold.X_val)
    scores = np.asarray(V @ x.reshape(-1, train.n_classes)) + offset
    scores = scores.ravel() if train.n_classes == 1 else scores
    value = mean_loss(train.spec.loss, fold.y_val, scores, fold.weight)
    grad_x = np.asarray(V.T @ loss_gradient(train.spec.loss, fold.y_val, scores, fold.weight)).ravel()
    S, pen_hessian, directions = penalty_terms(train, x, lam)
    if S.size == 0:
        return value, np.zeros(train.spec.groups.n_groups)
    adjoint = _hessian_solve(train, x, S, pen_hessian, grad_x[S])
    return value, -(directions.T @ adjoint)


def effective_dof(train: TrainingSet, x, lam) -> np.ndarray:
    """Effective degrees of freedom per group, df_g = Σ_{j∈g∩S} [H_S⁻¹ ∇²F_SS]_jj.

    For ridge with more coefficients than rows this is computed in the n×n kernel form
    df_j = a_jᵀ (D⁻¹ + AC⁻¹Aᵀ)⁻¹ a_j / c_j. NaN for every group where the system to solve has
    more than :data:`MAX_DOF_SYSTEM` rows (the estimators compute df at every fit: an m³ solve,
    21 s of a 21 s multinomial L2 fit on 1000 × 2000 sparse features, three classes).
    """
    n_groups = train.spec.groups.n_groups
    S, pen_hessian, _ = penalty_terms(train, x, lam)
    out = np.zeros(n_groups)
    if S.size == 0:
        return out
    diagonal = pen_hessian.ndim == 1
    kernel_form = (train.spec.loss is not Loss.MULTINOMIAL and diagonal and S.size > train.A.shape[0]
                   and np.all(pen_hessian > 0))
    if (train.A.shape[0] if kernel_form else S.size) > MAX_DOF_SYSTEM:
        return np.full(n_groups, np.nan)
    A_S, weights = _curvature_design(train, x, S)
    labels = train.groups.labels[S]
    keep = labels < n_groups
    if kernel_form:
        kernel = (A_S / pen_hessian) @ A_S.T
        kernel[np.diag_indices_from(kernel)] += 1.0 if weights is None else 1.0 / weights
        per_coef = np.sum(A_S * _spd_solve(kernel, A_S), axis=0) / pen_hessian
    else:
        gram = _gram(train, x, S, A_S, weights)
        hessian = gram + (np.diag(pen_hessian) if diagonal else pen_hessian)
        gauge = _gauge(train, S, pen_hessian)
        matrix = _with_gauge(hessian, gauge)
        per_coef = _hat_diagonal(matrix, pen_hessian, gauge, _gauge_weight(hessian)) if diagonal else None
        if per_coef is None:
            per_coef = np.diag(_spd_solve(matrix, gram)).copy()
    np.add.at(out, labels[keep], per_coef[keep])
    return out


def _hat_diagonal(matrix, pen_diagonal, gauge, gauge_weight: float):
    """diag(M⁻¹ G) for M = G + diag(c) + μ UUᵀ (:func:`_with_gauge`; μ = ``gauge_weight``, from
    :func:`_gauge_weight`) without m right-hand sides: diag(M⁻¹G) = 1 − c ∘ diag(M⁻¹) −
    μ rowsum((M⁻¹U) ∘ U), diag(M⁻¹) from the inverse Cholesky factor (m³/3 flops against 2m³ for
    the solve). None where M is not numerically positive definite (the caller's least-squares
    fallback then applies)."""
    try:
        factor = sla.cholesky(matrix, lower=True, check_finite=False)
    except np.linalg.LinAlgError:
        return None
    inverse_factor, info = sla.lapack.dtrtri(factor, lower=1)
    if info != 0:
        return None
    per_coef = 1.0 - pen_diagonal * np.einsum("ij,ij->j", inverse_factor, inverse_factor)
    if gauge is not None:
        solved = sla.cho_solve((factor, True), gauge, check_finite=False)
        per_coef -= gauge_weight * np.sum(solved * gauge, axis=1)
    return per_coef
