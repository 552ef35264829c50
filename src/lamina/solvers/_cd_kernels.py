"""Compiled inner loops of coordinate descent (numba).

One set of kernels serves dense (Fortran-ordered ndarray) and sparse (CSC) designs: column
access goes through ``_col_dot``/``_col_axpy``, which branch once on ``is_sparse``. Two
penalty families share the loop, picked by ``kind``: 0 = elastic-net family (coordinate
updates, per-coefficient strengths l1, l2), 1 = group L1 (block updates, per-group
threshold thr over the CSR layout order/ptr).

Working sets are lists of *units*: coefficients for kind 0, groups for kind 1.
"""
from __future__ import annotations

import numpy as np
from numba import njit

ELASTIC_NET, GROUP_L1 = 0, 1


@njit(cache=True, inline="always")
def _col_dot(j, vec, X, data, indices, indptr, is_sparse):
    total = 0.0
    if is_sparse:
        for k in range(indptr[j], indptr[j + 1]):
            total += data[k] * vec[indices[k]]
    else:
        for i in range(X.shape[0]):
            total += X[i, j] * vec[i]
    return total


@njit(cache=True, inline="always")
def _col_axpy(j, alpha, vec, X, data, indices, indptr, is_sparse):
    """vec -= alpha * X[:, j]."""
    if is_sparse:
        for k in range(indptr[j], indptr[j + 1]):
            vec[indices[k]] -= alpha * data[k]
    else:
        for i in range(X.shape[0]):
            vec[i] -= alpha * X[i, j]


@njit(cache=True)
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


@njit(cache=True)
def _epoch(kind, ws, w, R, lips, l1, l2, thr, order, ptr, X, data, indices, indptr, is_sparse, buf):
    """One pass of (block) coordinate descent over the working set; updates w and R = y − Xw."""
    if kind == ELASTIC_NET:
        for j in ws:
            lip = lips[j]
            if lip == 0.0:
                continue
            old = w[j]
            z = lip * old + _col_dot(j, R, X, data, indices, indptr, is_sparse)
            mag = abs(z) - l1[j]
            new = 0.0
            if mag > 0.0:
                new = np.sign(z) * mag / (lip + l2[j])
            if new != old:
                _col_axpy(j, new - old, R, X, data, indices, indptr, is_sparse)
                w[j] = new
    else:
        for g in ws:
            lip = lips[g]
            if lip == 0.0:
                continue
            start, stop = ptr[g], ptr[g + 1]
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


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
def _anderson(iterates):
    """Anderson extrapolation of the last K+1 iterates (rows); returns (point, ok)."""
    n_rows = iterates.shape[0]
    diffs = iterates[1:] - iterates[:-1]
    gram = diffs @ diffs.T
    scale = np.trace(gram)
    if not scale > 0.0:
        return iterates[-1].copy(), False
    gram = gram / scale + 1e-10 * np.eye(n_rows - 1)
    z = np.linalg.solve(gram, np.ones(n_rows - 1))
    total = z.sum()
    if not np.isfinite(total) or total == 0.0:
        return iterates[-1].copy(), False
    coefs = z / total
    point = np.zeros(iterates.shape[1])
    for k in range(n_rows - 1):
        point += coefs[k] * iterates[k + 1]
    return point, True


@njit(cache=True)
def solve_subproblem(kind, ws, w, R, lips, l1, l2, thr, order, ptr, X, data, indices, indptr,
                     is_sparse, tol, max_epochs, n_anderson):
    """CD epochs on the working set until its optimality violation is ≤ tol.

    Every ``n_anderson + 1`` epochs an Anderson-extrapolated point replaces the iterate when
    it lowers the objective (Bertrand & Massias 2021). Returns the number of epochs.
    """
    coefs = _unit_coefs(kind, ws, order, ptr)
    max_block = 1
    if kind == GROUP_L1:
        for g in ws:
            max_block = max(max_block, ptr[g + 1] - ptr[g])
    buf = np.empty(max_block)
    memory = n_anderson + 1
    iterates = np.empty((memory, coefs.shape[0]))
    R_trial = np.empty_like(R)
    for epoch in range(1, max_epochs + 1):
        _epoch(kind, ws, w, R, lips, l1, l2, thr, order, ptr, X, data, indices, indptr, is_sparse, buf)
        if n_anderson > 0:
            slot = (epoch - 1) % memory
            for k in range(coefs.shape[0]):
                iterates[slot, k] = w[coefs[k]]
            if slot == memory - 1:
                point, ok = _anderson(iterates)
                if ok:
                    R_trial[:] = R
                    for k in range(coefs.shape[0]):
                        delta = point[k] - w[coefs[k]]
                        if delta != 0.0:
                            _col_axpy(coefs[k], delta, R_trial, X, data, indices, indptr, is_sparse)
                    current = 0.5 * np.dot(R, R) + _penalty_on(kind, ws, w, l1, l2, thr, order, ptr)
                    saved = w[coefs].copy()
                    for k in range(coefs.shape[0]):
                        w[coefs[k]] = point[k]
                    trial = 0.5 * np.dot(R_trial, R_trial) + _penalty_on(kind, ws, w, l1, l2, thr, order, ptr)
                    if trial < current:
                        R[:] = R_trial
                    else:
                        for k in range(coefs.shape[0]):
                            w[coefs[k]] = saved[k]
        if epoch % 10 == 0:
            if _max_violation(kind, ws, w, R, l1, l2, thr, order, ptr, X, data, indices, indptr,
                              is_sparse) <= tol:
                return epoch
    return max_epochs
