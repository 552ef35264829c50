"""Fine-tuning settings invented away from the two transfer tasks: new heads, and whole networks anchored (issue 14).

``bench_nn_finetune.py`` varies the two digits transfer tasks, whose head is always new. The
acceptance checks call ``tune(..., prior_mean=state_dict)``, and a user may pass the *whole*
``state_dict``, head included (fine-tuning a network on more data of its own task, or of a shifted
one). Nine tasks, invented on 7 December 2026 before any run (benchmarks/RESULTS.md, Issue 14,
"Fine-tuning a whole pretrained network"):

* new head: ``cnn-transfer`` (a 2-conv max-pool CNN pretrained on the digits 0–4, fine-tuned on 20
  images per class of 5–9), ``ln-transfer`` (a LayerNorm MLP, 10 per class);
* every layer anchored: ``digits-transpose`` (a ReLU MLP pretrained on half of the digits,
  fine-tuned on 10 per class of the other half, transposed), ``digits-continual`` (the same, not
  transposed), ``digits-noisy-tanh`` (a tanh MLP, pixel noise σ = 0.3 on the targets), ``tanh-noisy``
  (a tanh MLP pretrained on 2,000 samples of a make_classification problem, fine-tuned on 60 more
  with a fifth of the labels flipped), ``cancer-gelu`` (a GELU MLP, 300 → 40 tumours of
  breast_cancer, a tenth flipped), ``wine-continual`` (a ReLU MLP, 100 → 24 wines),
  ``moons-rotated`` (a tanh MLP pretrained on make_moons, fine-tuned on 50 points rotated by 25°).

Pretraining: one δ = 1, Adam 3e-3, batch 128, 60 epochs (seed 123 for the weights). Fine-tuning:
``tune(net, train, prior_mean=…, epochs=100, lr=3e-3, batch_size=32, seed=s, **options)``, the seed
drawing the target sample (and a new head), one torch thread. With two ``--options`` the paired
difference (second − first) per task and pooled, as in ``bench_nn_finetune.py``.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nn_finetune_whole.py [TASK …] [--seeds 0 1 2]
[--options JSON …]`` — e.g. ``--options '{"rule": "mup"}' '{}'`` (the μP ratios against the default)
or ``'{"prior_mean": null}'`` (toward zero) or ``'{"tuner": "fixed", "delta": 100}'``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

from bench_nn_finetune import add_options_argument, known_names, paired, report

NEW_HEAD = ("cnn-transfer", "ln-transfer")
TASKS = NEW_HEAD + ("digits-transpose", "digits-continual", "digits-noisy-tanh", "tanh-noisy", "cancer-gelu",
                    "wine-continual", "moons-rotated")
_PRETRAINED: dict = {}


def _network(name: str, n_classes: int):
    from torch import nn

    def mlp(sizes, act):
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), act()]
        return nn.Sequential(*layers[:-1])
    if name == "cnn-transfer":
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(128, n_classes))
    if name == "ln-transfer":
        return nn.Sequential(nn.Linear(64, 128), nn.LayerNorm(128), nn.ReLU(), nn.Linear(128, 128),
                             nn.LayerNorm(128), nn.ReLU(), nn.Linear(128, n_classes))
    sizes = {"digits-noisy-tanh": [64, 128, 128], "tanh-noisy": [20, 64, 64], "cancer-gelu": [30, 64, 64],
             "wine-continual": [13, 64, 64], "moons-rotated": [2, 64, 64]}.get(name, [64, 128, 128])
    act = {"digits-noisy-tanh": nn.Tanh, "tanh-noisy": nn.Tanh, "cancer-gelu": nn.GELU,
           "moons-rotated": nn.Tanh}.get(name, nn.ReLU)
    return mlp(sizes + [n_classes], act)


def _per_class(y, pool, count, rng):
    return np.concatenate([rng.choice(pool[y[pool] == c], count, replace=False) for c in np.unique(y[pool])])


def _standardized(X):
    return ((X - X.mean(0)) / X.std(0)).astype(np.float32)


def task_data(name: str, seed: int):
    """(X_source, y_source, X_train, y_train, X_test, y_test, number of classes) of ``name``."""
    from sklearn import datasets
    rng = np.random.default_rng(seed)
    if name in ("cnn-transfer", "ln-transfer"):
        X, y = datasets.load_digits(return_X_y=True)
        X = (X / 16).astype(np.float32)
        source, target = np.where(y < 5)[0], np.where(y >= 5)[0]
        train = _per_class(y, target, 20 if name == "cnn-transfer" else 10, rng)
        test = np.setdiff1d(target, train)
        return X[source], y[source], X[train], y[train] - 5, X[test], y[test] - 5, 5
    if name.startswith("digits-"):
        X, y = datasets.load_digits(return_X_y=True)
        X = (X / 16).astype(np.float32)
        order = np.random.default_rng(123).permutation(len(y))
        source, target = order[:900], order[900:]
        train = _per_class(y, target, 10, rng)
        test = np.setdiff1d(target, train)
        Xt = X
        if name == "digits-transpose":
            Xt = X.reshape(-1, 8, 8).transpose(0, 2, 1).reshape(-1, 64)
        elif name == "digits-noisy-tanh":
            Xt = np.clip(X + np.random.default_rng(1000 + seed).normal(0, 0.3, X.shape), 0, 1).astype(np.float32)
        return X[source], y[source], Xt[train], y[train], Xt[test], y[test], 10
    if name == "moons-rotated":
        X, y = datasets.make_moons(2000, noise=0.2, random_state=5)
        X = X.astype(np.float32)
        angle = np.deg2rad(25)
        rotated = X @ np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]], dtype=np.float32).T
        train = rng.choice(np.arange(1000, 2000), 50, replace=False)
        test = np.setdiff1d(np.arange(1000, 2000), train)
        return X[:1000], y[:1000], rotated[train], y[train], rotated[test], y[test], 2
    if name == "tanh-noisy":
        X, y = datasets.make_classification(3000, 20, n_informative=8, n_classes=3, random_state=7)
        X, source, target, n_train, flipped = _standardized(X), np.arange(2000), np.arange(2000, 3000), 60, 0.2
    elif name == "cancer-gelu":
        X, y = datasets.load_breast_cancer(return_X_y=True)
        order = np.random.default_rng(123).permutation(len(y))
        X, source, target, n_train, flipped = _standardized(X), order[:300], order[300:], 40, 0.1
    else:   # wine-continual
        X, y = datasets.load_wine(return_X_y=True)
        order = np.random.default_rng(123).permutation(len(y))
        X, source, target, n_train, flipped = _standardized(X), order[:100], order[100:], 24, 0.0
    train = rng.choice(target, n_train, replace=False)
    test = np.setdiff1d(target, train)
    k = len(np.unique(y))
    y_train = y[train].copy()
    if flipped:
        flip = rng.random(n_train) < flipped
        y_train[flip] = (y_train[flip] + 1) % k
    return X[source], y[source], X[train], y_train, X[test], y[test], k


def pretrained(name: str) -> dict:
    """The state dict of ``name``'s network trained on its source (cached per process)."""
    if name not in _PRETRAINED:
        import torch

        import lamina.torch as lt
        X, y, *_, k = task_data(name, 0)
        torch.manual_seed(123)
        net = _network(name, len(np.unique(y)))
        lt.tune(net, (X, y), likelihood="classification", tuner="fixed", delta=1.0, epochs=60, lr=3e-3,
                batch_size=128, seed=0)
        _PRETRAINED[name] = {key: value.detach().clone() for key, value in net.state_dict().items()}
    return _PRETRAINED[name]


def fine_tuning_model(name: str, seed: int):
    """(network at its pretrained weights, prior mean): a new head drawn with ``seed`` for the
    NEW_HEAD tasks (left out of the prior mean), every layer anchored otherwise."""
    import torch
    state = pretrained(name)
    *_, k = task_data(name, seed)
    torch.manual_seed(seed)
    net = _network(name, k)
    head = [key for key in state if key.endswith("weight")][-1].rsplit(".", 1)[0] + "."
    prior = {key: value for key, value in state.items() if name not in NEW_HEAD or not key.startswith(head)}
    net.load_state_dict(prior, strict=False)
    return net, prior


def run(name: str, seed: int, options: dict) -> dict:
    import lamina.torch as lt
    *_, Xtr, ytr, Xte, yte, _ = task_data(name, seed)
    net, prior = fine_tuning_model(name, seed)
    started = time.perf_counter()
    result = lt.tune(net, (Xtr, ytr), likelihood="classification", epochs=100, lr=3e-3, batch_size=32, seed=seed,
                     **{"prior_mean": prior, **options})   # '{"prior_mean": null}': toward zero
    return {"task": name, "seed": seed, "options": options,
            "test_nll": round(lt.evaluate(result.model, (Xte, yte))["nll"], 4),
            "rule": result.info.get("rule"), "fits": round(result.compute.fits, 3),
            "seconds": round(time.perf_counter() - started, 2)}


def main(argv=None) -> None:
    import torch
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tasks", nargs="*", metavar="TASK", help=f"some of {', '.join(TASKS)} (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    add_options_argument(parser)
    args = parser.parse_args(argv)
    tasks, everything = known_names(parser, args.tasks, TASKS, "task"), []
    for name in tasks:
        report(name, [run(name, seed, options) for seed in args.seeds for options in args.options],
               args.options, everything)
    if len(args.options) == 2 and len(tasks) > 1:
        print("pooled: " + paired(everything, *map(json.dumps, args.options)), flush=True)


if __name__ == "__main__":
    main()
