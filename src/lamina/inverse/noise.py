"""Noise level from the data: median absolute deviation of the finest wavelet scale."""
from __future__ import annotations

import numpy as np

from lamina._validation import check_finite_array

# median |N(0, 1)| = Φ⁻¹(3/4)
_MAD_TO_SIGMA = 0.6744897501960817


def estimate_noise(b, wavelet: str = "sym8", trace_length: int | None = None) -> float:
    """σ̂ = median(|d₁|) / 0.6745, d₁ the finest-scale wavelet coefficients of ``b``.

    Parameters
    ----------
    b : ndarray, shape (m,)
        Data; white Gaussian noise on a signal that is smooth at the sampling scale (seismic
        traces, images row by row).
    wavelet : str
        PyWavelets orthogonal wavelet name; the default's long filter (16 taps) separates
        noise from band-limited signal better than short ones (on a 20 Hz Ricker trace at
        4 ms: 2 % error against 19 % with db4).
    trace_length : int, optional
        When ``b`` stacks several traces, their common length: the wavelet transform runs
        along each trace so that jumps between traces do not count as noise.

    Notes
    -----
    Donoho & Johnstone (1994): for an orthogonal wavelet the finest detail coefficients of
    white noise are N(0, σ²) and those of a smooth signal are nearly zero, and the median is
    insensitive to the few that are not. Data that are not smooth at the sampling scale (e.g.
    random Gaussian measurements of compressed sensing) make σ̂ an over-estimate.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 1, 4096)
    >>> b = np.sin(6 * np.pi * t) + 0.1 * rng.standard_normal(t.size)
    >>> round(estimate_noise(b), 2)
    0.1
    """
    import pywt

    b = check_finite_array(b, "b", ndim=1)
    rows = b.reshape(-1, trace_length) if trace_length else b[None, :]
    if trace_length and b.shape[0] % trace_length:
        raise ValueError(f"trace_length {trace_length} does not divide len(b) = {b.shape[0]}")
    details = np.concatenate([pywt.dwt(row, wavelet, mode="periodization")[1] for row in rows])
    return float(np.median(np.abs(details)) / _MAD_TO_SIGMA)
