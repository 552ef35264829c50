"""Builders of linear inverse problems on PyLops operators (operator, data, truth)."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from lamina._validation import check_finite_array, check_positive_float, check_positive_int, parse_choice


@dataclass
class InverseProblem:
    """A linear inverse problem b = A x_true + noise.

    Attributes
    ----------
    A : PyLops operator, shape (m, n)
    b : ndarray, shape (m,)
        Noisy data.
    x_true : ndarray, shape (n,) or None
        True coefficients (None for real data, or when only the model is known).
    sigma : float
        Standard deviation of the added Gaussian noise.
    meta : dict
        Builder parameters (wavelet, sampling interval …) for plots and reports.
    synthesis : operator, optional
        S mapping coefficients to the physical model (transform-domain sparsity: a gather from
        its f-k coefficients, a signal from its wavelet coefficients); None when x is the model.
    model_true : ndarray, optional
        The true physical model (the full gather, the true signal) when it is not ``x_true``.
    """

    A: object
    b: np.ndarray
    x_true: np.ndarray | None
    sigma: float
    meta: dict = field(default_factory=dict)
    synthesis: object = None
    model_true: np.ndarray | None = None

    def model(self, x) -> np.ndarray:
        """The physical model of coefficients x: S x when the problem has a synthesis S
        (transform-domain sparsity), x itself otherwise."""
        return np.asarray(x) if self.synthesis is None else np.asarray(self.synthesis.matvec(np.asarray(x)))

    def relative_error(self, x) -> float:
        """‖model(x) − truth‖ / ‖truth‖, the truth being ``model_true`` or ``x_true``."""
        truth = self.model_true if self.model_true is not None else self.x_true
        if truth is None:
            raise ValueError("this problem has no truth to compare with")
        return float(np.linalg.norm(self.model(x) - truth) / np.linalg.norm(truth))


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
    """Sparse reflectivity: ``n_spikes`` spikes on a grid of step ``min_gap``, each moved by 0 to
    ⌊min_gap/2⌋ − 1 samples — so neighbours are at least min_gap − ⌊min_gap/2⌋ + 1 samples apart
    (3 for the default 4) — with random signs and amplitudes uniform in [0.2, 1] in absolute
    value. (Kept as it is rather than spaced by min_gap: every seeded deconvolution problem of the
    benchmarks is drawn from it.)"""
    candidates = np.arange(min_gap, n_samples - min_gap, min_gap)
    n_spikes = min(n_spikes, len(candidates))
    positions = rng.choice(candidates, n_spikes, replace=False) + rng.integers(0, max(min_gap // 2, 1), n_spikes)
    x = np.zeros(n_samples)
    x[positions] = rng.choice([-1.0, 1.0], n_spikes) * rng.uniform(0.2, 1.0, n_spikes)
    return x


def add_noise(clean: np.ndarray, snr_db: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Clean data plus white Gaussian noise at the given SNR (dB, power ratio); returns (data, σ)."""
    if isinstance(snr_db, bool) or not isinstance(snr_db, (int, float, np.number)) or not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be a finite number of dB, got {snr_db!r}")
    sigma = float(np.sqrt(np.mean(clean ** 2) / 10 ** (snr_db / 10)))
    return clean + sigma * rng.standard_normal(clean.shape), sigma


def _centred_wavelet(wavelet, n_samples: int, length_name: str) -> np.ndarray:
    """``wavelet`` checked: odd length (centred on its middle sample) and no longer than the trace
    (PyLops' Convolve1D refuses a longer one, or returns data of the wavelet's length)."""
    wavelet = check_finite_array(wavelet, "wavelet", ndim=1)
    if wavelet.shape[0] % 2 == 0:
        raise ValueError(f"wavelet must have odd length (centred), got {wavelet.shape[0]}")
    if wavelet.shape[0] > n_samples:
        raise ValueError(f"the wavelet has {wavelet.shape[0]} samples: {length_name} must be at least "
                         f"{wavelet.shape[0]} (got {n_samples}); take more samples, a higher "
                         f"peak_frequency or a larger dt")
    return wavelet


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
    n_spikes = check_positive_int(n_spikes, "n_spikes")
    rng = np.random.default_rng(seed)
    wavelet = _centred_wavelet(ricker(peak_frequency, dt) if wavelet is None else wavelet, n_samples, "n_samples")
    A = pylops.signalprocessing.Convolve1D(n_samples, h=wavelet, offset=wavelet.shape[0] // 2)
    x_true = reflectivity(n_samples, n_spikes, rng)
    b, sigma = add_noise(A @ x_true, snr_db, rng)
    return InverseProblem(A=A, b=b, x_true=x_true, sigma=sigma,
                          meta={"kind": "deconvolution", "wavelet": wavelet, "dt": dt,
                                "peak_frequency": peak_frequency, "snr_db": snr_db})


# ---------------------------------------------------------------------------- 2D deconvolution
def layered_reflectivity(n_time: int, n_traces: int, n_layers: int, rng: np.random.Generator) -> np.ndarray:
    """Reflectivity section, shape (n_traces, n_time): ``n_layers`` interfaces whose depth varies
    smoothly across the section (a dip plus a gentle fold), one random amplitude per interface."""
    x = np.zeros((n_traces, n_time))
    positions = np.linspace(0, 1, n_traces)
    depths = np.sort(rng.uniform(0.08, 0.92, n_layers)) * n_time
    amplitudes = rng.choice([-1.0, 1.0], n_layers) * rng.uniform(0.2, 1.0, n_layers)
    for depth, amplitude in zip(depths, amplitudes):
        dip, fold = rng.uniform(-0.05, 0.05) * n_time, rng.uniform(0, 0.03) * n_time
        times = np.round(depth + dip * positions + fold * np.sin(2 * np.pi * positions)).astype(int)
        valid = (times >= 0) & (times < n_time)
        x[np.flatnonzero(valid), times[valid]] += amplitude
    return x


def deconvolution_2d(n_time: int = 400, n_traces: int = 40, peak_frequency: float = 20.0, dt: float = 0.004,
                     n_layers: int = 12, snr_db: float = 20.0, wavelet=None, seed: int = 0) -> InverseProblem:
    """Sparse-spike deconvolution of a 2D section: every trace convolved with the same wavelet.

    The model is the reflectivity section of shape (n_traces, n_time), flattened trace after
    trace (``x.reshape(n_traces, n_time)``); A is PyLops Convolve1D along time.

    Examples
    --------
    >>> problem = deconvolution_2d(n_time=100, n_traces=5, n_layers=4)
    >>> problem.A.shape, problem.meta["shape"]
    ((500, 500), (5, 100))
    """
    import pylops

    n_time = check_positive_int(n_time, "n_time", minimum=16)
    n_traces = check_positive_int(n_traces, "n_traces")
    rng = np.random.default_rng(seed)
    wavelet = _centred_wavelet(ricker(peak_frequency, dt) if wavelet is None else wavelet, n_time, "n_time")
    A = pylops.signalprocessing.Convolve1D((n_traces, n_time), h=wavelet, offset=wavelet.shape[0] // 2, axis=-1)
    x_true = layered_reflectivity(n_time, n_traces, n_layers, rng).ravel()
    b, sigma = add_noise(A @ x_true, snr_db, rng)
    return InverseProblem(A=A, b=b, x_true=x_true, sigma=sigma,
                          meta={"kind": "deconvolution_2d", "wavelet": wavelet, "dt": dt, "shape": (n_traces, n_time),
                                "peak_frequency": peak_frequency, "snr_db": snr_db})


def time_window_groups(n_time: int, n_windows: int, n_traces: int = 1):
    """Groups of coefficients by time window (same windows on every trace), for a λ per window."""
    from lamina.groups import Groups

    n_windows = check_positive_int(n_windows, "n_windows")
    window = np.minimum(np.arange(n_time) * n_windows // n_time, n_windows - 1)
    labels = np.tile(window, n_traces)
    return Groups(labels, tuple(f"t{w}" for w in range(n_windows)))


# ---------------------------------------------------------------------------- interpolation
def _ricker_at(t, peak_frequency):
    arg = (np.pi * peak_frequency * t) ** 2
    return (1.0 - 2.0 * arg) * np.exp(-arg)


def synthetic_gather(n_traces: int = 64, n_time: int = 256, dt: float = 0.004, dx: float = 10.0,
                     peak_frequency: float = 20.0, n_events: int = 5, seed: int = 0) -> np.ndarray:
    """A shot-gather-like section, shape (n_traces, n_time): linear and parabolic events."""
    n_traces = check_positive_int(n_traces, "n_traces")
    n_time = check_positive_int(n_time, "n_time", minimum=2)
    check_positive_float(dx, "dx")
    rng = np.random.default_rng(seed)
    t = np.arange(n_time) * dt
    offsets = (np.arange(n_traces) - n_traces / 2) * dx
    far = offsets.max() if offsets.max() > 0 else np.abs(offsets).max()   # 2 traces: offsets (−dx, 0)
    gather = np.zeros((n_traces, n_time))
    for event in range(n_events):
        t0 = rng.uniform(0.15, 0.85) * t[-1]
        amplitude = rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0)
        if event % 2:
            times = t0 + rng.uniform(-2e-4, 2e-4) * offsets                      # linear, slope ≤ 0.2 ms/m
        else:
            times = t0 + rng.uniform(0.01, 0.04) * (offsets / far) ** 2  # parabolic, ≤ 40 ms
        gather += amplitude * _ricker_at(t[None, :] - times[:, None], peak_frequency)
    return gather


class Transform(str, Enum):
    """Sparsifying transforms of the interpolation problem."""

    FK = "fk"        # 2D Fourier (frequency–wavenumber), real and imaginary parts
    DCT = "dct"      # 2D orthonormal DCT
    WAVELET = "wavelet"  # 2D orthogonal wavelets (PyLops DWT2D)


def _synthesis_2d(transform, shape):
    import pylops

    from lamina.inverse._linops import real_fourier_synthesis

    transform = parse_choice(Transform, transform, "transform")
    if transform is Transform.FK:
        return real_fourier_synthesis(shape)
    if transform is Transform.DCT:
        return pylops.signalprocessing.DCT(dims=shape, dtype="float64").H
    return pylops.signalprocessing.DWT2D(dims=shape, wavelet="db4", level=3).H


def interpolation(n_traces: int = 64, n_time: int = 256, keep: float = 0.6, transform: str = "fk",
                  snr_db: float = 30.0, dt: float = 0.004, peak_frequency: float = 20.0, n_events: int = 5,
                  gather=None, seed: int = 0) -> InverseProblem:
    """Interpolation of irregularly missing traces: b = R S x + noise.

    R (PyLops Restriction along the trace axis) keeps a random ``keep`` share of the traces,
    S synthesizes the gather from its coefficients in ``transform`` ("fk", "dct", "wavelet").
    The truth is the full gather (``model_true``, flattened trace after trace);
    ``meta["missing"]`` lists the traces to fill.

    Examples
    --------
    >>> problem = interpolation(n_traces=16, n_time=64, keep=0.5)
    >>> problem.A.shape, len(problem.meta["missing"])
    ((512, 2048), 8)
    """
    import pylops

    from lamina.inverse._linops import compose

    n_traces = check_positive_int(n_traces, "n_traces", minimum=4)
    n_time = check_positive_int(n_time, "n_time", minimum=16)
    if not 0 < keep < 1:
        raise ValueError(f"keep must lie in (0, 1), got {keep}")
    rng = np.random.default_rng(seed)
    if gather is None:
        gather = synthetic_gather(n_traces, n_time, dt, peak_frequency=peak_frequency, n_events=n_events, seed=seed)
    gather = check_finite_array(gather, "gather", ndim=2)
    n_traces, n_time = gather.shape
    n_keep = min(max(2, int(round(keep * n_traces))), n_traces - 1)   # at least one trace to fill
    kept = np.sort(rng.choice(n_traces, n_keep, replace=False))
    R = pylops.Restriction((n_traces, n_time), kept, axis=0, dtype="float64")
    S = _synthesis_2d(transform, (n_traces, n_time))
    A = compose(R, S)
    b, sigma = add_noise(R @ gather.ravel(), snr_db, rng)
    return InverseProblem(A=A, b=b, x_true=None, sigma=sigma, synthesis=S, model_true=gather.ravel(),
                          meta={"kind": "interpolation", "shape": (n_traces, n_time), "kept": kept,
                                "missing": np.setdiff1d(np.arange(n_traces), kept), "transform": str(transform),
                                "dt": dt, "snr_db": snr_db})


def filled_snr(problem: InverseProblem, x) -> float:
    """SNR (dB) of the missing traces filled by x: 10 log₁₀(‖d_miss‖² / ‖d̂_miss − d_miss‖²)."""
    shape = problem.meta["shape"]
    missing = problem.meta["missing"]
    if len(missing) == 0:
        raise ValueError("the problem has no missing trace: there is no filled trace to score")
    truth = problem.model_true.reshape(shape)[missing]
    estimate = problem.model(x).reshape(shape)[missing]
    return float(10 * np.log10(np.sum(truth ** 2) / max(np.sum((estimate - truth) ** 2), 1e-300)))


def frequency_band_groups(shape, n_bands: int, dt: float = 1.0):
    """Groups of the f-k coefficients (real and imaginary parts) by temporal-frequency band:
    equal-width bands of |f| from 0 to Nyquist, for a λ per band."""
    from lamina.groups import Groups

    n_bands = check_positive_int(n_bands, "n_bands")
    frequencies = np.abs(np.fft.fftfreq(shape[-1], dt))
    band = np.minimum((frequencies / frequencies.max() * n_bands).astype(int), n_bands - 1)
    labels = np.broadcast_to(band, shape).ravel()
    return Groups(np.concatenate([labels, labels]), tuple(f"band{k}" for k in range(n_bands)))
