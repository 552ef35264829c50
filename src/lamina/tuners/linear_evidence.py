"""Evidence (type-II maximum likelihood) for a prior precision per group: grouped ARD.

Model: y = Xw + ε, ε ~ N(0, β⁻¹ I), w_j ~ N(0, (α_g f_j)⁻¹) for j in group g (f_j the penalty
factor). With the posterior N(m, Σ), Σ = (β XᵀX + diag(α_g f_j))⁻¹, m = β Σ Xᵀy, MacKay's
fixed point maximizes the evidence p(y | α, β) (the step itself, its hyperprior and its pruning
rules are :mod:`lamina.tuners.evidence`'s, shared with the logistic and network callers):

    γ_j = 1 − α_g f_j Σ_jj,      γ_g = Σ_{j∈g} γ_j   (well-determined parameters of g)
    α_g = (γ_g + 2a) / (Σ_{j∈g} f_j m_j² + 2b),      β = (n − Σ_j γ_j + 2c) / (‖y − Xm‖² + 2d)

with Gamma hyperpriors (a, b) on α and (c, d) on β (scikit-learn's ARDRegression and
BayesianRidge use 10⁻⁶ for all four; singleton groups give ARDRegression, one group gives
BayesianRidge). The ridge λ of the posterior mean in scikit-learn's scaling is
λ_g = α_g / (β n). Groups whose γ_g/size falls below ``min_gamma`` (or whose α_g exceeds
``threshold``) are pruned: w_g = 0, λ_g = ∞ — "switched off".

When p > n the posterior is computed in the n×n kernel form
C = β⁻¹ I + X D⁻¹ Xᵀ (D = diag(α f)): m = D⁻¹Xᵀ C⁻¹ y and γ_j = x_jᵀ C⁻¹ x_j / d_j. With few
groups the kernel is a sum of per-group blocks, C = β⁻¹ I + Σ_g K_g / α_g with
K_g = X_g diag(1/f_g) X_gᵀ computed once, and γ_g = ⟨C⁻¹, K_g⟩ / α_g: an iteration then costs
O(n³ + G n² + np) instead of O(n² p) (:class:`GroupKernels`).

For the logistic likelihood the same update runs on the Laplace approximation at the MAP
(Σ = (Xᵀ diag(σ(1−σ)) X + D)⁻¹, MacKay 1992), with β ≡ 1 and λ_g = α_g / n
(:func:`laplace_statistics`). Both iterate :func:`lamina.tuners.evidence.fixed_point`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg as sla

from lamina.groups import Groups
from lamina.operators import to_dense
from lamina.tuners.evidence import EvidenceStatistics, fixed_point, gaussian_statistics
from lamina.tuners.linear_implicit import _sample_weights


@dataclass
class EvidenceResult:
    """Fixed point of the grouped evidence iteration.

    alpha : prior precision per group (inf where pruned); beta : noise precision;
    mean : posterior mean (p,); gamma : well-determined parameters per group;
    n_iter, converged; trajectory : λ per group (sklearn scale) after each iteration.
    """

    alpha: np.ndarray
    beta: float
    mean: np.ndarray
    gamma: np.ndarray
    n_iter: int
    converged: bool
    trajectory: list = field(default_factory=list)

    def lam_for(self, n_samples: int) -> np.ndarray:
        """Ridge λ per group in scikit-learn's scaling, α_g / (β n) (inf where pruned)."""
        return self.alpha / (self.beta * n_samples)


def _posterior(X, y, Xty, gram, beta, prior):
    """(m, γ per coefficient) for precisions ``prior`` (> 0 or 0 = flat) on X's columns."""
    n, p = X.shape
    if gram is not None or np.any(prior == 0):
        gram = X.T @ X if gram is None else gram
        precision = beta * gram + np.diag(prior)
        factor = sla.cho_factor(precision, lower=True, check_finite=False)
        mean = sla.cho_solve(factor, beta * Xty, check_finite=False)
        sigma_diag = np.diag(sla.cho_solve(factor, np.eye(p), check_finite=False))
        return mean, 1.0 - prior * sigma_diag
    inv_prior = 1.0 / prior
    kernel = (X * inv_prior) @ X.T
    kernel[np.diag_indices_from(kernel)] += 1.0 / beta
    factor = sla.cho_factor(kernel, lower=True, check_finite=False)
    solved_y = sla.cho_solve(factor, y, check_finite=False)
    mean = inv_prior * (X.T @ solved_y)
    gamma = np.sum(X * sla.cho_solve(factor, X, check_finite=False), axis=0) * inv_prior
    return mean, gamma


#: largest G·n² (floats) for which the per-group kernel blocks are kept in memory (≈ 400 MB)
MAX_KERNEL_FLOATS = 50_000_000


class GroupKernels:
    """Per-group kernel blocks K_g = X_g diag(1/f_g) X_gᵀ of a wide, centered X (see module
    docstring): the posterior at (α, β) costs one n×n factorization and inverse."""

    def __init__(self, X, groups: Groups, factors):
        self.X, self.groups = X, groups
        self.inv_factors = 1.0 / factors
        self.blocks = np.stack([(X[:, idx] * self.inv_factors[idx]) @ X[:, idx].T
                                for idx in (groups.indices(g) for g in range(groups.n_groups))])

    @staticmethod
    def fits(X, groups: Groups, factors) -> bool:
        """Worth it and affordable: p > n, every coefficient penalized, G·n² small enough."""
        n, p = X.shape
        return p > n and groups.n_groups < p and bool(np.all(factors > 0)) \
            and groups.n_groups * n * n <= MAX_KERNEL_FLOATS

    def posterior(self, y, beta: float, alpha) -> tuple[np.ndarray, np.ndarray]:
        """(m, γ per group) at precisions α per group (inf = pruned: m_g = 0, γ_g = 0)."""
        live = np.isfinite(alpha)
        inv_alpha = np.where(live, 1.0 / np.where(live, alpha, 1.0), 0.0)
        kernel = np.tensordot(inv_alpha, self.blocks, axes=1)
        kernel[np.diag_indices_from(kernel)] += 1.0 / beta
        factor = sla.cho_factor(kernel, lower=True, check_finite=False)
        inverse = sla.cho_solve(factor, np.eye(kernel.shape[0]), check_finite=False)
        mean = inv_alpha[self.groups.labels] * self.inv_factors * (self.X.T @ (inverse @ y))
        gamma = inv_alpha * np.tensordot(self.blocks, inverse, axes=([1, 2], [0, 1]))
        return mean, gamma


class GaussianPosterior:
    """The exact posterior of y = Xw + ε at prior precisions α_g f_j and noise precision β
    (see module docstring): :meth:`at` gives (m, γ per group, Σ_j γ_j); pruned groups
    (α_g = ∞) are held at zero. X (dense, centered by the caller if needed) is factored in the
    cheapest of the three forms: p×p Gram (p ≤ n), per-group kernels, or the n×n kernel.

    Only α/β matters for m and γ, so a λ-parametrized caller may pass (α = λ·scale, β = 1).
    """

    def __init__(self, X, y, groups: Groups, factors=None):
        self.X, self.y, self.groups = X, y, groups
        p = X.shape[1]
        self.factors = np.ones(p) if factors is None else np.asarray(factors, dtype=np.float64)
        self.free = self.factors == 0
        self.penalized = groups.sum(~self.free) > 0
        self.gram = X.T @ X if p <= X.shape[0] else None
        self.kernels = GroupKernels(X, groups, self.factors) if GroupKernels.fits(X, groups, self.factors) else None

    def at(self, alpha, beta: float):
        """(m, γ per group, Σ_j γ_j) with pruned groups (α = inf) held at zero."""
        X, y, groups, p = self.X, self.y, self.groups, self.X.shape[1]
        if self.kernels is not None:
            mean, gamma_group = self.kernels.posterior(y, beta, alpha)
            return mean, gamma_group, float(gamma_group.sum())
        labels = groups.labels
        cols = np.flatnonzero(np.isfinite(alpha)[labels])
        mean, gamma_coef = np.zeros(p), np.zeros(p)
        if cols.size:
            Xk = X[:, cols]
            gram = self.gram[np.ix_(cols, cols)] if self.gram is not None else None
            mean[cols], gamma_coef[cols] = _posterior(Xk, y, Xk.T @ y, gram, beta,
                                                      (alpha[labels] * self.factors)[cols])
        return mean, groups.sum(np.where(self.free, 0.0, gamma_coef)), float(gamma_coef.sum())


def grouped_evidence(X, y, groups: Groups, factors=None, *, fit_intercept: bool = True,
                     max_iter: int = 300, tol: float = 1e-6, hyperprior=(1e-6, 1e-6, 1e-6, 1e-6),
                     min_gamma: float = 1e-7, threshold: float | None = None,
                     alpha0=None, beta0: float | None = None) -> EvidenceResult:
    """Grouped ARD / MacKay fixed point for the Gaussian likelihood (see module docstring).

    Parameters
    ----------
    X : array, shape (n, p); y : array, shape (n,)
    groups : Groups
    factors : array (p,), optional
        Penalty factors f_j (0 = flat prior, never pruned).
    fit_intercept : bool
        Center X and y first. The noise precision then counts all n residuals, as scikit-learn's
        BayesianRidge does; integrating a flat prior on the intercept out would leave n − 1 (with
        n = 12 the two differ by 12 % in λ; a column of ones with penalty factor 0 counts it).
    max_iter, tol : stop when max |Δ log α_g|, |Δ log β| ≤ tol.
    hyperprior : (a, b, c, d)
        Gamma(shape, rate) hyperparameters of α (a, b) and β (c, d), as in scikit-learn.
    min_gamma, threshold : pruning rules (γ_g/size < min_gamma, or α_g > threshold).
    alpha0, beta0 : starting point; defaults: α = 1, β = 1/var(y) (scikit-learn's).

    Returns
    -------
    EvidenceResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 4)); y = X @ [1.0, -2.0, 0.0, 0.0] + 0.1 * rng.standard_normal(100)
    >>> out = grouped_evidence(X, y, Groups.contiguous([2, 2]))
    >>> bool(out.alpha[1] > 1e4 * out.alpha[0]), np.round(out.mean[:2], 1).tolist()
    (True, [1.0, -2.0])
    """
    X = to_dense(X)
    y = np.asarray(y, dtype=np.float64)
    if fit_intercept:
        X, y = X - X.mean(axis=0), y - y.mean()
    n = X.shape[0]
    alpha = np.ones(groups.n_groups) if alpha0 is None else np.array(alpha0, dtype=np.float64)
    beta = 1.0 / (np.var(y) + np.finfo(float).eps) if beta0 is None else float(beta0)
    model = GaussianPosterior(X, y, groups, factors)
    found = fixed_point(lambda lam: gaussian_statistics(model, lam, scale=n), alpha / (beta * n),
                        max_iter=max_iter, tol=tol, hyperprior=hyperprior, min_gamma=min_gamma,
                        threshold=threshold)
    mean, gamma_group, _ = model.at(found.alpha, found.beta)     # at the final hyperparameters
    return EvidenceResult(alpha=found.alpha, beta=found.beta, mean=mean, gamma=gamma_group,
                          n_iter=found.n_iter, converged=found.converged, trajectory=found.trajectory)


def laplace_statistics(train, lam) -> EvidenceStatistics:
    """:class:`~lamina.tuners.evidence.EvidenceStatistics` of a logistic model's Laplace
    approximation at λ (β ≡ 1, scale n: α_g = λ_g n). ``train`` is a
    :class:`~lamina.tuners.linear_data.TrainingSet` with an L2 penalty; the MAP is refitted at λ
    (warm-started; a pruned group, λ_g = ∞, is fitted at 10¹²), Σ = (Aᵀ diag(σ(1−σ)) A + diag(α f))⁻¹
    and γ_j = 1 − α f_j Σ_jj (MacKay 1992)."""
    groups = train.spec.groups
    n = train.n
    factors = train.spec.penalty.factors(groups.n_features)
    lam = np.asarray(lam, dtype=np.float64)
    x = train.fit(np.where(np.isfinite(lam), lam, 1e12))
    A = to_dense(train.A)
    weights = _sample_weights(train, x)
    prior = (lam * n)[groups.labels] * factors
    if train.augmented:
        prior = np.append(prior, 0.0)
    prior = np.where(np.isfinite(prior), prior, 1e12)
    sigma_diag = np.diag(np.linalg.inv((A * weights[:, None]).T @ A + np.diag(prior)))
    coef = x[: groups.n_features]
    gamma_coef = np.where(factors > 0, 1.0 - prior[: groups.n_features] * sigma_diag[: groups.n_features], 0.0)
    return EvidenceStatistics(gamma=groups.sum(gamma_coef), norm2=groups.sum(factors * coef ** 2), rss=None,
                              gamma_total=float(gamma_coef.sum()), n_out=n, scale=float(n), sizes=groups.sizes,
                              penalized=groups.sum(factors > 0) > 0)
