"""Builders of compressed-sensing problems and of real-seismogram recovery (PyLops operators).

* :func:`compressed_sensing` — b = Φ Ψ α + noise: Gaussian, partial DCT/Fourier or random-sample
  measurements Φ of a signal sparse in a basis Ψ (DCT, wavelets, Fourier, identity);
* :func:`seismogram_recovery` — ObsPy's example seismogram, a share of its samples kept at random.

The common :class:`~lamina.inverse.problems.InverseProblem` and the seismic builders
(deconvolution, interpolation) live in :mod:`lamina.inverse.problems`.
"""
from __future__ import annotations

from enum import Enum

import numpy as np

from lamina._validation import check_positive_int, parse_choice
from lamina.inverse.problems import InverseProblem, add_noise


class Measurement(str, Enum):
    """How the compressed-sensing measurements are taken."""

    GAUSSIAN = "gaussian"              # i.i.d. N(0, 1/m) matrix
    PARTIAL_DCT = "partial_dct"        # m random rows of the orthonormal DCT
    PARTIAL_FOURIER = "partial_fourier"  # real and imaginary parts of m/2 random frequencies in 0 … n/2
    RANDOM_SAMPLES = "random_samples"  # m random time samples (PyLops Restriction)


class Basis(str, Enum):
    """Domains in which the compressed-sensing signal is sparse."""

    IDENTITY = "identity"
    DCT = "dct"
    FOURIER = "fourier"
    WAVELET = "wavelet"


def sparsity_basis(basis, n: int, wavelet: str = "db4", level: int = 4):
    """Synthesis operator Ψ (signal = Ψ α) of a basis; orthonormal except "fourier" (a tight
    frame on the real and imaginary parts of the spectrum, 2n coefficients) and "wavelet" when n
    is not a power of two (PyLops pads to the next one: Ψ Ψᵀ = I, 2^⌈log₂ n⌉ coefficients)."""
    import pylops

    from lamina.inverse._linops import real_fourier_synthesis

    basis = parse_choice(Basis, basis, "basis")
    if basis is Basis.IDENTITY:
        return pylops.Identity(n, dtype="float64")
    if basis is Basis.DCT:
        return pylops.signalprocessing.DCT(dims=n, dtype="float64").H
    if basis is Basis.FOURIER:
        return real_fourier_synthesis((n,))
    return pylops.signalprocessing.DWT(dims=n, wavelet=wavelet, level=level).H


def measurement_operator(measurement, m: int, n: int, rng: np.random.Generator):
    """Φ, shape (m, n), of a measurement scheme (see :class:`Measurement`)."""
    import pylops

    from lamina.inverse._linops import compose, real_fourier_synthesis

    measurement = parse_choice(Measurement, measurement, "measurement")
    m = check_positive_int(m, "m")
    if m > n:
        raise ValueError(f"m must be <= n ({n}), got {m}")
    if measurement is Measurement.GAUSSIAN:
        return rng.standard_normal((m, n)) / np.sqrt(m)
    if measurement is Measurement.RANDOM_SAMPLES:
        return pylops.Restriction(n, np.sort(rng.choice(n, m, replace=False)), dtype="float64")
    if measurement is Measurement.PARTIAL_DCT:
        rows = pylops.Restriction(n, np.sort(rng.choice(n, m, replace=False)), dtype="float64")
        return compose(rows, pylops.signalprocessing.DCT(dims=n, dtype="float64"))
    # partial Fourier: both parts of random frequencies of the half spectrum 0 … n//2 (analysis =
    # adjoint of the real synthesis). A real signal's frequencies n − k are the conjugates of k and
    # its imaginary parts at 0 and n/2 are zero: the half spectrum's n nonzero rows are the
    # independent ones, so m of them give Φ rank m (no repeated or zero measurement).
    rows = []
    for frequency in rng.permutation(n // 2 + 1):
        rows.append(int(frequency))
        if 0 < frequency < n - frequency:
            rows.append(n + int(frequency))
    analysis = real_fourier_synthesis((n,)).T
    return compose(pylops.Restriction(2 * n, np.sort(rows[:m]), dtype="float64"), analysis)


def wavelet_scale_groups(n: int, wavelet: str = "db4", level: int = 4):
    """Groups of the coefficients of PyLops DWT(n, wavelet, level) by scale: approximation,
    then details from coarse to fine — for a λ per wavelet scale."""
    import pylops

    from lamina.groups import Groups

    transform = pylops.signalprocessing.DWT(dims=n, wavelet=wavelet, level=level)
    labels = np.zeros(transform.shape[0], dtype=np.int64)
    names = ["approx"]
    for scale, piece in enumerate(transform.sl[1:], start=1):
        labels[piece["d"][0]] = scale
        names.append(f"detail{level - scale + 1}")
    return Groups(labels, tuple(names))


def compressed_sensing(n: int = 512, m: int = 128, k: int = 20, measurement: str = "gaussian",
                       basis: str = "identity", snr_db: float | None = None, wavelet: str = "db4",
                       level: int = 4, seed: int = 0) -> InverseProblem:
    """b = Φ Ψ α + noise with α k-sparse: measurement Φ of :class:`Measurement`, basis Ψ of
    :class:`Basis`. ``snr_db=None``: noiseless (σ = 0).

    Examples
    --------
    >>> problem = compressed_sensing(n=128, m=48, k=5, measurement="partial_dct", basis="wavelet")
    >>> problem.A.shape, int(np.count_nonzero(problem.x_true))
    ((48, 128), 5)
    """
    from lamina.inverse._linops import compose

    n = check_positive_int(n, "n", minimum=8)
    k = check_positive_int(k, "k")
    rng = np.random.default_rng(seed)
    Psi = sparsity_basis(basis, n, wavelet, level)
    Phi = measurement_operator(measurement, m, n, rng)
    n_coefs = Psi.shape[1]
    if k > n_coefs:
        raise ValueError(f"k must be <= {n_coefs}, got {k}")
    alpha = np.zeros(n_coefs)
    alpha[rng.choice(n_coefs, k, replace=False)] = rng.standard_normal(k)
    A = compose(Phi, Psi)
    clean = np.asarray(A @ alpha) if not isinstance(A, np.ndarray) else A @ alpha
    if snr_db is None:
        b, sigma = clean, 0.0
    else:
        b, sigma = add_noise(clean, snr_db, rng)
    return InverseProblem(A=A, b=b, x_true=alpha, sigma=sigma, synthesis=Psi, model_true=Psi @ alpha,
                          meta={"kind": "compressed_sensing", "measurement": str(measurement), "basis": str(basis),
                                "n": n, "m": m, "k": k, "snr_db": snr_db})


def seismogram(channel: int = 0, n_samples: int = 2048) -> tuple[np.ndarray, float]:
    """The example seismogram ObsPy ships (``obspy.read()``, BW.RJOB, 100 Hz), demeaned,
    scaled to unit maximum and cut to ``n_samples`` around its largest amplitude; returns
    (trace, dt). No download: the file is inside the ObsPy package, which comes with the
    ``examples`` extra (``pip install "lamina[examples]"``)."""
    try:
        import obspy
    except ImportError as error:
        raise ImportError('the example seismogram is read with ObsPy, which lamina installs only with its '
                          '"examples" extra: pip install "lamina[examples]"') from error

    trace = obspy.read()[channel]
    n_samples = check_positive_int(n_samples, "n_samples", minimum=16)
    return peak_window(trace.data, n_samples), float(trace.stats.delta)


def peak_window(data, n_samples: int) -> np.ndarray:
    """``data`` demeaned, cut to ``n_samples`` around its largest amplitude (a third of the
    window before it, clipped to the record) and scaled to unit maximum: how lamina's examples,
    benchmarks and tests take a window of a seismogram.

    >>> peak_window([0.0, 1.0, -4.0, 1.0, 2.0, 0.0], 3)
    array([ 0.25, -1.  ,  0.25])
    """
    n_samples = check_positive_int(n_samples, "n_samples")
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 1 or data.size == 0 or not np.all(np.isfinite(data)):
        raise ValueError(f"data must be a non-empty 1-D array of finite samples, got shape {data.shape}")
    data = data - data.mean()
    centre = int(np.argmax(np.abs(data)))
    start = int(np.clip(centre - n_samples // 3, 0, max(data.size - n_samples, 0)))
    data = data[start:start + n_samples]
    peak = np.max(np.abs(data))
    if peak == 0:
        raise ValueError("data is constant over the window: there is no amplitude to scale to 1")
    return data / peak


def seismogram_recovery(keep: float = 0.4, basis: str = "dct", n_samples: int = 2048, channel: int = 0,
                        wavelet: str = "db4", level: int = 5, seed: int = 0) -> InverseProblem:
    """Real data: recover ObsPy's example seismogram from a random ``keep`` share of its samples,
    sparse in ``basis`` (DCT or wavelet). The truth is the full trace; σ is unknown (NaN): the
    recording's own noise is all there is.

    Examples
    --------
    >>> problem = seismogram_recovery(keep=0.5, n_samples=256)
    >>> problem.A.shape
    (128, 256)
    """
    import pylops

    from lamina.inverse._linops import compose

    if not 0 < keep < 1:
        raise ValueError(f"keep must lie in (0, 1), got {keep}")
    trace, dt = seismogram(channel, n_samples)
    n = trace.size
    rng = np.random.default_rng(seed)
    kept = np.sort(rng.choice(n, int(round(keep * n)), replace=False))
    Psi = sparsity_basis(basis, n, wavelet, level)
    R = pylops.Restriction(n, kept, dtype="float64")
    return InverseProblem(A=compose(R, Psi), b=trace[kept], x_true=None, sigma=float("nan"), synthesis=Psi,
                          model_true=trace, meta={"kind": "seismogram", "kept": kept, "dt": dt, "basis": basis,
                                                  "missing": np.setdiff1d(np.arange(n), kept), "shape": (n,)})
