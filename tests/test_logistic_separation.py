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
