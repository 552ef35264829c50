"""Group lasso: lamina's block coordinate descent against skglm and celer.

Every solver minimizes the same problem on the same data, without intercept, groups of
consecutive features with unit weights: lamina ``solve(X, y, GroupL1(ones), λ, groups)``
takes ½‖y − Xw‖² + λ Σ_g ‖w_g‖₂; skglm's and celer's ``GroupLasso`` take
1/(2n)‖y − Xw‖² + α Σ_g ‖w_g‖₂, the same objective divided by n when α = λ/n. Both peers run
as their documentation shows (``GroupLasso(groups=size, alpha, tol, fit_intercept=False)``),
``max_iter`` raised to 1000 so that their ``tol`` alone decides where they stop.

Protocol (as in bench_lasso and bench_logistic), per problem: P* is the lowest objective any run
reached (a tight lamina solve included); each solver sweeps its own ``tol`` over 10⁻¹ … 10⁻¹⁴
until its result reaches the relative suboptimality (P − P*)/P* ≤ 1e-6 and keeps the loosest such
tol; that setting is timed ``repeats`` times, the solvers interleaved. A solver whose sweep has not
reached the target when its fits have taken 60 s in all (bench_logistic.BUDGET_S) is reported "not reached",
with the best suboptimality it got. One BLAS thread (``threadpool_limits(1)``).

Problems: Toeplitz-correlated Gaussian designs (ρ = 0.6, bench_lasso's generator) with groups of
5 — as generated ("standardized") and with each column multiplied by 10^u, u uniform in [−2, 2]
("columns scaled 1e±2"); scikit-learn's breast_cancer (569 × 30, groups of 5 and of 10) as it
ships (feature scales from 1e-3 to 1e3) and standardized. λ = λmax/10, λmax/100 and λmax/10⁴
(nearly unregularized: where the conditioning within the blocks decides), λmax = max_g ‖X_gᵀy‖.

Usage: ``python benchmarks/bench_group_lasso.py [--quick]`` or through ``benchmarks/run.py``.
"""
from __future__ import annotations

import argparse
import gc
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
from bench_lasso import _ratio, _spread, response, toeplitz_design
from bench_logistic import measure   # the same sweep-then-time protocol, with this module's timed_fit

TIGHT_TOL = 1e-14
SOLVERS = ("lamina", "skglm", "celer")


@dataclass
class Problem:
    name: str
    X: np.ndarray
    y: np.ndarray
    size: int     # features per group, consecutive
    lam: float


def _lam_max(X, y, size) -> float:
    return float(np.max(np.linalg.norm((X.T @ y).reshape(-1, size), axis=1)))


def problems(quick: bool) -> list[Problem]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler
    rng = np.random.default_rng(0)
    n, p = (200, 500) if quick else (500, 2000)
    X = toeplitz_design(n, p, 0.6, rng)
    y = response(X, 0.02, rng)
    scaled = np.asfortranarray(X * 10.0 ** rng.uniform(-2, 2, p))
    cancer, target = load_breast_cancer(return_X_y=True)
    target = target - target.mean()
    data = [(f"Toeplitz {n}×{p} standardized", X, y, 5), (f"Toeplitz {n}×{p} columns scaled 1e±2", scaled, y, 5),
            ("breast_cancer unscaled", np.asfortranarray(cancer), target, 5),
            ("breast_cancer unscaled", np.asfortranarray(cancer), target, 10),
            ("breast_cancer standardized", np.asfortranarray(StandardScaler().fit_transform(cancer)), target, 5)]
    return [Problem(f"{name}, groups of {size}, λmax/{ratio}", X, y, size, _lam_max(X, y, size) / ratio)
            for name, X, y, size in data for ratio in (10, 100, 10_000)]


def fit(solver: str, problem: Problem, tol: float) -> np.ndarray:
    X, y, size = problem.X, problem.y, problem.size
    if solver == "lamina":
        import lamina
        from lamina.groups import Groups
        from lamina.penalties import GroupL1
        groups = Groups.contiguous([size] * (X.shape[1] // size))
        return lamina.solve(X, y, GroupL1(np.ones(groups.n_groups)), problem.lam, groups, tol=tol, max_iter=1000).x
    alpha = problem.lam / X.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if solver == "skglm":
            from skglm import GroupLasso
            model = GroupLasso(groups=size, alpha=alpha, tol=tol, max_iter=1000, fit_intercept=False)
        elif solver == "celer":
            from celer import GroupLasso
            model = GroupLasso(groups=size, alpha=alpha, tol=tol, max_iter=1000, fit_intercept=False)
        else:
            raise ValueError(f"unknown solver {solver!r}")
        return np.asarray(model.fit(X, y).coef_)


def objective(problem: Problem, w) -> float:
    residual = problem.y - problem.X @ w
    return 0.5 * float(residual @ residual) + problem.lam * float(np.sum(np.linalg.norm(w.reshape(-1, problem.size),
                                                                                       axis=1)))


def timed_fit(solver, problem, tol):
    gc.collect()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = fit(solver, problem, tol)
    return time.perf_counter() - start, objective(problem, w)


def _ms(values, best_gap) -> str:
    if not values:
        return f"not reached (best {best_gap:.0e})"
    return _spread(values, 1e3, 1 if np.median(values) < 0.1 else 0)


def run(quick: bool = False) -> str:
    """Markdown table: time (ms) to relative suboptimality 1e-6, median [min–max]."""
    from threadpoolctl import threadpool_limits
    repeats = 3 if quick else 5
    warm = problems(True)[0]
    for solver in SOLVERS:   # imports and numba compilation before timing
        fit(solver, warm, 1e-3)
    rows, notes = [], []
    for problem in problems(quick):
        with threadpool_limits(1):
            result = measure(problem, repeats, timed_fit, SOLVERS, TIGHT_TOL)
        t, best = result["times"], result["best"]
        print(f"{problem.name}: {result['chosen']}", file=sys.stderr, flush=True)
        rows.append(f"| {problem.name} | {_ms(t['lamina'], best['lamina'])} | {_ms(t['skglm'], best['skglm'])} | "
                    f"{_ms(t['celer'], best['celer'])} | {_ratio(t, 'skglm')} | {_ratio(t, 'celer')} |")
        tols = ", ".join(f"{s} {result['chosen'][s]:.0e}" if result["chosen"][s] else f"{s} –" for s in SOLVERS)
        notes.append(f"- {problem.name}: tol used: {tols}; P* = {result['p_star']:.10g}")
    header = ("## Group lasso: time (ms) to relative suboptimality 1e-6\n\n"
              f"Median [min–max] over {repeats} interleaved rounds; a ratio is the median of per-round ratios. "
              "skglm and celer: GroupLasso(groups=size, alpha=λ/n, tol, max_iter=1000, fit_intercept=False); "
              "one thread each; same objective for all.\n\n"
              "| problem | lamina | skglm | celer | lamina/skglm | lamina/celer |\n|---|---|---|---|---|---|")
    return "\n".join([header, *rows, "", *notes]) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 200 × 500 Toeplitz design, 3 rounds")
    started = time.perf_counter()
    print(run(quick=parser.parse_args().quick))
    print(f"_{time.perf_counter() - started:.0f} s in all_")
