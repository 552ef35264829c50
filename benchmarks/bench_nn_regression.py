"""Which network tuner for a Gaussian likelihood? A study over regression settings (issue 14).

The former default for every likelihood, ``heldout``, under-regularized the two MLP regressions
it was measured on (diabetes-mlp, friedman-mlp: RMSE behind one δ by CV). One regression data set
cannot decide a default, so this script runs the candidates on twelve regression settings, ten of them invented
for this study (data from scikit-learn or generated; none played a part in any default):

* ``diabetes-300`` / ``diabetes-120``: 10-50-50-1 ReLU MLP, 300 / 120 training patients;
* ``friedman1-relu`` / ``friedman1-tanh``: 10-64-64-1, make_friedman1 (noise 1), 200 samples;
* ``friedman1-noisy``: 10-50-50-1 ReLU, noise 3, 150 samples;
* ``friedman1-large``: 10-64-64-1 ReLU, noise 1, 1,000 samples (little regularization needed);
* ``friedman3-gelu``: 4-64-64-1 GELU, make_friedman3 (noise 0.1), 300 samples;
* ``sine-tanh``: 1-64-64-1 tanh, y = sin(3x) + N(0, 0.3²), x ~ U(−2, 2), 80 samples;
* ``linear-wide``: 30-256-1 ReLU, make_regression (5 of 30 features informative, noise 20), 150;
* ``friedman1-layernorm``: 10-64-LN-64-LN-1 ReLU, noise 1, 300 samples;
* ``friedman1-batchnorm``: 10-64-BN-64-BN-1 ReLU, noise 1, 300 samples (δ acts through the
  training dynamics only on the normalized layers);
* ``diabetes-deep``: 10-64-64-64-64-1 ReLU, 300 patients (a longer chain of rescalings).

Methods, one recipe (Adam 3e-3, batch 128, 300 epochs, one torch thread): lamina's default
(``tune`` without ``tuner=``: since this study the evidence with curvature on every 4th step, or
``heldout`` where a weight is scale-invariant), ``heldout`` (the default for every likelihood
before), ``evidence`` (Laplace–GGN evidence with a learned noise precision), and one fixed
δ for every layer over {0.3, 1, 3, 10, 30, 100} (noise precision 1 in training), whose best
value is picked on the *test* RMSE: an oracle for one δ, stronger than any CV.

Scores on the test set: RMSE (free of any noise rule), and the Gaussian NLL with β = 1/training
MSE for every row (the rule of bench_nn.py); the tuners that learn β also get the NLL under their
own β. One JSON line per (setting, seed, method), then a markdown table with paired differences
± s.e. over seeds.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nn_regression.py [SETTING …] [--seeds 0 1 2 3 4]
[--methods heldout evidence δ=1 …] [--options '{"heldout": {...}}']``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

DELTAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def _sine(n_samples, random_state):
    rng = np.random.default_rng(random_state)
    x = rng.uniform(-2, 2, size=(n_samples, 1))
    return x, np.sin(3 * x[:, 0]) + 0.3 * rng.standard_normal(n_samples)


def _batchnorm_mlp(sizes):
    from torch import nn
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.BatchNorm1d(fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-2])


def settings():
    from sklearn.datasets import load_diabetes, make_friedman1, make_friedman3, make_regression
    from torch import nn

    from bench_nn_unseen import _mlp, _split

    def generated(make, n_train, **kw):
        return lambda s: _split(*make(n_samples=n_train + 1000, random_state=100 + s, **kw), n_train, s,
                                regression=True)

    diabetes = load_diabetes(return_X_y=True)
    return {
        "diabetes-300": (lambda s: _split(*diabetes, 300, s, regression=True), lambda: _mlp([10, 50, 50, 1])),
        "diabetes-120": (lambda s: _split(*diabetes, 120, s, regression=True), lambda: _mlp([10, 50, 50, 1])),
        "friedman1-relu": (generated(make_friedman1, 200, noise=1.0), lambda: _mlp([10, 64, 64, 1])),
        "friedman1-tanh": (generated(make_friedman1, 200, noise=1.0), lambda: _mlp([10, 64, 64, 1], nn.Tanh)),
        "friedman1-noisy": (generated(make_friedman1, 150, noise=3.0), lambda: _mlp([10, 50, 50, 1])),
        "friedman1-large": (generated(make_friedman1, 1000, noise=1.0), lambda: _mlp([10, 64, 64, 1])),
        "friedman3-gelu": (generated(make_friedman3, 300, noise=0.1), lambda: _mlp([4, 64, 64, 1], "gelu")),
        "sine-tanh": (generated(_sine, 80), lambda: _mlp([1, 64, 64, 1], nn.Tanh)),
        "linear-wide": (generated(make_regression, 150, n_features=30, n_informative=5, noise=20.0),
                        lambda: _mlp([30, 256, 1])),
        "friedman1-layernorm": (generated(make_friedman1, 300, noise=1.0),
                                lambda: _mlp([10, 64, 64, 1], layer_norm=True)),
        "friedman1-batchnorm": (generated(make_friedman1, 300, noise=1.0), lambda: _batchnorm_mlp([10, 64, 64, 1])),
        "diabetes-deep": (lambda s: _split(*diabetes, 300, s, regression=True), lambda: _mlp([10, 64, 64, 64, 64, 1])),
    }


def methods(options):
    table = {"default": {}, "heldout": {"tuner": "heldout"}, "evidence": {"tuner": "evidence"}}
    table.update({f"δ={d:g}": {"tuner": "fixed", "delta": d} for d in DELTAS})
    for name, extra in options.items():
        table[name] = {**table.get(name, {}), **extra} if name in table else extra
    return table


def run_one(setting, seed, label, options):
    import torch

    import lamina.torch as lt
    from bench_nn import score
    load, make = settings()[setting]
    data = load(seed)
    torch.manual_seed(seed)
    start = time.perf_counter()
    result = lt.tune(make(), data[:2], likelihood="regression", epochs=300, lr=3e-3, batch_size=128,
                     seed=seed, **options)
    seconds = time.perf_counter() - start
    common = score(result.model, "regression", data)
    own = result.info.get("noise_precision") if options.get("tuner") != "fixed" else None
    tuner = result.info.get("default", result.method)
    record = {"setting": setting, "seed": seed, "method": label, "tuner": tuner, "rmse": common["rmse"],
              "nll": common["nll"],
              "nll_own": score(result.model, "regression", data, own)["nll"] if own else None,
              "fits": result.compute.fits, "seconds": seconds,
              "delta": {k: round(float(v), 4) for k, v in result.lambdas.items()}}
    print(json.dumps(record), flush=True)
    return record


def summary(records) -> str:
    lines = ["| setting | **default** RMSE (tuner) | heldout | evidence | oracle one δ | Δ default − oracle | "
             "Δ default − heldout | NLL, own β: default / heldout |",
             "|---|---|---|---|---|---|---|---|"]
    by = {}
    for r in records:
        by.setdefault(r["setting"], {}).setdefault(r["method"], {})[r["seed"]] = r
    totals = []
    for setting, rows in by.items():
        seeds = sorted(set.intersection(*(set(v) for v in rows.values())))
        vec = {m: np.array([rows[m][s]["rmse"] for s in seeds]) for m in rows}
        own = {m: np.array([rows[m][s]["nll_own"] or np.nan for s in seeds]) for m in rows}
        fixed = [m for m in vec if m.startswith("δ=")]
        oracle = min(fixed, key=lambda m: vec[m].mean()) if fixed else None
        if oracle is None or "default" not in vec or "heldout" not in vec:
            continue

        def paired(a, b):
            if a not in vec or b not in vec:
                return "—"
            d = vec[a] - vec[b]
            return f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(d.size):.4f}"

        def cell(m):
            return f"{vec[m].mean():.4f}" if m in vec else "—"

        tuners = sorted({rows["default"][s].get("tuner", "?") for s in seeds}) if "default" in rows else []
        lines.append(f"| {setting} ({len(seeds)} seeds) | **{cell('default')}** ({', '.join(tuners)}) | "
                     f"{cell('heldout')} | {cell('evidence')} | {vec[oracle].mean():.4f} ({oracle}) | "
                     f"{paired('default', oracle)} | {paired('default', 'heldout')} | "
                     f"{own['default'].mean():.3f} / {own['heldout'].mean():.3f} |")
        totals.append(np.log(vec["default"] / vec["heldout"]))
    if not totals:
        return "\n".join(lines[:2] + ["(the table needs the default, heldout and one-δ rows: use --from-json "
                                       "on the lines of all runs)"])
    ratio = np.concatenate(totals)
    lines.append(f"\nlog(RMSE default / RMSE heldout) over all settings and seeds: {ratio.mean():+.4f} ± "
                 f"{ratio.std(ddof=1) / np.sqrt(ratio.size):.4f} (n = {ratio.size})")
    return "\n".join(lines)


def main(argv=None) -> None:
    import torch
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("settings", nargs="*")
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="*", default=None)
    parser.add_argument("--options", default="{}", help="JSON: method label → extra tune() options")
    parser.add_argument("--from-json", default=None, help="summarize the JSON lines of an earlier run")
    args = parser.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as handle:
            records = [json.loads(line) for line in handle if line.startswith("{")]
        print(summary(records))
        return
    table = methods(json.loads(args.options))
    chosen = {k: v for k, v in table.items() if args.methods is None or k in args.methods}
    records = [run_one(setting, seed, label, options)
               for setting in (args.settings or list(settings()))
               for seed in args.seeds for label, options in chosen.items()]
    print(summary(records), flush=True)


if __name__ == "__main__":
    main()
