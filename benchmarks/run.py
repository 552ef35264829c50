"""Run every benchmark in one process and print/write their markdown tables.

Usage: ``python benchmarks/run.py [--quick] [--only NAME ...]``; tables go to stdout and to
``benchmarks/out/<name>.md``. Each benchmark module exposes ``run(quick: bool) -> str`` (or
``report(quick: bool) -> str`` when its ``run`` returns rows).
"""
from __future__ import annotations

import argparse
import importlib
import pathlib
import platform
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
BENCHMARKS = ["bench_lasso", "bench_l0_bruteforce", "bench_group_lasso", "bench_logistic", "bench_separable", "bench_free_coefficients", "bench_operators", "bench_linear_tuning",
              "bench_inverse", "bench_phase",
              "bench_nn", "bench_benchopt", "bench_trees", "bench_sparsity", "bench_signals", "bench_gaps",
              "bench_transformer", "bench_regular_masks"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller problems, fewer repeats")
    parser.add_argument("--only", nargs="*", default=None, help="subset of " + ", ".join(BENCHMARKS))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    out_dir = HERE / "out"
    out_dir.mkdir(exist_ok=True)
    print(f"# lamina benchmarks — {time.strftime('%Y-%m-%d %H:%M')} — {platform.processor() or platform.machine()}")
    for name in args.only or BENCHMARKS:
        started = time.perf_counter()
        module = importlib.import_module(name)   # report() where run() returns rows rather than markdown
        table = module.report(quick=args.quick) if hasattr(module, "report") else module.run(quick=args.quick)
        table += f"\n_{name}: {time.perf_counter() - started:.0f} s in all_\n"
        (out_dir / f"{name}.md").write_text(table)
        print(table, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
