"""Conformance checks that the test suite — and users writing their own pieces — run.

``check_penalty`` verifies a Penalty against its definitions; ``check_solution`` verifies a
solution of ½‖Ax − b‖² + Σ λ_g R(x_g) by its optimality conditions; ``dottest`` (re-exported
from :mod:`lamina.operators`) checks an operator's adjoint.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

from lamina.groups import Groups
from lamina.operators import dottest, matvec, rmatvec
from lamina.penalties import Penalty

__all__ = ["check_penalty", "check_solution", "dottest"]


_LOCAL_SEARCHES = (("Nelder-Mead", {"maxiter": 4000, "xatol": 1e-10, "fatol": 1e-12}),
                   ("Powell", {"maxiter": 4000, "xtol": 1e-10, "ftol": 1e-12}))


def _prox_objective(penalty, z, x, lam, groups, step):
    return 0.5 / step * float(np.sum((z - x) ** 2)) + penalty.value(z, lam, groups)


def check_penalty(penalty: Penalty, groups: Groups, lam, *, n_trials: int = 5, seed: int = 0,
                  step: float = 0.7, atol: float = 1e-6) -> None:
    """Assert that ``penalty`` honours the Penalty contract on random points.

    Checks, for each trial point x:
    1. prox is a minimizer of 1/(2 step)‖z − x‖² + R(z): no point from a local numerical
       search (Nelder–Mead / Powell from the prox and from x) and no random perturbation is
       better (for non-convex penalties, also compared with z = 0 and z = x);
    2. for convex penalties, Moreau's decomposition: x = prox_{sR}(x) + s·prox_{R*/s}(x/s),
       checked through the equivalent fixed-point identity prox(prox(x)) optimality:
       subdiff_distance(p, (p − x)/step) = 0 at p = prox(x);
    3. value is non-negative and zero at zero; λ = 0 makes prox the identity;
    4. lam_max: with the data-fit gradient g at 0, λ = lam_max · 1 leaves the penalized
       coefficients of 0 stationary and a slightly smaller λ does not (convex penalties that
       provide it);
    5. every optional capability the penalty provides agrees with ``value`` (see
       :func:`_check_capabilities`).
    """
    rng = np.random.default_rng(seed)
    lam = np.asarray(lam, dtype=np.float64)
    n = groups.n_features
    zero = np.zeros(n)
    assert penalty.value(zero, lam, groups) == 0.0, "R(0) must be 0"
    for _ in range(n_trials):
        x = rng.standard_normal(n) * 2.0
        p = penalty.prox(x, lam, groups, step)
        assert p.shape == x.shape, "prox must keep the shape"
        assert penalty.value(x, lam, groups) >= 0.0, "R must be non-negative"
        assert np.allclose(penalty.prox(x, np.zeros_like(lam), groups, step), x), "λ = 0: prox = identity"
        best = _prox_objective(penalty, p, x, lam, groups, step)
        candidates = [x, zero] + [p + 1e-3 * rng.standard_normal(n) for _ in range(20)]
        for start in (p, x):
            for method, options in _LOCAL_SEARCHES:
                found = minimize(lambda z: _prox_objective(penalty, z, x, lam, groups, step), start,
                                 method=method, options=options)
                candidates.append(found.x)
        for z in candidates:
            other = _prox_objective(penalty, z, x, lam, groups, step)
            assert best <= other + atol * max(1.0, abs(other)), (
                f"{penalty!r}: prox is not a minimizer (found {other:.10g} < {best:.10g})")
        if penalty.convex:
            violation = penalty.subdiff_distance(p, (p - x) / step, lam, groups)
            assert np.max(violation) <= 1e-8 * max(1.0, np.max(np.abs(x))), (
                f"{penalty!r}: prox(x) violates its optimality condition by {np.max(violation):.2e}")
    _check_capabilities(penalty, groups, lam, rng)
    if penalty.convex and penalty.supports("lam_max"):
        grad0 = rng.standard_normal(n)
        t = penalty.lam_max(grad0, groups)
        if np.isfinite(t) and t > 0:
            penalized = penalty.thresholds(np.ones(groups.n_groups), groups) > 0
            at_max = penalty.subdiff_distance(zero, grad0, np.full(groups.n_groups, t), groups)[penalized]
            below = penalty.subdiff_distance(zero, grad0, np.full(groups.n_groups, 0.99 * t), groups)[penalized]
            assert np.max(at_max) <= 1e-10 * t, "λ = lam_max must leave 0 stationary"
            assert np.max(below) > 0, "λ < lam_max must move away from 0"


def _check_capabilities(penalty: Penalty, groups: Groups, lam, rng, eps: float = 1e-6) -> None:
    """The optional methods a penalty provides against its ``value`` at a random x with every
    coefficient nonzero: the structural forms (Σ a|x| + c x²/2, Σ t‖x_g‖, Σ c x²/2, Σ t[x ≠ 0])
    exactly, ``gradient_on_support`` and ``hessian_on_support`` by central differences of
    ``value`` and of ``gradient_on_support`` on the generalized support."""
    x = rng.standard_normal(groups.n_features) + 0.5
    x[x == 0] = 1.0
    value = penalty.value(x, lam, groups)
    forms = {
        "separable_l1_l2": lambda: (lambda a, c: float(a @ np.abs(x) + 0.5 * c @ (x * x)))(
            *penalty.separable_l1_l2(lam, groups)),
        "block_l2_thresholds": lambda: float(penalty.block_l2_thresholds(lam, groups) @ groups.norms(x)),
        "quadratic_strengths": lambda: 0.5 * float(penalty.quadratic_strengths(lam, groups) @ (x * x)),
        "nonzero_costs": lambda: float(np.sum(penalty.nonzero_costs(lam, groups)[x != 0])),
    }
    for capability, form in forms.items():
        if penalty.supports(capability):
            assert np.isclose(form(), value, rtol=1e-10, atol=1e-12), (
                f"{penalty!r}: {capability}() gives R(x) = {form():.10g}, value() gives {value:.10g}")
    if not penalty.supports("generalized_support"):
        return
    support = penalty.generalized_support(x, lam, groups)
    grad = penalty.gradient_on_support(x, lam, groups, support)
    hess = penalty.hessian_on_support(x, lam, groups, support)
    hess = np.diag(hess) if np.ndim(hess) == 1 else hess
    for i, j in enumerate(support):
        step = np.zeros_like(x)
        step[j] = eps
        numeric = (penalty.value(x + step, lam, groups) - penalty.value(x - step, lam, groups)) / (2 * eps)
        assert np.isclose(grad[i], numeric, rtol=1e-5, atol=1e-6), (
            f"{penalty!r}: gradient_on_support()[{i}] = {grad[i]:.8g}, finite difference {numeric:.8g}")
        column = (penalty.gradient_on_support(x + step, lam, groups, support)
                  - penalty.gradient_on_support(x - step, lam, groups, support)) / (2 * eps)
        assert np.allclose(hess[:, i], column, rtol=1e-5, atol=1e-6), (
            f"{penalty!r}: hessian_on_support() column {i} differs from finite differences of the gradient")


def check_solution(A, b, x, penalty: Penalty, lam, groups: Groups, *, rtol: float = 1e-5) -> float:
    """Assert that x is stationary for ½‖Ax − b‖² + Σ λ_g R(x_g); return the violation.

    The violation is the largest distance of −∇f(x) to the subdifferential, relative to
    ‖Aᵀb‖∞ (the gradient's scale at 0).
    """
    grad = rmatvec(A, matvec(A, x) - b)
    scale = max(float(np.max(np.abs(rmatvec(A, b)))), np.finfo(float).tiny)
    violation = float(np.max(penalty.subdiff_distance(x, grad, lam, groups))) / scale
    assert violation <= rtol, f"x is not optimal: relative optimality violation {violation:.2e} > {rtol:.0e}"
    return violation
