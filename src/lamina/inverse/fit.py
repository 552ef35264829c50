"""``lamina.inverse.fit``: solve ½‖Ax − b‖² + Σ_g λ_g R(x_g) with λ given or chosen for you."""
from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass, field

import numpy as np

from lamina._validation import check_lam, check_lam_values, check_multipliers, check_positive_float
from lamina._warnings import warn
from lamina.api import solve
from lamina.inverse.pergroup import make_per_group_tuner
from lamina.inverse.rules import Rule, is_l2, make_rule, prepare
from lamina.inverse.tunable import OperatorProblem
from lamina.operators import dottest, is_explicit, mark_adjoint_checked
from lamina.solvers.path import t_max_at_zero
from lamina.tuners import registry
from lamina.tuners.base import Compute, TuneResult
from lamina.tuners.problem import is_problem_tuner
from lamina.tuners.search import GridSearch

#: Rule used when ``rule=None``: 5-fold cross-validation over held-out measurements. It needs no
#: noise level and was within a few per cent of the oracle λ for L0, L1 and L2 on deconvolution
#: and interpolation, where GCV/SURE (df = support size) miss badly on L0 and the discrepancy
#: principle depends on σ (benchmarks/bench_inverse.py). It costs K + 1 paths; "gcv" is the
#: cheap choice (one path) and was as good on L1 for long traces.
DEFAULT_RULE = Rule.CV


@dataclass
class FitResult:
    """Solution of ½‖Ax − b‖² + Σ_g λ_g R(x_g) at the chosen (or given) λ.

    Attributes
    ----------
    x : ndarray, shape (n,)
    lam : ndarray, shape (n_groups,)
        λ per group used for ``x``.
    curve : dict or None
        What λ was chosen from: {"lam": grid of multipliers t (λ = t·direction), "score",
        "index", "residual", "dof", "seminorm", "rule"}; None when λ was given. Per-group
        tuning adds "trajectory" (λ vectors visited) and "per_group_score".
    rule : str or None
    sigma : float or None
        Noise level used by the rule (given or estimated; ``info["sigma_source"]`` says which,
        ``info["noise"]`` holds the :class:`~lamina.inverse.noise.NoiseEstimate`).
    tune : TuneResult or None
        The tuner's full answer (compute spent, info).
    """

    x: np.ndarray
    lam: np.ndarray
    curve: dict | None = None
    rule: str | None = None
    sigma: float | None = None
    tune: TuneResult | None = None
    info: dict = field(default_factory=dict)


def fit(A, b, penalty="l1", lam="auto", rule=None, sigma=None, *, tuner=None, groups=None, direction=None,
        per_group=None, multipliers=None, n_lams: int = 40, tol: float = 1e-6, n_folds=None,
        seed: int = 0, solver=None, callback=None, check_adjoint: bool = True) -> FitResult:
    """Fit a regularized linear inverse problem, choosing λ automatically by default.

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix, LinearOperator or PyLops operator, shape (m, n)
    b : ndarray, shape (m,)
    penalty : {"l1", "l0", "l2"} or Penalty
        R: L1 = Σ|x|, L0 = number of nonzeros, L2 = ½‖x‖² (penalty factors allowed).
    lam : "auto", float or array of one value per group
        "auto" chooses λ = t·direction by ``rule`` along a warm-started path. With ``groups=None``,
        one value per coefficient makes each coefficient its own group, as in :func:`lamina.solve`.
    rule : str, optional
        Deprecated spelling of ``tuner`` (a DeprecationWarning; removed in the next release).
    tuner : str or tuner object, optional
        How λ is chosen with ``lam="auto"``: a name of ``lamina.tuners.available("inverse")`` —
        the rules "cv" (default, :data:`DEFAULT_RULE`), "gcv", "sure", "discrepancy", "lcurve"
        (:mod:`lamina.inverse.rules`) or the generic "grid", "search" (Optuna over the λ
        vector), "descent" (L-BFGS-B on log λ with exact hypergradients) — or a tuner object:
        one of those rules' classes, or any :class:`~lamina.tuners.search.ProblemTuner`, run on
        the problem as a :class:`~lamina.inverse.tunable.OperatorProblem`.
    sigma : float, optional
        Noise standard deviation for "discrepancy" and "sure" (and ``per_group="sure"``);
        when None, estimated from the residual of a cross-validated fit,
        σ̂² = ‖b − A x̂_cv‖²/(m − df) (:func:`lamina.inverse.estimate_sigma`), with a
        :class:`~lamina.inverse.NoiseEstimateWarning` when that estimate is unreliable.
    groups : Groups, labels or list of index arrays, optional
        Partition of x, one λ per group.
    direction : array, shape (n_groups,), optional
        Relative λ per group on the path (ones by default).
    per_group : {None, "hypergradient", "sure"}
        After the single-λ choice, tune one λ per group: by hypergradient descent on a
        held-out 20 % of the measurements, or by coordinate search on SURE
        (:mod:`lamina.inverse.pergroup`).
    multipliers : array, optional
        The grid of t (decreasing); by default ``n_lams`` values from λ_max. The rules and
        "grid" (a :class:`~lamina.tuners.search.GridSearch` without a grid or size of its own,
        which otherwise takes ``n_lams``) search exactly these t; the tuners that search λ
        without a grid of t ("search", "descent", "evidence", other problem tuners) refuse them
        with a ValueError.
    tol, solver, callback
        As in :func:`lamina.solve` (callback: ``callback(k, result)`` per path point).
    n_folds : int, optional
        K of the K-fold CV (rules "cv", and the σ estimate of "sure"/"discrepancy"); by default
        5, or one fold per row of A when A has fewer than 5 rows.
    seed : int
        Seed of the CV folds.
    check_adjoint : bool
        When A is an operator (not an explicit matrix), check once that its ``rmatvec`` is the
        adjoint of its ``matvec`` — PyLops' dot test on one random pair (u, v),
        ⟨Au, v⟩ = ⟨u, Aᵀv⟩ to a relative 10⁻⁶, two products — and raise a ValueError naming
        ``A`` otherwise. False skips it (e.g. an operator already tested). Either way the solves
        of the fit (paths, folds) do not repeat the test.

    Returns
    -------
    FitResult
        ``.x``, ``.lam``, ``.curve``, ``.rule``, ``.sigma``, ``.tune``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((60, 100))
    >>> x = np.zeros(100); x[:5] = 3.0
    >>> b = A @ x + 0.1 * rng.standard_normal(60)
    >>> res = fit(A, b, "l1", tuner="sure", sigma=0.1, n_lams=20)
    >>> sorted(np.flatnonzero(np.abs(res.x) > 0.5).tolist())
    [0, 1, 2, 3, 4]
    """
    if sigma is not None:
        sigma = check_positive_float(sigma, "sigma")
    tuner = _tuner_keyword(tuner, rule)
    if multipliers is not None:
        multipliers = check_multipliers(multipliers)   # refused as given, before folds rescale them
    if isinstance(lam, str):
        if lam != "auto":
            raise ValueError(f"lam must be 'auto', a non-negative number or one per group (got {lam!r})")
    else:
        tuning = {"tuner": tuner, "per_group": per_group, "direction": direction, "multipliers": multipliers}
        given = [name for name, value in tuning.items() if value is not None]   # each ignored at a fixed λ
        if given:
            raise ValueError(f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} only with lam='auto'; "
                             f"drop {' and '.join(n + '=' for n in given)} or set lam='auto'")
    n_lam = None if isinstance(lam, str) else check_lam_values(lam).size   # one per coefficient: as solve
    A, b, penalty_obj, groups, direction = prepare(A, b, penalty, groups, direction, n_lam=n_lam)
    _check_norm_in_range(A)
    if per_group is not None:
        make_per_group_tuner(per_group)     # a bad name refused before the λ choice runs
    if not isinstance(check_adjoint, (bool, np.bool_)):
        raise ValueError(f"check_adjoint must be True or False, got {check_adjoint!r}")
    if not is_explicit(A):
        if check_adjoint:
            try:
                dottest(A, n_trials=1, name="A")
            except ValueError as error:
                skip = "pass check_adjoint=False to skip this check"
                hint = f"fix A's rmatvec, or {skip}" if "dot test" in str(error) else skip
                raise ValueError(f"{error} (lamina.inverse.fit: {hint})") from None
        A = mark_adjoint_checked(A)          # checked (or trusted) once: no solve below tests it again
    if not isinstance(lam, str):
        lam = check_lam(lam, groups.n_groups)
        result = solve(A, b, penalty_obj, lam, groups, tol=tol, solver=solver)
        return FitResult(x=result.x, lam=lam, info={"solve": result})
    n_folds = _default_folds(n_folds, A.shape[0])
    tuner = _make_tuner(DEFAULT_RULE.value if tuner is None else tuner, sigma, n_folds, seed)
    if not is_l2(penalty_obj) and t_max_at_zero(A, b, penalty_obj, groups, direction) <= 0:
        return _zero_for_every_lambda(A, b, penalty_obj, groups, direction, tol, solver, tuner)
    if is_problem_tuner(tuner):
        tuner = _on_the_grid(tuner, multipliers, n_lams)
        problem = OperatorProblem(A, b, penalty_obj, groups, direction, tol=tol, solver=solver, seed=seed)
        tuned = tuner.tune_problem(problem)
    else:
        tuned = tuner.tune(A, b, penalty_obj, groups=groups, direction=direction, multipliers=multipliers,
                           n_lams=n_lams, tol=tol, solver=solver, callback=callback)
    used_sigma = tuned.info.get("sigma", sigma)
    x, lam_vector, curve = tuned.fitted, tuned.lambda_vector, dict(tuned.curve or {})
    if per_group is not None:

        group_tuner = make_per_group_tuner(per_group, sigma=used_sigma, seed=seed)
        refined = group_tuner.tune(A, b, penalty_obj, groups=groups, start=lam_vector, tol=tol)
        compute = Compute(fits=tuned.compute.fits + refined.compute.fits,
                          epochs=tuned.compute.epochs + refined.compute.epochs,
                          seconds=tuned.compute.seconds + refined.compute.seconds)
        curve.update(trajectory=refined.trajectory, per_group_score=refined.curve.get("score"),
                     per_group_method=refined.method)
        tuned = TuneResult(method=f"{tuned.method}+{refined.method}", lambdas=refined.lambdas,
                           fitted=refined.fitted, trajectory=refined.trajectory, compute=compute,
                           curve=curve, info={**tuned.info, **refined.info})
        x, lam_vector = refined.fitted, refined.lambda_vector
        used_sigma = refined.info.get("sigma", used_sigma)
    return FitResult(x=np.asarray(x), lam=lam_vector, curve=curve, rule=tuner.name, sigma=used_sigma,
                     tune=tuned, info=tuned.info)


#: the largest squared Frobenius norm of an explicit A that :func:`fit` accepts: the solvers form
#: products of squared column norms (A scaled by 1e100, squared norm ~1e203, solved as unscaled; by
#: 1e150, ~1e303, coordinate descent overflowed, and by 1e160 minutes of work ended at x = 0)
MAX_SQUARED_NORM = 1e250


def _check_norm_in_range(A) -> None:
    """An explicit A whose squared norm exceeds :data:`MAX_SQUARED_NORM` is refused, naming A."""
    if not is_explicit(A):
        return
    entries = A if isinstance(A, np.ndarray) else A.data   # a sparse matrix: its stored entries
    with np.errstate(over="ignore"):
        squared = float(np.linalg.norm(np.ravel(entries))) ** 2
    if not squared <= MAX_SQUARED_NORM:
        raise ValueError(f"A's entries are too large (up to {float(np.max(np.abs(entries))):.3g}; squared norm "
                         f"{squared:.3g} > {MAX_SQUARED_NORM:g}, where the solvers' products overflow): rescale A "
                         "and b (x is unchanged when A, b and λ scale by c, c and c²)")


def _default_folds(n_folds, n_rows: int):
    """The caller's K, or 5 — fewer (one row per fold) when A has fewer than 5 rows."""
    return min(5, max(n_rows, 2)) if n_folds is None else n_folds


def _zero_for_every_lambda(A, b, penalty, groups, direction, tol, solver, tuner) -> FitResult:
    """Aᵀr = 0 on every penalized coefficient, r the residual of the unpenalized ones' least-squares
    fit (b = 0, say): x_g = 0 is optimal for every λ > 0, so there is nothing to choose — the fit at
    λ = direction, with a warning saying so."""
    warn("Aᵀb is zero on every penalized coefficient (b = 0, or fitted by the unpenalized coefficients "
         "alone?): the penalized coefficients are 0 for "
         "every λ, so λ is not chosen; the fit at λ = direction is returned", UserWarning)
    result = solve(A, b, penalty, direction, groups, tol=tol, solver=solver)
    return FitResult(x=result.x, lam=np.asarray(direction, dtype=float), rule=getattr(tuner, "name", None),
                     info={"solve": result, "lam_not_chosen": "Aᵀb is zero on every penalized coefficient"})


def _tuner_keyword(tuner, rule):
    """``tuner``, or the deprecated ``rule`` with a DeprecationWarning."""
    if rule is None:
        return tuner
    warn("lamina.inverse.fit(rule=...) is deprecated; use tuner=... (same names)", DeprecationWarning)
    if tuner is not None:
        raise ValueError(f"give tuner= or the deprecated rule=, not both (tuner={tuner!r}, rule={rule!r})")
    return getattr(rule, "value", rule)


def _make_tuner(tuner, sigma, n_folds: int, seed: int):
    """A tuner object from a registered name (rules get σ, folds and seed); objects pass."""
    if not isinstance(tuner, str):
        if not (is_problem_tuner(tuner) or _tunes_inverse_problems(tuner)):
            raise ValueError(_wrong_tuner_message(tuner))
        return tuner
    name = registry.entry(tuner, "inverse").name
    if name in [r.value for r in Rule]:
        return make_rule(name, sigma=sigma, n_folds=n_folds, seed=seed)
    tuner = registry.entry(name, "inverse").load()()
    if hasattr(tuner, "cv") and name != "search":          # Optuna's search keeps its one hold-out split
        tuner.cv = n_folds
    if hasattr(tuner, "seed"):                             # the sampler follows fit's seed
        tuner.seed = seed
    return tuner


def _on_the_grid(tuner, multipliers, n_lams: int):
    """The problem tuner that searches fit's grid of t: a :class:`~lamina.tuners.search.GridSearch`
    without a grid of its own takes ``multipliers`` (decreasing, as the rules take them), or else
    ``n_lams`` points where it has no size either (a copy: the user's object is never changed).
    ``multipliers`` given to a tuner that searches without a grid of t, or to a GridSearch that has
    its own grid or size, are refused naming both (they used to be dropped silently)."""
    if not isinstance(tuner, GridSearch):
        if multipliers is not None:
            raise ValueError(f"multipliers= (the grid of t) applies to the rules ('cv', 'gcv', 'sure', 'discrepancy', "
                             f"'lcurve') and 'grid'; tuner {tuner.name!r} searches λ without a grid of t, so it cannot "
                             "honor them: drop multipliers= or use one of those tuners")
        return tuner
    own = [f"{name}=" for name in ("grid", "n_values") if getattr(tuner, name) is not None]
    if multipliers is not None and own:
        raise ValueError(f"multipliers= and the GridSearch's own {' and '.join(own)} both give its grid of t; "
                         "give one of them")
    if own:
        return tuner
    tuner = copy.copy(tuner)
    if multipliers is None:
        tuner.n_values = n_lams
    else:
        tuner.grid = np.sort(multipliers)[::-1]
    return tuner


#: how :func:`fit` calls a tuner object that is not a problem tuner (a path rule's ``tune``)
_RULE_CALL = ("A", "b", "penalty")
_RULE_KEYWORDS = ("groups", "direction", "multipliers", "n_lams", "tol", "solver", "callback")


def _tunes_inverse_problems(tuner) -> bool:
    """Whether ``tuner.tune`` takes the call :func:`fit` makes: (A, b, penalty, groups=…, direction=…,
    multipliers=…, n_lams=…, tol=…, solver=…, callback=…), as the rules of :mod:`lamina.inverse` do."""
    tune = getattr(tuner, "tune", None)
    if not callable(tune):
        return False
    try:
        inspect.signature(tune).bind(*_RULE_CALL, **dict.fromkeys(_RULE_KEYWORDS))
    except (TypeError, ValueError):
        return False
    return True


def _wrong_tuner_message(tuner) -> str:
    """The error for a ``tuner`` object fit cannot call, saying what it takes instead."""
    expected = ("tuner must be a name of lamina.tuners.available('inverse') (e.g. 'cv', 'gcv', 'grid'), a rule "
                "object of lamina.inverse (tune(A, b, penalty, groups=, direction=, multipliers=, n_lams=, tol=, "
                "solver=, callback=), e.g. lamina.inverse.rules.GCV()) or a problem tuner with tune_problem "
                "(e.g. lamina.tuners.search.GridSearch())")
    tune = getattr(tuner, "tune", None)
    if not callable(tune):
        return f"{expected}; got {tuner!r}"
    try:
        signature = f"tune{inspect.signature(tune)}"
    except (TypeError, ValueError):
        signature = "tune(...)"
    return (f"{expected}; got a {type(tuner).__module__}.{type(tuner).__name__}, whose {signature} is not that call "
            "(the tuners of the estimators, lamina.GridCVTuner and the like, take (X, y, spec): pass them to "
            "lamina.Lasso(tuner=...) and co.; here tuner='cv' is K-fold CV over the rows of A)")
