"""Checks shared by the linear-model tests: scikit-learn's LogisticRegression across its API
change, and the hypergradient of a fold against central finite differences in log λ."""
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression as SkLogistic

from lamina.tuners.linear_implicit import fold_value_and_gradient


def sklearn_logistic(C, l1_ratio, **kw):
    """scikit-learn's LogisticRegression at inverse strength C and mixing ``l1_ratio``."""
    with warnings.catch_warnings():   # scikit-learn ≥ 1.8 moves `penalty` to `l1_ratio`
        warnings.simplefilter("ignore")
        try:
            return SkLogistic(C=C, l1_ratio=l1_ratio, **kw)
        except TypeError:
            return SkLogistic(C=C, penalty="l1" if l1_ratio == 1 else "l2", **kw)


def assert_gradient_matches_finite_differences(fold, lam, step=1e-5):
    """∂(held-out loss)/∂ log λ_g of ``fold`` equals central differences, group by group."""
    _, grad = fold_value_and_gradient(fold, lam)
    for g in range(len(lam)):
        shift = np.zeros(len(lam))
        shift[g] = step
        up, _ = fold_value_and_gradient(fold, lam * np.exp(shift))
        down, _ = fold_value_and_gradient(fold, lam * np.exp(-shift))
        assert grad[g] == pytest.approx((up - down) / (2 * step), rel=1e-3, abs=1e-8)
