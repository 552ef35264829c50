"""The default network tuner on settings it was not developed on (an acceptance-style check).

bench_nn.py holds the six settings the per-layer default was developed and measured on. This
script runs the same four methods — no regularization, δ = 1 for every layer, lamina's default
(``tune`` without ``tuner=``) and one δ by 5-fold CV over 13 values (66 fits) — on networks and data sets
that played no part in choosing the default:

* ``wine-mlp``: 13-64-64-3 ReLU MLP, 100 training wines (standardized), the rest as test;
* ``cancer-mlp``: 30-64-64-2 ReLU MLP, 200 training tumours of breast_cancer (standardized);
* ``digits-gelu-deep``: 64-128-128-128-10 GELU MLP (not positively homogeneous: every δ is
  identified, so the default's split-or-one-scale choice runs), 300 training digits (pixels/16);
* ``friedman-mlp``: 10-64-64-1 ReLU MLP, Gaussian likelihood, make_friedman1 (noise 1.0), 200
  training samples, standardized y;

and three added on 6 December 2026: ``digits-relu-narrow`` (64-32-32-10 ReLU, 400 digits),
``cancer-elu-deep`` (30-32-32-32-2 ELU, 150 tumours), ``wine-silu-wide`` (13-256-3 SiLU, 80 wines);
and three on 7 December: ``digits-labelnoise`` (64-128-128-10 ReLU, 500 digits, 30 % of the
training labels replaced by another class), ``digits-tanh-small`` (64-64-64-10 tanh, 150 digits),
``cancer-labelnoise`` (30-64-64-2 ReLU, 300 tumours, 20 % of the training labels flipped).
"default" is ``tune`` without ``tuner=`` (held-out calibration for classification, the evidence for
a regression).

Same recipe for every method: Adam, lr 3e-3, batch 128, 300 epochs, seeds 0–2, one torch thread.
Output: one JSON line per (setting, seed, method) on stdout, then a markdown summary with the
paired differences of the default to δ = 1 and to CV (± s.e. over seeds).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nn_unseen.py [setting …] [--methods auto]
[--from-json earlier.log …]`` (the records of an earlier run fill the methods not rerun).
"""
from __future__ import annotations

import json
import time

import numpy as np


def _split(X, y, n_train, seed, *, regression=False, scale="standardize"):
    from sklearn.model_selection import train_test_split
    Xtr, Xte, ytr, yte = train_test_split(X, y, train_size=n_train, random_state=seed,
                                          stratify=None if regression else y)
    if scale == "pixels":
        Xtr, Xte = Xtr / 16.0, Xte / 16.0
    else:
        mean, std = Xtr.mean(0), Xtr.std(0) + 1e-8
        Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
    if regression:
        my, sy = ytr.mean(), ytr.std()
        ytr, yte = ((ytr - my) / sy).astype(np.float32), ((yte - my) / sy).astype(np.float32)
    return Xtr.astype(np.float32), ytr, Xte.astype(np.float32), yte


def _mlp(sizes, activation="relu", layer_norm=False):
    """Linear layers of ``sizes`` with ``activation`` (a name or an nn.Module class) between them,
    and a LayerNorm before each activation if ``layer_norm``; the last layer is linear."""
    from torch import nn
    act = {"relu": nn.ReLU, "gelu": nn.GELU, "elu": nn.ELU, "silu": nn.SiLU, "tanh": nn.Tanh}[activation] if isinstance(activation, str) else activation
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out)] + ([nn.LayerNorm(fan_out)] if layer_norm else []) + [act()]
    return nn.Sequential(*layers[:-(2 if layer_norm else 1)])


def settings():
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_friedman1
    return {
        "wine-mlp": ("classification", lambda s: _split(*load_wine(return_X_y=True), 100, s),
                     lambda: _mlp([13, 64, 64, 3])),
        "cancer-mlp": ("classification", lambda s: _split(*load_breast_cancer(return_X_y=True), 200, s),
                       lambda: _mlp([30, 64, 64, 2])),
        "digits-gelu-deep": ("classification",
                             lambda s: _split(*load_digits(return_X_y=True), 300, s, scale="pixels"),
                             lambda: _mlp([64, 128, 128, 128, 10], "gelu")),
        "friedman-mlp": ("regression",
                         lambda s: _split(*make_friedman1(n_samples=1200, noise=1.0, random_state=100 + s), 200, s,
                                          regression=True),
                         lambda: _mlp([10, 64, 64, 1])),
        # added 6 December 2026, after the default had changed many times since the four above
        "digits-relu-narrow": ("classification",
                               lambda s: _split(*load_digits(return_X_y=True), 400, s, scale="pixels"),
                               lambda: _mlp([64, 32, 32, 10])),
        "cancer-elu-deep": ("classification", lambda s: _split(*load_breast_cancer(return_X_y=True), 150, s),
                            lambda: _mlp([30, 32, 32, 32, 2], "elu")),
        "wine-silu-wide": ("classification", lambda s: _split(*load_wine(return_X_y=True), 80, s),
                           lambda: _mlp([13, 256, 3], "silu")),
        # added 7 December 2026 (noise levels and data sizes the others lack), before any was run
        "digits-labelnoise": ("classification",
                              lambda s: _noisy_labels(_split(*load_digits(return_X_y=True), 500, s, scale="pixels"),
                                                      0.3, s),
                              lambda: _mlp([64, 128, 128, 10])),
        "digits-tanh-small": ("classification",
                              lambda s: _split(*load_digits(return_X_y=True), 150, s, scale="pixels"),
                              lambda: _mlp([64, 64, 64, 10], "tanh")),
        "cancer-labelnoise": ("classification",
                              lambda s: _noisy_labels(_split(*load_breast_cancer(return_X_y=True), 300, s), 0.2, s),
                              lambda: _mlp([30, 64, 64, 2])),
    }


def _noisy_labels(split, fraction, seed):
    """The training labels of ``split``, a ``fraction`` of them replaced by labels drawn uniformly
    from the other classes (the test labels stay clean): a noise level the data sets lack."""
    Xtr, ytr, Xte, yte = split
    rng = np.random.default_rng(1000 + seed)
    classes = np.unique(ytr)
    flip = rng.random(ytr.size) < fraction
    shift = rng.integers(1, classes.size, size=ytr.size)
    noisy = np.where(flip, classes[(np.searchsorted(classes, ytr) + shift) % classes.size], ytr)
    return Xtr, noisy, Xte, yte


METHODS = [("none", {}), ("fixed", {"delta": 1.0}), ("auto", {}),
           ("cv", {"grid": np.logspace(-2, 2, 13), "folds": 5, "n_jobs": 1})]


def run(names, seeds=(0, 1, 2), methods=None):
    import torch

    import lamina.torch as lt
    from bench_nn import score
    torch.set_num_threads(1)
    records = []
    for name in names:
        likelihood, load, make = settings()[name]
        for seed in seeds:
            data = load(seed)
            for method, options in METHODS:
                if methods is not None and method not in methods:
                    continue
                torch.manual_seed(seed)
                started = time.perf_counter()
                result = lt.tune(make(), data[:2], likelihood=likelihood, tuner=method, epochs=300, lr=3e-3,
                                 batch_size=128, seed=seed, **options)
                beta = result.info.get("noise_precision") if method == "auto" else None
                metrics = score(result.model, likelihood, data, beta)
                record = {"setting": name, "seed": seed, "method": method, **{k: float(v) for k, v in metrics.items()},
                          "fits": float(result.compute.fits), "seconds": round(time.perf_counter() - started, 1),
                          "lambdas": {k: round(float(v), 4) for k, v in result.lambdas.items()},
                          "split_kept": result.info.get("selection", {}).get("split_kept")}
                print(json.dumps(record), flush=True)
                records.append(record)
    return records


def summary(records) -> str:
    lines = ["| setting | none | δ = 1 | one δ by CV (66 fits) | **default** | Δ default − δ=1 | Δ default − CV | "
             "second metric: default / CV |", "|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["setting"] for r in records):
        rows = {m: sorted((r for r in records if r["setting"] == name and r["method"] == m), key=lambda r: r["seed"])
                for m, _ in METHODS}
        if not all(rows.values()):   # a method not run on this setting (--methods without --from-json)
            continue
        second = "rmse" if "rmse" in rows["auto"][0] else "accuracy"

        def mean(m, key="nll"):
            return np.mean([r[key] for r in rows[m]])

        def paired(m, key="nll"):
            d = np.array([a[key] - b[key] for a, b in zip(rows["auto"], rows[m])])
            return f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}"
        lines.append(f"| {name} | {mean('none'):.3f} | {mean('fixed'):.3f} | {mean('cv'):.3f} | "
                     f"**{mean('auto'):.3f}** | {paired('fixed')} | {paired('cv')} | "
                     f"{second} {mean('auto', second):.3f} / {mean('cv', second):.3f} "
                     f"(Δ {paired('cv', second)}) |")
    return "\n".join(lines)


def from_json(paths) -> list:
    """The JSON lines of earlier runs (one record per setting, seed and method; a later line
    replaces an earlier one of the same cell)."""
    cells = {}
    for path in paths:
        for line in open(path):
            if line.startswith("{"):
                record = json.loads(line)
                cells[(record["setting"], record["seed"], record["method"])] = record
    return list(cells.values())


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("settings", nargs="*", help=f"default: all of {list(settings())}")
    parser.add_argument("--methods", nargs="+", choices=[m for m, _ in METHODS],
                        help="run only these (e.g. auto after the default changed); --from-json supplies the rest")
    parser.add_argument("--from-json", nargs="+", default=[], metavar="LOG",
                        help="earlier runs' JSON lines: the table is built from them and this run's records")
    args = parser.parse_args()
    records = run(args.settings or list(settings()), methods=args.methods) if args.settings or not args.from_json else []
    print(summary(from_json(args.from_json) + records if args.from_json else records))
