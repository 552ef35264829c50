"""A target sparsity with λ per layer: lamina's L1/L0 tuner against the pruning allocations.

Settings (data shipped with scikit-learn, nothing downloaded) — the tasks of ``lamina nn --task
sparsity-…`` (:mod:`lamina.studies.nn_sparsity`, which runs every row below; this file only loops
and prints):

* ``digits-mlp``: 64-256-256-10 ReLU MLP, 500 training digits (pixels/16), the rest as test;
* ``digits-cnn``: the BatchNorm CNN of bench_nn (conv 1→16 + BN → conv 16→32 + BN → Linear 128→10);
* ``cancer-mlp``: 30-256-256-2 ReLU MLP on breast_cancer (standardized), 400 training samples,
  the other 169 as test.

Every method runs the same number of epochs E (300) with Adam, lr 3e-3, batch 128, split into
training (0.8 E) and masked fine-tuning (0.2 E, fresh Adam, pruned weights held at exact zero):

* magnitude baselines — dense training, one-shot pruning to the target, fine-tuning. The
  allocation differs: *uniform* (every layer at the target, as ``prune.l1_unstructured`` per
  layer but rounded by largest remainder so that the layers' counts add up to K),
  *global* magnitude (``prune.global_unstructured``), *ERK* (Evci et al. 2020: density of a
  layer ∝ (Σ dims)/(Π dims), capped at 1) and *LAMP* (Lee et al. 2021: global threshold on
  w_u² / Σ_{|w_v| ≥ |w_u|} w_v² within each layer). The four share the dense run of a seed
  (its time is counted in each);
* *one λ (L1)*: ``lamina.torch.tune(penalty="l1", target_sparsity=ρ, allocate=False)`` — the
  same controller of the λ scale, the same projection and fine-tuning, r_g = 1;
* *lamina L1* / *lamina L0*: ``tune(penalty=..., target_sparsity=ρ)`` (per-layer ratios by the
  marginal-cost criterion on the training data).

Sparsity is over the regularized weights (biases and BatchNorm parameters are dense everywhere).
Time ratios are to the magnitude baselines' training (dense run + fine-tuning) of the same seed.

Usage: ``python benchmarks/bench_sparsity.py [--quick] [--seeds 3] [--only digits-mlp] [--epochs 30]``; to
split a run over processes, ``--seed-list 0 1 --json a.json`` in each, then ``--merge a.json b.json`` prints
the table. ``--prox-metric euclidean --methods one-lambda lamina-l1 lamina-l0`` reruns the λ rows with the
first version's thresholding step (η λ_g / N whatever Adam's scale).
"""
from __future__ import annotations

import argparse
import json

import numpy as np

SPARSITIES = (0.90, 0.95, 0.98)
NAMES = ("digits-mlp", "cancer-mlp", "digits-cnn")
LABELS = {"uniform": "uniform", "global": "global", "ERK": "ERK", "LAMP": "LAMP", "one-lambda": "one λ (L1)",
          "lamina-l1": "lamina L1", "lamina-l0": "lamina L0"}


def run_setting(name, seeds, epochs, sparsities, rows, methods=None, prox_metric="auto"):
    """Every method (or ``methods``) at every sparsity for each seed; rows as
    lamina.studies.study_rows gives them. ``prox_metric`` goes to the λ methods."""
    import lamina.torch as lt
    from lamina.studies.nn_sparsity import METHODS, load, run_method
    task = f"sparsity-{name}"
    model, (X, y), _ = load(task, seeds[0])   # one-time imports and allocations must not hit a timed run
    lt.fit(model, (X[:64], y[:64]), epochs=2, batch_size=32)
    lt.tune(load(task, seeds[0])[0], (X[:64], y[:64]), penalty="l1", target_sparsity=0.5, epochs=4, batch_size=32)
    methods = list(methods or METHODS)
    for seed in seeds:
        for rho in sparsities:
            for method in methods:
                metrics = run_method(task, method, rho, seed, epochs=epochs, prox_metric=prox_metric)
                metrics.pop("trajectory")
                rows.append({"cell": f"{name}/{method}/{rho}/{seed}", "state": "COMPLETE", "metrics": metrics,
                             "params": {"task": name, "strategy": method, "sparsity": rho, "seed": seed}})
            for row in rows[-len(methods):]:
                m = row["metrics"]
                print(f"  {name} ρ={rho} seed {seed} {row['params']['strategy']}: acc {m['accuracy']:.4f} "
                      f"sparsity {m['sparsity']:.4f} {m['seconds']:.1f}s", flush=True)


def goal_line(rows, sparsities) -> str:
    """The issue's goals: lamina (better of L1/L0) against the best baseline and against uniform."""
    def mean(label, rho):
        return np.mean([r["metrics"]["accuracy"] for r in rows
                        if r["params"]["strategy"] == label and r["params"]["sparsity"] == rho])
    said = []
    for rho in sparsities:
        best = max(("uniform", "global", "ERK", "LAMP", "one-lambda"), key=lambda m: mean(m, rho))
        ours = max(("lamina-l1", "lamina-l0"), key=lambda m: mean(m, rho))
        said.append(f"{rho:.0%}: {LABELS[ours]} {mean(ours, rho):.3f} vs best baseline {LABELS[best]} "
                    f"{mean(best, rho):.3f} ({'≥' if mean(ours, rho) >= mean(best, rho) else '<'}), vs uniform "
                    f"{100 * (mean(ours, rho) - mean('uniform', rho)):+.1f} points")
    return "; ".join(said)


def table(rows, sparsities, names) -> str:
    from lamina.report.verdict import sparsity_verdict
    from lamina.studies.nn_sparsity import accuracy_table
    out = []
    for name in names:
        mine = [r for r in rows if r["params"]["task"] == name]
        cells = accuracy_table(mine)
        columns = [c for c in cells[0] if c != "seeds"]
        out += [f"### {name}", "", "| " + " | ".join(columns).replace("allocations", "baselines") + " |",
                "|---" * len(columns) + "|"]
        out += ["| " + " | ".join([LABELS[c["method"]]] + [str(c[k]) for k in columns[1:]]) + " |" for c in cells]
        if {c["method"] for c in cells} != set(LABELS):   # a subset of the methods: the table only
            out.append("")
            continue
        out += ["", "Cells: mean test accuracy ± s.e. over seeds (achieved overall sparsity). "
                + goal_line(mine, sparsities) + ".", "", sparsity_verdict(mine, "error") or "", ""]
    return "\n".join(out)


def run(quick: bool = False) -> str:
    """Every setting at every target sparsity (the ``make bench`` entry point)."""
    import torch
    torch.set_num_threads(1)
    epochs, seeds, rows = (100 if quick else 300), list(range(1 if quick else 3)), []
    for name in NAMES:
        run_setting(name, seeds, epochs, list(SPARSITIES), rows)
    return f"## bench_sparsity — {epochs} epochs, seeds {seeds}\n\n" + table(rows, list(SPARSITIES), NAMES)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed, 100 epochs")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None, choices=NAMES)
    parser.add_argument("--sparsities", nargs="*", type=float, default=list(SPARSITIES))
    parser.add_argument("--seed-list", nargs="*", type=int, default=None, help="run these seeds")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--merge", nargs="*", default=None, help="print the table of rows from these --json files")
    parser.add_argument("--methods", nargs="*", default=None, choices=list(LABELS), help="run only these methods")
    parser.add_argument("--prox-metric", default="auto", choices=["auto", "euclidean"],
                        help="metric of the λ methods' thresholding step (lamina.torch.Regularizer)")
    args = parser.parse_args()
    epochs = args.epochs or (100 if args.quick else 300)
    rows: list = []
    if args.merge:
        for path in args.merge:
            rows += json.load(open(path))
        names = list(dict.fromkeys(r["params"]["task"] for r in rows))
        seeds = sorted({r["params"]["seed"] for r in rows})
        args.sparsities = sorted({r["params"]["sparsity"] for r in rows})
    else:
        import torch
        torch.set_num_threads(1)
        seeds = args.seed_list if args.seed_list is not None else list(range(args.seeds or (1 if args.quick else 3)))
        names = args.only or list(NAMES)
        for name in names:
            run_setting(name, seeds, epochs, args.sparsities, rows, args.methods, args.prox_metric)
        if args.json:
            json.dump(rows, open(args.json, "w"))
    print(f"\n## bench_sparsity — {epochs} epochs, seeds {seeds}\n")
    print(table(rows, args.sparsities, names))
