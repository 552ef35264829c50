import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.linear_model import ElasticNet as SkElasticNet
from sklearn.linear_model import Lasso as SkLasso
from sklearn.linear_model import Ridge as SkRidge

from lamina import ElasticNetModel, GroupLasso, Lasso, Ridge


@pytest.fixture
def data(rng):
    X = rng.standard_normal((80, 12)) + 1.5
    coef = np.r_[2.0, -1.0, 0, 0, 1.5, 0, 0, 0, 0, 0, 0.5, 0]
    y = X @ coef + 3.0 + 0.1 * rng.standard_normal(80)
    return X, y


@pytest.mark.parametrize("sparse", [False, True])
def test_lasso_matches_sklearn_with_intercept(data, sparse):
    X, y = data
    Xs = sp.csc_matrix(X) if sparse else X
    ours = Lasso(lam=0.05, tol=1e-12).fit(Xs, y)
    ref = SkLasso(alpha=0.05, tol=1e-12, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert abs(ours.intercept_ - ref.intercept_) < 1e-5
    np.testing.assert_allclose(ours.predict(Xs), ref.predict(X), atol=1e-5)
    assert ours.lam_.tolist() == [0.05] and ours.n_iter_ >= 1 and ours.dual_gap_ >= 0


def test_elastic_net_and_ridge_match_sklearn(data):
    X, y = data
    ours = ElasticNetModel(lam=0.1, l1_ratio=0.3, tol=1e-13).fit(X, y)
    ref = SkElasticNet(alpha=0.1, l1_ratio=0.3, tol=1e-13, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-5)
    n = X.shape[0]
    ridge = Ridge(lam=2.0 / n).fit(X, y)  # sklearn: ‖y − Xw‖² + α‖w‖², α = nλ
    ref = SkRidge(alpha=2.0).fit(X, y)
    np.testing.assert_allclose(ridge.coef_, ref.coef_, atol=1e-9)
    assert abs(ridge.intercept_ - ref.intercept_) < 1e-9


def test_per_group_lambda_switches_groups_off(data):
    X, y = data
    groups = np.repeat(["a", "b", "c"], 4)
    model = Lasso(lam=[0.01, 0.01, 100.0], groups=groups).fit(X, y)
    assert np.all(model.coef_[8:] == 0) and np.any(model.coef_[:4] != 0)
    assert model.groups_.names == ("a", "b", "c")


def test_group_lasso_selects_whole_groups(data):
    X, y = data
    model = GroupLasso(lam=0.3, groups=np.repeat([0, 1, 2], 4), tol=1e-10).fit(X, y)
    norms = model.groups_.norms(model.coef_)
    assert norms[0] > 0
    for g in range(3):
        block = model.coef_[model.groups_.indices(g)]
        assert np.all(block != 0) or np.all(block == 0)


def test_sklearn_api_conventions(data):
    X, y = data
    model = Lasso(lam=0.1, groups=None)
    assert model.get_params()["lam"] == 0.1
    assert clone(model).set_params(lam=0.2).lam == 0.2
    assert model.fit(X, y) is model
    assert 0.9 < model.score(X, y) <= 1.0
    warm = Lasso(lam=0.1, warm_start=True).fit(X, y)
    first = warm.n_iter_
    warm.fit(X, y)
    assert warm.n_iter_ <= first


def test_estimator_errors(data):
    X, y = data
    with pytest.raises(ValueError, match="y has"):
        Lasso().fit(X, y[:-1])
    with pytest.raises(ValueError, match="X contains"):
        Lasso().fit(np.where(X > 3, np.nan, X), y)
    with pytest.raises(ValueError, match="not supported"):
        Lasso(lam="best").fit(X, y)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        Lasso(lam=-0.1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        Lasso().fit(X, y).predict(X[:, :3])
