"""Sparse synthesis in a tight frame from masked samples: the FISTA path and the λ per group.

For a Parseval frame S (S Sᵀ = I, so ‖M S‖ ≤ 1 for a 0/1 mask M) and observed samples v,

    c(λ) = argmin_c ½‖M(S c − v)‖² + Σ_j λ_j |c_j|,   x = S c,

solved by FISTA with step 1 and adaptive restart along a decreasing grid of λ vectors — on
short signals with products with the observed rows of S held densely
(:meth:`~lamina.inverse.dictionaries.Dictionary.matrix`; the frames' own transforms cost mostly
Python overhead there: 2.3× faster on 512-sample seismograms, 4–9× on 40–300 samples). The
relative λ per group g (wavelet level, frequency band) is the Laplace-prior MAP rule
λ_g ∝ 1/mean_{j∈g}|(Sᵀx₀)_j| for a pilot estimate x₀ (:func:`group_direction`).
"""
from __future__ import annotations

import numpy as np

from lamina.inverse.dictionaries import Dictionary


def _soft(v, threshold):
    return np.sign(v) * np.maximum(np.abs(v) - threshold, 0.0)


def _masked_operators(frame: Dictionary, mask):
    """(c ↦ (S c)[mask], r ↦ Sᵀ Mᵀ r) on the observed samples: products with the rows of
    :meth:`Dictionary.matrix` where the frame is small enough to hold densely, else the frame's
    own synthesis and analysis."""
    matrix = frame.matrix()
    if matrix is not None:
        rows = matrix[mask.ravel()]
        return (lambda c: rows @ c), (lambda r: r @ rows)

    def adjoint(r):
        full = np.zeros(mask.shape)
        full[mask] = r
        return frame.analysis(full)

    return (lambda c: frame.synthesis(c)[mask]), adjoint


def l1_path(frame: Dictionary, mask, values, thresholds, *, max_iter=150, tol: float = 1e-4) -> list:
    """Estimates S c(λ) of argmin ½‖M(S c − v)‖² + Σ_j λ_j |c_j| along ``thresholds``
    (rows: λ per coefficient, decreasing), by FISTA with step 1 and adaptive restart
    (O'Donoghue & Candès 2015), warm-started from one row to the next. ``max_iter``: the
    iteration budget of every row, or one budget per row."""
    mask = np.asarray(mask, bool)
    data = np.asarray(values, dtype=float)[mask]
    forward, adjoint = _masked_operators(frame, mask)
    budgets = np.broadcast_to(np.asarray(max_iter, dtype=int), (len(thresholds),))
    c = np.zeros(frame.n_coefs)
    out = []
    for lam, budget in zip(thresholds, budgets):
        y, momentum = c.copy(), 1.0
        for _ in range(int(budget)):
            c_new = _soft(y - adjoint(forward(y) - data), lam)
            step = c_new - c
            if np.dot(y - c_new, step) > 0:  # restart: the momentum points uphill
                momentum = 1.0
            next_momentum = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * momentum ** 2))
            y = c_new + ((momentum - 1.0) / next_momentum) * step
            momentum, c = next_momentum, c_new
            if np.linalg.norm(step) <= tol * max(np.linalg.norm(c), 1e-12):
                break
        out.append(frame.synthesis(c))
    return out


def group_direction(frame: Dictionary, pilot) -> np.ndarray:
    """d_g = 1/mean_{j∈g}|(Sᵀx₀)_j|, normalized to min d = 1 (Laplace-prior MAP, module docstring)."""
    magnitude = np.abs(frame.analysis(pilot))
    scale = np.bincount(frame.labels, magnitude, frame.n_groups) / np.bincount(frame.labels, minlength=frame.n_groups)
    scale = np.maximum(scale, 1e-6 * max(float(scale.max()), 1e-300))
    d = 1.0 / scale
    return d / d.min()
