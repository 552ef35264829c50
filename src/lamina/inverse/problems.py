"""Builders of linear inverse problems on PyLops operators (operator, data, truth)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lamina._validation import check_finite_array, check_positive_float, check_positive_int


@dataclass
class InverseProblem:
    """A linear inverse problem b = A x_true + noise.

    Attributes
    ----------
    A : PyLops operator, shape (m, n)
    b : ndarray, shape (m,)
        Noisy data.
    x_true : ndarray, shape (n,)
    sigma : float
        Standard deviation of the added Gaussian noise.
    meta : dict
        Builder parameters (wavelet, sampling interval …) for plots and reports.
    """

    A: object
    b: np.ndarray
    x_true: np.ndarray
    sigma: float
    meta: dict = field(default_factory=dict)


def ricker(peak_frequency: float, dt: float, n_samples: int | None = None) -> np.ndarray:
    """Zero-phase Ricker wavelet (1 − 2π²f²t²) exp(−π²f²t²), centred, odd length.

    The default length covers ±1.5/f (where the wavelet has decayed below 1e-4).
    """
    check_positive_float(peak_frequency, "peak_frequency")
    check_positive_float(dt, "dt")
    half = int(np.ceil(1.5 / (peak_frequency * dt))) if n_samples is None else n_samples // 2
    t = np.arange(-half, half + 1) * dt
    arg = (np.pi * peak_frequency * t) ** 2
    return (1.0 - 2.0 * arg) * np.exp(-arg)


def reflectivity(n_samples: int, n_spikes: int, rng: np.random.Generator, min_gap: int = 4) -> np.ndarray:
    """Sparse reflectivity: ``n_spikes`` spikes at least ``min_gap`` samples apart, random signs,
    amplitudes uniform in [0.2, 1] in absolute value."""
    candidates = np.arange(min_gap, n_samples - min_gap, min_gap)
    n_spikes = min(n_spikes, len(candidates))
    positions = rng.choice(candidates, n_spikes, replace=False) + rng.integers(0, max(min_gap // 2, 1), n_spikes)
    x = np.zeros(n_samples)
    x[positions] = rng.choice([-1.0, 1.0], n_spikes) * rng.uniform(0.2, 1.0, n_spikes)
    return x


def add_noise(clean: np.ndarray, snr_db: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Clean data plus white Gaussian noise at the given SNR (dB, power ratio); returns (data, σ)."""
    sigma = float(np.sqrt(np.mean(clean ** 2) / 10 ** (snr_db / 10)))
    return clean + sigma * rng.standard_normal(clean.shape), sigma


def deconvolution(n_samples: int = 4000, peak_frequency: float = 20.0, dt: float = 0.004,
                  n_spikes: int = 60, snr_db: float = 20.0, wavelet=None, seed: int = 0) -> InverseProblem:
    """Sparse-spike deconvolution of one trace: b = w * r + noise (PyLops Convolve1D).

    Parameters
    ----------
    n_samples : int
        Trace length.
    peak_frequency, dt : float
        Ricker wavelet peak frequency (Hz) and sampling interval (s); ignored if ``wavelet``.
    n_spikes : int
        Number of reflectors.
    snr_db : float
        Signal-to-noise ratio of the data in dB.
    wavelet : array, optional
        A wavelet of odd length to use instead of the Ricker (centred on its middle sample).
    seed : int

    Examples
    --------
    >>> problem = deconvolution(n_samples=500, n_spikes=10)
    >>> problem.A.shape, problem.b.shape
    ((500, 500), (500,))
    """
    import pylops

    n_samples = check_positive_int(n_samples, "n_samples", minimum=16)
    rng = np.random.default_rng(seed)
    if wavelet is None:
        wavelet = ricker(peak_frequency, dt)
    wavelet = check_finite_array(wavelet, "wavelet", ndim=1)
    if wavelet.shape[0] % 2 == 0:
        raise ValueError(f"wavelet must have odd length (centred), got {wavelet.shape[0]}")
    A = pylops.signalprocessing.Convolve1D(n_samples, h=wavelet, offset=wavelet.shape[0] // 2)
    x_true = reflectivity(n_samples, n_spikes, rng)
    b, sigma = add_noise(A @ x_true, snr_db, rng)
    return InverseProblem(A=A, b=b, x_true=x_true, sigma=sigma,
                          meta={"kind": "deconvolution", "wavelet": wavelet, "dt": dt,
                                "peak_frequency": peak_frequency, "snr_db": snr_db})
