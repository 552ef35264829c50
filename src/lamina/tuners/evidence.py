"""MacKay's evidence fixed point, written once for every family (numpy in, numpy out).

Model: a prior w_g ~ N(μ_g, (α_g F_g)⁻¹) per group g (F_g = diag(f_j), f_j the penalty factor
of coefficient j) and, for a Gaussian likelihood, a noise precision β. At the posterior mode
w (or mean) with curvature H (the exact XᵀX β of a linear model, the Laplace / GGN curvature
of a logistic model or a network), the evidence p(D | α, β) is stationary when

    α_g = (γ_g + 2a) / (‖w_g − μ_g‖²_F + 2b),          (MacKay 1992; a, b: Gamma hyperprior)
    β   = (n_out − Σ_g γ_g + 2c) / (RSS + 2d),

with γ_g = Σ_{j∈g} (1 − α_g f_j Σ_jj) = Σ_i h_i / (h_i + α_g) the well-determined parameters of
the group (Σ = (H + diag(α f))⁻¹; h_i the eigenvalues of the group's block of H), n_out the
number of observed outputs and RSS the residual sum of squares. scikit-learn's ARDRegression
is the case of singleton groups with a = b = c = d = 10⁻⁶.

Each family computes γ, ‖w_g − μ_g‖² and RSS its own way (exact posterior, Laplace, K-FAC);
this module holds what is common to them:

* :func:`mackay_precision` — the α step with its hyperprior and floors;
* :func:`project_log_step` — the step in log α restricted to identified directions
  (α ← α ⊙ exp(DᵀD (log α_target − log α))), for symmetries along which the evidence is flat;
* :func:`clip_factor` — damping: no value moves by more than a factor per update;
* :func:`evidence_step` — one α update with the pruning rules ("switched off" groups get α = ∞);
* :func:`noise_precision` — the β step;
* :func:`fixed_point` — the iteration of the two steps in λ = α/(β·scale) on a problem's
  :class:`EvidenceStatistics` (the loop of the linear, logistic and inverse callers; networks
  take one step per update during training, :class:`lamina.torch.evidence.OnlineEvidence`).

>>> gamma, norm2 = np.array([2.0, 1e-9]), np.array([0.5, 1e-3])
>>> step = evidence_step(np.ones(2), gamma, norm2, sizes=np.array([2, 2]), pruned=np.zeros(2, bool))
>>> step.alpha.tolist(), step.pruned.tolist()
([4.0, inf], [False, True])
>>> float(noise_precision(100, 10.0, 45.0))
2.0
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: λ given to a group the evidence switched off, in units of that group's upper bound (λ_max scale)
OFF = 1e6


def mackay_precision(gamma, norm2, hyperprior=(0.0, 0.0), *, norm_floor: float = 0.0,
                     floor: float = 0.0) -> np.ndarray:
    """α_g = max((γ_g + 2a) / max(‖w_g − μ_g‖² + 2b, norm_floor), floor).

    Parameters
    ----------
    gamma : array (G,)
        Well-determined parameters per group.
    norm2 : array (G,)
        ‖w_g − μ_g‖² (weighted by the penalty factors f_j).
    hyperprior : (a, b)
        Gamma(shape a, rate b) hyperprior on α (0, 0: none; scikit-learn uses 10⁻⁶).
    norm_floor, floor : float
        Lower bounds on the denominator and on α (guards against w_g = 0 and α = 0).

    >>> mackay_precision(np.array([1.0, 3.0]), np.array([0.5, 3.0])).tolist()
    [2.0, 1.0]
    >>> mackay_precision(np.array([1.0]), np.array([0.0]), norm_floor=1e-12).tolist()
    [1000000000000.0]
    """
    a, b = hyperprior
    gamma = np.asarray(gamma, dtype=np.float64)
    norm2 = np.asarray(norm2, dtype=np.float64)
    alpha = (gamma + 2 * a) / np.maximum(norm2 + 2 * b, norm_floor)
    return np.maximum(alpha, floor) if floor > 0 else alpha


def project_log_step(alpha, target, projector=None) -> np.ndarray:
    """α ⊙ exp(P (log target − log α)): the fixed-point step in log α, moved only along the
    range of the orthogonal projector P = DᵀD (D an orthonormal basis (k, G) of the directions
    of log α the data identify); ``target`` itself when P is None.

    >>> P = np.full((2, 2), 0.5)          # the direction (1, 1)/√2 only
    >>> np.round(project_log_step(np.ones(2), np.array([4.0, 1.0]), P), 6).tolist()
    [2.0, 2.0]
    """
    target = np.asarray(target, dtype=np.float64)
    if projector is None:
        return target
    alpha = np.asarray(alpha, dtype=np.float64)
    return alpha * np.exp(np.asarray(projector, dtype=np.float64) @ (np.log(target) - np.log(alpha)))


def clip_factor(new, old, max_factor: float | None = None) -> np.ndarray:
    """``new`` clipped to [old / max_factor, old · max_factor] (damping; no clip when None).

    >>> clip_factor(np.array([100.0, 0.5]), np.ones(2), 10.0).tolist()
    [10.0, 0.5]
    """
    new = np.asarray(new, dtype=np.float64)
    if max_factor is None:
        return new
    if not max_factor >= 1.0:
        raise ValueError(f"max_factor must be a number ≥ 1, got {max_factor!r}")
    old = np.asarray(old, dtype=np.float64)
    return np.minimum(np.maximum(new, old / max_factor), old * max_factor)


def noise_precision(n_out, gamma_total, rss, hyperprior=(0.0, 0.0), *, min_dof_share: float | None = None,
                    rss_floor: float = 0.0):
    """β = max(n_out − Σγ + 2c, min_dof_share · n_out) / max(RSS + 2d, rss_floor).

    ``min_dof_share`` (None: no floor) keeps β positive when the curvature is estimated and
    Σγ may exceed n_out (networks use 0.1).

    >>> float(noise_precision(10, 12.0, 2.0, min_dof_share=0.1))
    0.5
    """
    c, d = hyperprior
    dof = n_out - gamma_total + 2 * c
    if min_dof_share is not None:
        dof = np.maximum(dof, min_dof_share * n_out)
    return dof / np.maximum(rss + 2 * d, rss_floor)


@dataclass
class Step:
    """One α update: the new α (∞ where pruned), the pruned mask after it, the groups pruned by
    this step, and max |Δ log α| over the groups still live."""

    alpha: np.ndarray
    pruned: np.ndarray
    pruned_now: np.ndarray
    change: float


def evidence_step(alpha, gamma, norm2, *, sizes, pruned, penalized=None, hyperprior=(0.0, 0.0),
                  norm_floor: float = 0.0, min_gamma: float | None = 1e-7,
                  threshold: float | None = None) -> Step:
    """α_g ← (γ_g + 2a)/(‖w_g − μ_g‖² + 2b) with the pruning rules.

    A penalized group not yet pruned is switched off (α_g = ∞, w_g = 0 from then on) when
    γ_g / size_g < ``min_gamma`` or the new α_g > ``threshold``; unpenalized groups
    (``penalized`` False: every factor 0, flat prior) keep their α.

    Parameters
    ----------
    alpha : array (G,), the current α (∞ where pruned)
    gamma, norm2 : arrays (G,), see :func:`mackay_precision`
    sizes : array (G,), coefficients per group
    pruned : bool array (G,), groups already switched off
    penalized : bool array (G,), optional (all True by default)
    hyperprior, norm_floor : see :func:`mackay_precision`
    min_gamma, threshold : pruning rules (None: rule off)

    >>> step = evidence_step(np.array([1.0, 2.0]), np.array([1.0, 2.0]), np.array([0.5, 0.5]),
    ...                      sizes=np.array([1, 1]), pruned=np.zeros(2, bool), threshold=3.0)
    >>> step.alpha.tolist(), step.pruned_now.tolist(), round(step.change, 6)
    ([2.0, inf], [False, True], 0.693147)
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    pruned = np.asarray(pruned, dtype=bool)
    # the groups pruned before (w = 0, γ = 0: a 0/0) stay at α = ∞; the update runs on the others
    new_alpha = np.full(alpha.shape, np.inf)
    new_alpha[~pruned] = mackay_precision(np.asarray(gamma, dtype=np.float64)[~pruned],
                                          np.asarray(norm2, dtype=np.float64)[~pruned], hyperprior, norm_floor=norm_floor)
    if penalized is None:
        penalized = np.ones(alpha.shape, dtype=bool)
    new_alpha = np.where(penalized, new_alpha, alpha)
    weak = (np.asarray(gamma) / np.asarray(sizes) < min_gamma) if min_gamma is not None else False
    large = (new_alpha > threshold) if threshold is not None else False
    prune_now = penalized & ~pruned & (weak | large)
    live = ~pruned & ~prune_now & penalized
    with np.errstate(divide="ignore", invalid="ignore"):   # α = 0 before (a λ started at 0): an infinite change
        change = float(np.max(np.abs(np.log(new_alpha[live] / alpha[live])), initial=0.0))
    return Step(alpha=np.where(pruned | prune_now, np.inf, new_alpha), pruned=pruned | prune_now,
                pruned_now=prune_now, change=change)


@dataclass
class EvidenceStatistics:
    """What a problem gives the evidence at λ (``TunableProblem.evidence_statistics(λ)``).

    gamma : array (G,) — well-determined parameters γ_g of the posterior at λ;
    norm2 : array (G,) — ‖w_g − μ_g‖² of the posterior mode, weighted by the penalty factors;
    rss : float or None — residual sum of squares (None: no noise precision, β ≡ 1);
    gamma_total : float — Σ_j γ_j over every coefficient (unpenalized ones included);
    n_out : int — number of observed outputs;
    scale : float — λ_g = α_g / (β · scale) in the problem's λ units (n for scikit-learn's
    1/n-scaled data fit, 1 for ½‖Ax − b‖²);
    sizes : array (G,) — coefficients per group; penalized : bool array (G,) — groups with a
    prior (unpenalized groups keep their λ).
    """

    gamma: np.ndarray
    norm2: np.ndarray
    rss: float | None
    gamma_total: float
    n_out: int
    scale: float
    sizes: np.ndarray
    penalized: np.ndarray


def gaussian_statistics(posterior, lam, scale: float) -> EvidenceStatistics:
    """:class:`EvidenceStatistics` of an exact Gaussian posterior
    (:class:`~lamina.tuners.linear_evidence.GaussianPosterior`) at λ: only α/β matters for the
    posterior, so it is evaluated at (α = λ·scale, β = 1); λ_g = ∞ is a pruned group."""
    lam = np.asarray(lam, dtype=np.float64)
    mean, gamma, gamma_total = posterior.at(lam * scale, 1.0)
    residual = posterior.y - posterior.X @ mean
    groups = posterior.groups
    return EvidenceStatistics(gamma=gamma, norm2=groups.sum(posterior.factors * mean ** 2),
                              rss=float(residual @ residual), gamma_total=gamma_total,
                              n_out=posterior.X.shape[0], scale=float(scale), sizes=groups.sizes,
                              penalized=posterior.penalized)


@dataclass
class FixedPoint:
    """The end of :func:`fixed_point`: λ (∞ where pruned), α = λ·β·scale, β, γ at the last
    posterior, the pruned mask, λ after every iteration, iterations and whether it converged."""

    lam: np.ndarray
    alpha: np.ndarray
    beta: float
    gamma: np.ndarray
    pruned: np.ndarray
    trajectory: list
    n_iter: int
    converged: bool


def fixed_point(statistics, lam0, *, max_iter: int = 300, tol: float = 1e-5,
                hyperprior=(1e-6, 1e-6, 1e-6, 1e-6), min_gamma: float | None = 1e-7,
                threshold: float | None = None, norm_floor: float = 0.0) -> FixedPoint:
    """MacKay's fixed point in λ: each iteration asks ``statistics(λ)`` (an
    :class:`EvidenceStatistics`; λ_g = ∞ for a pruned group), sets β by :func:`noise_precision`
    (β ≡ 1 when ``rss`` is None), takes :func:`evidence_step` from α = λ·β·scale and returns to
    λ = α/(β·scale). The posterior mode and γ depend on λ only, so this visits the λ of the
    (α, β) iteration started at α₀/(β₀·scale) = λ₀. Stops when max_g |Δ log λ_g| ≤ ``tol`` and
    no group was pruned in the step.

    >>> from lamina.groups import Groups
    >>> from lamina.tuners.linear_evidence import GaussianPosterior
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 4)); y = X @ [1.0, -1.0, 0.0, 0.0] + 0.1 * rng.standard_normal(60)
    >>> posterior = GaussianPosterior(X, y, Groups.contiguous([2, 2]))
    >>> out = fixed_point(lambda lam: gaussian_statistics(posterior, lam, scale=60), np.ones(2))
    >>> out.converged, bool(out.lam[1] > 100 * out.lam[0])    # the second group carries no signal
    (True, True)
    """
    lam = np.array(lam0, dtype=np.float64)
    a, b, c, d = hyperprior
    pruned = np.zeros(lam.shape, dtype=bool)
    trajectory, converged, iteration, beta, gamma, scale = [], False, 0, 1.0, np.zeros(lam.shape), 1.0
    for iteration in range(1, int(max_iter) + 1):
        stats = statistics(np.where(pruned, np.inf, lam))
        scale = stats.scale
        beta = 1.0 if stats.rss is None else float(noise_precision(stats.n_out, stats.gamma_total, stats.rss, (c, d)))
        step = evidence_step(lam * beta * scale, stats.gamma, stats.norm2, sizes=stats.sizes, pruned=pruned,
                             penalized=stats.penalized, hyperprior=(a, b), norm_floor=norm_floor,
                             min_gamma=min_gamma, threshold=threshold)
        lam, pruned, gamma = step.alpha / (beta * scale), step.pruned, stats.gamma
        trajectory.append(lam.copy())
        if step.change <= tol and not np.any(step.pruned_now):
            converged = True
            break
    return FixedPoint(lam=lam, alpha=lam * beta * scale, beta=beta, gamma=np.asarray(gamma), pruned=pruned,
                      trajectory=trajectory, n_iter=iteration, converged=converged)
