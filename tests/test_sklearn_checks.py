"""scikit-learn's own estimator checks, every check, on every public estimator of lamina.

The only checks that report "skipped" are scikit-learn's array-API checks, which it skips itself
unless SCIPY_ARRAY_API=1 is set before scipy is imported; with it set they pass too (numpy only).
"""
import inspect

from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import lamina


def public_estimators():
    """Every public class of ``lamina`` that is a scikit-learn estimator, default-constructed."""
    return [cls() for name in lamina.__all__ if inspect.isclass(cls := getattr(lamina, name))
            and issubclass(cls, BaseEstimator)]


def test_every_estimator_is_checked():
    names = {type(e).__name__ for e in public_estimators()}
    assert {"Lasso", "Ridge", "ElasticNetModel", "GroupLasso", "LogisticRegression"} <= names


@parametrize_with_checks(public_estimators())
def test_sklearn_compatible(estimator, check):
    check(estimator)
