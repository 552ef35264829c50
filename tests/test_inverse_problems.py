"""Problem builders: shapes, adjoints, truths and the groups they offer."""
import numpy as np
import pytest

from lamina.inverse import (compressed_sensing, deconvolution, deconvolution_2d, filled_snr, fit,
                            frequency_band_groups, interpolation, seismogram_recovery, time_window_groups,
                            wavelet_scale_groups)
from lamina.inverse._linops import real_fourier_synthesis
from lamina.operators import as_forward_model, dottest


def test_real_fourier_synthesis_is_a_tight_frame_with_exact_adjoint():
    S = real_fourier_synthesis((6, 10))
    dottest(S)
    r = np.random.default_rng(0).standard_normal(60)
    np.testing.assert_allclose(S.matvec(S.rmatvec(r)), r, atol=1e-12)


@pytest.mark.parametrize("transform", ["fk", "dct", "wavelet"])
def test_interpolation_operator_and_truth(transform):
    problem = interpolation(n_traces=16, n_time=64, keep=0.5, transform=transform, snr_db=40, seed=2)
    dottest(as_forward_model(problem.A))
    gather = problem.model_true.reshape(problem.meta["shape"])
    kept = problem.meta["kept"]
    noise = problem.b - gather[kept].ravel()
    assert np.std(noise) == pytest.approx(problem.sigma, rel=0.2)
    assert set(kept) | set(problem.meta["missing"]) == set(range(16))
    coefficients = problem.synthesis.rmatvec(problem.model_true) if transform != "dct" else problem.synthesis.H @ problem.model_true
    assert problem.relative_error(coefficients) < 1e-10  # S Sᵀ = I on the gather


def test_fk_interpolation_fills_missing_traces():
    problem = interpolation(n_traces=48, n_time=128, keep=0.6, transform="fk", snr_db=30, seed=1)
    result = fit(problem.A, problem.b, "l1", tuner="gcv", n_lams=20)
    assert filled_snr(problem, result.x) > 8.0            # well above the 0 dB of leaving them empty
    assert filled_snr(problem, np.zeros(problem.A.shape[1])) == pytest.approx(0.0)


@pytest.mark.parametrize("measurement", ["gaussian", "partial_dct", "partial_fourier", "random_samples"])
@pytest.mark.parametrize("basis", ["identity", "dct", "fourier", "wavelet"])
def test_compressed_sensing_operators(measurement, basis):
    problem = compressed_sensing(n=64, m=24, k=4, measurement=measurement, basis=basis, seed=3)
    A = as_forward_model(problem.A)
    if not isinstance(A, np.ndarray):
        dottest(A)
    assert A.shape[0] == 24 and problem.sigma == 0.0
    np.testing.assert_allclose(problem.b, A @ problem.x_true if isinstance(A, np.ndarray) else A.matvec(problem.x_true))
    assert problem.relative_error(problem.x_true) == 0.0


def test_partial_fourier_measurements_are_independent():
    """Frequencies drawn from all n gave conjugate pairs (k, n − k: the same real measurement up
    to sign) and the imaginary part at 0 or n/2 (a zero row): a 30 × 64 Φ had rank 22 to 30."""
    from lamina.inverse.sensing import measurement_operator
    from lamina.operators import to_dense

    for (m, n) in [(5, 7), (8, 16), (9, 12), (30, 64), (12, 12), (13, 13)]:
        for seed in range(20):
            Phi = to_dense(as_forward_model(measurement_operator("partial_fourier", m, n, np.random.default_rng(seed))))
            assert Phi.shape == (m, n)
            assert np.min(np.linalg.norm(Phi, axis=1)) > 0.5
            assert np.linalg.matrix_rank(Phi) == m


def test_compressed_sensing_bad_input():
    with pytest.raises(ValueError, match="measurement must be one of"):
        compressed_sensing(measurement="radon")
    with pytest.raises(ValueError, match="basis must be one of"):
        compressed_sensing(basis="curvelet")
    with pytest.raises(ValueError, match="m must be <="):
        compressed_sensing(n=16, m=32)


def test_deconvolution_bad_input_names_the_argument():
    """A NaN SNR gave data full of NaN, n_spikes = 0 a zero truth (relative errors NaN), n_spikes < 0
    numpy's "negative dimensions", and a wavelet longer than the trace PyLops' "offset must be smaller
    than dims[axis] - 1" or data of the wavelet's length."""
    with pytest.raises(ValueError, match="snr_db must be a finite number"):
        deconvolution(n_samples=100, snr_db=float("nan"))
    for spikes in (0, -1):
        with pytest.raises(ValueError, match="n_spikes must be >= 1"):
            deconvolution(n_samples=100, n_spikes=spikes)
    with pytest.raises(ValueError, match="n_samples must be at least 39 .got 38."):
        deconvolution(n_samples=38)           # the 20 Hz Ricker at 4 ms has 39 samples
    with pytest.raises(ValueError, match="n_time must be at least 31 .got 16."):
        deconvolution_2d(n_time=16, n_traces=2, wavelet=np.ones(31))
    assert deconvolution(n_samples=39, n_spikes=1).b.shape == (39,)


def test_wavelet_sparse_recovery_and_scale_groups():
    from lamina.inverse import recover

    problem = compressed_sensing(n=128, m=64, k=8, measurement="partial_dct", basis="wavelet", level=3, seed=0)
    x = recover(problem.A, problem.b).x
    assert problem.relative_error(x) < 1e-6
    groups = wavelet_scale_groups(128, level=3)
    assert groups.names == ("approx", "detail3", "detail2", "detail1")
    assert groups.sizes.tolist()[-1] == 64


def test_deconvolution_2d_and_time_windows():
    problem = deconvolution_2d(n_time=120, n_traces=6, n_layers=5, snr_db=30, seed=1)
    dottest(as_forward_model(problem.A))
    section = problem.x_true.reshape(problem.meta["shape"])
    assert np.all(np.count_nonzero(section, axis=1) >= 4)
    groups = time_window_groups(120, 3, n_traces=6)
    assert groups.sizes.tolist() == [240, 240, 240]
    assert groups.labels[119] == 2 and groups.labels[120] == 0
    custom = deconvolution(n_samples=300, n_spikes=5, wavelet=np.array([0.5, 1.0, 0.5]))
    assert custom.meta["wavelet"].tolist() == [0.5, 1.0, 0.5]


def test_frequency_band_groups_cover_both_parts():
    groups = frequency_band_groups((4, 16), 4, dt=0.004)
    assert groups.n_features == 2 * 64 and groups.n_groups == 4
    assert groups.labels[0] == 0 and groups.labels[8] == 3  # f = 0 and Nyquist


def test_seismogram_from_obspy_is_recovered_from_forty_percent_of_samples():
    problem = seismogram_recovery(keep=0.4, basis="dct", n_samples=1024)
    assert problem.model_true.shape == (1024,) and np.max(np.abs(problem.model_true)) == 1.0
    result = fit(problem.A, problem.b, "l1", tuner="gcv", n_lams=20)
    path_snr = [filled_snr(problem, x) for x in result.info["candidates"].coefs]
    assert filled_snr(problem, result.x) > 2.0                       # zero filling gives 0 dB
    assert filled_snr(problem, result.x) > max(path_snr) - 1.0       # GCV within 1 dB of the best λ


def test_inverse_fit_checks_a_user_operator_once_and_can_be_told_not_to(monkeypatch):
    """A LinearOperator entering lamina.inverse.fit gets PyLops' dot test (one random pair): a
    wrong adjoint is refused with an error naming A and the opt-out keyword; check_adjoint=False
    trusts it, and the fit's inner solves (path, folds) do not test again."""
    import pytest
    from scipy.sparse.linalg import LinearOperator

    import lamina.inverse
    import lamina.operators
    rng = np.random.default_rng(0)
    M = rng.standard_normal((40, 20))
    b = M @ np.r_[2.0, np.zeros(19)] + 0.05 * rng.standard_normal(40)
    wrong = LinearOperator(M.shape, matvec=lambda v: M @ v, rmatvec=lambda r: 1.05 * (M.T @ r), dtype=float)
    with pytest.raises(ValueError, match=r"^A fails the dot test.*check_adjoint=False"):
        lamina.inverse.fit(wrong, b, "l1", tuner="gcv", n_lams=5)
    with pytest.raises(ValueError, match="check_adjoint must be True or False"):
        lamina.inverse.fit(M, b, check_adjoint="yes")
    right = LinearOperator(M.shape, matvec=lambda v: M @ v, rmatvec=lambda r: M.T @ r, dtype=float)
    tested = []
    original = lamina.operators.dottest

    def counting(A, *args, **kwargs):
        tested.append(A.shape)
        return original(A, *args, **kwargs)

    import sys
    import lamina.api
    fit_module = sys.modules["lamina.inverse.fit"]            # (lamina.inverse.fit is also the function)
    monkeypatch.setattr(lamina.api, "dottest", counting)
    monkeypatch.setattr(fit_module, "dottest", counting)
    checked = lamina.inverse.fit(right, b, "l1", tuner="cv", n_lams=5)
    assert tested == [M.shape]                         # once, at the entry; not per fold or path
    tested.clear()
    from lamina.solvers.base import ConvergenceWarning
    with pytest.warns(ConvergenceWarning):                 # it runs, on the wrong adjoint it was told to trust
        trusted = lamina.inverse.fit(wrong, b, "l1", lam=0.5, check_adjoint=False)
    assert tested == [] and np.all(np.isfinite(trusted.x))
    assert np.allclose(checked.x, lamina.inverse.fit(M, b, "l1", tuner="cv", n_lams=5).x, atol=1e-6)
    lamina.solve(right, b, "l1", 0.5)                  # a plain solve still tests an operator itself
    assert tested == [M.shape]


def test_synthetic_gather_of_two_traces_is_finite_and_interpolation_always_fills_a_trace():
    from lamina.inverse.problems import synthetic_gather
    assert np.isfinite(synthetic_gather(n_traces=2, n_time=32)).all()
    with pytest.raises(ValueError, match="dx"):
        synthetic_gather(n_traces=8, n_time=32, dx=0.0)
    problem = interpolation(n_traces=16, n_time=64, keep=0.99, seed=0)
    assert len(problem.meta["missing"]) == 1
    assert np.isfinite(filled_snr(problem, np.zeros(problem.A.shape[1])))


@pytest.mark.parametrize("min_gap", [1, 2, 4, 7])
def test_reflectivity_spikes_are_as_far_apart_as_documented(min_gap):
    """The docstring had promised min_gap; the jitter of up to ⌊min_gap/2⌋ − 1 samples allows
    min_gap − ⌊min_gap/2⌋ + 1 (3 for 4, seen on 200 of 200 seeds)."""
    from lamina.inverse.problems import reflectivity
    bound = min_gap - max(min_gap // 2, 1) + 1
    smallest = []
    for seed in range(20):
        positions = np.flatnonzero(reflectivity(400, 60, np.random.default_rng(seed), min_gap=min_gap))
        smallest.append(np.diff(positions).min())
    assert min(smallest) >= bound
