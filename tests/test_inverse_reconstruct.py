"""lamina.inverse.reconstruct: a full trace or image from the samples observed on a mask."""
import sys

import numpy as np
import pytest

from lamina.inverse import reconstruct
from lamina.inverse.dictionaries import LocalDCT, WaveletFrame, default_dictionaries, make_dictionary
from lamina.inverse.smoothing import SmoothnessPrior


def _trace(n=192, seed=0):
    t = np.linspace(0, 1, n)
    rng = np.random.default_rng(seed)
    return np.sin(9 * np.pi * t) * np.exp(-2 * t) + 0.5 * np.exp(-((t - 0.6) / 0.02) ** 2) * rng.choice([-1, 1])


def _snr(estimate, truth, missing):
    return 10 * np.log10(np.sum(truth[missing] ** 2) / np.sum((estimate[missing] - truth[missing]) ** 2))


@pytest.mark.parametrize("frame", [WaveletFrame((64,), "db4", 3, n_shifts=4), WaveletFrame((32, 48), "sym4", 2, 2),
                                   LocalDCT((128,), 16)], ids=lambda f: f.name)
def test_frames_are_tight_and_adjoint(frame):
    rng = np.random.default_rng(0)
    x, c = rng.standard_normal(frame.shape), rng.standard_normal(frame.n_coefs)
    np.testing.assert_allclose(frame.synthesis(frame.analysis(x)), x, atol=1e-10)        # S Sᵀ = I
    assert np.dot(frame.analysis(x), c) == pytest.approx(np.dot(x.ravel(), frame.synthesis(c).ravel()))
    assert frame.labels.shape == (frame.n_coefs,) and set(np.unique(frame.labels)) == set(range(frame.n_groups))


@pytest.mark.parametrize("frame", [WaveletFrame((64,), "db4", 3, n_shifts=4), WaveletFrame((16, 24), "sym4", 2, 2),
                                   LocalDCT((128,), 16)], ids=lambda f: f.name)
def test_the_dense_frame_is_the_operator_and_gives_the_same_l1_path(frame, monkeypatch):
    """Short signals run FISTA on products with S held densely (Dictionary.matrix); the path must
    be the one the frame's own synthesis and analysis give."""
    import lamina.inverse.dictionaries as dictionaries
    from lamina.inverse.frame_l1 import l1_path

    rng = np.random.default_rng(3)
    c = rng.standard_normal(frame.n_coefs)
    np.testing.assert_allclose((frame.matrix() @ c).reshape(frame.shape), frame.synthesis(c), atol=1e-12)
    mask = rng.random(frame.shape) < 0.6
    values = np.where(mask, rng.standard_normal(frame.shape), np.nan)   # unobserved samples never read
    thresholds = [t * (1.0 + frame.labels) for t in (0.3, 0.1, 0.03)]
    dense = l1_path(frame, mask, values, thresholds)
    monkeypatch.setattr(dictionaries, "DENSE_ENTRIES", 0)
    assert frame.matrix() is None   # the operator path from here on
    for a, b in zip(dense, l1_path(frame, mask, values, thresholds)):
        assert np.all(np.isfinite(a)) and np.abs(a).max() > 0
        np.testing.assert_allclose(a, b, atol=1e-9)


def test_frame_arguments_are_checked():
    with pytest.raises(ValueError, match="multiple of 2\\^level"):
        WaveletFrame((100,), "db4", level=3)
    with pytest.raises(ValueError, match="orthogonal"):
        WaveletFrame((64,), "bior2.2", level=2)
    with pytest.raises(ValueError, match="not known"):
        make_dictionary("curvelet", (64,))
    assert len(default_dictionaries((256,))) == 3 and len(default_dictionaries((64, 64))) == 2


def test_wavelet_frames_refuse_an_approximately_orthogonal_wavelet():
    """PyWavelets marks "dmey" orthogonal, but its FIR filters are so only to 2·10⁻³: the frame had
    ‖S Sᵀ − I‖_max = 2.2·10⁻³ and ‖S‖ = 1.0029 against the documented S Sᵀ = I, ‖S‖ = 1."""
    with pytest.raises(ValueError, match="only approximately"):
        WaveletFrame((64,), "dmey", level=1)
    with pytest.raises(ValueError, match="only approximately"):
        make_dictionary("dmey", (64,))
    frame = WaveletFrame((64,), "sym20", level=1)   # the least exact of the others, to 10⁻¹¹
    S = np.column_stack([frame.synthesis(e) for e in np.eye(frame.n_coefs)])
    np.testing.assert_allclose(S @ S.T, np.eye(64), atol=1e-9)


def test_smoothness_prior_interpolates_polynomials_of_its_null_space():
    t = np.linspace(-1, 1, 60)
    mask = np.zeros(60, bool)
    mask[::4] = True
    for order, degree in [(1, 0), (2, 1), (3, 2)]:
        truth = t ** degree
        x = SmoothnessPrior((60,), order).solve(mask, np.where(mask, truth, 0.0), [1e-9])[0]
        np.testing.assert_allclose(x, truth, atol=1e-4)
    image = np.add.outer(np.arange(12.0), 2 * np.arange(10.0))   # affine: in the thin plate's null space
    mask2 = np.random.default_rng(0).random(image.shape) < 0.4
    x2 = SmoothnessPrior(image.shape, 2).solve(mask2, np.where(mask2, image, 0.0), [1e-9])[0]
    np.testing.assert_allclose(x2, image, atol=1e-3)


def test_smoothness_prior_solve_names_its_bad_arguments():
    """A mask of the wrong size failed in scipy.sparse with "inconsistent shapes", values of the
    wrong size in numpy's broadcasting, and a negative λ was solved (a negative penalty)."""
    prior = SmoothnessPrior((10,), 2)
    with pytest.raises(ValueError, match=r"mask must have the prior's shape \(10,\)"):
        prior.solve(np.ones(9, bool), np.ones(10), [1e-3])
    with pytest.raises(ValueError, match=r"values must have the prior's shape \(10,\)"):
        prior.solve(np.ones(10, bool), np.ones(9), [1e-3])
    for lam in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="lams must be finite"):
            prior.solve(np.ones(10, bool), np.ones(10), [lam])
    image = SmoothnessPrior((4, 5), 1)       # a flat mask of the image's size is read as the image
    assert image.solve(np.ones(20, bool), np.arange(20.0), 1e-9)[0].shape == (4, 5)


def test_reconstruct_a_trace_beats_linear_interpolation_and_accepts_both_value_layouts():
    truth = _trace()
    mask = np.random.default_rng(1).random(truth.size) < 0.5
    result = reconstruct(truth[mask], mask, n_lams=8, max_iter=40, seed=0)
    assert result.x.shape == truth.shape and np.asarray(result).shape == truth.shape
    linear = np.interp(np.arange(truth.size), np.flatnonzero(mask), truth[mask])
    assert _snr(result.x, truth, ~mask) >= _snr(linear, truth, ~mask) - 0.5
    assert 0 < result.score < 1 and result.dictionary in result.scores and sum(result.weights.values()) == pytest.approx(1)
    assert result.lam.shape == (len(result.groups),)
    full = np.where(mask, truth, np.nan)                       # unobserved entries may be NaN
    np.testing.assert_allclose(reconstruct(full, mask, n_lams=8, max_iter=40, seed=0).x, result.x)


def test_reconstruct_options_override_the_choice():
    truth = _trace(128)
    mask = np.random.default_rng(2).random(truth.size) < 0.6
    wavelet = reconstruct(truth[mask], mask, dictionary="wavelet:db4")
    assert wavelet.dictionary == "wavelet:db4x4" and wavelet.groups[0] == "approx"
    assert wavelet.lam.shape == (len(wavelet.groups),) and wavelet.lam[0] < wavelet.lam[-1]  # fine scales pay more
    one = reconstruct(truth[mask], mask, dictionary="wavelet:db4", per_group=False)
    assert np.ptp(one.lam) == 0
    spline = reconstruct(truth[mask], mask, dictionary="spline2", lam=1e-9, rule="holdout")
    assert spline.dictionary == "spline2" and spline.lam.tolist() == [1e-9] and spline.rule == "holdout"
    single = reconstruct(truth[mask], mask, dictionary=["spline1", "spline2"], combine=False)
    assert list(single.weights.values()) == [1.0]


def test_reconstruct_an_image():
    rows, cols = np.mgrid[0:40, 0:36] / 40.0
    image = np.sin(4 * rows) * np.cos(3 * cols) + (rows > 0.5)
    mask = np.random.default_rng(3).random(image.shape) < 0.5
    result = reconstruct(image[mask], mask, n_lams=4, max_iter=30)
    assert result.x.shape == image.shape
    assert _snr(result.x, image, ~mask) > 15


def test_a_01_mask_and_a_one_row_image_read_as_the_trace():
    t = np.linspace(0, 1, 80)
    signal = np.sin(6 * np.pi * t)
    mask = np.random.default_rng(4).random(80) < 0.5
    trace = reconstruct(signal[mask], mask, dictionary=["spline1", "spline2"])
    as_int = reconstruct(signal[mask], mask.astype(np.int8), dictionary=["spline1", "spline2"])
    np.testing.assert_array_equal(as_int.x, trace.x)
    for shape in [(1, 80), (80, 1)]:
        image = reconstruct(signal[mask], mask.reshape(shape), dictionary=["spline1", "spline2"])
        assert image.x.shape == shape
        np.testing.assert_allclose(image.x.ravel(), trace.x)
    # the trace's options reach it: wide_gaps=False (they were dropped), select_window refused as on a trace
    narrow = reconstruct(signal[mask], mask.reshape(1, 80), dictionary=["spline1", "spline2"], wide_gaps=False)
    assert narrow.info["gap_block"] is None
    with pytest.raises(ValueError, match="select_window"):
        reconstruct(signal[mask], mask.reshape(1, 80), select_window=64)


def test_reconstruct_errors_name_the_argument():
    mask = np.array([True, False, True, True, False, True])
    values = np.arange(6.0)
    with pytest.raises(TypeError, match="mask must be a boolean"):
        reconstruct(values, mask.astype(int) * 2)
    with pytest.raises(TypeError, match="mask must be a boolean"):
        reconstruct(values, mask.astype(float))
    with pytest.raises(ValueError, match="no observed sample"):
        reconstruct(values, np.zeros(6, bool))
    with pytest.raises(ValueError, match="values must have the mask's shape"):
        reconstruct(np.arange(3.0), mask)
    with pytest.raises(ValueError, match="NaN or infinite"):
        reconstruct(np.where(mask, np.nan, 0.0), mask)
    with pytest.raises(ValueError, match="1-D trace or 2-D image"):
        reconstruct(np.zeros((2, 2, 2)), np.ones((2, 2, 2), bool))
    with pytest.raises(ValueError, match="rule"):
        reconstruct(values, mask, rule="sure")
    with pytest.raises(ValueError, match="single dictionary"):
        reconstruct(values[mask], mask, lam=[1.0, 2.0])
    with pytest.raises(TypeError, match="real numbers"):
        reconstruct(values + 1j, mask)
    full = reconstruct(values, np.ones(6, bool))
    assert full.dictionary == "observed" and np.array_equal(full.x, values)
    few = reconstruct(values[mask], mask)          # four samples: still an answer
    assert few.x.shape == (6,) and np.all(np.isfinite(few.x))


def test_pocs_recovers_a_signal_inside_its_default_band():
    """The default band was the sampling's whole Nyquist share p: as many frequencies as observed
    samples on an irregular mask, and the iteration did not converge (error 0.38–0.58 after 300
    iterations on these signals, 6 tones below 0.2 f_N, 56–61 % kept). At p/2 they come out
    to 2e-2 or better, exactly where the mask allows."""
    from lamina.inverse.baselines import pocs_interpolation
    n, k = 256, np.arange(256)
    errors = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        frequencies = rng.choice(np.arange(1, int(0.1 * n)), 6, replace=False)
        x = sum(rng.standard_normal() * np.cos(2 * np.pi * f * k / n + rng.uniform(0, 6)) for f in frequencies)
        mask = rng.random(n) < 0.6
        estimate = pocs_interpolation(x[mask], mask)
        errors.append(np.linalg.norm(estimate[~mask] - x[~mask]) / np.linalg.norm(x[~mask]))
    assert max(errors) < 0.03 and min(errors) < 1e-10


def test_interpolation_baselines():
    from lamina.inverse.baselines import cubic_interpolation, linear_interpolation, pocs_interpolation

    t = np.arange(128)
    truth = np.sin(2 * np.pi * 3 * t / 128)                    # band-limited: 3 cycles
    mask = np.random.default_rng(0).random(128) < 0.5
    for method in (linear_interpolation, cubic_interpolation, pocs_interpolation):
        estimate = method(truth[mask], mask)
        assert estimate.shape == truth.shape
        np.testing.assert_allclose(estimate[mask], truth[mask], atol=1e-9)
    assert _snr(pocs_interpolation(truth[mask], mask), truth, ~mask) > 60   # inside the default band: exact
    assert _snr(cubic_interpolation(truth[mask], mask), truth, ~mask) > _snr(linear_interpolation(truth[mask], mask), truth, ~mask)
    image = np.add.outer(np.arange(10.0), np.arange(12.0))
    pixels = np.random.default_rng(1).random(image.shape) < 0.5
    np.testing.assert_allclose(linear_interpolation(image[pixels], pixels)[3:7, 3:9], image[3:7, 3:9], atol=1e-9)
    assert pocs_interpolation(image, pixels, threshold=True).shape == image.shape
    with pytest.raises(ValueError, match="two observed"):
        linear_interpolation(np.zeros(5), np.eye(5, dtype=bool)[0])


def test_sense_reconstructs_a_users_signal_file(tmp_path, capsys):
    import json

    from lamina.cli import main
    from lamina.inverse.signal_file import load_mask, load_signal

    truth = _trace(128)
    mask = np.random.default_rng(4).random(truth.size) < 0.6
    np.save(tmp_path / "trace.npy", truth)
    np.save(tmp_path / "mask.npy", mask)
    assert main(["sense", "--signal", str(tmp_path / "trace.npy"), "--mask", str(tmp_path / "mask.npy"),
                 "--out", str(tmp_path / "out"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["observed"] == int(mask.sum()) and set(summary["snr_db"]) == {"lamina", "linear", "cubic", "POCS"}
    assert np.load(tmp_path / "out" / "reconstruction.npy").shape == truth.shape
    assert isinstance(summary["one_lambda_snr_db"], float)
    page = (tmp_path / "out" / "report.html").read_text()
    assert "lamina recovers the unobserved samples at" in page and "With one λ for every coefficient" in page
    assert page.count("<img") == 2 + ("spectral" in summary["weights"])   # recovery, CV curves (+ λ per frequency)
    with pytest.raises(ValueError, match="must be .npy, miniSEED"):
        load_signal(tmp_path / "out" / "summary.json")
    np.save(tmp_path / "ones.npy", mask.astype(int))   # 0/1 integers read as boolean, as reconstruct reads them
    assert np.array_equal(load_mask(tmp_path / "ones.npy", truth.shape), mask)
    np.save(tmp_path / "bad.npy", mask * 0.5)
    with pytest.raises(TypeError, match="boolean array .*0/1 integers accepted"):
        load_mask(tmp_path / "bad.npy", truth.shape)
    np.save(tmp_path / "bad.npy", mask.astype(int) * 2)
    with pytest.raises(TypeError, match="boolean"):
        load_mask(tmp_path / "bad.npy", truth.shape)
    with pytest.raises(ValueError, match="has shape"):
        load_mask(tmp_path / "mask.npy", (5,))


@pytest.mark.parametrize("shape", [(1, 96), (96, 1)])
def test_a_signal_file_of_one_row_or_column_is_reported_as_a_trace(tmp_path, shape):
    """reconstruct treats a 1 × N or N × 1 signal as a trace; the report had drawn it with the 2-D mask
    against the trace's padded shape ("too many indices for array")."""
    from lamina.cli import main
    truth = _trace(96).reshape(shape)
    np.save(tmp_path / "trace.npy", truth)
    np.save(tmp_path / "mask.npy", np.random.default_rng(4).random(shape) < 0.6)
    assert main(["sense", "--signal", str(tmp_path / "trace.npy"), "--mask", str(tmp_path / "mask.npy"),
                 "--out", str(tmp_path / "out"), "--quiet"]) == 0
    assert np.load(tmp_path / "out" / "reconstruction.npy").shape == shape
    assert (tmp_path / "out" / "recovery.png").stat().st_size > 0


def test_invert_reconstructs_a_users_signal_file_as_sense_does(tmp_path, capsys):
    """The issue names both commands; ``lamina invert`` had no --signal (argparse: unrecognized)."""
    import json

    from lamina.cli import main

    truth = _trace(96)
    mask = np.random.default_rng(2).random(truth.size) < 0.5
    np.save(tmp_path / "trace.npy", truth)
    np.save(tmp_path / "mask.npy", mask)
    summaries = []
    for command in ("invert", "sense"):
        assert main([command, "--signal", str(tmp_path / "trace.npy"), "--mask", str(tmp_path / "mask.npy"),
                     "--out", str(tmp_path / command), "--json"]) == 0
        summaries.append(json.loads(capsys.readouterr().out))
        assert (tmp_path / command / "report.html").is_file()
    assert summaries[0]["observed"] == int(mask.sum())
    assert summaries[0]["snr_db"] == summaries[1]["snr_db"]
    # no --mask: a random half observed (invert's --keep default is 0.6 for its synthetic gather)
    assert main(["invert", "--signal", str(tmp_path / "trace.npy"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["observed"] == int(
        (np.random.default_rng(0).random(truth.size) < 0.5).sum())
    for command in ("invert", "sense"):   # sense had run its phase diagram, the mask ignored
        assert main([command, "--mask", str(tmp_path / "mask.npy"), "--quiet"]) == 1
        assert "give --signal too" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["invert", "--signal", str(tmp_path / "trace.npy"), "--problem", "interpolation"])
    assert exit_info.value.code == 2 and "give one of them" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:   # options of the synthetic problem are not silently ignored
        main(["invert", "--signal", str(tmp_path / "trace.npy"), "--rule", "gcv", "--snr", "10"])
    assert exit_info.value.code == 2 and "--rule, --snr set up the synthetic problem" in capsys.readouterr().err


def test_a_signal_files_stages_are_reported_as_they_start(tmp_path):
    """A 512² photograph is minutes of silence through the CLI without them."""
    from lamina.inverse.signal_file import STAGES, reconstruct_file

    np.save(tmp_path / "trace.npy", _trace(96))
    stages = []
    reconstruct_file(tmp_path / "trace.npy", keep=0.5, out=tmp_path / "out", progress=stages.append)
    assert stages == list(STAGES)
    stages.clear()
    reconstruct_file(tmp_path / "trace.npy", keep=0.5, one_lambda=False, progress=stages.append)
    assert stages == ["lamina", "baselines"]


def test_signal_and_mask_files_that_cannot_be_read_are_named(tmp_path, capsys):
    """numpy's "contains pickled (object) data … load it unsafely" for a file that is not a .npy
    array, a bare "[Errno 2]" for a missing mask, "does not exist" for a directory."""
    from lamina.cli import main
    from lamina.inverse.signal_file import load_mask, load_signal

    (tmp_path / "junk.npy").write_text("not an array")
    with pytest.raises(ValueError, match="signal file .*junk.npy' is not a .npy array of numbers"):
        load_signal(tmp_path / "junk.npy")
    with pytest.raises(IsADirectoryError, match="signal file .* is a directory"):
        load_signal(tmp_path)
    with pytest.raises(FileNotFoundError, match="mask file .*nope.npy' does not exist"):
        load_mask(tmp_path / "nope.npy", (5,))
    (tmp_path / "mask.png").write_bytes(b"\x89PNG")
    with pytest.raises(ValueError, match="mask file .*mask.png' must be a boolean .npy array"):
        load_mask(tmp_path / "mask.png", (5,))
    with pytest.raises(ValueError, match="mask file .*junk.npy' is not a .npy array"):
        load_mask(tmp_path / "junk.npy", (5,))
    np.save(tmp_path / "trace.npy", np.arange(20.0))
    assert main(["sense", "--signal", str(tmp_path / "trace.npy"), "--mask", str(tmp_path / "nope.npy"), "--quiet"]) == 1
    assert "mask file" in capsys.readouterr().err


def test_a_signal_file_with_nan_and_no_mask_draws_only_finite_samples(tmp_path):
    """NaN in the file is an unknown sample; the random mask drew it as observed on some seeds and
    the run failed ("values holds NaN … at observed samples")."""
    from lamina.inverse.signal_file import reconstruct_file

    trace = np.sin(np.arange(120) / 5.0)
    trace[[3, 40, 41, 90]] = np.nan
    np.save(tmp_path / "holes.npy", trace)
    for seed in range(4):
        summary = reconstruct_file(tmp_path / "holes.npy", keep=0.7, seed=seed)
        assert summary["observed"] <= 116 and np.isfinite(summary["snr_db"]["lamina"])


@pytest.mark.parametrize("shape, observed_row", [((1, 300), None), ((300, 1), None), ((30, 40), 12)])
def test_baselines_on_one_row_or_samples_on_one_line(shape, observed_row):
    """Delaunay triangulation fails on collinear points (QhullError) and took the CLI down: an image
    of one row or column is interpolated as a trace, samples on one line take the nearest one."""
    from lamina.inverse.baselines import cubic_interpolation, linear_interpolation

    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    image = np.sin(rows / 7.0 + cols / 9.0)
    if observed_row is None:
        mask = np.random.default_rng(0).random(shape) < 0.5
        line = image.ravel()
        np.testing.assert_allclose(linear_interpolation(image, mask).ravel(),
                                   linear_interpolation(line, mask.ravel()))
        np.testing.assert_allclose(cubic_interpolation(image, mask).ravel(), cubic_interpolation(line, mask.ravel()))
        return
    mask = np.zeros(shape, bool)
    mask[observed_row] = True
    for interpolate in (linear_interpolation, cubic_interpolation):
        estimate = interpolate(image, mask)
        np.testing.assert_allclose(estimate, np.broadcast_to(image[observed_row], shape))


def test_sense_report_says_what_a_regular_mask_changed(tmp_path, capsys):
    from lamina.cli import main

    truth = _trace(128)
    mask = np.arange(truth.size) % 2 == 0
    np.save(tmp_path / "trace.npy", truth)
    np.save(tmp_path / "mask.npy", mask)
    with pytest.warns(UserWarning, match="regular mask"):
        assert main(["sense", "--signal", str(tmp_path / "trace.npy"), "--mask", str(tmp_path / "mask.npy"),
                     "--out", str(tmp_path / "out"), "--json"]) == 0
    capsys.readouterr()
    page = (tmp_path / "out" / "report.html").read_text()
    assert "lies on a grid of step 2" in page and "nearer to the data than any held-out sample" in page


@pytest.mark.parametrize("shape", [(20,), (7,), (17, 33)])
def test_reconstruct_odd_and_short_shapes(shape):
    rng = np.random.default_rng(5)
    truth = rng.standard_normal(shape).cumsum(axis=-1)
    mask = rng.random(shape) < 0.5
    mask.flat[0] = mask.flat[-1] = True
    result = reconstruct(truth[mask], mask, n_lams=4, max_iter=20)
    assert result.x.shape == shape and np.all(np.isfinite(result.x))


@pytest.mark.parametrize("shape, dictionary", [((13,), "wavelet:db4"), ((15,), "localdct"), ((15,), "wavelet:haar"),
                                               ((9, 20), "wavelet:db4"), ((15, 33), "wavelet:haar")])
def test_a_frame_named_by_the_user_works_on_short_odd_sides(shape, dictionary):
    """Sides below 16 were not padded, and the frames need multiples of 2^level (wavelets) or of
    the block (local DCT): "every side of shape (15,) must be a multiple of 2^level"."""
    rng = np.random.default_rng(0)
    values, mask = rng.standard_normal(shape), rng.random(shape) < 0.6
    result = reconstruct(values, mask, dictionary=dictionary)
    assert result.x.shape == shape and result.dictionary.startswith(dictionary)
    assert np.all(np.isfinite(result.x))


@pytest.mark.parametrize("n_observed", [2, 3, 4, 6, 8])
def test_a_long_trace_with_a_few_samples(n_observed):
    # every gap is wide: the block partition applies; below 4 samples no fold exists at all, and
    # below 8 the default candidates lost to linear interpolation (benchmarks/RESULTS.md, issue 18)
    truth = np.sin(np.linspace(0, 6, 300))
    mask = np.zeros(300, bool)
    mask[np.random.default_rng(0).choice(300, n_observed, replace=False)] = True
    where = np.flatnonzero(mask)
    if n_observed < 8:   # linear interpolation through the samples, flat ends
        reason = "no held-out choice is possible" if n_observed < 4 else "lost to linear interpolation"
        with pytest.warns(UserWarning, match=f"only {n_observed} observed sample.*{reason}"):
            result = reconstruct(truth[mask], mask, n_lams=4, max_iter=20)
        np.testing.assert_allclose(result.x, np.interp(np.arange(300), where, truth[where]))
        assert result.dictionary == "linear" and np.isnan(result.score)
    else:
        result = reconstruct(truth[mask], mask, n_lams=4, max_iter=20)
        assert result.dictionary != "linear" and np.isfinite(result.score)
    assert result.x.shape == (300,) and np.all(np.isfinite(result.x))
    if n_observed >= 4:   # a model the user names is fitted and chosen on held-out samples all the same
        named = reconstruct(truth[mask], mask, dictionary=["spline2", "spline3"], n_lams=4, max_iter=20)
        assert named.dictionary in ("spline2", "spline3") and np.all(np.isfinite(named.x))


def test_an_image_with_fewer_than_four_pixels_takes_the_nearest_one():
    mask = np.zeros((8, 8), bool)
    mask[1, 1] = mask[6, 5] = True
    with pytest.warns(UserWarning, match="only 2 observed sample"):
        result = reconstruct(np.arange(64.0).reshape(8, 8), mask)
    assert result.dictionary == "nearest" and result.x[0, 0] == 9.0 and result.x[7, 7] == 53.0


@pytest.mark.parametrize("factor", [1e300, 1e-300])
def test_the_answer_scales_with_the_samples_at_the_ends_of_the_float_range(factor):
    """The RMS of samples near 1e300 overflowed (an all-NaN answer); near 1e-300 it underflowed
    to 0 and the trace was taken for a constant."""
    t = np.linspace(0, 1, 64)
    signal = np.sin(6 * np.pi * t) + 0.3 * t
    mask = np.random.default_rng(0).random(64) < 0.5
    options = dict(dictionary=["spline1", "spline2"], n_lams=4, max_iter=20)
    unit = reconstruct(signal[mask], mask, **options)
    scaled = reconstruct(signal[mask] * factor, mask, **options)
    assert scaled.dictionary == unit.dictionary
    np.testing.assert_allclose(scaled.x / factor, unit.x, rtol=1e-6, atol=1e-8)   # iterative solves: 1e-9


def test_signal_report_verdict_and_an_image_page(tmp_path):
    from lamina.inverse.signal_file import reconstruct_file
    from lamina.report.signal_report import verdict

    assert verdict({"lamina": 12.0, "linear": 10.0, "cubic": 11.0}, 11.9) == (
        "lamina recovers the unobserved samples at 12.0 dB, 1.0 dB above the best interpolation baseline "
        "(cubic, 11.0 dB). With one λ for every coefficient of each model (the spectral prior then is white "
        "noise) it reaches 11.9 dB: the λ per group made no difference beyond 0.5 dB (+0.1 dB).")
    assert "exactly" in verdict({"lamina": float("inf"), "linear": 30.0}, None)
    assert "below" in verdict({"lamina": 9.0, "linear": 10.0}, None)
    assert "helped" in verdict({"lamina": 12.0, "linear": 10.0}, 10.0)
    assert "hurt" in verdict({"lamina": 12.0, "linear": 10.0}, 13.0)
    rows, cols = np.mgrid[0:24, 0:24]
    np.save(tmp_path / "image.npy", np.sin(rows / 3.0) * np.cos(cols / 5.0))
    summary = reconstruct_file(tmp_path / "image.npy", keep=0.5, out=tmp_path / "page")
    page = (tmp_path / "page" / "report.html").read_text()
    assert "of 576 samples" in page and page.count("<img") >= 2
    assert summary["snr_db"]["lamina"] > summary["snr_db"]["linear"] - 3.0
    # nothing tuned: every sample observed, or a constant signal — still a page, no curves
    np.save(tmp_path / "constant.npy", np.full(40, 2.0))
    np.save(tmp_path / "all.npy", np.ones(40, bool))
    assert reconstruct_file(tmp_path / "constant.npy", out=tmp_path / "c")["chosen"] == "constant"
    assert reconstruct_file(tmp_path / "constant.npy", tmp_path / "all.npy", out=tmp_path / "a")["chosen"] == "observed"
    assert "nothing to compare" in (tmp_path / "a" / "report.html").read_text()
    # unknown (NaN) unobserved samples are left out of the SNR; JSON stays strict
    import json

    trace = np.sin(np.arange(80) / 4.0)
    holes = np.random.default_rng(3).random(80) < 0.6
    gappy = np.where(holes, trace, np.nan)
    gappy[np.flatnonzero(~holes)[:3]] = trace[np.flatnonzero(~holes)[:3]]   # three unobserved samples known
    np.save(tmp_path / "gappy.npy", gappy)
    np.save(tmp_path / "holes.npy", holes)
    summary = reconstruct_file(tmp_path / "gappy.npy", tmp_path / "holes.npy", out=tmp_path / "g")
    assert all(np.isfinite(v) for v in summary["snr_db"].values())
    json.loads((tmp_path / "g" / "summary.json").read_text())
    page = (tmp_path / "g" / "report.html").read_text()
    assert "lamina recovers the unobserved samples at" in page and "nan dB" not in page


def test_the_spectral_figure_of_an_image_shows_the_frequency_plane():
    """Images: beside the radial average, log₁₀ λ_k = log₁₀ t/p_k over the (k_row, k_col) plane of
    the model's (padded) shape, the values of the model's own spectrum; traces: the one panel."""
    from lamina.inverse.samples import pad_samples
    from lamina.inverse.spectral import SpectralPrior, prior_variance
    from lamina.report.signal_report import spectral_figure

    rows, cols = np.mgrid[0:32, 0:32]
    image = np.sin(0.9 * rows + 0.4 * cols)
    mask = np.random.default_rng(0).random(image.shape) < 0.5
    result = reconstruct(image[mask], mask, dictionary="spectral")
    figure = spectral_figure(image, mask, result.info, 1e-3)
    shown = [im for ax in figure.axes for im in ax.get_images()]
    assert len(shown) == 1
    shape = tuple(result.info["padded_shape"])
    padded_mask, values = pad_samples(mask, (image[mask] - result.info["offset"]) / result.info["scale"], shape)
    power = SpectralPrior(shape).spectrum(padded_mask, values)
    np.testing.assert_allclose(shown[0].get_array(), np.log10(1e-3 / prior_variance(power)).reshape(shape))
    trace = spectral_figure(image[0], mask[0], reconstruct(image[0][mask[0]], mask[0], dictionary="spectral").info, 1e-3)
    assert not [im for ax in trace.axes for im in ax.get_images()]


def test_frames_refuse_signals_and_coefficients_of_the_wrong_size():
    """LocalDCT((16,), 4) took a 20-sample x and returned 40 coefficients (its labels have 32), and
    synthesized 40 coefficients by dropping the last 8; the wavelet and f-k frames failed in
    numpy's reshape or PyLops' "Dimension mismatch" without naming the argument."""
    from lamina.inverse.fk import FKFrame

    for frame in (LocalDCT((16,), 4), WaveletFrame((16,), "db2", 2, n_shifts=2), FKFrame((4, 6))):
        n = int(np.prod(frame.shape))
        assert frame.analysis(np.ones(frame.shape)).shape == (frame.n_coefs,)
        assert frame.synthesis(np.ones(frame.n_coefs)).shape == frame.shape
        with pytest.raises(ValueError, match=r"x must have %d samples" % n):
            frame.analysis(np.ones(n + 4))
        for size in (frame.n_coefs - 8, frame.n_coefs + 8):
            with pytest.raises(ValueError, match=r"c must have n_coefs = %d" % frame.n_coefs):
                frame.synthesis(np.ones(size))


@pytest.mark.parametrize("band", [-1.0, 0.0, float("nan"), 1.5, "x", True])
def test_pocs_band_out_of_range_is_refused_by_name(band):
    from lamina.inverse.baselines import pocs_interpolation
    mask = np.arange(40) % 3 != 0
    with pytest.raises(ValueError, match="band"):
        pocs_interpolation(np.sin(np.arange(40) / 4.0), mask, band=band)


@pytest.mark.parametrize("array", [np.exp(1j * np.arange(8.0)), np.array(["a", "b"]),
                                   np.arange(3).astype("datetime64[D]"), np.zeros(3, dtype=[("a", float)])])
def test_signal_file_of_non_real_numbers_is_refused_by_name(tmp_path, array):
    from lamina.inverse.signal_file import load_signal
    np.save(tmp_path / "odd.npy", array)
    with pytest.raises(ValueError, match="odd.npy.*real numbers"):
        load_signal(tmp_path / "odd.npy")


def test_unreadable_mseed_and_image_files_are_refused_by_name(tmp_path):
    from lamina.inverse.signal_file import load_signal
    pytest.importorskip("obspy")
    pytest.importorskip("skimage")
    for name in ("bad.mseed", "bad.png"):
        (tmp_path / name).write_bytes(b"not a file of that kind" * 10)
        with pytest.raises(ValueError, match=f"signal file .*{name}.* could not be read"):
            load_signal(tmp_path / name)


def test_signal_file_mask_as_array_and_bad_samples_named(tmp_path):
    from lamina.inverse.signal_file import reconstruct_file
    signal = np.sin(np.arange(64) / 3.0)
    mask = np.arange(64) % 2 == 0
    np.save(tmp_path / "s.npy", signal)
    summary = reconstruct_file(tmp_path / "s.npy", mask, one_lambda=False)   # an array, as reconstruct takes
    assert summary["observed"] == 32
    with pytest.raises(ValueError, match="mask has shape"):
        reconstruct_file(tmp_path / "s.npy", mask[:-1], one_lambda=False)
    with pytest.raises(ValueError, match="no True entry"):
        reconstruct_file(tmp_path / "s.npy", np.zeros(64, bool), one_lambda=False)
    signal[4] = np.nan
    np.save(tmp_path / "s.npy", signal)
    with pytest.raises(ValueError, match=r"s\.npy.*1 observed samples.*index \(4,\)"):
        reconstruct_file(tmp_path / "s.npy", mask, one_lambda=False)
    np.save(tmp_path / "nan.npy", np.full(20, np.nan))
    with pytest.raises(ValueError, match="nan.npy.*no finite sample"):
        reconstruct_file(tmp_path / "nan.npy")
    with pytest.raises(ValueError, match="keep"):
        reconstruct_file(tmp_path / "s.npy", keep="0.5")


@pytest.mark.parametrize("n, observed", [(100, [40, 41, 42, 43]), (64, [30, 31, 33, 34]), (16, [3, 4, 6, 9])])
def test_a_trace_observed_in_one_short_stretch(n, observed):
    mask = np.zeros(n, bool)
    mask[observed] = True
    signal = np.sqrt(np.arange(n, dtype=float))
    # named candidates: the default ones on 4 samples interpolate linearly (MIN_CHOICE)
    result = reconstruct(signal[mask], mask, dictionary=["spline1", "spline2", "spline3", "spectral"])
    assert result.x.shape == (n,) and np.all(np.isfinite(result.x))
    # the wide-gap blocks (halved until two hold observed samples) never leave one fold holding out everything
    from lamina.inverse.folds import gap_block_folds
    size, folds = gap_block_folds(mask, np.ones(n, bool), 2, 0, 1)
    assert size is None or (len(folds) >= 2 and all(fold.size for fold in folds))
    with pytest.warns(UserWarning, match="lost to linear interpolation"):
        assert reconstruct(signal[mask], mask).dictionary == "linear"


def test_a_window_whose_missing_pixels_are_whole_columns():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:64] / 64
    image = np.sin(6 * xx + 2 * yy) + 0.5 * np.cos(4 * yy)
    mask = rng.random((64, 64)) < 0.5
    mask[16:48, 16:48] = (rng.random(32) < 0.6)[None, :]   # scattered overall, whole columns in the window
    result = reconstruct(np.where(mask, image, np.nan), mask, select_window=32)
    assert result.info["window"] == ((16, 48), (16, 48))
    assert result.x.shape == (64, 64) and np.all(np.isfinite(result.x))
    assert np.sqrt(np.mean((result.x - image)[~mask] ** 2)) < 0.3 * np.std(image)


@pytest.mark.parametrize("dictionary, match", [([], "empty list"), ("splinex", "not known"),
                                               ("spline2:axisz", "not known")])
def test_an_empty_or_malformed_dictionary_is_refused_by_name(dictionary, match):
    mask = np.arange(32) % 3 != 0
    with pytest.raises(ValueError, match=match):
        reconstruct(np.sin(np.arange(32.0))[mask], mask, dictionary=dictionary)


@pytest.mark.parametrize("name, value, error, match", [
    ("seed", None, TypeError, "seed must be an integer, got None"),
    ("seed", "a", TypeError, "seed must be an integer, got 'a'"),
    ("seed", 1.5, TypeError, "seed must be an integer"),
    ("seed", -1, ValueError, "seed must be >= 0"),
    ("lam", "a", TypeError, "lam must be a non-negative number"),
    ("lam", [1.0, "x"], TypeError, "lam must be a non-negative number"),
    ("per_group", "yes", TypeError, "per_group must be True or False"),
    ("combine", "no", TypeError, "combine must be True or False"),
    ("wide_gaps", None, TypeError, "wide_gaps must be True or False"),
])
def test_reconstruct_seed_lam_and_flags_are_refused_by_name(name, value, error, match):
    mask = np.random.default_rng(0).random(64) < 0.5
    with pytest.raises(error, match=match):
        reconstruct(_trace(64)[mask], mask, dictionary="spline1", n_lams=3, **{name: value})


def test_reconstruct_file_refuses_a_bad_seed_by_name(tmp_path):
    from lamina.inverse.signal_file import reconstruct_file

    np.save(tmp_path / "trace.npy", _trace(64))
    for seed in (None, "a"):
        with pytest.raises(TypeError, match="seed must be an integer"):
            reconstruct_file(tmp_path / "trace.npy", seed=seed)


@pytest.mark.parametrize("name", ["summary.json", "reconstruction.npy"])
def test_reconstruct_file_write_that_fails_midway_leaves_the_previous_file_whole(tmp_path, disk_fills_writing, name):
    """reconstruct_file wrote summary.json (and reconstruction.npy) in place: a run killed (here: a
    disk filling) during the write left a truncated file; each is now written beside it and renamed."""
    import os

    from lamina.inverse.signal_file import reconstruct_file

    np.save(tmp_path / "trace.npy", _trace(64))
    out = tmp_path / "out"
    reconstruct_file(tmp_path / "trace.npy", out=out, one_lambda=False)
    before = (out / name).read_bytes()
    disk_fills_writing(name)
    with pytest.raises(OSError, match="No space left"):
        reconstruct_file(tmp_path / "trace.npy", out=out, one_lambda=False)
    assert (out / name).read_bytes() == before, f"the previous {name} was truncated by the failed write"
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]      # no temporary file left behind


def test_the_frames_share_one_pilot_per_set_of_training_samples(monkeypatch):
    """Every frame's λ direction comes from the same pilot (the cubic smoothing spline at λ = 10⁻⁷ of
    the training samples): it is solved once per set of samples, not once per frame, and the answer
    is the one each frame solving its own gives."""
    from lamina.inverse import grid_model

    truth = _trace(256)
    mask = np.random.default_rng(3).random(256) < 0.5
    solved = []
    original = SmoothnessPrior.solve

    def counting(self, mask_, values, lams):
        if list(lams) == [grid_model.PILOT_LAM]:
            solved.append(np.asarray(mask_, bool).tobytes())
        return original(self, mask_, values, lams)

    monkeypatch.setattr(SmoothnessPrior, "solve", counting)
    shared = reconstruct(truth[mask], mask, n_bags=0)
    assert len(solved) == len(set(solved)) > 2      # the full mask and each fold's, once each
    def own_pilot():      # no sharing: every frame solves its pilot again
        return lambda m, v: counting(SmoothnessPrior(np.shape(m), 2), m, v, [grid_model.PILOT_LAM])[0]

    monkeypatch.setattr(sys.modules["lamina.inverse.reconstruct"], "PilotCache", own_pilot)
    monkeypatch.setattr(grid_model, "PilotCache", own_pilot)
    solved.clear()
    own = reconstruct(truth[mask], mask, n_bags=0)
    assert len(solved) > len(set(solved))           # the frames solved the same pilots again
    np.testing.assert_array_equal(shared.x, own.x)


def test_fista_budget_is_50_among_the_default_candidates_and_100_for_a_named_frame_on_a_trace(monkeypatch):
    """The iteration budget per grid point (``max_iter``'s default): 50 where the frames are mixed with
    the other candidates (their SNR moved by < 0.04 dB on average with 100 or 200), 100 for a frame
    the user names on a trace, fitted alone; an explicit max_iter is used as given."""
    from lamina.inverse import grid_model

    budgets = []
    original = grid_model.l1_path

    def recording(frame, mask, values, thresholds, *, max_iter=150, tol=1e-4):
        budgets.append(int(np.max(max_iter)) if np.ndim(max_iter) else int(max_iter))
        return original(frame, mask, values, thresholds, max_iter=max_iter, tol=tol)

    monkeypatch.setattr(grid_model, "l1_path", recording)
    truth = _trace(128)
    mask = np.random.default_rng(0).random(128) < 0.5
    for options, expected in (({}, 50), ({"dictionary": "wavelet:db4"}, 100), ({"max_iter": 7}, 7)):
        budgets.clear()
        reconstruct(truth[mask], mask, n_bags=0, **options)
        assert budgets and set(budgets) <= {expected, 4 * expected}, (options, set(budgets))
