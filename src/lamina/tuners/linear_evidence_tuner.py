"""The evidence tuner of the linear models (grouped ARD / MacKay fixed point).

The fixed point itself lives in :mod:`lamina.tuners.linear_evidence`; this module maps its
prior precisions α_g to λ_g through the penalty (``prior_precision_to_lam``): exact for
ridge, Laplace-approximated for logistic ridge; for L1-type penalties the prior precision is
mapped to the Laplace prior of equal variance (a heuristic, flagged in ``info``).
"""
from __future__ import annotations

import numpy as np

from lamina.tuners.base import Compute, Stopwatch, TuneResult
from lamina.tuners.evidence import OFF, fixed_point
from lamina.tuners.linear_common import LinearTuner, _as_dict, _bounds
from lamina.tuners.linear_data import LinearSpec, Loss, TrainingSet
from lamina.tuners.linear_evidence import EvidenceResult, grouped_evidence, laplace_statistics


class EvidenceTuner(LinearTuner):
    """Grouped evidence maximization (MacKay / ARD); see :mod:`lamina.tuners.linear_evidence`.

    λ_g = ``penalty.prior_precision_to_lam``(α)_g / (β n): ridge α_g; L1 √(2α_g) (Laplace prior of
    variance 1/α_g); elastic net the same divided by ρ; group L1 √(α_g (p_g+1))/c_g. Logistic:
    L2 only, Laplace approximation. Pruned groups get λ = 10⁶ λ_max,g ("switched off").

    Parameters
    ----------
    max_iter, tol : fixed-point budget and tolerance on max |Δ log α|.
    min_gamma : prune a group when its well-determined parameters per coefficient γ_g/p_g
        fall below this.
    hyperprior : (a, b, c, d) Gamma hyperparameters (α: a, b; β: c, d), scikit-learn's 10⁻⁶;
        (a, b) apply to the logistic model too (before December 2026 it ran without them, so a
        group without signal could be switched off where it now gets a large, finite λ).

    Both likelihoods iterate :func:`lamina.tuners.evidence.fixed_point` (the loop every family's
    evidence shares) on their statistics: the exact Gaussian posterior
    (:func:`~lamina.tuners.linear_evidence.grouped_evidence`) or the Laplace approximation at
    the MAP (:func:`~lamina.tuners.linear_evidence.laplace_statistics`).
    """

    name = "evidence"
    penalty_needs = ("prior_factors", "prior_precision_to_lam")

    def __init__(self, max_iter: int = 300, tol: float = 1e-5, min_gamma: float = 1e-7,
                 hyperprior=(1e-6, 1e-6, 1e-6, 1e-6)):
        self.max_iter, self.tol, self.min_gamma, self.hyperprior = max_iter, tol, min_gamma, hyperprior

    def tune(self, X, y, spec: LinearSpec, cv_groups=None, sample_weight=None) -> TuneResult:
        self.check_penalty(spec)
        if spec.loss is Loss.MULTINOMIAL:
            raise ValueError("tuner='evidence' does not handle multinomial logistic regression; "
                             "use tuner='hypergradient', 'cv' or 'optuna'")
        if sample_weight is not None:
            raise ValueError("tuner='evidence' does not take sample_weight; use tuner='hypergradient', "
                             "'cv' or 'optuna'")
        with Stopwatch() as clock:
            if spec.loss is Loss.LOGISTIC:
                result, n, fits = self._logistic(X, y, spec)
            else:
                result = grouped_evidence(X, y, spec.groups, self._factors(spec),
                                          fit_intercept=spec.fit_intercept, max_iter=self.max_iter,
                                          tol=self.tol, hyperprior=self.hyperprior, min_gamma=self.min_gamma)
                n, fits = X.shape[0], result.n_iter
            lam, off = self._lambdas(X, y, spec, result, n)
        trajectory = [_as_dict(spec, np.where(np.isfinite(t), t, np.nan)) for t in result.trajectory]
        return TuneResult(
            self.name, _as_dict(spec, lam), trajectory=trajectory,
            compute=Compute(fits=fits, epochs=result.n_iter, seconds=clock.seconds),
            curve={"iteration": list(range(1, len(result.trajectory) + 1))},
            info={"alpha": result.alpha.tolist(), "beta": float(result.beta), "gamma": result.gamma.tolist(),
                  "converged": result.converged, "switched_off": [spec.groups.names[g] for g in np.flatnonzero(off)],
                  "mapping": "exact" if spec.is_ridge else "laplace-prior moment matching (heuristic)"})

    @staticmethod
    def _factors(spec):
        """Prior scale per coefficient (``penalty.prior_factors``; None: unit)."""
        return spec.penalty.prior_factors(spec.groups)

    def _logistic(self, X, y, spec):
        if not spec.is_ridge:
            raise ValueError("tuner='evidence' handles logistic regression with penalty 'l2' only; "
                             "use tuner='hypergradient' or 'cv'")
        train = TrainingSet(X, y, spec)
        lower, upper = _bounds(X, y, spec)
        found = fixed_point(lambda lam: laplace_statistics(train, lam), np.sqrt(lower * upper),
                            max_iter=self.max_iter, tol=self.tol, hyperprior=self.hyperprior,
                            min_gamma=self.min_gamma)
        mean = np.zeros(spec.groups.n_features) if train.x is None else train.x[: spec.groups.n_features].copy()
        result = EvidenceResult(alpha=found.alpha, beta=1.0, mean=mean, gamma=found.gamma, n_iter=found.n_iter,
                                converged=found.converged, trajectory=found.trajectory)
        return result, X.shape[0], train.n_fits

    def _lambdas(self, X, y, spec, result, n):
        alpha, beta = result.alpha, result.beta
        off = ~np.isfinite(alpha)
        safe = np.where(off, 1.0, alpha)
        lam = spec.penalty.prior_precision_to_lam(safe, spec.groups) / (beta * n)
        if np.any(off):
            _, upper = _bounds(X, y, spec)
            lam = np.where(off, OFF * upper, lam)
        return lam, off
