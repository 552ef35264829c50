"""A target sparsity with λ per layer: lamina's L1/L0 tuner against the pruning allocations.

Settings (data shipped with scikit-learn, nothing downloaded):

* ``digits-mlp``: 64-256-256-10 ReLU MLP, 500 training digits (pixels/16), the rest as test;
* ``digits-cnn``: the BatchNorm CNN of bench_nn (conv 1→16 + BN → conv 16→32 + BN → Linear 128→10);
* ``cancer-mlp``: 30-256-256-2 ReLU MLP on breast_cancer (standardized), 400 training samples,
  the other 169 as test.

Every method runs the same number of epochs E (300) with Adam, lr 3e-3, batch 128, split into
training (0.8 E) and masked fine-tuning (0.2 E, fresh Adam, pruned weights held at exact zero):

* magnitude baselines — dense training, one-shot pruning to the target, fine-tuning. The
  allocation differs: *uniform* (every layer at the target, ``prune.l1_unstructured``),
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

Usage: ``python benchmarks/bench_sparsity.py [--quick] [--seeds 3] [--only digits-mlp]``; to split a run
over processes, ``--seed-list 0 1 --json a.json`` in each, then ``--merge a.json b.json`` prints the table.
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np

SPARSITIES = (0.90, 0.95, 0.98)
FINETUNE = 0.2
BASELINES = ("uniform", "global", "ERK", "LAMP")


def settings():
    """digits MLP and BatchNorm CNN as bench_nn builds them, and a breast-cancer MLP."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    from bench_nn import relu_mlp
    from bench_nn import settings as nn_settings
    shared = nn_settings()
    _, digits, digits_mlp = shared["digits-mlp"]
    _, _, digits_cnn = shared["digits-cnn"]

    def cancer(seed):
        X, y = load_breast_cancer(return_X_y=True)
        Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=400, random_state=seed, stratify=y)
        mean, std = Xtr.mean(0), Xtr.std(0)
        return ((Xtr - mean) / std).astype(np.float32), ytr, ((Xte - mean) / std).astype(np.float32), yte

    return {"digits-mlp": (digits, digits_mlp),
            "digits-cnn": (digits, digits_cnn),
            "cancer-mlp": (cancer, lambda: relu_mlp([30, 256, 256, 2]))}


def weight_modules(model):
    """(module, "weight") for every regularized weight, in lamina's group order."""
    import lamina.torch as lt
    owners = {name: module for name, module in model.named_modules()}
    out = []
    for g in lt.discover_groups(model):
        if g.regularized:
            module_name = g.name.rsplit(".", 1)[0] if "." in g.name else ""
            out.append((owners[module_name], "weight"))
    return out


def erk_densities(shapes, density):
    """ERK (Evci et al. 2020): d_l = ε (Σ dims)/(Π dims), ε set for the budget, dense layers capped."""
    sizes = np.array([np.prod(s) for s in shapes], dtype=np.float64)
    raw = np.array([np.sum(s) / np.prod(s) for s in shapes])
    dense = np.zeros(len(shapes), dtype=bool)
    while True:
        budget = density * sizes.sum() - sizes[dense].sum()
        eps = budget / np.sum(raw[~dense] * sizes[~dense])
        d = np.where(dense, 1.0, eps * raw)
        if np.all(d <= 1.0):
            return d
        dense |= d > 1.0


def magnitude_masks(model, kind, sparsity):
    """Boolean masks (kept = True) for the weight tensors, by allocation ``kind``."""
    import torch
    from torch.nn.utils import prune
    pairs = weight_modules(model)
    weights = [getattr(m, n).detach() for m, n in pairs]
    total = sum(w.numel() for w in weights)
    keep = int(round((1 - sparsity) * total))
    if kind == "global":
        prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=total - keep)
        masks = [getattr(m, "weight_mask").bool().clone() for m, _ in pairs]
        for m, n in pairs:
            prune.remove(m, n)
        return masks
    if kind == "uniform":
        masks = []
        for m, n in pairs:
            prune.l1_unstructured(m, n, amount=sparsity)
            masks.append(m.weight_mask.bool().clone())
            prune.remove(m, n)
        return masks
    if kind == "ERK":
        densities = erk_densities([tuple(w.shape) for w in weights], 1 - sparsity)
        counts = [int(round(d * w.numel())) for d, w in zip(densities, weights)]
    elif kind == "LAMP":
        scores = []
        for w in weights:
            sq = w.flatten().pow(2)
            order = torch.argsort(sq)                 # ascending
            tail = torch.flip(torch.cumsum(torch.flip(sq[order], [0]), 0), [0])  # Σ over |w_v| ≥ |w_u|
            score = torch.empty_like(sq)
            score[order] = sq[order] / tail
            scores.append(score)
        cut = torch.topk(torch.cat(scores), keep).values.min()
        counts = [int((s >= cut).sum()) for s in scores]
        counts[-1] -= sum(counts) - keep              # ties
    masks = []
    for w, k in zip(weights, counts):
        flat = w.abs().flatten()
        mask = torch.zeros_like(flat, dtype=torch.bool)
        mask[torch.topk(flat, max(0, min(k, flat.numel()))).indices] = True
        masks.append(mask.view_as(w))
    return masks


def masked_finetune(model, data, masks, epochs, seed):
    import torch

    import lamina.torch as lt
    from lamina.torch.sparsity import MaskCallback
    params = [getattr(m, n) for m, n in weight_modules(model)]
    with torch.no_grad():
        for p, mask in zip(params, masks):
            p.mul_(mask.to(p.dtype))
    callback = MaskCallback(params, masks)
    out = lt.fit(model, data, epochs=epochs, lr=3e-3, batch_size=128, seed=seed + 1, callbacks=[callback])
    callback.on_epoch_end(epochs, None)
    return out.seconds


def overall_sparsity(model):
    weights = [getattr(m, n).detach() for m, n in weight_modules(model)]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def run_setting(name, seeds, epochs, sparsities, rows):
    import torch

    import lamina.torch as lt
    load, make_model = settings()[name]
    train_epochs = epochs - int(round(FINETUNE * epochs))
    Xtr, ytr, _, _ = load(seeds[0])   # one-time imports and allocations must not hit a timed run
    lt.fit(make_model(), (Xtr[:64], ytr[:64]), epochs=2, batch_size=32)
    lt.tune(make_model(), (Xtr[:64], ytr[:64]), penalty="l1", target_sparsity=0.5, epochs=4, batch_size=32)
    for seed in seeds:
        Xtr, ytr, Xte, yte = load(seed)
        torch.manual_seed(seed)
        dense = make_model()
        started = time.perf_counter()
        lt.fit(dense, (Xtr, ytr), epochs=train_epochs, lr=3e-3, batch_size=128, seed=seed)
        dense_seconds = time.perf_counter() - started
        state = copy.deepcopy(dense.state_dict())
        for rho in sparsities:
            base_times = []
            for kind in BASELINES:
                model = make_model()
                model.load_state_dict(state)
                masks = magnitude_masks(model, kind, rho)
                seconds = dense_seconds + masked_finetune(model, (Xtr, ytr), masks, epochs - train_epochs, seed)
                base_times.append(seconds)
                rows.append((name, rho, seed, kind, lt.evaluate(model, (Xte, yte))["accuracy"],
                             overall_sparsity(model), seconds))
            reference = float(np.mean(base_times))
            for label, options in (("one λ (L1)", {"penalty": "l1", "allocate": False}),
                                   ("lamina L1", {"penalty": "l1"}), ("lamina L0", {"penalty": "l0"})):
                torch.manual_seed(seed)
                model = make_model()
                result = lt.tune(model, (Xtr, ytr), target_sparsity=rho, epochs=epochs, lr=3e-3, batch_size=128,
                                 seed=seed, finetune_fraction=FINETUNE, **options)
                rows.append((name, rho, seed, label, lt.evaluate(model, (Xte, yte))["accuracy"],
                             result.info["sparsity"]["overall"], result.seconds))
            for row in rows[-7:]:
                print(f"  {row[0]} ρ={row[1]} seed {row[2]} {row[3]}: acc {row[4]:.4f} sparsity {row[5]:.4f} "
                      f"{row[6]:.1f}s ({row[6] / reference:.2f}×)", flush=True)
            rows.extend([("ref", rho, seed, name, reference, 0.0, 0.0)])


def table(rows, sparsities, names) -> str:
    labels = list(BASELINES) + ["one λ (L1)", "lamina L1", "lamina L0"]
    out = []
    for name in names:
        out += [f"### {name}", "", "| method | " + " | ".join(f"acc @ {rho:.0%}" for rho in sparsities)
                + " | time × baselines |", "|---|" + "---|" * (len(sparsities) + 1)]
        refs = {(r[1], r[2]): r[4] for r in rows if r[0] == "ref" and r[3] == name}
        for label in labels:
            cells, ratios = [], []
            for rho in sparsities:
                sel = [r for r in rows if r[0] == name and r[1] == rho and r[3] == label]
                acc = np.array([r[4] for r in sel])
                ratios += [r[6] / refs[(r[1], r[2])] for r in sel]
                spread = f" ± {acc.std(ddof=1) / np.sqrt(acc.size):.3f}" if acc.size > 1 else ""
                cells.append(f"{acc.mean():.3f}{spread} ({np.mean([r[5] for r in sel]):.3f})")
            out.append(f"| {label} | " + " | ".join(cells) + f" | {np.mean(ratios):.2f} |")
        verdicts = []
        for rho in sparsities:
            def mean(label):
                return np.mean([r[4] for r in rows if r[0] == name and r[1] == rho and r[3] == label])
            best = max(BASELINES + ("one λ (L1)",), key=mean)
            ours = max(("lamina L1", "lamina L0"), key=mean)
            verdicts.append(f"{rho:.0%}: {ours} {mean(ours):.3f} vs best baseline {best} {mean(best):.3f} "
                            f"({'≥' if mean(ours) >= mean(best) else '<'}), vs uniform "
                            f"{100 * (mean(ours) - mean('uniform')):+.1f} points")
        out += ["", "Cells: mean test accuracy ± s.e. over seeds (achieved overall sparsity). "
                + "; ".join(verdicts) + ".", ""]
    return "\n".join(out)


def run(quick: bool = False) -> str:
    """Every setting at every target sparsity (the ``make bench`` entry point)."""
    import torch
    torch.set_num_threads(1)
    epochs, seeds, rows = (100 if quick else 300), list(range(1 if quick else 3)), []
    names = list(settings())
    for name in names:
        run_setting(name, seeds, epochs, list(SPARSITIES), rows)
    return f"## bench_sparsity — {epochs} epochs, seeds {seeds}\n\n" + table(rows, list(SPARSITIES), names)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 seed, 100 epochs")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--sparsities", nargs="*", type=float, default=list(SPARSITIES))
    parser.add_argument("--seed-list", nargs="*", type=int, default=None, help="run these seeds")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument("--merge", nargs="*", default=None, help="print the table of rows from these --json files")
    args = parser.parse_args()
    import json
    epochs = args.epochs or (100 if args.quick else 300)
    rows: list = []
    if args.merge:
        for path in args.merge:
            rows += [tuple(r) for r in json.load(open(path))]
        names = list(dict.fromkeys(r[0] for r in rows if r[0] != "ref"))
        seeds = sorted({r[2] for r in rows})
        args.sparsities = sorted({r[1] for r in rows})
    else:
        import torch
        torch.set_num_threads(1)
        seeds = args.seed_list if args.seed_list is not None else list(range(args.seeds or (1 if args.quick else 3)))
        names = args.only or list(settings())
        for name in names:
            run_setting(name, seeds, epochs, args.sparsities, rows)
        if args.json:
            json.dump(rows, open(args.json, "w"))
    print(f"\n## bench_sparsity — {epochs} epochs, seeds {seeds}\n")
    print(table(rows, args.sparsities, names))
