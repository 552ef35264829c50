"""A linear model (regression or logistic) as a :class:`~lamina.tuners.problem.TunableProblem`.

Objective 1/n Σ loss + Σ_g λ_g R(w_g) (scikit-learn's scaling). Splits are
:func:`~lamina.tuners.linear_data.make_folds`'s folds (an int, or any scikit-learn splitter);
each fold's fits are warm-started from its previous solution; the loss is the held-out mean
squared error or log-loss, and the criterion the mean over folds weighted by their held-out
rows (or sample weights). Hypergradients come from
:func:`~lamina.tuners.linear_implicit.fold_value_and_gradient` (implicit differentiation on the
support), re-entry thresholds from :func:`~lamina.tuners.linear_data.entry_thresholds`, the
evidence statistics (L2 penalty) from the exact posterior
(:class:`~lamina.tuners.linear_evidence.GaussianPosterior`, squared loss) or the Laplace
approximation at the MAP (:func:`~lamina.tuners.linear_evidence.laplace_statistics`, logistic).
The estimator refits itself at the chosen λ, so :meth:`LinearProblem.refit` returns None.
"""
from __future__ import annotations

import numpy as np

from lamina.operators import to_dense
from lamina.tuners.base import Compute
from lamina.tuners.linear_common import _bounds, _grid
from lamina.tuners.evidence import EvidenceStatistics, gaussian_statistics
from lamina.tuners.linear_data import LinearSpec, Loss, TrainingSet, entry_thresholds, make_folds
from lamina.tuners.linear_evidence import GaussianPosterior, laplace_statistics
from lamina.tuners.linear_implicit import fold_value_and_gradient
from lamina.tuners.linear_separation import warn_if_folds_separate
from lamina.tuners.problem import Report, weighted_mean

#: how far above λ_max,g (the threshold at x = 0) the descent may take an L1-type λ_g
DESCENT_HEADROOM = 10.0


class LinearProblem:
    """Tunable λ per feature group of a linear model (see module docstring).

    Parameters
    ----------
    X, y : training data (y as the tuners see it: values, 0/1 or class codes)
    spec : LinearSpec
    sample_weight, cv_groups : optional
        As in the estimators' ``fit``.
    seed : int
        Fold shuffling for an int ``cv``.
    direction : array (n_groups,), optional
        Relative λ per group of a one-λ search, λ = t·direction (ones by default).
    """

    family = "linear"

    def __init__(self, X, y, spec: LinearSpec, *, sample_weight=None, cv_groups=None, seed: int = 0, direction=None):
        self.X, self.y, self.spec = X, y, spec
        self.sample_weight, self.cv_groups, self.seed = sample_weight, cv_groups, seed
        self.names = tuple(spec.groups.names)
        self.direction = (np.ones(spec.groups.n_groups) if direction is None
                          else np.asarray(direction, dtype=float).ravel())
        if self.direction.shape != (spec.groups.n_groups,) or np.any(self.direction <= 0):
            raise ValueError(f"direction must hold {spec.groups.n_groups} values > 0 (one per group)")
        self.compute = Compute()
        self._folds: list = []
        self.separated_folds = 0                # folds of the last splits() without a finite optimum
        self._posterior = None

    def splits(self, cv) -> list:
        """:func:`~lamina.tuners.linear_data.make_folds`' folds; logistic folds whose training rows
        the unpenalized features separate (no finite optimum) are counted in ``separated_folds``
        and told in one :class:`~lamina.solvers.separation.SeparationWarning`
        (:func:`~lamina.tuners.linear_separation.warn_if_folds_separate`)."""
        self._folds = make_folds(self.X, self.y, self.spec, cv, self.seed, self.cv_groups, self.sample_weight)
        self.separated_folds = warn_if_folds_separate(self._folds)
        return self._folds

    def criterion(self, values) -> float:
        """Mean of the folds' values weighted by their held-out rows (or sample weights); a fold
        whose held-out weights are all zero carries no weight (its own mean, 0/0, is NaN)."""
        sizes = np.array([fold.size for fold in self._folds], dtype=float)
        keep = sizes > 0
        return weighted_mean(np.asarray(values, dtype=float)[keep], sizes[keep])

    def _count(self, fold, before: tuple[int, int]) -> None:
        self.compute.fits += fold.train.n_fits - before[0]
        self.compute.epochs += fold.train.n_iter - before[1]

    def split_loss(self, lam, fold, report: Report | None = None) -> float:
        before = (fold.train.n_fits, fold.train.n_iter)
        value = float(fold.validation_loss(fold.train.fit(np.asarray(lam, dtype=float))))
        self._count(fold, before)
        if report is not None:
            report(0, value)
        return value

    def split_path(self, lams, fold) -> np.ndarray:
        """Held-out losses along the rows of ``lams``, each fit warm-started from the previous."""
        return np.array([self.split_loss(lam, fold) for lam in np.asarray(lams, dtype=float)])

    def split_loss_and_gradient(self, lam, fold):
        """Held-out loss and its gradient in λ (the implicit gradient in log λ divided by λ)."""
        lam = np.asarray(lam, dtype=float)
        before = (fold.train.n_fits, fold.train.n_iter)
        value, grad_log = fold_value_and_gradient(fold, lam)
        self._count(fold, before)
        return float(value), np.asarray(grad_log) / lam

    def split_entry(self, lam, fold):
        """(whether each group is zero in the fold's fit at λ, its entry threshold τ_g): the λ_g
        below which a zero group enters, ‖∇_g F(x̂)‖_* / n (:func:`~lamina.tuners.linear_data.entry_thresholds`)."""
        before = (fold.train.n_fits, fold.train.n_iter)
        x = fold.train.fit(np.asarray(lam, dtype=float))      # at λ already: a warm refit
        self._count(fold, before)
        groups = self.spec.groups
        return groups.norms(x[: groups.n_features]) == 0, entry_thresholds(fold.train, x)

    def warm_state(self, fold):
        """The fold's current solution (its next fit's warm start)."""
        return None if fold.train.x is None else fold.train.x.copy()

    def set_warm_state(self, fold, state) -> None:
        fold.train.x = state

    def refit(self, lam):
        """None: the estimator refits itself at the chosen λ."""
        return None

    def default_grid(self, n_values: int | None = None) -> np.ndarray:
        """n multipliers t (λ = t·direction) from where every group is off down to 10⁻³ of it
        (ridge: 10³ × the largest … 10⁻⁷ × the smallest non-constant feature variance) — :class:`~lamina.tuners.linear.GridCVTuner`'s grid."""
        lams = _grid(self.bounds(), self.spec, 50 if n_values is None else int(n_values), self.direction)
        return lams[:, 0] / self.direction[0]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return _bounds(self.X, self.y, self.spec, self.sample_weight)

    def descent_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """``bounds()`` with the L1-type upper bounds ``DESCENT_HEADROOM`` times higher for the
        hypergradient descent: λ_max,g is the threshold at x = 0, and with other groups in the
        model a group's threshold can be higher (a feature without signal correlated with
        another's noise: 1.9 × λ_max,g), so a descent stopped at λ_max,g could not switch it off
        (held-out loss 0.627 where 0.578 was reachable; benchmarks/RESULTS.md)."""
        lower, upper = self.bounds()
        return (lower, upper) if self.spec.is_ridge else (lower, DESCENT_HEADROOM * np.asarray(upper, dtype=float))

    def evidence_statistics(self, lam) -> EvidenceStatistics:
        """γ_g, ‖w_g‖²_f (and RSS) of the posterior at λ, L2 penalty: the exact Gaussian posterior
        for the squared loss (X and y centered when the model fits an intercept; one posterior
        counts as a fit), the Laplace approximation at the MAP for the logistic loss
        (:func:`~lamina.tuners.linear_evidence.laplace_statistics`, β ≡ 1); λ_g = α_g / (β n),
        scale n (:class:`~lamina.tuners.evidence_search.EvidenceSearch`)."""
        spec = self.spec
        if not spec.is_ridge:
            raise ValueError(f"the evidence needs the L2 penalty (a Gaussian prior); got penalty "
                             f"{spec.penalty.name!r}")
        if spec.loss is Loss.MULTINOMIAL:
            raise ValueError("the evidence statistics of a LinearProblem need the squared or the binary "
                             "logistic loss; got 'multinomial'")
        if self.sample_weight is not None:
            raise ValueError("the evidence statistics do not take sample_weight")
        if spec.loss is Loss.LOGISTIC:
            if self._posterior is None:
                self._posterior = TrainingSet(self.X, self.y, spec)
            before = self._posterior.n_fits
            stats = laplace_statistics(self._posterior, lam)
            self.compute.fits += self._posterior.n_fits - before
            return stats
        if self._posterior is None:
            X, y = to_dense(self.X), np.asarray(self.y, dtype=np.float64)
            if spec.fit_intercept:
                X, y = X - X.mean(axis=0), y - y.mean()
            self._posterior = GaussianPosterior(X, y, spec.groups, spec.penalty.prior_factors(spec.groups))
        self.compute.fits += 1
        return gaussian_statistics(self._posterior, lam, scale=self._posterior.X.shape[0])
