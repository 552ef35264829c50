"""Baseline tuners of the linear models: a K-fold grid over one λ, and Optuna's TPE over the vector.

* :class:`GridCVTuner` — one λ for all groups (λ = t·direction) along a warm-started path,
  K folds (in parallel with joblib when n_jobs > 1), t with the lowest mean held-out loss —
  the generic GridSearch on a LinearProblem.
* :class:`OptunaTuner` — Optuna's TPE over the vector log λ, same K-fold criterion — the generic
  OptunaSearch (no pruning).
"""
from __future__ import annotations

import numpy as np

from lamina._validation import check_positive_int
from lamina.tuners.base import TuneResult
from lamina.tuners.linear_common import LinearTuner, _criterion
from lamina.tuners.linear_data import LinearSpec
from lamina.tuners.linear_problem import LinearProblem
from lamina.tuners.search import GridSearch, OptunaSearch


class GridCVTuner(LinearTuner):
    """One λ for every group (times ``direction``), chosen by K-fold CV on a warm-started path.

    Parameters
    ----------
    cv : int or scikit-learn splitter
        Folds (1 = one 80/20 hold-out split), or any splitter / iterable ``check_cv`` accepts
        (see :func:`~lamina.tuners.linear_data.cv_splits`).
    n_lams : int
        Grid size: geometric from λ_max (every group off) down to λ_max·10⁻³
        (ridge: 10³ × the largest down to 10⁻⁷ × the smallest non-constant feature variance,
        the bounds of ``_bounds``).
    direction : array (n_groups,), optional
        λ = t·direction (a scaling rule); ones by default.
    n_jobs : int, optional
        joblib workers over folds.
    seed : int
        Fold shuffling.
    """

    name = "cv"

    def __init__(self, cv: int = 5, n_lams: int = 50, direction=None, n_jobs=None, seed: int = 0):
        self.cv, self.n_lams, self.direction, self.n_jobs, self.seed = cv, n_lams, direction, n_jobs, seed

    def tune(self, X, y, spec: LinearSpec, cv_groups=None, sample_weight=None) -> TuneResult:
        """The generic :class:`~lamina.tuners.search.GridSearch` on a
        :class:`~lamina.tuners.linear_problem.LinearProblem` (warm-started path per fold)."""
        self.check_penalty(spec)
        problem = LinearProblem(X, y, spec, sample_weight=sample_weight, cv_groups=cv_groups, seed=self.seed,
                                direction=self.direction)
        result = GridSearch(n_values=check_positive_int(self.n_lams, "n_lams", minimum=2), cv=self.cv,
                            n_jobs=self.n_jobs).tune_problem(problem)
        result.method = self.name
        result.curve.update(lam=(np.asarray(result.curve["lam"]) * problem.direction[0]).tolist(),
                            criterion=_criterion(spec))
        return result


class OptunaTuner(LinearTuner):
    """Optuna TPE over log λ per group (bounds of ``_bounds``), K-fold held-out loss.

    Parameters
    ----------
    n_trials : int
        Trials (each one fit per fold, warm-started from the fold's previous solution).
    cv : int or scikit-learn splitter
    seed : int
        Sampler seed and fold shuffling.
    timeout : float, optional
        Stop starting new trials after this many seconds (Optuna's ``timeout``).
    """

    name = "optuna"

    def __init__(self, n_trials: int = 50, cv: int = 5, seed: int = 0, timeout: float | None = None):
        self.n_trials, self.cv, self.seed, self.timeout = n_trials, cv, seed, timeout

    def tune(self, X, y, spec: LinearSpec, cv_groups=None, sample_weight=None) -> TuneResult:
        """The generic :class:`~lamina.tuners.search.OptunaSearch` (no pruning: every trial
        runs its K folds) on a :class:`~lamina.tuners.linear_problem.LinearProblem`."""
        self.check_penalty(spec)
        problem = LinearProblem(X, y, spec, sample_weight=sample_weight, cv_groups=cv_groups, seed=self.seed)
        search = OptunaSearch(n_trials=self.n_trials, cv=self.cv, seed=self.seed, pruning=False, timeout=self.timeout)
        result = search.tune_problem(problem)
        result.method = self.name
        result.curve["criterion"] = _criterion(spec)
        return result
