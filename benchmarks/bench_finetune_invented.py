"""Fine-tuning with a prior mean on tasks invented to check the default away from the digits tasks
it was developed on (issue 14; benchmarks/RESULTS.md, "Do the features transfer?").

Each task pretrains a ReLU (or tanh) MLP on a source with δ = 1 (Adam 3e-3, batch 128, 100 epochs,
``torch.manual_seed(123)``), keeps its body as the prior mean μ and fine-tunes the same body with a
new head on a few target samples per class (``seed`` draws them; every other target sample is the
test set), with bench_nn's recipe (Adam 3e-3, batch 128, 300 epochs):

* ``deep-half`` / ``tanh-half`` — digits, a random half (seed 123) as source, the other half as
  target, ten classes; a 64-128-128-128 ReLU body / a 64-256-256 tanh body; 10 per class;
* ``flip`` — as digits-finetune (64-256-256), the target labels permuted (y → y + 3 mod 10);
* ``garbage`` — as digits-finetune, the source labels shuffled: a body that learnt nothing of digits;
* ``even-odd`` — source the digits 0–4, target 5–9 labelled even/odd; 10 per class;
* ``cancer-shift`` — breast cancer (standardized on the source), source the tumours below the median
  radius, target those above; 30-64-64; 10 per class;
* ``wine-half`` — wine (standardized), a random half (seed 5) as source; 13-64-64; 5 per class.

Every run prints one JSON line (test NLL, the transfer check's verdict, which calibration the
held-out samples chose); with two ``--options`` the paired difference (second − first) per task and
pooled, and the pooled log-ratio.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_finetune_invented.py [TASK …] [--seeds 8]
[--options JSON …]``, e.g. ``--options '{"rivals": ["uniform"]}' '{}'`` (the held-out race alone,
the former default, against the default).
"""
from __future__ import annotations

import argparse
import json

import numpy as np

TASKS = ("deep-half", "tanh-half", "flip", "garbage", "even-odd", "cancer-shift", "wine-half")
PER_CLASS = {"cancer-shift": 10, "wine-half": 5}


def task_data(name: str):
    """(X, source indices, source labels, target indices, target labels, layer sizes, activation)."""
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    from torch import nn
    if name in ("deep-half", "tanh-half", "flip", "garbage"):
        X, y = load_digits(return_X_y=True)
        X = (X / 16).astype(np.float32)
        order = np.random.default_rng(123).permutation(len(y))
        source, target = np.sort(order[: len(y) // 2]), np.sort(order[len(y) // 2:])
        y_source, y_target = y[source].copy(), y[target].copy()
        if name == "flip":
            y_target = (y_target + 3) % 10
        if name == "garbage":
            y_source = np.random.default_rng(7).permutation(y_source)
        sizes = [64, 128, 128, 128] if name == "deep-half" else [64, 256, 256]
        return X, source, y_source, target, y_target, sizes, nn.Tanh if name == "tanh-half" else nn.ReLU
    if name == "even-odd":
        X, y = load_digits(return_X_y=True)
        X = (X / 16).astype(np.float32)
        source, target = np.where(y < 5)[0], np.where(y >= 5)[0]
        return X, source, y[source], target, y[target] % 2, [64, 256, 256], nn.ReLU
    if name == "cancer-shift":
        X, y = load_breast_cancer(return_X_y=True)
        median = np.median(X[:, 0])
        source, target = np.where(X[:, 0] < median)[0], np.where(X[:, 0] >= median)[0]
    elif name == "wine-half":
        X, y = load_wine(return_X_y=True)
        order = np.random.default_rng(5).permutation(len(y))
        source, target = np.sort(order[: len(y) // 2]), np.sort(order[len(y) // 2:])
    else:
        raise ValueError(f"unknown task {name!r}; choose from {', '.join(TASKS)}")
    X = ((X - X[source].mean(0)) / X[source].std(0)).astype(np.float32)
    return X, source, y[source], target, y[target], [X.shape[1], 64, 64], nn.ReLU


def network(sizes, activation, n_classes: int, state=None):
    from torch import nn
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    net = nn.Sequential(*layers, nn.Linear(sizes[-1], n_classes))
    if state is not None:
        net.load_state_dict(state, strict=False)
    return net


def pretrained(name: str):
    """(task data, the body's state dict: the prior mean)."""
    import torch

    import lamina.torch as lt
    X, source, y_source, target, y_target, sizes, activation = data = task_data(name)
    torch.manual_seed(123)
    net = network(sizes, activation, int(y_source.max()) + 1)
    lt.tune(net, (X[source], y_source), tuner="fixed", delta=1.0, epochs=100, lr=3e-3, batch_size=128, seed=0)
    head = f"{2 * (len(sizes) - 1)}."
    return data, {k: v.detach().clone() for k, v in net.state_dict().items() if not k.startswith(head)}


def run(name: str, seed: int, options: dict, data, prior) -> dict:
    import torch

    import lamina.torch as lt
    X, _, _, target, y_target, sizes, activation = data
    n_classes = int(y_target.max()) + 1
    rng = np.random.default_rng(seed)
    train = np.concatenate([rng.choice(np.where(y_target == c)[0], PER_CLASS.get(name, 10), replace=False)
                            for c in range(n_classes)])
    test = np.setdiff1d(np.arange(len(target)), train)
    torch.manual_seed(seed)
    net = network(sizes, activation, n_classes, prior)
    result = lt.tune(net, (X[target[train]], y_target[train]), likelihood="classification", epochs=300, lr=3e-3,
                     batch_size=128, seed=seed, prior_mean=prior, **options)
    return {"task": name, "seed": seed, "options": options,
            "test_nll": round(lt.evaluate(result.model, (X[target[test]], y_target[test]))["nll"], 4),
            "transfer": (result.info.get("transfer") or {}).get("verdict"),
            "chosen": (result.info.get("selection") or {}).get("chosen")}


def main(argv=None) -> None:
    import torch

    from bench_nn_finetune import add_options_argument, known_names, paired, report
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tasks", nargs="*", metavar="TASK", help=f"some of {', '.join(TASKS)} (default: all)")
    parser.add_argument("--seeds", type=int, default=8)
    add_options_argument(parser)
    args = parser.parse_args(argv)
    everything = []
    for name in known_names(parser, args.tasks, TASKS, "task"):
        data, prior = pretrained(name)
        report(name, [run(name, seed, options, data, prior) for seed in range(args.seeds) for options in args.options],
               args.options, everything)
    if len(args.options) == 2:
        first, second = (json.dumps(o) for o in args.options)
        a = {r["seed"]: r["test_nll"] for r in everything if json.dumps(r["options"]) == first}
        b = {r["seed"]: r["test_nll"] for r in everything if json.dumps(r["options"]) == second}
        ratios = np.log([b[s] / a[s] for s in a])
        print("pooled: " + paired(everything, first, second)
              + f"; log ratio {100 * ratios.mean():+.2f} % ± {100 * ratios.std(ddof=1) / np.sqrt(ratios.size):.2f} %",
              flush=True)


if __name__ == "__main__":
    main()
