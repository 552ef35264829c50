"""The spectral prior (Wiener interpolation with a λ per frequency): lamina.inverse.spectral."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.fft import dct, dctn

from lamina.inverse import reconstruct
from lamina.inverse.smoothing import SmoothnessPrior
from lamina.inverse.spectral import (WINDOW, SpectralPrior, direction_sectors, frequency_index, observed_covariance,
                                     prior_variance, smoothed_periodogram, spectral_grid)


def _dct_matrix(n):
    return dct(np.eye(n), norm="ortho", axis=0)   # C: c = C x, orthonormal


@given(st.integers(8, 80), st.integers(0, 10_000))
@settings(max_examples=25, deadline=None)
def test_smoothed_periodogram_is_the_window_average_of_the_periodogram(n, seed):
    x = np.random.default_rng(seed).standard_normal(n)
    power = dct(x, norm="ortho") ** 2
    k = np.arange(n, dtype=float)
    by_loop = [power[np.abs(k - j) <= WINDOW * (1 + j / 16) / 2].mean() for j in range(n)]
    np.testing.assert_allclose(smoothed_periodogram(x, k), by_loop, rtol=1e-10)


@given(st.integers(4, 24), st.integers(4, 24), st.integers(1, 9), st.integers(0, 10_000))
@settings(max_examples=25, deadline=None)
def test_on_images_the_window_runs_within_each_sector_of_direction(rows, cols, n_sectors, seed):
    """Against a loop over the definition: the average of |DCT(x)|² over the coefficients of the
    same sector whose |k| is within half a window of each one's."""
    x = np.random.default_rng(seed).standard_normal((rows, cols))
    power = (dctn(x, norm="ortho") ** 2).ravel()
    k = frequency_index((rows, cols)).ravel()
    sector = direction_sectors((rows, cols), n_sectors).ravel()
    by_loop = [power[(sector == sector[j]) & (np.abs(k - k[j]) <= WINDOW * (1 + k[j] / 16) / 2)].mean()
               for j in range(k.size)]
    smoothed = smoothed_periodogram(x, frequency_index((rows, cols)), direction_sectors((rows, cols), n_sectors))
    np.testing.assert_allclose(smoothed.ravel(), by_loop, rtol=1e-10)


def test_direction_sectors_cut_the_quarter_plane_by_angle():
    sectors = direction_sectors((9, 9), 4)
    assert sectors.shape == (9, 9) and set(np.unique(sectors)) == {0, 1, 2, 3}
    assert sectors[0, 0] == 0 and np.all(sectors[0, 1:] == 0) and np.all(sectors[1:, 0] == 3)  # the two axes
    assert sectors[3, 8] == 0 and sectors[4, 8] == 1 and sectors[8, 4] == 2            # 20.6°, 26.6°, 63.4°
    assert np.all(direction_sectors((7,), 8) == 0) and np.all(direction_sectors((5, 6), 1) == 0)
    with pytest.raises(ValueError, match="n_sectors"):
        direction_sectors((5, 5), 0)


def test_an_anisotropic_spectrum_follows_oriented_stripes():
    """Stripes in three directions, each over a smooth background, 40 % of the pixels kept: the
    stripes' power lies along one direction, which rings of |k| (one sector) spread over every
    direction of the same radius. Eight sectors keep it there: a fifth less error at least
    (0.3–0.7 of the isotropic prior's when this test was written)."""
    r, c = np.meshgrid(np.arange(48.0), np.arange(48.0), indexing="ij")
    for rate in ((0.9, 0.4), (0.3, 0.7), (1.2, 0.3)):
        image = np.sin(rate[0] * r + rate[1] * c) + np.exp(-((r - 20) ** 2 + (c - 30) ** 2) / 300)
        for seed in range(2):
            mask = np.random.default_rng(seed).random(image.shape) < 0.4
            values = np.where(mask, image, 0.0)
            error = [np.linalg.norm((SpectralPrior(image.shape, n_sectors=n).solve(mask, values, [1e-4])[0]
                                     - image)[~mask]) for n in (8, 1)]
            assert error[0] < 0.8 * error[1], (rate, seed, error)


def test_solution_solves_the_normal_equations_of_the_weighted_ridge():
    """Against a dense solve of (C M Cᵀ + diag(t/p)) c = C M v with the model's own p."""
    rng = np.random.default_rng(3)
    n = 48
    signal = np.cumsum(rng.standard_normal(n))
    mask = rng.random(n) < 0.5
    values = np.where(mask, signal, 0.0)
    prior = SpectralPrior((n,))
    rms = np.sqrt(np.mean(values[mask] ** 2))                 # solve works on values / rms
    power = prior.spectrum(mask, values / rms)
    C = _dct_matrix(n)
    for t in (1e-3, 0.1, 1.0):   # t → 0 is ill-conditioned: CG stops at a small residual, not this close
        dense = rms * C.T @ np.linalg.solve(C @ np.diag(mask * 1.0) @ C.T + np.diag(t / power), C @ values / rms)
        np.testing.assert_allclose(prior.solve(mask, values, [t])[0], dense, atol=1e-5 * np.abs(dense).max())


def test_the_scale_of_the_values_does_not_matter():
    """The values are divided by their RMS before the solve: scaling them by 10⁻³ or 10³ scales
    the estimate (before, 10⁻³ and 10³ filled the gaps with zeros: t is not dimensionless)."""
    t = np.arange(256)
    signal = np.sin(0.05 * t) + 0.5 * np.sin(0.23 * t)
    mask = np.random.default_rng(0).random(256) < 0.4
    prior = SpectralPrior((256,))
    unit = prior.solve(mask, np.where(mask, signal, 0.0), [1e-4])[0]
    assert np.sqrt(np.mean((unit - signal)[~mask] ** 2)) < 0.1
    for factor in (1e-3, 1e3):
        scaled = prior.solve(mask, np.where(mask, factor * signal, 0.0), [1e-4])[0]
        np.testing.assert_allclose(scaled, factor * unit, atol=1e-9 * factor)


def test_one_lambda_is_the_white_noise_prior_that_fills_zeros():
    """per_band=False: (M + t I) x = M v, so x = v/(1 + t) where observed and 0 elsewhere."""
    rng = np.random.default_rng(0)
    signal = rng.standard_normal(64)
    mask = rng.random(64) < 0.6
    x = SpectralPrior((64,), per_band=False).solve(mask, np.where(mask, signal, 0.0), [0.5])[0]
    np.testing.assert_allclose(x[mask], signal[mask] / 1.5, atol=1e-7)
    np.testing.assert_allclose(x[~mask], 0.0, atol=1e-7)


def test_small_t_interpolates_and_large_t_shrinks():
    t = np.arange(128)
    signal = np.sin(0.25 * t) * np.exp(-t / 80)
    mask = np.random.default_rng(1).random(128) < 0.5
    interpolating, smoothing = SpectralPrior((128,)).solve(mask, np.where(mask, signal, 0.0), [1e-6, 3.0])
    # t/p_k is still large where p_k is tiny (the top of the spectrum), so not exactly zero
    assert np.max(np.abs(interpolating - signal)[mask]) < 1e-2
    assert np.max(np.abs(smoothing - signal)[mask]) > 0.1
    assert np.linalg.norm(smoothing) < 0.8 * np.linalg.norm(interpolating)


def test_beats_the_cubic_interpolant_on_a_narrow_band_signal_on_every_mask():
    """A band-limited trace whose spectrum the samples reveal (a carrier at 0.6 rad/sample under a
    smooth envelope, 40 % kept): the spline's prior spectrum falls as k^-4 whatever the data say,
    the spectral prior's follows the data."""
    t = np.arange(256)
    signal = np.sin(0.6 * t) * np.exp(-((t - 128) / 60.0) ** 2) + 0.3 * np.sin(0.15 * t)
    for seed in range(4):
        mask = np.random.default_rng(seed).random(256) < 0.4
        values = np.where(mask, signal, 0.0)
        wiener = SpectralPrior((256,)).solve(mask, values, [1e-6])[0]
        cubic = SmoothnessPrior((256,), 2).solve(mask, values, [1e-9])[0]
        error = [np.linalg.norm((x - signal)[~mask]) for x in (wiener, cubic)]
        assert error[0] < 0.5 * error[1], (seed, error)


def test_images_and_shapes():
    rows, cols = np.mgrid[0:32, 0:32]
    image = np.sin(0.4 * rows + 0.2 * cols)
    mask = np.random.default_rng(0).random(image.shape) < 0.5
    x = SpectralPrior(image.shape).solve(mask, np.where(mask, image, 0.0), [1e-6])[0]
    assert x.shape == image.shape and np.sqrt(np.mean((x - image)[~mask] ** 2)) < 0.05
    with pytest.raises(ValueError, match="shape"):
        SpectralPrior((4, 4, 4))
    with pytest.raises(ValueError, match="n_em"):
        SpectralPrior((16,), n_em=-1)
    with pytest.raises(ValueError, match="mask must have the prior's shape"):
        SpectralPrior((16,)).solve(np.ones(15, bool), np.zeros(16), [1e-3])
    with pytest.raises(ValueError, match="values must have"):
        SpectralPrior((16,)).solve(np.ones(16, bool), np.zeros((4, 4)), [1e-3])
    with pytest.raises(ValueError, match="lams"):
        SpectralPrior((16,)).solve(np.ones(16, bool), np.zeros(16), [-1.0])
    assert spectral_grid(5)[0] > spectral_grid(5)[-1]


def test_reconstruct_offers_it_on_scattered_masks_only():
    t = np.linspace(0, 1, 128)
    trace = np.sin(30 * t) * np.exp(-2 * t)
    mask = np.random.default_rng(2).random(128) < 0.5
    default = reconstruct(trace[mask], mask, n_lams=6, max_iter=20, n_bags=0)
    assert "spectral" in default.info["curves"]
    one = reconstruct(trace[mask], mask, dictionary="spectral", per_group=False, n_lams=6)
    assert one.dictionary == "spectral (one λ)"
    assert reconstruct(trace[mask], mask, dictionary="spectral", n_lams=6).dictionary == "spectral"
    gather = np.outer(np.ones(32), np.sin(np.linspace(0, 6, 32)))
    lines = np.repeat(np.random.default_rng(0).random(32)[:, None] < 0.6, 32, axis=1)
    assert "spectral" not in reconstruct(gather[lines], lines, n_lams=4, max_iter=10, n_bags=0).info["curves"]


def test_constant_and_zero_signals_need_no_model():
    """Observed samples all equal: the answer is that constant (this crashed in the stacking
    before: every held-out error 0, and ∞ · 0 in the contenders rule); all-zero values give a
    zero spectral estimate without overflow."""
    import warnings

    mask = np.random.default_rng(0).random(64) < 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for shape in ((64,), (12, 10)):
            m = np.random.default_rng(1).random(shape) < 0.5
            result = reconstruct(np.full(int(m.sum()), 3.5), m)
            assert result.dictionary == "constant" and np.all(result.x == 3.5)
        assert np.all(SpectralPrior((64,)).solve(mask, np.zeros(64), [1e-6, 1.0])[1] == 0.0)


def test_kernel_form_is_exact_where_conjugate_gradients_stops_short(monkeypatch):
    """20 % of 1024 samples kept, t = 10⁻⁶: the optimality condition C M (x − v) + λ ∘ C x = 0 of
    the primal objective holds to 10⁻⁸ for the kernel-form solve (≤ DENSE_MAX observed samples);
    conjugate gradients stops short there (n_unconverged > 0). Where both converge they agree."""
    from lamina.inverse import spectral

    t = np.arange(1024)
    signal = np.sin(0.05 * t) + 0.5 * np.sin(0.23 * t)
    mask = np.random.default_rng(0).random(1024) < 0.2
    values = np.where(mask, signal, 0.0)
    rms = np.sqrt(np.mean(values[mask] ** 2))
    prior = SpectralPrior((1024,))
    x = prior.solve(mask, values, [1e-6])[0]
    variance = prior_variance(prior.spectrum(mask, values / rms))
    gradient = dct(mask * (x - values), norm="ortho") + 1e-6 / variance * dct(x, norm="ortho")
    assert np.linalg.norm(gradient) < 1e-8 * np.linalg.norm(dct(values, norm="ortho"))
    monkeypatch.setattr(spectral, "DENSE_MAX", 0)
    iterative = SpectralPrior((1024,))
    iterative.solve(mask, values, [1e-6])
    assert iterative.n_unconverged > 0
    for shape in ((96,), (12, 10)):   # the same spectrum p (the estimate's own solves at t → 0 differ)
        m = np.random.default_rng(2).random(shape) < 0.5
        v = np.where(m, np.random.default_rng(3).standard_normal(shape).cumsum(axis=-1), 0.0)
        prior = SpectralPrior(shape)
        monkeypatch.setattr(spectral, "DENSE_MAX", 1024)
        power = prior.spectrum(m, v)
        exact = prior._solve_grid(m, v, power, [1e-2, 0.3])
        monkeypatch.setattr(spectral, "DENSE_MAX", 0)
        approx = prior._solve_grid(m, v, power, [1e-2, 0.3])
        for a, b in zip(exact, approx):
            np.testing.assert_allclose(a, b, atol=1e-5 * np.abs(a).max())


@given(st.lists(st.integers(1, 13), min_size=1, max_size=2), st.floats(0.1, 0.9), st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_the_observed_covariance_is_the_product_with_the_dct_of_the_observed_impulses(shape, share, seed):
    """K = C_oᵀ P C_o from the Toeplitz-plus-Hankel table equals the product with the rows of the
    orthonormal DCT-II matrix at the observed samples, on traces and images of odd and even sides."""
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    mask = rng.random(shape) < share
    variance = rng.random(shape) ** 3
    dct_of_impulses = dctn(np.eye(mask.size).reshape((mask.size,) + shape), axes=tuple(range(1, len(shape) + 1)),
                           norm="ortho").reshape(mask.size, -1)[mask.ravel()]
    expected = (dct_of_impulses * variance.ravel()) @ dct_of_impulses.T
    np.testing.assert_allclose(observed_covariance(mask, variance), expected, atol=1e-13 * max(variance.max(), 1e-300))


def test_the_observed_covariance_names_a_variance_of_the_wrong_shape_or_sign():
    mask = np.array([True, False, True, True])
    with pytest.raises(ValueError, match="variance must have the mask's shape"):
        observed_covariance(mask, np.ones(3))
    with pytest.raises(ValueError, match="finite and >= 0"):
        observed_covariance(mask, np.array([1.0, -1.0, 1.0, 1.0]))
