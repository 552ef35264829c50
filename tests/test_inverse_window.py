"""Choosing on a window of a large image (lamina.inverse.window) and applying to the whole."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.inverse import reconstruct
from lamina.inverse.model_set import candidate_models as _candidates
from lamina.inverse.samples import pad_samples, padded_shape
from lamina.inverse.window import WINDOW, central_window, fit_chosen, selection_window, window_size


def _image(n=96, seed=0):
    rows, cols = np.mgrid[0:n, 0:n] / n
    image = np.sin(5 * rows) * np.cos(4 * cols) + 0.5 * (rows + cols > 1.1)
    mask = np.random.default_rng(seed).random(image.shape) < 0.5
    return image, mask


def _snr(estimate, image, where):
    return 10 * np.log10(np.sum(image[where] ** 2) / np.sum((estimate[where] - image[where]) ** 2))


def test_auto_windows_only_large_images_of_scattered_samples():
    assert window_size("auto", (512, 512), scattered=True, user_models=False) == WINDOW
    assert window_size("auto", (200, 200), scattered=True, user_models=False) is None   # ≤ twice the window
    assert window_size("auto", (512, 512), scattered=False, user_models=False) is None  # whole lines missing
    assert window_size("auto", (512, 512), scattered=True, user_models=True) is None
    assert window_size("auto", (100_000,), scattered=True, user_models=False) is None   # a trace
    assert window_size(None, (512, 512), scattered=True, user_models=False) is None
    assert window_size(64, (100, 50), scattered=True, user_models=False) == 64
    assert window_size(128, (100, 50), scattered=True, user_models=False) is None       # the window is all of it
    for bad in ("big", 16, 2.5, True):
        with pytest.raises(ValueError, match="select_window"):
            window_size(bad, (512, 512), scattered=True, user_models=False)
    with pytest.raises(ValueError, match="select_window"):
        window_size(64, (512, 512), scattered=False, user_models=False)


def test_central_window():
    rows, cols = central_window((100, 40), 64)
    assert (rows.start, rows.stop, cols.start, cols.stop) == (18, 82, 0, 40)


def test_the_window_has_the_masks_density_of_samples():
    """The central window where its share of observed samples is the mask's (within a factor 2);
    else the window whose share is nearest — never one without samples (a mask observed in one
    corner made reconstruct fail: 'mask has no observed sample')."""
    rng = np.random.default_rng(0)
    uniform = rng.random((300, 200)) < 0.3
    assert selection_window(uniform, 64) == central_window(uniform.shape, 64)
    corner = np.zeros((300, 200), bool)
    corner[:60, :60] = rng.random((60, 60)) < 0.5
    rows, cols = selection_window(corner, 64)
    assert (rows.stop - rows.start, cols.stop - cols.start) == (64, 64)
    share = corner[rows, cols].mean() / corner.mean()
    assert corner[central_window(corner.shape, 64)].sum() == 0 and 0.5 <= share <= 2.0
    hole = rng.random((300, 200)) < 0.3
    hole[100:200, 50:150] = False                     # nothing observed in the middle
    rows, cols = selection_window(hole, 64)
    assert 0.5 <= hole[rows, cols].mean() / hole.mean() <= 2.0
    r, c = np.mgrid[0:160, 0:160] / 160
    image = np.sin(6 * r) * np.cos(5 * c)
    mask = np.zeros(image.shape, bool)
    mask[:50, :50] = rng.random((50, 50)) < 0.6
    result = reconstruct(image[mask], mask, select_window=48)
    window = tuple(slice(*bounds) for bounds in result.info["window"])
    assert window == selection_window(mask, 48) and mask[window].any() and np.all(np.isfinite(result.x))
    with pytest.raises(ValueError, match="observed sample"):
        selection_window(np.zeros((80, 80), bool), 32)
    with pytest.raises(ValueError, match="2-D"):
        selection_window(np.ones(80, bool), 32)
    with pytest.raises(ValueError, match="size"):
        selection_window(uniform, 0)


@given(st.integers(40, 120), st.integers(40, 120), st.integers(8, 60), st.floats(0.001, 0.9),
       st.integers(0, 3), st.integers(0, 10_000))
@settings(max_examples=40, deadline=None)
def test_the_selection_window_is_inside_the_image_and_holds_samples(rows, cols, size, keep, layout, seed):
    """Any mask with at least one observed sample: a window of side min(size, side) inside the
    image, with at least one observed sample (uniform, corner, band and hole layouts)."""
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, cols)) < keep
    if layout == 1:
        mask[rows // 3:, :] = False
        mask[:, cols // 3:] = False
    elif layout == 2:
        mask[:, : cols // 2] = False
    elif layout == 3:
        mask[rows // 4: 3 * rows // 4, cols // 4: 3 * cols // 4] = False
    mask[rng.integers(rows), rng.integers(cols)] = True
    window = selection_window(mask, size)
    for axis, part in enumerate(window):
        assert 0 <= part.start and part.stop <= mask.shape[axis]
        assert part.stop - part.start == min(size, mask.shape[axis])
    assert mask[window].any()


def test_the_chosen_mixture_refitted_on_the_same_samples_is_the_answer():
    """fit_chosen at the window's own λ, on the window's own samples, gives reconstruct's estimate."""
    image, mask = _image(48)
    result = reconstruct(image[mask], mask, select_window=None)
    padded = padded_shape(mask.shape)
    observed = image[mask]
    offset, scale = result.info["offset"], result.info["scale"]
    full_mask, full_values = pad_samples(mask, (observed - offset) / scale, padded)
    candidates = {m.name: m for m in _candidates(padded, None)}
    chosen = {(name, float(result.info["curves"][name]["lam"][k])): w for (name, k), w in result.info["mixture"].items()}
    estimate = fit_chosen(chosen, candidates, full_mask, full_values, 1.0, True, 50)
    np.testing.assert_allclose(offset + scale * estimate[:48, :48], result.x, atol=1e-10)


@pytest.mark.parametrize("per_group", [True, False])
def test_a_frames_lambda_follows_the_amplitude(per_group):
    """The same image c times larger (window normalized c times smaller) gives c times the estimate."""
    image, mask = _image(32)
    (frame,) = _candidates((32, 32), ["wavelet:db2"], None, per_group)
    candidates = {frame.name: frame}
    values = np.where(mask, image, 0.0)
    one = fit_chosen({(frame.name, 0.05): 1.0}, candidates, mask, values, 1.0, per_group, 50)
    three = fit_chosen({(frame.name, 0.05): 1.0}, candidates, mask, 3.0 * values, 3.0, per_group, 50)
    assert np.abs(one).max() > 0.1
    np.testing.assert_allclose(three, 3.0 * one, rtol=1e-6, atol=1e-9)


def test_choosing_on_a_window_stays_close_to_choosing_on_all():
    """On an image whose statistics do not change across it (a texture), the window's choice is
    as good as the whole image's."""
    rows, cols = np.mgrid[0:96, 0:96] / 96
    image = np.sin(5 * rows) * np.cos(4 * cols) + 0.3 * np.sin(17 * (rows + cols))
    mask = np.random.default_rng(1).random(image.shape) < 0.5
    whole = reconstruct(image[mask], mask, select_window=None, n_lams=4, max_iter=30)
    windowed = reconstruct(image[mask], mask, select_window=48, n_lams=4, max_iter=30)
    assert windowed.x.shape == image.shape
    assert windowed.info["window"] == ((24, 72), (24, 72))
    assert abs(_snr(windowed.x, image, ~mask) - _snr(whole.x, image, ~mask)) < 0.5
    assert _snr(windowed.x, image, ~mask) > 25
    # the observed samples are reproduced as closely as by the whole-image choice
    assert np.sqrt(np.mean((windowed.x - image)[mask] ** 2)) < 0.05
