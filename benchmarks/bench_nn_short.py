"""The default network tuner on short runs: 30 and 100 epochs instead of 300 (issue 14).

The benchmarks train for 300 epochs; a user (or an acceptance check) may train for 30 or 100.
This script runs the settings of bench_nn.py, bench_nn_invented.py and bench_nn_small.py at
other epoch counts with: no penalty, one fixed δ = 1 and δ = 0.1 for every layer, and lamina's
default (``tune`` without ``tuner=``). Same recipe otherwise (Adam 3e-3, batch 128, one torch
thread). One JSON line per (setting, epochs, seed, method), then with ``--table FILE …`` a
markdown table: mean test NLL and the default minus the best fixed row (picked on the test
set, which flatters the fixed rows), paired over seeds ± s.e.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nn_short.py SETTING[,SETTING…] EPOCHS[,EPOCHS…]
SEEDS[,SEEDS…] [default] > runs.jsonl`` (``default``: that method only) and
``python benchmarks/bench_nn_short.py --table runs.jsonl``.
"""
from __future__ import annotations

import collections
import json
import sys
import time

import numpy as np

METHODS = [("none", {}), ("fixed", {"rule": "uniform", "delta": 1.0}), ("fixed", {"rule": "uniform", "delta": 0.1}),
           ("auto", {})]


def all_settings():
    from bench_nn import settings as benchmark
    from bench_nn_invented import settings as invented
    from bench_nn_small import settings as small
    return {**benchmark(), **invented(), **small()}


def run(names, epochs_list, seeds):
    import torch

    import lamina.torch as lt
    from bench_nn import scored
    torch.set_num_threads(1)
    settings = all_settings()
    for name in names:
        likelihood, load, make = settings[name]
        for epochs in epochs_list:
            for seed in seeds:
                data = load(seed)
                for method, options in METHODS:
                    torch.manual_seed(seed)
                    started = time.perf_counter()
                    result = lt.tune(make(), (data[0], data[1]), likelihood=likelihood, tuner=method, epochs=epochs,
                                     lr=3e-3, batch_size=128, seed=seed, **options)
                    print(json.dumps({"setting": name, "E": epochs, "seed": seed, "method": method, "opts": options,
                                      "nll": scored(result.model, likelihood, data)["nll"],
                                      "fits": result.compute.fits,
                                      "lambdas": [round(v, 4) for v in result.lambdas.values()],
                                      "s": round(time.perf_counter() - started, 2)}), flush=True)


def table(paths):
    rows = [json.loads(line) for path in paths for line in open(path)]
    label = lambda r: {"none": "none", "auto": "default"}.get(r["method"], f"δ={r['opts'].get('delta')}")  # noqa: E731
    by = collections.defaultdict(lambda: collections.defaultdict(dict))
    for r in rows:
        by[(r["setting"], r["E"])][label(r)][r["seed"]] = r["nll"]
    first = {(r["setting"], r["E"]): r["lambdas"] for r in rows if r["method"] == "auto" and r["seed"] == min(
        q["seed"] for q in rows)}
    print("| setting | epochs | none | δ = 1 | δ = 0.1 | **default** | Δ default − best fixed row (picked on test) "
          "| default's δ (first seed) |")
    print("|---|---|---|---|---|---|---|---|")
    for (name, epochs), methods in by.items():
        default = methods["default"]
        seeds = sorted(default)
        means = {k: np.mean([v[i] for i in seeds]) for k, v in methods.items()}
        best = min((k for k in means if k != "default"), key=means.get)
        diff = np.array([default[i] - methods[best][i] for i in seeds])
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        behind = " **behind**" if diff.mean() > 2 * se else ""
        deltas = first[(name, epochs)]
        shown = ", ".join(f"{x:.3g}" for x in deltas) if len(set(deltas)) > 1 else f"{deltas[0]:.3g} (all)"
        print(f"| {name} | {epochs} | {means['none']:.3f} | {means['δ=1.0']:.3f} | {means['δ=0.1']:.3f} | "
              f"{means['default']:.3f} | {diff.mean():+.3f} ± {se:.3f} vs {best}{behind} | {shown} |")


if __name__ == "__main__":
    if sys.argv[1] == "--table":
        table(sys.argv[2:])
    else:
        if sys.argv[4:] == ["default"]:
            METHODS = [m for m in METHODS if m[0] == "auto"]
        run(sys.argv[1].split(","), [int(e) for e in sys.argv[2].split(",")], [int(s) for s in sys.argv[3].split(",")])
