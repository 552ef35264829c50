"""Where the per-layer ratios of the sparsity tuner are read, and how: variants of the criterion.

The sparsity tuner (lamina.torch.sparsity) sets λ_g = s · r_g and moves r_g by the marginal cost
of pruning in each layer, read by default on the training data. This script trains the tasks of
``lamina nn --task sparsity-…`` (lamina.studies.nn_sparsity.load: same split and initialization
per seed as the study and bench_sparsity.py) with lamina.torch.tune(penalty="l1",
target_sparsity=ρ), 300 epochs (the last 20 % masked fine-tuning), Adam, lr 3e-3, batch 128, in
these variants:

* ``one``      — one λ for every layer (``allocate=False``), all training data;
* ``l1``       — λ per layer, criterion on the training data (the default);
* ``l1val``    — λ per layer, criterion on held-out data: 1/5 of the training set (drawn from
  seed + 100) is held out as ``val=`` and the tuner trains on the other 4/5;
* ``one400``   — one λ on the same 4/5 (what ``l1val`` should be compared with at equal data);
* ``l1tr400``  — λ per layer, training criterion, on the same 4/5;
* ``l1k<κ>``, ``l1p<p>`` — λ per layer with damping ``kappa=κ`` / probe share ``probe=p``.

Usage: ``python benchmarks/bench_sparsity_criterion.py TASK RHOS SEEDS VARIANTS [HIDDEN]``, e.g.
``sparsity-digits-mlp 0.95 0,1,2 one,l1,l1val,one400 512,64,32``; one line per run (test
accuracy, sparsity reached, seconds, sparsity per layer), then mean ± s.e. per variant and the
paired difference to ``one``.
"""
from __future__ import annotations

import collections
import sys
import time

import numpy as np


def run(task, rho, seed, variant, hidden=(256, 256)):
    import lamina.torch as lt
    from lamina.studies.nn_sparsity import FINETUNE, load
    model, (Xtr, ytr), (Xte, yte) = load(task, seed, hidden)
    order = np.random.default_rng(100 + seed).permutation(len(ytr))
    held, kept = order[:len(ytr) // 5], order[len(ytr) // 5:]
    options, train = {"penalty": "l1"}, (Xtr, ytr)
    if variant in ("one", "one400"):
        options["allocate"] = False
    if variant in ("one400", "l1val", "l1tr400"):
        train = (Xtr[kept], ytr[kept])
    if variant == "l1val":
        options["val"] = (Xtr[held], ytr[held])
    if variant.startswith("l1k"):
        options["kappa"] = float(variant[3:])
    if variant.startswith("l1p"):
        options["probe"] = float(variant[3:])
    started = time.perf_counter()
    result = lt.tune(model, train, target_sparsity=rho, epochs=300, lr=3e-3, batch_size=128, seed=seed,
                     finetune_fraction=FINETUNE, **options)
    return (lt.evaluate(model, (Xte, yte))["accuracy"], result.info["sparsity"], time.perf_counter() - started)


def main(argv):
    import torch
    torch.set_num_threads(1)
    task, rhos, seeds, variants = argv[0], [float(r) for r in argv[1].split(",")], \
        [int(s) for s in argv[2].split(",")], argv[3].split(",")
    hidden = tuple(int(h) for h in argv[4].split(",")) if len(argv) > 4 else (256, 256)
    accuracy = collections.defaultdict(dict)
    for seed in seeds:
        for rho in rhos:
            for variant in variants:
                acc, sparsity, seconds = run(task, rho, seed, variant, hidden)
                accuracy[(rho, variant)][seed] = acc
                layers = {k: round(v, 3) for k, v in sparsity["per_group"].items()}
                print(f"{task} {hidden} ρ={rho} seed={seed} {variant}: acc {acc:.4f} sparsity "
                      f"{sparsity['overall']:.4f} {seconds:.0f}s {layers}", flush=True)
    for (rho, variant), values in sorted(accuracy.items()):
        a = np.array(list(values.values()))
        line = f"ρ={rho} {variant}: {a.mean():.4f} ± {a.std(ddof=1) / np.sqrt(a.size) if a.size > 1 else 0:.4f}"
        ref = accuracy.get((rho, "one"))
        if ref and variant != "one":
            d = np.array([values[s] - ref[s] for s in sorted(set(values) & set(ref))])
            line += f"; − one: {d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else 0:.4f}"
        print(line + f" (n={a.size})")


if __name__ == "__main__":
    main(sys.argv[1:])
