"""Tuning the λ per depth: the structure-fixed hypergradient against finite differences, the tuners."""
import numpy as np
import pytest

from lamina.trees import (BoostedTreesRegressor, GridCVTuner, HypergradientTuner, OptunaTuner, depth_lambdas,
                          make_tuner)
from lamina.trees._binning import apply_bins, as_float32, fit_bins
from lamina.trees.boosting import BoostSpec, Loss, boost
from lamina.trees.replay import replay
from lamina.tuners import TuneResult


def _problem(loss, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    f = X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] * X[:, 3]
    noisy = f + 0.5 * rng.standard_normal(n)
    if loss is Loss.SQUARED:
        y = noisy
    elif loss is Loss.LOGISTIC:
        y = (noisy > 0.3).astype(float)
    else:
        labels = np.digitize(noisy, [-0.5, 0.5])
        y = np.zeros((3, n))
        y[labels, np.arange(n)] = 1.0
    X32 = as_float32(X)
    return X32[:200], y[..., :200], X32[200:], y[..., 200:]


@pytest.mark.parametrize("loss", list(Loss))
def test_hypergradient_matches_finite_differences_with_structure_fixed(loss):
    X, y, X_val, y_val = _problem(loss)
    spec = BoostSpec(loss, n_estimators=8, max_depth=3, learning_rate=0.3)
    bins = fit_bins(X, 256)
    lam = np.array([0.5, 2.0, 5.0])
    ensemble = boost(apply_bins(X, bins), bins, y, spec, lam)
    leaves, leaves_val = ensemble.apply(X), ensemble.apply(X_val)
    value, grad, F_val = replay(ensemble, spec, lam, leaves, y, leaves_val, y_val)
    assert np.allclose(F_val, ensemble.raw_predict(X_val), atol=1e-10)    # the replay is the fit
    assert np.any(grad != 0)
    for m in range(3):
        step = 1e-5 * lam[m]
        up, down = lam.copy(), lam.copy()
        up[m] += step
        down[m] -= step
        fd = (replay(ensemble, spec, up, leaves, y, leaves_val, y_val)[0]
              - replay(ensemble, spec, down, leaves, y, leaves_val, y_val)[0]) / (2 * step)
        assert fd == pytest.approx(grad[m], rel=1e-4, abs=1e-9)


def _regression(n=300):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, 4))
    return X, X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * rng.standard_normal(n)


@pytest.mark.parametrize("tuner", [GridCVTuner(cv=3, n_lams=4), GridCVTuner(cv=3, n_lams=4, rule="growing"),
                                   OptunaTuner(n_trials=5, cv=3), HypergradientTuner(cv=3, n_start=3, max_evals=4)],
                         ids=["cv", "cv-growing", "optuna", "hypergradient"])
def test_tuners_answer_with_a_tune_result(tuner):
    X, y = _regression()
    spec = BoostSpec(Loss.SQUARED, n_estimators=10, max_depth=3, learning_rate=0.3)
    result = tuner.tune(as_float32(X), y, spec)
    assert isinstance(result, TuneResult) and result.method == tuner.name
    assert list(result.lambdas) == ["depth_1", "depth_2", "depth_3"] and np.all(result.lambda_vector > 0)
    assert result.compute.fits > 0 and result.info["cv_score"] == pytest.approx(min(result.curve["score"]))
    if tuner.name == "hypergradient":
        assert result.info["cv_score"] <= result.info["start_cv_score"] + 1e-12


def test_rules_and_auto():
    assert np.allclose(depth_lambdas("node_count", 1.0, 3), [1, 2, 4])
    assert np.allclose(depth_lambdas("uniform", 3.0, 2), [3, 3])
    with pytest.raises(ValueError, match="rule must be one of 'uniform', 'growing', 'node_count'"):
        depth_lambdas("steep", 1.0, 3)
    model = BoostedTreesRegressor(n_estimators=5, max_depth=3).fit(*_regression())
    assert np.allclose(depth_lambdas("node_count", 1.0, 3, ensemble=model.ensemble_)[0], 1.0)
    X, y = _regression()
    auto = BoostedTreesRegressor(n_estimators=10, max_depth=3, lam="auto",
                                 tuner=HypergradientTuner(cv=3, n_start=3, max_evals=3)).fit(X, y)
    assert auto.lam_.shape == (3,) and auto.tuning_.method == "hypergradient"
    assert auto.explain()["tuner"] == "hypergradient"
    assert isinstance(make_tuner("auto"), HypergradientTuner)


@pytest.mark.parametrize("tuner", [GridCVTuner(cv=3, n_lams=3), OptunaTuner(n_trials=3, cv=3),
                                   HypergradientTuner(cv=3, n_start=3, max_evals=2)],
                         ids=["cv", "optuna", "hypergradient"])
def test_tuners_boost_from_the_users_base_score(tuner):
    # lam="auto" had tuned λ with folds boosting from the mean of y, whatever base_score the fit then used
    from sklearn.model_selection import KFold
    X, y = _regression(150)
    X32 = as_float32(X)
    model = BoostedTreesRegressor(n_estimators=4, max_depth=2, learning_rate=0.3, lam="auto", base_score=5.0,
                                  tuner=tuner).fit(X, y)
    spec = BoostSpec(Loss.SQUARED, n_estimators=4, max_depth=2, learning_rate=0.3)
    by_hand = 0.0
    for train, val in KFold(3, shuffle=True, random_state=0).split(X32):
        bins = fit_bins(X32[train], 256)
        ensemble = boost(apply_bins(X32[train], bins), bins, y[train], spec, model.lam_, base=[5.0])
        by_hand += np.sum((ensemble.raw_predict(X32[val])[0] - y[val]) ** 2) / y.shape[0]
    assert model.tuning_.info["cv_score"] == pytest.approx(by_hand, rel=1e-10)
