"""A linear inverse problem as a :class:`~lamina.tuners.problem.TunableProblem`.

½‖Ax − b‖² + Σ_g λ_g R(x_g); the held-out splits are rows of A (measurements). A split's
training problem keeps the balance of data fit and penalty by scaling λ with its share of the
rows, λ_train = λ·(m − m_v)/m (as :class:`KFoldCV` does), and its loss
is the held-out squared error ‖A_v x − b_v‖²; the criterion is the total over held-out rows
divided by their number. Hypergradients come from :func:`lamina.inverse.implicit.hypergradient`
(implicit differentiation on the support; L1 and L2), re-entry thresholds (for the probes of
:class:`~lamina.tuners.search.HypergradientSearch`) from the penalty's dual norm of the
training gradient, and the evidence statistics (L2) from the exact Gaussian posterior.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from lamina._validation import check_multipliers, check_positive_int
from lamina.api import solve
from lamina.inverse._linops import row_subset
from lamina.inverse.candidates import (compute_candidates, default_multipliers, prepare, result_from_candidates,
                                      warn_if_flat)
from lamina.inverse.implicit import hypergradient
from lamina.operators import is_explicit, matvec, rmatvec, to_dense
from lamina.solvers.base import ConvergenceWarning
from lamina.tuners.base import Compute, Tuner, TuneResult
from lamina.tuners.evidence import EvidenceStatistics, gaussian_statistics
from lamina.tuners.linear_evidence import GaussianPosterior
from lamina.tuners.problem import Report
from lamina.tuners.splits import cv_splits


@dataclass
class RowSplit:
    """Training and held-out rows of one split, and the last training solution (warm start)."""

    train: np.ndarray
    val: np.ndarray
    share: float
    A_train: object
    b_train: np.ndarray
    A_val: object
    b_val: np.ndarray
    x: np.ndarray | None = None


class OperatorProblem:
    """Tunable ½‖Ax − b‖² + Σ_g λ_g R(x_g) (see module docstring).

    Parameters
    ----------
    A, b, penalty, groups, direction
        As in :func:`lamina.inverse.fit`.
    tol, solver
        Inner solves (:func:`lamina.solve`).
    seed : int
        Row shuffling of the splits.
    val_share : float
        Share of the rows held out by the single split (``cv=1``).
    """

    family = "inverse"

    def __init__(self, A, b, penalty="l1", groups=None, direction=None, *, tol: float = 1e-6, solver=None,
                 seed: int = 0, val_share: float = 0.2):
        self.A, self.b, self.penalty, self.groups, self.direction = prepare(A, b, penalty, groups, direction)
        self.names = tuple(self.groups.names)
        if not 0 < val_share < 1:
            raise ValueError(f"val_share must lie in (0, 1), got {val_share!r}")
        self.tol, self.solver, self.seed, self.val_share = tol, solver, seed, float(val_share)
        self.compute = Compute()
        self.unconverged = 0                    # path points whose solve hit its iteration budget
        self.held_out_rows = self.A.shape[0]     # rows the last splits() holds out, all told
        self._posterior = None                   # the exact posterior of the evidence (built once)

    # ------------------------------------------------------------------ splits
    def splits(self, cv) -> list[RowSplit]:
        """Row splits of :func:`lamina.tuners.splits.cv_splits` (scikit-learn's ``check_cv``):
        an int K ≥ 2 is the shuffled K-fold of every family (one row per fold is allowed here),
        1 one hold-out of ``val_share`` of the rows, anything else a scikit-learn splitter or an
        iterable of (train, validation) rows."""
        m = self.A.shape[0]
        if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool) and not 1 <= cv <= m:
            raise ValueError(f"cv must lie in 1..{m} (rows of A), got {cv!r}")
        pairs = cv_splits(np.zeros((m, 1)), None, cv, self.seed, val_share=self.val_share, min_rows=2)
        self.held_out_rows = sum(va.size for _, va in pairs)
        return [RowSplit(tr, va, tr.size / m, row_subset(self.A, tr), self.b[tr], row_subset(self.A, va), self.b[va])
                for tr, va in pairs]

    def criterion(self, values) -> float:
        """Σ held-out squared errors / number of held-out rows (``values`` in split order of the
        last :meth:`splits`)."""
        return float(np.sum(values) / self.held_out_rows)

    # ------------------------------------------------------------------ fits
    def _fit(self, split: RowSplit, lam) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = solve(split.A_train, split.b_train, self.penalty, np.asarray(lam) * split.share, self.groups,
                           tol=self.tol, solver=self.solver, x0=split.x, check_adjoint=False)
        self.compute.fits += 1   # one solve, as every family counts a fit (not its share of the rows)
        self.compute.epochs += result.n_iter
        split.x = result.x
        return result.x

    def split_loss(self, lam, split: RowSplit, report: Report | None = None) -> float:
        x = self._fit(split, lam)
        value = float(np.sum((matvec(split.A_val, x) - split.b_val) ** 2))
        if report is not None:
            report(0, value / split.val.size)
        return value

    def split_path(self, lams, split: RowSplit) -> np.ndarray:
        """Held-out squared errors along λ rows proportional to ``direction`` (one warm-started
        path); other rows are fitted one by one."""
        lams = np.asarray(lams, dtype=float)
        multipliers = lams[:, 0] / self.direction[0]
        if not np.allclose(lams, multipliers[:, None] * self.direction[None, :], rtol=1e-10, atol=0.0):
            return np.array([self.split_loss(lam, split) for lam in lams])
        candidates = compute_candidates(split.A_train, split.b_train, self.penalty, self.groups, self.direction,
                                        multipliers * split.share, tol=self.tol, solver=self.solver, with_dof=False)
        self.compute.fits += len(multipliers)
        self.compute.epochs += candidates.n_iter
        self.unconverged += candidates.unconverged
        losses = np.empty(len(multipliers))   # the path runs in decreasing t; answer in the rows' order
        losses[np.argsort(-multipliers, kind="stable")] = [float(np.sum((matvec(split.A_val, x) - split.b_val) ** 2))
                                                           for x in candidates.coefs]
        return losses

    def split_loss_and_gradient(self, lam, split: RowSplit):
        """Held-out ‖A_v x − b_v‖² and its gradient in λ (chain rule through λ·share)."""
        x = self._fit(split, lam)
        half, grad = hypergradient(split.A_train, split.A_val, split.b_val, x, self.penalty,
                                   np.asarray(lam) * split.share, self.groups)
        return 2.0 * half, 2.0 * grad * split.share

    def split_entry(self, lam, split: RowSplit):
        """(whether each group is zero in the split's fit at λ, its entry threshold τ_g in λ's
        units). On the split, x_g = 0 stays optimal while λ_g·share ≥ ‖A_t,gᵀ(A_t x − b_t)‖_*
        (the dual norm of the penalty's group part), so τ_g = that norm / share; a penalty
        without entry thresholds reports no zero group (no probe)."""
        x = self._fit(split, lam)
        if not (self.penalty.convex and self.penalty.supports("entry_thresholds")):
            return np.zeros(len(self.names), dtype=bool), np.full(len(self.names), np.inf)
        grad = rmatvec(split.A_train, matvec(split.A_train, x) - split.b_train)
        return self.groups.norms(x) == 0, self.penalty.entry_thresholds(grad, self.groups) / split.share

    def warm_state(self, split: RowSplit):
        """The split's last solution (its next fit's warm start)."""
        return None if split.x is None else split.x.copy()

    def set_warm_state(self, split: RowSplit, state) -> None:
        split.x = state

    def refit(self, lam) -> np.ndarray:
        """x at λ on every row."""
        whole = RowSplit(np.arange(self.A.shape[0]), np.arange(0), 1.0, self.A, self.b, None, None)
        return self._fit(whole, lam)

    def evidence_statistics(self, lam) -> EvidenceStatistics:
        """γ_g, ‖x_g‖²_f, ‖Ax − b‖² of the exact Gaussian posterior at λ (L2 penalty only):
        with ½‖Ax − b‖² + Σ_g λ_g ½‖x_g‖²_f, λ_g = α_g / β (scale 1). An operator A is
        materialized once, column by column (at most ``MAX_EVIDENCE_ENTRIES`` entries); one
        posterior counts as a fit (:class:`~lamina.tuners.evidence_search.EvidenceSearch`)."""
        if self._posterior is None:
            if not self.penalty.supports("quadratic_strengths"):
                raise ValueError(f"the evidence needs the L2 penalty (a Gaussian prior); got penalty "
                                 f"{self.penalty.name!r}")
            self._posterior = GaussianPosterior(_dense_matrix(self.A), np.asarray(self.b, dtype=np.float64),
                                                self.groups, self.penalty.prior_factors(self.groups))
        self.compute.fits += 1
        return gaussian_statistics(self._posterior, lam, scale=1.0)

    # ------------------------------------------------------------------ ranges
    def default_grid(self, n_values: int | None = None) -> np.ndarray:
        return default_multipliers(self.A, self.b, self.penalty, self.groups, self.direction,
                                   40 if n_values is None else n_values)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """λ_g from the top of the one-λ grid down to 10⁻⁴ of it, or to the grid's bottom where
        that is lower (L2: 10⁻⁶ ‖A‖², seven decades; the bounds had stopped three decades above
        it, and the descent clipped the scan's best point up into them) — per group, times
        direction."""
        grid = self.default_grid(3)
        top = float(grid[0]) * self.direction
        return np.minimum(top * 1e-4, float(grid[-1]) * self.direction), top


#: largest m·n of an operator the evidence materializes (≈ 400 MB of floats)
MAX_EVIDENCE_ENTRIES = 50_000_000


def _dense_matrix(A) -> np.ndarray:
    """A as a dense array (:func:`lamina.operators.to_dense`); an operator above
    ``MAX_EVIDENCE_ENTRIES`` entries is refused."""
    if not is_explicit(A) and A.shape[0] * A.shape[1] > MAX_EVIDENCE_ENTRIES:
        raise ValueError(f"the evidence needs A as a matrix: an operator of shape {A.shape} has more than "
                         f"{MAX_EVIDENCE_ENTRIES} entries; use tuner='gcv', 'sure' or 'cv'")
    return to_dense(A)


class KFoldCV(Tuner):
    """K-fold cross-validation over held-out measurements (rows of A): the rule ``tuner="cv"``.

    ``n_folds``: an int K (the shuffled K-fold of :func:`lamina.tuners.splits.cv_splits`, seeded
    by ``seed``) or any scikit-learn splitter over the rows (``check_cv``).

    The held-out errors are the K-fold losses of an :class:`OperatorProblem` along the path of
    multipliers t (λ = t·direction): each fold solves the path on the other rows with λ scaled by
    (m − m_v)/m and scores ‖b_v − A_v x‖². The t with the least total is read from the path on
    all rows, which is kept for the curve (residuals, seminorms) as the other rules do.
    """

    name = "cv"

    def __init__(self, n_folds=5, seed: int = 0):
        if isinstance(n_folds, (int, np.integer)) and not isinstance(n_folds, bool):
            n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
        self.n_folds = n_folds          # an int K, or any scikit-learn splitter (check_cv)
        self.seed = seed

    def tune(self, A, b, penalty="l1", groups=None, direction=None, multipliers=None, n_lams: int = 40,
             tol: float = 1e-6, solver=None, callback=None) -> TuneResult:
        started = time.perf_counter()
        problem = OperatorProblem(A, b, penalty, groups, direction, tol=tol, solver=solver, seed=self.seed)
        m = problem.A.shape[0]
        if m < 2:
            raise ValueError(f"A has {m} row: cross-validation needs at least 2 rows (measurements); give lam= a "
                             "value, or tuner='sure' or 'discrepancy' with sigma=")
        if isinstance(self.n_folds, int) and self.n_folds > m:
            raise ValueError(f"n_folds ({self.n_folds}) must not exceed the number of rows of A ({m})")
        multipliers = problem.default_grid(n_lams) if multipliers is None else check_multipliers(multipliers)
        multipliers = np.sort(multipliers)[::-1]   # the candidates' order
        lams = multipliers[:, None] * problem.direction[None, :]
        splits = problem.splits(self.n_folds)
        held_out_error = np.sum([problem.split_path(lams, split) for split in splits], axis=0)
        candidates = compute_candidates(problem.A, problem.b, problem.penalty, problem.groups, problem.direction,
                                        multipliers, tol=tol, solver=solver, callback=callback, with_dof=False)
        candidates.n_iter += int(problem.compute.epochs)
        candidates.unconverged += problem.unconverged
        # e.g. ridge on a tight frame under a row mask: A_val A_trᵀ = 0, the training fit predicts 0
        # on every held-out row whatever λ
        warn_if_flat(held_out_error, "the cross-validated error",
                     "the fit on the training rows predicts nothing of the held-out rows")
        index = int(np.argmin(held_out_error))
        return result_from_candidates(self.name, candidates, index, held_out_error / problem.held_out_rows,
                                      problem.groups, started,
                                      {"n_folds": len(splits)}, fits=len(splits) + 1)
