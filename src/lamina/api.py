"""``lamina.solve``: one function for every kind of A and every penalty.

Objective (operator convention, PyLops'):  ½‖Ax − b‖² + Σ_g λ_g R(x_g).
"""
from __future__ import annotations

import dataclasses
from enum import Enum
from importlib import import_module

import numpy as np

from lamina._validation import (check_finite_array, check_lam, check_lam_values, check_positive_float,
                                check_positive_int, parse_choice)
from lamina.groups import as_groups
from lamina.operators import adjoint_checked, as_forward_model, dottest, is_explicit, matvec
from lamina.penalties import Penalty, make_penalty
from lamina.penalties.base import MissingCapability
from lamina.solvers.base import SolveResult


class Solver(str, Enum):
    """Algorithms ``solve`` can run; ``solver=`` takes these names."""

    CD = "cd"                # coordinate descent, working sets (explicit matrices)
    FISTA = "fista"          # accelerated proximal gradient with restart (any A)
    ISTA = "ista"            # proximal gradient (any A)
    CHOLESKY = "cholesky"    # closed-form ridge (explicit matrices)
    LSQR = "lsqr"            # ridge on operators, damped least squares
    CG = "cg"                # ridge on operators, normal equations (default)
    IHT = "iht"              # iterative hard thresholding (L0)
    OMP = "omp"              # orthogonal matching pursuit (L0)
    IRL1 = "irl1"            # iteratively reweighted L1 (L0 surrogate)


# name -> (module, function, penalty capabilities it needs, needs an explicit matrix);
# every solver also uses the three methods every penalty has (value, prox, subdiff_distance)
_REGISTRY = {
    Solver.CD: ("lamina.solvers.cd", "coordinate_descent", ("separable_l1_l2", "block_l2_thresholds"), True),
    Solver.FISTA: ("lamina.solvers.apg", "proximal_gradient", (), False),
    Solver.ISTA: ("lamina.solvers.apg", "proximal_gradient", (), False),
    Solver.CHOLESKY: ("lamina.solvers.ridge", "ridge_closed_form", ("quadratic_strengths",), True),
    Solver.LSQR: ("lamina.solvers.ridge", "ridge_iterative", ("quadratic_strengths",), False),
    Solver.CG: ("lamina.solvers.ridge", "ridge_iterative", ("quadratic_strengths",), False),
    Solver.IHT: ("lamina.solvers.iht", "iterative_hard_thresholding", ("nonzero_costs",), False),
    Solver.OMP: ("lamina.solvers.omp", "orthogonal_matching_pursuit", ("nonzero_costs",), False),
    Solver.IRL1: ("lamina.solvers.irl1", "reweighted_l1", ("nonzero_costs",), False),
}

_EXTRA_OPTIONS = {Solver.ISTA: {"accelerate": False}, Solver.LSQR: {"method": "lsqr"},
                  Solver.CG: {"method": "cg"}}


def _handles(choice: Solver, penalty: Penalty) -> bool:
    """Whether the penalty provides one of the capabilities the solver needs (any, if none)."""
    needs = _REGISTRY[choice][2]
    return not needs or any(penalty.supports(capability) for capability in needs)


def default_solver(penalty: Penalty, explicit: bool) -> Solver:
    """The solver ``solve`` picks for a penalty and a kind of A, from what the penalty provides."""
    if penalty.supports("nonzero_costs"):
        # reweighted L1 escapes the poor local minima IHT and OMP stop in on coherent operators
        # (deconvolution: relative error 0.01 vs 0.40 / 0.46 at the best λ of each)
        return Solver.IRL1
    if penalty.supports("quadratic_strengths"):
        return Solver.CHOLESKY if explicit else Solver.CG
    if explicit and _handles(Solver.CD, penalty):
        return Solver.CD
    return Solver.FISTA if penalty.convex else Solver.ISTA


def _parse_solver(solver) -> Solver:
    return parse_choice(Solver, solver, "solver")


def check_rhs(A, b) -> np.ndarray:
    """b as a finite real 1-D float array with one entry per row of A (errors name b)."""
    b = check_finite_array(b, "b", ndim=1)
    if A.shape[0] != b.shape[0]:
        raise ValueError(f"A has {A.shape[0]} rows but b has {b.shape[0]} entries; shapes must match")
    return b


def solve(A, b, penalty, lam, groups=None, *, tol: float = 1e-6, max_iter: int | None = None,
          solver=None, x0=None, callback=None, check_adjoint: bool = True,
          options: dict | None = None) -> SolveResult:
    """Minimize ½‖Ax − b‖² + Σ_g λ_g R(x_g) with the solver suited to A and R.

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix, scipy LinearOperator or PyLops operator, shape (m, n)
    b : ndarray, shape (m,)
    penalty : {"l0", "l1", "l2", "elasticnet", "group_l1"} or Penalty
        R; a Penalty object carries penalty factors (0 = unpenalized) or the l1_ratio.
    lam : float or array, shape (n_groups,)
        λ, one value or one per group; non-negative.
    groups : Groups, labels (n,), list of index arrays, or None
        The partition λ refers to. None: one group, or one per coefficient when ``lam`` has
        n values.
    tol : float
        Stopping tolerance: relative duality gap for convex penalties on iterative solvers —
        gap ≤ tol·min(½‖b‖², objective) for ``cd`` and ``fista``/``ista`` on least squares (the
        objective's own relative error where a fit nearly interpolates) — relative residual or
        change otherwise.
    max_iter : int, optional
        Iteration budget (solver's default if None); a warning is raised when it runs out.
        Outer (working-set) iterations for ``cd``, atoms for ``omp``, reweightings for ``irl1``.
    solver : str, optional
        Override the choice (see :class:`Solver`).
    x0 : ndarray, shape (n,), optional
        Warm start.
    callback : callable, optional
        ``callback(iteration, x, objective, criterion)`` each recorded iteration; True stops.
    check_adjoint : bool
        Run the dot test on operators before solving (two products with A and Aᵀ).
    options : dict, optional
        Solver-specific keyword arguments (e.g. ``{"step": 0.5}`` for FISTA).

    Returns
    -------
    SolveResult
        ``.x``, ``.objective``, ``.n_iter``, ``.converged``, ``.history`` …

    Notes
    -----
    Default solvers, from the methods the penalty provides (see :mod:`lamina.penalties.base`):
    reweighted L1 (``nonzero_costs``: L0), Cholesky / CG (``quadratic_strengths``: L2),
    coordinate descent with working sets (explicit A; ``separable_l1_l2`` or
    ``block_l2_thresholds``: L1, elastic net, group L1), else FISTA with restart (convex) or
    ISTA (non-convex) on the penalty's prox.

    Examples
    --------
    >>> import numpy as np, lamina
    >>> A = np.eye(3); b = np.array([3.0, 0.5, -2.0])
    >>> lamina.solve(A, b, "l1", 1.0).x.tolist()
    [2.0, 0.0, -1.0]
    """
    A = as_forward_model(A)
    b = check_rhs(A, b)
    penalty = make_penalty(penalty)
    n_features = A.shape[1]
    groups = as_groups(groups, n_features, n_lam=check_lam_values(lam).size)
    lam = check_lam(lam, groups.n_groups)
    check_positive_float(tol, "tol")
    explicit = is_explicit(A)
    if x0 is not None:
        x0 = check_finite_array(x0, "x0", ndim=1)
        if x0.shape[0] != n_features:
            raise ValueError(f"x0 must have {n_features} entries (columns of A), got {x0.shape[0]}")
    choice = default_solver(penalty, explicit) if solver is None else _parse_solver(solver)
    module, function, needs, needs_explicit = _REGISTRY[choice]
    if not _handles(choice, penalty):
        raise MissingCapability(
            f"solver {choice.value!r} does not handle penalty {penalty.name!r} ({type(penalty).__name__}): "
            f"it needs the penalty method {' or '.join(f'{c}()' for c in needs)}")
    if choice is Solver.FISTA and not penalty.convex:
        raise ValueError(f"solver 'fista' needs a convex penalty (momentum has no guarantee on "
                         f"{penalty.name!r}); use 'iht' (monotone), 'omp' or 'irl1'")
    if needs_explicit and not explicit:
        raise ValueError(f"solver {choice.value!r} needs an explicit matrix A (ndarray or scipy.sparse), "
                         f"got an operator; use 'fista' or 'lsqr'")
    if not explicit and check_adjoint and not adjoint_checked(A):
        dottest(A)
    own = sorted({"tol", "max_iter", "x0", "callback"} & set(options or {}))
    if own:
        raise TypeError(f"options: {own} are arguments of solve itself; pass them as solve(..., {own[0]}=...)")
    kwargs = dict(_EXTRA_OPTIONS.get(choice, {}), **(options or {}))
    if max_iter is not None:
        kwargs["max_iter"] = check_positive_int(max_iter, "max_iter")
    if x0 is not None:
        kwargs["x0"] = x0
    run = getattr(import_module(module), function)
    result = run(A, b, penalty, lam, groups, tol=tol, callback=callback, **kwargs)
    return result if penalty.convex else _no_worse_than_zero(result, A, b, penalty, lam, groups)


def _no_worse_than_zero(result, A, b, penalty, lam, groups):
    """The fit of the free coefficients alone (x = 0 where none is free: those whose nonzero cost
    is 0, fitted by least squares) where a non-convex solve ended above its objective: from a
    warm start x0, OMP keeps the atoms it was given and IHT or reweighted L1 may settle in a
    minimum worse than none (``info["zero_kept"]`` says so)."""
    from lamina.solvers.free_coefficients import free_mask
    from lamina.solvers.omp import least_squares_on_support

    free = free_mask(penalty, lam, groups)
    base = least_squares_on_support(A, b, np.zeros(A.shape[1], dtype=bool) if free is None else free)
    residual = matvec(A, base) - b
    at_base = 0.5 * float(np.dot(residual, residual)) + float(penalty.value(base, lam, groups))
    if not result.objective > at_base:
        return result
    return dataclasses.replace(result, x=base, objective=at_base, info={**result.info, "zero_kept": True})
