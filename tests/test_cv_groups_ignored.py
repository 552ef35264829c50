"""cv_groups given to folds that would ignore them is refused, not silently dropped."""
import warnings

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, KFold, TimeSeriesSplit

import lamina
from lamina.tuners.splits import cv_splits


def _data():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((60, 5))
    y = X[:, :2] @ [2.0, -1.0] + 0.3 * rng.standard_normal(60)
    return X, y, np.arange(60) % 6


@pytest.mark.parametrize("cv", [None, 3, KFold(3), TimeSeriesSplit(3),
                                [(np.arange(30), np.arange(30, 60)), (np.arange(30, 60), np.arange(30))]],
                         ids=["default", "int", "KFold", "TimeSeriesSplit", "pairs"])
def test_cv_groups_with_folds_that_ignore_them_is_refused(cv):
    """Old behaviour: the labels went nowhere (scikit-learn's splitters at most warned), and λ was
    chosen on folds that mixed every group."""
    X, y, subjects = _data()
    with pytest.raises(ValueError, match="cv_groups .*refused rather than silently ignored.*GroupKFold"):
        lamina.Lasso(lam="auto", tuner="cv", cv=cv).fit(X, y, cv_groups=subjects)


def test_cv_groups_with_a_tuner_that_does_not_cross_validate_is_refused():
    X, y, subjects = _data()
    with pytest.raises(ValueError, match="tuner 'evidence' does not cross-validate.*refused"):
        lamina.Ridge(lam="auto", tuner="evidence").fit(X, y, cv_groups=subjects)


def test_a_group_splitter_still_takes_cv_groups_without_warnings():
    X, y, subjects = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = cv_splits(X, y, GroupKFold(3), cv_groups=subjects)
    for train, val in splits:
        assert not set(subjects[train]) & set(subjects[val])
    assert lamina.Lasso(lam="auto", tuner="cv", cv=GroupKFold(3)).fit(X, y, cv_groups=subjects).lam_.size == 1


def test_splitter_warnings_other_than_the_groups_one_still_reach_the_user():
    class Noisy(KFold):
        def split(self, X, y=None, groups=None):
            warnings.warn("something else", UserWarning)
            return super().split(X, y)
    X, y, _ = _data()
    with pytest.warns(UserWarning, match="something else"):
        assert len(cv_splits(X, y, Noisy(3))) == 3


@pytest.mark.parametrize("lam", [0.05, None, [0.05, 0.1, 0.1, 0.1, 0.1]], ids=["number", "default", "per-group"])
def test_cv_groups_with_a_fixed_lambda_warns_that_it_has_no_effect(lam):
    """Old behaviour: no folds are made at a fixed λ, and the labels went nowhere, unsaid."""
    X, y, subjects = _data()
    groups = None if np.isscalar(lam) or lam is None else [0, 1, 2, 3, 4]
    with pytest.warns(UserWarning, match=r"cv_groups was given with a fixed λ \(lam=.*no effect.*lam='auto'"):
        model = lamina.Lasso(lam=lam, groups=groups).fit(X, y, cv_groups=subjects)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = lamina.Lasso(lam=lam, groups=groups).fit(X, y)
    np.testing.assert_array_equal(model.coef_, plain.coef_)                 # the same fit, only told


def test_a_fixed_lambda_logistic_fit_with_cv_groups_warns_too():
    X, y, subjects = _data()
    with pytest.warns(UserWarning, match="cv_groups was given with a fixed λ"):
        lamina.LogisticRegression(lam=0.1).fit(X, (y > 0).astype(int), cv_groups=subjects)
