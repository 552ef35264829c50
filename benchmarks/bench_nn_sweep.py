"""The default network tuner on 24 classifiers invented for the check, none of which it was built on (issue 14).

Invented on 7 December 2026 before any run (benchmarks/RESULTS.md, Issue 14, "Twenty-four
settings invented for the check"): other data (make_moons, make_circles, make_classification with
4 classes, 500 features, a 90/10 imbalance or 25 % flipped labels, breast_cancer, wine, iris, the
digits at 50–1,200 images), other layers (a global-average-pooling CNN, a tanh LeNet with average
pooling, four convolutions with a strided one, PReLU, Sigmoid, Softplus, LeakyReLU, Dropout,
residual blocks without normalization, a deep BatchNorm MLP) and other recipes (batch 8 to full
batch, 60 to 1,000 epochs). Adam, lr 3e-3, one torch thread.

Methods: ``none``, ``default`` (``tune`` without ``tuner=``), ``cv`` (one δ by 5-fold CV over 13
values), ``d=…`` (one fixed δ for every layer; the best of them picked on the *test* NLL is the
table's oracle, stronger than CV).

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nn_sweep.py [SETTING …] [--methods …] [--seeds …]
[--epochs E] [--batch-size B] [--options JSON] [--from-json LOG …]`` — one JSON line per run, then a
markdown table (test NLL, mean over seeds; Δ paired ± s.e.). ``--epochs``/``--batch-size`` override
every setting's own (the 30-epoch table of RESULTS.md: ``--epochs 30``); ``--options`` is passed to
the default's ``tune`` call only.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench_nn_finetune import known_names

FIXED = (0.01, 0.03, 0.1, 0.3, 0.5, 1, 3, 10)
METHODS = ("none", "default", "cv") + tuple(f"d={d:g}" for d in FIXED)
DEFAULT_METHODS = ("none", "default", "d=0.01", "d=0.1", "d=1", "d=10")


def _split(X, y, n_train, seed, scale="standardize"):
    from bench_nn_unseen import _split as split
    return split(X, y, n_train, seed, scale=scale)


def _flipped(y, share, n_classes, seed):
    rng = np.random.default_rng(seed)
    y = y.copy()
    flip = rng.random(len(y)) < share
    y[flip] = (y[flip] + rng.integers(1, n_classes, flip.sum())) % n_classes
    return y


def data(name: str, seed: int):
    """(X_train, y_train, X_test, y_test) of the data set ``name`` (standardized features; the
    digits' pixels /16)."""
    from sklearn import datasets as D
    digits = {"digits": 300, "digits-large": 1200, "digits-tiny": 80, "digits50": 50, "digits500": 500,
              "digits1000": 1000}
    if name in digits:
        return _split(*D.load_digits(return_X_y=True), digits[name], seed, scale="pixels")
    if name == "mc2noise":
        X, y = D.make_classification(1500, 20, n_informative=6, flip_y=0.0, random_state=seed)
        Xtr, ytr, Xte, yte = _split(X, y, 300, seed)
        return Xtr, _flipped(ytr, 0.25, 2, seed), Xte, yte
    makers = {
        "moons": (lambda: D.make_moons(1200, noise=0.3, random_state=seed), 200),
        "circles": (lambda: D.make_circles(1200, noise=0.15, factor=0.5, random_state=seed), 150),
        "mc4": (lambda: D.make_classification(2000, 40, n_informative=8, n_redundant=8, n_classes=4, flip_y=0.05,
                                              random_state=seed), 500),
        "mchigh": (lambda: D.make_classification(1000, 500, n_informative=10, n_redundant=0, random_state=seed), 200),
        "imbal": (lambda: D.make_classification(2000, 20, n_informative=5, weights=[0.9, 0.1], flip_y=0.02,
                                                random_state=seed), 400),
        "mc3": (lambda: D.make_classification(1500, 20, n_informative=6, n_classes=3, random_state=seed), 300),
        "moons100": (lambda: D.make_moons(1100, noise=0.25, random_state=seed), 100),
        "cancer": (lambda: D.load_breast_cancer(return_X_y=True), 150),
        "cancer200": (lambda: D.load_breast_cancer(return_X_y=True), 200),
        "wine": (lambda: D.load_wine(return_X_y=True), 120),
        "wine100": (lambda: D.load_wine(return_X_y=True), 100),
        "iris": (lambda: D.load_iris(return_X_y=True), 90),
    }
    make, n_train = makers[name]
    return _split(*make(), n_train, seed)


def settings() -> dict:
    """name → (data set, network builder, epochs, batch size)."""
    import torch
    from torch import nn

    class Residual(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.lin = nn.Linear(width, width)

        def forward(self, x):
            return x + torch.relu(self.lin(x))

    def mlp(sizes, act):
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), act()]
        return nn.Sequential(*layers[:-1])

    def gap_cnn():
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(16, 10))

    def bn_deep():
        return nn.Sequential(*[m for fan_in in (13, 64, 64) for m in (nn.Linear(fan_in, 64), nn.BatchNorm1d(64),
                                                                       nn.ReLU())], nn.Linear(64, 3))

    def conv4():
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 16, 10))

    def lenet():
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 6, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2),
                             nn.Conv2d(6, 16, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(64, 10))

    def dropout_mlp():
        return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, 256), nn.ReLU(),
                             nn.Dropout(0.3), nn.Linear(256, 10))

    return {
        "moons-relu": ("moons", lambda: mlp([2, 64, 64, 2], nn.ReLU), 200, 32),
        "circles-tanh": ("circles", lambda: mlp([2, 32, 32, 2], nn.Tanh), 100, 16),
        "mc4-relu": ("mc4", lambda: mlp([40, 128, 128, 4], nn.ReLU), 150, 64),
        "mc2noise-relu": ("mc2noise", lambda: mlp([20, 64, 64, 2], nn.ReLU), 200, 64),
        "digits-large": ("digits-large", lambda: mlp([64, 256, 256, 10], nn.ReLU), 60, 256),
        "digits-tiny-gelu": ("digits-tiny", lambda: mlp([64, 128, 10], nn.GELU), 300, 128),
        "cancer-wide-tanh": ("cancer", lambda: mlp([30, 512, 2], nn.Tanh), 100, 32),
        "digits-resmlp": ("digits", lambda: nn.Sequential(nn.Linear(64, 64), nn.ReLU(), Residual(64), Residual(64),
                                                          Residual(64), nn.Linear(64, 10)), 150, 64),
        "digits-gapcnn": ("digits", gap_cnn, 150, 64),
        "wine-bn-deep": ("wine", bn_deep, 100, 16),
        "digits-leaky4": ("digits", lambda: mlp([64, 200, 100, 50, 10], nn.LeakyReLU), 100, 64),
        "iris-softplus": ("iris", lambda: mlp([4, 16, 16, 3], nn.Softplus), 100, 8),
        "digits50-relu": ("digits50", lambda: mlp([64, 128, 128, 10], nn.ReLU), 200, 16),
        "mchigh-relu": ("mchigh", lambda: mlp([500, 64, 2], nn.ReLU), 100, 32),
        "imbal-relu": ("imbal", lambda: mlp([20, 64, 64, 2], nn.ReLU), 150, 64),
        "digits-dropout": ("digits", dropout_mlp, 150, 64),
        "digits-conv4": ("digits500", conv4, 60, 64),
        "wine-long-tanh": ("wine100", lambda: mlp([13, 32, 3], nn.Tanh), 500, 8),
        "digits-cnn-fullbatch": ("digits1000", gap_cnn, 200, 1000),
        "cancer-sigmoid": ("cancer200", lambda: mlp([30, 64, 64, 2], nn.Sigmoid), 200, 32),
        "digits-tanh-wide3": ("digits", lambda: mlp([64, 512, 512, 512, 10], nn.Tanh), 100, 128),
        "moons-fullbatch-long": ("moons100", lambda: mlp([2, 128, 128, 2], nn.ReLU), 1000, 100),
        "mc3-prelu": ("mc3", lambda: mlp([20, 64, 64, 3], nn.PReLU), 150, 32),
        "digits-lenet": ("digits", lenet, 100, 32),
    }


def method_options(method: str, default_options: dict) -> dict:
    if method == "none":
        return {"tuner": "none"}
    if method == "cv":
        return {"tuner": "cv", "grid": np.logspace(-2, 2, 13), "folds": 5, "n_jobs": 1}
    if method.startswith("d="):
        return {"tuner": "fixed", "delta": float(method[2:])}
    return dict(default_options)


def run(names, methods, seeds, epochs=None, batch_size=None, default_options=None) -> list[dict]:
    import torch

    import lamina.torch as lt
    from bench_nn import score
    torch.set_num_threads(1)
    records, table = [], settings()
    for name in names:
        dataset, build, own_epochs, own_batch = table[name]
        recipe = {"epochs": epochs or own_epochs, "batch_size": batch_size or own_batch}
        for seed in seeds:
            split = data(dataset, seed)
            for method in methods:
                torch.manual_seed(seed)
                started = time.perf_counter()
                result = lt.tune(build(), split[:2], likelihood="classification", lr=3e-3, seed=seed, **recipe,
                                 **method_options(method, default_options or {}))
                record = {"setting": name, "seed": seed, "method": method, **recipe,
                          **{k: float(v) for k, v in score(result.model, "classification", split).items()},
                          "fits": float(result.compute.fits), "seconds": round(time.perf_counter() - started, 2)}
                print(json.dumps(record), flush=True)
                records.append(record)
    return records


def table(records) -> str:
    lines = ["| setting (epochs, batch) | none | **default** | best fixed δ (test oracle) | Δ default − none | "
             "Δ default − oracle | one δ by CV |", "|---|---|---|---|---|---|---|"]
    for key in dict.fromkeys((r["setting"], r["epochs"], r["batch_size"]) for r in records):
        cells = {}
        for r in records:
            if (r["setting"], r["epochs"], r["batch_size"]) == key:
                cells.setdefault(r["method"], {})[r["seed"]] = r["nll"]
        if "default" not in cells:
            continue
        seeds = sorted(cells["default"])
        means = {m: np.mean([v[s] for s in seeds]) for m, v in cells.items() if all(s in v for s in seeds)}

        def paired(method):
            if method not in means or len(seeds) < 2:
                return "—"
            d = np.array([cells["default"][s] - cells[method][s] for s in seeds])
            return f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}"
        fixed = {m: v for m, v in means.items() if m.startswith("d=")}
        best = min(fixed, key=fixed.get) if fixed else None
        oracle = f"{fixed[best]:.3f} (δ {best[2:]})" if best else "—"
        none = f"{means['none']:.3f}" if "none" in means else "—"
        cv = f"{means['cv']:.3f}" if "cv" in means else "—"
        lines.append(f"| {key[0]} ({key[1]}, {key[2]}) | {none} | **{means['default']:.3f}** | {oracle} | "
                     f"{paired('none')} | {paired(best) if best else '—'} | {cv} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("settings", nargs="*", help="default: all")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(DEFAULT_METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="override every setting's epochs")
    parser.add_argument("--batch-size", type=int, default=None, help="override every setting's batch size")
    parser.add_argument("--options", type=json.loads, default={}, help="tune() options of the default (JSON)")
    parser.add_argument("--from-json", nargs="+", default=[], metavar="LOG", help="earlier runs' JSON lines, tabled too")
    args = parser.parse_args(argv)
    names = known_names(parser, args.settings, list(settings()), "setting")
    earlier = [json.loads(line) for path in args.from_json for line in open(path) if line.startswith("{")]
    fresh = run(names, args.methods, args.seeds, args.epochs, args.batch_size, args.options) \
        if args.settings or not earlier else []
    print(table(earlier + fresh))


if __name__ == "__main__":
    main()
