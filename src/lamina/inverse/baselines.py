"""Interpolation baselines for :func:`lamina.inverse.reconstruct`: linear, cubic spline, POCS.

Each takes (values, mask) like ``reconstruct`` — ``values`` of the mask's shape or the observed
samples in mask order — and returns the full-shape estimate.

* :func:`linear_interpolation` — ``numpy.interp`` (1-D); Delaunay-linear ``scipy.interpolate.griddata``
  (2-D), nearest observed sample outside the convex hull, and everywhere where the observed samples
  lie on one line (no triangulation exists); an image of one row or column is a trace;
* :func:`cubic_interpolation` — ``scipy.interpolate.CubicSpline`` (not-a-knot, 1-D);
  Clough–Tocher ``griddata`` (2-D), with the same fallbacks;
* :func:`pocs_interpolation` — band-limited reconstruction by projection onto convex sets
  (Papoulis–Gerchberg; the standard of seismic trace interpolation, Abma & Kabir 2006): repeat
  x ← M v + (I − M) F⁻¹ B F x, B keeping the frequencies below a cut-off, here half the Nyquist
  frequency of the average sampling (the kept share p of the samples: |f| ≤ p/2 · f_N in 1-D,
  each axis |f_i| ≤ √(p/2) f_N in 2-D): half as many frequencies as observed samples. At the
  full band a regular grid of that density would resolve (p), an irregular mask leaves as many
  unknowns as samples and the iteration does not converge even for a signal inside the band
  (0.3 f_N, 57 % kept: error 0.44 after 300 iterations, 0.31 after 20 000; 3e-2 and 5e-7 at the
  band 0.3); on the benchmark's signals (benchmarks/bench_pocs_band.py) p/2 beats p on 27 of 36
  rows (by up to 17 dB; −5 dB at worst).
"""
from __future__ import annotations

import numpy as np

from lamina._validation import check_positive_int
from lamina.inverse.samples import check_samples


def _observed(values, mask):
    observed, mask = check_samples(values, mask)
    if mask.sum() < 2:
        raise ValueError("interpolation needs at least two observed samples")
    return observed, mask


def _griddata(observed, mask, method):
    from scipy.interpolate import griddata
    from scipy.spatial import QhullError

    points = np.argwhere(mask)
    grid = np.argwhere(np.ones(mask.shape, bool))
    try:
        estimate = griddata(points, observed, grid, method=method)
    except QhullError:   # collinear samples: no triangle to interpolate in
        estimate = np.full(grid.shape[0], np.nan)
    outside = ~np.isfinite(estimate)
    if outside.any():
        estimate[outside] = griddata(points, observed, grid[outside], method="nearest")
    return estimate.reshape(mask.shape)


def linear_interpolation(values, mask) -> np.ndarray:
    """Piecewise-linear interpolation of the observed samples (constant beyond the ends)."""
    observed, mask = _observed(values, mask)
    if mask.ndim == 2 and min(mask.shape) == 1:
        return linear_interpolation(observed, mask.ravel()).reshape(mask.shape)
    if mask.ndim == 1:
        return np.interp(np.arange(mask.size), np.flatnonzero(mask), observed)
    return _griddata(observed, mask, "linear")


def cubic_interpolation(values, mask) -> np.ndarray:
    """Cubic-spline interpolation of the observed samples (1-D: not-a-knot; 2-D: Clough–Tocher)."""
    from scipy.interpolate import CubicSpline

    observed, mask = _observed(values, mask)
    if mask.ndim == 2 and min(mask.shape) == 1:
        return cubic_interpolation(observed, mask.ravel()).reshape(mask.shape)
    if mask.ndim == 1:
        return CubicSpline(np.flatnonzero(mask), observed)(np.arange(mask.size))
    return _griddata(observed, mask, "cubic")


def pocs_interpolation(values, mask, *, n_iter: int = 300, band: float | None = None,
                       threshold: bool = False) -> np.ndarray:
    """Band-limited (sinc) interpolation by POCS: FFT, keep the low frequencies, re-insert the
    observed samples, ``n_iter`` times.

    Parameters
    ----------
    band : float, optional
        Kept share of the Nyquist band per axis; default p/2 (1-D) or √(p/2) (2-D), p the observed
        share (module docstring).
    threshold : bool
        Instead of a fixed band, keep the Fourier coefficients above a threshold that decreases
        geometrically from max|F v| to 10⁻³ of it over the iterations (Abma & Kabir 2006, the
        seismic industry's POCS; it adapts the band to the data).
    """
    observed, mask = _observed(values, mask)
    n_iter = check_positive_int(n_iter, "n_iter")
    share = float(mask.mean())
    if band is None:
        band = 0.5 * share if mask.ndim == 1 else np.sqrt(0.5 * share)
    elif (isinstance(band, bool) or not isinstance(band, (int, float, np.integer, np.floating))
          or not 0 < band <= 1):
        raise ValueError(f"band must be a number in (0, 1] (the kept share of the Nyquist band), got {band!r}")
    band = float(band)
    keep = np.ones(mask.shape, bool)
    for axis, size in enumerate(mask.shape):
        frequencies = np.abs(np.fft.fftfreq(size)) / 0.5            # in units of Nyquist
        shape = [1] * mask.ndim
        shape[axis] = size
        keep = keep & (frequencies <= band + 1e-12).reshape(shape)
    offset = float(np.mean(observed))
    data = np.zeros(mask.shape)
    data[mask] = observed - offset
    x = data.copy()
    levels = np.max(np.abs(np.fft.fftn(data))) * np.geomspace(0.99, 1e-3, n_iter)
    for level in levels:
        spectrum = np.fft.fftn(x)
        x = np.real(np.fft.ifftn(spectrum * (np.abs(spectrum) >= level if threshold else keep)))
        x[mask] = data[mask]
    return x + offset
