"""Where the split between layers pays on a non-homogeneous network, and ratio rules as rivals.

Two measurements behind the Issue 14 section "Ratio rules as rivals" of RESULTS.md:

``landscape SETTING [δ-vector …]``
    Train the setting's network on all its training data at fixed per-layer δ (a number is one δ
    for every layer, a tuple one per regularized layer), same recipe as bench_nn.py (Adam 3e-3,
    batch 128, 300 epochs), seeds 0–2; print test NLL and the paired difference to the first
    vector. With ``--heldout`` the network trains instead on the default's 70 % split for 150
    epochs (the calibration stage of ``heldout``) and the held-out NLL on the other 30 % is
    printed beside the test NLL: can the held-out samples see the split at all? ``--seeds``
    (default 0 1 2); ``--toward`` (digits-transfer, digits-finetune) pulls the pretrained layers toward their
    pretrained weights (L2-SP) instead of toward zero.

``default SETTING [--options JSON]``
    ``lamina.torch.tune`` (the default tuner) with extra options, e.g. ``'{"rule": "per_element"}'``
    or ``'{"rivals": ["per_element"]}'``, seeds 0–2: δ per layer, test NLL, which calibration the
    held-out samples chose (``--seeds`` as for landscape). ``"toward": true`` in the options passes the pretrained backbone as
    ``prior_mean`` (digits-transfer, digits-finetune: L2-SP).

``time SETTING [--reps R] [--toward]``
    Wall time of the default ``tune()`` (with ``--toward``: with the pretrained backbone as
    ``prior_mean``) against one unregularized ``fit`` with the same recipe,
    seed 0: one warm-up of each, then R alternating runs (default 5); prints the medians and their
    ratio (the issue's "≤ 1.5× one unregularized training"). Run it with nothing else on the cores.

Settings: those of bench_nn.py and bench_nn_unseen.py. Usage, one torch thread:
``OMP_NUM_THREADS=1 python benchmarks/bench_nn_rules.py landscape digits-tanh 1.0 "(0.03,0.1,1)"``.
"""
from __future__ import annotations

import argparse
import ast
import json

import numpy as np

from lamina.studies.transfer import pretrained_backbone  # numpy only at import: cheap


def _settings():
    import bench_nn
    import bench_nn_unseen
    return {**bench_nn.settings(), **bench_nn_unseen.settings()}


def _deltas(text: str):
    value = ast.literal_eval(text)
    return float(value) if np.isscalar(value) else tuple(float(v) for v in value)


def landscape(name: str, vectors, heldout: bool, seeds=(0, 1, 2), toward: bool = False) -> None:
    import torch

    import lamina.torch as lt
    from bench_nn import score
    from lamina.torch.hypergradient import split_train
    from lamina.torch.likelihoods import make_likelihood
    from lamina.torch.penalty import Regularizer
    likelihood, load, make = _settings()[name]
    prior_mean = pretrained_backbone(name) if toward else None
    rows = {v: [] for v in vectors}
    for seed in seeds:
        data = load(seed)
        X, y = torch.tensor(data[0]), torch.tensor(data[1])
        train, val, epochs = (X, y), None, 300
        if heldout:
            train, val = split_train((X, y), make_likelihood(likelihood), torch.device("cpu"), 0.3, seed,
                                     torch.float32)
            epochs = 150
        for vector in vectors:
            torch.manual_seed(seed)
            net = make()
            reg = Regularizer(net, int(train[0].shape[0]), 1.0, prior_mean=prior_mean)
            reg.set_deltas(np.broadcast_to(np.asarray(vector, dtype=float), (len(reg.names),)).copy())
            lt.fit(net, train, likelihood=likelihood, epochs=epochs, lr=3e-3, batch_size=128, seed=seed,
                   regularizer=reg)
            held = lt.evaluate(net, val)["nll"] if heldout else float("nan")
            rows[vector].append((held, score(net, likelihood, data)["nll"]))
    base = np.asarray(rows[vectors[0]])
    print(f"| δ per layer | {'held-out NLL | Δ held-out | ' if heldout else ''}test NLL [seeds] | Δ test |")
    print(f"|---|{'---|---|' if heldout else ''}---|---|")
    for vector, values in rows.items():
        values = np.asarray(values)
        diff = values - base
        se = diff.std(0, ddof=1) / np.sqrt(len(seeds))
        held = (f"{values[:, 0].mean():.4f} | {diff[:, 0].mean():+.4f} ± {se[0]:.4f} | " if heldout else "")
        print(f"| {vector} | {held}{values[:, 1].mean():.4f} {np.round(values[:, 1], 3).tolist()} | "
              f"{diff[:, 1].mean():+.4f} ± {se[1]:.4f} |", flush=True)


def default(name: str, options: dict, seeds=(0, 1, 2)) -> None:
    import torch

    import lamina.torch as lt
    from bench_nn import score
    likelihood, load, make = _settings()[name]
    options = dict(options)
    if options.pop("toward", False):
        options["prior_mean"] = pretrained_backbone(name)
    nll = []
    for seed in seeds:
        data = load(seed)
        torch.manual_seed(seed)
        result = lt.tune(make(), data[:2], likelihood=likelihood, epochs=300, lr=3e-3, batch_size=128,
                         seed=seed, **options)
        nll.append(score(result.model, likelihood, data, result.info.get("noise_precision"))["nll"])
        selection = result.info.get("selection") or {}
        print(json.dumps({"setting": name, "seed": seed, "test_nll": round(nll[-1], 4),
                          "lambdas": {k: round(float(v), 3) for k, v in result.lambdas.items()},
                          "rule": result.info.get("rule"), "chosen": selection.get("chosen", "one calibration"),
                          "fits": round(result.compute.fits, 3)}), flush=True)
    print(f"{name} {json.dumps(options, default=str)[:80]}: mean test NLL {np.mean(nll):.4f} "
          f"{np.round(nll, 4).tolist()}")


def timing(name: str, reps: int = 5, toward: bool = False) -> None:
    import statistics
    import time

    import torch

    import lamina.torch as lt
    likelihood, load, make = _settings()[name]
    data = load(0)
    recipe = {"likelihood": likelihood, "epochs": 300, "lr": 3e-3, "batch_size": 128, "seed": 0}
    prior = {"prior_mean": pretrained_backbone(name)} if toward else {}

    def once(method: str) -> float:
        torch.manual_seed(0)
        started = time.perf_counter()
        if method == "none":
            lt.fit(make(), data[:2], **recipe)
        else:
            lt.tune(make(), data[:2], **recipe, **prior)
        return time.perf_counter() - started

    once("none"), once("default")
    seconds = {"none": [], "default": []}
    for _ in range(reps):
        for method in seconds:
            seconds[method].append(once(method))
    median = {m: statistics.median(v) for m, v in seconds.items()}
    print(f"{name}: unregularized {median['none']:.2f} s, default {median['default']:.2f} s (medians of {reps}), "
          f"ratio {median['default'] / median['none']:.2f}")


def main(argv=None) -> None:
    import torch
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    land = sub.add_parser("landscape")
    land.add_argument("setting")
    land.add_argument("vectors", nargs="+", type=_deltas)
    land.add_argument("--heldout", action="store_true")
    land.add_argument("--toward", action="store_true", help="transfer task: prior mean = the pretrained backbone")
    land.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    run = sub.add_parser("default")
    run.add_argument("setting")
    run.add_argument("--options", type=json.loads, default={})
    run.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    clock = sub.add_parser("time")
    clock.add_argument("setting")
    clock.add_argument("--reps", type=int, default=5)
    clock.add_argument("--toward", action="store_true", help="transfer task: the default with prior_mean")
    args = parser.parse_args(argv)
    if args.command == "landscape":
        landscape(args.setting, args.vectors, args.heldout, tuple(args.seeds), args.toward)
    elif args.command == "time":
        timing(args.setting, args.reps, args.toward)
    else:
        default(args.setting, args.options, tuple(args.seeds))


if __name__ == "__main__":
    main()
