"""Least-squares estimators with a λ per feature group: Lasso, elastic net, ridge, group Lasso.

Objective (scikit-learn's convention, n samples, weights s_i ≥ 0 normalized to mean 1):
    1/(2n) Σ_i s_i (y_i − x_iᵀw − w₀)² + Σ_g λ_g R(w_g)
which :func:`lamina.solve` minimizes in the operator form ½‖S^{1/2}(Xw − y)‖² + Σ_g (n λ_g) R(w_g).
Integer weights give the fit of the data with each row repeated s_i times.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin

from lamina.api import solve
from lamina.estimators._base import DEFAULT_LAM_DOC, GroupedLinearModel
from lamina.penalties import L1, L2, ElasticNet, GroupL1
from lamina.tuners.linear_data import TrainingSet, blas_threads
from lamina.tuners.linear_implicit import effective_dof


class _LeastSquaresModel(RegressorMixin, GroupedLinearModel):
    """Shared fit/predict of the squared-loss estimators."""

    def fit(self, X, y, sample_weight=None, cv_groups=None):
        """Fit the model (tuning λ first when ``lam="auto"``); returns self.

        Parameters
        ----------
        X : array-like or sparse, shape (n_samples, n_features), or a pandas DataFrame
        y : array-like, shape (n_samples,)
        sample_weight : array-like, shape (n_samples,), optional
            s_i ≥ 0; integer weights fit as if row i were repeated s_i times. With
            ``lam="auto"`` the tuner's held-out loss is weighted too (and ``tuner="auto"``
            is the hypergradient: the evidence takes no weights).
        cv_groups : array-like, shape (n_samples,), optional
            Labels passed to the ``split`` of a splitter given as ``cv`` (GroupKFold …); with a
            fixed λ (not ``lam="auto"``) no folds are made and a UserWarning says they have no effect.
        """
        data = self._validate_fit_data(X, y, sample_weight, cv_groups)
        X, y, weight = data.X, data.y, data.weight
        n_samples, n_features = X.shape
        groups, weights = self._groups_and_weights(n_features)
        spec = self._spec(groups, weights)
        lam, tuning = self._resolve_lam(data, y, spec)
        train = TrainingSet(X, y, spec, weight)      # centered (dense) or with a ones column (sparse)
        result = solve(train.A, train.b, train.penalty, n_samples * train.full_lam(lam), train.groups,
                       tol=self.tol, max_iter=self.max_iter, x0=self._warm_start(train))
        self.coef_, self.intercept_ = train.coef_intercept(result.x)
        self.coef_ = np.array(self.coef_)
        self.dual_gap_ = result.dual_gap / n_samples
        with blas_threads(X):
            dof = effective_dof_of(spec, train.A, train.b, result.x, lam)
        self._record(lam, groups, tuning, dof, result)
        return self

    def predict(self, X):
        """Predictions Xw + w₀, shape (n_samples,)."""
        X = self._validate_predict_data(X)
        return np.asarray(X @ self.coef_).ravel() + self.intercept_


def effective_dof_of(spec, A, b, x, lam) -> np.ndarray:
    """Effective dof per group of the solution x of the (already centered/augmented) problem."""
    train = TrainingSet.from_prepared(spec, A, b, augmented=x.shape[0] > spec.groups.n_features)
    return effective_dof(train, x, lam)


_PARAMETERS = f"""
    Parameters
    ----------
    lam : None, float, array of shape (n_groups,), or "auto"
        λ (scikit-learn's ``alpha``), one or one per group; "auto" tunes one per group with
        ``tuner`` before the final fit on all the data.
{DEFAULT_LAM_DOC}
    groups : labels (n_features,), list of index arrays, Groups, dict or None
        Labels name the groups in the order they first appear (``[1, 1, 0, 0]``: ``lam[0]`` is
        group "1"'s; ``groups_.names`` says the order). A dict ``{{name: column names or fnmatch
        patterns}}`` groups the columns of a pandas DataFrame, e.g. ``{{"demographics": ["age",
        "sex"], "serum": "s*"}}`` (every column in exactly one group; a column's exact name is
        that column, and wins over another group's pattern).
    weights : array, shape (n_features,), optional
        Penalty factors (0 = unpenalized); one per group for the group Lasso.
    fit_intercept : bool
    tol : float
        Relative duality-gap tolerance of :func:`lamina.solve`.
    max_iter : int, optional
    warm_start : bool
        Start from the previous ``coef_``.
    tuner : str, LinearTuner or ProblemTuner
        How ``lam="auto"`` is chosen: "auto", "evidence", "hypergradient", "cv", "optuna"
        (:mod:`lamina.tuners.linear`), the generic "grid", "search", "descent"
        (:mod:`lamina.tuners.search`) — ``lamina.tuners.available("linear")`` — or a tuner
        object of either kind; "auto" is the
        hypergradient of the 5-fold held-out MSE for L1-type penalties and the evidence for
        ridge. Ignored when ``lam`` is given.
    cv : int, scikit-learn splitter or iterable of (train, validation) pairs, optional
        Folds of the tuner for ``lam="auto"`` (None: the tuner's own, 5 shuffled folds); a
        GroupKFold takes its labels from ``fit(..., cv_groups=...)``. With ``cv`` given,
        ``tuner="auto"`` is the hypergradient (the evidence does not cross-validate).

    Attributes
    ----------
    coef_, intercept_, n_iter_, dual_gap_, result_, n_features_in_
    feature_names_in_ : ndarray of str
        Column names, when X was a pandas DataFrame.
    lam_ : ndarray, shape (n_groups,)
        λ per group used in the final fit.
    groups_ : Groups
    dof_ : ndarray, shape (n_groups,)
        Effective degrees of freedom per group.
    tuning_ : TuneResult or None
        The tuner's answer when ``lam="auto"``; :meth:`explain` summarizes it per group.
"""


class Lasso(_LeastSquaresModel):
    __doc__ = """Lasso with a λ per feature group: 1/(2n)‖y − Xw‖² + Σ_g λ_g Σ_{j∈g} ω_j |w_j| (ω: ``weights``).
""" + _PARAMETERS + """
    Examples
    --------
    >>> import numpy as np
    >>> from lamina import Lasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((50, 6)); y = X[:, 0] * 3 + rng.standard_normal(50) * 0.1
    >>> model = Lasso(lam=[0.1, 10.0], groups=[0, 0, 0, 1, 1, 1]).fit(X, y)
    >>> bool(model.coef_[0] > 2.5), bool(np.all(model.coef_[3:] == 0))
    (True, True)
    >>> auto = Lasso(lam="auto", groups=[0, 0, 0, 1, 1, 1]).fit(X, y)
    >>> auto.lam_.shape, auto.explain()["switched_off"]
    ((2,), [False, True])
    """

    def __init__(self, lam=None, groups=None, weights=None, fit_intercept=True, tol=1e-6,
                 max_iter=None, warm_start=False, tuner="auto", cv=None):
        self.lam, self.groups, self.weights = lam, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start
        self.tuner, self.cv = tuner, cv

    def _penalty(self, weights):
        return L1(weights)


class ElasticNetModel(_LeastSquaresModel):
    """Elastic net with a λ per group: 1/(2n)‖y − Xw‖² + Σ λ_g (ρ|w| + (1−ρ)/2 w²).

    Same parameters as :class:`Lasso`, plus ``l1_ratio`` = ρ (scikit-learn's).
    """

    def __init__(self, lam=None, l1_ratio=0.5, groups=None, weights=None, fit_intercept=True,
                 tol=1e-6, max_iter=None, warm_start=False, tuner="auto", cv=None):
        self.lam, self.l1_ratio, self.groups, self.weights = lam, l1_ratio, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start
        self.tuner, self.cv = tuner, cv

    def _penalty(self, weights):
        return ElasticNet(self.l1_ratio, weights)


class Ridge(_LeastSquaresModel):
    """Ridge with a λ per group: 1/(2n)‖y − Xw‖² + Σ_g λ_g ‖w_g‖²/2 (closed form).

    Note scikit-learn's ``Ridge(alpha)`` minimizes ‖y − Xw‖² + α‖w‖², i.e. λ = α/n here
    (with sample weights, Σ s_i (y_i − x_iᵀw)² + α‖w‖², i.e. λ = α/Σs).
    Same parameters as :class:`Lasso`.
    """

    def __init__(self, lam=None, groups=None, weights=None, fit_intercept=True, tol=1e-6,
                 max_iter=None, warm_start=False, tuner="auto", cv=None):
        self.lam, self.groups, self.weights = lam, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start
        self.tuner, self.cv = tuner, cv

    def _penalty(self, weights):
        return L2(weights)


class GroupLasso(_LeastSquaresModel):
    """Group lasso: 1/(2n)‖y − Xw‖² + Σ_g λ_g ω_g ‖w_g‖₂, ``weights`` ω one factor per group.

    With ``weights=None`` every group gets the conventional factor √n_g.
    Same parameters as :class:`Lasso`.
    """

    def __init__(self, lam=None, groups=None, weights=None, fit_intercept=True, tol=1e-6,
                 max_iter=None, warm_start=False, tuner="auto", cv=None):
        self.lam, self.groups, self.weights = lam, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start
        self.tuner, self.cv = tuner, cv

    def _default_weights(self, groups):
        return np.sqrt(groups.sizes.astype(float))

    def _penalty(self, weights):
        return GroupL1(weights)
