"""Wide gaps and unobserved ends: `lamina.inverse.reconstruct` against interpolation.

Random masks (30–70 % kept) leave gaps a few samples wide; real traces also lose whole stretches
(a dead channel for a while, a clipped or missing start). This benchmark adds such a stretch to a
random mask and scores every method on the unobserved samples (SNR in dB, 10 log10 of
Σ truth² / Σ error² over them):

* ``gap``: one run of 20 % of the samples removed from the middle of the trace;
* ``ends``: the first and last 10 % removed (the trace must be extrapolated).

Signals: the seven real seismograms of ``bench_signals`` (ObsPy's example and installed test
data, 512 samples around the largest amplitude), and four synthetic traces of 500 samples (a sum
of sines, a chirp, a piecewise-constant trace, a random walk). Methods: lamina's default, lamina
with ``wide_gaps=False`` (the random partitions only: the default before the block partition),
linear and cubic-spline interpolation (``lamina.inverse.baselines``).

Usage: ``python benchmarks/bench_gaps.py [--quick]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

KEEPS = (0.1, 0.3, 0.5, 0.9)
KINDS = ("gap", "ends")


def synthetic(n: int = 500) -> list:
    t = np.linspace(0, 1, n)
    rng = np.random.default_rng(0)
    edges = np.sort(rng.choice(np.arange(1, n), 6, replace=False))
    steps = rng.normal(size=7)[np.searchsorted(edges, np.arange(n), side="right")]
    return [("sines", np.sin(6 * np.pi * t) + 0.5 * np.sin(14 * np.pi * t + 1) + 0.3 * np.cos(22 * np.pi * t)),
            ("chirp", np.sin(2 * np.pi * (2 * t + 20 * t ** 2))),
            ("steps", steps),
            ("random walk", np.cumsum(np.random.default_rng(1).normal(size=n)))]


def gapped_mask(n: int, keep: float, kind: str, seed: int) -> np.ndarray:
    mask = np.random.default_rng(seed).random(n) < keep
    if kind == "gap":
        width = n // 5
        mask[n // 2 - width // 2: n // 2 - width // 2 + width] = False
    else:
        mask[: n // 10] = False
        mask[n - n // 10:] = False
    if mask.sum() < 4:
        mask[np.random.default_rng(seed).choice(np.flatnonzero(~mask), 4, replace=False)] = True
    return mask


def snr_db(estimate, truth, missing) -> float:
    error = np.sum((estimate[missing] - truth[missing]) ** 2)
    return float(10 * np.log10(np.sum(truth[missing] ** 2) / max(error, 1e-300)))


def methods() -> dict:
    from lamina.inverse import reconstruct
    from lamina.inverse.baselines import cubic_interpolation, linear_interpolation

    return {"lamina": lambda v, m: reconstruct(v, m).x,
            "lamina, random folds only": lambda v, m: reconstruct(v, m, wide_gaps=False).x,
            "linear": linear_interpolation, "cubic": cubic_interpolation}


def run(quick: bool, log=lambda line: print(line, flush=True)) -> list:
    from bench_signals import seismograms

    signals = [("seismogram " + name, truth) for name, truth in seismograms(quick)] + \
        [("synthetic " + name, truth) for name, truth in synthetic()]
    seeds, keeps = ((1,), (0.3,)) if quick else ((1, 2), KEEPS)
    rows = []
    for name, truth in signals:
        for kind in KINDS:
            for keep in keeps:
                for seed in seeds:
                    mask = gapped_mask(truth.size, keep, kind, seed)
                    row = {"signal": name, "kind": kind, "keep": keep, "seed": seed}
                    for method, function in methods().items():
                        started = time.perf_counter()
                        row[method] = snr_db(function(truth[mask], mask), truth, ~mask)
                        row[method + " s"] = time.perf_counter() - started
                    rows.append(row)
                    log(f"  {name} {kind} {keep:.0%} seed {seed}: " +
                        ", ".join(f"{m} {row[m]:.2f}" for m in methods()))
    return rows


def table(rows: list, command: str) -> str:
    names = list(methods())
    lines = [f"## bench_gaps — wide gaps and unobserved ends\n\n`{command}`; SNR (dB) of the unobserved samples, "
             "mean over masks; Δ = lamina − the best interpolation of the same mask.\n",
             "| signals | kind | keep | " + " | ".join(names) + " | Δ lamina | Δ random folds only | lamina s |",
             "|---" * (len(names) + 6) + "|"]
    for family in ("seismogram", "synthetic"):
        for kind in KINDS:
            for keep in KEEPS:
                group = [r for r in rows if r["signal"].startswith(family) and r["kind"] == kind and r["keep"] == keep]
                if not group:
                    continue
                best = np.array([max(r["linear"], r["cubic"]) for r in group])
                delta = np.array([r["lamina"] for r in group]) - best
                former = np.array([r["lamina, random folds only"] for r in group]) - best
                lines.append(f"| {family} ({len(group)}) | {kind} | {keep:.0%} | " +
                             " | ".join(f"{np.mean([r[m] for r in group]):.2f}" for m in names) +
                             f" | {delta.mean():+.2f} (worst {delta.min():+.2f}) | {former.mean():+.2f} "
                             f"(worst {former.min():+.2f}) | {np.mean([r['lamina s'] for r in group]):.1f} |")
    every = np.array([r["lamina"] - max(r["linear"], r["cubic"]) for r in rows])
    old = np.array([r["lamina, random folds only"] - max(r["linear"], r["cubic"]) for r in rows])
    lines.append(f"\nAll {len(rows)} masks: lamina − best interpolation {every.mean():+.2f} dB (worst {every.min():+.2f}; "
                 f"within 0.5 dB on {int(np.sum(every >= -0.5))}); random folds only {old.mean():+.2f} "
                 f"(worst {old.min():+.2f}; within 0.5 dB on {int(np.sum(old >= -0.5))}).")
    return "\n".join(lines)


def report(quick: bool = False) -> str:
    """The markdown table of a whole run (the ``make bench`` entry point)."""
    return table(run(quick, log=lambda line: None), "python benchmarks/bench_gaps.py" + (" --quick" if quick else ""))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three seismograms, 30 %% kept, one mask each")
    args = parser.parse_args()
    print(table(run(args.quick), "python benchmarks/bench_gaps.py" + (" --quick" if args.quick else "")))
