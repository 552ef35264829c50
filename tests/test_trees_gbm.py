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
    for budget in (_kernels.HIST_BUDGET, 0, 6 * 256 * 3 * 4):     # subtraction, never, from depth ~2 on
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


def _adjacent_float32_data(n=400, seed=0):
    """Columns full of adjacent float32 numbers (a midpoint cut rounds onto the lower one): steps of
    one ulp near 1, float32 unix timestamps (ulp 128), values near ±float32 max (a float32 sum
    overflows), and a plain column."""
    rng = np.random.default_rng(seed)
    one, big = np.float32(1.0), np.float32(3.0e38)
    steps = rng.integers(0, 6, n)
    near_one = [one]
    for _ in range(5):
        near_one.append(np.nextafter(near_one[-1], np.float32(2)))
    near_one = np.array(near_one, dtype=np.float32)
    stamps = (np.float32(1.6e9) + np.float32(128.0) * rng.integers(0, 300, n)).astype(np.float32)
    huge = np.float32(big + np.float32(1e37) * rng.integers(0, 4, n).astype(np.float32))
    huge = np.where(rng.random(n) < 0.5, huge, -huge).astype(np.float32)
    X = np.column_stack([near_one[steps], stamps, huge, rng.standard_normal(n)]).astype(np.float32)
    y = steps % 2 + np.sin(stamps / 5000.0) + np.sign(huge) + 0.1 * rng.standard_normal(n)
    return X, y


def test_predictions_route_training_rows_as_the_fit_did():
    # a midpoint cut rounding onto the lower of two adjacent float32 numbers left an empty bin, and
    # thresholds read the bin bounds of the wrong bins (wrong predictions, or an IndexError)
    from lamina.trees import _kernels
    from lamina.trees._binning import apply_bins, fit_bins
    from lamina.trees.boosting import _assemble
    X, y = _adjacent_float32_data()
    bins = fit_bins(X, 256)
    Xb = apply_bins(X, bins)
    for f in range(X.shape[1]):
        assert np.array_equal(np.unique(Xb[:, f]), np.arange(bins.n_bins[f]))      # no empty bin
        assert bins.lower[f].size == bins.upper[f].size == bins.n_bins[f]
    depth, rounds = 4, 6
    F = np.full(X.shape[0], np.mean(y))
    trees = []
    for _ in range(rounds):
        size = 2 ** (depth + 1) - 1
        arrays = tuple(np.empty(size, np.int32) for _ in range(5)) + (
            np.empty(size), np.empty(size, np.int32), np.empty(size), np.empty(size))
        n_nodes = _kernels.grow_tree(Xb, F - y, np.ones_like(F), bins.n_bins, np.full(depth + 1, 0.5), 0.0,
                                     0.0, depth, 0.5, F, *arrays)
        trees.append((0, n_nodes, arrays))
    ensemble = _assemble(trees, bins, np.array([np.mean(y)]))
    assert np.allclose(ensemble.raw_predict(X)[0], F, rtol=0, atol=1e-12)
    model = BoostedTreesRegressor(n_estimators=rounds, max_depth=depth, learning_rate=0.5, lam=0.5,
                                  min_child_weight=0.0).fit(X.astype(np.float64), y)
    assert np.allclose(model.predict(X.astype(np.float64)), F, rtol=0, atol=1e-12)


def test_a_split_between_adjacent_float32_numbers():
    one = np.float32(1.0)
    column = np.array([0.0, one, np.nextafter(one, np.float32(2)), 2.0, 3.0, 4.0], dtype=np.float32)
    X = np.repeat(column, 10)[:, None].astype(np.float64)
    y = (X[:, 0] >= 3).astype(float)
    model = BoostedTreesRegressor(n_estimators=1, max_depth=1, learning_rate=1.0, lam=0.0,
                                  min_child_weight=0).fit(X, y)
    assert 2.0 < model.ensemble_.threshold[0] < 3.0 and np.allclose(model.predict(X), y)
    pair = np.repeat(column[:3], 10)[:, None].astype(np.float64)      # the split between 1 and nextafter(1)
    model.fit(pair, (pair[:, 0] > 1.0).astype(float))
    assert model.ensemble_.threshold[0] == column[2] and np.allclose(model.predict(pair), pair[:, 0] > 1.0)


def test_no_split_leaves_a_child_without_rows():
    # min_child_weight = 0, λ falling with depth, logistic loss: a split with an empty right child
    # (H_R = H − H_L rounding noise, Δ > 0 from the smaller λ) was accepted, then an IndexError
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = (X[:, 0] + 0.5 * rng.standard_normal(40) > 0).astype(int)
    for lam in ([1.0, 0.1], [1.0, 1e-3], [0.1, 1.0]):
        model = BoostedTreesClassifier(n_estimators=10, max_depth=2, lam=lam, min_child_weight=0).fit(X, y)
        e = model.ensemble_
        leaves = e.apply(X.astype(np.float32))
        for t in range(e.n_trees):
            tree_leaves = np.flatnonzero(e.left[e.offsets[t]:e.offsets[t + 1]] < 0)
            assert set(tree_leaves) == set(leaves[:, t]), f"tree {t} has a leaf without training rows"


def _xor(n_per_cell=25):
    X = np.array([[a, b] for a in (0.0, 1.0) for b in (0.0, 1.0) for _ in range(n_per_cell)])
    y = np.logical_xor(X[:, 0] > 0.5, X[:, 1] > 0.5).astype(float) * 2 - 1
    y[:1] += 0.5                 # the root split gains little, the splits below it much
    return X, y


@pytest.mark.parametrize("data, lam, min_child_weight, gamma, depth", [
    ("xor", 0.0, 0.0, 0.05, 2), ("xor", 0.0, 0.0, 1.0, 2), ("xor", 1.0, 1.0, 60.0, 2),
    ("smooth", 1.0, 1.0, 0.5, 3), ("smooth", 0.0, 0.0, 2.0, 3), ("smooth", 10.0, 5.0, 2.0, 3),
    ("smooth", 1.0, 1.0, 8.0, 4)])
def test_gamma_is_xgboosts_min_split_loss(data, lam, min_child_weight, gamma, depth):
    # γ was compared with ½Δ before growing further (pre-pruning); xgboost grows, then prunes
    # bottom-up the splits with Δ < γ
    X, y = _xor() if data == "xor" else _data()
    rounds, eta = (1, 1.0) if data == "xor" else (5, 0.3)
    ours = BoostedTreesRegressor(n_estimators=rounds, max_depth=depth, learning_rate=eta, lam=lam, gamma=gamma,
                                 min_child_weight=min_child_weight).fit(X, y)
    booster = xgb.train({"tree_method": "exact", "max_depth": depth, "eta": eta, "lambda": lam, "gamma": gamma,
                         "base_score": float(np.mean(y)), "min_child_weight": min_child_weight, "nthread": 1},
                        xgb.DMatrix(X, y), rounds)
    _assert_same_trees(ours.ensemble_, booster, rounds)
    assert np.allclose(ours.predict(X), booster.predict(xgb.DMatrix(X)), rtol=0, atol=1e-6)
    if data == "xor":
        assert (ours.ensemble_.n_trees, ours.ensemble_.offsets[-1]) == (1, 1 if gamma > 50 else 7)


def test_pruned_split_becomes_a_leaf_with_the_lambda_of_its_depth():
    X, y = _data()
    lam = np.array([2.0, 0.5])
    grown = BoostedTreesRegressor(n_estimators=1, max_depth=2, learning_rate=1.0, lam=lam).fit(X, y).ensemble_
    assert grown.offsets[-1] == 7
    gamma = float(np.mean(grown.gain[1:3]))            # prunes the weaker depth-1 split only
    e = BoostedTreesRegressor(n_estimators=1, max_depth=2, learning_rate=1.0, lam=lam, gamma=gamma).fit(X, y).ensemble_
    assert e.offsets[-1] == 5 and np.sum((e.left < 0) & (e.depth == 1)) == 1
    leaf = e.apply(X.astype(np.float32))[:, 0]
    g = np.mean(y) - y                                  # squared loss at the base score, h = 1
    for node in np.flatnonzero(e.left < 0):
        rows = leaf == node
        lam_k = lam[max(e.depth[node], 1) - 1]           # λ_0 = λ_1
        assert e.value[node] == pytest.approx(-g[rows].sum() / (rows.sum() + lam_k), abs=1e-12)
    root = BoostedTreesRegressor(n_estimators=1, max_depth=2, learning_rate=1.0, lam=lam, gamma=1e6).fit(X, y)
    assert root.ensemble_.offsets[-1] == 1 and root.ensemble_.value[0] == pytest.approx(-g.sum() / (200 + lam[0]))
