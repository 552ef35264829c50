"""Orthogonal matching pursuit (OMP) for the L0 penalty and for a sparsity constraint.

Greedy path (Pati, Rezaiifar & Krishnaprasad 1993; Tropp & Gilbert 2007): starting from the
empty support, add the atom most correlated with the residual, j = argmax_j |a_jᵀ r|, and
refit the coefficients of the selected atoms by least squares, so that the residual stays
orthogonal to every selected column. As in scikit-learn, correlations are not divided by the
column norms: scale the columns of A to unit norm for the textbook algorithm.

The least-squares fits are never re-solved from scratch: the selected columns carry a QR
factorization A_S = Q R, extended by one column per step with classical Gram–Schmidt and one
re-orthogonalization (CGS2, stable to working precision), so step k costs O(m k) on top of the
correlations Aᵀr (one product with Aᵀ). Explicit matrices give their columns directly; for
linear operators the column a_j = A e_j costs one product with A.

Two entry points share the path:

* :func:`orthogonal_matching_pursuit` — penalized: returns the iterate along the path that
  minimizes ½‖r_k‖² + Σ_{j∈S_k} λ_j w_j (the L0 objective restricted to the path);
* :func:`omp` — constrained: min ½‖Ax − b‖² subject to ‖x‖₀ ≤ k, greedily.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.linalg import solve_triangular
from scipy.sparse.linalg import LinearOperator, lsqr

from lamina._validation import check_finite_array, check_positive_float, check_positive_int
from lamina.groups import Groups
from lamina.operators import as_forward_model, is_explicit, matvec, rmatvec
from lamina.penalties import Penalty
from lamina.solvers.base import Monitor, SolveResult

_TINY = np.finfo(float).tiny
_EPS = np.finfo(float).eps
_DEPENDENT = 1e-10  # a new column whose part orthogonal to the selected ones is below this share


# ---------------------------------------------------------------------------- shared helpers
def check_sparsity(sparsity, n_features: int, name: str = "sparsity") -> int:
    """Return ``sparsity`` as an int in 1..n_features, with an error naming the argument."""
    sparsity = check_positive_int(sparsity, name)
    if sparsity > n_features:
        raise ValueError(f"{name} must be <= the number of columns of A ({n_features}), got {sparsity}")
    return sparsity


def column(A, j: int) -> np.ndarray:
    """Column j of A as a dense vector (one product with A for an operator)."""
    if sp.issparse(A):
        return A[:, [j]].toarray().ravel()
    if isinstance(A, np.ndarray):
        return np.array(A[:, j], dtype=np.float64)
    unit = np.zeros(A.shape[1])
    unit[j] = 1.0
    return np.asarray(matvec(A, unit), dtype=np.float64).ravel()


def least_squares_on_support(A, b, support, max_columns: int = 1000, columns: dict | None = None) -> np.ndarray:
    """x minimizing ‖Ax − b‖ over vectors supported on ``support`` (minimum norm if not unique).

    Explicit matrices, and operators with at most ``max_columns`` selected columns, solve a
    dense least-squares problem on the columns (one product with A per column of an operator);
    larger supports of operators run LSQR on the restricted operator. ``columns``: a dict the
    caller keeps across calls on the same operator, filled with the columns computed (at most
    ``max_columns`` of them), so that a support seen before costs no product with A again.
    """
    support = np.flatnonzero(support) if np.asarray(support).dtype == bool else np.asarray(support)
    x = np.zeros(A.shape[1])
    if support.size == 0:
        return x
    if is_explicit(A) or support.size <= max_columns:
        if is_explicit(A):
            block = A[:, support]
            block = block.toarray() if sp.issparse(block) else np.asarray(block, dtype=np.float64)
        else:
            block = np.column_stack([_remembered_column(A, int(j), columns, max_columns) for j in support])
        x[support] = np.linalg.lstsq(block, b, rcond=None)[0]
        return x

    def restricted_matvec(u):
        full = np.zeros(A.shape[1])
        full[support] = u
        return matvec(A, full)

    restricted = LinearOperator((A.shape[0], support.size), matvec=restricted_matvec,
                                rmatvec=lambda r: rmatvec(A, r)[support], dtype=np.float64)
    x[support] = lsqr(restricted, b, atol=1e-14, btol=1e-14, iter_lim=10 * support.size)[0]
    return x


def _remembered_column(A, j: int, columns: dict | None, capacity: int) -> np.ndarray:
    """Column j of the operator A, from ``columns`` where it was computed before; stored there
    while it holds fewer than ``capacity`` columns."""
    if columns is None:
        return column(A, j)
    if j not in columns:
        if len(columns) >= capacity:
            return column(A, j)
        columns[j] = column(A, j)
    return columns[j]


class _IncrementalQR:
    """QR factorization A_S = Q R of the selected columns, grown one column at a time."""

    def __init__(self, n_rows: int, capacity: int):
        capacity = max(1, capacity)
        self.Q = np.empty((n_rows, capacity))
        self.R = np.zeros((capacity, capacity))
        self.size = 0

    def _grow(self):
        capacity = 2 * self.Q.shape[1]
        Q = np.empty((self.Q.shape[0], capacity))
        Q[:, :self.size] = self.Q[:, :self.size]
        R = np.zeros((capacity, capacity))
        R[:self.size, :self.size] = self.R[:self.size, :self.size]
        self.Q, self.R = Q, R

    def add(self, a: np.ndarray) -> np.ndarray | None:
        """Append column ``a``; return its unit orthogonal direction q, or None if it is
        (numerically) in the span of the columns already there."""
        k = self.size
        norm_a = float(np.linalg.norm(a))
        if norm_a == 0.0:
            return None
        if k == self.Q.shape[1]:
            self._grow()
        Q = self.Q[:, :k]
        coefficients = Q.T @ a
        w = a - Q @ coefficients
        correction = Q.T @ w            # second pass of classical Gram–Schmidt
        w -= Q @ correction
        rho = float(np.linalg.norm(w))
        if rho <= _DEPENDENT * norm_a:
            return None
        q = w / rho
        self.Q[:, k] = q
        self.R[:k, k] = coefficients + correction
        self.R[k, k] = rho
        self.size = k + 1
        return q

    def coefficients(self, z: np.ndarray, k: int | None = None) -> np.ndarray:
        """Least-squares coefficients of the first k columns from z = Qᵀb."""
        k = self.size if k is None else k
        if k == 0:
            return np.zeros(0)
        return solve_triangular(self.R[:k, :k], z[:k], lower=False, check_finite=False)


def _path(A, b, max_atoms: int, seed, thresholds, tol: float, name: str, callback,
          constrained: bool) -> SolveResult:
    """Run the greedy path; see the public functions for what is returned."""
    n_rows, n_features = A.shape
    max_atoms = max(max_atoms, min(len(seed), n_features))
    qr = _IncrementalQR(n_rows, min(max_atoms, n_rows, 64))
    selected = np.zeros(n_features, dtype=bool)
    order: list[int] = []
    z = np.zeros(max(1, min(max_atoms, n_rows)))
    residual = np.array(b, dtype=np.float64)
    half_norm_b = 0.5 * float(np.dot(b, b))
    scale = max(half_norm_b, _TINY)
    penalized = thresholds is not None
    if not penalized:
        thresholds = np.zeros(n_features)
    monitor = Monitor(name, tol, "relative_residual", callback)

    def add_atom(j: int, a: np.ndarray) -> bool:
        nonlocal residual, z
        q = qr.add(a)
        if q is None:
            return False
        k = qr.size - 1
        if k >= z.size:
            z = np.concatenate([z, np.zeros(z.size)])
        z[k] = float(np.dot(q, residual))
        residual = residual - z[k] * q
        selected[j] = True
        order.append(int(j))
        return True

    for j in seed:
        add_atom(j, column(A, j))
    n_seeded = qr.size
    best_objective, best_size, stop_reason = np.inf, 0, "max_iter"
    n_steps = 0
    while True:
        k = qr.size
        half_rss = 0.5 * float(np.dot(residual, residual))
        penalty_value = float(np.sum(thresholds[order])) if order else 0.0
        objective = half_rss + penalty_value
        if objective < best_objective:
            best_objective, best_size = objective, k
        remaining = thresholds[~selected]
        cheapest = float(np.min(remaining)) if remaining.size else np.inf
        # Later atoms cost at least `cheapest` each and can lower ½‖r‖² to 0 at best, so no
        # later iterate beats the best by more than this (0 once ½‖r‖² < cheapest).
        possible = max(best_objective - penalty_value - cheapest, 0.0) if remaining.size else 0.0
        criterion = np.sqrt(possible / scale)
        full = constrained and k >= max_atoms
        x_k = np.zeros(n_features)
        x_k[order] = qr.coefficients(z, k)
        if monitor.record(k, x_k, objective, criterion, np.inf if full else tol):
            stop_reason = "sparsity" if full else "tolerance" if monitor.converged else "callback"
            break
        if k >= max_atoms or not remaining.size:
            monitor.converged = monitor.converged or not remaining.size
            stop_reason = "complete" if not remaining.size else "max_iter"
            break
        corr = rmatvec(A, residual)
        corr[selected] = 0.0
        j = int(np.argmax(np.abs(corr)))
        if corr[j] == 0.0 or not add_atom(j, column(A, j)):
            # the residual is orthogonal to every column left: least squares is reached
            monitor.converged, stop_reason = True, "orthogonal"
            break
        n_steps += 1
    x = np.zeros(n_features)
    size = qr.size if constrained else best_size
    x[order[:size]] = qr.coefficients(z, size)
    return monitor.result(x, n_steps, objective=None if constrained else best_objective,
                          support=np.array(order[:size], dtype=np.int64),
                          path_order=np.array(order, dtype=np.int64), n_seeded=n_seeded,
                          stop_reason=stop_reason)


# ---------------------------------------------------------------------------- public API
def orthogonal_matching_pursuit(A, b, penalty: Penalty, lam, groups: Groups, *, tol: float = 1e-6,
                                max_iter: int | None = None, callback=None, x0=None) -> SolveResult:
    """Penalized OMP: the best iterate of the greedy path for ½‖Ax − b‖² + Σ_j λ_j w_j [x_j ≠ 0].

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator, shape (n_rows, n_features)
    b : ndarray, shape (n_rows,)
    penalty : L0
        Supplies the cost of each nonzero, ``penalty.nonzero_costs(lam, groups)`` = λ_j w_j.
    lam : ndarray, shape (n_groups,)
        λ per group (validated by the caller).
    groups : Groups
    tol : float
        Stop once later atoms cannot lower the objective by more than tol²·½‖b‖² (see Notes);
        with λ = 0 this is ‖r‖ ≤ tol ‖b‖.
    max_iter : int, optional
        Largest support on the path (atoms); default min(n_rows, n_features).
    callback : callable, optional
        ``callback(k, x_k, objective_k, criterion)`` after each atom; True stops.
    x0 : ndarray, shape (n_features,), optional
        Warm start: the atoms of its support are selected first (its values are not used).

    Returns
    -------
    SolveResult
        ``x`` is the best iterate of the path, ``objective`` its objective; ``history`` holds
        the objective of every iterate (index = number of atoms); ``info['support']`` the atoms
        of x in order of selection and ``info['stop_reason']`` why the path stopped.

    Notes
    -----
    With S_k the first k atoms and r_k = b − A x_k the least-squares residual on S_k,
    F_k = ½‖r_k‖² + Σ_{j∈S_k} t_j,  t_j = λ_j w_j,  and the result is argmin_k F_k.
    Coefficients with t_j = 0 (unpenalized) are selected before the greedy steps.
    Because later iterates cost at least t_min = min_{j∉S_k} t_j per extra atom and reach
    ½‖r‖² ≥ 0, F_{k'} ≥ Σ_{S_k} t_j + t_min for k' > k: the path stops when
    best − Σ_{S_k} t_j − t_min ≤ tol²·½‖b‖², in particular as soon as ½‖r_k‖² < t_min.
    The criterion reported is √(max(best − Σ_{S_k} t_j − t_min, 0) / ½‖b‖²), the relative
    residual ‖r_k‖/‖b‖ when λ = 0.
    Each step costs one product with Aᵀ (correlations), one column of A and O(n_rows·k).

    Examples
    --------
    >>> import numpy as np
    >>> from lamina import L0, Groups
    >>> A = np.eye(3); b = np.array([3.0, 0.5, -2.0])
    >>> orthogonal_matching_pursuit(A, b, L0(), np.array([1.0]), Groups.single(3)).x.tolist()
    [3.0, 0.0, -2.0]
    """
    check_positive_float(tol, "tol")
    n_rows, n_features = A.shape
    max_atoms = min(n_rows, n_features) if max_iter is None else check_positive_int(max_iter, "max_iter")
    thresholds = penalty.nonzero_costs(lam, groups)
    seed = list(np.flatnonzero(thresholds == 0))
    if x0 is not None:
        seed += [j for j in np.flatnonzero(np.asarray(x0)) if thresholds[j] != 0]
    return _path(A, b, max_atoms, seed, thresholds, tol, "orthogonal_matching_pursuit", callback,
                 constrained=False)


def omp(A, b, sparsity: int | None = None, *, tol: float = 1e-6, callback=None) -> SolveResult:
    """Constrained OMP: greedily min ½‖Ax − b‖² subject to ‖x‖₀ ≤ ``sparsity``.

    Parameters
    ----------
    A : ndarray, sparse matrix, LinearOperator or PyLops operator, shape (n_rows, n_features)
    b : ndarray, shape (n_rows,)
    sparsity : int, optional
        Number of atoms k, 1 ≤ k ≤ n_features; default min(n_rows, n_features).
    tol : float
        Stop early once ‖r‖ ≤ tol ‖b‖.
    callback : callable, optional
        ``callback(k, x_k, objective_k, criterion)`` after each atom; True stops.

    Returns
    -------
    SolveResult
        ``x`` with at most k nonzeros; ``objective`` = ½‖Ax − b‖²; criterion = ‖r‖/‖b‖.
        ``converged`` is True when the path is complete (k atoms, or the residual is below
        tolerance, or orthogonal to every column left).

    Notes
    -----
    Same path as :func:`orthogonal_matching_pursuit` with λ = 0; equals scikit-learn's
    ``OrthogonalMatchingPursuit(n_nonzero_coefs=k, fit_intercept=False)``, which also picks
    atoms by the unnormalized correlation |a_jᵀ r|.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.eye(3); b = np.array([3.0, 0.5, -2.0])
    >>> omp(A, b, 2).x.tolist()
    [3.0, 0.0, -2.0]
    """
    A = as_forward_model(A)
    b = check_finite_array(b, "b", ndim=1)
    if A.shape[0] != b.shape[0]:
        raise ValueError(f"A has {A.shape[0]} rows but b has {b.shape[0]} entries; shapes must match")
    check_positive_float(tol, "tol")
    n_rows, n_features = A.shape
    sparsity = min(n_rows, n_features) if sparsity is None else check_sparsity(sparsity, n_features)
    return _path(A, b, sparsity, [], None, tol, "omp", callback, constrained=True)
