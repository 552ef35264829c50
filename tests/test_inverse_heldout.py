"""lamina.inverse.heldout: held-out samples weighted like the real gaps (importance-weighted CV)."""
import numpy as np
import pytest

from lamina.inverse import reconstruct
from lamina.inverse.heldout import distance_to_data, gap_features, gap_length, importance_weights


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
