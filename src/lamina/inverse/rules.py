"""Rules that choose λ for ½‖Ax − b‖² + Σ_g t·d_g R(x_g) from a warm-started path.

Every rule scores the candidates x(t) of a decreasing grid of multipliers t (λ = t·d, d the
relative λ per group) and returns a :class:`~lamina.tuners.base.TuneResult` whose ``curve``
holds the grid and the scores it was chosen from.

With r(t) = b − A x(t), m rows, σ the noise level and df(t) the degrees of freedom
(number of nonzeros for L1 — Zou, Hastie & Tibshirani 2007 — and L0; tr A(AᵀA + C)⁻¹Aᵀ for L2):

================  ==========================================  ===============================
rule              score                                        choice
================  ==========================================  ===============================
discrepancy       ‖r(t)‖ − τ √m σ  (Morozov)                   largest t with score ≤ 0
gcv               m ‖r(t)‖² / (m − df(t))²  (Golub et al.)     argmin
sure              ‖r(t)‖² − m σ² + 2 σ² df(t)  (Stein)         argmin
lcurve            curvature of (log ‖r‖, log R(x))  (Hansen)   argmax (the corner)
cv                Σ_folds ‖b_v − A_v x_train(t·(m−m_v)/m)‖²    argmin
================  ==========================================  ===============================

SURE is an unbiased estimate of the prediction risk E‖A(x(t) − x_true)‖² (for L1 exactly so,
df = |support| being an unbiased estimate of the divergence of b ↦ A x(t)); GCV estimates
the same risk without σ. K-fold CV holds out rows of A (measurements): each fold solves the
problem on the other rows with λ scaled by their share of the rows, so that data fit and
penalty keep their balance. σ, when the rule needs it and it is not given, is estimated from
the residual of a cross-validated fit (:func:`lamina.inverse.noise.estimate_sigma`), which,
unlike a wavelet MAD of b, holds on data that are not smooth (compressed sensing).
"""
from __future__ import annotations

import time
from enum import Enum

import numpy as np

from lamina._validation import check_multipliers, check_positive_float, parse_choice
from lamina.inverse.tunable import KFoldCV  # noqa: F401  (the rule "cv")
from lamina.inverse.candidates import (Candidates, compute_candidates, default_multipliers, prepare,
                                       result_from_candidates, warn_if_flat)
from lamina.inverse.candidates import is_l2  # noqa: F401 (re-exported: lamina.inverse.fit, lamina.inverse.pergroup)
from lamina.inverse.noise import estimate_sigma
from lamina.tuners.base import Tuner, TuneResult


class Rule(str, Enum):
    """The λ-choosing rules of :func:`lamina.inverse.fit`."""

    DISCREPANCY = "discrepancy"
    GCV = "gcv"
    SURE = "sure"
    CV = "cv"
    LCURVE = "lcurve"


def parse_rule(rule) -> Rule:
    """A :class:`Rule` from its name, with an error naming the argument."""
    return parse_choice(Rule, rule, "rule")


# ---------------------------------------------------------------------------- scores
def discrepancy_choice(residual_norms, n_rows: int, sigma: float, tau: float = 1.0) -> tuple[int, np.ndarray]:
    """Largest t (first index of a decreasing grid) with ‖r‖ ≤ τ√m σ; the last if none.

    Examples
    --------
    >>> discrepancy_choice(np.array([5.0, 3.0, 1.0]), n_rows=4, sigma=1.0)[0]   # target √4·1 = 2
    2
    """
    score = np.asarray(residual_norms, dtype=float) - tau * np.sqrt(n_rows) * sigma
    below = np.flatnonzero(score <= 0)
    return (int(below[0]) if below.size else len(score) - 1), score


def gcv_scores(residual_norms, dof, n_rows: int) -> np.ndarray:
    """GCV(t) = m ‖r‖² / (m − df)²; +inf where df ≥ m."""
    residual_norms, dof = np.asarray(residual_norms, float), np.asarray(dof, float)
    room = n_rows - dof
    with np.errstate(divide="ignore"):
        return np.where(room > 0, n_rows * residual_norms ** 2 / np.maximum(room, 1e-300) ** 2, np.inf)


def sure_scores(residual_norms, dof, n_rows: int, sigma: float) -> np.ndarray:
    """SURE(t) = ‖r‖² − mσ² + 2σ² df: unbiased estimate of E‖A(x(t) − x_true)‖²."""
    return (np.asarray(residual_norms, float) ** 2 - n_rows * sigma ** 2
            + 2.0 * sigma ** 2 * np.asarray(dof, float))


def menger_curvature(xi, eta) -> np.ndarray:
    """Signed curvature of the polyline (ξ_k, η_k) through each interior point's neighbours.

    κ_k = 2 ((P_k − P_{k−1}) × (P_{k+1} − P_k)) / (|P_k − P_{k−1}| |P_{k+1} − P_k| |P_{k+1} − P_{k−1}|),
    the inverse radius of the circle through the three points, positive for a clockwise turn
    (the L-curve's corner, walked from large to small λ, turns clockwise). NaN at the two ends
    and where points coincide.

    Examples
    --------
    >>> theta = np.linspace(0, np.pi / 2, 5)
    >>> np.round(menger_curvature(2 * np.cos(theta), 2 * np.sin(theta))[1:-1], 6).tolist()
    [-0.5, -0.5, -0.5]
    """
    xi, eta = np.asarray(xi, float), np.asarray(eta, float)
    kappa = np.full(xi.shape, np.nan)
    first = np.stack([xi[1:-1] - xi[:-2], eta[1:-1] - eta[:-2]])
    second = np.stack([xi[2:] - xi[1:-1], eta[2:] - eta[1:-1]])
    chord = np.hypot(xi[2:] - xi[:-2], eta[2:] - eta[:-2])
    cross = first[0] * second[1] - first[1] * second[0]
    lengths = np.hypot(*first) * np.hypot(*second) * chord
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa[1:-1] = np.where(lengths > 0, -2.0 * cross / lengths, np.nan)
    return kappa


def lcurve_corner(residual_norms, seminorms) -> tuple[int, np.ndarray]:
    """Index of the largest curvature of (log ‖r‖, log R(x)) over points with R > 0 and r > 0."""
    residual_norms, seminorms = np.asarray(residual_norms, float), np.asarray(seminorms, float)
    valid = np.flatnonzero((seminorms > 0) & (residual_norms > 0))
    kappa = np.full(residual_norms.shape, np.nan)
    if valid.size < 3:
        return int(valid[-1]) if valid.size else len(residual_norms) - 1, kappa
    kappa[valid] = menger_curvature(np.log(residual_norms[valid]), np.log(seminorms[valid]))
    if np.all(np.isnan(kappa)):
        return int(valid[-1]), kappa
    return int(np.nanargmax(kappa)), kappa


# ---------------------------------------------------------------------------- tuners
class PathRule(Tuner):
    """Base of the rules that read one path on all the data (discrepancy, GCV, SURE, L-curve).

    ``tune(A, b, penalty, groups=None, direction=None, multipliers=None, n_lams=40, tol=1e-6)``
    solves the path and returns a TuneResult: ``lambdas`` (λ per group name), ``fitted`` (x at
    the chosen λ), ``curve`` = {"lam": t grid, "score": the rule's score, "index": choice,
    "residual", "dof", "seminorm"} and ``info`` (σ used, df and residual at the choice).
    """

    needs_sigma = False
    needs_dof = True

    def __init__(self, sigma: float | None = None, *, n_folds: int = 5, seed: int = 0):
        self.sigma = None if sigma is None else check_positive_float(sigma, "sigma")
        self.n_folds, self.seed = n_folds, seed   # of the σ estimate's cross-validation, where σ is needed

    def select(self, candidates: Candidates, sigma: float | None) -> tuple[int, np.ndarray]:
        raise NotImplementedError

    def tune(self, A, b, penalty="l1", groups=None, direction=None, multipliers=None, n_lams: int = 40,
             tol: float = 1e-6, solver=None, callback=None) -> TuneResult:
        started = time.perf_counter()
        A, b, penalty, groups, direction = prepare(A, b, penalty, groups, direction)
        sigma, info = self.sigma, {"sigma_source": "given" if self.sigma else None}
        if self.needs_sigma and sigma is None:
            noise = estimate_sigma(A, b, penalty, groups, direction=direction, n_folds=self.n_folds, seed=self.seed,
                                   tol=tol, solver=solver)
            sigma, info = noise.sigma, {"sigma_source": noise.source, "noise": noise}
        multipliers = (default_multipliers(A, b, penalty, groups, direction, n_lams) if multipliers is None
                       else check_multipliers(multipliers))
        candidates = compute_candidates(A, b, penalty, groups, direction, multipliers, tol=tol,
                                        solver=solver, callback=callback, with_dof=self.needs_dof)
        index, score = self.select(candidates, sigma)
        return result_from_candidates(self.name, candidates, index, score, groups, started,
                                      dict(info, sigma=sigma))


class Discrepancy(PathRule):
    """Morozov's discrepancy principle: the largest λ with ‖Ax − b‖ ≤ τ √m σ."""

    name = "discrepancy"
    needs_sigma = True
    needs_dof = False

    def __init__(self, sigma: float | None = None, tau: float = 1.0, *, n_folds: int = 5, seed: int = 0):
        super().__init__(sigma, n_folds=n_folds, seed=seed)
        self.tau = check_positive_float(tau, "tau")

    def select(self, candidates, sigma):
        return discrepancy_choice(candidates.residual_norms, candidates.n_rows, sigma, self.tau)


class GCV(PathRule):
    """Generalized cross-validation: argmin m‖r‖²/(m − df)² (no σ needed)."""

    name = "gcv"

    def select(self, candidates, sigma):
        score = gcv_scores(candidates.residual_norms, candidates.dof, candidates.n_rows)
        # e.g. ridge with orthonormal rows (A Aᵀ = I: a tight frame under a row mask): every singular
        # value is 1, ‖r‖ = ‖b‖ t/(1 + t) and df = m/(1 + t) give GCV = ‖b‖²/m for all t
        warn_if_flat(score, "GCV", "ridge with A Aᵀ ∝ I shrinks every direction alike")
        return int(np.argmin(score)), score


class SURE(PathRule):
    """Stein's unbiased risk estimate of the prediction error: argmin ‖r‖² − mσ² + 2σ² df."""

    name = "sure"
    needs_sigma = True

    def select(self, candidates, sigma):
        score = sure_scores(candidates.residual_norms, candidates.dof, candidates.n_rows, sigma)
        return int(np.argmin(score)), score


class LCurve(PathRule):
    """Corner (largest curvature) of the L-curve (log ‖Ax − b‖, log R(x))."""

    name = "lcurve"
    needs_dof = False

    def select(self, candidates, sigma):
        return lcurve_corner(candidates.residual_norms, candidates.seminorms)


def make_rule(rule, sigma: float | None = None, n_folds: int = 5, seed: int = 0) -> Tuner:
    """The tuner of a rule name; ``n_folds`` and ``seed`` set the folds of ``cv`` and of the σ
    estimate that ``sure`` and ``discrepancy`` make when ``sigma`` is not given."""
    rule = parse_rule(rule)
    if rule is Rule.DISCREPANCY:
        return Discrepancy(sigma, n_folds=n_folds, seed=seed)
    if rule is Rule.SURE:
        return SURE(sigma, n_folds=n_folds, seed=seed)
    if rule is Rule.GCV:
        return GCV(sigma)
    if rule is Rule.LCURVE:
        return LCurve(sigma)
    return KFoldCV(n_folds=n_folds, seed=seed)
