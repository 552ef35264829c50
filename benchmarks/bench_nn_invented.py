"""Networks invented to test the default's ratio rule away from the benchmark (issue 14).

Six small networks on data shipped with scikit-learn, none of which played a part in choosing
the default's μP ratios: tanh, SiLU and ELU MLPs, a wider tanh MLP on more images, a ReLU MLP
with LayerNorm (nothing identified at the optimum), and a tanh regression. Methods: one fixed δ
∈ {0.1, 0.3, 1, 3} for every layer (the best of them is picked on the *test* set: an oracle for
one δ) and lamina's default ``tune()``. Same recipe as bench_nn.py (Adam 3e-3, batch 128, 300
epochs), seeds 0–2, one torch thread. Prints per-seed values and one summary line per setting:
test NLL (RMSE for the regression) and the paired difference default − oracle one δ ± s.e.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nn_invented.py [SETTING …] [--only default]``.
"""
from __future__ import annotations

import argparse

import numpy as np

DELTAS = (0.1, 0.3, 1.0, 3.0)


def settings():
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine, make_friedman1
    from torch import nn

    from bench_nn_unseen import _mlp, _split
    friedman = lambda s: make_friedman1(n_samples=1200, noise=1.0, random_state=100 + s)  # noqa: E731
    return {
        "wine-tanh": ("classification", lambda s: _split(*load_wine(return_X_y=True), 100, s),
                      lambda: _mlp([13, 64, 64, 3], nn.Tanh)),
        "cancer-silu": ("classification", lambda s: _split(*load_breast_cancer(return_X_y=True), 200, s),
                        lambda: _mlp([30, 128, 64, 2], nn.SiLU)),
        "digits-tanh-wide": ("classification", lambda s: _split(*load_digits(return_X_y=True), 1000, s, scale="pixels"),
                             lambda: _mlp([64, 256, 256, 10], nn.Tanh)),
        "digits-elu": ("classification", lambda s: _split(*load_digits(return_X_y=True), 300, s, scale="pixels"),
                       lambda: _mlp([64, 128, 64, 10], nn.ELU)),
        "digits-ln-relu": ("classification", lambda s: _split(*load_digits(return_X_y=True), 500, s, scale="pixels"),
                           lambda: _mlp([64, 128, 128, 10], nn.ReLU, layer_norm=True)),
        "friedman-tanh": ("regression", lambda s: _split(*friedman(s), 200, s, regression=True),
                          lambda: _mlp([10, 64, 64, 1], nn.Tanh)),
    }


def run(name: str, only=None, seeds=(0, 1, 2)) -> dict:
    import torch

    import lamina.torch as lt
    from bench_nn import score
    likelihood, load, make = settings()[name]
    methods = [(f"δ={d}", {"tuner": "fixed", "delta": d}) for d in DELTAS] + [("default", {})]
    methods = [m for m in methods if not only or m[0] in only]
    key = "rmse" if likelihood == "regression" else "nll"
    rows: dict = {}
    for seed in seeds:
        data = load(seed)
        for label, options in methods:
            torch.manual_seed(seed)
            result = lt.tune(make(), data[:2], likelihood=likelihood, epochs=300, lr=3e-3, batch_size=128,
                             seed=seed, **options)
            rows.setdefault(label, []).append(score(result.model, likelihood, data,
                                                    result.info.get("noise_precision"))[key])
            if label == "default":
                rows.setdefault("rule", []).append(result.info.get("rule"))
        print(name, seed, {k: v[-1] if k == "rule" else round(v[-1], 4) for k, v in rows.items()}, flush=True)
    return rows


def summary(name: str, rows: dict) -> str:
    means = {k: round(float(np.mean(v)), 4) for k, v in rows.items() if k != "rule"}
    fixed = [k for k in rows if k.startswith("δ")]
    line = f"{name}: {means} rule {rows.get('rule')}"
    if fixed and "default" in rows:
        best = min(fixed, key=lambda k: np.mean(rows[k]))
        d = np.array(rows["default"]) - np.array(rows[best])
        line += f"; default − oracle one δ ({best}) {d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(d.size):.4f}"
    return line


def main(argv=None) -> None:
    import torch
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("settings", nargs="*")
    parser.add_argument("--only", nargs="*", default=None, help="method labels, e.g. default δ=1.0")
    args = parser.parse_args(argv)
    for name in args.settings or list(settings()):
        print(summary(name, run(name, args.only)), flush=True)


if __name__ == "__main__":
    main()
