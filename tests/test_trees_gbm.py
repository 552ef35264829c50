"""The histogram GBM with a λ per depth: xgboost's trees with one λ, the depth rule, the API."""
import json

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from lamina.trees import BoostedTreesClassifier, BoostedTreesRegressor

xgb = pytest.importorskip("xgboost")


def _data(n=200, p=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] * X[:, 3] + 0.3 * rng.standard_normal(n)
    return X, y


def _xgb_tree(node):
    """Pre-order (feature, threshold) of splits and ('leaf', value), the 'yes' (x < t) child first."""
    if "leaf" in node:
        return [("leaf", node["leaf"])]
    child = {c["nodeid"]: c for c in node["children"]}
    split = [(int(node["split"][1:]), node["split_condition"])]
    return split + _xgb_tree(child[node["yes"]]) + _xgb_tree(child[node["no"]])


def _our_tree(ensemble, t, node=0):
    at = ensemble.offsets[t] + node
    if ensemble.left[at] < 0:
        return [("leaf", ensemble.value[at])]
    return ([(int(ensemble.feature[at]), float(ensemble.threshold[at]))]
            + _our_tree(ensemble, t, ensemble.left[at]) + _our_tree(ensemble, t, ensemble.right[at]))


def _assert_same_trees(ours, booster, n_trees):
    dumps = [json.loads(d) for d in booster.get_dump(dump_format="json")]
    assert len(dumps) == ours.n_trees == n_trees
    for t in range(n_trees):
        theirs, mine = _xgb_tree(dumps[t]), _our_tree(ours, t)
        assert [a[0] for a in theirs] == [b[0] for b in mine], f"tree {t}: different split features"
        assert np.allclose([a[1] for a in theirs], [b[1] for b in mine], rtol=0, atol=1e-6), f"tree {t}"


@pytest.mark.parametrize("lam, min_child_weight", [(1.0, 1.0), (5.0, 3.0), (0.0, 1.0), (0.0, 0.0)])
def test_identical_trees_to_xgboost_exact(lam, min_child_weight):
    X, y = _data()
    base = float(np.mean(y))
    ours = BoostedTreesRegressor(n_estimators=5, max_depth=3, learning_rate=0.3, lam=lam,
                                 min_child_weight=min_child_weight).fit(X, y)
    booster = xgb.train({"tree_method": "exact", "max_depth": 3, "eta": 0.3, "lambda": lam, "base_score": base,
                         "min_child_weight": min_child_weight, "gamma": 0.0, "subsample": 1.0, "nthread": 1},
                        xgb.DMatrix(X, y), 5)
    _assert_same_trees(ours.ensemble_, booster, 5)
    assert np.allclose(ours.predict(X), booster.predict(xgb.DMatrix(X)), atol=1e-5)


def test_identical_trees_to_xgboost_exact_logistic():
    X, y = _data(seed=1)
    labels = (y > 0.2).astype(float)
    ours = BoostedTreesClassifier(n_estimators=4, max_depth=3, learning_rate=0.5, lam=2.0).fit(X, labels)
    base = 1.0 / (1.0 + np.exp(-ours.ensemble_.base[0]))
    booster = xgb.train({"tree_method": "exact", "max_depth": 3, "eta": 0.5, "lambda": 2.0, "base_score": base,
                         "objective": "binary:logistic", "nthread": 1}, xgb.DMatrix(X, labels), 4)
    _assert_same_trees(ours.ensemble_, booster, 4)
    assert np.allclose(ours.predict_proba(X)[:, 1], booster.predict(xgb.DMatrix(X)), atol=1e-5)


def test_lam_per_depth():
    X, y = _data()
    kwargs = dict(n_estimators=5, max_depth=3, learning_rate=0.3)
    scalar = BoostedTreesRegressor(lam=2.0, **kwargs).fit(X, y)
    vector = BoostedTreesRegressor(lam=[2.0, 2.0, 2.0], **kwargs).fit(X, y)
    assert np.array_equal(scalar.predict(X), vector.predict(X))
    deeper = BoostedTreesRegressor(lam=[2.0, 2.0, 50.0], **kwargs).fit(X, y)
    assert not np.allclose(deeper.predict(X), scalar.predict(X))
    # a huge λ at depth 3 makes every split into depth-3 leaves lose: the trees stop at depth 2
    capped = BoostedTreesRegressor(lam=[2.0, 2.0, 1e12], **kwargs).fit(X, y)
    shallow = BoostedTreesRegressor(lam=[2.0, 2.0], **{**kwargs, "max_depth": 2}).fit(X, y)
    assert capped.ensemble_.depth.max() == 2
    assert np.allclose(capped.predict(X), shallow.predict(X))
    table = deeper.explain()
    assert table["lam"] == [2.0, 2.0, 50.0] and sum(table["n_leaves"]) == int(np.sum(deeper.ensemble_.left < 0))


def test_softmax_matches_xgboost_accuracy():
    X, y = _data(n=400)
    labels = np.digitize(y, [-1.0, 0.0, 1.0])
    ours = BoostedTreesClassifier(n_estimators=20, max_depth=3, learning_rate=0.3).fit(X[:300], labels[:300])
    theirs = xgb.XGBClassifier(n_estimators=20, max_depth=3, learning_rate=0.3, tree_method="exact",
                               n_jobs=1).fit(X[:300], labels[:300])
    ours_acc, theirs_acc = ours.score(X[300:], labels[300:]), theirs.score(X[300:], labels[300:])
    assert ours.predict_proba(X).shape == (400, 4) and np.allclose(ours.predict_proba(X).sum(axis=1), 1.0)
    assert abs(ours_acc - theirs_acc) < 0.08


@pytest.mark.parametrize("kwargs, match", [
    ({"lam": [1.0, 2.0]}, r"lam must be a float or have one value per depth \(max_depth = 3\)"),
    ({"lam": [1.0, -2.0, 1.0]}, "lam must be >= 0, got negative value"),
    ({"lam": "best"}, "lam must be a float, one value per depth, or 'auto'"),
    ({"max_bins": 300}, "max_bins must be <= 256"),
    ({"max_depth": 0}, "max_depth must be >= 1"),
    ({"lam": "auto", "tuner": "grid"}, "tuner must be one of 'auto', 'hypergradient', 'cv', 'optuna'"),
])
def test_errors_name_the_argument(kwargs, match):
    X, y = _data(n=50)
    with pytest.raises(ValueError, match=match):
        BoostedTreesRegressor(**{"n_estimators": 2, "max_depth": 3, **kwargs}).fit(X, y)


def test_unclear_errors_found_by_a_sweep_name_the_argument():
    """base_score of the wrong length ("cannot reshape array of size 2 into shape (3,)"), lam=None
    ("lam contains NaN or inf"), features beyond float32's range (an IndexError in fit, silent
    predictions from inf)."""
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=r"base_score must be one value or one per class \(3\), got 2"):
        BoostedTreesClassifier(n_estimators=2, base_score=[0.1, 0.2]).fit(X, y)
    one = BoostedTreesClassifier(n_estimators=2, base_score=0.0).fit(X, y)   # one value for every class
    assert np.allclose(one.ensemble_.base, 0.0) and one.ensemble_.base.shape == (3,)
    with pytest.raises(TypeError, match="lam must be a float or one value per depth, got None"):
        BoostedTreesClassifier(n_estimators=2, lam=None).fit(X, y)
    huge = X.copy()
    huge[:, 1] *= 1e39
    with pytest.raises(ValueError, match="X holds values up to .* float32"):
        BoostedTreesClassifier(n_estimators=2).fit(huge, y)
    with pytest.raises(ValueError, match="X holds values up to .* float32"):
        one.predict(huge)


def test_quantile_bins_and_predict_checks():
    X, y = _data(n=3000, p=4)
    model = BoostedTreesRegressor(n_estimators=10, max_depth=4, max_bins=16).fit(X, y)
    assert all(c.size <= 15 for c in model.bins_.cuts)
    assert model.score(X, y) > 0.5
    with pytest.raises(ValueError, match="X has 2 features, but BoostedTreesRegressor is expecting 4 features"):
        model.predict(X[:, :2])


@pytest.mark.slow
def test_same_test_error_as_xgboost_hist():
    from sklearn.datasets import make_friedman1
    X, y = make_friedman1(20_000, n_features=10, noise=1.0, random_state=0)
    X_test, y_test = make_friedman1(10_000, n_features=10, noise=1.0, random_state=1)
    params = dict(n_estimators=100, max_depth=6, learning_rate=0.1)
    ours = BoostedTreesRegressor(lam=1.0, **params).fit(X, y)
    theirs = xgb.XGBRegressor(reg_lambda=1.0, tree_method="hist", n_jobs=1, **params).fit(X, y)
    ours_mse = np.mean((ours.predict(X_test) - y_test) ** 2)
    theirs_mse = np.mean((theirs.predict(X_test) - y_test) ** 2)
    assert abs(ours_mse - theirs_mse) < 0.05 * theirs_mse


def test_same_predictions_as_xgboost_exact_on_diabetes():
    """Real data has tied candidates (two features cutting a small node the same way): they must
    go to the lower feature as in xgboost, or the test predictions part ways."""
    from sklearn.datasets import load_diabetes
    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    X, X_test, y = X[:300], X[300:], y[:300]
    ours = BoostedTreesRegressor(n_estimators=60, max_depth=4, learning_rate=0.1, lam=1.0).fit(X, y)
    booster = xgb.train({"tree_method": "exact", "max_depth": 4, "eta": 0.1, "lambda": 1.0, "nthread": 1,
                         "base_score": float(np.mean(y))}, xgb.DMatrix(X, y), 60)
    assert np.allclose(ours.predict(X_test), booster.predict(xgb.DMatrix(X_test)), atol=1e-5)


def test_histograms_built_node_by_node_past_the_budget_give_the_same_tree():
    from lamina.trees import _kernels
    from lamina.trees._binning import apply_bins, as_float32, fit_bins
    X, y = _data(n=3000, p=6)
    X32 = as_float32(X)
    bins = fit_bins(X32, 256)
    Xb, g, h, depth = apply_bins(X32, bins), np.mean(y) - y, np.ones(3000), 7
    trees = []
    for budget in (_kernels.HIST_BUDGET, 0, 6 * 256 * 2 * 4):     # subtraction, never, from depth ~2 on
        size = 2 ** (depth + 1) - 1
        arrays = tuple(np.empty(size, np.int32) for _ in range(5)) + (
            np.empty(size), np.empty(size, np.int32), np.empty(size), np.empty(size))
        n_nodes = _kernels.grow_tree(Xb, g, h, bins.n_bins, np.ones(depth + 1), 0.0, 1.0, depth, 0.3,
                                     np.zeros(3000), *arrays, budget)
        trees.append([a[:n_nodes] for a in arrays])
    for other in trees[1:]:
        for a, b in zip(trees[0], other):
            assert a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=1e-9)


def test_scikit_learn_protocol():
    import pickle

    from sklearn.base import clone
    from sklearn.model_selection import cross_val_score
    X, y = _data(n=150)
    labels = np.where(y > 0, "up", "down")
    model = BoostedTreesClassifier(n_estimators=5, max_depth=2, lam=[1.0, 3.0])
    assert clone(model).get_params()["lam"] == [1.0, 3.0]
    assert cross_val_score(model, X, labels, cv=3).mean() > 0.6
    fitted = model.fit(X, labels)
    again = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(again.predict_proba(X), fitted.predict_proba(X)) and set(fitted.predict(X)) <= {"up", "down"}


@parametrize_with_checks([BoostedTreesRegressor(n_estimators=10), BoostedTreesClassifier(n_estimators=10)])
def test_scikit_learn_estimator_checks(estimator, check):
    """Every check of scikit-learn's ``check_estimator`` (input validation, tags, fit/predict contract)."""
    check(estimator)


def test_input_checks_name_the_problem():
    X, y = _data(n=60)
    model = BoostedTreesRegressor(n_estimators=2, max_depth=2)
    with pytest.warns(DataConversionWarning, match="column-vector y was passed when a 1d array was expected"):
        column = model.fit(X, y[:, None]).predict(X)
    assert np.array_equal(column, model.fit(X, y).predict(X))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        model.fit(np.where(X > 2, np.nan, X), y)
    with pytest.raises(TypeError, match="Sparse data was passed"):
        model.fit(sp.csr_matrix(X), y)
    classifier = BoostedTreesClassifier(n_estimators=2, max_depth=2)
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        classifier.fit(X, y)
    with pytest.raises(ValueError, match="y must hold at least two classes, got 1 class"):
        classifier.fit(X, np.ones(60))
