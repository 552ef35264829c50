"""Logistic fits whose unpenalized features separate the classes have no finite optimum: they say so."""
import warnings

import numpy as np
import pytest

import lamina
from lamina.solvers.separation import SeparationWarning, free_columns_separate


def _separable(n_classes):
    rng = np.random.default_rng(2)
    X = rng.standard_normal((100, 3))
    y = np.digitize(X[:, 0], [-0.5, 0.5]) if n_classes == 3 else (X[:, 0] > 0).astype(int)
    return X, y


@pytest.mark.parametrize("penalty", ["l2", "l1", "elasticnet"])
def test_multinomial_separated_by_its_free_feature_warns_and_is_not_converged(penalty):
    """Old behaviour (l2): coefficients near 1e3 marked converged, no warning (the violation of
    the gradient vanishes along the separating direction)."""
    X, y = _separable(3)
    with pytest.warns(SeparationWarning, match="unpenalized features .* separate the classes"):
        model = lamina.LogisticRegression(lam=0.01, penalty=penalty, weights=[0, 1, 1]).fit(X, y)
    assert not model.result_.converged
    assert model.result_.info["separated"]


def test_binary_separated_by_its_free_feature_warns_so():
    X, y = _separable(2)
    with pytest.warns(SeparationWarning, match="no finite optimum"):
        model = lamina.LogisticRegression(lam=0.01, penalty="l1", weights=[0, 1, 1]).fit(X, y)
    assert not model.result_.converged


def test_a_free_feature_that_does_not_separate_fits_quietly():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((150, 3))
    y = np.digitize(X[:, 0] + 0.8 * rng.standard_normal(150), [-0.5, 0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = lamina.LogisticRegression(lam=0.01, penalty="l1", weights=[0, 1, 1]).fit(X, y)
    assert model.result_.converged


def test_the_linear_program_sees_quasi_complete_separation_and_ignores_zero_weights():
    x = np.array([-2.0, -1.0, 0.0, 0.0, 1.0, 2.0])
    ones = np.ones_like(x)
    codes = np.array([0, 0, 0, 1, 1, 1])
    assert free_columns_separate(np.c_[x, ones], codes, 2)                 # ties at x = 0 only
    assert not free_columns_separate(ones[:, None], codes, 2)              # the intercept alone
    mixed = np.array([0, 1, 0, 1, 0, 1])
    assert not free_columns_separate(np.c_[x, ones], mixed, 2)
    assert free_columns_separate(np.c_[x, ones], mixed, 2, sample_weight=[1, 0, 1, 0, 0, 1])


def _separable_but_for_one_row(n_classes=2):
    """Feature 0 separates the classes but for one row deep on the wrong side: the whole data are
    not separable by it, the training rows of the fold that holds that row out are."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((100, 3))
    X[0, 0] = 2.5
    y = np.digitize(X[:, 0], [-0.5, 0.5]) if n_classes == 3 else (X[:, 0] > 0).astype(int)
    y[0] = 0
    return X, y


@pytest.mark.parametrize("n_classes", [2, 3])
def test_folds_separated_by_the_free_features_are_told_once(n_classes):
    """Old behaviour: the check ran on the final fit only, which is fine here; the fold without
    the odd row was fitted to ever larger coefficients, unsaid, and its held-out loss chose λ."""
    from lamina.tuners.linear_data import LinearSpec, Loss
    from lamina.tuners.linear_problem import LinearProblem
    from lamina.groups import Groups
    from lamina.penalties import L1
    from lamina.solvers.multinomial import class_groups
    X, y = _separable_but_for_one_row(n_classes)
    groups = Groups.from_labels([0, 1, 2])
    spec = (LinearSpec(L1(np.array([0.0, 1.0, 1.0])), groups, loss=Loss.LOGISTIC) if n_classes == 2 else
            LinearSpec(L1(np.repeat([0.0, 1.0, 1.0], 3)), class_groups(groups, 3), loss=Loss.MULTINOMIAL, n_classes=3))
    problem = LinearProblem(X, y.astype(float), spec)
    with pytest.warns(SeparationWarning, match=r"in 1 of 5 cross-validation folds the unpenalized features"):
        problem.splits(5)
    assert problem.separated_folds == 1
    assert not free_columns_separate(np.c_[X[:, 0], np.ones(100)], y, n_classes)   # the whole data: no


def test_a_tuned_fit_with_one_separated_fold_warns_once_and_ends_converged():
    X, y = _separable_but_for_one_row()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = lamina.LogisticRegression(lam="auto", penalty="l1", weights=[0, 1, 1],
                                          tuner=lamina.GridCVTuner(n_lams=4)).fit(X, y)
    separation = [w for w in caught if issubclass(w.category, SeparationWarning)]
    assert [str(w.message)[:39] for w in separation] == ["in 1 of 5 cross-validation folds the un"]
    assert model.result_.converged                                # the final fit: not separable


def test_folds_without_free_features_or_a_class_run_no_linear_program(monkeypatch):
    """Only the intercept free: nothing to check; a fold lacking a class: left out of its check."""
    import lamina.solvers.separation as separation_module
    from lamina.tuners.linear_data import LinearSpec, Loss
    from lamina.tuners.linear_problem import LinearProblem
    from lamina.groups import Groups
    from lamina.penalties import L1
    calls = []
    monkeypatch.setattr(separation_module, "linprog", lambda *a, **k: calls.append(a) or pytest.fail("an LP"))
    X, y = _separable_but_for_one_row()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LinearProblem(X, y.astype(float), LinearSpec(L1(), Groups.from_labels([0, 1, 2]), loss=Loss.LOGISTIC)).splits(5)
        one_class = np.r_[np.zeros(96), np.ones(4)]     # the fold holding out the last 4 rows has one class
        fold_rows = LinearProblem(X, one_class, LinearSpec(L1(np.array([0.0, 1.0, 1.0])), Groups.from_labels([0, 1, 2]),
                                                           loss=Loss.LOGISTIC))
        fold_rows.splits([(np.arange(96), np.arange(96, 100))])
    assert calls == []
