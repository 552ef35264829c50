"""What every lamina estimator shares: input checks (scikit-learn's ``validate_data``), groups,
the default λ, sample weights, ``lam="auto"`` and the per-group :meth:`explain` table."""
from __future__ import annotations

import contextlib
import copy
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from lamina._validation import (check_bool, check_finite_array, check_lam, check_positive_float, check_positive_int,
                                check_sample_weight)
from lamina._warnings import warn
from lamina.estimators._frame import explain_frame, groups_from_patterns, uses_column_names
from lamina.groups import Groups, as_groups
from lamina.tuners import registry
from lamina.tuners.linear import make_tuner
from lamina.tuners.linear_data import LinearSpec, Loss, blas_threads, lam_max
from lamina.tuners.linear_problem import LinearProblem
from lamina.tuners.problem import is_problem_tuner
from lamina.tuners.splits import TooFewSamples

#: the default λ (``lam=None``) as a fraction of the data's λ_max (penalties with an L1 part)
DEFAULT_LAM_RATIO = 0.01
#: the default ridge λ (``lam=None``, pure L2) in units of the mean feature variance
DEFAULT_RIDGE_RATIO = 0.01

DEFAULT_LAM_DOC = """\
        ``lam=None`` (the default) is scale-aware: λ = 0.01·λ_max for penalties with an L1
        part, λ_max being the smallest single λ that sets every coefficient to zero on the
        data being fitted. λ_max moves with the scale of X and y, so that a fixed default
        such as 1.0 switches every feature off on one data set (standardized y) and shrinks
        nothing on another; 1 % of it is a light penalty (glmnet's default path ends at
        10⁻²·λ_max when n < p, 10⁻⁴·λ_max when n > p). For a pure L2 penalty,
        λ = 0.01 × the mean variance of the features (λ is in units of ‖x_j‖²/n: about a
        1 % shrinkage along a direction of unit-variance features)."""


class GroupedLinearModel(BaseEstimator):
    """Base of lamina's estimators (not public): subclasses set ``_loss`` and ``_penalty``."""

    _loss = Loss.SQUARED

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    # ------------------------------------------------------------------ hooks
    def _penalty(self, weights):
        raise NotImplementedError

    def _default_weights(self, groups: Groups):
        return None

    # ------------------------------------------------------------------ inputs
    def _validate_fit_data(self, X, y, sample_weight, cv_groups, classifier: bool = False) -> FitData:
        """X, y, weights, folds checked by scikit-learn's ``validate_data``; rows of weight 0
        are dropped (the same fit, exactly), with their ``cv_groups`` labels and their indices
        in explicit (train, validation) splits given as ``cv``; equal weights become None."""
        _check_lengths(X, y)
        if not classifier:
            _check_numeric_target(y)
        X, y = validate_data(self, X, y, accept_sparse="csc", dtype=np.float64,
                             y_numeric=not classifier, multi_output=False)
        weight = check_sample_weight(sample_weight, X.shape[0])
        if cv_groups is not None:
            cv_groups = np.asarray(cv_groups)
            if cv_groups.shape != (X.shape[0],):
                raise ValueError(f"cv_groups must have one label per sample ({X.shape[0]}), "
                                 f"got shape {cv_groups.shape}")
        cv = self.cv
        if weight is not None:
            keep = np.flatnonzero(weight > 0)
            if keep.size < X.shape[0]:
                cv = _without_rows(cv, keep, X.shape[0])
                X, y, weight = X[keep], y[keep], weight[keep]
                cv_groups = None if cv_groups is None else cv_groups[keep]
            if np.all(weight == weight[0]):
                weight = None
        return FitData(X, y, weight, cv, cv_groups)

    def _validate_predict_data(self, X):
        check_is_fitted(self)
        return validate_data(self, X, accept_sparse="csc", dtype=np.float64, reset=False)

    def _feature_groups(self, n_features: int, n_lam) -> Groups:
        """``groups`` as a :class:`Groups` over the features (column names/patterns need X
        as a DataFrame)."""
        if uses_column_names(self.groups):
            names = getattr(self, "feature_names_in_", None)
            if names is None:
                raise ValueError("groups given by column names or patterns need X as a pandas "
                                 "DataFrame (with string column names)")
            return groups_from_patterns(self.groups, names)     # λ is checked against it later
        return as_groups(self.groups, n_features, n_lam=n_lam)

    def _groups_and_weights(self, n_features: int):
        groups = self._feature_groups(n_features, None if _is_auto(self.lam) or self.lam is None
                                      else np.size(self.lam))
        if self.weights is None:
            return groups, self._default_weights(groups)
        weights = check_finite_array(self.weights, "weights", ndim=1)
        size, unit = (n_features, "feature") if self._penalty(None).separable else (groups.n_groups, "group")
        if weights.shape[0] != size:        # before the intercept column and the classes multiply it
            raise ValueError(f"weights must have one value per {unit} ({size}), got {weights.shape[0]}")
        return groups, weights

    def _spec(self, groups, weights, n_classes: int = 1, loss: Loss | None = None) -> LinearSpec:
        """The problem, with the parameters checked (in ``fit``, as scikit-learn expects)."""
        fit_intercept = check_bool(self.fit_intercept, "fit_intercept")
        check_bool(self.warm_start, "warm_start")
        max_iter = None if self.max_iter is None else check_positive_int(self.max_iter, "max_iter")
        return LinearSpec(self._penalty(weights), groups, fit_intercept, self._loss if loss is None else loss,
                          check_positive_float(self.tol, "tol"), max_iter, n_classes)

    # ------------------------------------------------------------------ λ
    def _resolve_lam(self, data: FitData, y, spec: LinearSpec):
        """(λ per group, TuneResult or None): as given, the scale-aware default, or tuned
        (``y`` as the tuners see it: values, 0/1 or class codes)."""
        X, sample_weight, cv_groups = data.X, data.weight, data.cv_groups
        if _is_auto(self.lam):
            minimum = 2 + int(spec.fit_intercept)
            if X.shape[0] < minimum:
                raise ValueError(f"lam='auto' needs at least {minimum} samples to tune λ (one to "
                                 f"estimate the intercept, two for the noise and the prior), got "
                                 f"n_samples={X.shape[0]}; pass lam")
            with blas_threads(X), _folds_explained(self.cv):
                # the evidence takes neither weights nor folds: with sample_weight, cv= or cv_groups,
                # tuner="auto" is the hypergradient
                cross_validated = sample_weight is not None or data.cv is not None or cv_groups is not None
                auto = isinstance(self.tuner, str) and self.tuner == "auto"
                choice = "hypergradient" if auto and cross_validated else self.tuner
                if isinstance(choice, str):
                    registry.entry(choice, "linear")        # one error listing every name
                if is_problem_tuner(choice) or (isinstance(choice, str) and registry.entry(choice, "linear").generic):
                    return self._tune_problem(choice, data, y, spec)
                tuner = make_tuner(choice, spec)
                if data.cv is not None:
                    if not hasattr(tuner, "cv"):
                        raise ValueError(f"cv={self.cv!r} was given but tuner {tuner.name!r} does not "
                                         "cross-validate; use tuner='hypergradient', 'cv' or 'optuna'")
                    tuner = copy.copy(tuner)            # never change the user's tuner object
                    tuner.cv = data.cv
                if cv_groups is not None and not hasattr(tuner, "cv"):
                    raise ValueError(f"cv_groups was given but tuner {tuner.name!r} does not cross-validate, so "
                                     "cv_groups is refused rather than silently ignored; use tuner='hypergradient', "
                                     "'cv' or 'optuna' with a group splitter as cv= (GroupKFold …), or drop cv_groups")
                # keywords only when given: a user's LinearTuner written to the older
                # tune(X, y, spec) contract keeps working
                extra = {k: v for k, v in (("cv_groups", cv_groups), ("sample_weight", sample_weight))
                         if v is not None}
                tuning = tuner.tune(X, y, spec, **extra)
            return tuning.lambda_vector, tuning
        if isinstance(self.lam, str):
            raise ValueError(f"lam={self.lam!r} is not supported; pass 'auto', None (the scale-aware "
                             "default), a number or one number per group")
        if cv_groups is not None:
            _warn_cv_groups_unused(self.lam)
        if self.lam is None:
            return np.full(spec.groups.n_groups, self._default_lam(X, y, spec, sample_weight)), None
        return check_lam(self.lam, spec.groups.n_groups), None

    def _tune_problem(self, choice, data: "FitData", y, spec: LinearSpec):
        """A generic tuner of :mod:`lamina.tuners.search` on the model as a LinearProblem;
        ``cv=`` given to the estimator replaces the tuner's own folds."""
        tuner = registry.entry(choice, "linear").load()() if isinstance(choice, str) else choice
        if data.cv is not None:
            tuner = copy.copy(tuner)                    # never change the user's tuner object
            tuner.cv = data.cv
        problem = LinearProblem(data.X, y, spec, sample_weight=data.weight, cv_groups=data.cv_groups)
        tuning = tuner.tune_problem(problem)
        return tuning.lambda_vector, tuning

    def _default_lam(self, X, y, spec: LinearSpec, sample_weight) -> float:
        """The scale-aware default λ (see :data:`DEFAULT_LAM_DOC`)."""
        penalty = spec.penalty
        if penalty.supports("quadratic_strengths"):
            share = (np.full(X.shape[0], 1.0 / X.shape[0]) if sample_weight is None
                     else sample_weight / np.sum(sample_weight))
            square = X.multiply(X) if sp.issparse(X) else X * X
            var = np.asarray(square.T @ share).ravel()
            var = var - np.asarray(X.T @ share).ravel() ** 2 if spec.fit_intercept else var
            scale = float(np.mean(var))
            return DEFAULT_RIDGE_RATIO * (scale if scale > 0 else 1.0)
        top = lam_max(X, y, spec, sample_weight)
        return DEFAULT_LAM_RATIO * float(np.max(top))

    def _record(self, lam, groups, tuning, dof, result):
        self.lam_, self.groups_, self.tuning_, self.dof_ = lam, groups, tuning, dof
        self.result_ = result
        self.n_iter_ = max(int(result.n_iter), 1)
        if tuning is not None:
            tuning.fitted = self

    def _warm_start(self, train):
        """The previous fit over ``train``'s coefficients when ``warm_start`` (else None)."""
        if not (self.warm_start and hasattr(self, "coef_")) or np.shape(self.coef_) != (train.p,):
            return None
        return train.solution_of(self.coef_, self.intercept_)

    # ------------------------------------------------------------------ reading the fit
    def _coef_blocks(self):
        """(coefficients as a flat vector, Groups over it) for the per-group table."""
        return np.ravel(self.coef_), self.groups_

    def explain(self, as_frame: bool = False):
        """Per-group explanation of the fit: a dict of equal-length lists plus the tuning story,
        or (``as_frame=True``) a pandas DataFrame indexed by group with the story in ``.attrs``.

        Keys: ``group`` (names), ``lam`` (λ_g), ``dof`` (effective degrees of freedom,
        Σ_{j∈g} [H⁻¹∇²F]_jj: nonzeros for a Lasso, Σ s²/(s² + λ) for a ridge; NaN where that takes
        a linear system of more than ``lamina.tuners.linear_implicit.MAX_DOF_SYSTEM`` rows), ``n_nonzero``,
        ``norm`` (‖w_g‖₂), ``switched_off`` (w_g = 0, or pruned by the evidence); and
        ``tuner``, ``cv_score``, ``curve`` (held-out loss along the tuner's steps or grid),
        ``compute`` — None when λ was given.
        """
        check_is_fitted(self)
        coef, groups = self._coef_blocks()
        norms = groups.norms(coef)
        # the evidence prunes a ridge group by α → ∞ (w_g small, not 0); a CV tuner's λ at its upper
        # bound does not make w_g = 0 (that bound is λ_max at x = 0): only the evidence's list counts
        evidence = self.tuning_ is not None and self.tuning_.method == "evidence"
        pruned = set(self.tuning_.info.get("switched_off", [])) if evidence else set()
        table = {
            "group": list(groups.names),
            "lam": [float(v) for v in self.lam_],
            "dof": [float(v) for v in self.dof_],
            "n_nonzero": [int(v) for v in groups.sum(coef != 0)],
            "norm": [float(v) for v in norms],
            "switched_off": [bool(norm == 0 or name in pruned) for name, norm in zip(groups.names, norms)],
            "tuner": None if self.tuning_ is None else self.tuning_.method,
            "cv_score": None if self.tuning_ is None else self.tuning_.info.get("cv_score"),
            "curve": None if self.tuning_ is None else self.tuning_.curve,
            "compute": None if self.tuning_ is None else self.tuning_.compute.as_dict(),
        }
        return explain_frame(table) if as_frame else table


class FitData(NamedTuple):
    """Validated training data: X, y, sample weights (None: equal), folds for ``lam="auto"``."""

    X: object
    y: np.ndarray
    weight: np.ndarray | None
    cv: object
    cv_groups: np.ndarray | None


def _without_rows(cv, keep, n_samples: int):
    """``cv`` after keeping only the rows ``keep``: explicit (train, validation) index pairs
    are renumbered (dropped rows leave them); ints and splitters are unchanged."""
    if cv is None or isinstance(cv, (int, np.integer)) or hasattr(cv, "split"):
        return cv
    new = np.full(n_samples, -1)
    new[keep] = np.arange(keep.size)
    renumbered = []
    for train, val in cv:
        train, val = new[np.asarray(train)], new[np.asarray(val)]
        renumbered.append((train[train >= 0], val[val >= 0]))
    return renumbered


def _warn_cv_groups_unused(lam) -> None:
    """A UserWarning for ``cv_groups`` given with a fixed λ: no folds are made, so the labels have
    no effect (the fit is right without them; scikit-learn warns alike when a splitter ignores its
    ``groups``). A warning, not an error, so that a search over ``lam`` with "auto" among its
    values can route the same ``cv_groups`` to every fit."""
    shown = "lam=None (the scale-aware default)" if lam is None else f"lam={lam!r:.60}"
    warn(f"cv_groups was given with a fixed λ ({shown}): only lam='auto' makes folds, so cv_groups has "
         "no effect here; drop cv_groups, or set lam='auto' to choose λ on folds that keep each group on "
         "one side", UserWarning)


def _is_auto(lam) -> bool:
    return isinstance(lam, str) and lam == "auto"


def _check_numeric_target(y):
    """A regression model's y must hold numbers (class labels belong to LogisticRegression)."""
    values = y if hasattr(y, "dtype") else np.asarray(y)
    kind = values.dtype.kind
    if kind in "USa" or (kind == "O" and any(isinstance(v, (str, bytes)) for v in np.ravel(values))):
        raise ValueError("y must be numeric for a regression model, got strings; for class labels "
                         "use lamina.LogisticRegression")


@contextlib.contextmanager
def _folds_explained(cv):
    """Too few samples for the tuner's folds, told as what ``lam="auto"`` does and what to pass."""
    try:
        yield
    except TooFewSamples as error:
        given = "" if cv is None else f" (cv={cv!r})"
        folds = "a hold-out split" if error.n_folds == 1 else f"{error.n_folds}-fold cross-validation"
        fewer = f"cv= with fewer folds (cv={error.n // 2} fits {error.n} samples) or " if error.n >= 5 else ""
        raise ValueError(f"lam='auto' chooses λ by {folds}{given}, which needs at least {error.needed} "
                         f"samples, got {error.n}; pass {fewer}a number for lam") from None


def _check_lengths(X, y):
    """Our message for X and y of different lengths (before scikit-learn's generic one)."""
    try:
        n_x, n_y = X.shape[0], (len(y) if not hasattr(y, "shape") else y.shape[0])
    except (AttributeError, TypeError, IndexError):
        return
    if n_x != n_y:
        raise ValueError(f"X has {n_x} samples but y has {n_y}; they must match")
