"""Coordinate descent with working sets for explicit matrices (dense or sparse).

Solves  min_w ½‖y − Xw‖² + Σ_j a_j|w_j| + ½ Σ_j c_j w_j²   (L1, L2, elastic net)
   or   min_w ½‖y − Xw‖² + Σ_g t_g ‖w_g‖₂                    (group L1)
with strengths from the penalty, λ per group and penalty factors.

Outer loop (Python): r = y − Xw recomputed from scratch and one full gradient Xᵀr per
iteration (numba, single-threaded: BLAS threads stall on shared cores), then duality gap
and optimality violation per unit (one compiled pass for the elastic-net family); working
set = the units with the largest violations plus the current support, doubling with the
support (Johnson & Guestrin 2015; Massias et al. 2018). Inner loop (numba): CD epochs with
Anderson extrapolation on the working set, to a tolerance 0.3 × the outer violation (as
skglm does). Stops when gap ≤ tol · min(½‖y‖², P) (P the objective; :func:`gap_threshold`), the gap
being computed from the exact residual, its dual point with the unpenalized coefficients refitted
by least squares (:func:`~lamina.solvers.free_coefficients.free_projection`; beyond what it
refits, they are taken as optimal and add ‖∇_g‖²/(2L_g)). Group L1, once an inner solve stalls: the
smaller of that gap and one whose dual point comes from a Newton step on the support
(:mod:`lamina.solvers.polished_dual`; rounding in w on columns of very different norms keeps the
first far from feasible at the optimum).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lamina.groups import Groups
from lamina.penalties import Penalty
from lamina.penalties.base import MissingCapability
from lamina.solvers import _cd_kernels as kernels
from lamina.solvers._block_kernels import block_spectra
from lamina.solvers.base import Monitor, SolveResult, duality_gap, gap_threshold
from lamina.solvers.face_newton import AT_MINIMUM, face_newton_step
from lamina.solvers.free_coefficients import free_projection
from lamina.solvers.polished_dual import polished_residual

#: stop after this many inner solves that stall (their whole epoch budget spent, or face-Newton steps
#: that no longer lower the objective beyond rounding) without the duality gap
#: reaching a new low: on ill-conditioned designs the gap floors at rounding above a tiny tol, and
#: each further outer iteration would cost max_epochs (breast_cancer unscaled, tol 1e-15: 200 of
#: them took 42 s)
MAX_STALLS = 3
#: CD epochs between two Newton steps on the orthant face (at least |working set|)
NEWTON_ROUND = 50
_EMPTY_DENSE = np.empty((0, 0), order="F")
_EMPTY_DATA, _EMPTY_INDEX = np.empty(0), np.empty(0, dtype=np.int32)
_NO_BLOCKS = np.zeros(1, dtype=np.int64)


def _design_arrays(X):
    """(X, data, indices, indptr, is_sparse) as the kernels expect them."""
    if sp.issparse(X):
        X = sp.csc_matrix(X)
        if not X.has_canonical_format:   # duplicate entries would spoil ‖X_j‖²
            X = X.copy()
            X.sum_duplicates()
        return (_EMPTY_DENSE, np.asarray(X.data, dtype=np.float64), np.asarray(X.indices, dtype=np.int32),
                np.asarray(X.indptr, dtype=np.int32), True)
    return np.asfortranarray(X, dtype=np.float64), _EMPTY_DATA, _EMPTY_INDEX, _EMPTY_INDEX, False


def column_lipschitz(X) -> np.ndarray:
    """‖X_j‖² per column."""
    design = _design_arrays(X)
    return kernels.column_norms2(*design, np.empty(X.shape[1]))


def _certificate(kind, penalty, lam, groups, y, w, residual, corr, l1, l2, lipschitz, free,
                 violations, projection=None, dual=None):
    """(primal, criterion), filling ``violations`` (distance of −∇ to ∂R per unit).

    The criterion is the duality gap. Its dual point comes from the residual with the
    unpenalized coefficients refitted by least squares (``projection``, a
    :class:`~lamina.solvers.free_coefficients.FreeProjection`), so that it bounds P − P* however
    correlated their columns are; without one (none free, or too many) the gap takes the free
    units as optimal and adds the decrease one more block step would still give on each,
    ‖∇_g‖²/(2L_g) — which is no bound for correlated free columns (relative excess 6e-3 at tol
    1e-6 with three near-collinear unpenalized features).
    ``dual``: (residual, correlations) to take the dual point from instead of the iterate's
    (:func:`~lamina.solvers.polished_dual.polished_residual`).
    """
    dual_residual, dual_corr = (residual, corr) if dual is None else dual
    if projection is not None:
        dual_residual, dual_corr = projection(dual_residual, dual_corr)
    if kind == kernels.ELASTIC_NET:
        return kernels.enet_certificate(y, w, residual, corr, l1, l2, lipschitz, violations, dual_residual, dual_corr)
    primal = 0.5 * float(np.dot(residual, residual)) + penalty.value(w, lam, groups)
    violations[:] = penalty.subdiff_distance(w, -corr, lam, groups)
    gap = duality_gap(penalty, lam, groups, y, dual_residual, dual_corr, primal)
    if np.any(free):
        block_norm2 = groups.sum(dual_corr * dual_corr)[free]
        gap += float(np.sum(block_norm2 / (2.0 * np.maximum(lipschitz[free], np.finfo(float).tiny))))
    return primal, gap


def _solve_working_set(kind, ws, w, residual, lipschitz, l1, l2, thr, groups, spectra, design, matrix, tol_in,
                       max_epochs, n_anderson) -> tuple[int, bool]:
    """CD epochs on the working set to ``tol_in``; returns (epochs spent, stalled).

    Elastic-net family: the epochs run in rounds, and between rounds that end unconverged a
    Newton step on the current orthant face (:mod:`lamina.solvers.face_newton`) jumps to the
    face's minimizer — one step once CD has found the signs, where ill-conditioned columns would
    leave CD tens of thousands of epochs. A round lasts max(50, |ws|, s³/(3·nnz)) epochs, s = |ws|
    bounding the face and nnz the working set's nonzeros in X: at least the flops of the step's
    s × s factorization (the Gram costs no more than |ws| epochs on a dense X). Two steps in a
    row that find w at the face's minimizer to rounding, a CD round between them, mean that
    rounding, not the method, keeps ``tol_in`` out of reach: stalled.
    """
    def epochs_of(budget):
        return kernels.solve_subproblem(kind, ws, w, residual, lipschitz, l1, l2, thr, groups.order, groups.ptr,
                                        *spectra, *design, tol_in, budget, n_anderson)
    if kind != kernels.ELASTIC_NET:
        spent = epochs_of(max_epochs)
        return spent, spent >= max_epochs
    spent, newton, idle_steps = 0, True, 0
    round_size = _round_size(ws, design)
    while spent < max_epochs:
        budget = min(round_size, max_epochs - spent) if newton else max_epochs - spent
        epochs = epochs_of(budget)
        spent += epochs
        if epochs < budget or not newton:
            break
        outcome = face_newton_step(matrix, w, residual, ws, l1, l2)
        newton = outcome is not None
        idle_steps = idle_steps + 1 if outcome == AT_MINIMUM else 0
        if idle_steps == 2:
            return spent, True
    return spent, spent >= max_epochs


def _round_size(ws, design) -> int:
    """CD epochs between two face steps (see :func:`_solve_working_set`)."""
    X, _, _, indptr, is_sparse = design
    nonzeros = float(np.sum(indptr[ws + 1] - indptr[ws])) if is_sparse else float(X.shape[0]) * ws.size
    factorization = ws.size ** 3 / 3.0
    return int(max(NEWTON_ROUND, ws.size, np.ceil(factorization / max(nonzeros, 1.0))))


def coordinate_descent(X, y, penalty: Penalty, lam, groups: Groups, *, x0=None, tol: float = 1e-6,
                       max_iter: int = 100, max_epochs: int = 50_000, p0: int = 100,
                       n_anderson: int = 5, callback=None, lipschitz=None) -> SolveResult:
    """Working-set coordinate descent for the elastic-net family and group L1 (blocks of up to
    :data:`~lamina.solvers._block_kernels.MAX_EXACT_BLOCK` coefficients minimized exactly).

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix, shape (n_samples, n_features)
    y : ndarray, shape (n_samples,)
    penalty : Penalty with ``separable_l1_l2`` (elastic-net family) or ``block_l2_thresholds``
        (group L1)
    lam : ndarray, shape (n_groups,)
        λ per group (validated by the caller).
    groups : Groups
    x0 : ndarray, shape (n_features,), optional
        Warm start.
    tol : float
        Stop when the duality gap ≤ tol · min(½‖y‖², objective), down to the gap's rounding
        resolution (:func:`gap_threshold`).
    max_iter : int
        Outer iterations (working-set updates).
    max_epochs : int
        Epoch budget of each inner solve.
    p0 : int
        Initial working-set size. Each outer iteration costs one pass over X (the
        certificate), so the set starts large enough that few passes are needed and never
        shrinks: size = max(p0, 2·|support|, previous size).
    n_anderson : int
        Iterates per Anderson extrapolation (0 disables it).
    callback : callable, optional
        ``callback(iteration, w, objective, gap)``; returning True stops.
    lipschitz : ndarray, optional
        Precomputed ‖X_j‖² (or ‖X_g‖₂² for group L1), e.g. shared along a path.

    Returns
    -------
    SolveResult
    """
    if penalty.supports("separable_l1_l2"):
        kind, n_units = kernels.ELASTIC_NET, groups.n_features
        l1, l2 = penalty.separable_l1_l2(lam, groups)
        thr = _EMPTY_DATA
        always_in = (l1 == 0)
    elif penalty.supports("block_l2_thresholds"):
        kind, n_units = kernels.GROUP_L1, groups.n_groups
        l1 = l2 = _EMPTY_DATA
        thr = penalty.block_l2_thresholds(lam, groups)
        always_in = (thr == 0)
    else:
        raise MissingCapability(
            f"coordinate descent needs penalty {penalty.name!r} ({type(penalty).__name__}) to provide "
            "separable_l1_l2() (R = Σ a_j|x_j| + c_j x_j²/2) or block_l2_thresholds() (R = Σ t_g‖x_g‖₂)")
    design = _design_arrays(X)
    matrix = (sp.csc_matrix(tuple(design[1:4]), shape=X.shape) if design[4] else design[0])   # face-Newton steps
    y = np.ascontiguousarray(y, dtype=np.float64)
    if kind == kernels.ELASTIC_NET:
        spectra = (_EMPTY_DATA, _EMPTY_DATA, _NO_BLOCKS)
        if lipschitz is None:
            lipschitz = kernels.column_norms2(*design, np.empty(groups.n_features))
    else:   # exact block updates where the block is small enough (lamina.solvers._block_kernels)
        block_lipschitz, *spectra = block_spectra(X, groups)
        lipschitz = block_lipschitz if lipschitz is None else lipschitz
    lipschitz = np.ascontiguousarray(lipschitz, dtype=np.float64)
    w = np.zeros(groups.n_features) if x0 is None else np.array(x0, dtype=np.float64)
    residual = np.empty_like(y)
    corr = np.empty(groups.n_features)
    violations = np.empty(n_units)
    half_norm_y = 0.5 * float(y @ y)
    projection = free_projection(X, penalty, lam, groups)   # the gap's refit of the unpenalized coefficients
    monitor = Monitor("coordinate_descent", tol, "duality_gap", callback)
    n_epochs = 0
    iteration = 0
    ws_size = 0
    best_gap, stalls = np.inf, 0   # inner solves that spent all their epochs since the gap last fell

    def certify(iteration, polish=False):
        # Recomputed from scratch: the certificate uses y − Xw itself, whatever rounding
        # the incremental updates of the inner solver have accumulated.
        kernels.residual(y, w, *design, residual)
        kernels.correlations(residual, *design, corr)
        primal, gap = _certificate(kind, penalty, lam, groups, y, w, residual, corr, l1, l2,
                                   lipschitz, always_in, violations, projection)
        threshold = gap_threshold(tol, primal, half_norm_y)
        if polish and kind == kernels.GROUP_L1 and gap > threshold:
            # an inner solve stalled: a second dual point, from a Newton step on the support (rounding
            # in w on columns of very different norms can keep the first one far from feasible at the
            # optimum; while the solver still makes progress, the first one keeps w's gradient honest)
            polished = polished_residual(matrix, w, residual, penalty, lam, groups)
            if polished is not None:
                gap = min(gap, _certificate(kind, penalty, lam, groups, y, w, residual, corr, l1, l2, lipschitz,
                                            always_in, violations, projection, dual=polished)[1])
        return gap, monitor.record(iteration, w, primal, gap, threshold)

    stalled = False
    for iteration in range(1, max_iter + 1):
        gap, stop = certify(iteration, polish=stalled)
        if gap < best_gap:
            best_gap, stalls = gap, 0
        if stop or stalls >= MAX_STALLS:
            break   # converged, or whole epoch budgets no longer lower the gap: rounding, not tol, limits it
        support = (w != 0) if kind == kernels.ELASTIC_NET else (groups.norms(w) > 0)
        ws_size = min(n_units, max(p0, 2 * int(support.sum()), ws_size))
        priority = np.where(support | always_in, np.inf, violations)
        ws = np.argpartition(-priority, ws_size - 1)[:ws_size] if ws_size < n_units else np.arange(n_units)
        ws = np.sort(ws).astype(np.int64)
        tol_in = 0.3 * float(np.max(violations))
        epochs, stalled = _solve_working_set(kind, ws, w, residual, lipschitz, l1, l2, thr, groups, spectra, design,
                                             matrix, tol_in, max_epochs, n_anderson)
        n_epochs += epochs
        stalls += stalled
        if projection is not None:   # the free coefficients minimized exactly, given the others:
            # one least-squares step, where CD crawls on ill-conditioned free columns
            kernels.residual(y, w, *design, residual)
            w[projection.index] += projection.pinv @ residual
    else:   # max_iter ran out after an inner solve: certify the w that is returned, not the one before it
        if max_iter > 0:
            certify(iteration, polish=stalled)
    return monitor.result(w, iteration, lam=lam, n_epochs=n_epochs)
