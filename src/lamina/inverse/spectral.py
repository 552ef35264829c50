"""A Gaussian prior with a λ per frequency, set from the signal's own spectrum (Wiener interpolation).

In the orthonormal DCT-II basis C (x = Cᵀc; the even-symmetric extension of the signal, so the
two ends are not joined as a periodic basis would join them), the estimate from the samples v
observed on the mask M is

    c = argmin ½‖M(Cᵀc − v)‖² + ½ Σ_k λ_k c_k²,   λ_k = t / p_k,

the posterior mean of a Gaussian prior c_k ~ N(0, p_k) under noise of variance t: kriging, or
Wiener interpolation, with the power spectrum p (Wiener 1949; Matheron 1963). One λ for every
frequency (``per_band=False``: p constant) is ridge regression in the DCT basis, a white-noise
prior, which fills the unobserved samples with zeros; the λ per frequency is the whole model.

p is estimated from the observed samples alone: from a pilot (the natural cubic interpolant of the
observed samples, the smoothness prior of order 2 at λ → 0), the periodogram |c_k|² is smoothed
over a window of 8·(1 + k/16) frequencies (wider at high frequency, where a real trace's power
varies slowly; a raw periodogram is a χ²₁ estimate per frequency) and the interpolation is repeated
``n_em`` times with the spectrum of the previous estimate (a plug-in iteration: the posterior
variance of each coefficient, which an EM step would add to |c_k|², is left out; with it the prior
alone gained 0.1–0.2 dB and the default none, benchmarks/RESULTS.md, issue 18). On images the
same window runs over the radial frequency |k| within each of ``n_sectors`` = 8 sectors of
direction (the angle of (k_row, k_col) in the quarter plane of DCT frequencies, π/16 each): an
anisotropic spectrum, so that edges, stripes and periodic textures, whose power lies along a few
directions, get a prior that follows them. With one sector (rings of |k|, an isotropic spectrum)
the default's SNR on nine photographs of scikit-image at 30, 50 and 70 % kept was 1.5 dB lower on
average: 5–8 dB on brick and clock, up to 0.8 dB on camera, within 0.15 dB on the natural textures
(benchmarks/RESULTS.md, issue 18). The values are divided by the RMS of the observed samples before
the solve and the estimate multiplied back, so t, the noise-to-signal ratio, is dimensionless; it
is the model's one tuned λ scale: :func:`lamina.inverse.reconstruct` chooses it by cross-validation
along :func:`spectral_grid`. The system (C M Cᵀ + diag λ) c = C M v is solved exactly in its kernel
(dual) form up to ``DENSE_MAX`` observed samples, c = P C_o (C_oᵀ P C_o + t I)⁻¹ v_o (C_o: the DCT
of the observed samples' unit impulses; C_oᵀ P C_o, Toeplitz-plus-Hankel, is read off one FFT of p
by :func:`observed_covariance`; one eigendecomposition serves the whole grid of t), and
beyond that by conjugate gradients preconditioned by an approximation of its diagonal (share of
observed samples + λ_k), two FFTs per step, at most 1000 steps, each re-estimation of the spectrum
started from the previous interpolant and solved to a relative residual of 10⁻⁶ (``EM_RTOL``; the
estimates to 10⁻⁸: half the steps on a 512² photograph, its SNR within 0.001 dB). With few observed samples and t → 0
that system is ill-conditioned and CG can stop short of its tolerance (``n_unconverged`` counts
those solves; with CG on the benchmark's 512-sample traces, 5 of 126 solves at 50 % kept, 13 at 30
%, 22 at 20 %): the iterate is then still a regularized estimate, and the cross-validation scores
what is returned.

Alone, at t = 10⁻⁶, it beats the better of the cubic and linear interpolants by 1.4 dB on
average on the benchmark's seismograms (which are band-limited and often narrow-band), by 3.2
dB on the validation seismograms and by 0.6 dB on the benchmark's photographs
(benchmarks/RESULTS.md, issue 18). With whole lines of an image missing (a gather with missing
traces) a stationary spectrum cannot fill them; :func:`lamina.inverse.reconstruct` does not
offer it there.
"""
from __future__ import annotations

import itertools

import numpy as np
from scipy.fft import dctn, idctn
from scipy.linalg import cho_factor, cho_solve
from scipy.sparse.linalg import LinearOperator, cg

from lamina._validation import check_positive_int
from lamina.inverse.smoothing import SmoothnessPrior

PILOT_LAM = 1e-9        # the pilot: the order-2 smoothness prior at this λ (natural cubic interpolation)
EM_NOISE = 1e-6         # t while the spectrum is estimated (interpolation)
WINDOW = 8              # periodogram smoothing window at frequency k: WINDOW · (1 + k / 16) frequencies
RTOL = 1e-8             # conjugate gradients: relative residual
EM_RTOL = 1e-6          # … while the spectrum is re-estimated: far below a smoothed periodogram's own error
DENSE_MAX = 1024        # up to this many observed samples, the exact kernel-form solve instead of CG
N_SECTORS = 8           # images: sectors of direction over which the spectrum is estimated separately


def spectral_grid(n_lams: int = 14) -> np.ndarray:
    """The t (noise-to-signal) grid, decreasing from 3 to 10⁻⁶."""
    return np.geomspace(3.0, 1e-6, check_positive_int(n_lams, "n_lams", minimum=2))


def frequency_index(shape) -> np.ndarray:
    """|k| of every DCT coefficient (the radial frequency index on images)."""
    grids = np.meshgrid(*[np.arange(s, dtype=float) for s in shape], indexing="ij")
    return np.sqrt(sum(g ** 2 for g in grids))


def direction_sectors(shape, n_sectors: int = N_SECTORS) -> np.ndarray:
    """The sector of direction of every DCT coefficient, 0 … n_sectors − 1: the angle of
    (k_row, k_col) in [0, π/2] cut into ``n_sectors`` equal parts (the zero frequency in sector
    0). Zeros for a 1-D shape or one sector."""
    check_positive_int(n_sectors, "n_sectors")
    if len(shape) == 1 or n_sectors == 1:
        return np.zeros(shape, dtype=int)
    rows, cols = np.meshgrid(*[np.arange(s, dtype=float) for s in shape], indexing="ij")
    angle = np.arctan2(rows, cols)
    return np.minimum((angle / (np.pi / 2) * n_sectors).astype(int), n_sectors - 1)


def smoothed_periodogram(x, frequency, sectors=None) -> np.ndarray:
    """|DCT(x)|² averaged over the coefficients of the same sector of direction (``sectors``, an
    integer label per coefficient; None: one sector) whose frequency is within half a window of
    each one's (window 8·(1 + k/16)), the spectrum estimate of the module docstring; shape of x."""
    power = (dctn(x, norm="ortho") ** 2).ravel()
    labels = np.zeros(power.size, dtype=int) if sectors is None else np.asarray(sectors).ravel()
    smoothed = np.empty_like(power)
    for label in np.unique(labels):
        members = labels == label
        smoothed[members] = _ring_average(power[members], frequency.ravel()[members])
    return smoothed.reshape(np.shape(x))


def _ring_average(power, k) -> np.ndarray:
    """Each power averaged with those whose frequency k is within half a window of its own."""
    # sorted by decreasing frequency, so that the running sum starts with the small powers and
    # the window sums at high frequency keep their digits
    order = np.argsort(-k, kind="stable")
    key, cumulative = -k[order], np.concatenate([[0.0], np.cumsum(power[order])])
    half = WINDOW * (1 - key / 16) / 2
    lo = np.searchsorted(key, key - half, side="left")
    hi = np.searchsorted(key, key + half, side="right")
    smoothed = np.empty_like(power)
    smoothed[order] = (cumulative[hi] - cumulative[lo]) / (hi - lo)
    return smoothed


def prior_variance(power) -> np.ndarray:
    """p as the prior's variances, flattened: floored at 10⁻¹² of its largest value (λ_k = t/p_k
    stays finite), and flat when p is zero everywhere (observed samples all zero)."""
    power = np.asarray(power, float)
    if not float(power.max()) > 1e-200:
        power = np.ones_like(power)
    return np.maximum(power, 1e-12 * float(power.max())).ravel()


def observed_covariance(mask, variance) -> np.ndarray:
    """K = C_oᵀ P C_o, the covariance between the observed samples (``mask``, in C order) of the
    signal x = Cᵀc with independent DCT-II coefficients c_k ~ N(0, p_k) (``variance``, the
    signal's shape), without forming C_o. Each cosine of the orthonormal DCT-II,
    s_k cos(πk(2i + 1)/2n), makes cos a · cos b = ½[cos(a − b) + cos(a + b)] of a product of two:

        K[i, j] = Σ_k p_k Π_d (s_{k_d}²/2) [cos(πk_d(i_d − j_d)/n_d) + cos(πk_d(i_d + j_d + 1)/n_d)],

    a Toeplitz-plus-Hankel matrix on a trace (a sum of 2^D such terms on D axes) whose entries
    are read off one table R[m] = Σ_k p_k Π_d (s_{k_d}²/2) cos(πk_d m_d/n_d), m_d < 2n_d: a real
    FFT of length 2n_d per axis instead of a product with C_o (35× faster on 900 of 3000 samples)."""
    mask = np.asarray(mask, bool)
    table = np.asarray(variance, float)
    if table.shape != mask.shape:
        raise ValueError(f"variance must have the mask's shape {mask.shape}, got {table.shape}")
    if not np.all(np.isfinite(table)) or np.any(table < 0):
        raise ValueError("variance must be finite and >= 0 (a prior variance per DCT coefficient)")
    for axis, n in enumerate(mask.shape):
        half_square = np.full(n, 1.0 / n)      # s_k² / 2: 1/(2n) at k = 0, 1/n above
        half_square[0] = 0.5 / n
        table = table * half_square.reshape([-1 if a == axis else 1 for a in range(mask.ndim)])
        table = np.real(np.fft.fft(table, n=2 * n, axis=axis))   # Σ_k a_k cos(πkm/n), m < 2n
    positions = np.argwhere(mask)
    kernel = np.zeros((len(positions), len(positions)))
    for terms in itertools.product((False, True), repeat=mask.ndim):   # difference or sum per axis
        index = tuple(position[:, None] + position[None, :] + 1 if use_sum else np.abs(position[:, None] - position[None, :])
                      for position, use_sum in zip(positions.T, terms))
        kernel += table[index]
    return kernel


class SpectralPrior:
    """½ Σ_k (t/p_k) c_k² in the DCT basis, p estimated from the observed samples (module docstring).

    Parameters
    ----------
    shape : tuple of int
        (n,) or (n_rows, n_cols).
    n_em : int
        Re-estimations of the spectrum from the previous interpolant.
    per_band : bool
        False: one λ for every frequency (p constant), the white-noise prior.
    n_sectors : int
        Images: sectors of direction over which the spectrum is estimated apart (default 8;
        1: rings of |k|, an isotropic spectrum). Ignored on 1-D signals.

    Examples
    --------
    Two lines in the spectrum, half the samples kept: half the cubic interpolant's error.

    >>> t = np.arange(256)
    >>> signal = np.sin(0.2 * t) + 0.5 * np.sin(0.45 * t)
    >>> mask = np.random.default_rng(0).random(256) < 0.5
    >>> values = np.where(mask, signal, 0.0)
    >>> wiener = SpectralPrior((256,)).solve(mask, values, [1e-6])[0]
    >>> cubic = SmoothnessPrior((256,), order=2).solve(mask, values, [1e-9])[0]
    >>> def error(x): return float(np.sqrt(np.mean((x - signal)[~mask] ** 2)))
    >>> round(error(wiener), 3), round(error(cubic), 3)
    (0.021, 0.042)
    """

    def __init__(self, shape, n_em: int = 4, per_band: bool = True, n_sectors: int = N_SECTORS):
        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) not in (1, 2) or min(self.shape) < 2:
            raise ValueError(f"shape must be a 1-D or 2-D shape of sides >= 2, got {shape}")
        self.n_em = check_positive_int(n_em, "n_em", minimum=0)
        self.per_band = bool(per_band)
        self.name = "spectral" if self.per_band else "spectral (one λ)"
        self.group_names = ("t",)
        self._frequency = frequency_index(self.shape)
        self._sectors = direction_sectors(self.shape, n_sectors)
        self.n_unconverged = 0   # CG solves that stopped short of their tolerance (module docstring)

    def spectrum(self, mask, values) -> np.ndarray:
        """p, the prior variance of every DCT coefficient, from the samples on ``mask``."""
        if not self.per_band:
            return np.ones(self.shape)
        estimate = SmoothnessPrior(self.shape, 2).solve(mask, values, [PILOT_LAM])[0]
        power = smoothed_periodogram(estimate, self._frequency, self._sectors)
        for _ in range(self.n_em):
            # CG starts from the previous interpolant's coefficients
            start = dctn(estimate, norm="ortho").ravel()
            estimate = self._solve_grid(mask, values, power, [EM_NOISE], start, rtol=EM_RTOL)[0]
            power = smoothed_periodogram(estimate, self._frequency, self._sectors)
        return power

    def _solve_grid(self, mask, values, power, noises, start=None, rtol: float = RTOL) -> list:
        """Estimates for each t of ``noises``: exact in the kernel form up to DENSE_MAX observed
        samples, else by CG to the relative residual ``rtol`` from ``start`` (DCT coefficients; None:
        zero), warm-started along the grid (module docstring)."""
        if mask.sum() <= DENSE_MAX and min(noises) > 0:
            return self._kernel_solves(mask, values, power, noises)
        out = []
        for noise in noises:
            estimate, start = self._krige(mask, values, power, noise, start, rtol)
            out.append(estimate)
        return out

    def _kernel_solves(self, mask, values, power, noises) -> list:
        """Exact estimates for each t of ``noises`` in the kernel (dual) form, for at most
        DENSE_MAX observed samples: with C_o the DCT of the observed samples' unit impulses and
        P = diag p, c = P C_o (C_oᵀ P C_o + t I)⁻¹ v_o (the primal minimizer, by the Woodbury
        identity); one Cholesky factor for one t, one eigendecomposition for a grid."""
        variance = prior_variance(power).reshape(self.shape)
        kernel = observed_covariance(mask, variance)
        target = values[mask]
        if len(noises) == 1:
            weights = [cho_solve(cho_factor(kernel + noises[0] * np.eye(target.size)), target)]
        else:
            eigenvalues, vectors = np.linalg.eigh(kernel)
            projected = vectors.T @ target
            weights = [vectors @ (projected / np.maximum(eigenvalues + t, t)) for t in noises]
        out = []
        for w in weights:   # C_o w: the DCT of w scattered onto the observed samples
            scattered = np.zeros(self.shape)
            scattered[mask] = w
            out.append(idctn(variance * dctn(scattered, norm="ortho"), norm="ortho"))
        return out

    def _krige(self, mask, values, power, noise, start, rtol: float = RTOL):
        n = mask.size
        lam = noise / prior_variance(power)
        observed = mask.astype(float)

        def matvec(c):
            return dctn(idctn(c.reshape(self.shape), norm="ortho") * observed, norm="ortho").ravel() + lam * c

        diagonal = float(observed.mean()) + lam
        rhs = dctn(np.where(mask, values, 0.0), norm="ortho").ravel()
        c, info = cg(LinearOperator((n, n), matvec=matvec, dtype=float), rhs, x0=start,
                     M=LinearOperator((n, n), matvec=lambda r: r / diagonal, dtype=float), rtol=rtol, maxiter=1000)
        self.n_unconverged += int(info > 0)   # never hangs: the last iterate, scored by the CV
        return idctn(c.reshape(self.shape), norm="ortho"), c

    def solve(self, mask, values, lams) -> list:
        """Estimates along the noise-to-signal ratios ``lams`` (t ≥ 0)."""
        for name, array in (("mask", mask), ("values", values)):
            if np.shape(array) != self.shape:
                raise ValueError(f"{name} must have the prior's shape {self.shape}, got {np.shape(array)}")
        if not np.all(np.isfinite(lams)) or np.any(np.asarray(lams, float) < 0):
            raise ValueError(f"lams must be finite noise-to-signal ratios t >= 0, got {lams!r}")
        mask = np.asarray(mask, bool).reshape(self.shape)
        values = np.where(mask, np.asarray(values, float).reshape(self.shape), 0.0)
        rms = float(np.sqrt(np.mean(values[mask] ** 2))) if mask.any() else 0.0
        if not rms > 0 or not np.isfinite(rms):   # nothing observed, or all zero: the zero signal
            return [np.zeros(self.shape) for _ in np.atleast_1d(lams)]
        values = values / rms
        power = self.spectrum(mask, values)
        noises = [float(t) for t in np.atleast_1d(np.asarray(lams, float))]
        return [rms * x for x in self._solve_grid(mask, values, power, noises)]
