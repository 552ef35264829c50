"""Estimators on real-world data shapes: sample weights, scikit-learn splitters, pandas, bad input."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso as SkLasso
from sklearn.linear_model import LogisticRegression as SkLogistic
from sklearn.linear_model import Ridge as SkRidge
from sklearn.model_selection import GroupKFold, KFold, TimeSeriesSplit

import lamina
from linear_checks import assert_gradient_matches_finite_differences
from lamina.groups import Groups
from lamina.penalties import L1
from lamina.tuners.linear import GridCVTuner, HypergradientTuner
from lamina.tuners.linear_data import LinearSpec, cv_splits, make_folds

pd = pytest.importorskip("pandas")


@pytest.fixture
def data(rng):
    X = rng.standard_normal((80, 12)) + 1.5
    coef = np.r_[2.0, -1.0, 0, 0, 1.5, 0, 0, 0, 0, 0, 0.5, 0]
    y = X @ coef + 3.0 + 0.3 * rng.standard_normal(80)
    weight = rng.integers(0, 4, 80).astype(float)
    return X, y, weight


# ----------------------------------------------------------------------------- sample weights
@pytest.mark.parametrize("sparse", [False, True])
def test_weighted_lasso_and_elastic_net_match_sklearn(data, sparse):
    X, y, weight = data
    Xs = sp.csc_matrix(X) if sparse else X
    for ours, ref in ((lamina.Lasso(lam=0.05, tol=1e-12), SkLasso(alpha=0.05, tol=1e-12, max_iter=100_000)),
                      (lamina.ElasticNetModel(lam=0.1, l1_ratio=0.3, tol=1e-12),
                       SkElasticNet(alpha=0.1, l1_ratio=0.3, tol=1e-12, max_iter=100_000))):
        ours.fit(Xs, y, sample_weight=weight)
        ref.fit(X, y, sample_weight=weight)             # sklearn rescales weights to sum n, as we do
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
        assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-5)


def test_weighted_ridge_matches_sklearn(data):
    X, y, weight = data
    ours = lamina.Ridge(lam=0.3).fit(X, y, sample_weight=weight)
    ref = SkRidge(alpha=0.3 * weight.sum()).fit(X, y, sample_weight=weight)   # α = λ Σs
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-9)
    assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-9)


@pytest.mark.parametrize("estimator", [lamina.Lasso, lamina.Ridge, lamina.GroupLasso, lamina.ElasticNetModel])
def test_integer_weights_equal_repeated_rows(data, estimator):
    X, y, weight = data
    groups = np.repeat([0, 1, 2], 4)
    weighted = estimator(lam=0.05, groups=groups, tol=1e-12).fit(X, y, sample_weight=weight)
    repeated = estimator(lam=0.05, groups=groups, tol=1e-12).fit(np.repeat(X, weight.astype(int), 0),
                                                                 np.repeat(y, weight.astype(int)))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, atol=1e-8)
    np.testing.assert_allclose(weighted.predict(X), repeated.predict(X), atol=1e-8)
    default = estimator(groups=groups).fit(X, y, sample_weight=weight)     # the default λ sees the weights
    again = estimator(groups=groups).fit(np.repeat(X, weight.astype(int), 0), np.repeat(y, weight.astype(int)))
    np.testing.assert_allclose(default.lam_, again.lam_, rtol=1e-10)


def test_weighted_binary_logistic_matches_sklearn(rng):
    X = rng.standard_normal((200, 5))
    y = (X[:, 0] - X[:, 1] + rng.standard_normal(200) > 0).astype(int)
    weight = rng.integers(0, 4, 200).astype(float)
    ours = lamina.LogisticRegression(lam=0.01, tol=1e-10).fit(X, y, sample_weight=weight)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkLogistic(C=1 / (0.01 * weight.sum()), tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(ours.coef_, ref.coef_.ravel(), atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_[0], abs=1e-6)


def test_bad_sample_weights_are_named(data):
    X, y, weight = data
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        lamina.Lasso().fit(X, y, sample_weight=weight[:-1])
    with pytest.raises(ValueError, match="sample_weight must be >= 0"):
        lamina.Lasso().fit(X, y, sample_weight=-weight)
    with pytest.raises(ValueError, match="sample_weight is zero everywhere"):
        lamina.Lasso().fit(X, y, sample_weight=np.zeros(80))
    with pytest.raises(ValueError, match="tuner='evidence' does not take sample_weight"):
        lamina.Ridge(lam="auto", tuner="evidence").fit(X, y, sample_weight=weight + 1)
    with pytest.raises(ValueError, match="cv_groups must have one label per sample"):
        lamina.Lasso(lam="auto").fit(X, y, cv_groups=np.arange(5))


@pytest.mark.parametrize("estimator", [lamina.Lasso, lamina.Ridge])
def test_weighted_auto_tuning(data, estimator):
    X, y, weight = data
    groups = np.repeat(["a", "b", "c"], 4)
    subjects = np.arange(80) % 8
    model = estimator(lam="auto", groups=groups, cv=GroupKFold(4)).fit(X, y, sample_weight=weight,
                                                                      cv_groups=subjects)
    assert model.tuning_.method == "hypergradient" and model.lam_.shape == (3,)    # not the evidence
    # rows of weight 0 are dropped (cv_groups with them): the same as fitting the others
    binary = (weight > 0).astype(float)
    keep = binary > 0
    a = estimator(lam="auto", groups=groups, cv=GroupKFold(4)).fit(X, y, sample_weight=binary, cv_groups=subjects)
    b = estimator(lam="auto", groups=groups, cv=GroupKFold(4)).fit(X[keep], y[keep], cv_groups=subjects[keep])
    np.testing.assert_array_equal(a.lam_, b.lam_)


@pytest.mark.parametrize("loss", ["squared", "logistic", "multinomial"])
def test_weighted_hypergradient_matches_finite_differences(rng, loss):
    from lamina.penalties import ElasticNet
    from lamina.solvers.multinomial import class_groups
    from lamina.tuners.linear_data import Loss
    X = rng.standard_normal((120, 6))
    score = X[:, 0] - X[:, 3] + 0.5 * rng.standard_normal(120)
    groups, K = Groups.contiguous([3, 3]), 3
    if loss == "squared":
        y, spec = score, LinearSpec(ElasticNet(0.5), groups, True, Loss.SQUARED, 1e-13)
    elif loss == "logistic":
        # L2: prox-Newton with an elastic net stalls near a 1e-8 relative violation (inner CD
        # certificate at its rounding floor), too coarse for finite differences
        y, spec = (score > 0).astype(float), LinearSpec(ElasticNet(0.0), groups, True, Loss.LOGISTIC, 1e-12)
    else:
        y = np.digitize(score, [-0.7, 0.7]).astype(float)
        spec = LinearSpec(ElasticNet(0.5), class_groups(groups, K), True, Loss.MULTINOMIAL, 1e-12, None, K)
    weight = rng.uniform(0.2, 3.0, 120)
    fold = make_folds(X, y, spec, 3, sample_weight=weight)[0]
    assert fold.weight is not None and fold.train.n == fold.train.A.shape[0]
    lam = np.array([0.01, 0.03])
    assert_gradient_matches_finite_differences(fold, lam)


# ----------------------------------------------------------------------------- splitters
def test_cv_takes_sklearn_splitters(data):
    X, y, _ = data
    spec = LinearSpec(L1(), Groups.contiguous([6, 6]))
    assert len(make_folds(X, y, spec, TimeSeriesSplit(3))) == 3
    subjects = np.arange(80) % 8
    for train, val in cv_splits(X, y, GroupKFold(4), cv_groups=subjects):
        assert not set(subjects[train]) & set(subjects[val])       # no subject on both sides
    explicit = list(KFold(4).split(X))
    assert [v.tolist() for _, v in cv_splits(X, y, explicit)] == [v.tolist() for _, v in explicit]
    with pytest.raises(ValueError, match="cv must be an int, a scikit-learn splitter"):
        cv_splits(X, y, "five")


@pytest.mark.parametrize("tuner", ["hypergradient", "cv"])
def test_estimator_cv_with_group_kfold(data, tuner):
    X, y, _ = data
    groups = np.repeat(["a", "b", "c"], 4)
    subjects = np.arange(80) % 8
    model = lamina.Lasso(lam="auto", groups=groups, tuner=tuner, cv=GroupKFold(4))
    model.fit(X, y, cv_groups=subjects)
    assert model.lam_.shape == (3,) and model.score(X, y) > 0.9
    with pytest.raises(ValueError, match="cv_groups=labels"):        # GroupKFold without its labels
        lamina.Lasso(lam="auto", tuner=tuner, cv=GroupKFold(4)).fit(X, y)
    timed = lamina.Lasso(lam="auto", groups=groups, tuner=tuner, cv=TimeSeriesSplit(3)).fit(X, y)
    assert timed.lam_.shape == (3,)


def test_cv_on_the_tuner_and_conflicts(data):
    X, y, _ = data
    model = lamina.Lasso(lam="auto", tuner=GridCVTuner(cv=TimeSeriesSplit(4), n_lams=10)).fit(X, y)
    assert model.tuning_.method == "cv"
    tuner = HypergradientTuner(max_evals=5)
    lamina.Lasso(lam="auto", tuner=tuner, cv=TimeSeriesSplit(3)).fit(X, y)
    assert tuner.cv == 5                                               # the estimator's cv= did not change it
    with pytest.raises(ValueError, match="does not cross-validate"):
        lamina.Ridge(lam="auto", tuner="evidence", cv=3).fit(X, y)
    assert isinstance(HypergradientTuner(cv=KFold(3)).cv, KFold)


# ----------------------------------------------------------------------------- pandas
@pytest.fixture
def frame(rng):
    columns = ["age", "sex", "bmi", "s1", "s2", "s3"]
    X = pd.DataFrame(rng.standard_normal((100, 6)), columns=columns)
    y = 2 * X["age"] - X["s1"] + 0.1 * rng.standard_normal(100)
    return X, y


def test_dataframe_keeps_feature_names_and_groups_by_pattern(frame):
    X, y = frame
    groups = {"demographics": ["age", "sex"], "body": "bmi", "serum": "s*"}     # "sex" named wins over "s*"
    model = lamina.Lasso(lam=[0.01, 0.1, 0.01], groups=groups).fit(X, y)
    assert model.feature_names_in_.tolist() == list(X.columns)
    assert model.groups_.names == ("demographics", "body", "serum")
    assert model.groups_.labels.tolist() == [0, 0, 1, 2, 2, 2]
    table = model.explain(as_frame=True)
    assert list(table.index) == ["demographics", "body", "serum"]
    assert table.loc["body", "switched_off"] and table.attrs["tuner"] is None
    assert table["lam"].tolist() == model.explain()["lam"]
    assert model.predict(X).shape == (100,)
    auto = lamina.Lasso(lam="auto", groups=groups).fit(X, y)
    assert auto.explain(as_frame=True).attrs["tuner"] == "hypergradient"


def test_pattern_groups_errors(frame, data):
    X, y = frame
    with pytest.raises(ValueError, match=r"column\(s\) \['bmi'\] match no group"):
        lamina.Lasso(groups={"demographics": ["age", "sex"], "serum": "s?"}).fit(X, y)
    with pytest.raises(ValueError, match="'s1' is matched by group 'serum' and by group 'first'"):
        lamina.Lasso(groups={"d": ["age", "sex", "bmi"], "serum": "s*", "first": "*1"}).fit(X, y)
    with pytest.raises(ValueError, match="'x\\*' matches no column"):
        lamina.Lasso(groups={"all": "*", "x": "x*"}).fit(X, y)
    with pytest.raises(ValueError, match="need X as a pandas DataFrame"):
        lamina.Lasso(groups={"all": "*"}).fit(data[0], data[1])
    with pytest.raises(ValueError, match="one value per group"):
        lamina.Lasso(lam=[0.1, 0.2], groups={"d": ["age", "sex", "bmi"], "serum": "s*", "x": "s1"}).fit(X, y)


def test_a_column_named_like_a_pattern_is_that_column(rng):
    """patsy-style names: "x[0]" named exactly had been read as the pattern "x0", so the column
    "x0" took group a's λ and "x[0]" group b's (or "matches no column" without "x0")."""
    X = pd.DataFrame(rng.standard_normal((60, 3)), columns=["x[0]", "x0", "z"])
    y = X["x[0]"] + 2 * X["x0"] + 0.1 * rng.standard_normal(60)
    model = lamina.Lasso(lam=[100.0, 0.01], groups={"a": "x[0]", "b": ["x*", "z"]}).fit(X, y)
    assert model.groups_.labels.tolist() == [0, 1, 1]
    assert model.coef_[0] == 0.0 and model.coef_[1] != 0.0
    alone = lamina.Lasso(lam=0.01, groups={"a": "x[0]", "b": ["x0", "z"]}).fit(X, y)
    assert alone.groups_.labels.tolist() == [0, 1, 1]


def test_multinomial_on_a_dataframe_with_string_labels(frame, rng):
    X, _ = frame
    labels = np.array(["low", "mid", "high"])[np.digitize(X["age"] - X["s2"], [-0.7, 0.7])]
    model = lamina.LogisticRegression(lam=[0.01, 0.5], penalty="group_l1",
                                      groups={"keep": ["age", "s2"], "rest": ["sex", "bmi", "s1", "s3"]})
    model.fit(X, pd.Series(labels))
    assert model.classes_.tolist() == ["high", "low", "mid"] and model.coef_.shape == (3, 6)
    table = model.explain(as_frame=True)
    assert table.loc["rest", "n_nonzero"] == 0 and table.loc["keep", "n_nonzero"] == 6


# ----------------------------------------------------------------------------- bad input (issue 16)
@pytest.mark.parametrize("estimator", [lamina.Lasso, lamina.Ridge, lamina.GroupLasso, lamina.LogisticRegression])
def test_empty_data_is_refused_clearly(estimator):
    with pytest.raises(ValueError, match="0 sample"):
        estimator().fit(np.empty((0, 3)), np.empty(0))
    with pytest.raises(ValueError, match="0 feature"):
        estimator().fit(np.empty((5, 0)), np.arange(5) % 2)


def test_ridge_auto_with_too_few_samples_is_refused(rng):
    X, y = rng.standard_normal((1, 4)), np.array([1.0])
    with pytest.raises(ValueError, match="lam='auto' needs at least 3 samples"):
        lamina.Ridge(lam="auto").fit(X, y)
    with pytest.raises(ValueError, match="needs at least 2 samples"):
        lamina.Ridge(lam="auto", fit_intercept=False).fit(X, y)


def test_predict_before_fit_and_wrong_width(data):
    from sklearn.exceptions import NotFittedError
    X, y, _ = data
    with pytest.raises(NotFittedError):
        lamina.Lasso().predict(X)
    with pytest.raises(ValueError, match="X has 3 features, but Lasso is expecting 12"):
        lamina.Lasso().fit(X, y).predict(X[:, :3])


def test_default_lam_is_scale_aware(data):
    X, y, _ = data
    model = lamina.Lasso().fit(X, y)
    scaled = lamina.Lasso().fit(X, 100 * y)
    assert scaled.lam_[0] == pytest.approx(100 * model.lam_[0])        # λ follows the scale of y
    np.testing.assert_allclose(scaled.coef_, 100 * model.coef_, rtol=1e-5, atol=1e-8)
    assert model.score(X, y) > 0.95
    ridge = lamina.Ridge().fit(10 * X, y)
    assert ridge.lam_[0] == pytest.approx(100 * lamina.Ridge().fit(X, y).lam_[0])


def test_binary_logistic_integer_weights_equal_repeated_rows(rng):
    X = rng.standard_normal((120, 4))
    y = np.where(X[:, 0] + rng.standard_normal(120) > 0, "yes", "no")
    weight = rng.integers(0, 4, 120)
    for penalty in ("l2", "l1", "group_l1"):
        a = lamina.LogisticRegression(lam=0.02, penalty=penalty, groups=[0, 0, 1, 1], tol=1e-10)
        b = lamina.LogisticRegression(lam=0.02, penalty=penalty, groups=[0, 0, 1, 1], tol=1e-10)
        a.fit(X, y, sample_weight=weight)
        b.fit(np.repeat(X, weight, 0), np.repeat(y, weight))
        np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)
        np.testing.assert_allclose(a.predict_proba(X), b.predict_proba(X), atol=1e-8)


def test_negative_penalty_factors_are_refused_naming_the_argument():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 8)), rng.standard_normal(30)
    with pytest.raises(ValueError, match="weights .*>= 0"):
        lamina.Lasso(lam=0.1, weights=-np.ones(8)).fit(X, y)
