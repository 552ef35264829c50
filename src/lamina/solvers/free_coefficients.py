"""The coefficients a penalty leaves free, and a loss minimized over them.

Least squares (:class:`FreeProjection`, used by the duality gaps of FISTA and coordinate
descent): the dual point θ = r must satisfy A_Fᵀθ = 0, and the residual of an iterate does so
only at the optimum of the free coefficients. Projecting r onto the orthogonal complement of
span(A_F) — the residual after the free coefficients are refitted by least squares — gives a
feasible θ, so that P(x) − D(θ) bounds P(x) − P* at every iterate (without it the gap took the
free coefficients as optimal and read 0 while x was 100 × tol above the optimum).

The duality gaps of logistic regression (:func:`lamina.solvers.logistic.logistic_duality_gap`,
:mod:`lamina.solvers.multinomial_gap`) need a dual point on which the unpenalized coefficients F
(the intercepts) are exactly optimal: R* is infinite unless A_Fᵀu = 0. Both find it by minimizing
the data loss over F alone, from the current scores — :func:`profile_newton`, given the loss and
its derivatives as functions of the score shift A_F δ.
"""
from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from lamina.operators import is_explicit, matvec, rmatvec


def free_mask(penalty, lam, groups):
    """Boolean per coefficient: the penalty is 0 near 0 there (λ_g R = 0); None when the penalty
    cannot say (neither an elastic-net family member, group L1, nor one with ``nonzero_costs``:
    L0)."""
    if penalty.supports("separable_l1_l2"):
        l1, l2 = penalty.separable_l1_l2(lam, groups)
        return (l1 == 0) & (l2 == 0)
    if penalty.supports("block_l2_thresholds"):
        return penalty.block_l2_thresholds(lam, groups)[groups.labels] == 0
    if penalty.supports("nonzero_costs"):
        costs = penalty.nonzero_costs(lam, groups)
        return (costs if penalty.separable else groups.expand(costs)) == 0
    return None


def dense_columns(A, index) -> np.ndarray:
    """The columns ``index`` of A (dense or any scipy.sparse format) as a dense float array."""
    if sp.issparse(A):
        return sp.csc_matrix(A)[:, index].toarray()
    return np.asarray(A[:, index], dtype=float)


def profile_newton(loss_of, derivatives_of, shift_of, size: int, max_steps: int = 50,
                   polish_steps: int = 3) -> np.ndarray:
    """δ (flat, ``size`` values) minimizing loss_of(shift_of(δ)), shift_of linear (δ ↦ A_F δ).

    Newton steps — least squares, the Hessian ``derivatives_of(shift)[1]`` may be singular (the
    K intercepts of a softmax are determined up to a common shift) — backtracked on the loss
    until the decrease a step predicts or achieves is below the loss's rounding, then
    ``polish_steps`` full steps: no decrease is left to test, but the gradient on F, the dual
    point's infeasibility, still falls.
    """
    delta = np.zeros(size)
    shift = shift_of(delta)
    loss = loss_of(shift)
    rounding = 16 * np.finfo(float).eps * abs(loss)
    polishing = 0
    for _ in range(max_steps + polish_steps):
        gradient, hessian = derivatives_of(shift)
        step = -scipy.linalg.lstsq(hessian, gradient, cond=1e-14, check_finite=False)[0]
        direction = shift_of(step)
        t, candidate = 1.0, None
        if polishing == 0 and -0.5 * float(gradient @ step) > rounding:
            for t in 0.5 ** np.arange(30):
                candidate = loss_of(shift + t * direction)
                if candidate < loss - rounding:
                    break
            else:
                t, candidate = 1.0, None
        if candidate is None:          # at the minimizer to rounding: full steps only
            polishing += 1
            if polishing > polish_steps:
                break
        delta, shift = delta + t * step, shift + t * direction
        loss = loss_of(shift) if candidate is None else candidate
    return delta


#: the most free coefficients whose columns a duality gap refits by least squares on an operator
#: (their |F| columns cost one product each at setup, and |F| products with Aᵀ)
MAX_PROFILED = 64
#: on an explicit matrix, more as long as the pseudo-inverse of the m × |F| columns costs at most
#: this many flops (m·|F|²: 2e8 ≈ a tenth of a second)
MAX_PROFILE_FLOPS = 2e8


def free_projection(A, penalty, lam, groups) -> "FreeProjection | None":
    """The refit of the free coefficients that keeps a least-squares duality gap a bound (FISTA,
    coordinate descent), or None where there are none, too many (``MAX_PROFILED`` on an
    operator, ``MAX_PROFILE_FLOPS`` on a matrix: the solvers then take them as optimal and add a
    decrease estimate, which is no bound), or the penalty cannot say which."""
    mask = free_mask(penalty, lam, groups)
    n_free = 0 if mask is None else int(mask.sum())
    affordable = n_free <= MAX_PROFILED or (is_explicit(A) and A.shape[0] * n_free ** 2 <= MAX_PROFILE_FLOPS)
    if n_free == 0 or not affordable:
        return None
    return FreeProjection(A, np.flatnonzero(mask))


class FreeProjection:
    """r ↦ (r − A_F δ, Aᵀ(r − A_F δ)), δ = A_F⁺ r: the residual with the free coefficients F
    refitted, and its correlations from Aᵀr without a product (AᵀA_F is kept). Setup: the |F|
    columns (products with unit vectors on an operator) and |F| products with Aᵀ."""

    def __init__(self, A, free_index):
        free_index = np.asarray(free_index)      # at least one
        self.index = free_index
        if is_explicit(A):
            self.columns, self.n_products = dense_columns(A, free_index), len(free_index)
        else:
            self.columns = np.column_stack([matvec(A, _unit(A.shape[1], j)) for j in free_index])
            self.n_products = 2 * len(free_index)
        self.pinv = np.linalg.pinv(self.columns)
        self.gram = np.column_stack([rmatvec(A, column) for column in self.columns.T])

    def __call__(self, residual, corr):
        delta = self.pinv @ residual
        return residual - self.columns @ delta, corr - self.gram @ delta


def _unit(n: int, j: int) -> np.ndarray:
    e = np.zeros(n)
    e[j] = 1.0
    return e
