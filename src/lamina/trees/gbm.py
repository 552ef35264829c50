"""scikit-learn estimators of gradient-boosted trees with a λ per tree depth.

``BoostedTreesRegressor`` (squared loss) and ``BoostedTreesClassifier`` (logistic for two
classes, softmax for more) grow depthwise histogram trees (:mod:`lamina.trees.boosting`): the leaves
at depth k get the L2 strength λ_k, so a leaf weight is −G/(H + λ_k); a split is scored by its
loss change Δ (twice the decrease of Σ_j [G_j w_j + ½(H_j + λ_{k_j}) w_j²]), and splits with Δ < γ
are pruned bottom-up after the tree is grown (xgboost's ``gamma``). ``lam`` is a float (xgboost's one
λ: with enough bins the trees are xgboost's ``tree_method="exact"`` trees), one value per depth
(length ``max_depth``), or ``"auto"`` (tuned by ``tuner``, see :mod:`lamina.trees.tuning`).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from lamina._validation import check_finite_array, check_positive_float, check_positive_int
from lamina.trees._binning import apply_bins, as_float32, fit_bins
from lamina.trees.boosting import BoostSpec, Loss, boost, check_depth_lambdas, softmax
from lamina.trees.tuning import make_tuner

#: deepest tree accepted (a tree allocates 2^(max_depth+1) − 1 nodes)
MAX_DEPTH = 16
#: X is checked by scikit-learn's ``validate_data`` (dense, 2-d, finite, real, n_features_in_) and kept
#: in these dtypes (others become float64), then stored as the kernels' float32
_X_DTYPES = (np.float64, np.float32)


class _BoostedTrees(BaseEstimator):
    def __init__(self, n_estimators: int = 100, max_depth: int = 6, learning_rate: float = 0.3, lam=1.0,
                 gamma: float = 0.0, min_child_weight: float = 1.0, max_bins: int = 256, base_score=None,
                 tuner="auto", random_state: int = 0):
        self.n_estimators, self.max_depth, self.learning_rate, self.lam = n_estimators, max_depth, learning_rate, lam
        self.gamma, self.min_child_weight = gamma, min_child_weight
        self.max_bins, self.base_score = max_bins, base_score
        self.tuner, self.random_state = tuner, random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        return tags

    def _spec(self, loss: Loss) -> BoostSpec:
        max_depth = check_positive_int(self.max_depth, "max_depth")
        if max_depth > MAX_DEPTH:
            raise ValueError(f"max_depth must be <= {MAX_DEPTH}, got {max_depth}")
        max_bins = check_positive_int(self.max_bins, "max_bins", minimum=2)
        if max_bins > 256:
            raise ValueError(f"max_bins must be <= 256 (bins are stored as uint8), got {max_bins}")
        return BoostSpec(loss, check_positive_int(self.n_estimators, "n_estimators"), max_depth,
                         check_positive_float(self.learning_rate, "learning_rate"),
                         check_positive_float(self.gamma, "gamma", strict=False),
                         check_positive_float(self.min_child_weight, "min_child_weight", strict=False), max_bins)

    def _fit(self, X, targets, loss: Loss):
        """Fit on X as returned by ``validate_data`` and targets (n,) or one-hot (K, n)."""
        X32 = as_float32(X)
        spec = self._spec(loss)
        base = None if self.base_score is None else self._base_scores(targets)
        self.tuning_ = None
        if isinstance(self.lam, str):
            if self.lam != "auto":
                raise ValueError(f"lam must be a float, one value per depth, or 'auto'; got {self.lam!r}")
            self.tuning_ = make_tuner(self.tuner, seed=self.random_state).tune(X32, targets, spec, base=base)
            lam = self.tuning_.lambda_vector
        else:
            lam = check_depth_lambdas(self.lam, spec.max_depth)
        self.bins_ = fit_bins(X32, spec.max_bins)
        self.ensemble_ = boost(apply_bins(X32, self.bins_), self.bins_, targets, spec, lam, base=base)
        self.lam_ = lam
        return self

    def _raw_predict(self, X) -> np.ndarray:
        check_is_fitted(self, "ensemble_")
        X = validate_data(self, X, dtype=_X_DTYPES, reset=False)
        return self.ensemble_.raw_predict(as_float32(X))

    def _base_scores(self, targets) -> np.ndarray:
        """``base_score`` checked: finite, one value or one per output (class)."""
        base = check_finite_array(np.atleast_1d(self.base_score), "base_score", 1)
        n_outputs = 1 if np.ndim(targets) == 1 else np.shape(targets)[0]
        if base.shape[0] not in (1, n_outputs):
            raise ValueError(f"base_score must be one value or one per class ({n_outputs}), got {base.shape[0]}")
        return np.broadcast_to(base, (n_outputs,)).copy()

    def explain(self) -> dict:
        """λ per depth with what sits at each depth: leaves (summed over trees) and their mean
        |weight| (× learning rate), plus the tuner's name, score and cost when ``lam="auto"``."""
        check_is_fitted(self, "ensemble_")
        e = self.ensemble_
        leaf = e.left < 0
        depths = np.arange(1, self.lam_.shape[0] + 1)
        n_leaves = [int(np.sum(leaf & (np.maximum(e.depth, 1) == k))) for k in depths]
        size = [float(np.mean(np.abs(e.value[leaf & (np.maximum(e.depth, 1) == k)]))) if n else 0.0
                for k, n in zip(depths, n_leaves)]
        tuning = self.tuning_
        return {"depth": depths.tolist(), "lam": self.lam_.tolist(), "n_leaves": n_leaves, "mean_abs_leaf": size,
                "tuner": None if tuning is None else tuning.method,
                "cv_score": None if tuning is None else tuning.info.get("cv_score"),
                "compute": None if tuning is None else tuning.compute.as_dict()}


_PARAMETERS = """
    Parameters
    ----------
    n_estimators : int
        Boosting rounds.
    max_depth : int
        Depth of every tree (depthwise growth, at most 16).
    learning_rate : float
        η: each tree adds η times its leaf weights.
    lam : float, array (max_depth,) or "auto"
        λ_1 … λ_D, the L2 strength of the leaves at depth k = 1 … max_depth (a scalar: the same
        at every depth, as xgboost's ``reg_lambda``); "auto" tunes them with ``tuner``.
    gamma : float
        γ ≥ 0, xgboost's ``gamma`` (``min_split_loss``): after a tree is grown, a split whose two
        children are leaves and whose loss change Δ = G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ) is
        below γ becomes a leaf, bottom-up (:mod:`lamina.trees.boosting`).
    min_child_weight : float
        Smallest sum of hessians in a child (squared loss: rows).
    max_bins : int
        At most 256 bins per feature (stored as uint8); a feature with fewer distinct values gets
        one bin per value, and splits sit where xgboost's exact method puts them.
    base_score : float or array (K,), optional
        Initial scores; default the mean of y, the log-odds of the positive class, or the log
        class frequencies.
    tuner : str or TreeTuner
        Tuner of ``lam="auto"``: "auto" (= "hypergradient"), "hypergradient", "cv", "optuna",
        or an instance from :mod:`lamina.trees.tuning`.
    random_state : int
        Seed of the tuner's folds and sampler (the fit itself is deterministic).

    Attributes
    ----------
    lam_ : ndarray (max_depth,)
        λ per depth used for the fit.
    ensemble_ : lamina.trees.boosting.Ensemble
        The trees.
    bins_ : lamina.trees._binning.Bins
    tuning_ : TuneResult or None
        The tuner's answer when ``lam="auto"``.
"""


class BoostedTreesRegressor(RegressorMixin, _BoostedTrees):
    __doc__ = """Gradient-boosted trees for regression (squared loss) with a λ per tree depth.
    """ + _PARAMETERS + """
    Examples
    --------
    >>> import numpy as np
    >>> from lamina.trees import BoostedTreesRegressor
    >>> X = np.random.default_rng(0).standard_normal((200, 3)); y = X[:, 0] ** 2
    >>> model = BoostedTreesRegressor(n_estimators=20, max_depth=3, lam=[1.0, 2.0, 4.0]).fit(X, y)
    >>> model.predict(X).shape
    (200,)
    """

    def fit(self, X, y):
        """Fit the trees on X (n, p) and y (n,); returns self."""
        X, y = validate_data(self, X, y, dtype=_X_DTYPES, y_numeric=True)
        return self._fit(X, np.asarray(y, dtype=np.float64), Loss.SQUARED)

    def predict(self, X) -> np.ndarray:
        """Predictions (n,)."""
        return self._raw_predict(X)[0]


class BoostedTreesClassifier(ClassifierMixin, _BoostedTrees):
    __doc__ = """Gradient-boosted trees for classification with a λ per tree depth: logistic loss for
    two classes, softmax (one tree per class and round) for more.
    """ + _PARAMETERS + """    classes_ : ndarray
        The labels.
    """

    def fit(self, X, y):
        """Fit the trees on X (n, p) and labels y (n,); returns self."""
        X, y = validate_data(self, X, y, dtype=_X_DTYPES)
        check_classification_targets(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if self.classes_.shape[0] < 2:
            raise ValueError(f"y must hold at least two classes, got 1 class ({self.classes_[0]!r})")
        if self.classes_.shape[0] == 2:
            return self._fit(X, codes.astype(np.float64), Loss.LOGISTIC)
        onehot = np.zeros((self.classes_.shape[0], codes.shape[0]))
        onehot[codes, np.arange(codes.shape[0])] = 1.0
        return self._fit(X, onehot, Loss.SOFTMAX)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, n_classes)."""
        scores = self._raw_predict(X)
        if scores.shape[0] == 1:
            p = 1.0 / (1.0 + np.exp(-scores[0]))
            return np.column_stack([1.0 - p, p])
        return softmax(scores).T

    def predict(self, X) -> np.ndarray:
        """Most probable class of each row."""
        best = np.argmax(self.predict_proba(X), axis=1)    # before classes_: unfitted → NotFittedError
        return self.classes_[best]
