"""Training sets and folds for the linear tuners: data prepared once, refitted at many λ.

A :class:`LinearSpec` says *what* is fitted (penalty with its factors, groups, loss,
intercept); a :class:`TrainingSet` holds one training sample prepared for repeated fits —
centered when the loss is squared and X dense, otherwise with a column of ones appended as an
unpenalized group of its own — and keeps the last solution as the next warm start.

Scaling: tuners and estimators speak scikit-learn's λ (objective 1/n Σ loss + Σ_g λ_g R);
the solvers receive n·λ (objective Σ loss + Σ_g n λ_g R), with n the size of *this* sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import scipy.sparse as sp

from lamina.groups import Groups
from lamina.penalties import L2, ElasticNet, GroupL1, Penalty


class Loss(str, Enum):
    """Data fits the linear tuners know: squared error (regression) and logistic (y ∈ {0, 1})."""

    SQUARED = "squared"
    LOGISTIC = "logistic"


@dataclass(frozen=True)
class LinearSpec:
    """What a linear tuner fits: penalty (with its factors), groups, loss, intercept, tolerance."""

    penalty: Penalty
    groups: Groups
    fit_intercept: bool = True
    loss: Loss = Loss.SQUARED
    tol: float = 1e-6
    max_iter: int | None = None

    @property
    def is_ridge(self) -> bool:
        return isinstance(self.penalty, ElasticNet) and self.penalty.l1_ratio == 0.0


def with_intercept_group(groups: Groups) -> Groups:
    """The same groups over one more coefficient, the intercept, in a group of its own."""
    return Groups(np.append(groups.labels, groups.n_groups), groups.names + ("intercept",))


def _with_intercept_penalty(penalty: Penalty) -> Penalty:
    """The same penalty over one more coefficient (the intercept, whose λ is always 0)."""
    if penalty.weights is None:
        return penalty
    params = dict(penalty.get_params())
    params["weights"] = np.append(penalty.weights, 1.0)
    return type(penalty)(**params)


def mean_loss(loss: Loss, y, z) -> float:
    """Mean squared error mean((y − z)²) or mean logistic loss of scores z."""
    if loss is Loss.SQUARED:
        return float(np.mean((y - z) ** 2))
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def loss_gradient(loss: Loss, y, z) -> np.ndarray:
    """d mean_loss / dz, shape (n,)."""
    if loss is Loss.SQUARED:
        return 2.0 * (z - y) / y.shape[0]
    return (_sigmoid(z) - y) / y.shape[0]


def _sample_gradient(loss: Loss, y, z) -> np.ndarray:
    """d (Σ loss) / dz in the solver's scale: z − y (½ squared error) or σ(z) − y."""
    return z - y if loss is Loss.SQUARED else _sigmoid(z) - y


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class TrainingSet:
    """One training sample prepared for fits at many λ, warm-started from the last one.

    Parameters
    ----------
    X : ndarray or sparse, shape (n, p)
    y : ndarray, shape (n,)
    spec : LinearSpec

    Attributes
    ----------
    A, b : the design and target the solver sees (centered, or with a ones column)
    groups, penalty : partition and penalty over A's columns
    x : last solution over A's columns (None before the first fit)
    n_fits, n_iter : fits done and solver iterations summed over them
    """

    def __init__(self, X, y, spec: LinearSpec):
        n, p = X.shape
        x_mean, y_mean = np.zeros(p), 0.0
        augmented = spec.fit_intercept and (spec.loss is Loss.LOGISTIC or sp.issparse(X))
        if augmented:
            ones = np.ones((n, 1))
            X = sp.hstack([X, sp.csc_matrix(ones)], format="csc") if sp.issparse(X) else np.hstack([X, ones])
        elif spec.fit_intercept:
            x_mean, y_mean = np.asarray(X.mean(axis=0)).ravel(), float(np.mean(y))
            X, y = X - x_mean, y - y_mean
        self._prepare(spec, X, y, augmented, x_mean, y_mean)

    @classmethod
    def from_prepared(cls, spec: LinearSpec, A, b, augmented: bool) -> "TrainingSet":
        """A training set over a design already prepared as the solver sees it (centered, or
        with its ones column when ``augmented``), e.g. to differentiate a fit made elsewhere."""
        train = cls.__new__(cls)
        train._prepare(spec, A, b, augmented, np.zeros(spec.groups.n_features), 0.0)
        return train

    def _prepare(self, spec, A, b, augmented, x_mean, y_mean):
        self.spec, self.augmented = spec, augmented
        self.n, self.p = A.shape[0], spec.groups.n_features
        self.x_mean, self.y_mean = x_mean, y_mean
        if augmented:
            self.groups = with_intercept_group(spec.groups)
            self.penalty = _with_intercept_penalty(spec.penalty)
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

        from lamina.solvers.base import ConvergenceWarning
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
        if self.spec.loss is Loss.LOGISTIC:
            from lamina.solvers.logistic import logistic_regression
            result = logistic_regression(self.A, self.b, self.penalty, solver_lam, self.groups,
                                         x0=self.x, tol=self.spec.tol,
                                         **({} if self.spec.max_iter is None else {"max_iter": self.spec.max_iter}))
            self.x, n_iter, self.result = result.x, result.n_iter, result
        elif self.spec.is_ridge and not sp.issparse(self.A):
            self.x, n_iter = self._ridge_solve(solver_lam), 1
        else:
            from lamina.api import solve
            result = solve(self.A, self.b, self.penalty, solver_lam, self.groups, tol=self.spec.tol,
                           max_iter=self.spec.max_iter, x0=self.x)
            self.x, n_iter, self.result = result.x, result.n_iter, result
        self.n_fits += 1
        self.n_iter += n_iter
        return self.x

    def _ridge_solve(self, solver_lam):
        from lamina.solvers.ridge import RidgeFactorization
        if self._ridge is None:
            self._ridge = RidgeFactorization(self.A, self.b)
        return self._ridge.solve(self.ridge_strengths(solver_lam))

    def ridge_strengths(self, solver_lam) -> np.ndarray:
        """c_j of ½Σ c_j x_j² for the solver-scale λ (pure L2)."""
        return L2(self.penalty.weights).split(solver_lam, self.groups)[1]

    # ------------------------------------------------------------------ reading a solution
    def coef_intercept(self, x) -> tuple[np.ndarray, float]:
        """(coef over the p features, intercept) of a solution x over A's columns."""
        if self.augmented:
            return x[: self.p], float(x[self.p])
        if self.spec.fit_intercept:
            return x, float(self.y_mean - self.x_mean @ x)
        return x, 0.0

    def scores(self, X, x) -> np.ndarray:
        """Xw + w₀ for new rows X."""
        coef, intercept = self.coef_intercept(x)
        return np.asarray(X @ coef).ravel() + intercept

    def validation_design(self, X):
        """V with scores = V x + offset for new rows X (so that d scores / dx = V)."""
        if self.augmented:
            ones = np.ones((X.shape[0], 1))
            return (sp.hstack([X, sp.csc_matrix(ones)], format="csc") if sp.issparse(X)
                    else np.hstack([X, ones])), 0.0
        if self.spec.fit_intercept:
            return (X.toarray() if sp.issparse(X) else X) - self.x_mean, self.y_mean
        return X, 0.0


def blas_threads(X):
    """Context limiting BLAS to one thread on small problems (n·p ≤ 10⁶).

    Many small factorizations with two OpenBLAS threads on shared cores run up to 100× slower
    than with one (measured: 11 ms against 0.1 ms for a 60×60 Cholesky solve under load).
    """
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits
    if X.shape[0] * X.shape[1] <= 1_000_000:
        return threadpool_limits(limits=1, user_api="blas")
    return nullcontext()


def kfold_indices(n: int, n_folds: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) index pairs of a shuffled K-fold split; n_folds=1 is a 80/20 hold-out."""
    if isinstance(n_folds, bool) or not isinstance(n_folds, (int, np.integer)) or n_folds < 1:
        raise ValueError(f"cv must be an integer >= 1 (1 = one 80/20 hold-out split), got {n_folds!r}")
    if n < max(2 * n_folds, 5):
        raise ValueError(f"cv={n_folds} needs at least {max(2 * n_folds, 5)} samples, got {n}")
    order = np.random.default_rng(seed).permutation(n)
    if n_folds == 1:
        cut = int(round(0.8 * n))
        return [(np.sort(order[:cut]), np.sort(order[cut:]))]
    chunks = np.array_split(order, n_folds)
    return [(np.sort(np.concatenate(chunks[:k] + chunks[k + 1:])), np.sort(chunks[k]))
            for k in range(n_folds)]


@dataclass
class Fold:
    """A training set and the validation rows it is scored on."""

    train: TrainingSet
    X_val: object
    y_val: np.ndarray

    def validation_loss(self, x) -> float:
        return mean_loss(self.train.spec.loss, self.y_val, self.train.scores(self.X_val, x))


def _rows(X, index):
    return X[index] if not sp.issparse(X) else sp.csr_matrix(X)[index].tocsc()


def make_folds(X, y, spec: LinearSpec, cv: int, seed: int = 0) -> list[Fold]:
    """One :class:`Fold` per (train, validation) split of :func:`kfold_indices`."""
    folds = []
    for train, val in kfold_indices(X.shape[0], cv, seed):
        folds.append(Fold(TrainingSet(_rows(X, train), y[train], spec), _rows(X, val), y[val]))
    return folds


def lam_max(X, y, spec: LinearSpec) -> np.ndarray:
    """λ_max per group (scikit-learn scale): the smallest λ_g that switches group g off alone.

    For penalties without one (pure L2) the scale ‖Xᵀy‖∞ / n of the data is returned, so that
    grids and bounds have the same meaning for every penalty.
    """
    data = TrainingSet(X, y, spec)
    x0 = np.zeros(data.A.shape[1])
    if data.augmented and spec.loss is Loss.SQUARED:
        x0[-1] = float(np.mean(y))
    if spec.loss is Loss.LOGISTIC and data.augmented:
        mean = np.clip(np.mean(y), 1e-6, 1 - 1e-6)
        x0[-1] = np.log(mean / (1 - mean))
    thresholds, grad = _thresholds_and_gradient(data, x0)
    return _floor(thresholds, grad, data.n)


def entry_thresholds(train: TrainingSet, x) -> np.ndarray:
    """Per group (scikit-learn scale), the λ_g below which a group that is zero in the
    solution x enters it, the others held: by the optimality conditions at x_g = 0,
        λ_g < ‖∇_g F(x)‖_* / n,
    with ‖·‖_* the dual norm of the group's penalty (max |·|/(ρ w_j) for the elastic-net
    family, ‖·‖₂/c_g for group L1). Meaningful for penalties with an L1 part (a pure L2
    keeps every group nonzero; the same ratio is then only a scale, as in :func:`lam_max`)."""
    return _thresholds_and_gradient(train, x)[0]


def _thresholds_and_gradient(data: TrainingSet, x) -> tuple[np.ndarray, np.ndarray]:
    spec = data.spec
    z = np.asarray(data.A @ x).ravel()
    grad = np.asarray(data.A.T @ _sample_gradient(spec.loss, data.b, z)).ravel()[: data.p]
    groups = spec.groups
    penalty = spec.penalty
    if isinstance(penalty, GroupL1):
        factors = penalty.factors(groups.n_groups)
        norms = groups.norms(grad)
        return np.where(factors > 0, norms / np.maximum(factors, 1e-300), 0.0) / data.n, grad
    share = penalty.l1_ratio if isinstance(penalty, ElasticNet) and penalty.l1_ratio > 0 else 1.0
    factors_per_coef = penalty.factors(groups.n_features) * share
    ratios = np.where(factors_per_coef > 0, np.abs(grad) / np.maximum(factors_per_coef, 1e-300), 0.0)
    out = np.zeros(groups.n_groups)
    np.maximum.at(out, groups.labels, ratios)
    return out / data.n, grad


def _floor(values, grad, n):
    """Replace zeros (unpenalized groups, zero data) by the overall scale so logs stay finite."""
    scale = max(float(np.max(np.abs(grad))) / n, 1e-12)
    return np.where(values > 0, values, scale)
