"""A network and its training recipe as a :class:`~lamina.tuners.problem.TunableProblem`.

λ_g is δ_g, the prior precision of mean task loss + 1/(2N) Σ_g δ_g ‖W_g − μ_g‖². Every fit
starts from the model's initial weights (a deep copy) with the same recipe; a split's loss is
the held-out mean NLL after a full training run on its training part, reported every
``report_every`` epochs so that a search can prune (Optuna's median rule). The criterion is the
held-out NLL per held-out sample (the splits' losses weighted by their sizes, as for linear and
inverse problems: a plain mean over splits of 24, 3 and 3 samples had read 1.807 for 1.873); the
refit trains the user's model in place on all data.
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch

from lamina._context import torch_threads
from lamina.torch.fit import as_tensors, evaluate, fit, model_device, model_dtype
from lamina.torch.hypergradient import split_train
from lamina.torch.penalty import Regularizer
from lamina.torch.rules import make_rule
from lamina.tuners.base import Compute
from lamina.tuners.problem import Report, weighted_mean
from lamina.tuners.splits import cv_splits


class _ReportEvery:
    """Training callback: ``report(epoch, held-out NLL)`` every ``every`` epochs."""

    def __init__(self, model, val, likelihood, every: int, report: Report):
        self.model, self.val, self.likelihood, self.every, self.report = model, val, likelihood, every, report

    def on_epoch_end(self, epoch, optimizer):
        if (epoch + 1) % self.every:
            return
        score = evaluate(self.model, self.val, self.likelihood)["nll"]   # each module's mode given back
        self.report(epoch, score if math.isfinite(score) else float("inf"))


class _CountEpochs:
    def __init__(self, counter: list):
        self.counter = counter

    def on_epoch_end(self, epoch, optimizer):
        self.counter[0] = epoch + 1


class NetworkProblem:
    """Tunable δ vector of ``model`` trained with ``recipe`` (see module docstring).

    Parameters
    ----------
    model : nn.Module
        Its current weights are the initial weights of every fit; the refit trains it in place.
    train : (X, y)
    likelihood : a lamina likelihood object (see :func:`lamina.torch.likelihoods.make_likelihood`)
    recipe : :class:`lamina.torch.tune.Recipe`
    by, mode, prior_mean
        As in :func:`lamina.torch.tune`.
    rule : str
        Scaling rule giving the relative δ per group of a one-δ search (``direction``).
    val_fraction : float
        Held-out share of the single split (``cv=1``).
    val : (X, y), optional
        Held-out data of the single split instead (the fits and the refit then use all of ``train``).
    report_every : int
        Epochs between intermediate held-out losses.
    delta_range : (low, high)
        Bounds of every δ_g for searches of the vector (default 10⁻³ … 10³).
    threads : int, optional
        torch threads inside a fit (1 in parallel workers).
    """

    family = "network"

    def __init__(self, model, train, likelihood, recipe, *, by=None, mode="coupled", prior_mean=None,
                 rule="uniform", val_fraction: float = 0.2, val=None, report_every: int = 25,
                 threads: int | None = None, delta_range=(1e-3, 1e3)):
        self.device, self.dtype = model_device(model), model_dtype(model)
        self.model, self.likelihood, self.recipe = model, likelihood, recipe
        self.train = as_tensors(train, likelihood, self.device, "train", self.dtype)
        self.by, self.mode, self.prior_mean = by, mode, prior_mean
        self.val_fraction, self.report_every, self.threads = val_fraction, int(report_every), threads
        self.val = None if val is None else as_tensors(val, likelihood, self.device, "val", self.dtype)
        regularizer = Regularizer(model, int(self.train[0].shape[0]), by=by)
        self.names = tuple(regularizer.names)
        self.direction = np.asarray(make_rule(rule, regularizer.reg_groups)[0], dtype=float)
        self.init = copy.deepcopy(model)
        self.compute = Compute()
        self._held_out_sizes = None   # of the last splits(): the criterion's weights
        self.delta_range = (float(delta_range[0]), float(delta_range[1]))
        self.history: dict = {}

    def for_workers(self) -> "NetworkProblem":
        """A copy whose fits run one torch thread (for joblib workers)."""
        clone = copy.copy(self)
        clone.threads = 1
        return clone

    def splits(self, cv) -> list:
        """One hold-out split of ``val_fraction`` for 1 (or the given ``val``); otherwise the folds
        of :func:`lamina.tuners.splits.cv_splits` over the training rows: an int K ≥ 2 is the
        shuffled K-fold of every family (seeded with the recipe's seed), anything else a
        scikit-learn splitter (``check_cv``; stratified where it stratifies on the labels)."""
        X, y = self.train
        self._held_out_sizes = None
        if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool) and cv == 1:
            if self.val is not None:
                return [(self.train, self.val)]
            return [split_train(self.train, self.likelihood, self.device, self.val_fraction, self.recipe.seed,
                                self.dtype)]
        if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool) and not 2 <= int(cv) <= X.shape[0]:
            raise ValueError(f"cv must be 1 (a hold-out split) or a number of folds in 2..{X.shape[0]}, got {cv!r}")
        labels = y.detach().cpu().numpy()
        pairs = cv_splits(np.zeros((X.shape[0], 1)), labels, cv, self.recipe.seed, min_rows=2)
        out = []
        for train, val in pairs:
            tr, va = (torch.as_tensor(index, device=X.device) for index in (train, val))
            out.append(((X[tr], y[tr]), (X[va], y[va])))
        self._held_out_sizes = [len(val) for _, val in pairs]
        return out

    def criterion(self, values) -> float:
        """The held-out NLL per held-out sample: the splits' mean losses weighted by their sizes
        (of the last :meth:`splits`; one split: its loss), as the linear and inverse problems."""
        sizes = self._held_out_sizes
        if sizes is None or len(sizes) != len(values):
            return float(np.mean(values))
        return weighted_mean(values, sizes)

    def split_loss(self, lam, split, report: Report | None = None) -> float:
        with torch_threads(self.threads):
            return self._split_loss(lam, split, report)

    def _split_loss(self, lam, split, report: Report | None) -> float:
        (fit_data, val_data) = split
        net, lik = copy.deepcopy(self.init), copy.deepcopy(self.likelihood)
        reg = Regularizer(net, int(fit_data[0].shape[0]), np.asarray(lam, dtype=float).tolist(), mode=self.mode,
                          by=self.by, prior_mean=self.prior_mean)
        callbacks = [] if report is None else [_ReportEvery(net, val_data, lik, self.report_every, report)]
        epochs = [0]
        callbacks.insert(0, _CountEpochs(epochs))     # first: an epoch a pruner stops still counts
        try:
            fit(net, fit_data, likelihood=lik, epochs=self.recipe.epochs, lr=self.recipe.lr,
                batch_size=self.recipe.batch_size, seed=self.recipe.seed, optimizer=self.recipe.optimizer,
                regularizer=reg, callbacks=callbacks, record_lambdas=False)
        except FloatingPointError:
            return float("inf")
        finally:        # a pruned or diverged fit counts the epochs it ran
            self.compute.fits += epochs[0] / self.recipe.epochs
            self.compute.epochs += epochs[0]
        return float(evaluate(net, val_data, lik)["nll"])

    def refit(self, lam):
        """Train the user's model in place on all data at δ = ``lam``; returns it."""
        reg = Regularizer(self.model, int(self.train[0].shape[0]), np.asarray(lam, dtype=float).tolist(),
                          mode=self.mode, by=self.by, prior_mean=self.prior_mean)
        out = fit(self.model, self.train, likelihood=self.likelihood, epochs=self.recipe.epochs, lr=self.recipe.lr,
                  batch_size=self.recipe.batch_size, seed=self.recipe.seed, optimizer=self.recipe.optimizer,
                  regularizer=reg)
        self.compute.fits += 1.0
        self.compute.epochs += out.epochs
        self.history = out.history
        return self.model

    def default_grid(self, n_values: int | None = None) -> np.ndarray:
        """n values of δ from 10² down to 10⁻² (13 by default: the benchmark's one-δ grid)."""
        return np.logspace(2, -2, 13 if n_values is None else int(n_values))

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """δ_g ∈ ``delta_range`` (10⁻³ … 10³ by default)."""
        n = len(self.names)
        return np.full(n, self.delta_range[0]), np.full(n, self.delta_range[1])
