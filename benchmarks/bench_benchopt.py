"""lamina in benchopt's own Lasso benchmark, beside skglm, celer and scikit-learn.

benchopt's ``benchmark_lasso`` minimizes ½‖y − Xβ − β₀‖² + λ‖β‖₁ with λ = reg·λ_max and
compares 30+ solvers. This script runs it on a checkout that is already on disk — nothing is
fetched at run time — with lamina's solver file (``benchmarks/benchopt/lamina_solver.py``)
and the benchmark's simulated correlated designs (``benchmarks/benchopt/simulated_dataset.py``,
the same generator and seed as the benchmark's own file, which benchopt 1.10 cannot load).
Every solver runs as the benchmark's own solver files run it ("iteration" sampling: one fresh
solve per point, the budget growing by one outer iteration for lamina, skglm and celer), on
one thread. Reported: the time of the first point whose relative suboptimality
(P − P*)/P* is ≤ ``--target`` (P* the lowest objective any solver reached on that problem),
median over ``--repetitions``, and each peer's time over lamina's.

Usage::

    BENCHOPT_LASSO=/path/to/benchmark_lasso python benchmarks/bench_benchopt.py [--quick]

or ``make bench-benchopt BENCHOPT_LASSO=...``. Without a checkout it says how to get one
(``git clone https://github.com/benchopt/benchmark_lasso``) and exits with status 2.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
SOLVER_FILE = HERE / "benchopt" / "lamina_solver.py"
DATASET_FILE = HERE / "benchopt" / "simulated_dataset.py"
PEERS = ["skglm", "Celer", "sklearn"]   # sklearn needs seconds per point at reg = 0.01: --peers to skip it
DESIGNS = [(100, 5_000, 0.6), (100, 5_000, 0.0), (100, 10_000, 0.6)]
REGS = [0.1, 0.01]
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                     "NUMBA_NUM_THREADS")}


def checkout_or_none() -> pathlib.Path | None:
    """The benchmark checkout named by $BENCHOPT_LASSO, if it holds an objective.py."""
    path = os.environ.get("BENCHOPT_LASSO")
    if path and (pathlib.Path(path) / "objective.py").is_file():
        return pathlib.Path(path)
    return None


def benchopt_command(checkout, designs, regs, intercepts, peers, repetitions, max_runs):
    """The ``benchopt run`` argv for these problems and solvers."""
    argv = [str(pathlib.Path(sys.executable).with_name("benchopt")), "run", str(checkout),
            "-s", str(SOLVER_FILE), "-r", str(repetitions), "-n", str(max_runs), "--timeout", "300",
            "--no-plot", "--no-display"]
    for peer in peers:
        argv += ["-s", peer]
    for solver in peers:   # benchopt caches runs: every row must come from this run
        argv += ["-f", solver]
    for n, p, rho in designs:
        argv += ["-d", f"{DATASET_FILE}[n_samples={n},n_features={p},rho={rho}]"]
    for reg in regs:
        for intercept in intercepts:
            argv += ["-o", f"Lasso Regression[reg={reg},fit_intercept={intercept}]"]
    return argv


def time_to_target(frame, target: float):
    """Per problem and solver: median over repetitions of the first time at (P − P*)/P* ≤ target."""
    keys = ["p_dataset_n_features", "p_dataset_rho", "p_obj_reg", "p_obj_fit_intercept"]
    frame = frame.copy()
    frame["best"] = frame.groupby(keys)["objective_value"].transform("min")
    frame["subopt"] = (frame["objective_value"] - frame["best"]) / frame["best"].abs()
    reached = frame[frame["subopt"] <= target].sort_values("stop_val")
    first = reached.groupby(keys + ["solver_name", "idx_rep"], as_index=False).first()
    return first.groupby(keys + ["solver_name"])["time"].median().unstack("solver_name")


def markdown(times, versions: str, command: str, target: float) -> str:
    """The table: ms per solver, and each peer's time over lamina's (> 1: lamina faster)."""
    peers = [c for c in times.columns if c != "lamina"]
    head = "| p | ρ | reg | intercept | lamina | " + " | ".join(peers) + " | " + \
        " | ".join(f"{c} / lamina" for c in peers) + " |"
    lines = [f"Time to relative suboptimality {target:g} (ms, median over repetitions); "
             f"{versions}.", "", f"Command: `{command}`", "", head,
             "|" + "---|" * (4 + 2 * len(peers) + 1)]
    for (p, rho, reg, intercept), row in times.iterrows():
        ms = [f"{1e3 * row[c]:.1f}" for c in ["lamina"] + peers]
        ratios = [f"{row[c] / row['lamina']:.2f}" for c in peers]
        lines.append(f"| {p} | {rho} | {reg} | {intercept} | " + " | ".join(ms + ratios) + " |")
    return "\n".join(lines) + "\n"


def versions_line() -> str:
    from importlib.metadata import version
    names = ["lamina", "benchopt", "skglm", "celer", "scikit-learn", "numpy", "numba"]
    return ", ".join(f"{name} {version(name)}" for name in names)


def run(quick: bool = False, target: float = 1e-6, repetitions: int | None = None, peers=None) -> str:
    """Run the benchmark and return its markdown table (or the note saying how to get it)."""
    checkout = checkout_or_none()
    if checkout is None:
        return ("benchopt Lasso benchmark: skipped — set BENCHOPT_LASSO to a checkout of "
                "https://github.com/benchopt/benchmark_lasso (git clone it once; nothing is fetched "
                "at run time) and install benchopt (`pip install benchopt`).\n")
    import pandas as pd

    designs = DESIGNS[:1] if quick else DESIGNS
    intercepts = [False] if quick else [False, True]
    repetitions = repetitions or (1 if quick else 3)
    argv = benchopt_command(checkout, designs, REGS, intercepts, peers or PEERS, repetitions, 40)
    # -f does not reach a solver given by its file path, so benchopt's run cache is cleared instead
    shutil.rmtree(checkout / "__cache__", ignore_errors=True)
    outputs = checkout / "outputs"
    before = set(outputs.glob("*.parquet")) if outputs.is_dir() else set()
    subprocess.run(argv, check=True, env={**os.environ, **ONE_THREAD}, stdout=subprocess.DEVNULL)
    new = sorted(set(outputs.glob("*.parquet")) - before, key=lambda f: f.stat().st_mtime)
    frame = pd.read_parquet(new[-1])
    command = " ".join(a if " " not in a else f"'{a}'" for a in argv[1:])
    return markdown(time_to_target(frame, target), versions_line(), "benchopt " + command, target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one design, no intercept, one repetition")
    parser.add_argument("--target", type=float, default=1e-6, help="relative suboptimality to reach")
    parser.add_argument("--repetitions", type=int, default=None, help="benchopt -r (default 3)")
    parser.add_argument("--peers", nargs="+", default=None, help=f"benchmark solvers beside lamina (default {PEERS})")
    args = parser.parse_args(argv)
    table = run(args.quick, args.target, args.repetitions, args.peers)
    print(table)
    return 0 if checkout_or_none() is not None else 2


if __name__ == "__main__":
    raise SystemExit(main())
