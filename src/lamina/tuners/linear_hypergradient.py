"""Per-group λ of the linear models by hypergradient descent on the K-fold held-out loss.

:class:`HypergradientTuner` is the generic :class:`~lamina.tuners.search.HypergradientSearch`
on a :class:`~lamina.tuners.linear_problem.LinearProblem`: gradient descent with backtracking
on θ = log λ (:func:`~lamina.tuners.hypergradient_probes.descend`), gradients by implicit
differentiation (:mod:`lamina.tuners.linear_implicit`, which needs the penalty's
``generalized_support``, ``gradient_on_support`` and ``hessian_on_support``), solutions
warm-started from the previous step, started from the best single λ of a warm-started path and,
where cheap, also from the evidence λ (the loss is not convex in log λ; the lower of the two
descents wins); groups zero in every fold, where the gradient is blind, are probed back in at
their entry threshold (:func:`~lamina.tuners.hypergradient_probes.reentry_point`).
"""
from __future__ import annotations

import numpy as np

from lamina.penalties.base import DIFFERENTIABLE
from lamina.tuners.base import TuneResult
from lamina.tuners.hypergradient_probes import REENTRY_FRACTION, descend, reentry_point  # noqa: F401 (re-exported: lamina.tuners.linear)
from lamina.tuners.linear_common import LinearTuner, _criterion, _names
from lamina.tuners.linear_data import LinearSpec, Loss
from lamina.tuners.linear_evidence import GroupKernels
from lamina.tuners.linear_evidence_tuner import EvidenceTuner
from lamina.tuners.linear_problem import LinearProblem
from lamina.tuners.search import HypergradientSearch


class HypergradientTuner(LinearTuner):
    """Per-group λ by implicit differentiation of the K-fold held-out loss.

    The K-fold loss of a Lasso is not convex in log λ, so the descent runs from up to two
    starts and keeps the lower loss:

    * ``"path"`` — the best single λ of a warm-started path on the same folds (lockstep,
      early stopped after 4 rising points);
    * ``"evidence"`` — the grouped-evidence λ (:class:`EvidenceTuner`), which already differs
      per group; clipped to λ ≥ the smallest λ the path explored (below it the folds
      over-fit and every fit is slow), and run for squared loss only, when one evidence
      iteration is cheap (:func:`evidence_start_affordable`); skipped when it gives every
      group the same λ (a point of the path).

    Each start runs :func:`~lamina.tuners.hypergradient_probes.descend` on θ = log λ within the
    bounds of ``_bounds``, alternating with re-entry probes: a group that is zero in every fold
    sits on a plateau of the loss where its gradient is 0, so the descent alone never brings it
    back. All of this is :class:`~lamina.tuners.search.HypergradientSearch` (which every family
    with hypergradients shares); this class picks the starts and reports in the linear tuners'
    terms (``criterion``, ``switched_off``).

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
        problem = LinearProblem(X, y, spec, sample_weight=sample_weight, cv_groups=cv_groups, seed=self.seed)
        named = tuple("path" if s == "path" else ("evidence", lambda: _evidence_lam(X, y, spec, problem.compute))
                      for s in starts)
        search = HypergradientSearch(cv=self.cv, n_start=self.n_lams, max_evals=self.max_evals, starts=named,
                                     reentry=bool(self.reentry), optimizer="backtracking", tol=self.tol, patience=4)
        result = search.tune_problem(problem)
        result.method = self.name
        result.curve["criterion"] = _criterion(spec)
        upper = problem.bounds()[1]
        result.info["switched_off"] = _off_groups(spec, result.lambda_vector, upper)
        return result

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


def _evidence_lam(X, y, spec: LinearSpec, compute=None) -> np.ndarray:
    """The evidence tuner's λ per group (switched-off groups: far above λ_max, clipped later);
    a start needs no more than a 10⁻³ tolerance on log α. Its fits and iterations are added to
    ``compute`` (the search's own count: they had been left out)."""
    result = EvidenceTuner(tol=1e-3).tune(X, y, spec)
    if compute is not None:
        compute.fits += result.compute.fits
        compute.epochs += result.compute.epochs
    return np.array([result.lambdas[name] for name in _names(spec)])


def _off_groups(spec, lam, upper) -> list:
    if spec.is_ridge:
        return []
    return [name for name, v, u in zip(_names(spec), lam, upper) if v >= u * (1 - 1e-9)]
