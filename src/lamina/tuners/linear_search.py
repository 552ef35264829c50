"""Baseline tuners of the linear models: a K-fold grid over one λ, and Optuna's TPE over the vector.

* :class:`GridCVTuner` — one λ for all groups (λ = t·direction) along a warm-started path,
  K folds run in parallel with joblib, t with the lowest mean held-out loss.
* :class:`OptunaTuner` — Optuna's TPE over the vector log λ, same K-fold criterion.
"""
from __future__ import annotations

import numpy as np

from lamina.tuners.base import Compute, Stopwatch, TuneResult
from lamina.tuners.linear_common import (LinearTuner, _as_dict, _bounds, _criterion, _fold_curve, _grid,
                                         _mean_over_folds)
from lamina.tuners.linear_data import LinearSpec, make_folds


class GridCVTuner(LinearTuner):
    """One λ for every group (times ``direction``), chosen by K-fold CV on a warm-started path.

    Parameters
    ----------
    cv : int or scikit-learn splitter
        Folds (1 = one 80/20 hold-out split), or any splitter / iterable ``check_cv`` accepts
        (see :func:`~lamina.tuners.linear_data.cv_splits`).
    n_lams : int
        Grid size: geometric from λ_max (every group off) down to λ_max·10⁻³
        (ridge: 10³ down to 10⁻⁷ × the mean feature variance).
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
        from joblib import Parallel, delayed
        self.check_penalty(spec)
        with Stopwatch() as clock:
            folds = make_folds(X, y, spec, self.cv, self.seed, cv_groups, sample_weight)
            lams = _grid(_bounds(X, y, spec, sample_weight), spec, self.n_lams, self.direction)
            out = Parallel(n_jobs=self.n_jobs)(delayed(_fold_curve)(fold, lams) for fold in folds)
            scores = _mean_over_folds(folds, [o[0] for o in out])
            best = int(np.argmin(scores))
        fits = sum(o[3] for o in out)
        return TuneResult(
            self.name, _as_dict(spec, lams[best]), trajectory=[],
            compute=Compute(fits=fits, epochs=sum(o[2] for o in out), seconds=clock.seconds),
            curve={"lam": lams[:, 0].tolist(), "score": scores.tolist(), "criterion": _criterion(spec)},
            info={"cv_score": float(scores[best])})


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
        import optuna
        self.check_penalty(spec)
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        with Stopwatch() as clock:
            folds = make_folds(X, y, spec, self.cv, self.seed, cv_groups, sample_weight)
            lower, upper = np.log(_bounds(X, y, spec, sample_weight))
            names = [f"log_lam_{g}" for g in range(spec.groups.n_groups)]

            def criterion(trial):
                theta = np.array([trial.suggest_float(k, lo, hi) for k, lo, hi in zip(names, lower, upper)])
                lam = np.exp(theta)
                return float(_mean_over_folds(folds, [f.validation_loss(f.train.fit(lam)) for f in folds]))

            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=self.seed))
            study.optimize(criterion, n_trials=self.n_trials, timeout=self.timeout)
            lam = np.exp([study.best_params[k] for k in names])
        scores = [t.value for t in study.trials]
        return TuneResult(
            self.name, _as_dict(spec, lam),
            trajectory=[_as_dict(spec, np.exp([t.params[k] for k in names])) for t in study.trials],
            compute=Compute(fits=len(study.trials), epochs=sum(f.train.n_iter for f in folds), seconds=clock.seconds),
            curve={"trial": list(range(len(scores))), "score": scores, "criterion": _criterion(spec)},
            info={"cv_score": float(study.best_value), "n_trials": len(study.trials)})
