"""Fine-tuning with a prior mean (L2-SP) on variants of the two transfer tasks (issue 14).

The default ``tune(..., prior_mean=backbone)`` on ``lamina.studies.transfer``'s two tasks and on
variants invented to check it away from them: fewer or more target images per class (5, 15; the
tasks have 10) and target images with Gaussian noise (σ = 0.3 on pixels in [0, 1], clipped,
training and test images alike). Same recipe as bench_nn.py (Adam 3e-3, batch 128, 300 epochs),
one torch thread. Every run prints one JSON line (test NLL, δ per layer, counted fits, seconds,
which calibration the held-out samples chose); with two ``--options`` the script runs both on
the same seeds and prints the paired difference (second − first) per variant and pooled.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nn_finetune.py [VARIANT …] [--options JSON …]``
e.g. ``--options '{"merge_at": 0.5}' '{}'`` (the former calibration length against the default).
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

# variant: (task, images per class, pixel noise σ, seeds)
VARIANTS = {
    "finetune": ("digits-finetune", 10, 0.0, range(10)),
    "transfer": ("digits-transfer", 10, 0.0, range(20)),
    "finetune-noise": ("digits-finetune", 10, 0.3, range(12)),
    "finetune-5": ("digits-finetune", 5, 0.0, range(12)),
    "finetune-15": ("digits-finetune", 15, 0.0, range(12)),
    "transfer-noise": ("digits-transfer", 10, 0.3, range(12)),
    "transfer-5": ("digits-transfer", 5, 0.0, range(12)),
}


def variant_data(name: str, seed: int):
    """(X_train, y_train, X_test, y_test) of a variant: the task's target with its images per class
    drawn with ``seed`` (as :func:`lamina.studies.transfer.transfer_data`) and its pixel noise."""
    import lamina.studies.transfer as transfer
    task, per_class, noise, _ = VARIANTS[name]
    saved, transfer.PER_CLASS = transfer.PER_CLASS, per_class
    try:
        Xtr, ytr, Xte, yte = transfer.transfer_data(seed, task)
    finally:
        transfer.PER_CLASS = saved
    if noise:
        rng = np.random.default_rng(1000 + seed)
        Xtr = np.clip(Xtr + rng.normal(0, noise, Xtr.shape), 0, 1).astype(np.float32)
        Xte = np.clip(Xte + rng.normal(0, noise, Xte.shape), 0, 1).astype(np.float32)
    return Xtr, ytr, Xte, yte


def run(name: str, seed: int, options: dict) -> dict:
    import torch

    import lamina.torch as lt
    from lamina.studies.transfer import pretrained_backbone, transfer_model
    task = VARIANTS[name][0]
    Xtr, ytr, Xte, yte = variant_data(name, seed)
    prior = pretrained_backbone(task)
    torch.manual_seed(seed)
    net = transfer_model(task)
    started = time.perf_counter()
    kwargs = {"prior_mean": prior, **options}   # '{"prior_mean": null}': toward zero
    result = lt.tune(net, (Xtr, ytr), likelihood="classification", epochs=300, lr=3e-3, batch_size=128, seed=seed,
                     **kwargs)
    seconds = time.perf_counter() - started
    return {"variant": name, "seed": seed, "options": options,
            "test_nll": round(lt.evaluate(result.model, (Xte, yte))["nll"], 4),
            "lambdas": {k: round(v, 4) for k, v in result.lambdas.items()},
            "fits": round(result.compute.fits, 3), "seconds": round(seconds, 2),
            "chosen": (result.info.get("selection") or {}).get("chosen")}


def paired(rows: list[dict], first: str, second: str) -> str:
    """One line: mean test NLL of both, and the paired difference second − first ± s.e."""
    a = {r["seed"]: r["test_nll"] for r in rows if json.dumps(r["options"]) == first}
    b = {r["seed"]: r["test_nll"] for r in rows if json.dumps(r["options"]) == second}
    seeds = sorted(set(a) & set(b))
    diff = np.array([b[s] - a[s] for s in seeds])
    se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
    return (f"{np.mean([a[s] for s in seeds]):.4f} → {np.mean([b[s] for s in seeds]):.4f}, "
            f"Δ {diff.mean():+.4f} ± {se:.4f} (n = {len(seeds)}; "
            f"better on {(diff < 0).sum()}, worse on {(diff > 0).sum()})")


def add_options_argument(parser) -> None:
    parser.add_argument("--options", type=json.loads, nargs="+", default=[{}],
                        help="tune() options, one JSON object per configuration (two: paired comparison)")


def known_names(parser, names, known, kind: str) -> list:
    """``names`` (every one of ``known`` where none is given), or the parser's error naming the unknown."""
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"unknown {kind}(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return list(names) or list(known)


def report(name: str, rows: list[dict], options: list[dict], everything: list[dict]) -> None:
    """Print ``rows`` (a JSON line each) and, with two configurations, their paired difference;
    append them to ``everything``, their seeds keyed by ``name`` for the pooled comparison."""
    for row in rows:
        print(json.dumps(row), flush=True)
    everything += [dict(row, seed=(name, row["seed"])) for row in rows]
    if len(options) == 2:
        print(f"{name}: " + paired(rows, *map(json.dumps, options)), flush=True)


def main(argv=None) -> None:
    import torch
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variants", nargs="*", metavar="VARIANT", help=f"some of {', '.join(VARIANTS)} (default: all)")
    add_options_argument(parser)
    args = parser.parse_args(argv)
    args.variants = known_names(parser, args.variants, VARIANTS, "variant")
    everything = []
    for name in args.variants:
        report(name, [run(name, seed, options) for seed in VARIANTS[name][3] for options in args.options],
               args.options, everything)
    if len(args.options) == 2 and len(args.variants) > 1:
        print("pooled: " + paired(everything, *map(json.dumps, args.options)), flush=True)


if __name__ == "__main__":
    main()
