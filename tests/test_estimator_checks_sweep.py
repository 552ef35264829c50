"""Parameter and input checks of the estimators found by a sweep: every bad value is refused in
``fit`` with a message naming the parameter and what was expected (in the user's units)."""
import warnings

import numpy as np
import pytest

import lamina

ESTIMATORS = [lamina.Lasso, lamina.ElasticNetModel, lamina.Ridge, lamina.GroupLasso,
              lamina.LogisticRegression]


@pytest.fixture
def xy(rng):
    X = rng.standard_normal((40, 4))
    y = X @ [1.0, 0.0, 2.0, 0.0] + 0.1 * rng.standard_normal(40)
    return X, y


def target(estimator, y):
    return (y > 0).astype(int) if estimator is lamina.LogisticRegression else y


# ----------------------------------------------------------------------------- tol, max_iter
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("lam", [0.01, "auto"])
@pytest.mark.parametrize("max_iter", [0, -5])
def test_max_iter_below_one_is_refused(estimator, lam, max_iter, xy):
    X, y = xy
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # no ConvergenceWarning on the way
        with pytest.raises(ValueError, match="max_iter must be >= 1"):
            estimator(lam=lam, max_iter=max_iter).fit(X, target(estimator, y))


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("max_iter", [1.5, "10"])
def test_max_iter_of_the_wrong_type_is_refused(estimator, max_iter, xy):
    X, y = xy
    with pytest.raises(TypeError, match="max_iter must be an integer"):
        estimator(lam=0.01, max_iter=max_iter).fit(X, target(estimator, y))


@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("tol, error", [(-1, ValueError), (0.0, ValueError), (np.nan, ValueError),
                                        ("x", TypeError), ("1e-6", TypeError)])
def test_bad_tol_is_refused(estimator, tol, error, xy):
    X, y = xy
    with pytest.raises(error, match="tol must be"):
        estimator(lam=0.01, tol=tol).fit(X, target(estimator, y))


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_numpy_numbers_are_accepted(estimator, xy):
    X, y = xy
    model = estimator(lam=0.01, tol=np.float32(1e-6), max_iter=np.int64(500), fit_intercept=np.bool_(True))
    assert model.fit(X, target(estimator, y)).coef_.shape[-1] == 4


# ----------------------------------------------------------------------------- booleans
@pytest.mark.parametrize("estimator", ESTIMATORS)
@pytest.mark.parametrize("param", ["fit_intercept", "warm_start"])
@pytest.mark.parametrize("value", ["no", "False", 0, None])
def test_boolean_parameters_must_be_bool(estimator, param, value, xy):
    X, y = xy
    with pytest.raises(TypeError, match=f"{param} must be True or False"):
        estimator(lam=0.01, **{param: value}).fit(X, target(estimator, y))


# ----------------------------------------------------------------------------- weights
@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_weights_length_is_checked_per_feature(penalty, n_classes, xy):
    X, y = xy
    labels = np.digitize(X[:, 0], [-0.5, 0.5]) if n_classes == 3 else (y > 0).astype(int)
    with pytest.raises(ValueError, match=r"weights must have one value per feature \(4\), got 2"):
        lamina.LogisticRegression(lam=0.01, penalty=penalty, weights=[1, 1]).fit(X, labels)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_logistic_group_l1_weights_length_is_checked_per_group(n_classes, xy):
    X, y = xy
    labels = np.digitize(X[:, 0], [-0.5, 0.5]) if n_classes == 3 else (y > 0).astype(int)
    model = lamina.LogisticRegression(lam=0.01, penalty="group_l1", groups=[0, 0, 1, 1], weights=[1, 1, 1])
    with pytest.raises(ValueError, match=r"weights must have one value per group \(2\), got 3"):
        model.fit(X, labels)
    assert model.set_params(weights=[1, 2]).fit(X, labels).coef_.shape[-1] == 4


@pytest.mark.parametrize("estimator, unit, size", [(lamina.Lasso, "feature", 4), (lamina.Ridge, "feature", 4),
                                                   (lamina.GroupLasso, "group", 2)])
def test_least_squares_weights_length_is_checked(estimator, unit, size, xy):
    X, y = xy
    with pytest.raises(ValueError, match=rf"weights must have one value per {unit} \({size}\), got 3"):
        estimator(lam=0.01, groups=[0, 0, 1, 1], weights=[1, 1, 1]).fit(X, y)


# ----------------------------------------------------------------------------- y
@pytest.mark.parametrize("estimator", [lamina.Lasso, lamina.ElasticNetModel, lamina.Ridge, lamina.GroupLasso])
@pytest.mark.parametrize("dtype", [str, object])
def test_string_targets_are_refused_by_regressors(estimator, dtype, xy):
    X, _ = xy
    labels = np.array(["a", "b"] * 20, dtype=dtype)
    with pytest.raises(ValueError, match="y must be numeric.*LogisticRegression"):
        estimator(lam=0.01).fit(X, labels)


def test_numeric_object_targets_still_fit(xy):
    X, y = xy
    model = lamina.Lasso(lam=0.01).fit(X, y.astype(object))
    np.testing.assert_allclose(model.coef_, lamina.Lasso(lam=0.01).fit(X, y).coef_)


# ----------------------------------------------------------------------------- lam="auto" on few samples
@pytest.mark.parametrize("estimator", [lamina.Lasso, lamina.GroupLasso, lamina.LogisticRegression])
@pytest.mark.parametrize("n", [4, 9])
def test_auto_lam_on_too_few_samples_explains_the_folds(estimator, n, xy):
    X, y = xy
    labels = np.arange(n) % 2 if estimator is lamina.LogisticRegression else y[:n]
    with pytest.raises(ValueError) as info:
        estimator(lam="auto").fit(X[:n], labels)
    message = str(info.value)
    assert "lam='auto' chooses λ by 5-fold cross-validation" in message
    assert f"needs at least 10 samples, got {n}" in message
    assert "pass cv= with fewer folds (cv=4 fits 9 samples) or a number for lam" in message if n == 9 else (
        "pass a number for lam" in message)                # no int cv fits 4 samples
    assert "cv=5 needs" not in message


def test_auto_lam_with_few_folds_still_fits(xy):
    X, y = xy
    assert lamina.Lasso(lam="auto").fit(X[:10], y[:10]).lam_.shape == (1,)
    assert lamina.Lasso(lam="auto", cv=4).fit(X[:9], y[:9]).lam_.shape == (1,)
    assert lamina.Ridge(lam="auto").fit(X[:3], y[:3]).lam_.shape == (1,)     # the evidence: no folds


def test_auto_lam_names_the_folds_the_user_gave(xy):
    X, y = xy
    with pytest.raises(ValueError, match="lam='auto' chooses λ by 3-fold cross-validation \\(cv=3\\), "
                                         "which needs at least 6 samples, got 5"):
        lamina.Lasso(lam="auto", cv=3).fit(X[:5], y[:5])
