"""Logistic regression with a λ per group: prox-Newton against scikit-learn, tuning."""
import warnings

import numpy as np
import pytest

import lamina
from linear_checks import sklearn_logistic
from lamina.groups import Groups
from lamina.penalties import L2, GroupL1
from lamina.solvers.logistic import logistic_regression


@pytest.fixture
def data(rng):
    X = rng.standard_normal((300, 10))
    w = np.r_[2.0, -1.0, 0, 0, 1.0, 0, 0, 0, 0, 0]
    y = (X @ w + 0.5 + rng.standard_normal(300) > 0).astype(int)
    return X, y




def test_l2_matches_sklearn_with_intercept(data):
    X, y = data
    lam = 0.02
    ours = lamina.LogisticRegression(lam=lam, tol=1e-10).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sklearn_logistic(1 / (300 * lam), 0.0, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_.ravel(), atol=1e-6)
    assert ours.intercept_ == pytest.approx(ref.intercept_[0], abs=1e-6)
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=1e-6)
    assert (ours.predict(X) == ref.predict(X)).mean() == 1.0


def test_l1_matches_sklearn_liblinear(data):
    X, y = data
    lam = 0.02
    ours = lamina.LogisticRegression(lam=lam, penalty="l1", fit_intercept=False, tol=1e-10).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sklearn_logistic(1 / (300 * lam), 1.0, solver="liblinear", fit_intercept=False, tol=1e-12,
                       max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_.ravel(), atol=1e-5)
    assert np.array_equal(ours.coef_ == 0, ref.coef_.ravel() == 0)


def test_prox_newton_solution_is_optimal_for_group_l1(data):
    X, y = data
    groups = Groups.contiguous([5, 5])
    lam = np.array([1.0, 8.0])
    pen = GroupL1(np.sqrt([5.0, 5.0]))
    res = logistic_regression(X, y.astype(float), pen, lam, groups, tol=1e-10)
    grad = X.T @ (1 / (1 + np.exp(-X @ res.x)) - y)
    assert np.max(pen.subdiff_distance(res.x, grad, lam, groups)) < 1e-7 * np.max(np.abs(X.T @ (0.5 - y)))
    assert res.converged


def test_logistic_auto_per_group_and_labels(data, rng):
    X, y = data
    labels = np.where(y == 1, "yes", "no")
    noise = rng.standard_normal((300, 10))
    Xw = np.hstack([X, noise])
    groups = np.repeat([0, 1], 10)
    for penalty in ("l1", "l2"):
        model = lamina.LogisticRegression(lam="auto", penalty=penalty, groups=groups).fit(Xw, labels)
        assert set(model.predict(Xw)) <= {"yes", "no"} and model.score(Xw, labels) > 0.8
        assert model.lam_[1] > model.lam_[0]            # the noise group is penalized harder
    ev = lamina.LogisticRegression(lam="auto", penalty="l2", groups=groups, tuner="evidence").fit(Xw, labels)
    assert ev.lam_[1] > 10 * ev.lam_[0] and ev.explain()["dof"][1] < 1.0


def test_logistic_errors(data):
    X, y = data
    with pytest.raises(ValueError, match="two classes"):
        lamina.LogisticRegression().fit(X, np.zeros(300))     # one class (three now fit: multinomial)
    with pytest.raises(ValueError, match="penalty must be one of"):
        lamina.LogisticRegression(penalty="l0").fit(X, y)
    with pytest.raises(ValueError, match="samples"):
        lamina.LogisticRegression().fit(X, y[:-1])


@pytest.mark.parametrize("penalty", ["l1", "elasticnet", "group_l1"])
def test_uncentered_features_fit_like_centered_ones(data, penalty):
    """The intercept is eliminated in each Newton subproblem: shifting every feature by 100
    changes only the intercept (the solver used to stop far from the optimum there)."""
    X, y = data
    kw = dict(lam=0.01, penalty=penalty, groups=np.repeat([0, 1], 5), tol=1e-8)
    centered = lamina.LogisticRegression(**kw).fit(X, y)
    shifted = lamina.LogisticRegression(**kw).fit(X + 100.0, y)
    assert shifted.result_.converged and shifted.n_iter_ < 20
    np.testing.assert_allclose(shifted.coef_, centered.coef_, atol=1e-6)
    assert shifted.intercept_ == pytest.approx(centered.intercept_ - 100.0 * centered.coef_.sum(), abs=1e-4)


def test_logistic_evidence_statistics_are_the_laplace_posteriors_and_its_fixed_point_is_one():
    """``laplace_statistics`` against a Laplace posterior built independently (scikit-learn's
    MAP, the logistic Hessian by hand), and the tuner's λ is a fixed point of MacKay's update
    (:func:`lamina.tuners.evidence.fixed_point`, the loop every family shares)."""
    from sklearn.linear_model import LogisticRegression as SkLogistic

    from lamina.groups import Groups
    from lamina.penalties import L2
    from lamina.tuners.linear_data import LinearSpec, Loss, TrainingSet
    from lamina.tuners.linear_evidence import laplace_statistics

    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 6))
    y = (X[:, :3] @ [1.5, -1.0, 0.5] + 0.5 * rng.standard_normal(200) > 0).astype(float)
    groups = Groups.contiguous([3, 3])
    spec = LinearSpec(L2(), groups, fit_intercept=True, loss=Loss.LOGISTIC, tol=1e-10)
    lam = np.array([0.01, 0.3])
    stats = laplace_statistics(TrainingSet(X, y, spec), lam)

    n, scaled = X.shape[0], np.repeat(lam, 3) * X.shape[0]        # α_j = λ_g n; objective Σ loss + ½ Σ α_j w_j²
    ref = SkLogistic(C=1.0, tol=1e-12, max_iter=10_000).fit(X / np.sqrt(scaled), y)
    w = ref.coef_.ravel() / np.sqrt(scaled)
    A = np.hstack([X, np.ones((n, 1))])
    prob = 1 / (1 + np.exp(-(X @ w + ref.intercept_[0])))
    H = (A * (prob * (1 - prob))[:, None]).T @ A + np.diag(np.append(scaled, 0.0))
    gamma = 1 - scaled * np.diag(np.linalg.inv(H))[:6]
    np.testing.assert_allclose(stats.gamma, [gamma[:3].sum(), gamma[3:].sum()], rtol=1e-5)
    np.testing.assert_allclose(stats.norm2, [np.sum(w[:3] ** 2), np.sum(w[3:] ** 2)], rtol=1e-5)
    assert stats.rss is None and stats.scale == n

    model = lamina.LogisticRegression(lam="auto", penalty="l2", groups=groups.labels, tuner="evidence",
                                      tol=1e-10).fit(X, y)
    at_end = laplace_statistics(TrainingSet(X, y, spec), np.asarray(model.lam_))
    a, b = 1e-6, 1e-6
    np.testing.assert_allclose(np.asarray(model.lam_) * n, (at_end.gamma + 2 * a) / (at_end.norm2 + 2 * b), rtol=1e-3)
    assert model.lam_[1] > 10 * model.lam_[0]          # the group without signal gets the stronger prior


@pytest.mark.parametrize("load", ["breast_cancer", "wine"])
def test_an_unconverged_final_fit_warns(load):
    """The tuners' fits count unconverged solves silently; the estimator's own fit must not."""
    from sklearn import datasets

    from lamina.solvers.base import ConvergenceWarning
    X, y = getattr(datasets, f"load_{load}")(return_X_y=True)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        model = lamina.LogisticRegression(lam=1e-3, max_iter=2).fit(X, y)
    assert not model.result_.converged and model.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        assert lamina.LogisticRegression(lam=1e-3).fit(X, y).result_.converged


def test_group_l1_on_unscaled_features_meets_kkt_in_few_newton_steps():
    """Each Newton subproblem's blocks are minimized exactly (_block_kernels): with one
    proximal-gradient step per block, block CD crawled on unscaled blocks (45 s for this fit)."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    groups = Groups.from_labels([j // 10 for j in range(30)])
    model = lamina.LogisticRegression(lam=[1e-4, 1e-2, 1e-1], penalty="group_l1", groups=groups.labels).fit(X, y)
    assert model.result_.converged and model.n_iter_ <= 20
    w = np.append(model.coef_, model.intercept_)
    A = np.hstack([X, np.ones((len(y), 1))])
    grad = A.T @ (1 / (1 + np.exp(-A @ w)) - y) / len(y)
    unit = np.max(np.abs(A.T @ (0.5 - y) / len(y)))   # the solver's relative violation is in this unit
    for g, lam in enumerate([1e-4, 1e-2, 1e-1]):   # KKT per block, default weight √10
        block, tau = grad[g * 10:(g + 1) * 10], lam * np.sqrt(10)
        norm = np.linalg.norm(model.coef_[g * 10:(g + 1) * 10])
        if norm == 0:
            assert np.linalg.norm(block) <= tau + 1e-6 * unit
        else:
            np.testing.assert_allclose(-block, tau * model.coef_[g * 10:(g + 1) * 10] / norm, atol=1e-6 * unit)
    assert abs(grad[-1]) < 1e-6 * unit


def test_converged_logistic_fit_on_separable_unscaled_data_is_within_tol_of_the_optimum():
    """Separable classes, features of scale 1000 and 1, L2 at λ = 10⁻⁴: a floor of 10⁻¹⁰ on the IRLS
    weights σ(1 − σ) overstated the curvature of confident samples, Newton converged linearly and
    the last step's decrement (the stop) read a fraction of the error: converged at tol = 10⁻⁶ with
    the objective 1.4·10⁻⁶ above scipy's optimum."""
    from scipy.optimize import minimize
    from scipy.special import expit
    from lamina.solvers.logistic import _loss
    rng = np.random.default_rng(26)
    X = rng.standard_normal((60, 12)) * np.where(np.arange(12) % 3 == 0, 1000.0, 1.0)
    y = (X @ rng.standard_normal(12) > 0).astype(float)
    A = np.column_stack([X, np.ones(60)])
    groups, lam, c = Groups(np.r_[np.zeros(12, int), 1], ["features", "intercept"]), 1e-4, np.r_[np.ones(12), 0.0]
    result = logistic_regression(A, y, L2(), np.array([lam, 0.0]), groups, tol=1e-6, intercept=True)
    assert result.converged

    def objective(x):
        return _loss(A @ x, y, np.ones(60)) + 0.5 * lam * np.sum(c * x * x), A.T @ (expit(A @ x) - y) + lam * c * x
    optimum = minimize(objective, result.x, jac=True, method="L-BFGS-B",
                       options={"gtol": 0, "ftol": 0, "maxiter": 20000, "maxcor": 50}).fun
    assert (result.objective - optimum) / optimum <= 1e-6
