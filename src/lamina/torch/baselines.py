"""Baseline tuners on the same interface: K-fold CV of one δ, and Optuna over the δ vector.

Both restart training from the model's initial weights for every candidate (a deep copy),
with the same recipe, and refit on the whole training set at the chosen δ.

* ``tune_cv``: δ (the same for every group, times the rule's weights) on a log grid; score =
  mean held-out NLL over K folds; the (δ, fold) fits run in parallel with joblib — the generic
  :class:`~lamina.tuners.search.GridSearch` on a :class:`~lamina.torch.tunable.NetworkProblem`.
* ``tune_optuna``: log δ_g per group from TPE on one held-out split, with median pruning on
  the validation NLL reported every few epochs and optional persistent ``storage``.
"""
from __future__ import annotations

import numpy as np

from lamina.torch.fit import fit
from lamina.torch.penalty import Regularizer
from lamina.torch.result import NetTuneResult
from lamina.torch.tunable import NetworkProblem
from lamina.tuners.search import GridSearch, OptunaSearch


def _refit(model, train, likelihood, recipe, deltas, by, mode, prior_mean=None):
    reg = Regularizer(model, int(train[0].shape[0]), deltas, mode=mode, by=by, prior_mean=prior_mean)
    out = fit(model, train, likelihood=likelihood, epochs=recipe.epochs, lr=recipe.lr,
              batch_size=recipe.batch_size, seed=recipe.seed, optimizer=recipe.optimizer, regularizer=reg)
    return reg, out


def tune_cv(model, train, likelihood, recipe, *, grid=None, folds=5, n_jobs: int = 1, rule="uniform",
            by=None, mode="coupled", prior_mean=None):
    """One δ by K-fold cross-validation over ``grid`` (default 13 values, 10⁻² … 10²); ``folds``
    an int K or any scikit-learn splitter (:func:`lamina.tuners.splits.cv_splits`): the
    generic :class:`~lamina.tuners.search.GridSearch` on a
    :class:`~lamina.torch.tunable.NetworkProblem` (δ = t · the rule's weights)."""

    problem = NetworkProblem(model, train, likelihood, recipe, by=by, mode=mode, prior_mean=prior_mean, rule=rule)
    n = problem.train[0].shape[0]
    if isinstance(folds, (int, np.integer, bool)) and (isinstance(folds, bool) or not 2 <= int(folds) <= n):
        raise ValueError(f"folds must lie in 2..{n} or be a scikit-learn splitter, got {folds!r}")
    grid = np.logspace(-2, 2, 13) if grid is None else grid
    cv = int(folds) if isinstance(folds, (int, np.integer)) else folds
    result = GridSearch(cv=cv, n_jobs=n_jobs, grid=grid).tune_problem(problem)
    return NetTuneResult("cv", result.lambdas, model, result.trajectory, result.compute, curve=result.curve,
                         info={"best_delta": result.info["best_multiplier"], "cv_score": result.info["cv_score"]},
                         history=problem.history)


def tune_optuna(model, train, likelihood, recipe, *, val=None, val_fraction: float = 0.2, n_trials: int = 50,
                low: float = 1e-3, high: float = 1e3, storage=None, study_name: str | None = None,
                prune_every: int = 25, pruning: bool = True, by=None, mode="coupled", prior_mean=None):
    """Per-group δ ∈ [low, high] by Optuna TPE on a held-out split (``val`` or ``val_fraction``),
    median pruning on the held-out NLL every ``prune_every`` epochs, then a refit: the generic
    :class:`~lamina.tuners.search.OptunaSearch` on a :class:`~lamina.torch.tunable.NetworkProblem`."""

    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    problem = NetworkProblem(model, train, likelihood, recipe, by=by, mode=mode, prior_mean=prior_mean,
                             val_fraction=val_fraction, val=val, report_every=prune_every, delta_range=(low, high))
    search = OptunaSearch(n_trials=n_trials, cv=1, seed=recipe.seed, pruning=pruning, storage=storage,
                          study_name=study_name, warmup_steps=prune_every)
    result = search.tune_problem(problem)
    return NetTuneResult("optuna", result.lambdas, model, result.trajectory, result.compute, curve=result.curve,
                         info={"n_trials": result.info["n_trials"], "best_value": result.info["cv_score"],
                               "pruned": result.info["pruned"]}, history=problem.history)
