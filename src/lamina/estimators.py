"""scikit-learn estimators with a λ per group of features.

Objective (scikit-learn's convention, n samples):
    1/(2n) ‖y − Xw − w₀‖² + Σ_g λ_g R(w_g)
which is n⁻¹ times the operator form ½‖Xw − y‖² + Σ_g (n λ_g) R(w_g) that
:func:`lamina.solve` minimizes. ``lam`` is a scalar or one value per group; ``groups`` a label
per feature, a list of index arrays or a :class:`~lamina.Groups`; ``weights`` the penalty
factors per feature (0 = unpenalized), glmnet's ``penalty.factor``.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from lamina._validation import check_finite_array, check_lam
from lamina.api import solve
from lamina.groups import Groups, as_groups
from lamina.penalties import L1, L2, ElasticNet, GroupL1


class _GroupedLinearModel(RegressorMixin, BaseEstimator):
    """Shared fit/predict; subclasses say which penalty they build."""

    def _penalty(self, weights):
        raise NotImplementedError

    def _default_weights(self, groups):
        return None

    def fit(self, X, y):
        """Fit the model; returns self."""
        X = check_finite_array(X, "X") if sp.issparse(X) else check_finite_array(X, "X", ndim=2)
        y = check_finite_array(y, "y", ndim=1)
        n_samples, n_features = X.shape
        if y.shape[0] != n_samples:
            raise ValueError(f"X has {n_samples} samples but y has {y.shape[0]}")
        if isinstance(self.lam, str):
            raise ValueError(f"lam={self.lam!r} is not supported by {type(self).__name__} yet; "
                             "pass a number or one number per group")
        groups = as_groups(self.groups, n_features, n_lam=np.size(self.lam))
        lam = check_lam(self.lam, groups.n_groups)
        weights = self._default_weights(groups) if self.weights is None else np.asarray(self.weights, float)
        fit_groups, fit_lam, x_mean, y_mean = groups, lam, np.zeros(n_features), 0.0
        if self.fit_intercept and sp.issparse(X):
            # centering would densify X: the intercept becomes a column of ones in a group of its own, λ = 0
            X = sp.hstack([X, sp.csc_matrix(np.ones((n_samples, 1)))], format="csc")
            fit_groups = Groups(np.append(groups.labels, groups.n_groups), groups.names + ("intercept",))
            fit_lam = np.append(lam, 0.0)
            if weights is not None:
                weights = np.append(weights, 1.0)
        elif self.fit_intercept:
            x_mean, y_mean = X.mean(axis=0), float(y.mean())
            X, y = X - x_mean, y - y_mean
        result = solve(X, y, self._penalty(weights), n_samples * fit_lam, fit_groups, tol=self.tol,
                       max_iter=self.max_iter, x0=self._warm_start(X.shape[1]))
        self.coef_ = result.x[:n_features]
        if self.fit_intercept and fit_groups is not groups:
            self.intercept_ = float(result.x[n_features])
        else:
            self.intercept_ = float(y_mean - x_mean @ self.coef_) if self.fit_intercept else 0.0
        self.lam_, self.groups_ = lam, groups
        self.n_iter_ = result.n_iter
        self.dual_gap_ = result.dual_gap / n_samples
        self.n_features_in_ = n_features
        self.result_ = result
        return self

    def _warm_start(self, n_columns):
        if not (self.warm_start and hasattr(self, "coef_")):
            return None
        x0 = np.zeros(n_columns)
        x0[: self.coef_.shape[0]] = self.coef_
        return x0

    def predict(self, X):
        """Predictions Xw + w₀, shape (n_samples,)."""
        check_is_fitted(self, "coef_")
        X = check_finite_array(X, "X") if sp.issparse(X) else check_finite_array(X, "X", ndim=2)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted on {self.n_features_in_}")
        return np.asarray(X @ self.coef_).ravel() + self.intercept_


class Lasso(_GroupedLinearModel):
    """Lasso with a λ per feature group: 1/(2n)‖y − Xw‖² + Σ_g λ_g Σ_{j∈g} w_j |w_j|.

    Parameters
    ----------
    lam : float or array, shape (n_groups,)
        λ (scikit-learn's ``alpha``), one or one per group.
    groups : labels (n_features,), list of index arrays, Groups or None
    weights : array, shape (n_features,), optional
        Penalty factors (0 = unpenalized).
    fit_intercept : bool
    tol : float
        Relative duality-gap tolerance of :func:`lamina.solve`.
    max_iter : int, optional
    warm_start : bool
        Start from the previous ``coef_``.

    Attributes
    ----------
    coef_, intercept_, lam_, groups_, n_iter_, dual_gap_, result_

    Examples
    --------
    >>> import numpy as np
    >>> from lamina import Lasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 6)); y = X[:, 0] * 3 + rng.standard_normal(50) * 0.1
    >>> model = Lasso(lam=[0.1, 10.0], groups=[0, 0, 0, 1, 1, 1]).fit(X, y)
    >>> bool(model.coef_[0] > 2.5), bool(np.all(model.coef_[3:] == 0))
    (True, True)
    """

    def __init__(self, lam=1.0, groups=None, weights=None, fit_intercept=True, tol=1e-6,
                 max_iter=None, warm_start=False):
        self.lam, self.groups, self.weights = lam, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start

    def _penalty(self, weights):
        return L1(weights)


class ElasticNetModel(_GroupedLinearModel):
    """Elastic net with a λ per group: 1/(2n)‖y − Xw‖² + Σ λ_g (ρ|w| + (1−ρ)/2 w²).

    Same parameters as :class:`Lasso`, plus ``l1_ratio`` = ρ (scikit-learn's).
    """

    def __init__(self, lam=1.0, l1_ratio=0.5, groups=None, weights=None, fit_intercept=True,
                 tol=1e-6, max_iter=None, warm_start=False):
        self.lam, self.l1_ratio, self.groups, self.weights = lam, l1_ratio, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start

    def _penalty(self, weights):
        return ElasticNet(self.l1_ratio, weights)


class Ridge(_GroupedLinearModel):
    """Ridge with a λ per group: 1/(2n)‖y − Xw‖² + Σ_g λ_g ‖w_g‖²/2 (closed form).

    Note scikit-learn's ``Ridge(alpha)`` minimizes ‖y − Xw‖² + α‖w‖², i.e. λ = α/n here.
    Same parameters as :class:`Lasso`.
    """

    def __init__(self, lam=1.0, groups=None, weights=None, fit_intercept=True, tol=1e-6,
                 max_iter=None, warm_start=False):
        self.lam, self.groups, self.weights = lam, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start

    def _penalty(self, weights):
        return L2(weights)


class GroupLasso(_GroupedLinearModel):
    """Group lasso: 1/(2n)‖y − Xw‖² + Σ_g λ_g w_g ‖w_g‖₂, ``weights`` one factor per group.

    With ``weights=None`` every group gets the conventional factor √n_g.
    Same parameters as :class:`Lasso`.
    """

    def __init__(self, lam=1.0, groups=None, weights=None, fit_intercept=True, tol=1e-6,
                 max_iter=None, warm_start=False):
        self.lam, self.groups, self.weights = lam, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start

    def _default_weights(self, groups):
        return np.sqrt(groups.sizes.astype(float))

    def _penalty(self, weights):
        return GroupL1(weights)
