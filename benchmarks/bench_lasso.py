"""Lasso: lamina's coordinate descent against scikit-learn, skglm and celer.

Every solver minimizes the same problem on the same data, without intercept:
lamina ``solve(X, y, "l1", lam)`` takes ½‖y − Xw‖² + λ‖w‖₁; scikit-learn, skglm and celer
take 1/(2n)‖y − Xw‖² + α‖w‖₁, which is the same objective divided by n when α = λ/n.
Objectives below are all evaluated in lamina's scale, P(w) = ½‖y − Xw‖² + λ‖w‖₁.

Protocol, per problem:

1. Reference: every solver but scikit-learn runs at a tolerance of 1e-14; P* is the lowest
   objective seen anywhere in the benchmark (these tight solves and the sweep below). The
   spread of the tight objectives is printed as a check that all solve the same problem.
2. Sweep: each solver runs at tolerances 10^-1, 10^-2, …, 10^-14 (each library reading its
   own ``tol`` its own way) until its result reaches the relative suboptimality
   (P − P*)/P* ≤ 1e-6, then tries the half decade above that tolerance; it keeps the loosest
   tolerance that reached the target.
3. Timing: that setting is timed ``repeats`` times, the solvers interleaved (rotated order
   in each round) so that load from other processes hits them alike. Times are the median
   and [min–max]; a ratio is the median of the per-round ratios, with its [min–max].

Numba code (lamina, skglm, celer's Cython needs none) is compiled by a warm-up solve on a
small dense and a small sparse problem before anything is measured.

Problems: Gaussian designs whose features have Toeplitz correlation ρ^|i−j|, ρ = 0.6
(generated as an AR(1) recursion across features), and a sparse design (scipy.sparse,
uniform positions, Gaussian values); ground truth with 1% nonzeros (Gaussian values),
noise at SNR 3; λ = λmax/10 and λmax/100 with λmax = ‖Xᵀy‖∞.

Usage: ``python benchmarks/bench_lasso.py [--quick]`` or through ``benchmarks/run.py``.
"""
from __future__ import annotations

import argparse
import gc
import time
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

RHO = 0.6
TARGET = 1e-6
DECADES = [10.0 ** -k for k in range(1, 15)]   # 1e-1 … 1e-14, refined to half decades
TIGHT_TOL = 1e-14
SOLVERS = ("lamina", "skglm", "celer", "sklearn")


@dataclass
class Problem:
    name: str
    X: object
    y: np.ndarray
    lam: float


# ----------------------------------------------------------------------------- data
def toeplitz_design(n: int, p: int, rho: float, rng) -> np.ndarray:
    """Rows ~ N(0, Σ), Σ_ij = ρ^|i−j|, Fortran-ordered (AR(1) across the columns)."""
    X = np.empty((n, p), order="F")
    X[:, 0] = rng.standard_normal(n)
    innovation = np.sqrt(1.0 - rho * rho)
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + innovation * rng.standard_normal(n)
    return X


def sparse_design(n: int, p: int, density: float, rng) -> sp.csc_matrix:
    X = sp.random(n, p, density=density, format="csc", random_state=rng,
                  data_rvs=rng.standard_normal)
    X.sort_indices()
    return X


def response(X, truth_density: float, rng, snr: float = 3.0) -> np.ndarray:
    p = X.shape[1]
    w = np.zeros(p)
    support = rng.choice(p, max(1, int(truth_density * p)), replace=False)
    w[support] = rng.standard_normal(support.size)
    signal = X @ w
    noise = rng.standard_normal(X.shape[0])
    return signal + noise * np.linalg.norm(signal) / (snr * np.linalg.norm(noise))


def problems(quick: bool) -> list[Problem]:
    rng = np.random.default_rng(0)
    designs = [("Toeplitz n=500 p=2000", toeplitz_design(500, 2000, RHO, rng), 0.01)]
    if quick:
        designs.append(("sparse n=1000 p=10000 d=2e-3", sparse_design(1000, 10_000, 2e-3, rng), 0.01))
    else:
        designs.append(("Toeplitz n=1000 p=10000", toeplitz_design(1000, 10_000, RHO, rng), 0.01))
        designs.append(("sparse n=4000 p=40000 d=2e-3", sparse_design(4000, 40_000, 2e-3, rng), 0.01))
    out = []
    for name, X, truth_density in designs:
        y = response(X, truth_density, rng)
        lam_max = float(np.max(np.abs(X.T @ y)))
        for ratio in (10, 100):
            out.append(Problem(f"{name} λmax/{ratio}", X, y, lam_max / ratio))
    return out


# ----------------------------------------------------------------------------- solvers
def fit(solver: str, X, y, lam: float, tol: float) -> np.ndarray:
    """Coefficients from one solver at its own ``tol``; same objective for all."""
    alpha = lam / X.shape[0]
    if solver == "lamina":
        import lamina
        return lamina.solve(X, y, "l1", lam, tol=tol, solver="cd", max_iter=1000).x
    if solver == "skglm":
        from skglm import Lasso
        model = Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1000)
    elif solver == "celer":
        from celer import Lasso
        model = Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=1000)
    elif solver == "sklearn":
        from sklearn.linear_model import Lasso
        model = Lasso(alpha=alpha, fit_intercept=False, tol=tol, max_iter=100_000)
    else:
        raise ValueError(f"unknown solver {solver!r}")
    return model.fit(X, y).coef_


def objective(X, y, lam: float, w) -> float:
    residual = y - X @ w
    return 0.5 * float(residual @ residual) + lam * float(np.abs(w).sum())


def quiet_fit(solver, X, y, lam, tol):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(solver, X, y, lam, tol)


def warm_up() -> None:
    """Compile the numba kernels of lamina and skglm (dense and sparse) before timing."""
    rng = np.random.default_rng(1)
    for X in (toeplitz_design(50, 80, RHO, rng), sparse_design(50, 80, 0.2, rng)):
        y = response(X, 0.1, rng)
        lam = float(np.max(np.abs(X.T @ y))) / 10
        for solver in SOLVERS:
            quiet_fit(solver, X, y, lam, 1e-8)


# ----------------------------------------------------------------------------- protocol
def timed(solver, problem, tol) -> float:
    gc.collect()
    start = time.perf_counter()
    quiet_fit(solver, problem.X, problem.y, problem.lam, tol)
    return time.perf_counter() - start


def measure(problem: Problem, repeats: int) -> dict:
    X, y, lam = problem.X, problem.y, problem.lam
    tight = {s: objective(X, y, lam, quiet_fit(s, X, y, lam, TIGHT_TOL)) for s in SOLVERS if s != "sklearn"}
    p_star = min(tight.values())
    sweeps = {}
    for solver in SOLVERS:
        sweeps[solver] = []

        def reaches(tol):
            nonlocal p_star
            value = objective(X, y, lam, quiet_fit(solver, X, y, lam, tol))
            sweeps[solver].append((tol, value))
            p_star = min(p_star, value)
            return (value - p_star) / p_star <= TARGET

        for k, tol in enumerate(DECADES):
            if reaches(tol):
                if k > 0:
                    reaches(tol * np.sqrt(10.0))   # the half decade above
                break
    chosen = {}
    for solver, sweep in sweeps.items():
        reached = [tol for tol, value in sweep if (value - p_star) / p_star <= TARGET]
        chosen[solver] = max(reached) if reached else None
    times = {s: [] for s in SOLVERS}
    for round_ in range(repeats):
        order = SOLVERS[round_ % len(SOLVERS):] + SOLVERS[:round_ % len(SOLVERS)]
        for solver in order:
            if chosen[solver] is not None:
                times[solver].append(timed(solver, problem, chosen[solver]))
    agreement = (max(tight.values()) - p_star) / p_star
    return {"times": times, "chosen": chosen, "agreement": agreement, "p_star": p_star}


def _spread(values, scale=1.0, digits=0) -> str:
    values = np.asarray(values) * scale
    fmt = f"{{:.{digits}f}}"
    return f"{fmt.format(np.median(values))} [{fmt.format(values.min())}–{fmt.format(values.max())}]"


def _ms(values) -> str:
    if not values:
        return "not reached"
    digits = 1 if np.median(values) < 0.1 else 0
    return _spread(values, 1e3, digits)


def _ratio(times, other) -> str:
    a, b = times["lamina"], times[other]
    if not a or not b:
        return "–"
    return _spread(np.asarray(a) / np.asarray(b), digits=2)


def run(quick: bool = False) -> str:
    """Markdown table: time to relative suboptimality 1e-6, median [min–max] in ms."""
    repeats = 3 if quick else 7
    warm_up()
    rows, notes = [], []
    for problem in problems(quick):
        result = measure(problem, repeats)
        t = result["times"]
        rows.append(f"| {problem.name} | " + " | ".join(_ms(t[s]) for s in SOLVERS) + " | "
                    + " | ".join(_ratio(t, s) for s in ("skglm", "celer", "sklearn")) + " |")
        tols = ", ".join(f"{s} {result['chosen'][s]:.0e}" if result["chosen"][s] else f"{s} –"
                         for s in SOLVERS)
        notes.append(f"- {problem.name}: tol used: {tols}; tight solves agree to "
                     f"{result['agreement']:.1e} relative (P* = {result['p_star']:.10g})")
    header = ("## Lasso: time (ms) to relative suboptimality 1e-6\n\n"
              f"Median [min–max] over {repeats} interleaved rounds; ratios are medians of per-round "
              "ratios. Toeplitz ρ = 0.6; no intercept; same objective for all solvers.\n\n"
              "| problem | lamina | skglm | celer | sklearn | lamina/skglm | lamina/celer | lamina/sklearn |\n"
              "|---|---|---|---|---|---|---|---|")
    return "\n".join([header, *rows, "", *notes]) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small problems, 3 rounds (< 60 s)")
    started = time.perf_counter()
    print(run(quick=parser.parse_args().quick))
    print(f"_{time.perf_counter() - started:.0f} s in all_")
