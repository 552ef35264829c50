"""Logistic regression with a λ per feature group: binary and multinomial."""
from __future__ import annotations

from dataclasses import replace
from enum import Enum

import numpy as np
from scipy.special import expit
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from lamina._validation import parse_choice
from lamina._warnings import warn
from lamina.estimators._base import DEFAULT_LAM_DOC, GroupedLinearModel
from lamina.groups import Groups
from lamina.penalties import L1, L2, ElasticNet, GroupL1
from lamina.solvers.base import ConvergenceWarning, unconverged_message
from lamina.solvers.multinomial import class_groups, softmax_rows
from lamina.solvers.separation import SeparationWarning, separation_message
from lamina.tuners.linear_data import Loss, TrainingSet, blas_threads
from lamina.tuners.linear_implicit import effective_dof
from lamina.tuners.linear_separation import separating_features


class _Penalties(str, Enum):
    L1 = "l1"
    L2 = "l2"
    ELASTICNET = "elasticnet"
    GROUP_L1 = "group_l1"


class LogisticRegression(ClassifierMixin, GroupedLinearModel):
    __doc__ = f"""Logistic regression (binary or multinomial) with a λ per feature group.

    Objective, n samples with weights s_i ≥ 0 normalized to mean 1:
    1/n Σ_i s_i ℓ(y_i, z_i) + Σ_g λ_g R(w_g), with R the L2 (½‖w‖²), L1, elastic-net or group-L1
    penalty and ℓ the log-loss: two classes, z_i = x_iᵀw + w₀ and ℓ = log(1 + e^z) − y z;
    K > 2 classes, z_i = Wᵀx_i + w₀ ∈ R^K and ℓ = logsumexp(z_i) − z_{{i,y_i}} (softmax
    cross-entropy). For K classes a *feature group* spans all classes' coefficients of its
    features: group g is the block W[j ∈ g, :] of K·p_g coefficients, its λ_g applies to all of
    them, and for group L1 the norm is the block's Frobenius norm (so a group is switched off
    for every class at once).

    scikit-learn's ``LogisticRegression(C=…)`` minimizes C Σ_i s_i ℓ_i + R(w), i.e.
    λ = 1/(C Σ_i s_i) here (1/(nC) without weights), for its multinomial loss as well (its
    ``l1_ratio`` is ρ of the elastic net). Binary: proximal Newton
    (:mod:`lamina.solvers.logistic`); multinomial: proximal Newton on dense data whose Newton design
    (n·K × p·K) fits in memory (:mod:`lamina.solvers.multinomial_newton`: its steps and, on columns
    scaled per feature, its subproblems do not depend on the features' scales — columns of scales
    1 … 10⁶, 2000 × 20, four classes, L1 at λ = 10⁻⁴: 2.0 s against 0.6 s standardized; a nearly
    unpenalized L1 fit there, λ = 10⁻⁷, still takes minutes: standardize where you can), started by
    L-BFGS on centred and scaled variables for L2
    (:mod:`lamina.solvers.multinomial_lbfgs`), accelerated proximal gradient otherwise (sparse or
    large data) (:mod:`lamina.solvers.multinomial`) — on a sparse design within the Newton bound,
    its answer is checked by the duality gap and finished by Newton where not certified; group L1's Newton steps minimize each block
    exactly (:mod:`lamina.solvers._block_kernels`). The intercepts are never penalized. A final fit
    that stops short of ``tol`` raises a ``ConvergenceWarning``.

    Parameters
    ----------
    lam : None, float, array (n_groups,) or "auto"
{DEFAULT_LAM_DOC}
    penalty : {{"l2", "l1", "elasticnet", "group_l1"}}
    l1_ratio : float
        ρ of the elastic net.
    groups, weights, fit_intercept, tol, max_iter, warm_start, tuner, cv
        As in :class:`Lasso` (``weights`` per feature, or per group for group L1, with
        default √(size of the block): √p_g for two classes, √(K p_g) for K); the default tuner
        is the hypergradient of the 5-fold held-out log-loss.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        The labels, sorted (any type: ints, strings …).
    coef_ : ndarray, shape (n_features,) for two classes, (n_classes, n_features) for more
    intercept_ : float for two classes, ndarray (n_classes,) for more
    lam_, groups_, dof_, n_iter_, tuning_, n_features_in_, feature_names_in_
        As in :class:`Lasso`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 4)); y = (X[:, 0] + 0.3 * rng.standard_normal(200) > 0).astype(int)
    >>> clf = LogisticRegression(lam=[0.01, 1.0], penalty="l1", groups=[0, 0, 1, 1]).fit(X, y)
    >>> bool(clf.score(X, y) > 0.9), clf.coef_[2:].tolist()
    (True, [0.0, 0.0])
    >>> labels = np.array(["low", "mid", "high"])[np.digitize(X[:, 0], [-0.5, 0.5])]
    >>> multi = LogisticRegression(lam=[0.01, 1.0], penalty="group_l1", groups=[0, 0, 1, 1]).fit(X, labels)
    >>> multi.classes_.tolist(), multi.coef_.shape, bool(np.all(multi.coef_[:, 2:] == 0))
    (['high', 'low', 'mid'], (3, 4), True)
    """

    _loss = Loss.LOGISTIC

    def __init__(self, lam=None, penalty="l2", l1_ratio=0.5, groups=None, weights=None,
                 fit_intercept=True, tol=1e-6, max_iter=None, warm_start=False, tuner="auto", cv=None):
        self.lam, self.penalty, self.l1_ratio, self.groups, self.weights = lam, penalty, l1_ratio, groups, weights
        self.fit_intercept, self.tol, self.max_iter, self.warm_start = fit_intercept, tol, max_iter, warm_start
        self.tuner, self.cv = tuner, cv

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

    def fit(self, X, y, sample_weight=None, cv_groups=None):
        """Fit on labels y (two or more classes; tuning λ first when ``lam="auto"``); returns self.

        Parameters
        ----------
        X : array-like or sparse, shape (n_samples, n_features), or a pandas DataFrame
        y : array-like, shape (n_samples,)
            Class labels (ints, strings …).
        sample_weight : array-like, shape (n_samples,), optional
            s_i ≥ 0; integer weights fit as if row i were repeated s_i times (with
            ``lam="auto"``, the held-out loss is weighted too).
        cv_groups : array-like, shape (n_samples,), optional
            Labels for the ``split`` of a splitter given as ``cv`` (GroupKFold …); with a
            fixed λ (not ``lam="auto"``) no folds are made and a UserWarning says they have no effect.
        """
        self._kind()
        data = self._validate_fit_data(X, y, sample_weight, cv_groups, classifier=True)
        X, y, weight = data.X, data.y, data.weight
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_classes = self.classes_.shape[0]
        if n_classes < 2:
            raise ValueError(f"LogisticRegression needs samples of at least two classes in y (after "
                             f"dropping samples of weight 0); got one class: {self.classes_[0]!r}")
        n_features = X.shape[1]
        groups, weights = self._groups_and_weights(n_features)
        if n_classes == 2:
            spec, target = self._spec(groups, weights), codes.astype(np.float64)
        else:
            spec, target = self._multinomial_spec(groups, weights, n_classes), codes.astype(np.float64)
        lam, tuning = self._resolve_lam(data, target, spec)
        train = TrainingSet(X, target, spec, weight)
        if self.warm_start and getattr(self, "_fitted_shape", None) == (n_features, n_classes):
            train.x = train.solution_of(self.coef_.T if n_classes > 2 else self.coef_, self.intercept_)
        with blas_threads(X):
            x = train.fit(lam)
            dof = effective_dof(train, x, lam)
        result = train.result
        separating = separating_features(train, lam)
        if separating:   # no finite optimum: whatever the solver's criterion read, not converged
            warn(separation_message(separating, train.augmented), SeparationWarning)
            train.result = replace(result, converged=False, info={**result.info, "separated": True})
        elif not result.converged:   # train.fit counts unconverged fits silently, as tuners need
            advice = "raise max_iter, loosen tol or standardize the features"
            warn(unconverged_message(result.solver, result.n_iter, self.tol, result.criterion_name,
                                     result.criterion, advice), ConvergenceWarning)
        coef, intercept = train.coef_intercept(x)
        self.coef_ = np.array(coef.T if n_classes > 2 else coef)
        self.intercept_ = intercept if n_classes > 2 else float(intercept)
        self._fitted_shape = (n_features, n_classes)
        self.dual_gap_ = float("nan")
        self._record(lam, groups, tuning, dof, train.result)
        return self

    def _multinomial_spec(self, groups: Groups, weights, n_classes: int):
        kind = self._kind()
        if kind is _Penalties.GROUP_L1:
            weights = np.sqrt(n_classes * groups.sizes.astype(float)) if self.weights is None else weights
        elif weights is not None:
            weights = np.repeat(weights, n_classes)
        return self._spec(class_groups(groups, n_classes), weights, n_classes, Loss.MULTINOMIAL)

    def _coef_blocks(self):
        if self.coef_.ndim == 1:
            return self.coef_, self.groups_
        return self.coef_.T.ravel(), class_groups(self.groups_, self.coef_.shape[0])

    def decision_function(self, X):
        """Scores: Xw + w₀, shape (n_samples,), for two classes; XWᵀ + w₀, shape
        (n_samples, n_classes), for more."""
        X = self._validate_predict_data(X)
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return scores.ravel() if self.coef_.ndim == 1 else scores

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.column_stack([1.0 - p, p])
        return softmax_rows(scores)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predicted labels (from ``classes_``)."""
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes_[index]
