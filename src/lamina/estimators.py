"""scikit-learn estimators with a λ per group of features.

Objective (scikit-learn's convention, n samples):
    1/(2n) ‖y − Xw − w₀‖² + Σ_g λ_g R(w_g)
which is n⁻¹ times the operator form ½‖Xw − y‖² + Σ_g (n λ_g) R(w_g) that
:func:`lamina.solve` minimizes. ``lam`` is a scalar or one value per group; ``groups`` a label
per feature, a list of index arrays or a :class:`~lamina.Groups`; ``weights`` the penalty
factors per feature (0 = unpenalized), glmnet's ``penalty.factor``.

``lam="auto"`` tunes one λ per group first (``tuner=``: "evidence", "hypergradient", "cv",
"optuna", see :mod:`lamina.tuners.linear`), then fits on all the data; ``lam_`` holds the
λ per group, ``tuning_`` the tuner's :class:`~lamina.tuners.TuneResult` and ``explain()``
a per-group table (λ, effective degrees of freedom, switched-off flag, held-out curve).
"""
from __future__ import annotations

from enum import Enum

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from lamina._validation import check_finite_array, check_lam, parse_choice
from lamina.api import solve
from lamina.groups import as_groups
from lamina.penalties import L1, L2, ElasticNet, GroupL1
from lamina.tuners.linear import make_tuner
from lamina.tuners.linear_data import LinearSpec, Loss, TrainingSet, blas_threads, with_intercept_group


class _GroupedLinearModel(RegressorMixin, BaseEstimator):
    """Shared fit/predict; subclasses say which penalty they build."""

    _loss = Loss.SQUARED

    def _penalty(self, weights):
        raise NotImplementedError

    def _default_weights(self, groups):
        return None

    def _check_data(self, X, y):
        X = check_finite_array(X, "X") if sp.issparse(X) else check_finite_array(X, "X", ndim=2)
        y = check_finite_array(y, "y", ndim=1)
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has {y.shape[0]}")
        return X, y

    def _resolve_lam(self, X, y, weights):
        """(λ per group, groups, TuneResult or None): λ as given, or tuned when lam="auto"."""
        n_features = X.shape[1]
        if isinstance(self.lam, str):
            if self.lam != "auto":
                raise ValueError(f"lam={self.lam!r} is not supported; pass 'auto', a number or one "
                                 "number per group")
            groups = as_groups(self.groups, n_features)
            spec = self._spec(groups, weights)
            with blas_threads(X):
                tuning = make_tuner(self.tuner, spec).tune(X, y, spec)
            return tuning.lambda_vector, groups, tuning
        groups = as_groups(self.groups, n_features, n_lam=np.size(self.lam))
        return check_lam(self.lam, groups.n_groups), groups, None

    def _spec(self, groups, weights):
        return LinearSpec(self._penalty(weights), groups, bool(self.fit_intercept), self._loss,
                          float(self.tol), self.max_iter)

    def fit(self, X, y):
        """Fit the model (tuning λ first when ``lam="auto"``); returns self."""
        X, y = self._check_data(X, y)
        n_samples, n_features = X.shape
        weights = None if self.weights is None else check_finite_array(self.weights, "weights", ndim=1)
        if weights is None and not isinstance(self.lam, str):
            weights = self._default_weights(as_groups(self.groups, n_features, n_lam=np.size(self.lam)))
        elif weights is None:
            weights = self._default_weights(as_groups(self.groups, n_features))
        lam, groups, tuning = self._resolve_lam(X, y, weights)
        fit_groups, fit_lam, x_mean, y_mean = groups, lam, np.zeros(n_features), 0.0
        fit_weights = weights
        if self.fit_intercept and sp.issparse(X):
            # centering would densify X: the intercept becomes a column of ones in a group of its own, λ = 0
            X = sp.hstack([X, sp.csc_matrix(np.ones((n_samples, 1)))], format="csc")
            fit_groups = with_intercept_group(groups)
            fit_lam = np.append(lam, 0.0)
            if weights is not None:
                fit_weights = np.append(weights, 1.0)
        elif self.fit_intercept:
            x_mean, y_mean = X.mean(axis=0), float(y.mean())
            X, y = X - x_mean, y - y_mean
        result = solve(X, y, self._penalty(fit_weights), n_samples * fit_lam, fit_groups, tol=self.tol,
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
        self.tuning_ = tuning
        if tuning is not None:
            tuning.fitted = self
        with blas_threads(X):
            self.dof_ = effective_dof_of(self._spec(groups, weights), X, y, result.x, lam)
        return self

    def _warm_start(self, n_columns):
        if not (self.warm_start and hasattr(self, "coef_")):
            return None
        x0 = np.zeros(n_columns)
        x0[: self.coef_.shape[0]] = self.coef_
        return x0

    def predict(self, X):
        """Predictions Xw + w₀, shape (n_samples,)."""
        return self._scores(X)

    def _scores(self, X):
        check_is_fitted(self, "coef_")
        X = check_finite_array(X, "X") if sp.issparse(X) else check_finite_array(X, "X", ndim=2)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted on {self.n_features_in_}")
        return np.asarray(X @ self.coef_).ravel() + self.intercept_

    def explain(self) -> dict:
        """Per-group explanation of the fit: a dict of equal-length lists plus the tuning story.

        Keys: ``group`` (names), ``lam`` (λ_g), ``dof`` (effective degrees of freedom,
        Σ_{j∈g} [H⁻¹∇²F]_jj: nonzeros for a Lasso, Σ s²/(s² + λ) for a ridge), ``n_nonzero``,
        ``norm`` (‖w_g‖₂), ``switched_off`` (w_g = 0, or pruned by the evidence); and
        ``tuner``, ``cv_score``, ``curve`` (held-out loss along the tuner's steps or grid),
        ``compute`` — None when λ was given.
        """
        check_is_fitted(self, "coef_")
        groups = self.groups_
        norms = groups.norms(self.coef_)
        pruned = set(self.tuning_.info.get("switched_off", [])) if self.tuning_ is not None else set()
        nonzero = groups.sum(self.coef_ != 0)
        return {
            "group": list(groups.names),
            "lam": [float(v) for v in self.lam_],
            "dof": [float(v) for v in self.dof_],
            "n_nonzero": [int(v) for v in nonzero],
            "norm": [float(v) for v in norms],
            "switched_off": [bool(norm == 0 or name in pruned) for name, norm in zip(groups.names, norms)],
            "tuner": None if self.tuning_ is None else self.tuning_.method,
            "cv_score": None if self.tuning_ is None else self.tuning_.info.get("cv_score"),
            "curve": None if self.tuning_ is None else self.tuning_.curve,
            "compute": None if self.tuning_ is None else self.tuning_.compute.as_dict(),
        }


def effective_dof_of(spec, A, b, x, lam) -> np.ndarray:
    """Effective dof per group of the solution x of the (already centered/augmented) problem."""
    from lamina.tuners.linear_implicit import effective_dof
    train = TrainingSet.from_prepared(spec, A, b, augmented=x.shape[0] > spec.groups.n_features)
    return effective_dof(train, x, lam)


class Lasso(_GroupedLinearModel):
    """Lasso with a λ per feature group: 1/(2n)‖y − Xw‖² + Σ_g λ_g Σ_{j∈g} w_j |w_j|.

    Parameters
    ----------
    lam : float, array of shape (n_groups,), or "auto"
        λ (scikit-learn's ``alpha``), one or one per group; "auto" tunes one per group with
        ``tuner`` before the final fit on all the data.
    groups : labels (n_features,), list of index arrays, Groups or None
    weights : array, shape (n_features,), optional
        Penalty factors (0 = unpenalized).
    fit_intercept : bool
    tol : float
        Relative duality-gap tolerance of :func:`lamina.solve`.
    max_iter : int, optional
    warm_start : bool
        Start from the previous ``coef_``.
    tuner : {"auto", "evidence", "hypergradient", "cv", "optuna"} or LinearTuner
        How ``lam="auto"`` is chosen (see :mod:`lamina.tuners.linear`); "auto" is the
        hypergradient of the 5-fold held-out MSE for L1-type penalties and the evidence for
        ridge. Ignored when ``lam`` is given.

    Attributes
    ----------
    coef_, intercept_, n_iter_, dual_gap_, result_
    lam_ : ndarray, shape (n_groups,)
        λ per group used in the final fit.
    groups_ : Groups
    dof_ : ndarray, shape (n_groups,)
        Effective degrees of freedom per group.
    tuning_ : TuneResult or None
        The tuner's answer when ``lam="auto"``; :meth:`explain` summarizes it per group.

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

    def __init__(self, lam=1.0, groups=None, weights=None, fit_intercept=True, tol=1e-6,
                 max_iter=None, warm_start=False, tuner="auto"):
        self.lam, self.groups, self.weights = lam, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start
        self.tuner = tuner

    def _penalty(self, weights):
        return L1(weights)


class ElasticNetModel(_GroupedLinearModel):
    """Elastic net with a λ per group: 1/(2n)‖y − Xw‖² + Σ λ_g (ρ|w| + (1−ρ)/2 w²).

    Same parameters as :class:`Lasso`, plus ``l1_ratio`` = ρ (scikit-learn's).
    """

    def __init__(self, lam=1.0, l1_ratio=0.5, groups=None, weights=None, fit_intercept=True,
                 tol=1e-6, max_iter=None, warm_start=False, tuner="auto"):
        self.lam, self.l1_ratio, self.groups, self.weights = lam, l1_ratio, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start
        self.tuner = tuner

    def _penalty(self, weights):
        return ElasticNet(self.l1_ratio, weights)


class Ridge(_GroupedLinearModel):
    """Ridge with a λ per group: 1/(2n)‖y − Xw‖² + Σ_g λ_g ‖w_g‖²/2 (closed form).

    Note scikit-learn's ``Ridge(alpha)`` minimizes ‖y − Xw‖² + α‖w‖², i.e. λ = α/n here.
    Same parameters as :class:`Lasso`.
    """

    def __init__(self, lam=1.0, groups=None, weights=None, fit_intercept=True, tol=1e-6,
                 max_iter=None, warm_start=False, tuner="auto"):
        self.lam, self.groups, self.weights = lam, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start
        self.tuner = tuner

    def _penalty(self, weights):
        return L2(weights)


class GroupLasso(_GroupedLinearModel):
    """Group lasso: 1/(2n)‖y − Xw‖² + Σ_g λ_g w_g ‖w_g‖₂, ``weights`` one factor per group.

    With ``weights=None`` every group gets the conventional factor √n_g.
    Same parameters as :class:`Lasso`.
    """

    def __init__(self, lam=1.0, groups=None, weights=None, fit_intercept=True, tol=1e-6,
                 max_iter=None, warm_start=False, tuner="auto"):
        self.lam, self.groups, self.weights = lam, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start
        self.tuner = tuner

    def _default_weights(self, groups):
        return np.sqrt(groups.sizes.astype(float))

    def _penalty(self, weights):
        return GroupL1(weights)


class _Penalties(str, Enum):
    L1 = "l1"
    L2 = "l2"
    ELASTICNET = "elasticnet"
    GROUP_L1 = "group_l1"


class LogisticRegression(ClassifierMixin, _GroupedLinearModel):
    """Binary logistic regression with a λ per feature group.

    Objective: 1/n Σ_i [log(1 + e^{z_i}) − y_i z_i] + Σ_g λ_g R(w_g), z = Xw + w₀, with R the
    L2 (½‖w‖²), L1, elastic-net or group-L1 penalty. scikit-learn's
    ``LogisticRegression(C=…)`` minimizes C Σ loss + R(w), i.e. λ = 1/(nC) here. Solved by
    proximal Newton (:mod:`lamina.solvers.logistic`); the intercept is never penalized.

    Parameters
    ----------
    lam : float, array (n_groups,) or "auto"
    penalty : {"l2", "l1", "elasticnet", "group_l1"}
    l1_ratio : float
        ρ of the elastic net.
    groups, weights, fit_intercept, tol, max_iter, warm_start, tuner
        As in :class:`Lasso` (``weights`` per group for group L1, √n_g by default); the
        default tuner is the hypergradient of the 5-fold held-out log-loss.

    Attributes
    ----------
    classes_ : the two labels; coef_, intercept_, lam_, groups_, dof_, n_iter_, tuning_

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 4)); y = (X[:, 0] + 0.3 * rng.standard_normal(200) > 0).astype(int)
    >>> clf = LogisticRegression(lam=[0.01, 1.0], penalty="l1", groups=[0, 0, 1, 1]).fit(X, y)
    >>> bool(clf.score(X, y) > 0.9), clf.coef_[2:].tolist()
    (True, [0.0, 0.0])
    """

    _loss = Loss.LOGISTIC

    def __init__(self, lam=1.0, penalty="l2", l1_ratio=0.5, groups=None, weights=None,
                 fit_intercept=True, tol=1e-6, max_iter=None, warm_start=False, tuner="auto"):
        self.lam, self.penalty, self.l1_ratio, self.groups, self.weights = lam, penalty, l1_ratio, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start
        self.tuner = tuner

    def _kind(self):
        return parse_choice(_Penalties, self.penalty, "penalty")

    def _penalty(self, weights):
        kind = self._kind()
        if kind is _Penalties.L1:
            return L1(weights)
        if kind is _Penalties.L2:
            return L2(weights)
        if kind is _Penalties.ELASTICNET:
            return ElasticNet(self.l1_ratio, weights)
        return GroupL1(weights)

    def _default_weights(self, groups):
        return np.sqrt(groups.sizes.astype(float)) if self._kind() is _Penalties.GROUP_L1 else None

    def fit(self, X, y):
        """Fit on labels y (two classes; tuning λ first when ``lam="auto"``); returns self."""
        X = check_finite_array(X, "X") if sp.issparse(X) else check_finite_array(X, "X", ndim=2)
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} samples but y has shape {y.shape}")
        self.classes_ = np.unique(y)
        if self.classes_.shape[0] != 2:
            raise ValueError(f"y must hold exactly two classes, got {self.classes_.shape[0]}")
        y01 = (y == self.classes_[1]).astype(np.float64)
        self._kind()
        n_features = X.shape[1]
        weights = None if self.weights is None else check_finite_array(self.weights, "weights", ndim=1)
        if weights is None:
            weights = self._default_weights(as_groups(self.groups, n_features, n_lam=1 if isinstance(self.lam, str)
                                                      else np.size(self.lam)))
        lam, groups, tuning = self._resolve_lam(X, y01, weights)
        spec = self._spec(groups, weights)
        train = TrainingSet(X, y01, spec)
        if self.warm_start and hasattr(self, "coef_"):
            train.x = np.append(self.coef_, self.intercept_) if train.augmented else self.coef_.copy()
        with blas_threads(X):
            x = train.fit(lam)
            self.dof_ = effective_dof_of(spec, train.A, train.b, x, lam)
        self.coef_, self.intercept_ = train.coef_intercept(x)
        self.coef_ = np.array(self.coef_)
        self.lam_, self.groups_ = lam, groups
        self.result_ = train.result
        self.n_iter_ = train.result.n_iter
        self.dual_gap_ = float("nan")
        self.n_features_in_ = n_features
        self.tuning_ = tuning
        if tuning is not None:
            tuning.fitted = self
        return self

    def decision_function(self, X):
        """Scores Xw + w₀, shape (n_samples,)."""
        return self._scores(X)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, 2), columns in the order of ``classes_``."""
        p = 0.5 * (1.0 + np.tanh(0.5 * self._scores(X)))
        return np.column_stack([1.0 - p, p])

    def predict(self, X):
        """Predicted labels."""
        return self.classes_[(self._scores(X) > 0).astype(int)]
