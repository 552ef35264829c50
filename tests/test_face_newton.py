"""Newton steps on the orthant face inside coordinate descent, and the logistic duality gap."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy.special import expit
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import Lasso as SkLasso
from sklearn.preprocessing import StandardScaler

from lamina.estimators import LogisticRegression
from lamina.groups import Groups
from lamina.penalties import L1, L2, ElasticNet
from lamina.solvers.cd import coordinate_descent
from lamina.solvers.face_newton import MOVED, face_newton_step
from lamina.solvers.logistic import _free_columns, logistic_duality_gap, logistic_regression


def _objective(X, y, w, l1, l2):
    r = y - X @ w
    return 0.5 * r @ r + l1 @ np.abs(w) + 0.5 * l2 @ (w * w)


def test_one_face_step_from_the_right_signs_lands_on_the_lasso_solution():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 12))
    y = X[:, :4] @ np.array([3.0, -2.0, 1.5, 1.0]) + 0.1 * rng.standard_normal(80)
    alpha = 0.05
    reference = SkLasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(X, y).coef_
    l1, l2 = np.full(12, alpha * 80), np.zeros(12)
    w = np.where(reference != 0, np.sign(reference), 0.0)      # right signs, wrong magnitudes
    residual = y - X @ w
    assert face_newton_step(X, w, residual, np.arange(12), l1, l2) == MOVED
    np.testing.assert_allclose(w, reference, atol=1e-9)
    np.testing.assert_allclose(residual, y - X @ w, atol=1e-10)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(3, 30), p=st.integers(1, 25), ridge=st.booleans())
def test_a_face_step_never_raises_the_objective_and_keeps_the_residual(seed, n, p, ridge):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * rng.uniform(0.01, 10.0, p)
    y = rng.standard_normal(n)
    w = rng.standard_normal(p) * (rng.random(p) < 0.6)
    l1 = rng.uniform(0.0, 2.0, p) * (rng.random(p) < 0.9)
    l2 = rng.uniform(0.0, 1.0, p) if ridge else np.zeros(p)
    before = _objective(X, y, w, l1, l2)
    residual = y - X @ w
    outcome = face_newton_step(X, w, residual, np.arange(p), l1, l2)
    after = _objective(X, y, w, l1, l2)
    assert after <= before + 32 * np.finfo(float).eps * abs(before)
    np.testing.assert_allclose(residual, y - X @ w, atol=1e-8 * (1 + np.abs(y).max()))
    if outcome != MOVED:
        assert after == before


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")   # the reference, at tol 1e-16
def test_coordinate_descent_on_collinear_columns_converges_with_few_epochs():
    """Nearly collinear columns: plain CD needs tens of thousands of epochs, the face steps a few."""
    rng = np.random.default_rng(1)
    base = rng.standard_normal((200, 1))
    X = base + 1e-4 * rng.standard_normal((200, 6))
    y = X @ np.array([1.0, -1.0, 2.0, 0.0, 0.5, -0.5]) + 0.01 * rng.standard_normal(200)
    result = coordinate_descent(X, y, L1(), np.array([1e-4]), Groups.single(6), tol=1e-12)
    assert result.converged and result.info["n_epochs"] < 5_000
    reference = SkLasso(alpha=1e-4 / 200, fit_intercept=False, tol=1e-16, max_iter=1_000_000).fit(X, y)
    l1 = np.full(6, 1e-4)
    assert _objective(X, y, result.x, l1, 0 * l1) <= _objective(X, y, reference.coef_, l1, 0 * l1) * (1 + 1e-9)


def _wine_binary():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), (y == 0).astype(float)


@pytest.mark.parametrize("penalty", [L1(), L2(), ElasticNet(0.5)])
def test_logistic_duality_gap_bounds_the_objective_error_with_an_intercept(penalty):
    X, y = _wine_binary()
    A = np.column_stack([X, np.ones(len(y))])
    groups = Groups.from_labels([0] * 13 + [1])
    lam = np.array([1e-3 * len(y), 0.0])
    weight = np.ones(len(y))
    optimum = logistic_regression(A, y, penalty, lam, groups, tol=1e-10, intercept=True)
    assert optimum.converged
    free = _free_columns(A, penalty, lam, groups)
    rng = np.random.default_rng(0)
    for scale in [1e-4, 1e-2, 1.0]:
        x = optimum.x + scale * rng.standard_normal(14)
        z = A @ x
        primal = float(weight @ (np.logaddexp(0, z) - y * z)) + penalty.value(x, lam, groups)
        gap = logistic_duality_gap(penalty, lam, groups, A, z, y, weight, primal, free)
        assert gap >= (primal - optimum.objective) * (1 - 1e-9) - 1e-12
    z = A @ optimum.x
    assert logistic_duality_gap(penalty, lam, groups, A, z, y, weight, optimum.objective, free) < 1e-8


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_logistic_on_nearly_separable_data_reaches_the_optimum_at_the_default_tol(penalty):
    """Standardized wine, class 0 against the rest, λ = 10⁻⁷: the relative violation alone stopped
    15 % (L1) and 0.5 % (L2) above the optimum."""
    X, y = _wine_binary()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default = LogisticRegression(lam=1e-7, penalty=penalty).fit(X, y)
    tight = LogisticRegression(lam=1e-7, penalty=penalty, tol=1e-13, max_iter=500).fit(X, y)

    def objective(clf):
        z = X @ clf.coef_ + clf.intercept_
        w = clf.coef_
        return np.mean(np.logaddexp(0, z) - y * z) + 1e-7 * (np.abs(w).sum() if penalty == "l1" else 0.5 * w @ w)
    assert objective(default) <= objective(tight) * (1 + 1e-5)


def test_l1_logistic_on_standardized_breast_cancer_at_a_tiny_lambda_converges():
    """λ = 10⁻⁷: the Newton subproblems' columns are nearly collinear (CD alone took 90 s)."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = LogisticRegression(lam=1e-7, penalty="l1").fit(X, y)
    assert clf.result_.converged
    p = expit(X @ clf.coef_ + clf.intercept_)
    assert abs(np.sum(p - y)) < 1e-6 * len(y)                    # the intercept's optimality


def test_coordinate_descent_accepts_an_integer_sparse_design():
    import scipy.sparse as sp
    rng = np.random.default_rng(1)
    X = rng.integers(0, 5, (60, 8))
    y = X @ rng.standard_normal(8)
    result = coordinate_descent(sp.csc_matrix(X), y, L1(), np.array([0.1]), Groups.single(8), tol=1e-10)
    dense = coordinate_descent(X.astype(float), y, L1(), np.array([0.1]), Groups.single(8), tol=1e-10)
    assert result.converged
    np.testing.assert_allclose(result.x, dense.x, atol=1e-6)
