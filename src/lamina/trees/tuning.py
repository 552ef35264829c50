"""Tuners of the λ per tree depth; each answers ``tune(X32, y, spec, base=None) -> TuneResult``.

λ is reported per depth, ``{"depth_1": λ_1, …, "depth_D": λ_D}`` (the λ of the leaves at depth k,
see :mod:`lamina.trees.boosting`). The criterion is the mean held-out loss over K folds (mean
squared error, log-loss or multinomial log-loss), each fold a full boosted fit from the initial
scores ``base`` (the model's ``base_score``; :func:`lamina.trees.boosting.default_base` when None):

* :class:`GridCVTuner` — one λ on a log grid times a rule's scaling (:mod:`lamina.trees.rules`:
  uniform = xgboost's single λ, growing, node_count);
* :class:`OptunaTuner` — Optuna's TPE (seeded, ask/tell) over log λ_k of every depth;
* :class:`HypergradientTuner` — from the best λ of a short single-λ grid, gradient descent on
  θ = log λ with the gradient of the held-out loss with the trees' structure fixed
  (:mod:`lamina.trees.replay`) and a backtracking line search on the refitted loss
  (:func:`lamina.tuners.linear.descend`).

Search range per depth: λ ∈ [10⁻² s_D, 10 s_1], with s_k = n h̄ / 2^k the hessian sum of a leaf at
depth k in a balanced tree (n training rows, h̄ the mean hessian at the initial scores).
"""
from __future__ import annotations

from enum import Enum

import numpy as np
from sklearn.model_selection import KFold, ShuffleSplit, StratifiedKFold, check_cv

from lamina._context import quiet_optuna
from lamina._validation import check_positive_int, parse_choice
from lamina.trees._binning import apply_bins, fit_bins
from lamina.trees.boosting import BoostSpec, Loss, boost, default_base, gradients, loss_value
from lamina.trees.replay import replay
from lamina.trees.rules import depth_lambdas
from lamina.tuners.base import Compute, Stopwatch, TuneResult, Tuner
from lamina.tuners.linear import descend


class _Fold:
    """One training/held-out split: binned training rows, raw held-out rows, fit and score
    (boosting from the initial scores ``base``, default ones when None)."""

    def __init__(self, X32, y, train, val, spec: BoostSpec, base=None):
        self.spec, self.base = spec, base
        self.X_train, self.X_val = X32[train], X32[val]
        self.y_train, self.y_val = y[..., train], y[..., val]
        self.bins = fit_bins(self.X_train, spec.max_bins)
        self.Xb = apply_bins(self.X_train, self.bins)
        self.n_fits = 0

    def fit(self, lam):
        self.n_fits += 1
        return boost(self.Xb, self.bins, self.y_train, self.spec, lam, base=self.base)

    def score(self, lam) -> float:
        return loss_value(self.spec.loss, self.y_val, self.fit(lam).raw_predict(self.X_val))

    def value_and_gradient(self, lam):
        """Held-out loss at λ (refitted) and its gradient in λ with the new structure fixed."""
        ensemble = self.fit(lam)
        value, grad, _ = replay(ensemble, self.spec, lam, ensemble.apply(self.X_train), self.y_train,
                                ensemble.apply(self.X_val), self.y_val)
        return value, grad


def make_folds(X32, y, spec: BoostSpec, cv, seed: int, base=None) -> list[_Fold]:
    """K folds (stratified for classification, shuffled with ``seed``), one 80/20 split when
    ``cv == 1``, or the folds of any scikit-learn splitter ``cv`` (through ``check_cv``; the
    class labels reach its ``split``); every fold boosts from the initial scores ``base``."""
    labels = y if spec.loss is Loss.LOGISTIC else (np.argmax(y, axis=0) if spec.loss is Loss.SOFTMAX else None)
    if isinstance(cv, (int, np.integer)) or isinstance(cv, bool):
        cv = check_positive_int(cv, "cv")
        if cv == 1:
            splitter = ShuffleSplit(n_splits=1, test_size=0.2, random_state=seed)
        elif labels is None:
            splitter = KFold(cv, shuffle=True, random_state=seed)
        else:
            splitter = StratifiedKFold(cv, shuffle=True, random_state=seed)
    else:
        try:
            splitter = check_cv(cv, labels, classifier=labels is not None)
        except (TypeError, ValueError) as error:
            raise ValueError(f"cv must be an int or a scikit-learn splitter; got {cv!r} ({error})") from None
    return [_Fold(X32, y, np.asarray(train), np.asarray(val), spec, base)
            for train, val in splitter.split(X32, labels if labels is not None else None)]


def lam_bounds(y, spec: BoostSpec, n: int, base=None) -> tuple[float, float]:
    """(10⁻² s_D, 10 s_1), s_k = n h̄ / 2^k (module docstring); n the training rows of a fold, h̄
    the mean hessian at the initial scores ``base`` (default ones when None)."""
    n_outputs = y.shape[0] if spec.loss is Loss.SOFTMAX else 1
    start = default_base(spec.loss, y) if base is None else np.asarray(base, dtype=np.float64).reshape(n_outputs)
    _, h = gradients(spec.loss, y, np.zeros((n_outputs, y.shape[-1])) + start[:, None])
    total = n * float(np.mean(h))
    return 1e-2 * total / 2.0 ** spec.max_depth, 10.0 * total / 2.0


def _names(max_depth: int) -> list[str]:
    return [f"depth_{k}" for k in range(1, max_depth + 1)]


def _as_dict(lam) -> dict:
    return {name: float(v) for name, v in zip(_names(len(lam)), lam)}


def _cv_score(folds, lam) -> float:
    sizes = np.array([f.y_val.shape[-1] for f in folds], dtype=float)
    return float(np.dot(sizes / sizes.sum(), [f.score(lam) for f in folds]))


def _criterion(spec: BoostSpec) -> str:
    return "mse" if spec.loss is Loss.SQUARED else "log_loss"


class TreeTuner(Tuner):
    """Base of the tree tuners: ``tune(X32, y, spec, base=None) -> TuneResult`` (y and the initial
    scores ``base`` as :func:`boost` takes them)."""

    def tune(self, X32, y, spec: BoostSpec, base=None) -> TuneResult:  # pragma: no cover - abstract
        raise NotImplementedError


class GridCVTuner(TreeTuner):
    """One λ times a rule's scaling per depth, chosen by K-fold CV on a log grid.

    Parameters
    ----------
    cv : int or scikit-learn splitter
        Folds (1 = one 80/20 hold-out split), or any splitter (``check_cv``).
    n_lams : int
        Grid size over the search range (module docstring).
    rule : {"uniform", "growing", "node_count"}
        λ_k = t · s_k with s_k of :func:`lamina.trees.rules.depth_lambdas`.
    factor : float
        c of the "growing" rule.
    seed : int
    """

    name = "cv"

    def __init__(self, cv: int = 5, n_lams: int = 13, rule: str = "uniform", factor: float = 2.0, seed: int = 0):
        self.cv, self.n_lams, self.rule, self.factor, self.seed = cv, n_lams, rule, factor, seed

    def tune(self, X32, y, spec: BoostSpec, base=None) -> TuneResult:
        with Stopwatch() as clock:
            direction = depth_lambdas(self.rule, 1.0, spec.max_depth, self.factor)
            folds = make_folds(X32, y, spec, self.cv, self.seed, base)
            lower, upper = lam_bounds(y, spec, folds[0].Xb.shape[0], base)
            grid = np.geomspace(lower, upper / direction.max(), check_positive_int(self.n_lams, "n_lams"))
            scores = np.array([_cv_score(folds, t * direction) for t in grid])
            best = int(np.argmin(scores))
        lam = grid[best] * direction
        return TuneResult(self.name, _as_dict(lam), compute=Compute(fits=sum(f.n_fits for f in folds),
                                                                    seconds=clock.seconds),
                          curve={"lam": grid.tolist(), "score": scores.tolist(), "criterion": _criterion(spec)},
                          info={"cv_score": float(scores[best]), "rule": self.rule})


class OptunaTuner(TreeTuner):
    """Optuna TPE over log λ_k of every depth, K-fold held-out loss (ask/tell, seeded).

    The first trial is the single λ at the geometric middle of the search range.

    Parameters
    ----------
    n_trials : int
    cv : int or scikit-learn splitter
    seed : int
        Sampler seed and fold shuffling.
    """

    name = "optuna"

    def __init__(self, n_trials: int = 30, cv: int = 5, seed: int = 0):
        self.n_trials, self.cv, self.seed = n_trials, cv, seed

    def tune(self, X32, y, spec: BoostSpec, base=None) -> TuneResult:
        import optuna
        names = _names(spec.max_depth)
        with Stopwatch() as clock, quiet_optuna():
            folds = make_folds(X32, y, spec, self.cv, self.seed, base)
            lower, upper = np.log(lam_bounds(y, spec, folds[0].Xb.shape[0], base))
            study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=self.seed))
            study.enqueue_trial({k: 0.5 * (lower + upper) for k in names})
            for _ in range(check_positive_int(self.n_trials, "n_trials")):
                trial = study.ask()
                lam = np.exp([trial.suggest_float(k, lower, upper) for k in names])
                study.tell(trial, _cv_score(folds, lam))
            lam = np.exp([study.best_params[k] for k in names])
        scores = [t.value for t in study.trials]
        return TuneResult(
            self.name, _as_dict(lam), trajectory=[_as_dict(np.exp([t.params[k] for k in names])) for t in study.trials],
            compute=Compute(fits=sum(f.n_fits for f in folds), seconds=clock.seconds),
            curve={"trial": list(range(len(scores))), "score": scores, "criterion": _criterion(spec)},
            info={"cv_score": float(study.best_value), "n_trials": len(study.trials)})


class HypergradientTuner(TreeTuner):
    """λ per depth by descent on θ = log λ with the structure-fixed hypergradient.

    Start: the best single λ of ``n_start`` grid points (as :class:`GridCVTuner`). Each
    evaluation refits every fold at λ, returns the mean held-out loss and its gradient with the
    refitted trees' splits fixed (:func:`lamina.trees.replay.replay`), times λ (chain rule to
    θ). :func:`lamina.tuners.linear.descend` accepts a step only when the refitted loss falls
    (Armijo), so a gradient blind to the splits moving cannot make the answer worse than its
    start.

    Parameters
    ----------
    cv : int or scikit-learn splitter
        Folds (1 = one 80/20 hold-out split), or any splitter (``check_cv``).
    n_start : int
        Single-λ grid of the start.
    max_evals : int
        Evaluations of the descent (each one fit per fold).
    tol : float
        Relative improvement below which the descent stops.
    seed : int
    """

    name = "hypergradient"

    def __init__(self, cv: int = 5, n_start: int = 5, max_evals: int = 10, tol: float = 1e-4, seed: int = 0):
        self.cv, self.n_start, self.max_evals, self.tol, self.seed = cv, n_start, max_evals, tol, seed

    def tune(self, X32, y, spec: BoostSpec, base=None) -> TuneResult:
        history = []
        with Stopwatch() as clock:
            folds = make_folds(X32, y, spec, self.cv, self.seed, base)
            lower, upper = lam_bounds(y, spec, folds[0].Xb.shape[0], base)
            grid = np.geomspace(lower, upper, check_positive_int(self.n_start, "n_start"))
            start_scores = [_cv_score(folds, np.full(spec.max_depth, t)) for t in grid]
            lam0 = np.full(spec.max_depth, grid[int(np.argmin(start_scores))])
            sizes = np.array([f.y_val.shape[-1] for f in folds], dtype=float)
            weights = sizes / sizes.sum()

            def objective(theta):
                lam = np.exp(theta)
                values, grads = zip(*(fold.value_and_gradient(lam) for fold in folds))
                value = float(np.dot(weights, values))
                history.append((lam.copy(), value))
                return value, np.tensordot(weights, np.array(grads), axes=1) * lam

            bounds = (np.full(spec.max_depth, np.log(lower)), np.full(spec.max_depth, np.log(upper)))
            theta, value, trajectory = descend(objective, np.log(lam0), *bounds,
                                               max_evals=check_positive_int(self.max_evals, "max_evals"), tol=self.tol)
        lam = np.exp(theta)
        return TuneResult(
            self.name, _as_dict(lam), trajectory=[_as_dict(np.exp(t)) for t in trajectory],
            compute=Compute(fits=sum(f.n_fits for f in folds), seconds=clock.seconds),
            curve={"step": list(range(len(history))), "score": [v for _, v in history],
                   "start_lam": grid.tolist(), "start_score": start_scores, "criterion": _criterion(spec)},
            info={"cv_score": float(value), "start": _as_dict(lam0), "start_cv_score": float(min(start_scores))})


class TunerName(str, Enum):
    """Names ``tuner=`` accepts."""

    AUTO = "auto"
    HYPERGRADIENT = "hypergradient"
    CV = "cv"
    OPTUNA = "optuna"


_TUNERS = {TunerName.HYPERGRADIENT: HypergradientTuner, TunerName.CV: GridCVTuner, TunerName.OPTUNA: OptunaTuner}


def make_tuner(tuner, seed: int = 0) -> TreeTuner:
    """A tree tuner from a name ("auto" = "hypergradient", "hypergradient", "cv", "optuna") or an instance."""
    if isinstance(tuner, TreeTuner):
        return tuner
    name = parse_choice(TunerName, tuner, "tuner")
    if name is TunerName.AUTO:
        name = TunerName.HYPERGRADIENT
    return _TUNERS[name](seed=seed)
