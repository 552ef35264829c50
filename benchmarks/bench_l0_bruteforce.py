"""L0 solvers against the global minimum on small random designs (brute force over supports).

150 problems ½‖Ax − b‖² + λ‖x‖₀: A of 15–60 rows and 5–11 columns (every second one with columns
scaled by factors in [0.2, 5]), a 3-sparse truth plus unit noise, λ log-uniform in [1e-4, 1] × the
L0 λ_max max_j (a_jᵀb)² / (2‖a_j‖²). For each solver: how often it ends above x = 0's objective,
above IHT's, above the global minimum (relative 1e-6), and the median / largest ratio of its
objective to the global minimum.

Usage: ``python benchmarks/bench_l0_bruteforce.py [--problems 150] [--solvers irl1 iht omp]``.
"""
from __future__ import annotations

import argparse
import itertools
import warnings

import numpy as np

import lamina


def problems(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for trial in range(count):
        m, p = int(rng.integers(15, 60)), int(rng.integers(5, 12))
        A = rng.standard_normal((m, p))
        if trial % 2:
            A = A * rng.uniform(0.2, 5.0, p)
        x_true = np.zeros(p)
        x_true[rng.choice(p, 3, replace=False)] = 3.0 * rng.standard_normal(3)
        b = A @ x_true + rng.standard_normal(m)
        lam_max = float(np.max((A.T @ b) ** 2 / (2.0 * np.sum(A * A, axis=0))))
        yield A, b, lam_max * 10 ** rng.uniform(-4, 0)


def global_minimum(A, b, lam) -> float:
    p = A.shape[1]
    best = 0.5 * float(b @ b)
    for k in range(1, p + 1):
        for support in itertools.combinations(range(p), k):
            columns = A[:, list(support)]
            coef = np.linalg.lstsq(columns, b, rcond=None)[0]
            best = min(best, 0.5 * float(np.sum((columns @ coef - b) ** 2)) + lam * k)
    return best


def run(quick: bool = False, n_problems: int | None = None, solvers=("irl1", "iht", "omp")) -> str:
    """The markdown table (30 problems with ``quick``, else 150)."""
    n_problems = n_problems or (30 if quick else 150)
    warnings.simplefilter("ignore")
    counts = {s: {"above x=0": 0, "above IHT": 0, "above the minimum": 0, "ratios": []} for s in solvers}
    for A, b, lam in problems(n_problems):
        objective = lambda x: 0.5 * float(np.sum((A @ x - b) ** 2)) + lam * np.count_nonzero(x)  # noqa: E731
        best, zero = global_minimum(A, b, lam), 0.5 * float(b @ b)
        iht = objective(lamina.solve(A, b, "l0", lam, solver="iht").x)
        for solver in solvers:
            value = objective(lamina.solve(A, b, "l0", lam, solver=solver).x)
            row = counts[solver]
            row["above x=0"] += value > zero + 1e-9
            row["above IHT"] += value > iht + 1e-9
            row["above the minimum"] += value > best * (1 + 1e-6)
            row["ratios"].append(value / best)
    lines = [f"| solver ({n_problems} problems) | above x = 0 | above IHT | above the global minimum | median ratio | "
             "largest ratio |", "|---|---|---|---|---|---|"]
    for solver, row in counts.items():
        lines.append(f"| {solver} | {row['above x=0']} | {row['above IHT']} | {row['above the minimum']} | "
                     f"{np.median(row['ratios']):.3f} | {np.max(row['ratios']):.3f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=150)
    parser.add_argument("--solvers", nargs="+", default=["irl1", "iht", "omp"])
    args = parser.parse_args(argv)
    print(run(n_problems=args.problems, solvers=args.solvers))


if __name__ == "__main__":
    main()
