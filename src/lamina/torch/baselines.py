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

import copy
import math

import numpy as np
import torch

from lamina.torch.fit import as_tensors, evaluate, fit, model_device, model_dtype
from lamina.torch.hypergradient import split_train
from lamina.torch.penalty import Regularizer
from lamina.torch.rules import make_rule
from lamina.tuners.base import Compute


def _refit(model, train, likelihood, recipe, deltas, by, mode, prior_mean=None):
    reg = Regularizer(model, int(train[0].shape[0]), deltas, mode=mode, by=by, prior_mean=prior_mean)
    out = fit(model, train, likelihood=likelihood, epochs=recipe.epochs, lr=recipe.lr,
              batch_size=recipe.batch_size, seed=recipe.seed, optimizer=recipe.optimizer, regularizer=reg)
    return reg, out


def tune_cv(model, train, likelihood, recipe, *, grid=None, folds: int = 5, n_jobs: int = 1, rule="uniform",
            by=None, mode="coupled", prior_mean=None):
    """One δ by K-fold cross-validation over ``grid`` (default 13 values, 10⁻² … 10²): the
    generic :class:`~lamina.tuners.search.GridSearch` on a
    :class:`~lamina.torch.tunable.NetworkProblem` (δ = t · the rule's weights)."""
    from lamina.torch.tunable import NetworkProblem
    from lamina.torch.tune import NetTuneResult
    from lamina.tuners.search import GridSearch

    problem = NetworkProblem(model, train, likelihood, recipe, by=by, mode=mode, prior_mean=prior_mean, rule=rule)
    n = problem.train[0].shape[0]
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or not 2 <= int(folds) <= n:
        raise ValueError(f"folds must lie in 2..{n}, got {folds!r}")
    grid = np.logspace(-2, 2, 13) if grid is None else grid
    result = GridSearch(cv=int(folds), n_jobs=n_jobs, grid=grid).tune_problem(problem)
    return NetTuneResult("cv", result.lambdas, model, result.trajectory, result.compute, curve=result.curve,
                         info={"best_delta": result.info["best_multiplier"], "cv_score": result.info["cv_score"]},
                         history=problem.history)


class _PruningCallback:
    def __init__(self, trial, model, val, likelihood, every):
        self.trial, self.model, self.val, self.likelihood, self.every = trial, model, val, likelihood, every
        self.epochs_run = 0

    def on_epoch_end(self, epoch, optimizer):
        import optuna
        self.epochs_run = epoch + 1
        if (epoch + 1) % self.every:
            return
        score = evaluate(self.model, self.val, self.likelihood)["nll"]
        self.model.train()
        if not math.isfinite(score):
            raise optuna.TrialPruned()
        self.trial.report(score, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned()


def tune_optuna(model, train, likelihood, recipe, *, val=None, val_fraction: float = 0.2, n_trials: int = 50,
                low: float = 1e-3, high: float = 1e3, storage=None, study_name: str | None = None,
                prune_every: int = 25, pruning: bool = True, by=None, mode="coupled", prior_mean=None):
    """Per-group δ by Optuna TPE on a held-out split (``val`` or ``val_fraction``), then refit."""
    import optuna

    from lamina.torch.tune import NetTuneResult
    if not 0 < low < high:
        raise ValueError(f"need 0 < low < high, got low={low}, high={high}")
    device = model_device(model)
    if val is None:
        fit_data, val_data = split_train(train, likelihood, device, val_fraction, recipe.seed, model_dtype(model))
    else:
        fit_data = as_tensors(train, likelihood, device, "train", model_dtype(model))
        val_data = as_tensors(val, likelihood, device, "val", model_dtype(model))
    names = Regularizer(model, 1).names
    init = copy.deepcopy(model)
    epochs_spent = [0.0]

    def objective(trial):
        deltas = [trial.suggest_float(name, low, high, log=True) for name in names]
        net = copy.deepcopy(init)
        lik = copy.deepcopy(likelihood)
        reg = Regularizer(net, int(fit_data[0].shape[0]), deltas, mode=mode, by=by, prior_mean=prior_mean)
        callbacks = [_PruningCallback(trial, net, val_data, lik, prune_every)] if pruning else []
        try:
            out = fit(net, fit_data, likelihood=lik, epochs=recipe.epochs, lr=recipe.lr,
                      batch_size=recipe.batch_size, seed=recipe.seed, optimizer=recipe.optimizer,
                      regularizer=reg, callbacks=callbacks, record_lambdas=False)
        except optuna.TrialPruned:
            epochs_spent[0] += callbacks[0].epochs_run
            raise
        except FloatingPointError:
            epochs_spent[0] += recipe.epochs
            return float("inf")
        epochs_spent[0] += out.epochs
        return evaluate(net, val_data, lik)["nll"]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=recipe.seed)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=prune_every) if pruning \
        else optuna.pruners.NopPruner()
    study = optuna.create_study(direction="minimize", sampler=sampler, pruner=pruner, storage=storage,
                                study_name=study_name, load_if_exists=storage is not None)
    study.optimize(objective, n_trials=int(n_trials))
    best = [study.best_params[name] for name in names]
    reg, out = _refit(model, as_tensors(train, likelihood, device, "train", model_dtype(model)), likelihood, recipe,
                    best, by, mode, prior_mean)
    trajectory = [dict(zip(names, [t.params[n] for n in names])) for t in study.trials if t.params]
    fits = epochs_spent[0] / recipe.epochs + 1.0
    return NetTuneResult("optuna", reg.lambdas, model, trajectory,
                         Compute(fits=fits, epochs=epochs_spent[0] + out.epochs),
                         curve={"score": [t.value for t in study.trials]},
                         info={"n_trials": len(study.trials), "best_value": study.best_value,
                               "pruned": sum(t.state.name == "PRUNED" for t in study.trials)},
                         history=out.history)
