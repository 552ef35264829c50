"""Compiled inner loops of coordinate descent (numba).

One set of kernels serves dense (Fortran-ordered ndarray) and sparse (CSC) designs: column
access goes through ``_col_dot``/``_col_axpy``, which branch once on ``is_sparse``. Two
penalty families share the loop, picked by ``kind``: 0 = elastic-net family (coordinate
updates, per-coefficient strengths l1, l2), 1 = group L1 (block updates, per-group
threshold thr over the CSR layout order/ptr). Group blocks with an eigendecomposition in
eig_s/eig_v/voff (:func:`lamina.solvers._block_kernels.block_spectra`) are minimized exactly,
the others by one proximal-gradient step.

Working sets are lists of *units*: coefficients for kind 0, groups for kind 1.

Kernels are compiled with relaxed floating point limited to reassociation and fused
multiply-add (so that LLVM vectorizes the column products); results change at rounding
level only. NaN/inf semantics stay strict, so the finiteness checks remain meaningful. All
kernels share these flags so that LLVM inlines the column helpers into the loops.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from lamina.solvers._block_kernels import exact_block_values

ELASTIC_NET, GROUP_L1 = 0, 1

_FAST = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, fastmath=_FAST, inline="always")
def _dot_dense(X, j, vec):
    total = 0.0
    for i in range(X.shape[0]):
        total += X[i, j] * vec[i]
    return total


@njit(cache=True, fastmath=_FAST, inline="always")
def _dot_sparse(data, indices, start, stop, vec):
    total = 0.0
    for k in range(start, stop):
        total += data[k] * vec[indices[k]]
    return total


@njit(cache=True, fastmath=_FAST, inline="always")
def _axpy_dense(X, j, alpha, vec):
    for i in range(X.shape[0]):
        vec[i] -= alpha * X[i, j]


@njit(cache=True, fastmath=_FAST, inline="always")
def _axpy_sparse(data, indices, start, stop, alpha, vec):
    for k in range(start, stop):
        vec[indices[k]] -= alpha * data[k]


@njit(cache=True, fastmath=_FAST, inline="always")
def _col_dot(j, vec, X, data, indices, indptr, is_sparse):
    """X[:, j] · vec."""
    if is_sparse:
        return _dot_sparse(data, indices, indptr[j], indptr[j + 1], vec)
    return _dot_dense(X, j, vec)


@njit(cache=True, fastmath=_FAST, inline="always")
def _col_axpy(j, alpha, vec, X, data, indices, indptr, is_sparse):
    """vec -= alpha * X[:, j]."""
    if is_sparse:
        _axpy_sparse(data, indices, indptr[j], indptr[j + 1], alpha, vec)
    else:
        _axpy_dense(X, j, alpha, vec)


@njit(cache=True, fastmath=_FAST, inline="always")
def _vdot(a, b):
    """a · b as a plain loop: BLAS' threaded ddot stalls when the cores are shared."""
    total = 0.0
    for i in range(a.shape[0]):
        total += a[i] * b[i]
    return total


@njit(cache=True, fastmath=_FAST)
def column_norms2(X, data, indices, indptr, is_sparse, out):
    """out_j = ‖X[:, j]‖²."""
    for j in range(out.shape[0]):
        total = 0.0
        if is_sparse:
            for k in range(indptr[j], indptr[j + 1]):
                total += data[k] * data[k]
        else:
            for i in range(X.shape[0]):
                total += X[i, j] * X[i, j]
        out[j] = total
    return out


@njit(cache=True, fastmath=_FAST)
def enet_certificate(y, w, R, corr, l1, l2, lips, violations, R_dual, corr_dual):
    """Primal value, stopping criterion and per-coefficient violations, elastic-net family.

    Same quantities as ``penalty.value``, ``base.duality_gap`` and
    ``penalty.subdiff_distance`` of :class:`~lamina.penalties.ElasticNet`, in one pass
    (R = y − Xw and corr = XᵀR must be exact; they give the primal value and the violations).
    The dual point is θ = R_dual/s with s = max(1, max |corr_dual_j|/a_j over pure-L1
    coordinates), corr_dual = XᵀR_dual; the dual objective is yᵀθ − ½‖θ‖² −
    Σ_{c_j>0} max(|corr_dual_j|/s − a_j, 0)²/(2c_j). R_dual is R with the unpenalized
    coefficients (a_j = c_j = 0) refitted by least squares, which makes θ feasible for them
    (:class:`lamina.solvers.free_coefficients.FreeProjection`); where they are not refitted
    (R_dual = R) the gap takes them as optimal, and the criterion adds the decrease still
    available on each of them, corr_dual_j²/(2‖X_j‖²) (0 after the refit).
    """
    pen = 0.0
    scale = 1.0
    free = 0.0
    for j in range(w.shape[0]):
        a, c, wj = l1[j], l2[j], w[j]
        pen += a * abs(wj) + 0.5 * c * wj * wj
        if c == 0.0 and a > 0.0:
            scale = max(scale, abs(corr_dual[j]) / a)
        elif c == 0.0 and lips[j] > 0.0:
            free += corr_dual[j] * corr_dual[j] / (2.0 * lips[j])
        smooth = c * wj - corr[j]
        if wj > 0.0:
            violations[j] = abs(smooth + a)
        elif wj < 0.0:
            violations[j] = abs(smooth - a)
        else:
            violations[j] = max(abs(smooth) - a, 0.0)
    conj = 0.0
    for j in range(w.shape[0]):
        if l2[j] > 0.0:
            excess = max(abs(corr_dual[j]) / scale - l1[j], 0.0)
            conj += excess * excess / (2.0 * l2[j])
    primal = 0.5 * _vdot(R, R) + pen
    dual = _vdot(y, R_dual) / scale - _vdot(R_dual, R_dual) / (2.0 * scale * scale) - conj
    return primal, max(primal - dual, 0.0) + free


@njit(cache=True, fastmath=_FAST)
def correlations(R, X, data, indices, indptr, is_sparse, out):
    """out = Xᵀ R, one column at a time (single-threaded, no BLAS thread start-up)."""
    for j in range(out.shape[0]):
        out[j] = _col_dot(j, R, X, data, indices, indptr, is_sparse)
    return out


@njit(cache=True, fastmath=_FAST)
def residual(y, w, X, data, indices, indptr, is_sparse, out):
    """out = y − X w, summed over the nonzero coefficients only."""
    out[:] = y
    for j in range(w.shape[0]):
        if w[j] != 0.0:
            _col_axpy(j, w[j], out, X, data, indices, indptr, is_sparse)
    return out


@njit(cache=True, fastmath=_FAST)
def _unit_coefs(kind, ws, order, ptr):
    """Coefficient indices covered by the working set."""
    if kind == ELASTIC_NET:
        return ws.copy()
    total = 0
    for g in ws:
        total += ptr[g + 1] - ptr[g]
    coefs = np.empty(total, dtype=np.int64)
    pos = 0
    for g in ws:
        for k in range(ptr[g], ptr[g + 1]):
            coefs[pos] = order[k]
            pos += 1
    return coefs


@njit(cache=True, fastmath=_FAST)
def _epoch(kind, ws, w, R, lips, l1, l2, thr, order, ptr, eig_s, eig_v, voff, X, data, indices, indptr,
           is_sparse, buf, grad, scratch, spectral):
    """One pass of (block) coordinate descent over the working set; updates w and R = y − Xw."""
    if kind == ELASTIC_NET:
        for j in ws:
            lip = lips[j]
            if lip == 0.0:
                continue
            old = w[j]
            z = lip * old + _col_dot(j, R, X, data, indices, indptr, is_sparse)
            a = l1[j]
            if z > a:
                new = (z - a) / (lip + l2[j])
            elif z < -a:
                new = (z + a) / (lip + l2[j])
            else:
                new = 0.0
            if new != old:
                _col_axpy(j, new - old, R, X, data, indices, indptr, is_sparse)
                w[j] = new
    else:
        for g in ws:
            lip = lips[g]
            if lip == 0.0:
                continue
            start, stop = ptr[g], ptr[g + 1]
            if voff[g + 1] > voff[g]:
                _exact_block(g, start, stop, w, R, thr[g], order, eig_s, eig_v, voff, X, data, indices, indptr,
                             is_sparse, buf, grad, scratch, spectral)
                continue
            norm2 = 0.0
            for k in range(start, stop):
                j = order[k]
                value = w[j] + _col_dot(j, R, X, data, indices, indptr, is_sparse) / lip
                buf[k - start] = value
                norm2 += value * value
            norm = np.sqrt(norm2)
            scale = 0.0
            if norm > thr[g] / lip:
                scale = 1.0 - thr[g] / (lip * norm)
            for k in range(start, stop):
                j = order[k]
                new = scale * buf[k - start]
                if new != w[j]:
                    _col_axpy(j, new - w[j], R, X, data, indices, indptr, is_sparse)
                    w[j] = new


@njit(cache=True, fastmath=_FAST)
def _exact_block(g, start, stop, w, R, tau, order, eig_s, eig_v, voff, X, data, indices, indptr, is_sparse,
                 current, grad, new, spectral):
    """Block g minimized exactly (:mod:`lamina.solvers._block_kernels`); updates w and R."""
    p = stop - start
    for k in range(p):
        j = order[start + k]
        current[k] = w[j]
        grad[k] = _col_dot(j, R, X, data, indices, indptr, is_sparse)
    exact_block_values(start, stop, voff[g], current, grad, tau, eig_s, eig_v, spectral, new)
    for k in range(p):
        j = order[start + k]
        if new[k] != current[k]:
            _col_axpy(j, new[k] - current[k], R, X, data, indices, indptr, is_sparse)
            w[j] = new[k]


@njit(cache=True, fastmath=_FAST)
def _penalty_on(kind, ws, w, l1, l2, thr, order, ptr):
    total = 0.0
    if kind == ELASTIC_NET:
        for j in ws:
            total += l1[j] * abs(w[j]) + 0.5 * l2[j] * w[j] * w[j]
    else:
        for g in ws:
            norm2 = 0.0
            for k in range(ptr[g], ptr[g + 1]):
                norm2 += w[order[k]] ** 2
            total += thr[g] * np.sqrt(norm2)
    return total


@njit(cache=True, fastmath=_FAST)
def _max_violation(kind, ws, w, R, l1, l2, thr, order, ptr, X, data, indices, indptr, is_sparse):
    """Largest distance of −∇ to the subdifferential over the working set."""
    worst = 0.0
    if kind == ELASTIC_NET:
        for j in ws:
            grad = -_col_dot(j, R, X, data, indices, indptr, is_sparse) + l2[j] * w[j]
            if w[j] != 0.0:
                violation = abs(grad + l1[j] * np.sign(w[j]))
            else:
                violation = max(abs(grad) - l1[j], 0.0)
            worst = max(worst, violation)
    else:
        for g in ws:
            wnorm2, gnorm2, dist2 = 0.0, 0.0, 0.0
            for k in range(ptr[g], ptr[g + 1]):
                wnorm2 += w[order[k]] ** 2
            wnorm = np.sqrt(wnorm2)
            for k in range(ptr[g], ptr[g + 1]):
                j = order[k]
                grad = -_col_dot(j, R, X, data, indices, indptr, is_sparse)
                gnorm2 += grad * grad
                if wnorm > 0.0:
                    dist2 += (grad + thr[g] * w[j] / wnorm) ** 2
            violation = np.sqrt(dist2) if wnorm > 0.0 else max(np.sqrt(gnorm2) - thr[g], 0.0)
            worst = max(worst, violation)
    return worst


@njit(cache=True, fastmath=_FAST)
def _anderson_weights(iterates):
    """Weights c (Σc = 1) of Anderson extrapolation from the last K+1 iterates (rows).

    c minimizes ‖Σ_k c_k (x_{k+1} − x_k)‖ subject to Σ c = 1; the extrapolated point is
    Σ_k c_k x_{k+1}. Returns (c, ok); ok is False when the system is degenerate.
    """
    n_diffs = iterates.shape[0] - 1
    gram = np.empty((n_diffs, n_diffs))
    for a in range(n_diffs):
        for b in range(a + 1):
            total = 0.0
            for k in range(iterates.shape[1]):
                total += (iterates[a + 1, k] - iterates[a, k]) * (iterates[b + 1, k] - iterates[b, k])
            gram[a, b] = total
            gram[b, a] = total
    scale = np.trace(gram)
    if not scale > 0.0:
        return np.zeros(n_diffs), False
    gram = gram / scale + 1e-10 * np.eye(n_diffs)
    z = np.linalg.solve(gram, np.ones(n_diffs))
    total = z.sum()
    if not np.isfinite(total) or total == 0.0:
        return z, False
    return z / total, True


@njit(cache=True, fastmath=_FAST)
def solve_subproblem(kind, ws, w, R, lips, l1, l2, thr, order, ptr, eig_s, eig_v, voff, X, data, indices,
                     indptr, is_sparse, tol, max_epochs, n_anderson):
    """CD epochs on the working set until its optimality violation is ≤ tol.

    Every ``n_anderson + 1`` epochs an Anderson-extrapolated point replaces the iterate when
    it lowers the objective (Bertrand & Massias 2021). The residual R = y − Xw is affine in
    w, so the extrapolated residual is the same combination of the stored residuals: no
    product with X is needed to evaluate the extrapolated point. Returns the number of epochs.
    """
    coefs = _unit_coefs(kind, ws, order, ptr)
    n_coefs = coefs.shape[0]
    max_block = 1
    if kind == GROUP_L1:
        for g in ws:
            max_block = max(max_block, ptr[g + 1] - ptr[g])
    buf, grad, scratch, spectral = np.empty(max_block), np.empty(max_block), np.empty(max_block), np.empty(max_block)
    memory = n_anderson + 1
    iterates = np.empty((memory, n_coefs))
    residuals = np.empty((memory, R.shape[0]))
    point = np.empty(n_coefs)
    R_trial = np.empty_like(R)
    for epoch in range(1, max_epochs + 1):
        _epoch(kind, ws, w, R, lips, l1, l2, thr, order, ptr, eig_s, eig_v, voff, X, data, indices, indptr,
               is_sparse, buf, grad, scratch, spectral)
        if n_anderson > 0:
            slot = (epoch - 1) % memory
            for k in range(n_coefs):
                iterates[slot, k] = w[coefs[k]]
            residuals[slot] = R
            if slot == memory - 1:
                weights, ok = _anderson_weights(iterates)
                if ok:
                    point[:] = 0.0
                    R_trial[:] = 0.0
                    for k in range(memory - 1):
                        point += weights[k] * iterates[k + 1]
                        R_trial += weights[k] * residuals[k + 1]
                    current = 0.5 * _vdot(R, R) + _penalty_on(kind, ws, w, l1, l2, thr, order, ptr)
                    for k in range(n_coefs):
                        w[coefs[k]] = point[k]
                    trial = 0.5 * _vdot(R_trial, R_trial) + _penalty_on(kind, ws, w, l1, l2, thr,
                                                                          order, ptr)
                    if trial < current:
                        R[:] = R_trial
                    else:
                        for k in range(n_coefs):
                            w[coefs[k]] = iterates[memory - 1, k]
        if epoch % 10 == 0:
            if _max_violation(kind, ws, w, R, l1, l2, thr, order, ptr, X, data, indices, indptr,
                              is_sparse) <= tol:
                return epoch
    return max_epochs
