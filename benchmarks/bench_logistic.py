"""Multinomial logistic regression: lamina's proximal Newton against scikit-learn.

Both minimize scikit-learn's objective with intercepts (never penalized),

    P(W, w₀) = C Σ_i ℓ(y_i, Wᵀx_i + w₀) + R(W),   ℓ the softmax cross-entropy,

R = ½‖W‖²_F (L2) or ‖W‖₁ (L1); lamina takes it divided by nC, i.e. ``LogisticRegression(lam=1/(nC))``
(its docstring). scikit-learn runs as its documentation recommends for each penalty: ``lbfgs`` (its
default) for L2, ``saga`` (the solver it names for multinomial L1) for L1, ``max_iter`` raised to
100 000 so that its ``tol`` alone decides where it stops.

Protocol (as in bench_lasso), per problem: P* is the lowest objective any run reached (a tight
lamina solve at tol 1e-12 included); each solver sweeps its own ``tol`` over 10⁻¹ … 10⁻¹⁴ until its
result reaches the relative suboptimality (P − P*)/P* ≤ 1e-6 and keeps the loosest such tol; that
setting is timed ``repeats`` times, the solvers interleaved. A solver whose sweep has not reached
the target when its fits have taken ``BUDGET_S`` seconds in all is reported "not reached", with
the best suboptimality it got.

Problems: scikit-learn's iris (150 × 4, 3 classes), wine (178 × 13, 3 classes; proline is in the
thousands) and digits (1797 × 64, 10 classes; the first 600 images in ``--quick``), each as shipped
("unscaled") and standardized; C = 1 (scikit-learn's default) for L2 and C = 0.1 for L1.

One thread for both (``threadpoolctl.threadpool_limits(1)``; lamina's numba kernels are single-threaded):
with its default thread pools and another process busy on the second core, scikit-learn's lbfgs
on iris took 120–150 ms a fit instead of 5 ms.

Usage: ``python benchmarks/bench_logistic.py [--quick]`` or through ``benchmarks/run.py``.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
from bench_lasso import _ratio, _spread   # the Lasso benchmark's median [min–max] formats
from scipy.special import logsumexp

TARGET = 1e-6
DECADES = [10.0 ** -k for k in range(1, 15)]
TIGHT_TOL = 1e-12
BUDGET_S = 60.0      # a solver's tolerance sweep stops once its fits have taken this long in all
SOLVERS = ("lamina", "sklearn")


@dataclass
class Problem:
    name: str
    X: np.ndarray
    y: np.ndarray
    penalty: str
    C: float


def problems(quick: bool) -> list[Problem]:
    from sklearn.datasets import load_digits, load_iris, load_wine
    from sklearn.preprocessing import StandardScaler
    data = [("iris", load_iris(return_X_y=True)), ("wine", load_wine(return_X_y=True))]
    X, y = load_digits(return_X_y=True)
    data.append(("digits", (X[:600], y[:600]) if quick else (X, y)))
    out = []
    for name, (X, y) in data:
        for scaling, Xs in (("unscaled", X), ("standardized", StandardScaler().fit_transform(X))):
            for penalty, C in (("l2", 1.0), ("l1", 0.1)):
                out.append(Problem(f"{name} {scaling} {penalty.upper()} C={C:g}", np.asarray(Xs, float), y, penalty, C))
    return out


def fit(solver: str, problem: Problem, tol: float):
    """(W of shape (K, p), w₀ of shape (K,)) from one solver at its own ``tol``."""
    n = problem.X.shape[0]
    if solver == "lamina":
        import lamina
        model = lamina.LogisticRegression(lam=1.0 / (n * problem.C), penalty=problem.penalty, tol=tol)
    elif solver == "sklearn":
        from sklearn.linear_model import LogisticRegression
        model = LogisticRegression(C=problem.C, l1_ratio=1.0 if problem.penalty == "l1" else 0.0,
                                   solver="saga" if problem.penalty == "l1" else "lbfgs", tol=tol, max_iter=100_000)
    else:
        raise ValueError(f"unknown solver {solver!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(problem.X, problem.y)
    return np.asarray(model.coef_), np.asarray(model.intercept_)


def objective(problem: Problem, coef, intercept) -> float:
    classes, codes = np.unique(problem.y, return_inverse=True)
    scores = problem.X @ coef.T + intercept
    loss = float(np.sum(logsumexp(scores, axis=1) - scores[np.arange(len(codes)), codes]))
    reg = 0.5 * float(np.sum(coef ** 2)) if problem.penalty == "l2" else float(np.sum(np.abs(coef)))
    return problem.C * loss + reg


def timed_fit(solver, problem, tol):
    gc.collect()
    start = time.perf_counter()
    coef, intercept = fit(solver, problem, tol)
    return time.perf_counter() - start, objective(problem, coef, intercept)


def measure(problem, repeats: int, timed=None, solvers=SOLVERS, tight_tol: float = TIGHT_TOL) -> dict:
    """The protocol of the module docstring for ``solvers`` on ``problem``: P* from a tight lamina
    run, each solver's tolerance sweep, then ``repeats`` interleaved timings at the chosen tolerances.
    ``timed(solver, problem, tol)`` returns (seconds, objective); bench_group_lasso passes its own."""
    timed = timed_fit if timed is None else timed
    p_star = timed("lamina", problem, tight_tol)[1]
    sweeps = {s: [] for s in solvers}
    for solver in solvers:
        spent = 0.0
        for tol in DECADES:
            seconds, value = timed(solver, problem, tol)
            sweeps[solver].append((tol, value))
            p_star, spent = min(p_star, value), spent + seconds
            if (value - p_star) / p_star <= TARGET or spent > BUDGET_S:
                break
    chosen, best = {}, {}
    for solver, sweep in sweeps.items():
        gaps = [((value - p_star) / p_star, tol) for tol, value in sweep]
        reached = [tol for gap, tol in gaps if gap <= TARGET]
        chosen[solver] = max(reached) if reached else None
        best[solver] = min(gap for gap, _ in gaps)
    times = {s: [] for s in solvers}
    for round_ in range(repeats):
        shift = round_ % len(solvers)
        for solver in solvers[shift:] + solvers[:shift]:
            if chosen[solver] is not None:
                times[solver].append(timed(solver, problem, chosen[solver])[0])
    return {"times": times, "chosen": chosen, "best": best, "p_star": p_star}


def _ms(values, best_gap) -> str:
    return _spread(values, 1e3) if values else f"not reached (best {best_gap:.0e})"


def run(quick: bool = False) -> str:
    """Markdown table: time (ms) to relative suboptimality 1e-6, median [min–max]."""
    from threadpoolctl import threadpool_limits
    repeats = 3 if quick else 5
    fit("lamina", problems(True)[0], 1e-4)   # imports and numba compilation before timing
    rows, notes = [], []
    for problem in problems(quick):
        with threadpool_limits(1):
            result = measure(problem, repeats)
        t = result["times"]
        print(f"{problem.name}: {result['chosen']}", file=sys.stderr, flush=True)
        rows.append(f"| {problem.name} | {_ms(t['lamina'], result['best']['lamina'])} | "
                    f"{_ms(t['sklearn'], result['best']['sklearn'])} | {_ratio(t, 'sklearn')} |")
        tols = ", ".join(f"{s} {result['chosen'][s]:.0e}" if result["chosen"][s] else f"{s} –" for s in SOLVERS)
        notes.append(f"- {problem.name}: tol used: {tols}; P* = {result['p_star']:.10g}")
    header = ("## Multinomial logistic regression: time (ms) to relative suboptimality 1e-6\n\n"
              f"Median [min–max] over {repeats} interleaved rounds; the ratio is the median of per-round ratios. "
              "scikit-learn: lbfgs (L2), saga (L1), max_iter 100 000; one thread each; same objective for both, "
              "intercepts unpenalized.\n\n"
              "| problem | lamina | sklearn | lamina/sklearn |\n|---|---|---|---|")
    return "\n".join([header, *rows, "", *notes]) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 digits images, 3 rounds")
    started = time.perf_counter()
    print(run(quick=parser.parse_args().quick))
    print(f"_{time.perf_counter() - started:.0f} s in all_")
