"""What every solver returns, and the monitor that records its iterations.

Solvers call :class:`Monitor.record` once per (outer) iteration with the objective and their
stopping criterion (duality gap, or an optimality residual for problems without a dual),
and :meth:`Monitor.result` at the end, which warns when the budget ran out unconverged.
Progress reaches users through ``callback(iteration, x, objective, criterion)``; a callback
that returns True stops the solver.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from lamina._warnings import warn


class ConvergenceWarning(UserWarning):
    """A solver ran out of iterations before meeting its tolerance."""


@dataclass
class History:
    """Per-iteration record: objective, stopping criterion and seconds since the start."""

    objective: list = field(default_factory=list)
    criterion: list = field(default_factory=list)
    time: list = field(default_factory=list)


@dataclass
class SolveResult:
    """Solution of min_x ½‖Ax − b‖² + Σ_g λ_g R(x_g) and how it was reached.

    Attributes
    ----------
    x : ndarray, shape (n_features,)
    objective : float
        Final objective value.
    n_iter : int
        Iterations (outer iterations for working-set solvers).
    converged : bool
        Whether the stopping criterion fell below the tolerance.
    criterion : float
        Final value of the stopping criterion, named by ``criterion_name``
        (``duality_gap``, ``relative_residual`` or ``relative_change``).
    history : History
        Objective, criterion and time per iteration.
    solver : str
        Name of the algorithm used.
    """

    x: np.ndarray
    objective: float
    n_iter: int
    converged: bool
    criterion: float
    criterion_name: str
    history: History
    solver: str
    lam: Optional[np.ndarray] = None
    info: dict = field(default_factory=dict)

    @property
    def dual_gap(self) -> float:
        """Final duality gap (NaN when the solver has no dual certificate)."""
        return self.criterion if self.criterion_name == "duality_gap" else float("nan")


def unconverged_message(solver: str, n_iter: int, tol: float, criterion_name: str, criterion: float,
                        advice: str = "raise max_iter or loosen tol") -> str:
    """The ConvergenceWarning's text for a solve that stopped short of ``tol``."""
    return (f"{solver} stopped after {n_iter} iterations without reaching tol={tol:g} "
            f"({criterion_name} = {criterion:.3g}); {advice}")


class Monitor:
    """Records iterations, calls the user's callback and decides on convergence."""

    def __init__(self, solver: str, tol: float, criterion_name: str,
                 callback: Optional[Callable] = None):
        self.solver, self.tol, self.criterion_name = solver, tol, criterion_name
        self.callback = callback
        self.history = History()
        self.start = time.perf_counter()
        self.converged = False

    def record(self, iteration: int, x, objective: float, criterion: float, threshold: float) -> bool:
        """Store one iteration; return True when the solver should stop."""
        if not np.isfinite(objective):
            raise FloatingPointError(
                f"{self.solver}: objective became {objective} at iteration {iteration}; "
                "check the scaling of A and b or lower the step"
            )
        self.history.objective.append(float(objective))
        self.history.criterion.append(float(criterion))
        self.history.time.append(time.perf_counter() - self.start)
        self.converged = criterion <= threshold
        # a copy: solvers update x in place (coordinate descent), and a callback may keep it
        stop_requested = bool(self.callback(iteration, np.copy(x), objective, criterion)) if self.callback else False
        return self.converged or stop_requested

    def result(self, x, n_iter: int, lam=None, objective: float | None = None, **info) -> SolveResult:
        """Build the result; warn when the tolerance was not met.

        ``objective`` overrides the last recorded value, for solvers that return an earlier
        iterate than their last one (e.g. the best point of a greedy path).
        """
        if not self.converged:
            last = self.history.criterion[-1] if self.history.criterion else float("nan")
            warn(unconverged_message(self.solver, n_iter, self.tol, self.criterion_name, last),
                 ConvergenceWarning)
        return SolveResult(
            x=x, objective=float(objective) if objective is not None else (
                self.history.objective[-1] if self.history.objective else float("nan")),
            n_iter=n_iter, converged=self.converged,
            criterion=self.history.criterion[-1] if self.history.criterion else float("nan"),
            criterion_name=self.criterion_name, history=self.history, solver=self.solver,
            lam=lam, info=info,
        )


def duality_gap(penalty, lam, groups, b, residual, corr, primal: float) -> float:
    """Duality gap of ½‖b − Ax‖² + pen(x) at x, from r = b − Ax and corr = Aᵀr.

    The dual point is θ = r / s with s ≥ 1 making it feasible (penalty.dual_scale); the dual
    objective is bᵀθ − ½‖θ‖² − pen*(Aᵀθ). Unpenalized coefficients are taken as optimal
    (their gradient is driven to zero by the solver).
    """
    scale = penalty.dual_scale(corr, lam, groups)
    dual = (np.dot(b, residual) / scale - np.dot(residual, residual) / (2 * scale * scale)
            - penalty.conjugate(corr / scale, lam, groups))
    return max(primal - dual, 0.0)


#: the duality gap's rounding resolution in units of ε · ½‖y‖² (see :func:`gap_threshold`)
ROUNDING_ULPS = 64


def gap_threshold(tol: float, objective: float, half_norm_y: float) -> float:
    """The duality gap at which a solve stops: tol relative to the objective P where P ≪ ½‖y‖²,
    tol · ½‖y‖² (scikit-learn's criterion) otherwise, never below the gap's rounding resolution.

    threshold = min(tol · ½‖y‖², max(tol · P, ρ)),  ρ = ROUNDING_ULPS · ε · ½‖y‖².
    ½‖y‖² bounds P (P(0) = ½‖y‖²), so this is never looser than scikit-learn's criterion; where
    P ≪ ½‖y‖² (p > n, a small λ: a fit close to interpolation) a gap of tol · ½‖y‖² would leave the
    objective up to tol · ½‖y‖² / P above its minimum, relatively (2 % seen at tol 1e-6). The gap
    is computed from r = y − Xw, whose rounding, ε·|Xw| per sample, moves it by about ε‖y‖²; ρ
    keeps the stop reachable there, and a tol below ρ / ½‖y‖² keeps the old criterion (a tol that
    rounding cannot certify ends in the stall rule and its warning, as before)."""
    scale = max(half_norm_y, np.finfo(float).tiny)
    resolution = ROUNDING_ULPS * np.finfo(float).eps * scale
    return min(tol * scale, max(tol * objective, resolution))
