"""Training sets and folds for the linear tuners: data prepared once, refitted at many λ.

A :class:`LinearSpec` says *what* is fitted (penalty with its factors, groups, loss,
intercept); a :class:`TrainingSet` holds one training sample prepared for repeated fits —
with an intercept and squared loss, X is centered when dense (or sparse and small,
``DENSE_INTERCEPT_SIZE``); for the logistic losses and for large sparse X a column of ones is
appended as an unpenalized group of its own — and keeps the last solution as the next warm
start.

Sample weights s_i (normalized to mean 1, so that integer weights equal repeated rows) turn the
mean loss into Σ s_i loss_i / n: for squared loss the rows (after weighted centering) are
scaled by √s_i, for the logistic losses the solvers weight each sample's loss.

Multinomial (``Loss.MULTINOMIAL``, y = class codes 0..K−1): coefficients W of shape (p, K)
flattened in C order, ``spec.groups`` over the p·K coefficients (a feature group spans every
class, :func:`lamina.solvers.multinomial.class_groups`), one unpenalized intercept per class.

Scaling: tuners and estimators speak scikit-learn's λ (objective 1/n Σ loss + Σ_g λ_g R);
the solvers receive n·λ (objective Σ loss + Σ_g n λ_g R), with n the size of *this* sample.
"""
from __future__ import annotations

import functools

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from lamina.api import solve
from lamina.groups import Groups
from lamina.penalties import Penalty
from lamina.solvers.base import ConvergenceWarning
from lamina.solvers.logistic import logistic_regression
from lamina.solvers.multinomial import multinomial_regression
from lamina.solvers.multinomial_lbfgs import is_smooth, multinomial_lbfgs
from lamina.solvers.multinomial_gap import relative_gap
from lamina.solvers.multinomial_newton import multinomial_newton, newton_fits
from lamina.solvers.ridge import RidgeFactorization
from lamina.tuners.linear_losses import Loss, mean_loss, sample_gradient
from lamina.tuners.splits import cv_splits
from lamina.tuners.splits import kfold_indices  # noqa: F401 (re-exported: tests/test_linear_tuning.py, tests/test_properties.py)


@dataclass(frozen=True)
class LinearSpec:
    """What a linear tuner fits: penalty (with its factors), groups, loss, intercept, tolerance."""

    penalty: Penalty
    groups: Groups
    fit_intercept: bool = True
    loss: Loss = Loss.SQUARED
    tol: float = 1e-6
    max_iter: int | None = None
    n_classes: int = 1          # K of the multinomial loss (groups then cover p·K coefficients)

    @property
    def is_ridge(self) -> bool:
        """Whether the penalty is quadratic (provides ``quadratic_strengths``)."""
        return self.penalty.supports("quadratic_strengths")


def with_intercept_group(groups: Groups, size: int = 1) -> Groups:
    """The same groups over ``size`` more coefficients, the intercept(s), in a group of their own."""
    return Groups(np.append(groups.labels, np.full(size, groups.n_groups)), groups.names + ("intercept",))


def _with_intercept_penalty(penalty: Penalty, size: int = 1) -> Penalty:
    """The same penalty over ``size`` more coefficients (the intercepts, whose λ is always 0)."""
    if penalty.weights is None:
        return penalty
    params = dict(penalty.get_params())
    params["weights"] = np.append(penalty.weights, np.ones(size if penalty.separable else 1))
    return type(penalty)(**params)


#: sparse X, squared loss with an intercept, at most this many entries n·p (8 MB): centered densely; the
#: ones column of the augmented sparse form is nearly collinear with uncentered nonnegative
#: columns, which leaves the intercept determined to about 1e-5 (relative) when the duality gap
#: is already 1e-25 (measured on 15 × 30 uniform data)
DENSE_INTERCEPT_SIZE = 1_000_000


class TrainingSet:
    """One training sample prepared for fits at many λ, warm-started from the last one.

    Parameters
    ----------
    X : ndarray or sparse, shape (n, p)
    y : ndarray, shape (n,)
    spec : LinearSpec
    sample_weight : ndarray, shape (n,), optional
        Weights s_i ≥ 0 (normalized here to mean 1).

    Attributes
    ----------
    A, b : the design and target the solver sees (centered, or with a ones column; rows scaled
        by √s for squared loss)
    groups, penalty : partition and penalty over A's coefficients
    sample_weight : weights the logistic solvers apply (None: none, or folded into A)
    x : last solution over A's coefficients (None before the first fit)
    n_fits, n_iter : fits done and solver iterations summed over them
    """

    def __init__(self, X, y, spec: LinearSpec, sample_weight=None):
        n, p = X.shape
        weight = None if sample_weight is None else np.asarray(sample_weight, float) * (n / np.sum(sample_weight))
        center = spec.fit_intercept and spec.loss is Loss.SQUARED
        if center and sp.issparse(X) and n * p <= DENSE_INTERCEPT_SIZE:
            X = X.toarray()
        x_mean, y_mean = np.zeros(p), 0.0
        if center and not sp.issparse(X):
            x_mean = np.asarray(X.mean(axis=0) if weight is None else weight @ X / n).ravel()
            X = np.subtract(X, x_mean, order="F")   # column-major: what coordinate descent reads
        augmented = spec.fit_intercept and (spec.loss is not Loss.SQUARED or sp.issparse(X))
        if augmented:
            ones = np.ones((n, 1))
            X = sp.hstack([X, sp.csc_matrix(ones)], format="csc") if sp.issparse(X) else np.hstack([X, ones])
        elif spec.fit_intercept:
            y_mean = float(np.mean(y) if weight is None else weight @ y / n)
            y = y - y_mean
        if weight is not None and spec.loss is Loss.SQUARED:
            root = np.sqrt(weight)
            X = sp.diags(root) @ X if sp.issparse(X) else X * root[:, None]
            y, weight = root * y, None
        self._prepare(spec, X, y, augmented, x_mean, y_mean, weight)

    @classmethod
    def from_prepared(cls, spec: LinearSpec, A, b, augmented: bool) -> "TrainingSet":
        """A training set over a design already prepared as the solver sees it (centered, or
        with its ones column when ``augmented``), e.g. to differentiate a fit made elsewhere."""
        train = cls.__new__(cls)
        train._prepare(spec, A, b, augmented, np.zeros(A.shape[1] - int(augmented)), 0.0)
        return train

    def _prepare(self, spec, A, b, augmented, x_mean, y_mean, sample_weight=None):
        self.spec, self.augmented = spec, augmented
        self.n, self.p = A.shape[0], spec.groups.n_features
        self.n_classes = spec.n_classes if spec.loss is Loss.MULTINOMIAL else 1
        self.x_mean, self.y_mean = x_mean, y_mean
        self.sample_weight = sample_weight
        if augmented:
            self.groups = with_intercept_group(spec.groups, self.n_classes)
            self.penalty = _with_intercept_penalty(spec.penalty, self.n_classes)
        else:
            self.groups, self.penalty = spec.groups, spec.penalty
        self.A, self.b = A, np.asarray(b, dtype=np.float64)
        self.x, self.result = None, None
        self.n_fits, self.n_iter, self.n_unconverged = 0, 0, 0
        self._ridge = None

    # ------------------------------------------------------------------ fitting
    def full_lam(self, lam) -> np.ndarray:
        """λ over A's groups (the intercept group, if any, gets 0)."""
        lam = np.asarray(lam, dtype=np.float64)
        return np.append(lam, 0.0) if self.augmented else lam

    def fit(self, lam) -> np.ndarray:
        """Solve at λ (scikit-learn scale, one per group), warm-started; returns x over A.

        Tuners visit extreme λ on purpose; a fit that ends unconverged is counted in
        ``n_unconverged`` instead of raising a warning each time.
        """
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            x = self._fit(lam)
        self.n_unconverged += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
        for w in caught:
            if not issubclass(w.category, ConvergenceWarning):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        return x

    def _fit(self, lam) -> np.ndarray:
        solver_lam = self.n * self.full_lam(lam)
        budget = {} if self.spec.max_iter is None else {"max_iter": self.spec.max_iter}
        if self.spec.loss is Loss.LOGISTIC:
            result = logistic_regression(self.A, self.b, self.penalty, solver_lam, self.groups,
                                         x0=self.x, tol=self.spec.tol, sample_weight=self.sample_weight,
                                         intercept=self.augmented, **budget)
            self.x, n_iter, self.result = result.x, result.n_iter, result
        elif self.spec.loss is Loss.MULTINOMIAL:
            newton = newton_fits(self.A, self.n_classes) and not sp.issparse(self.A)
            solver, design = multinomial_regression, self.A
            if newton:
                solver = multinomial_lbfgs if is_smooth(self.penalty, solver_lam, self.groups) else multinomial_newton
            result = solver(design, self.b, self.n_classes, self.penalty, solver_lam, self.groups, x0=self.x,
                            tol=self.spec.tol, sample_weight=self.sample_weight,
                            **({"intercept": self.augmented} if newton else {}), **budget)
            if not newton and newton_fits(self.A, self.n_classes) and relative_gap(
                    self.A, self.b, self.n_classes, self.penalty, solver_lam, self.groups, result.x,
                    self.sample_weight) > self.spec.tol:
                # a sparse design: proximal gradient's stop (the violation) left the objective
                # uncertified — nearly separable data at a small λ (3e-5 above the optimum at
                # λ = 1e-5, L1); Newton finishes from there on the design densified once
                result = multinomial_newton(self._dense_design(), self.b, self.n_classes, self.penalty, solver_lam,
                                            self.groups, x0=result.x, tol=self.spec.tol,
                                            sample_weight=self.sample_weight, intercept=self.augmented, **budget)
            self.x, n_iter, self.result = result.x, result.n_iter, result
        elif self.spec.is_ridge and not sp.issparse(self.A):
            self.x, n_iter = self._ridge_solve(solver_lam), 1
        else:
            result = solve(self.A, self.b, self.penalty, solver_lam, self.groups, tol=self.spec.tol,
                           max_iter=self.spec.max_iter, x0=self.x)
            self.x, n_iter, self.result = result.x, result.n_iter, result
        self.n_fits += 1
        self.n_iter += n_iter
        return self.x

    def _dense_design(self):
        """A as a dense array (kept: the tuners refit the same design many times)."""
        if not sp.issparse(self.A):
            return self.A
        if getattr(self, "_dense", None) is None:
            self._dense = self.A.toarray()
        return self._dense

    def _ridge_solve(self, solver_lam):
        if self._ridge is None:
            self._ridge = RidgeFactorization(self.A, self.b)
        return self._ridge.solve(self.ridge_strengths(solver_lam))

    def ridge_strengths(self, solver_lam) -> np.ndarray:
        """c_j of ½Σ c_j x_j² for the solver-scale λ (pure L2)."""
        return self.penalty.quadratic_strengths(solver_lam, self.groups)

    # ------------------------------------------------------------------ reading a solution
    def coef_intercept(self, x) -> tuple[np.ndarray, float]:
        """(coef over the p features, intercept) of a solution x over A's columns; for the
        multinomial loss (coef of shape (p, K), intercepts of shape (K,))."""
        if self.n_classes > 1:
            W = x.reshape(-1, self.n_classes)
            return (W[:-1], W[-1] - self.x_mean @ W[:-1]) if self.augmented else (W, np.zeros(self.n_classes))
        if self.augmented:
            return x[: self.p], float(x[self.p] - self.x_mean @ x[: self.p])
        if self.spec.fit_intercept:
            return x, float(self.y_mean - self.x_mean @ x)
        return x, 0.0

    def solution_of(self, coef, intercept) -> np.ndarray:
        """x over A's coefficients of a model (coef, intercept) — the inverse of
        :meth:`coef_intercept` (for warm starts)."""
        coef = np.asarray(coef, dtype=np.float64)
        if not self.augmented:
            return coef.ravel().copy()
        last = np.asarray(intercept, dtype=np.float64) + self.x_mean @ coef
        return np.vstack([coef, last[None]]).ravel() if coef.ndim == 2 else np.append(coef, last)

    def scores(self, X, x) -> np.ndarray:
        """Xw + w₀ for new rows X."""
        coef, intercept = self.coef_intercept(x)
        z = np.asarray(X @ coef)
        return (z.ravel() if coef.ndim == 1 else z) + intercept

    def gradient(self, x) -> np.ndarray:
        """∇ of Σ_i s_i loss_i (solver scale) over A's coefficients at x (flattened)."""
        z = np.asarray(self.A @ (x.reshape(-1, self.n_classes) if self.n_classes > 1 else x))
        residual = sample_gradient(self.spec.loss, self.b, z if self.n_classes > 1 else z.ravel())
        if self.sample_weight is not None:
            residual = residual * (self.sample_weight[:, None] if residual.ndim == 2 else self.sample_weight)
        return np.asarray(self.A.T @ residual).ravel()

    def validation_design(self, X):
        """V with scores = V x + offset for new rows X (so that d scores / dx = V)."""
        if self.augmented:
            ones = np.ones((X.shape[0], 1))
            if sp.issparse(X) and sp.issparse(self.A):
                return sp.hstack([X, sp.csc_matrix(ones)], format="csc"), 0.0
            return np.hstack([(X.toarray() if sp.issparse(X) else X) - self.x_mean, ones]), 0.0
        if self.spec.fit_intercept:
            return (X.toarray() if sp.issparse(X) else X) - self.x_mean, self.y_mean
        return X, 0.0


def blas_threads(X):
    """Context limiting BLAS to one thread on small problems (n·p ≤ 10⁶).

    Many small factorizations with two OpenBLAS threads on shared cores run up to 100× slower
    than with one (measured: 11 ms against 0.1 ms for a 60×60 Cholesky solve under load).
    """
    from contextlib import nullcontext

    if X.shape[0] * X.shape[1] <= 1_000_000:
        return _threadpools().limit(limits=1, user_api="blas")
    return nullcontext()


@functools.lru_cache(maxsize=1)
def _threadpools():
    """threadpoolctl's view of the loaded BLAS libraries, made once: building it reads
    /proc/self/maps (about 4 ms, as long as a small Lasso fit)."""
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


@dataclass
class Fold:
    """A training set and the validation rows it is scored on."""

    train: TrainingSet
    X_val: object
    y_val: np.ndarray
    weight: np.ndarray | None = None      # sample weights of the validation rows

    @property
    def size(self) -> float:
        """Weight of the fold in means over folds: its validation rows (or their weights)."""
        return float(self.y_val.shape[0] if self.weight is None else np.sum(self.weight))

    def validation_loss(self, x) -> float:
        return mean_loss(self.train.spec.loss, self.y_val, self.train.scores(self.X_val, x), self.weight)


def _rows(X, index):
    return X[index] if not sp.issparse(X) else sp.csr_matrix(X)[index].tocsc()


def make_folds(X, y, spec: LinearSpec, cv, seed: int = 0, cv_groups=None, sample_weight=None) -> list[Fold]:
    """One :class:`Fold` per (train, validation) split of :func:`cv_splits`; with
    ``sample_weight``, each side keeps its rows' weights (the held-out loss is weighted)."""
    folds = []
    w = sample_weight
    for train, val in cv_splits(X, y, cv, seed, cv_groups, classifier=spec.loss is not Loss.SQUARED):
        training = TrainingSet(_rows(X, train), y[train], spec, None if w is None else w[train])
        folds.append(Fold(training, _rows(X, val), y[val], None if w is None else w[val]))
    return folds


def lam_max(X, y, spec: LinearSpec, sample_weight=None) -> np.ndarray:
    """λ_max per group (scikit-learn scale): the smallest λ_g that switches group g off alone.

    For penalties without one (pure L2) the scale ‖Xᵀy‖∞ / n of the data is returned, so that
    grids and bounds have the same meaning for every penalty.
    """
    data = TrainingSet(X, y, spec, sample_weight)
    x0 = np.zeros(data.A.shape[1] * data.n_classes)
    weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
    if data.augmented and spec.loss is Loss.SQUARED:
        x0[-1] = float(weight @ y / np.sum(weight))
    if spec.loss is Loss.LOGISTIC and data.augmented:
        mean = np.clip(weight @ y / np.sum(weight), 1e-6, 1 - 1e-6)
        x0[-1] = np.log(mean / (1 - mean))
    if spec.loss is Loss.MULTINOMIAL and data.augmented:
        share = np.bincount(np.asarray(y, np.int64), weights=weight, minlength=spec.n_classes) / np.sum(weight)
        x0[-spec.n_classes:] = np.log(np.clip(share, 1e-12, None))
    thresholds, grad = _thresholds_and_gradient(data, x0)
    return _floor(thresholds, grad, data.n)


def entry_thresholds(train: TrainingSet, x) -> np.ndarray:
    """Per group (scikit-learn scale), the λ_g below which a group that is zero in the
    solution x enters it, the others held: by the optimality conditions at x_g = 0,
        λ_g < ‖∇_g F(x)‖_* / n,
    with ‖·‖_* the dual norm of the group's penalty (``penalty.entry_thresholds``: max |·|/(ρ w_j)
    for the elastic-net family, ‖·‖₂/c_g for group L1). Meaningful for penalties with an L1
    part (a pure L2 keeps every group nonzero; the same ratio is then only a scale, as in
    :func:`lam_max`)."""
    return _thresholds_and_gradient(train, x)[0]


def _thresholds_and_gradient(data: TrainingSet, x) -> tuple[np.ndarray, np.ndarray]:
    spec = data.spec
    grad = data.gradient(x)[: data.p]
    return spec.penalty.entry_thresholds(grad, spec.groups) / data.n, grad


def _floor(values, grad, n):
    """Replace zeros (unpenalized groups, zero data) by the overall scale so logs stay finite."""
    scale = max(float(np.max(np.abs(grad))) / n, 1e-12)
    return np.where(values > 0, values, scale)
