"""The multinomial duality gap: a bound on the objective's error, accurate on confident predictions."""
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.datasets import load_wine
from sklearn.preprocessing import StandardScaler

from lamina.estimators import LogisticRegression
from lamina.groups import Groups
from lamina.penalties import L1, L2, GroupL1
from lamina.solvers.multinomial import class_groups
from lamina.solvers.multinomial_gap import (accurate_cross_entropy, free_feature_columns, multinomial_duality_gap,
                                            residual)
from lamina.solvers.multinomial_newton import multinomial_newton


def test_cross_entropy_and_residual_match_their_definitions():
    rng = np.random.default_rng(0)
    Z = 3.0 * rng.standard_normal((50, 4))
    codes = rng.integers(0, 4, 50)
    weight = rng.uniform(0.5, 2.0, 50)
    naive = weight @ (logsumexp(Z, axis=1) - Z[np.arange(50), codes])
    assert accurate_cross_entropy(Z, codes, weight) == pytest.approx(naive, rel=1e-12)
    R, P = residual(Z, codes)
    np.testing.assert_allclose(R, P - np.eye(4)[codes], atol=1e-15)
    np.testing.assert_allclose(R.sum(axis=1), 0.0, atol=1e-15)


def test_confident_predictions_keep_their_tiny_loss():
    Z = np.array([[40.0, 0.0, 1.0]])
    loss = accurate_cross_entropy(Z, np.array([0]), np.ones(1))
    assert loss == pytest.approx(np.exp(-40.0) + np.exp(-39.0), rel=1e-12)      # the naive form gives 0
    R, _ = residual(Z, np.array([0]))
    assert R[0, 0] == pytest.approx(-(np.exp(-40.0) + np.exp(-39.0)), rel=1e-12)


def _wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("penalty", [L1(), L2(), GroupL1()])
def test_multinomial_gap_bounds_the_objective_error_with_intercepts(penalty):
    X, codes = _wine()
    A = np.column_stack([X, np.ones(len(codes))])
    groups = class_groups(Groups.from_labels(list(range(13)) + [13]), 3)
    lam = np.r_[np.full(13, 1e-2 * len(codes)), 0.0]
    weight = np.ones(len(codes))
    optimum = multinomial_newton(A, codes, 3, penalty, lam, groups, tol=1e-11, intercept=True)
    assert optimum.converged
    free = free_feature_columns(A, penalty, lam, groups, 3)
    assert free.shape == (len(codes), 1)
    rng = np.random.default_rng(0)
    for scale in [1e-4, 1e-2, 1.0]:
        x = optimum.x + scale * rng.standard_normal(optimum.x.size)
        Z = A @ x.reshape(14, 3)
        primal = accurate_cross_entropy(Z, codes, weight) + penalty.value(x, lam, groups)
        gap = multinomial_duality_gap(penalty, lam, groups, A, Z, codes, weight, primal, free)
        assert gap >= (primal - optimum.objective) * (1 - 1e-9) - 1e-12
    Z = A @ optimum.x.reshape(14, 3)
    assert multinomial_duality_gap(penalty, lam, groups, A, Z, codes, weight, optimum.objective, free) < 1e-7


def test_multinomial_l1_on_nearly_separable_data_reaches_the_optimum_at_the_default_tol():
    """Standardized wine, three classes, λ = 10⁻⁷: the relative violation alone stopped 13 % above."""
    X, y = _wine()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        default = LogisticRegression(lam=1e-7, penalty="l1").fit(X, y)
    tight = LogisticRegression(lam=1e-7, penalty="l1", tol=1e-13, max_iter=500).fit(X, y)

    def objective(clf):
        Z = X @ clf.coef_.T + clf.intercept_
        return np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(y)), y]) + 1e-7 * np.abs(clf.coef_).sum()
    assert objective(default) <= objective(tight) * (1 + 1e-5)


@pytest.mark.parametrize("lam", [1e-5, 1e-2])
def test_sparse_multinomial_l1_reaches_the_optimum_of_its_dense_copy(lam):
    """Proximal gradient on a sparse design, its answer checked by the gap and finished by Newton
    where uncertified: it had stopped 3e-5 above the optimum at λ = 10⁻⁵ on nearly separable data."""
    import scipy.sparse as sp
    rng = np.random.default_rng(0)
    X = sp.random(150, 200, density=0.05, random_state=0, format="csr")
    y = np.argmax(X @ rng.standard_normal((200, 3)) + 0.1 * rng.gumbel(size=(150, 3)), axis=1)
    sparse = LogisticRegression(lam=lam, penalty="l1").fit(X, y)
    dense = LogisticRegression(lam=lam, penalty="l1", tol=1e-10).fit(X.toarray(), y)

    def objective(model):
        Z = model.decision_function(X.toarray())
        return np.mean(logsumexp(Z, axis=1) - Z[np.arange(150), y]) + lam * np.abs(model.coef_).sum()
    assert objective(sparse) <= objective(dense) * (1 + 1e-6)


def test_sparse_multinomial_l2_at_a_small_lambda_is_finished_by_newton():
    """L2 on a sparse design stays with proximal gradient, whose answer is checked by the gap and
    finished by Newton where it is not certified (λ = 10⁻⁷: 0.5 % above the optimum before)."""
    import scipy.sparse as sp
    rng = np.random.default_rng(0)
    X = sp.random(150, 200, density=0.05, random_state=0, format="csr")
    y = np.argmax(X @ rng.standard_normal((200, 3)) + 0.1 * rng.gumbel(size=(150, 3)), axis=1)
    sparse = LogisticRegression(lam=1e-7, penalty="l2").fit(X, y)
    dense = LogisticRegression(lam=1e-7, penalty="l2", tol=1e-10).fit(X.toarray(), y)
    assert sparse.result_.solver == "multinomial_newton"

    def objective(model):
        Z = model.decision_function(X.toarray())
        return np.mean(logsumexp(Z, axis=1) - Z[np.arange(150), y]) + 0.5e-7 * np.sum(model.coef_ ** 2)
    assert objective(sparse) <= objective(dense) * (1 + 1e-6)
    easy = LogisticRegression(lam=1e-2, penalty="l2").fit(X, y)
    assert easy.result_.solver == "multinomial_fista"      # certified by the gap: no Newton finish


def test_gap_with_an_underflowed_true_class_probability_is_finite():
    from lamina.penalties import L2
    Z = np.array([[0.0, 800.0]])
    A = np.ones((1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gap = multinomial_duality_gap(L2(), np.array([1.0]), class_groups(Groups.single(1), 2), A, Z, np.array([0]),
                                      np.ones(1), 800.0, np.zeros((1, 0)))
    assert np.isfinite(gap)


def test_no_certificate_where_free_features_cannot_be_profiled_or_the_penalty_has_no_dual():
    from lamina.penalties import L0
    rng = np.random.default_rng(0)
    A = rng.standard_normal((40, 3))
    codes = rng.integers(0, 3, 40)
    groups = class_groups(Groups.single(3), 3)
    Z = A @ rng.standard_normal((3, 3))
    args = (A, Z, codes, np.ones(40), 50.0)
    assert multinomial_duality_gap(L1(), np.array([1.0]), groups, *args, None) == np.inf
    assert multinomial_duality_gap(L0(), np.array([1.0]), groups, *args, np.zeros((40, 0))) == np.inf


@pytest.mark.filterwarnings("ignore:cholesky stopped")     # the ridge subproblem of a degenerate fold
@pytest.mark.parametrize("penalty", [L1(), L2()])
def test_one_class_samples_with_an_intercept_stop_on_the_violation(penalty):
    """A CV fold of one class: the objective's infimum 0 is never reached, no bound relative to it
    is met; the solvers stop on the violation as before the gap."""
    from lamina.solvers.logistic import logistic_regression
    rng = np.random.default_rng(0)
    A = np.column_stack([rng.standard_normal((60, 5)), np.ones(60)])
    result = logistic_regression(A, np.ones(60), penalty, np.array([1.0, 0.0]), Groups.from_labels([0] * 5 + [1]),
                                 tol=1e-6, intercept=True)
    assert result.converged and result.n_iter < 30
    groups = class_groups(Groups.from_labels(list(range(5)) + [5]), 3)
    multi = multinomial_newton(A, np.zeros(60, dtype=int), 3, penalty, np.r_[np.ones(5), 0.0], groups, tol=1e-6,
                               intercept=True)
    assert multi.converged and multi.n_iter < 40


def test_gap_gives_no_certificate_where_only_some_classes_of_a_feature_are_free():
    """Per-coefficient weights leaving only coefficient (feature 0, class 0) unpenalized: at the
    optimum over the other coefficients with that one held at 0 the objective is 1 % above the
    optimum; the gap read 0 there (the conjugate skips free coefficients, which are not profiled)."""
    from scipy.optimize import minimize
    from lamina.solvers.multinomial import cross_entropy, softmax_rows
    from lamina.solvers.multinomial_gap import relative_gap
    rng = np.random.default_rng(1)
    n, p, K = 40, 3, 3
    A = rng.standard_normal((n, p))
    codes = np.argmax(A + rng.standard_normal((n, K)), axis=1)
    groups, lam = class_groups(Groups.single(p), K), np.array([1.0])
    weights = np.ones(p * K)
    weights[0] = 0.0
    penalty, Y = L2(weights=weights), np.eye(K)[codes]
    optimum = multinomial_newton(A, codes, K, penalty, lam, groups, tol=1e-12).objective

    def objective(w):   # coefficient 0 held at 0
        w = np.r_[0.0, w]
        Z = A @ w.reshape(p, K)
        grad = A.T @ (softmax_rows(Z) - Y) + (weights * w).reshape(p, K)
        return cross_entropy(Z, codes, np.ones(n)) + 0.5 * np.sum(weights * w * w), grad.ravel()[1:]
    fit = minimize(objective, np.zeros(p * K - 1), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 0})
    x = np.r_[0.0, fit.x]
    excess = (fit.fun - optimum) / fit.fun
    assert excess > 1e-3
    assert relative_gap(A, codes, K, penalty, lam, groups, x) >= excess


def test_newton_asks_which_features_are_free_once_per_solve(monkeypatch):
    """Old behaviour: two calls per solve (one for the gap's profiled columns, one for the shifted
    features), the same answer computed twice."""
    import lamina.solvers.multinomial_gap as gap_module
    import lamina.solvers.multinomial_newton as newton_module
    calls, original = [], gap_module.free_features

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)
    monkeypatch.setattr(gap_module, "free_features", counted)
    monkeypatch.setattr(newton_module, "free_features", counted)
    X, codes = _wine()
    A = np.column_stack([X, np.ones(len(codes))])
    groups = class_groups(Groups.from_labels(list(range(13)) + [13]), 3)
    lam = np.r_[np.full(13, 1e-2 * len(codes)), 0.0]
    result = multinomial_newton(A, codes, 3, L1(), lam, groups, tol=1e-8, intercept=True)
    assert result.converged
    assert len(calls) == 1
