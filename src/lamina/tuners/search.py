"""Tuners written once for every family: they see only a :class:`~lamina.tuners.problem.TunableProblem`.

* :class:`GridSearch` — one λ for all groups, λ = t·d (d the problem's ``direction``), t on
  the problem's decreasing log grid; score = the problem's criterion over K folds (or one
  hold-out split); the t with the lowest score is refitted on all data.
* :class:`OptunaSearch` — Optuna's TPE over the vector log λ within the problem's bounds,
  through Optuna's ask/tell interface; trials are pruned (median rule) on the intermediate
  losses the problem reports (per epoch for networks, per fold for linear and inverse problems).
* :class:`HypergradientSearch` — descent on θ = log λ (scipy's L-BFGS-B, or projected gradient
  with backtracking) with the exact gradient of the held-out criterion,
  dV/dθ_g = λ_g dV/dλ_g, for problems that give ``split_loss_and_gradient`` (implicit
  differentiation; linear and inverse problems): several starts (the best single λ, and any
  λ vector or callable given), and re-entry probes for groups zero in every split where the
  problem gives ``split_entry`` (:mod:`lamina.tuners.hypergradient_probes`).

Each answers a :class:`~lamina.tuners.base.TuneResult` whose ``fitted`` is the problem's refit
and whose ``compute`` is what the problem counted (fits, epochs) plus the wall time.

>>> import numpy as np
>>> from lamina.inverse.tunable import OperatorProblem
>>> rng = np.random.default_rng(0)
>>> A = rng.standard_normal((80, 40)); x = np.zeros(40); x[:4] = 2.0
>>> result = GridSearch(n_values=15).tune_problem(OperatorProblem(A, A @ x + 0.1 * rng.standard_normal(80)))
>>> result.method, len(result.curve["score"])
('grid', 15)
"""
from __future__ import annotations

import copy

import numpy as np

from lamina._context import quiet_optuna
from lamina._validation import check_positive_float, check_positive_int
from lamina.tuners.base import Compute, Stopwatch, Tuner, TuneResult
from lamina.tuners.hypergradient_probes import OPTIMIZERS, Objective, run_start, single_lambda_start
from lamina.tuners.problem import check_problem


class ProblemTuner(Tuner):
    """Base of the tuners of :mod:`lamina.tuners.search`: ``tune_problem(problem) -> TuneResult``.

    ``tune`` is the same call (so that a ProblemTuner is a :class:`~lamina.tuners.base.Tuner`).
    """

    def tune(self, problem) -> TuneResult:
        return self.tune_problem(problem)

    def tune_problem(self, problem) -> TuneResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def _result(self, problem, lam, clock_seconds, **fields) -> TuneResult:
        compute = Compute(problem.compute.fits, problem.compute.epochs, clock_seconds)
        return TuneResult(self.name, dict(zip(problem.names, map(float, lam))), compute=compute, **fields)


class GridSearch(ProblemTuner):
    """One λ for every group (times the problem's direction) by K-fold or hold-out loss.

    Parameters
    ----------
    n_values : int, optional
        Grid size (the problem's default when None: 50 linear, 40 inverse, 13 network).
    grid : array, optional
        The multipliers t themselves (instead of the problem's default grid).
    cv : int or splitter
        Folds (1 = one hold-out split); a scikit-learn splitter where the family takes one.
    n_jobs : int
        joblib workers over (grid point, split) fits, for problems without a warm-started path
        (networks); each worker runs one torch thread.
    """

    name = "grid"

    def __init__(self, n_values: int | None = None, cv=5, n_jobs: int = 1, grid=None):
        self.n_values = None if n_values is None else check_positive_int(n_values, "n_values", minimum=2)
        self.cv, self.n_jobs = cv, n_jobs
        self.grid = None if grid is None else np.asarray(grid, dtype=np.float64)
        if self.grid is not None and (self.grid.ndim != 1 or self.grid.size == 0 or not np.all(np.isfinite(self.grid))
                                      or np.any(self.grid < 0)):
            raise ValueError(f"grid must be a non-empty 1-D array of non-negative values, got {grid!r}")

    def tune_problem(self, problem) -> TuneResult:
        problem = check_problem(problem)
        with Stopwatch() as clock:
            splits = problem.splits(self.cv)
            grid = problem.default_grid(self.n_values) if self.grid is None else self.grid
            lams = grid[:, None] * np.asarray(problem.direction, dtype=float)[None, :]
            per_split = self._losses(problem, lams, splits)            # (n_values, n_splits)
            scores = np.array([problem.criterion(row) for row in per_split])
            if not np.any(np.isfinite(scores)):
                raise RuntimeError("GridSearch: every grid point diverged or gave a non-finite score "
                                   "(lower the learning rate, or check the data)")
            best = int(np.nanargmin(np.where(np.isfinite(scores), scores, np.nan)))
            fitted = problem.refit(lams[best])
        names = problem.names
        return self._result(problem, lams[best], clock.seconds, fitted=fitted,
                            trajectory=[dict(zip(names, map(float, lam))) for lam in lams],
                            curve={"lam": grid.tolist(), "score": scores.tolist(), "folds": per_split.tolist()},
                            info={"cv_score": float(scores[best]), "best_multiplier": float(grid[best])})

    def _losses(self, problem, lams, splits) -> np.ndarray:
        if hasattr(problem, "split_path"):
            if self.n_jobs in (None, 1) or len(splits) == 1:
                return np.stack([problem.split_path(lams, split) for split in splits], axis=1)
            paths = self._in_parallel(problem, "split_path", [(lams, split) for split in splits])
            return np.stack(paths, axis=1)
        if self.n_jobs in (None, 1):
            return np.array([[problem.split_loss(lam, split) for split in splits] for lam in lams])
        values = self._in_parallel(problem, "split_loss", [(lam, split) for lam in lams for split in splits])
        return np.array(values).reshape(len(lams), len(splits))

    def _in_parallel(self, problem, method: str, arguments: list) -> list:
        """``problem.<method>(*a)`` for every ``a`` on ``n_jobs`` joblib workers; what each worker
        counted (fits, epochs) on its own copy of the problem is added to ``problem.compute``."""
        from joblib import Parallel, delayed
        worker = problem.for_workers() if hasattr(problem, "for_workers") else problem
        done = Parallel(n_jobs=self.n_jobs)(delayed(_counted)(worker, method, args) for args in arguments)
        for _, spent in done:
            problem.compute.fits += spent.fits
            problem.compute.epochs += spent.epochs
        return [value for value, _ in done]


def _counted(problem, method: str, args) -> tuple:
    """(``problem.<method>(*args)``, the Compute it spent), on a shallow copy of the problem with
    a fresh counter (so that threads or processes never add to a shared one)."""
    clone = copy.copy(problem)
    clone.compute = Compute()
    return getattr(clone, method)(*args), clone.compute


class OptunaSearch(ProblemTuner):
    """TPE over log λ_g ∈ [log lower_g, log upper_g] (the problem's bounds), ask/tell.

    Parameters
    ----------
    n_trials : int
    cv : int or splitter
        Splits of each trial's criterion (default 1: one hold-out split, as Optuna's examples).
    seed : int
        TPE sampler seed.
    pruning : bool
        Median pruning (after 5 complete trials) on the intermediate losses the problem reports.
    warmup_steps : int
        Intermediate steps before which no trial is pruned (Optuna's ``n_warmup_steps``).
    timeout : float, optional
        No new trial starts after this many seconds.
    storage, study_name : optional
        An Optuna storage (URL or object) to keep the trials in.
    """

    name = "search"

    def __init__(self, n_trials: int = 50, cv=1, seed: int = 0, pruning: bool = True, storage=None,
                 study_name: str | None = None, warmup_steps: int = 0, timeout: float | None = None):
        self.n_trials = check_positive_int(n_trials, "n_trials")
        self.cv, self.seed, self.pruning = cv, seed, bool(pruning)
        self.warmup_steps = int(warmup_steps)
        self.timeout = None if timeout is None else check_positive_float(timeout, "timeout")
        self.storage, self.study_name = storage, study_name

    def tune_problem(self, problem) -> TuneResult:
        import optuna
        from optuna.distributions import FloatDistribution
        from optuna.trial import TrialState

        problem = check_problem(problem)
        with Stopwatch() as clock, quiet_optuna():
            splits = problem.splits(self.cv)
            lower, upper = (np.asarray(v, dtype=float) for v in problem.bounds())
            if not np.all((0 < lower) & (lower < upper)):
                raise ValueError(f"the problem's bounds must satisfy 0 < lower < upper; got {lower}, {upper}")
            space = {key: FloatDistribution(float(lo), float(hi), log=True)
                     for key, lo, hi in zip(_parameter_names(problem.names), lower, upper)}
            pruner = (optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=self.warmup_steps)
                      if self.pruning else optuna.pruners.NopPruner())
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=self.seed), pruner=pruner,
                                        storage=self.storage, study_name=self.study_name,
                                        load_if_exists=self.storage is not None)
            for _ in range(self.n_trials):
                if self.timeout is not None and clock.elapsed() > self.timeout:
                    break
                trial = study.ask(space)
                lam = np.array([trial.params[key] for key in space])
                try:
                    value = self._criterion(problem, lam, splits, trial)
                except optuna.TrialPruned:
                    study.tell(trial, state=TrialState.PRUNED)
                    continue
                study.tell(trial, value if np.isfinite(value) else None,
                           state=TrialState.COMPLETE if np.isfinite(value) else TrialState.FAIL)
            complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
            if not complete:
                raise RuntimeError("OptunaSearch: no trial completed (every one was pruned or diverged)")
            lam = np.array([study.best_params[key] for key in space])
            fitted = problem.refit(lam)
        names = problem.names
        return self._result(
            problem, lam, clock.seconds, fitted=fitted,
            trajectory=[dict(zip(names, [t.params[k] for k in space])) for t in study.trials if t.params],
            curve={"trial": [t.number for t in complete], "score": [t.value for t in complete]},
            info={"cv_score": float(study.best_value), "n_trials": len(study.trials),
                  "pruned": sum(t.state == TrialState.PRUNED for t in study.trials)})

    def _criterion(self, problem, lam, splits, trial) -> float:
        """The trial's criterion; with one split the problem's own intermediate losses (epochs)
        are reported, with several the running mean after each split."""
        import optuna

        def report(step, value):
            trial.report(float(value), int(step))
            if trial.should_prune():
                raise optuna.TrialPruned()

        if len(splits) == 1:
            return float(problem.criterion([problem.split_loss(lam, splits[0], report if self.pruning else None)]))
        values = []
        for index, split in enumerate(splits):
            values.append(problem.split_loss(lam, split))
            if self.pruning and index < len(splits) - 1:
                report(index, float(np.mean(values)))
        return float(problem.criterion(values))


def _parameter_names(names) -> list[str]:
    """Optuna parameter names: the group names (readable in a dashboard), or lam_0 … when they
    do not make distinct strings."""
    keys = [str(name) for name in names]
    return keys if len(set(keys)) == len(keys) else [f"lam_{g}" for g in range(len(keys))]


class HypergradientSearch(ProblemTuner):
    """Descent on θ = log λ within the problem's bounds, exact hypergradients, several starts
    and re-entry probes (:mod:`lamina.tuners.hypergradient_probes`).

    The criterion V(λ) is the problem's combination of the held-out losses of its splits;
    its gradient comes from ``split_loss_and_gradient`` (implicit differentiation of the
    inner optimality conditions), dV/dθ_g = λ_g dV/dλ_g, so one evaluation costs one
    warm-started fit per split. V is not convex in log λ, so the descent runs from each start
    and the lowest V wins:

    * ``"path"`` — the best single λ (times the problem's direction) of a coarse grid of
      ``n_start`` values (:func:`~lamina.tuners.hypergradient_probes.single_lambda_start`);
    * ``(name, λ)`` — a λ vector, or a callable returning one (called when its turn comes, e.g.
      the evidence λ of a linear model), clipped to λ ≥ the smallest λ the path explored (below
      it the splits over-fit and every fit is slow) and skipped when it gives every group the
      same λ (a point of the path).

    Each start alternates descents with re-entry probes where the problem gives
    ``split_entry``: a group zero in every split has hypergradient 0 on a plateau of V, so the
    probe moves it to 0.9 × its entry threshold and keeps the point when V falls (where every
    start is one λ for all, the path's best point is searched from). ``info["budget_spent"]``
    says whether the chosen start stopped on its ``max_evals`` evaluations rather than by the
    optimizer's own test (a larger ``max_evals`` may then go further).

    Parameters
    ----------
    cv : int or splitter
    n_start : int
        Grid points of the one-λ start (fewer than 2, without ``start``: start at the geometric
        middle of the bounds).
    max_evals : int
        Evaluations of (V, ∇V), probes included, per start.
    start : array, optional
        λ per group to start from, instead of the starts below (no path is run).
    min_ratio : float, optional
        Floor of every λ_g at ``min_ratio`` × the largest starting λ (above the problem's own
        lower bound). Below it a group is effectively unregularized; on an under-determined
        problem the held-out gradient can keep pointing to λ_g → 0 while each inner solve
        approaches basis pursuit and slows down by orders of magnitude.
    starts : tuple
        ``"path"`` and/or ``(name, λ or callable)`` pairs, in the order they run.
    reentry : bool
        Re-entry probes (one evaluation each, within ``max_evals``).
    optimizer : "lbfgs" or "backtracking"
        scipy's L-BFGS-B, or projected gradient descent with Armijo backtracking
        (:func:`~lamina.tuners.hypergradient_probes.descend`).
    tol : float
        Relative improvement below which the backtracking descent stops.
    patience : int, optional
        The path start walks the splits in lockstep and stops after this many rising points;
        None walks the whole grid (on the problem's warm-started ``split_path`` where it has one).
    """

    name = "descent"

    def __init__(self, cv=5, n_start: int = 10, max_evals: int = 30, start=None, min_ratio: float | None = None,
                 starts=("path",), reentry: bool = True, optimizer: str = "lbfgs", tol: float = 1e-4,
                 patience: int | None = None):
        self.cv = cv
        self.n_start = int(n_start)
        self.max_evals = check_positive_int(max_evals, "max_evals")
        self.start = None if start is None else np.asarray(start, dtype=float)
        if self.start is not None and (self.start.ndim != 1 or np.any(~np.isfinite(self.start))
                                       or np.any(self.start <= 0)):
            raise ValueError(f"start must hold one λ > 0 per group, got {start!r}")
        self.min_ratio = None if min_ratio is None else check_positive_float(min_ratio, "min_ratio")
        self.starts = _check_starts(starts)
        if not isinstance(reentry, (bool, np.bool_)):
            raise ValueError(f"reentry must be True or False; got {reentry!r}")
        self.reentry = bool(reentry)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}; got {optimizer!r}")
        self.optimizer = optimizer
        self.tol = check_positive_float(tol, "tol")
        self.patience = None if patience is None else check_positive_int(patience, "patience")

    def tune_problem(self, problem) -> TuneResult:
        problem = check_problem(problem)
        if not hasattr(problem, "split_loss_and_gradient"):
            raise TypeError(f"tuner 'descent' needs exact hypergradients; the {problem.family} problem "
                            f"{type(problem).__name__} has no split_loss_and_gradient (use 'grid' or 'search')")
        with Stopwatch() as clock:
            splits = problem.splits(self.cv)
            box = getattr(problem, "descent_bounds", problem.bounds)()   # optional, wider: see problem.py
            lower, upper = (np.log(np.asarray(v, dtype=float)) for v in box)
            if self.start is not None:
                if self.start.shape != lower.shape:
                    raise ValueError(f"start must hold {lower.size} values (one per group), got {self.start.size}")
                upper = np.maximum(upper, np.log(self.start))
            if self.min_ratio is not None:   # a floor, never above a group's own upper bound
                top = np.max(self.start) if self.start is not None else np.exp(np.max(upper))
                lower = np.minimum(np.maximum(lower, np.log(self.min_ratio * top)), upper)
            objective = Objective(problem, splits)
            runs, path = {}, None

            def run(name, lam0):
                objective.label = name
                runs[name] = run_start(objective, lam0, lower, upper, max_evals=self.max_evals, tol=self.tol,
                                       reentry=self.reentry, optimizer=self.optimizer)
            if self.start is not None:
                points = [("start", np.clip(self.start, np.exp(lower), np.exp(upper)))]
            elif self.n_start < 2:
                points = [("middle", np.exp((lower + upper) / 2.0))]
            else:
                best_single, path = self._path(problem, splits)
                points = [("path", best_single) if start == "path" else start for start in self.starts]
            for name, lam0 in points:
                if path is not None and name != "path":
                    lam0 = np.asarray(lam0() if callable(lam0) else lam0, dtype=float)
                    if lam0.shape != lower.shape:
                        raise ValueError(f"start {name!r} must hold {lower.size} values (one per group), "
                                         f"got shape {lam0.shape}")
                    lam0 = np.clip(lam0, np.maximum(np.exp(lower), path["floor"]), np.exp(upper))
                    if np.allclose(lam0, lam0[0], rtol=1e-9):
                        continue                         # one λ for all: a point of the path, searched
                run(name, lam0)
            if not runs:   # every start was one λ for all: the path's best point, searched from
                run("path", best_single)
            chosen = min(runs, key=lambda k: runs[k].value)
            best = runs[chosen]
            lam = np.exp(best.theta)
            fitted = problem.refit(lam)
        names = problem.names
        named = lambda values: dict(zip(names, map(float, values)))      # noqa: E731
        return self._result(
            problem, lam, clock.seconds, fitted=fitted, trajectory=[named(np.exp(t)) for t in best.trajectory],
            curve={"step": list(range(len(objective.history))), "score": [v for _, v in objective.history],
                   "descent": list(objective.labels), "probe": list(objective.probes),
                   "start_lam": [] if path is None else path["grid"], "start_score": [] if path is None else path["score"]},
            info={"cv_score": float(best.value), "start": named(best.start), "chosen_start": chosen,
                  "starts": {k: {"lam": named(np.exp(r.theta)), "cv_score": float(r.value),
                                 "reentered": [names[g] for g in r.reentered]} for k, r in runs.items()},
                  "reentered": [names[g] for g in best.reentered], "evaluations": len(objective.history),
                  "budget_spent": best.budget_spent})

    def _path(self, problem, splits):
        """The best single λ of ``n_start`` grid points (times the direction), and the record of
        the points explored: grid, criteria, and the smallest λ explored (``floor`` of the
        other starts)."""
        grid = problem.default_grid(self.n_start)
        lams = grid[:, None] * np.asarray(problem.direction, dtype=float)[None, :]
        if self.patience is None:
            per_split = GridSearch(cv=self.cv)._losses(problem, lams, splits)
            scores = np.array([problem.criterion(row) for row in per_split])
            best = lams[int(np.argmin(scores))]
        else:
            best, scores = single_lambda_start(problem, splits, lams, self.patience)
        return best, {"grid": grid[: len(scores)].tolist(), "score": [float(v) for v in scores],
                      "floor": lams[len(scores) - 1]}


def _check_starts(starts) -> tuple:
    """``starts`` as a tuple of "path" and (name, λ or callable) pairs, or a ValueError."""
    items = (starts,) if isinstance(starts, str) else tuple(starts)
    ok = bool(items) and all(item == "path" or (isinstance(item, tuple) and len(item) == 2
                                                and isinstance(item[0], str) and item[0] != "path")
                             for item in items)
    if not ok or len({item if item == "path" else item[0] for item in items}) != len(items):
        raise ValueError(f"starts must be a non-empty tuple of 'path' and distinct (name, λ) pairs; got {starts!r}")
    return items
