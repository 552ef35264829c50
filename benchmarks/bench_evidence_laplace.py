"""lamina's evidence tuner against laplace-torch's ``marglik_training`` (issue 14, item 3).

Rows, same recipe (Adam, lr 3e-3, batch 128, 300 epochs), same seeds and initial weights:

* ``none``: no regularization (the denominator of the time ratios);
* ``evidence, former``: ``tuner="evidence"`` with the former defaults (burn-in 10 epochs, the
  last weights, curvature moving average 0.95 per step);
* ``evidence``: ``tuner="evidence"`` with its current defaults (burn-in epochs/6, the weights of
  the highest Laplace evidence seen, curvature averaged over the steps between two updates);
* ``laplace-torch``: ``marglik_training`` with its authors' settings (``bench_nn.LAPLACE_SETTINGS``:
  layerwise prior, Kron, 50 burn-in epochs, 50 Adam hypersteps lr 0.1 every 5 epochs); skipped
  with a note where it is not installed or fails (BatchNorm, a model that is not a Sequential).

Settings: the names of ``bench_nn.settings()`` and ``bench_nn_unseen.settings()``.
Output: one JSON line per (setting, seed, row), then a markdown table: test NLL mean [per seed],
paired difference to laplace-torch ± s.e., time / unregularized time (one torch thread).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_evidence_laplace.py digits-mlp wine-mlp … [--seeds S …]``
(default seeds 0 1 2)
"""
from __future__ import annotations

import json
import time

import numpy as np

FORMER = {"burn_in": 10, "keep_best": False, "decay": 0.95}
ROWS = [("none", "none", {}), ("evidence, former", "evidence", FORMER), ("evidence", "evidence", {})]


def _settings():
    import bench_nn
    import bench_nn_unseen
    found = dict(bench_nn.settings())
    found.update(bench_nn_unseen.settings())
    return found


def run(names, seeds=(0, 1, 2)):
    import torch

    import lamina.torch as lt
    from bench_nn import laplace_scored, score
    torch.set_num_threads(1)
    records, notes = [], []
    table = _settings()
    likelihood, load, make = table[names[0]]  # imports (torch.optim pulls in dynamo) must not hit a timed fit
    data = load(seeds[0])
    lt.tune(make(), (data[0][:64], data[1][:64]), likelihood=likelihood, tuner="evidence", epochs=2, burn_in=1,
            update_every=1)
    for name in names:
        likelihood, load, make = table[name]
        for seed in seeds:
            data = load(seed)
            for label, tuner, options in ROWS:
                torch.manual_seed(seed)
                started = time.perf_counter()
                result = lt.tune(make(), data[:2], likelihood=likelihood, tuner=tuner, epochs=300, lr=3e-3,
                                 batch_size=128, seed=seed, **options)
                seconds = time.perf_counter() - started
                beta = result.info.get("noise_precision") if tuner == "evidence" else None
                records.append({"setting": name, "seed": seed, "row": label, "seconds": round(seconds, 2),
                                "best_epoch": result.info.get("best_epoch"),
                                **{k: float(v) for k, v in score(result.model, likelihood, data, beta).items()}})
                print(json.dumps(records[-1]), flush=True)
            found, why = laplace_scored(make, likelihood, data, seed, 300, 3e-3, 128)
            if found is None:
                notes.append(f"{name}: {why}")
                continue
            metrics, seconds = found
            records.append({"setting": name, "seed": seed, "row": "laplace-torch", "seconds": round(seconds, 2),
                            **{k: float(v) for k, v in metrics.items()}})
            print(json.dumps(records[-1]), flush=True)
    return records, notes


def summary(records, notes) -> str:
    lines = ["| setting | row | test NLL [per seed] | Δ − laplace-torch ± s.e. | × unregularized time |",
             "|---|---|---|---|---|"]
    for name in dict.fromkeys(r["setting"] for r in records):
        by_row = {}
        for r in sorted((r for r in records if r["setting"] == name), key=lambda r: r["seed"]):
            by_row.setdefault(r["row"], []).append(r)
        base = {r["seed"]: r["seconds"] for r in by_row["none"]}
        reference = {r["seed"]: r["nll"] for r in by_row.get("laplace-torch", [])}
        for row, entries in by_row.items():
            nll = [r["nll"] for r in entries]
            if reference and row != "laplace-torch" and all(r["seed"] in reference for r in entries):
                d = np.array([r["nll"] - reference[r["seed"]] for r in entries])
                paired = f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}" if d.size > 1 else f"{d.mean():+.3f}"
            else:
                paired = "—"
            ratio = np.mean([r["seconds"] / base[r["seed"]] for r in entries])
            lines.append(f"| {name} | {row} | {np.mean(nll):.3f} [{', '.join(f'{v:.3f}' for v in nll)}] | "
                         f"{paired} | {ratio:.1f} |")
    lines += [f"_{note}_" for note in dict.fromkeys(notes)]
    return "\n".join(lines)


def main(argv=None) -> None:
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="*", default=["digits-mlp"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    print(summary(*run(args.settings, tuple(args.seeds))))


if __name__ == "__main__":
    main()
