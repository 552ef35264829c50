"""The pieces of :class:`~lamina.tuners.search.HypergradientSearch`: starts, descents, re-entry probes.

Written once on a :class:`~lamina.tuners.problem.TunableProblem` with
``split_loss_and_gradient``; every family that gives hypergradients (linear models, inverse
problems) gets the multi-start and the re-entry probes.

* :class:`Objective` — the criterion V(θ) over the splits and its gradient in θ = log λ,
  dV/dθ_g = λ_g dV/dλ_g, recording every evaluation.
* :func:`single_lambda_start` — the best single λ (times the problem's direction) along a
  warm-started grid, all splits in lockstep, early stopped once V has risen ``patience``
  points in a row.
* :func:`descend` (projected gradient with backtracking) and :func:`lbfgs` (scipy's
  L-BFGS-B) — the outer optimizers, same signature.
* :func:`reentry_point` — a group zero in every split sits on a plateau of V where its
  hypergradient is exactly 0; the probe moves it to just below its entry threshold, read off
  the optimality conditions (the problem's optional ``split_entry``).
* :func:`run_start` — one start: probe, descend, probe again …, keeping a probe only when V falls.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: a re-entry probe puts a group at this fraction of its smallest entry threshold over the splits
REENTRY_FRACTION = 0.9


class Objective:
    """V(θ) = ``problem.criterion`` of the splits' held-out losses at λ = exp θ, and ∇_θ V.

    ``history`` holds (λ, V) of every evaluation, ``probes`` whether it was a re-entry probe and
    ``labels`` the start it belongs to (set ``label`` before evaluating)."""

    def __init__(self, problem, splits):
        self.problem, self.splits = problem, splits
        self.history, self.probes, self.labels = [], [], []
        self.label = None

    def __call__(self, theta, probe: bool = False):
        lam = np.exp(np.asarray(theta, dtype=float))
        parts = [self.problem.split_loss_and_gradient(lam, split) for split in self.splits]
        value = float(self.problem.criterion([v for v, _ in parts]))
        grad = np.array([self.problem.criterion(column) for column in np.array([g for _, g in parts]).T])
        self.history.append((lam.copy(), value))
        self.probes.append(bool(probe))
        self.labels.append(self.label)
        return value, grad * lam                           # dV/dθ = λ ⊙ dV/dλ


def single_lambda_start(problem, splits, lams, patience: int = 4):
    """(λ row of ``lams`` with the least criterion, criteria of the rows explored).

    The splits are fitted in lockstep along the rows (each fit warm-started from the previous
    row) and the walk stops once the criterion has risen ``patience`` rows in a row; where the
    problem keeps a warm start (``warm_state`` / ``set_warm_state``), every split is left at the
    best row's solution, so that the descent starts there."""
    lams = np.asarray(lams, dtype=float)
    keeps = hasattr(problem, "warm_state") and hasattr(problem, "set_warm_state")
    scores, best, best_state, rises = [], 0, None, 0
    for k, lam in enumerate(lams):
        scores.append(float(problem.criterion([problem.split_loss(lam, split) for split in splits])))
        if scores[-1] <= scores[best]:
            best, rises = k, 0
            best_state = [problem.warm_state(split) for split in splits] if keeps else None
        else:
            rises += 1
            if rises >= patience:
                break
    if keeps:
        for split, state in zip(splits, best_state):
            problem.set_warm_state(split, state)
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


class _Spent(Exception):
    """Raised inside L-BFGS-B once its evaluations are spent."""


def lbfgs(objective, theta, lower, upper, *, max_evals: int = 25, tol: float = 1e-4, evaluated=None):
    """L-BFGS-B (``scipy.optimize.minimize``) on θ within [lower, upper], at most ``max_evals``
    evaluations, held strictly (scipy's ``maxfun`` is checked only between iterations, and a
    line search can pass it); ``evaluated`` at θ, when given, is reused and counts as one.
    ``tol`` is unused (scipy's ftol and gtol are 10⁻¹²). Returns (θ, value, trajectory of
    accepted θ); when the budget runs out inside a line search, the lowest point evaluated."""
    from scipy.optimize import minimize

    theta = np.asarray(theta, dtype=float)
    known = {theta.tobytes(): evaluated} if evaluated is not None else {}
    seen = [] if evaluated is None else [(float(evaluated[0]), theta.copy())]

    def value_and_gradient(point):
        point = np.asarray(point, dtype=float)
        if point.tobytes() in known:
            return known.pop(point.tobytes())
        if len(seen) >= max_evals:
            raise _Spent
        value, grad = objective(point)
        seen.append((float(value), point.copy()))
        return value, grad

    trajectory = [theta.copy()]
    try:
        found = minimize(value_and_gradient, theta, jac=True, method="L-BFGS-B",
                         callback=lambda point: trajectory.append(np.array(point, dtype=float)),
                         bounds=list(zip(lower, upper)),
                         options={"maxfun": max(int(max_evals), 1), "ftol": 1e-12, "gtol": 1e-12})
        return np.asarray(found.x, dtype=float), float(found.fun), trajectory
    except _Spent:
        value, point = min(seen, key=lambda pair: pair[0])
        if not np.array_equal(point, trajectory[-1]):
            trajectory.append(point)
        return point, value, trajectory


OPTIMIZERS = {"lbfgs": lbfgs, "backtracking": descend}


def reentry_point(problem, splits, theta, lower, upper):
    """θ with every group that is zero in every split's fit at θ moved to where it enters.

    A group zero in every split sits on a plateau of the held-out criterion: raising λ_g changes
    nothing and its hypergradient is 0, so a descent never brings it back, though the criterion
    may fall once it enters (a group switched off by a single-λ start, whose λ suits the
    strongest groups). ``problem.split_entry(λ, s)`` gives, per group, whether it is zero in the
    split's fit and its entry threshold τ_g,s (the λ_g below which it enters, from the
    optimality conditions: ‖∇_g F(x̂)‖_* in the problem's λ units). The probe sets
    λ_g = ``REENTRY_FRACTION`` · min_s τ_g,s (within the bounds), where the group is nonzero in
    every split and the gradient sees it again. Groups with τ = 0 (no correlation left, or no
    L1 part) are left alone. Returns None when no group qualifies or the problem has no
    ``split_entry``.
    """
    if not hasattr(problem, "split_entry"):
        return None
    lam = np.exp(theta)
    zero = np.ones(theta.shape, dtype=bool)
    tau = np.full(theta.shape, np.inf)
    for split in splits:
        is_zero, threshold = problem.split_entry(lam, split)    # at θ already: a warm refit
        zero &= np.asarray(is_zero, dtype=bool)
        tau = np.minimum(tau, np.asarray(threshold, dtype=float))
    enter = zero & (tau > 0) & np.isfinite(tau)
    if not np.any(enter):
        return None
    probe = np.array(theta, dtype=float)
    probe[enter] = np.clip(np.log(REENTRY_FRACTION * tau[enter]), lower[enter], upper[enter])
    return probe if np.any(probe != theta) else None


@dataclass
class Descent:
    """One start's run: start λ, end θ and criterion, accepted θ, indices of groups probes brought
    back, and whether it stopped on its evaluation budget (rather than by the optimizer's own test)."""

    start: np.ndarray
    theta: np.ndarray
    value: float
    trajectory: list
    reentered: list = field(default_factory=list)
    budget_spent: bool = False


def run_start(objective: Objective, lam0, lower, upper, *, max_evals: int, tol: float = 1e-4,
              reentry: bool = True, optimizer: str = "lbfgs") -> Descent:
    """From λ0 (clipped to the bounds), alternate re-entry probes and descents: one probe before
    the first descent, one after each; a probe that lowers the criterion is accepted and the
    descent goes on from it; the rounds end when a probe after a descent is not accepted or
    ``max_evals`` evaluations of this start are spent."""
    minimize = OPTIMIZERS[optimizer]
    problem, splits = objective.problem, objective.splits
    budget = len(objective.history) + max_evals
    theta = np.clip(np.log(np.asarray(lam0, dtype=float)), lower, upper)
    value, grad = objective(theta)
    trajectory, first_round, reentered = [theta.copy()], True, []
    while len(objective.history) < budget:
        probe = reentry_point(problem, splits, theta, lower, upper) if reentry else None
        accepted = False
        if probe is not None:
            probe_value, probe_grad = objective(probe, probe=True)
            accepted = probe_value < value
            if accepted:
                reentered += [int(g) for g in np.flatnonzero(probe != theta)]
                theta, value, grad = probe, probe_value, probe_grad
                trajectory.append(theta.copy())
        if not (accepted or first_round) or len(objective.history) >= budget:
            break
        first_round = False
        left = budget - len(objective.history) + 1            # the evaluation at θ is known
        theta, value, path = minimize(objective, theta, lower, upper, max_evals=left, tol=tol,
                                      evaluated=(value, grad))
        trajectory += path[1:]      # the next probe is accepted or ends the rounds: no gradient needed
    return Descent(np.asarray(lam0, dtype=float), theta, value, trajectory, reentered,
                   budget_spent=len(objective.history) >= budget)
