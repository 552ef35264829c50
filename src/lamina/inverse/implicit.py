"""Exact hypergradient of the held-out loss of an inverse problem (implicit differentiation,
as in sparse-ho, Bertrand et al. 2020).

On the training rows x(λ) = argmin ½‖A_t x − b_t‖² + Σ_g λ_g R(x_g); the held-out loss is
C(λ) = ½‖A_v x(λ) − b_v‖².

* L1: on the support S with signs s, x_S = (A_tSᵀA_tS)⁻¹(A_tSᵀb_t − λ_S ⊙ s), hence
  ∂C/∂λ_g = −Σ_{j∈S∩g} w_j s_j v_j with v = (A_tSᵀA_tS)⁻¹ A_vSᵀ(A_v x − b_v);
* L2: x = (A_tᵀA_t + C)⁻¹A_tᵀb_t with c_j = λ_g w_j, hence ∂C/∂λ_g = −Σ_{j∈g} w_j x_j v_j with
  v = (A_tᵀA_t + C)⁻¹ A_vᵀ(A_v x − b_v).

Used by :meth:`lamina.inverse.tunable.OperatorProblem.split_loss_and_gradient`.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse.linalg import LinearOperator, cg

from lamina.groups import Groups
from lamina.operators import is_explicit, matvec, rmatvec
from lamina.penalties import Penalty


def _normal_solve(A, support: np.ndarray, diagonal: np.ndarray, rhs: np.ndarray, tol: float = 1e-10) -> np.ndarray:
    """Solve (A_Sᵀ A_S + diag(diagonal)) v = rhs on the columns ``support``."""
    if is_explicit(A) and support.size <= 2000:
        block = A[:, support]
        block = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        system = block.T @ block + np.diag(diagonal)
        return np.linalg.lstsq(system, rhs, rcond=None)[0]
    n = A.shape[1]

    def apply(v):
        full = np.zeros(n)
        full[support] = v
        return rmatvec(A, matvec(A, full))[support] + diagonal * v

    if not np.any(diagonal):
        # A_Sᵀ A_S is singular when the support outgrows the rows (an L1 solution on an
        # operator can do that): damp it by 1e-8 of its scale so CG converges to (nearly) the
        # minimum-norm solution instead of running 10·|S| costly products.
        probe = np.random.default_rng(0).standard_normal(support.size)
        diagonal = np.full(support.size, 1e-8 * float(probe @ apply(probe)) / float(probe @ probe))
    operator = LinearOperator((support.size, support.size), matvec=apply, dtype=np.float64)
    return cg(operator, rhs, rtol=tol, atol=0.0, maxiter=min(10 * support.size, 500))[0]


def hypergradient(A_train, A_val, b_val, x, penalty: Penalty, lam, groups: Groups) -> tuple[float, np.ndarray]:
    """Held-out loss C = ½‖A_v x − b_v‖² and its gradient ∂C/∂λ (one value per group).

    ``x`` must solve the training problem at ``lam`` (see the module docstring for the formula).
    """
    residual_val = matvec(A_val, x) - b_val
    loss = 0.5 * float(np.dot(residual_val, residual_val))
    grad_x = rmatvec(A_val, residual_val)
    support = penalty.generalized_support(x, lam, groups)
    if support.size == 0:
        return loss, np.zeros(groups.n_groups)
    diagonal = penalty.hessian_on_support(x, lam, groups, support)
    if np.ndim(diagonal) != 1:
        raise ValueError(f"per_group='hypergradient' needs a separable penalty (diagonal Hessian on the "
                         f"support); got {penalty.name!r}")
    # ∇R is linear in λ: ∂(∇R)_j/∂λ_g is ∇R at λ = 1 (also where λ_g = 0, whose right derivative
    # is not 0: dividing ∇R by λ_g there gave 0)
    direction = penalty.gradient_on_support(x, np.ones_like(np.asarray(lam, dtype=float)), groups, support)
    v = _normal_solve(A_train, support, diagonal, grad_x[support])
    per_coef = np.zeros(x.shape[0])
    per_coef[support] = -direction * v
    return loss, groups.sum(per_coef)
