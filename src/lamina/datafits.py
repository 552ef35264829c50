"""Data-fit terms F(x) = f(Ax) beside the penalties: least squares, logistic, multinomial.

A datafit holds the design A (an ndarray, a scipy.sparse matrix, a scipy ``LinearOperator``
or a PyLops operator; validated unless ``check_input=False``, for callers that already did)
and the targets; f acts on the linear predictor u = Ax and is a sum
over rows. Solvers keep the products u = Ax they already computed and ask the datafit for

value_at(u) -> float
    f(u).
raw_gradient(u) -> ndarray
    ∇f(u); the gradient in x is Aᵀ∇f(u) (:meth:`Datafit.gradient`).
bregman(u_new, u_old) -> float
    f(u_new) − f(u_old) − ⟨∇f(u_old), u_new − u_old⟩ ≥ 0, the quantity a descent test on the
    step bounds by L/2 ‖x_new − x_old‖² (exact, without cancellation, for least squares).
curvature
    A bound on ‖∇²f‖₂: the Lipschitz constant of ∇F is at most curvature · ‖A‖₂².

:meth:`Datafit.lipschitz` gives that bound with ‖A‖₂ from scipy's ARPACK (``svds``) or, for
small dense matrices, LAPACK; :meth:`Datafit.lipschitz_estimate` a cheap lower bound by power
iteration, for solvers that back-track anyway. Same conventions as skglm's datafits (value,
raw gradient, Lipschitz), with sums rather than means, as ``lamina.solve`` minimizes
½‖Ax − b‖² + Σ_g λ_g R(x_g).
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from scipy.sparse.linalg import aslinearoperator, svds

from lamina._validation import check_finite_array, check_positive_int
from lamina.operators import as_forward_model, is_explicit, matvec, rmatvec, squared_norm_estimate

#: dense matrices up to this many entries get ‖A‖₂ from a full LAPACK SVD, larger ones from ARPACK
_DENSE_SVD_SIZE = 250_000


def spectral_norm2(A) -> float:
    """‖A‖₂² (largest squared singular value) of a matrix or operator."""
    if isinstance(A, np.ndarray) and A.size <= _DENSE_SVD_SIZE:
        return float(np.linalg.norm(A, 2) ** 2) if A.size else 0.0
    if A.shape[1] == 1:   # ARPACK needs k < min(shape); a single column or row is its own norm
        column = matvec(A, np.ones(1))
        return float(np.dot(column, column))
    if A.shape[0] == 1:
        row = rmatvec(A, np.ones(1))
        return float(np.dot(row, row))
    sigma = svds(aslinearoperator(A), k=1, return_singular_vectors=False, random_state=0)
    return float(sigma[0] ** 2)


def _weights(sample_weight, n_rows: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n_rows)
    weight = check_finite_array(sample_weight, "sample_weight", ndim=1)
    if weight.shape != (n_rows,) or np.any(weight < 0):
        raise ValueError(f"sample_weight must hold {n_rows} non-negative values (one per row of A), "
                         f"got shape {weight.shape}")
    return weight


class Datafit(ABC):
    """F(x) = f(Ax); see the module docstring for the contract."""

    name = "datafit"
    #: whether f is ½‖u − b‖² (solvers may then use its dual and exact line searches)
    quadratic = False
    #: columns of the coefficient matrix (1: x is a vector)
    n_outputs = 1

    def __init__(self, A, check_input: bool = True):
        self.A = as_forward_model(A) if check_input else A

    @property
    def n_features(self) -> int:
        """Number of coefficients, A's columns times the outputs."""
        return self.A.shape[1] * self.n_outputs

    @property
    @abstractmethod
    def curvature(self) -> float: ...

    @abstractmethod
    def value_at(self, u) -> float: ...

    @abstractmethod
    def raw_gradient(self, u) -> np.ndarray: ...

    def bregman(self, u_new, u_old) -> float:
        """D_f(u_new, u_old) from values; 0 when it is below the rounding error of f (a descent
        test cannot read a difference smaller than that, and a spurious positive value there
        would blow the step size up)."""
        new, old = self.value_at(u_new), self.value_at(u_old)
        distance = new - old - float(np.sum(self.raw_gradient(u_old) * (u_new - u_old)))
        noise = 64.0 * np.finfo(float).eps * (abs(new) + abs(old))
        return distance if distance > noise else 0.0

    def predict(self, x) -> np.ndarray:
        """u = Ax (x of shape (p,), or (p·K,) read as (p, K) for K outputs)."""
        x = np.asarray(x, dtype=np.float64)
        if self.n_outputs == 1:
            return matvec(self.A, x)
        X = x.reshape(self.A.shape[1], self.n_outputs)
        if is_explicit(self.A):
            return np.asarray(self.A @ X)
        return np.column_stack([matvec(self.A, X[:, k]) for k in range(self.n_outputs)])

    def backproject(self, g) -> np.ndarray:
        """Aᵀg, flattened like x."""
        if self.n_outputs == 1:
            return rmatvec(self.A, g)
        if is_explicit(self.A):
            return np.asarray(self.A.T @ g).ravel()
        return np.column_stack([rmatvec(self.A, g[:, k]) for k in range(self.n_outputs)]).ravel()

    def value(self, x) -> float:
        """F(x)."""
        return self.value_at(self.predict(x))

    def gradient(self, x) -> np.ndarray:
        """∇F(x) = Aᵀ∇f(Ax)."""
        return self.backproject(self.raw_gradient(self.predict(x)))

    def lipschitz(self) -> float:
        """curvature · ‖A‖₂², an upper bound on the Lipschitz constant of ∇F (exact for least squares)."""
        return self.curvature * spectral_norm2(self.A)

    def lipschitz_estimate(self, n_iter: int = 5) -> tuple[float, int]:
        """(curvature · power-iteration estimate of ‖A‖₂², products with A and Aᵀ used): a
        lower bound of :meth:`lipschitz` for solvers that check a descent condition."""
        norm2, n_iter_used = squared_norm_estimate(self.A, n_iter=n_iter)
        return self.curvature * norm2, 2 * n_iter_used


class Quadratic(Datafit):
    """Least squares F(x) = ½‖Ax − b‖²; f(u) = ½‖u − b‖², ∇f(u) = u − b, curvature 1.

    Examples
    --------
    >>> fit = Quadratic(np.eye(2), np.array([1.0, 2.0]))
    >>> fit.value(np.zeros(2)), fit.gradient(np.zeros(2)).tolist(), fit.lipschitz()
    (2.5, [-1.0, -2.0], 1.0)
    """

    name = "quadratic"
    quadratic = True

    def __init__(self, A, b, check_input: bool = True):
        super().__init__(A, check_input)
        self.b = check_finite_array(b, "b", ndim=1) if check_input else b
        if self.b.shape[0] != self.A.shape[0]:
            raise ValueError(f"A has {self.A.shape[0]} rows but b has {self.b.shape[0]} entries; shapes must match")

    @property
    def curvature(self) -> float:
        return 1.0

    def value_at(self, u) -> float:
        r = u - self.b
        return 0.5 * float(np.dot(r, r))

    def raw_gradient(self, u) -> np.ndarray:
        return u - self.b

    def bregman(self, u_new, u_old) -> float:
        d = u_new - u_old
        return 0.5 * float(np.dot(d, d))


class Logistic(Datafit):
    """F(x) = Σ_i s_i [log(1 + e^{u_i}) − y_i u_i], u = Ax, y_i ∈ {0, 1}, weights s_i ≥ 0.

    ∇f(u)_i = s_i (σ(u_i) − y_i); f'' = s σ(1 − σ) ≤ s/4, so curvature = max_i s_i / 4.
    Same loss as :func:`lamina.solvers.logistic.logistic_regression` and, divided by Σ s_i, as
    scikit-learn's ``log_loss``.
    """

    name = "logistic"

    def __init__(self, A, y, sample_weight=None):
        super().__init__(A)
        self.y = check_finite_array(y, "y", ndim=1)
        if self.y.shape[0] != self.A.shape[0] or not np.all((self.y == 0) | (self.y == 1)):
            raise ValueError(f"y must hold {self.A.shape[0]} labels in {{0, 1}} (one per row of A)")
        self.weight = _weights(sample_weight, self.A.shape[0])

    @property
    def curvature(self) -> float:
        return 0.25 * float(np.max(self.weight, initial=0.0))

    def value_at(self, u) -> float:
        return float(self.weight @ (np.logaddexp(0.0, u) - self.y * u))

    def raw_gradient(self, u) -> np.ndarray:
        return self.weight * (0.5 * (1.0 + np.tanh(0.5 * u)) - self.y)


class Multinomial(Datafit):
    """F(X) = Σ_i s_i [logsumexp(u_i) − u_{i,c_i}], U = AX with X of shape (p, K) (x = X.ravel()).

    ∇f(U)_i = s_i (softmax(u_i) − e_{c_i}); the Hessian of logsumexp, diag(π) − ππᵀ, has norm
    ≤ ½, so curvature = max_i s_i / 2. Divided by Σ s_i this is scikit-learn's ``log_loss``.
    """

    name = "multinomial"

    def __init__(self, A, codes, n_classes: int, sample_weight=None):
        super().__init__(A)
        codes = np.asarray(codes)
        if codes.shape != (self.A.shape[0],) or not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"codes must hold {self.A.shape[0]} integer class indices (one per row of A)")
        n_classes = check_positive_int(n_classes, "n_classes", minimum=2)   # 3.7 or "3" are no class count
        if codes.min(initial=0) < 0 or codes.max(initial=0) >= n_classes:
            raise ValueError(f"n_classes must be ≥ 2 and codes lie in [0, n_classes); got n_classes={n_classes}")
        self.codes, self.n_outputs = codes, int(n_classes)
        self.weight = _weights(sample_weight, self.A.shape[0])

    @property
    def curvature(self) -> float:
        return 0.5 * float(np.max(self.weight, initial=0.0))

    def value_at(self, u) -> float:
        top = np.max(u, axis=1)
        lse = top + np.log(np.sum(np.exp(u - top[:, None]), axis=1))
        return float(self.weight @ (lse - u[np.arange(u.shape[0]), self.codes]))

    def raw_gradient(self, u) -> np.ndarray:
        e = np.exp(u - np.max(u, axis=1, keepdims=True))
        g = e / np.sum(e, axis=1, keepdims=True)
        g[np.arange(u.shape[0]), self.codes] -= 1.0
        return g * self.weight[:, None]


__all__ = ["Datafit", "Quadratic", "Logistic", "Multinomial", "spectral_norm2"]
