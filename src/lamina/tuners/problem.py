"""A problem whose λ vector is tuned: what a family gives, so that a tuner is written once.

Following the split of sparse-ho (Bertrand et al. 2020, 2022) — *criterion* × *inner model* ×
*how the gradient is obtained* × *outer optimizer* — a family (linear estimators, inverse
problems, networks) supplies the inner model and the criterion through this protocol, and the
tuners of :mod:`lamina.tuners.search` supply the outer optimizer:

========================  =================================================================
member                    meaning
========================  =================================================================
``family``                "linear", "inverse" or "network"
``names``                 the group names, one λ_g each, in order
``splits(cv)``            the held-out splits: an int K ≥ 2 is K-fold, 1 one hold-out split,
                          or a scikit-learn splitter where the family takes one
``split_loss(λ, s)``      fit on split ``s``'s training part at λ (warm-started where the
                          family can), return its held-out loss; ``report(step, value)``,
                          when given, receives intermediate losses (an Optuna pruner may
                          raise ``optuna.TrialPruned`` from it)
``criterion(values)``     the splits' losses combined into one number (a weighted mean)
``default_grid(n)``       n decreasing multipliers t of a one-λ search, λ = t·``direction``
``direction``             relative λ per group of that search (ones, or a scaling rule)
``bounds()``              (lower, upper) λ per group for searches of the vector
``refit(λ)``              the fit on all data at λ (or None where the caller refits itself)
``compute``               a :class:`~lamina.tuners.base.Compute` the problem adds to as it fits
========================  =================================================================

Optional, used when present:

* ``split_path(grid, s)`` — held-out losses along a warm-started path of λ rows (a grid
  search then costs about one path per split instead of one fit per grid point);
* ``split_loss_and_gradient(λ, s)`` — the held-out loss and its exact gradient in λ
  (implicit differentiation), for :class:`~lamina.tuners.search.HypergradientSearch`;
* ``descent_bounds()`` — the box of :class:`~lamina.tuners.search.HypergradientSearch`'s descent
  where it must be wider than ``bounds()`` (which also sets grids and Optuna's ranges);
* ``split_entry(λ, s)`` — (whether each group is zero in the split's fit at λ, its entry
  threshold τ_g: the λ_g below which it enters), for the search's re-entry probes;
* ``warm_state(s)`` / ``set_warm_state(s, state)`` — the split's warm start, kept at the best
  point of the search's single-λ start;
* ``evidence_statistics(λ)`` — an :class:`~lamina.tuners.evidence.EvidenceStatistics` (γ_g,
  ‖w_g − μ_g‖², RSS, n_out, the scale λ = α/(β·scale)) of the posterior at λ, for
  :class:`~lamina.tuners.evidence_search.EvidenceSearch`; linear (L2; squared or binary
  logistic loss) and inverse (L2) problems give it, networks do not (their evidence runs online during training).
"""
from __future__ import annotations

from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from lamina.tuners.base import Compute

Report = Callable[[int, float], None]


@runtime_checkable
class TunableProblem(Protocol):
    """The protocol above (checked structurally: any object with these members qualifies)."""

    family: str
    names: tuple
    direction: np.ndarray
    compute: Compute

    def splits(self, cv) -> list: ...

    def split_loss(self, lam: np.ndarray, split, report: Report | None = None) -> float: ...

    def criterion(self, values) -> float: ...

    def default_grid(self, n_values: int) -> np.ndarray: ...

    def bounds(self) -> tuple[np.ndarray, np.ndarray]: ...

    def refit(self, lam: np.ndarray) -> Any: ...


def check_problem(problem) -> TunableProblem:
    """``problem`` if it has every member of :class:`TunableProblem`, else a TypeError naming
    the missing ones."""
    missing = [name for name in ("family", "names", "direction", "compute", "splits", "split_loss",
                                 "criterion", "default_grid", "bounds", "refit") if not hasattr(problem, name)]
    if missing:
        raise TypeError(f"problem must implement lamina.tuners.problem.TunableProblem; "
                        f"{type(problem).__name__} lacks {', '.join(missing)}")
    return problem


def is_problem_tuner(tuner) -> bool:
    """Whether ``tuner`` is a tuner of :class:`TunableProblem` (it works in every family)."""
    return callable(getattr(tuner, "tune_problem", None))


def weighted_mean(values, weights) -> float:
    """Σ w_s v_s / Σ w_s — the criterion of splits of unequal size."""
    weights = np.asarray(weights, dtype=float)
    return float(np.dot(weights / weights.sum(), np.asarray(values, dtype=float)))
