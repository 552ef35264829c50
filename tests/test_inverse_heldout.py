"""lamina.inverse.heldout: held-out samples weighted like the real gaps (importance-weighted CV)."""
import warnings

import numpy as np
import pytest

from lamina.inverse import RegularMaskWarning, reconstruct
from lamina.inverse.baselines import cubic_interpolation
from lamina.inverse.heldout import (distance_to_data, gap_features, gap_length, importance_weights,
                                    nearer_than_held_out)
from lamina.inverse.regular import regular_step


def test_gap_features_place_a_sample_in_its_gap():
    mask = np.array([1, 0, 0, 1, 0, 1, 1, 0, 0, 0], bool)
    np.testing.assert_array_equal(gap_length(mask), [0, 2, 2, 0, 1, 0, 0, 3, 3, 3])
    np.testing.assert_array_equal(distance_to_data(mask), [0, 1, 1, 0, 1, 0, 0, 1, 2, 3])
    assert gap_features(mask).shape == (10, 2)
    image = np.zeros((5, 5), bool)
    image[0, 0] = True
    assert gap_features(image).shape == (25, 1) and gap_features(image)[-1, 0] == pytest.approx(np.hypot(4, 4))
    with pytest.raises(ValueError, match="no True sample"):
        distance_to_data(np.zeros(4, bool))
    with pytest.raises(ValueError, match="1-D mask"):
        gap_length(image)


def test_importance_weights_are_the_ratio_of_the_histograms():
    cv = np.array([1.0, 1.0, 1.0, 2.0])          # p_cv: 3/4 at distance 1, 1/4 at 2
    target = np.array([1.0, 2.0, 2.0, 2.0, 9.0])  # p_target: 1/5 at 1, 4/5 at 2 (9 is beyond: counts at 2)
    weights = importance_weights(cv, target)
    ratio = np.array([0.2 / 0.75] * 3 + [0.8 / 0.25])
    np.testing.assert_allclose(weights, ratio / ratio.mean())
    # two covariates: a key present only in the held-out samples gets weight 0
    joint = importance_weights(np.array([[1, 1], [1, 2], [1, 2]]), np.array([[1, 2]]))
    np.testing.assert_allclose(joint, [0.0, 1.5, 1.5])
    assert np.array_equal(importance_weights(cv, np.zeros(0)), np.ones(4))
    with pytest.raises(ValueError, match="covariates"):
        importance_weights(np.ones((3, 2)), np.ones((3, 1)))


def test_weighted_cv_scores_linear_interpolation_like_its_error_on_the_gaps():
    # linear interpolation's error grows with the gap; plain CV (wider training gaps) overstates it
    t = np.linspace(0, 1, 400)
    truth = np.sin(14 * np.pi * t ** 1.5)
    mask = np.random.default_rng(0).random(t.size) < 0.5
    missing = ~mask
    linear = np.interp(np.arange(t.size), np.flatnonzero(mask), truth[mask])
    centred = truth - truth[mask].mean()
    actual = np.sum((linear[missing] - truth[missing]) ** 2) / np.sum(centred[missing] ** 2)
    scores = {w: reconstruct(truth[mask], mask, dictionary="spline1", lam=1e-9, weighting=w).score
              for w in ("gaps", "uniform")}
    assert abs(np.log(scores["gaps"] / actual)) < 0.5 * abs(np.log(scores["uniform"] / actual))
    with pytest.raises(ValueError, match="weighting"):
        reconstruct(truth[mask], mask, weighting="gap")


def test_default_reaches_the_cubic_interpolant_on_a_smooth_trace():
    # a smooth trace wants the interpolating limit of the cubic smoothing spline (λ → 0 on the
    # grid); plain CV, on the wider gaps of its folds, mixes in other models and loses 5–9 dB here
    t = np.linspace(0, 1, 96)
    truth = np.sin(20 * t) * np.exp(-2 * t)
    from lamina.inverse.baselines import cubic_interpolation

    def snr(x, missing):
        return 10 * np.log10(np.sum(truth[missing] ** 2) / np.sum((x[missing] - truth[missing]) ** 2))

    gains = []
    for seed in (10, 11):
        mask = np.zeros(96, bool)
        mask[np.random.default_rng(seed).choice(96, 48, replace=False)] = True
        cubic = snr(cubic_interpolation(truth[mask], mask), ~mask)
        weighted = snr(reconstruct(truth[mask], mask).x, ~mask)
        plain = snr(reconstruct(truth[mask], mask, weighting="uniform").x, ~mask)
        assert weighted >= cubic - 0.5
        gains.append(weighted - plain)
    assert np.mean(gains) > 1.0


def _gapped_mask(n=500, keep=0.3, seed=1, gap=(200, 300)):
    mask = np.random.default_rng(seed).random(n) < keep
    mask[gap[0]:gap[1]] = False
    return mask


def test_block_partition_only_where_random_folds_cannot_reach_the_gaps():
    from lamina.inverse.folds import block_folds, gap_block_size
    # random masks of 30–70 % kept: the random folds' held-out samples reach as far as any gap
    for keep in (0.3, 0.5, 0.7):
        for seed in range(5):
            mask = np.random.default_rng(seed).random(512) < keep
            assert gap_block_size(mask, np.ones(512, bool), 5, 0) is None
    mask = _gapped_mask()
    size = gap_block_size(mask, np.ones(mask.size, bool), 5, 0)
    assert size == 100                                   # the gap's diameter, capped at n / K
    folds = block_folds(mask, 5, 0, size)
    held = np.concatenate(folds)
    assert np.array_equal(np.sort(held), np.flatnonzero(mask))      # every observed sample once
    for fold in folds:   # whole blocks: a fold's samples fall in at most 2 + n/(K·size) blocks of the grid
        assert np.unique(fold // size).size <= 3
    # a region that excludes the gap (padding): nothing to reach
    region = np.ones(mask.size, bool)
    region[200:300] = False
    assert gap_block_size(mask, region, 5, 0) is None


@pytest.mark.parametrize("start", [0, 450])
def test_observed_samples_in_one_stretch_get_the_block_partition_whatever_its_offset(start):
    """Every observed sample in one short stretch: where the random offset of the block grid put them all in one
    block, the far-sample check was off (3 of 6 seeds extrapolated a sine with a 3× overshoot); the blocks are
    halved until two hold observed samples."""
    t = np.linspace(0, 1, 500)
    truth = np.sin(20 * np.pi * t + 0.3)
    mask = np.zeros(500, bool)
    mask[start:start + 50] = True
    for seed in range(6):
        result = reconstruct(truth[mask], mask, seed=seed)
        assert result.info["gap_block"] is not None and result.info["ends_model"] is not None


def test_a_fill_far_beyond_the_observed_amplitude_is_named():
    """A chirp observed only at its two ends (20 samples each of 400): the gap between them, wider than any
    held-out sample's, was bridged at 40× the observed amplitude, silently."""
    from lamina.inverse import UnsupportedFillWarning
    from lamina.inverse.heldout import FILL_FACTOR, warn_unsupported_fill
    t = np.linspace(0, 1, 400)
    truth = np.sin(2 * np.pi * (2 * t + 15 * t ** 2))
    ends = np.zeros(400, bool)
    ends[:20] = ends[-20:] = True
    with pytest.warns(UnsupportedFillWarning, match=r"deviates from the observed samples' mean by [0-9.]+×"):
        reconstruct(truth[ends], ends, seed=0)
    scattered = np.random.default_rng(0).random(400) < 0.3
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnsupportedFillWarning)
        reconstruct(truth[scattered], scattered)
        warn_unsupported_fill(np.array([FILL_FACTOR * 0.99]), np.array([-1.0, 1.0]))   # just within the bound
    with pytest.warns(UnsupportedFillWarning, match="4.04×"):
        warn_unsupported_fill(np.array([FILL_FACTOR * 1.01]), np.array([-1.0, 1.0]))


def test_far_gap_allowed_rules_out_only_what_fails_by_a_wide_margin():
    from lamina.inverse.heldout import far_gap_allowed
    rows = np.array([False, True, True, False])
    target = np.array([1.0, -1.0])
    good = np.array([[0, 1.0, -1.0, 0], [0, 1.5, -1.5, 5]])        # errors 0.0 and 0.5
    bad = np.array([[0, 7.0, -7.0, 0], [0, 1.2, -1.2, 0]])          # 72 and 0.08
    allowed = far_gap_allowed([good, bad], rows, target, within=4.0)
    assert [a.tolist() for a in allowed] == [[True, False], [False, False]]   # least error 0: only exact
    good[0] = [0, 1.1, -1.1, 0]                                      # least error 0.02 → bar 0.08
    allowed = far_gap_allowed([good, bad], rows, target, within=4.0)
    assert [a.tolist() for a in allowed] == [[True, False], [False, True]]


def test_far_best_holds_the_end_value_unless_another_model_is_clearly_better():
    from lamina.inverse.heldout import far_best
    rows = np.array([False, True, True])
    target = np.array([1.0, -1.0])
    hold = np.array([[0, 0.0, 0.0], [0, 1.5, -1.5]])                 # errors 2.0 and 0.5
    other = np.array([[0, 1.3, -1.3], [0, 5.0, 5.0]])                # 0.18 and 52
    assert far_best([hold, other], rows, target) == (1, 0)           # the least error
    assert far_best([hold, other], rows, target, prefer=0) == (1, 0)  # 0.5 > 2 × 0.18
    other[0] = [0, 1.4, -1.4]                                        # 0.32: 0.5 ≤ 2 × 0.32
    assert far_best([hold, other], rows, target, prefer=0) == (0, 1)


def test_end_weights_hand_over_beyond_the_reach_at_the_ends_only():
    from lamina.inverse.heldout import end_weights
    mask = np.zeros(40, bool)
    mask[[10, 12, 20, 25]] = True
    w = end_weights(mask, reach=2.0, length=36)
    assert np.all(w[8:28] == 0)                    # between the data (gaps included) and within reach
    assert w[7] == 0.5 and np.all(w[:7] == 1)      # 3 samples out: halfway; 4 and more: the far model
    assert w[28] == 0.5 and np.all(w[29:36] == 1)
    assert np.all(w[36:] == 0)                     # padding past the trace
    for bad_mask, reach, word in ((np.zeros(8, bool), 2.0, "mask"), (np.ones((3, 3), bool), 2.0, "mask"),
                                  (mask, -1.0, "reach"), (mask, float("nan"), "reach")):
        with pytest.raises(ValueError, match=word):
            end_weights(bad_mask, reach)


def test_unobserved_ends_are_extrapolated_by_the_model_the_far_blocks_choose():
    """A random walk observed on its middle 60 % only (half of those samples kept): the random
    folds' mixture extrapolated the ends at 2.4 dB, below linear interpolation's end hold (2.6);
    the far block samples choose the first-order spline, which holds the end value (4.1 dB)."""
    truth = np.cumsum(np.random.default_rng(3).normal(size=300)) / 10
    mask = np.zeros(300, bool)
    mask[60:240] = np.random.default_rng(0).random(180) < 0.5
    missing = ~mask

    def snr(x):
        return 10 * np.log10(np.sum(truth[missing] ** 2) / np.sum((x[missing] - truth[missing]) ** 2))

    result = reconstruct(truth[mask], mask)
    former = reconstruct(truth[mask], mask, wide_gaps=False)
    linear = np.interp(np.arange(300), np.flatnonzero(mask), truth[mask])
    assert result.info["ends_model"] == "spline1" and former.info["ends_model"] is None
    assert snr(result.x) > snr(former.x) + 1 and snr(result.x) > snr(linear)
    assert np.ptp(result.x[:20]) < 1e-3 * np.ptp(truth)        # the end value held, far out


def test_a_long_gap_is_not_filled_with_oscillations():
    """A chirp with 30 % kept and a gap of 100 samples: the spectral prior at a small λ, chosen on
    random folds, filled the gap with oscillations 7× the signal's amplitude (−10.6 dB against
    +4.0 for linear interpolation); the block partition rules it out."""
    n = 500
    t = np.linspace(0, 1, n)
    truth = np.sin(2 * np.pi * (2 * t + 20 * t ** 2))
    mask = _gapped_mask()
    missing = ~mask

    def snr(x):
        return 10 * np.log10(np.sum(truth[missing] ** 2) / np.sum((x[missing] - truth[missing]) ** 2))

    linear = np.interp(np.arange(n), np.flatnonzero(mask), truth[mask])
    result = reconstruct(truth[mask], mask)
    assert result.info["gap_block"] == 100
    assert np.abs(result.x[200:300]).max() < 1.5
    assert snr(result.x) > snr(linear)
    former = reconstruct(truth[mask], mask, wide_gaps=False)
    assert former.info["gap_block"] is None and np.abs(former.x[200:300]).max() > 3


def test_nearer_than_held_out_compares_the_farthest_target_with_the_nearest_held_out_sample():
    assert nearer_than_held_out([2.0, 3.0], [1.0, 1.0])
    assert not nearer_than_held_out([1.0, 3.0], [1.0])     # a held-out sample as near as a target
    assert not nearer_than_held_out([2.0], [1.0, 2.0])
    assert not nearer_than_held_out([], [1.0]) and not nearer_than_held_out([2.0], [])


def test_a_regular_trace_mask_is_flagged_and_warned_a_random_one_is_not():
    t = np.arange(300)
    signal = np.sin(0.3 * t) + 0.6 * np.sin(0.7 * t + 1.0)    # band-limited: below π/3, the Nyquist of every 3rd sample
    regular = t % 3 == 0
    with pytest.warns(RegularMaskWarning, match="regular mask"):
        result = reconstruct(signal[regular], regular, dictionary=["spline2", "spectral"], n_lams=6)
    assert result.info["nearer_than_held_out"]
    # the advice of the warning: Wiener interpolation at its interpolating limit, on exact samples
    advised = reconstruct(signal[regular], regular, dictionary="spectral", lam=1e-6).x
    missing = ~regular

    def error(x):
        return float(np.linalg.norm((x - signal)[missing]) / np.linalg.norm(signal[missing]))

    assert error(advised) < 0.5 * error(cubic_interpolation(signal[regular], regular))
    random_mask = np.random.default_rng(0).random(300) < 0.4
    with warnings.catch_warnings():
        warnings.simplefilter("error", RegularMaskWarning)
        result = reconstruct(signal[random_mask], random_mask, dictionary=["spline2", "spectral"], n_lams=6)
    assert not result.info["nearer_than_held_out"]


def test_regular_step_finds_the_grid_of_a_regular_sampling_even_with_samples_lost():
    mask = np.zeros(100, bool)
    mask[1::3] = True
    assert regular_step(mask) == 3
    mask[[31, 40, 43, 70]] = False                    # lost samples of a regular acquisition
    assert regular_step(mask) == 3
    mask[50] = True                                   # one sample off the grid
    assert regular_step(mask) is None
    assert regular_step(np.ones(10, bool)) is None    # step 1: nothing missing between samples
    assert regular_step(np.random.default_rng(0).random(500) < 0.3) is None
    lines = np.zeros((12, 5), bool)
    lines[::2] = True                                 # every other row: lines constant along axis 1
    assert regular_step(lines, axis=1) == 2 and regular_step(lines) is None


def test_the_block_folds_checked_by_the_choice_are_the_ones_cross_validated(monkeypatch):
    """held_out_choice drew the block folds to check that they train on something, and
    cross_validate drew them again from the seed it derived itself (``seed + repeat``): the check
    and the CV agreed only while the two seed formulas did. The folds are now drawn once and
    passed down; a choice drawing them otherwise (here another seed) is what the CV holds out."""
    import lamina.inverse.folds as folds
    import lamina.inverse.repeats as repeats

    drawn, held = {}, []
    original = folds.block_folds

    def other_blocks(full_mask, n_folds, seed, size):
        drawn["mask"] = full_mask
        drawn["folds"] = original(full_mask, n_folds, seed + 1000, size)
        return drawn["folds"]

    def spy(train):
        held.append(frozenset(np.flatnonzero(drawn["mask"] & ~train).tolist()))
        return gap_features(train)

    monkeypatch.setattr(folds, "block_folds", other_blocks)
    monkeypatch.setattr(repeats, "gap_features", spy)
    mask = _gapped_mask()
    truth = np.sin(np.linspace(0, 20, mask.size))
    result = reconstruct(truth[mask], mask, dictionary="spline1", n_lams=3, n_bags=0)
    assert result.info["gap_block"] == 100 and len(drawn["folds"]) >= 2
    cross_validated = set(held[-len(drawn["folds"]):])          # the last partition's held-out folds
    assert cross_validated == {frozenset(f.tolist()) for f in drawn["folds"]}
