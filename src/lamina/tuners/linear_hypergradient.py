"""Per-group λ of the linear models by hypergradient descent on the K-fold held-out loss.

:class:`HypergradientTuner` minimizes the K-fold (or hold-out) loss over θ = log λ by
gradient descent with backtracking (:func:`descend`); gradients by implicit differentiation
(:mod:`lamina.tuners.linear_implicit`, which needs the penalty's ``generalized_support``,
``gradient_on_support`` and ``hessian_on_support``), solutions warm-started from the previous
step, started from the best single λ of a warm-started path and, where cheap, also from the
evidence λ (the loss is not convex in log λ; the lower of the two descents wins); groups zero
in every fold, where the gradient is blind, are probed back in at their entry threshold.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lamina.penalties.base import DIFFERENTIABLE
from lamina.tuners.base import Compute, Stopwatch, TuneResult
from lamina.tuners.linear_common import (LinearTuner, _as_dict, _bounds, _criterion, _grid, _mean_over_folds,
                                         _names)
from lamina.tuners.linear_data import LinearSpec, Loss, entry_thresholds, make_folds
from lamina.tuners.linear_evidence import GroupKernels
from lamina.tuners.linear_evidence_tuner import EvidenceTuner
from lamina.tuners.linear_implicit import fold_value_and_gradient


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
    penalty_needs = DIFFERENTIABLE

    def __init__(self, cv: int = 5, max_evals: int = 20, n_lams: int = 20, tol: float = 1e-4,
                 starts="auto", reentry: bool = True, seed: int = 0):
        self.cv, self.max_evals, self.n_lams, self.tol, self.seed = cv, max_evals, n_lams, tol, seed
        self.starts, self.reentry = starts, reentry

    def tune(self, X, y, spec: LinearSpec, cv_groups=None, sample_weight=None) -> TuneResult:
        self.check_penalty(spec)
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
            evidence = all(spec.penalty.supports(c) for c in EvidenceTuner.penalty_needs)
            affordable = evidence and not weighted and evidence_start_affordable(X, spec)
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
