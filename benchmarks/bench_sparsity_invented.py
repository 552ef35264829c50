"""Networks and recipes invented to test the target-sparsity tuner away from its benchmark (issue 15).

None of these played a part in building ``tune(penalty=..., target_sparsity=...)``: a small wine
MLP, a one-hidden-layer digits MLP on 1,000 images, a deeper MLP on a synthetic 3-class problem, a
tanh MLP, the benchmark's digits MLP on a short run with small batches, and a CNN without
normalization layers (max-pooling). Each has its own epochs and batch size (the column "recipe"),
Adam at lr 3e-3 for every method, 20 % of the epochs for the masked fine-tuning as in
bench_sparsity.py: magnitude pruning after dense training with the uniform, global, ERK and LAMP
allocations (``lamina.torch.pruning.prune_and_finetune``), one λ for every layer with L1
(``allocate=False``) and lamina's L1 and L0 (``tune(penalty=..., target_sparsity=ρ)`` as a user
calls it). Test accuracy, sparsity reached over the regularized weights, and seconds against the
magnitude baselines' training (dense run + fine-tuning) of the same seed; one torch thread.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_sparsity_invented.py [SETTING …] [--seeds 3]
[--sparsities 0.9 0.95 0.98]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

ALLOCATIONS = ("uniform", "global", "ERK", "LAMP")
TUNED = {"one λ (L1)": {"penalty": "l1", "allocate": False}, "lamina L1": {"penalty": "l1"},
         "lamina L0": {"penalty": "l0"}}
FINETUNE = 0.2


def _cnn():
    """conv 1→8 → ReLU → max-pool → conv 8→16 → ReLU → max-pool → Linear 64→10, no normalization."""
    from torch import nn
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64, 10))


def settings() -> dict:
    """name → (load(seed) → (Xtr, ytr, Xte, yte), make() → model, epochs, batch size)."""
    from sklearn.datasets import load_digits, load_wine, make_classification
    from torch import nn

    from bench_nn_unseen import _mlp, _split
    synthetic = make_classification(2000, 20, n_informative=10, n_classes=3, random_state=7)
    digits = lambda n, s: _split(*load_digits(return_X_y=True), n, s, scale="pixels")  # noqa: E731
    return {
        "wine 13-64-64-3": (lambda s: _split(*load_wine(return_X_y=True), 120, s), lambda: _mlp([13, 64, 64, 3]),
                            200, 32),
        "digits 64-128-10": (lambda s: digits(1000, s), lambda: _mlp([64, 128, 10]), 100, 64),
        "synthetic 20-256-128-64-3": (lambda s: _split(*synthetic, 1000, s), lambda: _mlp([20, 256, 128, 64, 3]),
                                      60, 128),
        "digits tanh 64-256-256-10": (lambda s: digits(500, s), lambda: _mlp([64, 256, 256, 10], nn.Tanh), 150, 128),
        "digits 64-256-256-10, short": (lambda s: digits(500, s), lambda: _mlp([64, 256, 256, 10]), 50, 32),
        "digits CNN, no BatchNorm": (lambda s: digits(1000, s), _cnn, 60, 64),
    }


def run_seed(name: str, seed: int, sparsities) -> dict:
    """{(method, ρ): (accuracy, sparsity, seconds)} for one seed of ``name``."""
    import torch

    import lamina.torch as lt
    from lamina.torch.pruning import overall_sparsity, prune_and_finetune
    load, make, epochs, batch = settings()[name]
    Xtr, ytr, Xte, yte = (torch.as_tensor(a) for a in load(seed))
    train, tail = (Xtr, ytr), int(round(FINETUNE * epochs))
    recipe = {"lr": 3e-3, "batch_size": batch, "seed": seed}
    # one-time imports and allocations must not land in a timed run
    lt.fit(make(), (Xtr[:64], ytr[:64]), epochs=2, batch_size=32)
    lt.tune(make(), (Xtr[:64], ytr[:64]), target_sparsity=0.5, penalty="l1", epochs=4, batch_size=32)
    torch.manual_seed(seed)
    dense = make()
    started = time.perf_counter()
    lt.fit(dense, train, epochs=epochs - tail, **recipe)
    dense_seconds = time.perf_counter() - started
    state = {k: v.clone() for k, v in dense.state_dict().items()}
    rows = {}
    for rho in sparsities:
        for allocation in ALLOCATIONS:
            model = make()
            model.load_state_dict(state)
            started = time.perf_counter()
            prune_and_finetune(model, train, allocation, rho, epochs=tail, **recipe)
            rows[allocation, rho] = (lt.evaluate(model, (Xte, yte))["accuracy"], overall_sparsity(model),
                                     dense_seconds + time.perf_counter() - started)
        for label, options in TUNED.items():
            torch.manual_seed(seed)
            result = lt.tune(make(), train, likelihood="classification", epochs=epochs, target_sparsity=rho,
                             **recipe, **options)
            rows[label, rho] = (lt.evaluate(result.model, (Xte, yte))["accuracy"], overall_sparsity(result.model),
                                 result.seconds)
    return rows


def table(name: str, per_seed: list, sparsities) -> str:
    """Markdown rows: mean accuracy per method and ρ, lamina's best against the best baseline."""
    _, _, epochs, batch = settings()[name]
    methods = list(ALLOCATIONS) + list(TUNED)
    lines = [f"#### {name} ({epochs} epochs, batch {batch}; {len(per_seed)} seeds)", "",
             "| ρ | " + " | ".join(methods) + " | lamina − best baseline (paired) | lamina time × magnitude |",
             "|---|" + "---|" * (len(methods) + 2)]
    for rho in sparsities:
        acc = {m: np.array([rows[m, rho][0] for rows in per_seed]) for m in methods}
        reached = max(abs(rows[m, rho][1] - rho) for rows in per_seed for m in TUNED)
        baselines = [m for m in methods if m not in ("lamina L1", "lamina L0")]
        best_base = max(baselines, key=lambda m: acc[m].mean())
        best_lamina = max(("lamina L1", "lamina L0"), key=lambda m: acc[m].mean())
        diff = acc[best_lamina] - acc[best_base]
        se = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else float("nan")
        ratio = np.mean([rows[best_lamina, rho][2] / rows["global", rho][2] for rows in per_seed])
        cells = " | ".join(f"{acc[m].mean():.3f}" for m in methods)
        lines.append(f"| {rho:.0%} | {cells} | {best_lamina} − {best_base}: {diff.mean():+.3f} ± {se:.3f} "
                     f"(|sparsity − ρ| ≤ {reached:.4f}) | {ratio:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    import torch
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("settings", nargs="*", help=f"any of {list(settings())}")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sparsities", type=float, nargs="+", default=[0.9, 0.95, 0.98])
    args = parser.parse_args(argv)
    for name in args.settings or list(settings()):
        per_seed = []
        for seed in range(args.seeds):
            per_seed.append(run_seed(name, seed, args.sparsities))
            print(f"{name} seed {seed}: " + ", ".join(f"{m} {r:.0%} {v[0]:.3f}" for (m, r), v in per_seed[-1].items()),
                  flush=True)
        print(table(name, per_seed, args.sparsities), flush=True)


if __name__ == "__main__":
    main()
