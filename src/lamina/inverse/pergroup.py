"""One λ per group for inverse problems: hypergradient on held-out measurements, or SURE.

Both start from a λ vector (typically the single-λ choice of a rule, spread over the groups)
and refine it; both answer with a :class:`~lamina.tuners.base.TuneResult` whose
``trajectory`` lists the λ vector after every accepted step.

Hypergradient (implicit differentiation, as in sparse-ho, Bertrand et al. 2020). Hold out
a share of the rows (measurements) of A; on the others solve
x(λ) = argmin ½‖A_t x − b_t‖² + Σ_g λ_g R(x_g) and score C(λ) = ½‖A_v x(λ) − b_v‖².

* L1: on the support S with signs s, x_S = (A_tSᵀA_tS)⁻¹(A_tSᵀb_t − λ_S ⊙ s), hence
  ∂C/∂λ_g = −Σ_{j∈S∩g} w_j s_j v_j with v = (A_tSᵀA_tS)⁻¹ A_vSᵀ(A_v x − b_v);
* L2: x = (A_tᵀA_t + C)⁻¹A_tᵀb_t with c_j = λ_g w_j, hence ∂C/∂λ_g = −Σ_{j∈g} w_j x_j v_j with
  v = (A_tᵀA_t + C)⁻¹ A_vᵀ(A_v x − b_v).

The descent is the generic :class:`~lamina.tuners.search.HypergradientSearch` (L-BFGS-B on
θ = log λ, bounded below by ``min_ratio`` × the largest starting λ) on an
:class:`~lamina.inverse.tunable.OperatorProblem`, whose training rows see λ·m_t/m so that λ is
always in the full problem's units.

SURE coordinate search. With σ known, SURE(λ) = ‖b − Ax(λ)‖² − mσ² + 2σ² |supp x(λ)| is an
unbiased estimate of the prediction risk for every λ vector (L1), so it can be minimized over
the vector: each sweep tries, for one group at a time, λ_g times a grid of factors and keeps
the best. For an orthogonal A it separates over the groups and the search finds the
per-group SureShrink thresholds (Donoho & Johnstone 1995) on its grid.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from lamina._validation import check_positive_float, check_positive_int
from lamina.api import solve
from lamina.groups import Groups
from lamina.inverse.implicit import hypergradient  # noqa: F401 (re-exported: tests/test_inverse_rules.py)
from lamina.inverse.dof import column_classes, support_dof
from lamina.inverse.noise import estimate_sigma
from lamina.inverse.rules import is_l2, sure_scores
from lamina.inverse.tunable import OperatorProblem
from lamina.operators import matvec
from lamina.penalties.base import DIFFERENTIABLE
from lamina.solvers.base import ConvergenceWarning
from lamina.tuners.base import Compute, Tuner, TuneResult
from lamina.tuners.search import HypergradientSearch


def _quiet_solve(A, b, penalty, lam, groups, x0, tol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return solve(A, b, penalty, lam, groups, tol=tol, x0=x0, check_adjoint=False)


class Hypergradient(Tuner):
    """λ per group by hypergradient descent on held-out measurements (L1 or L2): the generic
    :class:`~lamina.tuners.search.HypergradientSearch` (L-BFGS-B on log λ) on one hold-out split
    of an :class:`~lamina.inverse.tunable.OperatorProblem`, started from ``start``.

    Parameters
    ----------
    validation_share : float
        Share of the rows held out (0 < share < 1).
    max_iter : int
        Evaluations of the held-out loss and its gradient (each one warm-started inner solve and
        one linear solve on the support).
    seed : int
        Seed of the row split.
    min_ratio : float
        Floor of every λ_g, as a share of the largest λ of ``start``. Below it a group is
        effectively unregularized; on an under-determined A the held-out gradient keeps
        pointing to λ_g → 0 there while each inner solve approaches basis pursuit and slows
        down by orders of magnitude, so the descent stops at the floor.
    """

    name = "hypergradient"

    def __init__(self, validation_share: float = 0.2, max_iter: int = 25, seed: int = 0, min_ratio: float = 1e-3):
        self.validation_share = check_positive_float(validation_share, "validation_share")
        if not self.validation_share < 1:
            raise ValueError(f"validation_share must lie in (0, 1), got {validation_share}")
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.seed = seed
        self.min_ratio = check_positive_float(min_ratio, "min_ratio")

    def tune(self, A, b, penalty, groups: Groups, start, tol: float = 1e-6) -> TuneResult:
        """Refine ``start`` (λ per group for the full problem); returns λ for the full problem."""
        if not (penalty.convex and all(penalty.supports(c) for c in DIFFERENTIABLE)):
            raise ValueError(f"per_group='hypergradient' needs a convex penalty with "
                             f"{', '.join(DIFFERENTIABLE)} (l1 or l2); got {penalty.name!r}; "
                             "for l0 use per_group='sure'")
        problem = OperatorProblem(A, b, penalty, groups, tol=tol, seed=self.seed, val_share=self.validation_share)
        search = HypergradientSearch(cv=1, max_evals=self.max_iter, start=start, min_ratio=self.min_ratio)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = search.tune_problem(problem)
        n_val = problem.held_out_rows
        result.method = self.name
        result.info.update(validation_rows=n_val, held_out_loss=0.5 * result.info["cv_score"] * n_val)
        return result


class SURECoordinate(Tuner):
    """λ per group by coordinate search on SURE (L1 or L0, σ given or estimated).

    Parameters
    ----------
    sigma : float, optional
        Noise level; estimated from b when None.
    factors : array, optional
        Multipliers of the current λ_g tried per group (default 13 values from 1/8 to 8).
    n_sweeps : int
        Passes over the groups.
    """

    name = "sure_per_group"

    def __init__(self, sigma: float | None = None, factors=None, n_sweeps: int = 2):
        self.sigma = None if sigma is None else check_positive_float(sigma, "sigma")
        self.factors = np.geomspace(1 / 8, 8, 13) if factors is None else np.asarray(factors, float)
        if self.factors.ndim != 1 or not np.all(np.isfinite(self.factors)) or np.any(self.factors <= 0):
            raise ValueError(f"factors must be a 1-D array of finite values > 0, got {self.factors!r}")
        self.n_sweeps = check_positive_int(n_sweeps, "n_sweeps")

    def tune(self, A, b, penalty, groups: Groups, start, tol: float = 1e-6) -> TuneResult:
        if is_l2(penalty):
            raise ValueError("per_group='sure' handles l1 and l0 (df = rank of the active columns); "
                             "for l2 use per_group='hypergradient'")
        started = time.perf_counter()
        lam = np.asarray(start, dtype=float).copy()
        if lam.shape != (groups.n_groups,) or not np.all(np.isfinite(lam)) or np.any(lam <= 0):
            raise ValueError(f"start must hold one finite λ > 0 per group ({groups.n_groups}), got {lam!r}")
        sigma = self.sigma if self.sigma is not None else estimate_sigma(A, b, penalty, groups, tol=tol).sigma
        m, classes = A.shape[0], column_classes(A)

        def score(x):
            residual = float(np.linalg.norm(matvec(A, x) - b))
            dof = support_dof(x, classes, m)
            return float(sure_scores([residual], [dof], m, sigma)[0])

        x = _quiet_solve(A, b, penalty, lam, groups, None, tol).x
        best = score(x)
        scores, trajectory, n_fits = [best], [dict(zip(groups.names, map(float, lam)))], 1
        for _ in range(self.n_sweeps):
            improved = False
            for g in range(groups.n_groups):
                base = lam[g]
                for factor in self.factors:
                    if factor == 1.0:
                        continue
                    trial = lam.copy()
                    trial[g] = base * factor
                    x_trial = _quiet_solve(A, b, penalty, trial, groups,
                                           x if penalty.convex else None, tol).x
                    n_fits += 1
                    value = score(x_trial)
                    if value < best - 1e-12 * abs(best):
                        best, lam, x, improved = value, trial, x_trial, True
                scores.append(best)
                trajectory.append(dict(zip(groups.names, map(float, lam))))
            if not improved:
                break
        compute = Compute(fits=n_fits, epochs=0, seconds=time.perf_counter() - started)
        return TuneResult(method=self.name, lambdas=dict(zip(groups.names, map(float, lam))), fitted=x,
                          trajectory=trajectory, compute=compute,
                          curve={"iteration": list(range(len(scores))), "score": scores},
                          info={"sigma": sigma, "sure": best})


def make_per_group_tuner(method, sigma: float | None = None, seed: int = 0) -> Tuner:
    """Tuner for ``per_group=`` of :func:`lamina.inverse.fit`."""
    if method == "hypergradient":
        return Hypergradient(seed=seed)
    if method == "sure":
        return SURECoordinate(sigma=sigma)
    raise ValueError(f"per_group must be None, 'hypergradient' or 'sure'; got {method!r}")
