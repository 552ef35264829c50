"""Tuners of a λ per feature group for linear models (regression and logistic).

Every tuner answers ``tune(X, y, spec) -> TuneResult`` with λ in scikit-learn's scaling,
objective 1/n Σ loss + Σ_g λ_g R(w_g) (see :mod:`lamina.tuners.linear_data` for ``spec``):

* :class:`EvidenceTuner` — grouped ARD / MacKay fixed point (empirical Bayes): exact for
  ridge, Laplace-approximated for logistic ridge; for L1-type penalties the prior precision is
  mapped to the Laplace prior of equal variance (a heuristic, flagged in ``info``).
* :class:`HypergradientTuner` — minimizes the K-fold (or hold-out) loss over θ = log λ by
  gradient descent with backtracking; gradients by implicit differentiation
  (:mod:`lamina.tuners.linear_implicit`), solutions warm-started from the previous step,
  started from the best single λ of a warm-started path and, where cheap, also from the
  evidence λ (the loss is not convex in log λ; the lower of the two descents wins); groups
  zero in every fold, where the gradient is blind, are probed back in at their entry threshold.
* :class:`GridCVTuner` — baseline: one λ for all groups (λ = t·direction) along a warm-started
  path, K folds run in parallel with joblib, t with the lowest mean held-out loss.
* :class:`OptunaTuner` — baseline: Optuna's TPE over the vector log λ, same K-fold criterion.

Held-out loss: mean squared error (regression) or mean log-loss (logistic).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from lamina.penalties import ElasticNet, GroupL1
from lamina.tuners.base import Compute, Stopwatch, TuneResult, Tuner
from lamina.tuners.linear_data import LinearSpec, Loss, TrainingSet, entry_thresholds, lam_max, make_folds
from lamina.tuners.linear_evidence import GroupKernels, grouped_evidence, laplace_evidence
from lamina.tuners.linear_implicit import fold_value_and_gradient

#: λ given to a group the evidence switched off, in units of that group's λ_max scale
OFF = 1e6


class TunerName(str, Enum):
    """Names ``tuner=`` accepts."""

    AUTO = "auto"
    EVIDENCE = "evidence"
    HYPERGRADIENT = "hypergradient"
    CV = "cv"
    OPTUNA = "optuna"


def _names(spec: LinearSpec) -> tuple:
    return spec.groups.names


def _as_dict(spec: LinearSpec, lam) -> dict:
    return {name: float(value) for name, value in zip(_names(spec), lam)}


def _bounds(X, y, spec: LinearSpec, sample_weight=None) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) λ per group searched by hypergradient and Optuna.

    L1-type: [λ_max,g · 10⁻³, λ_max,g] (above λ_max,g the group is off and the loss flat).
    Ridge: [10⁻⁷, 10³] × the mean feature variance (λ is in units of ‖x_j‖²/n).
    """
    if spec.is_ridge:
        X2 = X.multiply(X) if hasattr(X, "multiply") else X * X
        var = np.asarray(X2.mean(axis=0)).ravel()
        if spec.fit_intercept:
            var = var - np.asarray(X.mean(axis=0)).ravel() ** 2
        scale = max(float(np.mean(var)), 1e-12)
        return np.full(spec.groups.n_groups, 1e-7 * scale), np.full(spec.groups.n_groups, 1e3 * scale)
    top = lam_max(X, y, spec, sample_weight)
    return top * 1e-3, top


def _grid(bounds, spec: LinearSpec, n_lams: int, direction=None) -> np.ndarray:
    """Single-λ grid, (n_lams, n_groups), within bounds (``_bounds``), decreasing along
    direction (ones by default)."""
    direction = np.ones(spec.groups.n_groups) if direction is None else np.asarray(direction, float)
    lower, upper = bounds
    top = float(np.max(upper / direction))
    bottom = float(np.min(lower / direction)) if spec.is_ridge else top * 1e-3
    return np.geomspace(top, bottom, n_lams)[:, None] * direction[None, :]


def _fold_curve(fold, lams, keep_coefs=False):
    """Held-out loss of one fold along a (warm-started) grid."""
    losses, coefs = [], []
    for lam in lams:
        x = fold.train.fit(lam)
        losses.append(fold.validation_loss(x))
        if keep_coefs:
            coefs.append(x.copy())
    return np.array(losses), coefs, fold.train.n_iter, fold.train.n_fits


def _mean_over_folds(folds, values):
    sizes = np.array([f.size for f in folds], dtype=float)
    return np.tensordot(sizes / sizes.sum(), np.asarray(values), axes=1)


class LinearTuner(Tuner):
    """Base of the linear tuners: ``tune(X, y, spec) -> TuneResult`` (λ in sklearn scale)."""

    def tune(self, X, y, spec: LinearSpec, cv_groups=None,
             sample_weight=None) -> TuneResult:  # pragma: no cover - abstract
        """``cv_groups``: one label per sample, passed to the ``split`` of a splitter given as
        ``cv`` (GroupKFold …); ignored by tuners that do not cross-validate.
        ``sample_weight``: weights of the samples in the fits and in the held-out loss
        (Σ s_i ℓ_i / Σ s_i); the evidence tuner refuses them."""
        raise NotImplementedError


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


def _criterion(spec: LinearSpec) -> str:
    return "mse" if spec.loss is Loss.SQUARED else "log_loss"


class _FoldObjective:
    """Mean held-out loss over folds and its gradient in θ = log λ, counting the fits;
    ``history`` holds (λ, loss) of every evaluation, ``probes`` whether it was a re-entry probe."""

    def __init__(self, folds):
        self.folds = folds
        self.history, self.probes = [], []

    def __call__(self, theta, probe: bool = False):
        lam = np.exp(theta)
        values, grads = zip(*(fold_value_and_gradient(fold, lam) for fold in self.folds))
        value = float(_mean_over_folds(self.folds, values))
        grad = _mean_over_folds(self.folds, np.array(grads))
        self.history.append((lam.copy(), value))
        self.probes.append(probe)
        return value, grad


@dataclass
class _Descent:
    """One start's descent: start λ, end θ and loss, accepted θ, groups probes brought back."""

    start: np.ndarray
    theta: np.ndarray
    value: float
    trajectory: list
    reentered: list


def _single_lambda_start(folds, lams, patience: int = 4):
    """Best single λ along a warm-started grid, all folds in lockstep, stopping once the mean
    held-out loss has risen ``patience`` grid points in a row; folds keep that λ's solution."""
    scores, best, best_x, rises = [], 0, None, 0
    for k, lam in enumerate(lams):
        xs = [fold.train.fit(lam).copy() for fold in folds]
        scores.append(float(_mean_over_folds(folds, [f.validation_loss(x) for f, x in zip(folds, xs)])))
        if scores[-1] <= scores[best]:
            best, best_x, rises = k, xs, 0
        else:
            rises += 1
            if rises >= patience:
                break
    for fold, x in zip(folds, best_x):
        fold.train.x = x
    return lams[best], np.array(scores)


def descend(objective, theta, lower, upper, *, max_evals: int = 25, tol: float = 1e-4,
            max_move: float = 2.0, evaluated=None):
    """Projected gradient descent with backtracking on θ = log λ.

    Step s: θ⁺ = clip(θ − s∇, lower, upper), accepted when the loss falls by at least
    10⁻⁴ ∇ᵀ(θ − θ⁺) (Armijo), then s grows ×2; a rejected step shrinks s ×¼. The first step
    moves the steepest coordinate by 1 (a factor e in λ) and no step moves any coordinate
    by more than ``max_move``. Stops after ``max_evals`` evaluations, when a step no longer
    moves θ, or when an accepted step improves the loss by less than ``tol`` relatively.
    ``evaluated=(value, gradient)`` at θ, when known, saves the first evaluation (it still
    counts towards ``max_evals``).

    Returns (θ, value, trajectory of accepted θ).
    """
    value, grad = objective(theta) if evaluated is None else evaluated
    evals, trajectory, step = 1, [theta.copy()], None
    while evals < max_evals:
        # a coordinate at a bound with the gradient pushing outward does not move
        free = ~(((theta <= lower) & (grad > 0)) | ((theta >= upper) & (grad < 0)))
        g = np.where(free, grad, 0.0)
        g_max = float(np.max(np.abs(g)))
        if g_max == 0.0:
            break
        step = 1.0 / g_max if step is None else min(step, max_move / g_max)
        candidate = np.clip(theta - step * g, lower, upper)
        if np.max(np.abs(candidate - theta)) < 1e-6:
            break
        new_value, new_grad = objective(candidate)
        evals += 1
        if new_value <= value - 1e-4 * float(g @ (theta - candidate)):
            improvement = (value - new_value) / max(abs(value), 1e-300)
            theta, value, grad = candidate, new_value, new_grad
            trajectory.append(theta.copy())
            step *= 2.0
            if improvement < tol:
                break
        else:
            step *= 0.25
    return theta, value, trajectory


class HypergradientTuner(LinearTuner):
    """Per-group λ by implicit differentiation of the K-fold held-out loss.

    The K-fold loss of a Lasso is not convex in log λ, so the descent runs from up to two
    starts and keeps the lower loss:

    * ``"path"`` — the best single λ of a warm-started path on the same folds (lockstep,
      early stopped);
    * ``"evidence"`` — the grouped-evidence λ (:class:`EvidenceTuner`), which already differs
      per group; clipped to λ ≥ the smallest λ the path explored (below it the folds
      over-fit and every fit is slow), and run for squared loss only, when one evidence
      iteration is cheap (:func:`evidence_start_affordable`); skipped when it gives every
      group the same λ (a point of the path).

    Each start runs :func:`descend` on θ = log λ within the bounds of ``_bounds``, alternating
    with re-entry probes (:func:`reentry_point`): a group that is zero in every fold sits on a
    plateau of the loss where its gradient is 0, so the descent alone never brings it back.

    Parameters
    ----------
    cv : int or scikit-learn splitter
        As in :class:`GridCVTuner`.
    max_evals : int
        Evaluations of loss + gradient (each one fit per fold) per start.
    n_lams : int
        Size of the starting grid (λ_max down to λ_max·10⁻³).
    tol : float
        Relative improvement below which the descent stops.
    starts : "auto" or tuple of "path", "evidence"
        "auto": both where the evidence start applies, else the path only.
    reentry : bool
        Probe groups switched off in every fold (one evaluation per probe, within
        ``max_evals``); False runs the plain descent.
    seed : int
    """

    name = "hypergradient"

    def __init__(self, cv: int = 5, max_evals: int = 20, n_lams: int = 20, tol: float = 1e-4,
                 starts="auto", reentry: bool = True, seed: int = 0):
        self.cv, self.max_evals, self.n_lams, self.tol, self.seed = cv, max_evals, n_lams, tol, seed
        self.starts, self.reentry = starts, reentry

    def tune(self, X, y, spec: LinearSpec, cv_groups=None, sample_weight=None) -> TuneResult:
        starts = self._starts(X, spec, weighted=sample_weight is not None)
        if not isinstance(self.reentry, (bool, np.bool_)):
            raise ValueError(f"reentry must be True or False; got {self.reentry!r}")
        with Stopwatch() as clock:
            folds = make_folds(X, y, spec, self.cv, self.seed, cv_groups, sample_weight)
            lower, upper = _bounds(X, y, spec, sample_weight)
            lams = _grid((lower, upper), spec, self.n_lams)
            path_lam, init_scores = _single_lambda_start(folds, lams)
            floor = np.maximum(lower, lams[len(init_scores) - 1])
            objective = _FoldObjective(folds)
            runs, descent = {}, []
            for start in starts:
                lam0 = path_lam if start == "path" else np.clip(_evidence_lam(X, y, spec), floor, upper)
                if start != "path" and _uniform(lam0):
                    continue
                runs[start] = self._descend(objective, folds, spec, lam0, np.log(lower), np.log(upper))
                descent += [start] * (len(objective.history) - len(descent))
            chosen = min(runs, key=lambda k: runs[k].value)
            best = runs[chosen]
        lam = np.exp(best.theta)
        return TuneResult(
            self.name, _as_dict(spec, lam), trajectory=[_as_dict(spec, np.exp(t)) for t in best.trajectory],
            compute=Compute(fits=sum(f.train.n_fits for f in folds) / len(folds),
                            epochs=sum(f.train.n_iter for f in folds), seconds=clock.seconds),
            curve={"step": list(range(len(objective.history))),
                   "score": [v for _, v in objective.history], "descent": descent,
                   "probe": objective.probes, "criterion": _criterion(spec),
                   "start_lam": lams[: len(init_scores), 0].tolist(), "start_score": init_scores.tolist()},
            info={"cv_score": best.value, "start": _as_dict(spec, best.start), "chosen_start": chosen,
                  "starts": {k: {"lam": _as_dict(spec, np.exp(r.theta)), "cv_score": r.value, "reentered": r.reentered}
                             for k, r in runs.items()},
                  "reentered": best.reentered,
                  "switched_off": _off_groups(spec, lam, upper)})

    def _descend(self, objective, folds, spec, lam0, lower, upper) -> _Descent:
        """:func:`descend` from λ0 (clipped to the bounds), alternating with re-entry probes
        (:func:`reentry_point`): one before the first descent, one after each; a probe that
        lowers the loss is accepted and the descent goes on from it; the rounds end when a
        probe after a descent is not accepted or ``max_evals`` evaluations are spent."""
        budget = len(objective.history) + self.max_evals
        theta = np.clip(np.log(lam0), lower, upper)
        value, grad = objective(theta)
        trajectory, first_round, reentered = [theta.copy()], True, []
        while len(objective.history) < budget:
            probe = reentry_point(folds, spec, theta, lower, upper) if self.reentry else None
            accepted = False
            if probe is not None:
                probe_value, probe_grad = objective(probe, probe=True)
                accepted = probe_value < value
                if accepted:
                    reentered += [_names(spec)[g] for g in np.flatnonzero(probe != theta)]
                    theta, value, grad = probe, probe_value, probe_grad
                    trajectory.append(theta.copy())
            if not (accepted or first_round) or len(objective.history) >= budget:
                break
            first_round = False
            left = budget - len(objective.history) + 1            # the evaluation at θ is known
            theta, value, path = descend(objective, theta, lower, upper, max_evals=left, tol=self.tol,
                                         evaluated=(value, grad))
            trajectory += path[1:]      # the next probe is accepted or ends the rounds: no gradient needed
        return _Descent(lam0, theta, value, trajectory, reentered)

    def _starts(self, X, spec: LinearSpec, weighted: bool = False) -> tuple:
        if self.starts == "auto":
            affordable = not weighted and evidence_start_affordable(X, spec)
            return ("path", "evidence") if affordable else ("path",)
        starts = tuple(self.starts) if not isinstance(self.starts, str) else (self.starts,)
        unknown = [s for s in starts if s not in ("path", "evidence")]
        if unknown or not starts:
            raise ValueError(f"starts must be 'auto' or a non-empty tuple of 'path', 'evidence'; got {self.starts!r}")
        if "evidence" in starts and (spec.loss is not Loss.SQUARED or weighted):
            raise ValueError("starts: the 'evidence' start needs the squared loss and no sample_weight")
        return starts


#: a re-entry probe puts a group at this fraction of its smallest entry threshold over the folds
REENTRY_FRACTION = 0.9


def reentry_point(folds, spec: LinearSpec, theta, lower, upper):
    """θ with every group that is zero in every fold's solution at θ moved to where it enters.

    A group that is zero in every fold sits on a plateau of the held-out loss: raising λ_g
    changes nothing and its hypergradient is 0, so a descent never brings it back, though the
    loss may fall once it enters (a group switched off by the single-λ start, whose λ suits
    the strongest groups, or by the evidence start). Its entry threshold on fold k is
    τ_g,k = ‖∇_g F_k(x̂_k)‖_* / n_k (:func:`entry_thresholds`); the probe sets
    λ_g = ``REENTRY_FRACTION`` · min_k τ_g,k (within the bounds), where the group is nonzero in
    every fold and the gradient sees it again. Groups with τ = 0 (no correlation left, or no
    L1 part) are left alone. Returns None when no group qualifies.
    """
    lam, groups = np.exp(theta), spec.groups
    zero = np.ones(groups.n_groups, dtype=bool)
    tau = np.full(groups.n_groups, np.inf)
    for fold in folds:
        x = fold.train.fit(lam)                      # at θ already, or one warm-started refit
        zero &= groups.norms(x[: groups.n_features]) == 0
        tau = np.minimum(tau, entry_thresholds(fold.train, x))
    enter = zero & (tau > 0) & np.isfinite(tau)
    if not np.any(enter):
        return None
    probe = theta.copy()
    probe[enter] = np.clip(np.log(REENTRY_FRACTION * tau[enter]), lower[enter], upper[enter])
    return probe if np.any(probe != theta) else None


#: most floating-point operations one evidence iteration may cost for the evidence start
EVIDENCE_START_FLOPS = 1e8


def evidence_start_affordable(X, spec: LinearSpec) -> bool:
    """Whether ``starts="auto"`` adds the evidence start: squared loss, and one evidence
    iteration costs at most :data:`EVIDENCE_START_FLOPS` — n³ (per-group kernel blocks) or
    min(n, p)²·max(n, p) — e.g. n = 300 with p = 1,000 yes, n = 1,000 with p = 10,000 no."""
    if spec.loss is not Loss.SQUARED:
        return False
    n, p = X.shape
    factors = EvidenceTuner._factors(spec)
    blocks = GroupKernels.fits(X, spec.groups, np.ones(p) if factors is None else factors)
    cost = float(n) ** 3 if blocks else float(min(n, p)) ** 2 * max(n, p)
    return cost <= EVIDENCE_START_FLOPS


def _evidence_lam(X, y, spec: LinearSpec) -> np.ndarray:
    """The evidence tuner's λ per group (switched-off groups: far above λ_max, clipped later);
    a start needs no more than a 10⁻³ tolerance on log α."""
    result = EvidenceTuner(tol=1e-3).tune(X, y, spec)
    return np.array([result.lambdas[name] for name in _names(spec)])


def _uniform(lam) -> bool:
    """One λ for every group (e.g. all clipped to the same bound, as when the evidence
    interpolates the data): a point of the single-λ path, already searched."""
    return bool(np.allclose(lam, lam[0], rtol=1e-9))


def _off_groups(spec, lam, upper) -> list:
    if spec.is_ridge:
        return []
    return [name for name, v, u in zip(_names(spec), lam, upper) if v >= u * (1 - 1e-9)]


class EvidenceTuner(LinearTuner):
    """Grouped evidence maximization (MacKay / ARD); see :mod:`lamina.tuners.linear_evidence`.

    Ridge: λ_g = α_g / (β n). L1: λ_g = √(2α_g)/(β n) (Laplace prior of variance 1/α_g);
    elastic net: the same divided by ρ; group L1: √(α_g (p_g+1))/(β n c_g). Logistic: L2 only,
    Laplace approximation. Pruned groups get λ = 10⁶ λ_max,g ("switched off").

    Parameters
    ----------
    max_iter, tol : fixed-point budget and tolerance on max |Δ log α|.
    min_gamma : prune a group when its well-determined parameters per coefficient γ_g/p_g
        fall below this.
    hyperprior : (a, b, c, d) Gamma hyperparameters (α: a, b; β: c, d), scikit-learn's 10⁻⁶.
    """

    name = "evidence"

    def __init__(self, max_iter: int = 300, tol: float = 1e-5, min_gamma: float = 1e-7,
                 hyperprior=(1e-6, 1e-6, 1e-6, 1e-6)):
        self.max_iter, self.tol, self.min_gamma, self.hyperprior = max_iter, tol, min_gamma, hyperprior

    def tune(self, X, y, spec: LinearSpec, cv_groups=None, sample_weight=None) -> TuneResult:
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
        if isinstance(spec.penalty, GroupL1):
            return None
        return spec.penalty.factors(spec.groups.n_features)

    def _logistic(self, X, y, spec):
        if not spec.is_ridge:
            raise ValueError("tuner='evidence' handles logistic regression with penalty 'l2' only; "
                             "use tuner='hypergradient' or 'cv'")
        train = TrainingSet(X, y, spec)
        lower, upper = _bounds(X, y, spec)
        result = laplace_evidence(train, np.sqrt(lower * upper), max_iter=self.max_iter,
                                  min_gamma=self.min_gamma)
        return result, X.shape[0], train.n_fits

    def _lambdas(self, X, y, spec, result, n):
        alpha, beta = result.alpha, result.beta
        off = ~np.isfinite(alpha)
        safe = np.where(off, 1.0, alpha)
        penalty = spec.penalty
        if spec.is_ridge:
            lam = safe / (beta * n)
        elif isinstance(penalty, GroupL1):
            c = penalty.factors(spec.groups.n_groups)
            lam = np.sqrt(safe * (spec.groups.sizes + 1)) / (beta * n * np.where(c > 0, c, 1.0))
        else:
            rho = penalty.l1_ratio if isinstance(penalty, ElasticNet) else 1.0
            lam = np.sqrt(2 * safe) / (beta * n * rho)
        if np.any(off):
            _, upper = _bounds(X, y, spec)
            lam = np.where(off, OFF * upper, lam)
        return lam, off


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


def default_tuner_name(spec: LinearSpec) -> TunerName:
    """The tuner ``lam="auto"`` runs (measured in benchmarks/bench_linear_tuning.py):
    evidence for squared-loss ridge, hypergradient for everything else."""
    if spec.is_ridge and spec.loss is Loss.SQUARED:
        return TunerName.EVIDENCE
    return TunerName.HYPERGRADIENT


_TUNERS = {TunerName.EVIDENCE: EvidenceTuner, TunerName.HYPERGRADIENT: HypergradientTuner,
           TunerName.CV: GridCVTuner, TunerName.OPTUNA: OptunaTuner}


def make_tuner(tuner, spec: LinearSpec) -> LinearTuner:
    """A tuner from a name ("auto", "evidence", "hypergradient", "cv", "optuna") or an instance."""
    if isinstance(tuner, LinearTuner):
        return tuner
    try:
        name = TunerName(tuner)
    except ValueError:
        choices = ", ".join(repr(t.value) for t in TunerName)
        raise ValueError(f"tuner must be a LinearTuner or one of {choices}; got {tuner!r}") from None
    if name is TunerName.AUTO:
        name = default_tuner_name(spec)
    return _TUNERS[name]()
