"""The default network tuner on architectures it was not built on: attention, recurrent, normalized.

bench_nn.py and bench_nn_unseen.py hold MLPs and one BatchNorm CNN. This script runs small
classifiers of other kinds on the digits (the 8 × 8 image as 8 rows of 8 pixels where a network
reads a sequence), invented to test the default, not to tune it:

* ``attn``: a post-norm Transformer encoder layer over the rows (d = 32, 4 heads, ReLU
  feed-forward 64, learned positions), mean-pooled, linear head;
* ``attn2``: two pre-norm encoder layers (d = 48, GELU feed-forward 96), the first row's state,
  a final LayerNorm and a linear head;
* ``lstm`` (hidden 32) and ``gru`` (hidden 48) over the rows, a linear head on the last state;
* ``rnn`` (tanh, hidden 64), ``gru-wide`` (hidden 128), ``lstm2-cols`` (two layers, hidden 48, over
  the 8 columns) and ``bigru-mean`` (bidirectional, hidden 24, mean of the states): four more
  recurrent networks, invented on 7 December 2026 to test the readout's line of the held-out
  calibration (benchmarks/RESULTS.md, Issue 14, "Which weights the line moves");
* ``silu-deep``: 64-96-96-96-96-10 with SiLU (invented the same day; with ``--batch-size 32`` the
  retraining collapsed to chance: RESULTS.md, "A retraining that learns nothing"), and five more deep
  MLPs of that check: ``relu-deep6``, ``gelu-deep6``, ``tanh-deep6``, ``elu-deep6`` (six hidden
  layers of 64) and ``silu-narrow`` (four of 32);
* ``ln-mlp``: 64-128-128-10 with LayerNorm before each GELU; ``bn-mlp``: the same with BatchNorm
  before each ReLU; ``bn-cnn`` and ``cnn2d``: two 3 × 3 convolutions (16, 32 channels) with
  max-pooling, with and without BatchNorm; ``mlp``: the benchmark's 64-256-256-10 ReLU MLP.

Methods: no penalty; lamina's default (``tune`` without ``tuner=``); the default's calibration
with the calibrated weights continued instead of retrained (``refit=False``, the default until
7 December 2026); one δ for every layer over {0.1, 0.3, 1, 3, 10}, the best picked on the *test*
NLL (an oracle, stronger than CV). Recipe: Adam 3e-3, batch ``--batch-size`` (128), ``--epochs`` (150), ``--n-train``
training digits (300, pixels/16; the rest is the test set), seeds 0–2 (``--seeds``), one torch thread.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nn_architectures.py [network …] [--methods …]
[--epochs E] [--n-train N] [--from-json LOG …]`` — JSON lines, then a markdown table (test NLL,
mean over seeds; Δ paired over seeds ± s.e.).
"""
from __future__ import annotations

import json
import time

import numpy as np

FIXED = (0.1, 0.3, 1.0, 3.0, 10.0)
METHODS = {"none": {"tuner": "none"}, "default": {}, "continued": {"refit": False},
           **{f"δ={d:g}": {"tuner": "fixed", "delta": d} for d in FIXED}}


def networks():
    """name → a function building the network (seeded by the caller)."""
    import torch
    from torch import nn

    class Rows(nn.Module):
        """A sequence model over the 8 rows (or ``columns``) of an 8 × 8 digit, a linear head on
        ``pool`` of its states."""

        def __init__(self, body, width, pool, norm=None, columns=False):
            super().__init__()
            self.body, self.pool, self.norm, self.head = body, pool, norm, nn.Linear(width, 10)
            self.columns = columns

        def forward(self, x):
            x = x.reshape(-1, 8, 8)
            states = self.body(x.transpose(1, 2) if self.columns else x)
            states = states[0] if isinstance(states, tuple) else states
            pooled = self.pool(states)
            return self.head(self.norm(pooled) if self.norm is not None else pooled)

    class Encoder(nn.Module):
        def __init__(self, d, layers, **options):
            super().__init__()
            self.embed, self.position = nn.Linear(8, d), nn.Parameter(torch.zeros(8, d))
            layer = nn.TransformerEncoderLayer(d, 4, dropout=0.0, batch_first=True, **options)
            self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

        def forward(self, rows):
            return self.encoder(self.embed(rows) + self.position)

    def image_cnn(norm):
        blocks = []
        for fan_in, fan_out in ((1, 16), (16, 32)):
            blocks += [nn.Conv2d(fan_in, fan_out, 3, padding=1)] + ([nn.BatchNorm2d(fan_out)] if norm else [])
            blocks += [nn.ReLU(), nn.MaxPool2d(2)]
        return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), *blocks, nn.Flatten(), nn.Linear(32 * 4, 10))

    def mlp(norm, act):
        return nn.Sequential(nn.Linear(64, 128), norm(128), act(), nn.Linear(128, 128), norm(128), act(),
                             nn.Linear(128, 10))

    def last(states):   # the last step's state
        return states[:, -1]

    def deep(act, width, depth):
        layers = [nn.Linear(64, width), act()] + [m for _ in range(depth - 1) for m in (nn.Linear(width, width), act())]
        return nn.Sequential(*layers, nn.Linear(width, 10))

    return {
        "attn": lambda: Rows(Encoder(32, 1, dim_feedforward=64), 32, lambda h: h.mean(1)),
        "attn2": lambda: Rows(Encoder(48, 2, dim_feedforward=96, activation="gelu", norm_first=True), 48,
                              lambda h: h[:, 0], norm=nn.LayerNorm(48)),
        "lstm": lambda: Rows(nn.LSTM(8, 32, batch_first=True), 32, last),
        "gru": lambda: Rows(nn.GRU(8, 48, batch_first=True), 48, last),
        "rnn": lambda: Rows(nn.RNN(8, 64, batch_first=True), 64, last),
        "gru-wide": lambda: Rows(nn.GRU(8, 128, batch_first=True), 128, last),
        "lstm2-cols": lambda: Rows(nn.LSTM(8, 48, num_layers=2, batch_first=True), 48, last, columns=True),
        "bigru-mean": lambda: Rows(nn.GRU(8, 24, batch_first=True, bidirectional=True), 48, lambda h: h.mean(1)),
        "silu-deep": lambda: nn.Sequential(nn.Linear(64, 96), nn.SiLU(),
                                           *[m for _ in range(3) for m in (nn.Linear(96, 96), nn.SiLU())],
                                           nn.Linear(96, 10)),
        **{f"{name}-deep6": (lambda act=act: deep(act, 64, 6)) for name, act in
           (("relu", nn.ReLU), ("gelu", nn.GELU), ("tanh", nn.Tanh), ("elu", nn.ELU))},
        "silu-narrow": lambda: deep(nn.SiLU, 32, 4),
        "ln-mlp": lambda: mlp(nn.LayerNorm, nn.GELU),
        "bn-mlp": lambda: mlp(nn.BatchNorm1d, nn.ReLU),
        "bn-cnn": lambda: image_cnn(True),
        "cnn2d": lambda: image_cnn(False),
        "mlp": lambda: nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)),
    }


def run(names, methods, epochs, n_train, seeds=(0, 1, 2), batch_size=128):
    import torch
    from sklearn.datasets import load_digits

    import lamina.torch as lt
    from bench_nn import score
    from bench_nn_unseen import _split
    torch.set_num_threads(1)
    records = []
    for name in names:
        make = networks()[name]
        for seed in seeds:
            data = _split(*load_digits(return_X_y=True), n_train, seed, scale="pixels")
            for method in methods:
                torch.manual_seed(seed)
                started = time.perf_counter()
                result = lt.tune(make(), data[:2], likelihood="classification", epochs=epochs, lr=3e-3,
                                 batch_size=batch_size, seed=seed, **METHODS[method])
                record = {"network": name, "seed": seed, "method": method, "epochs": epochs, "n_train": n_train,
                          "batch_size": batch_size,
                          **{k: float(v) for k, v in score(result.model, "classification", data, None).items()},
                          "fits": float(result.compute.fits), "seconds": round(time.perf_counter() - started, 2)}
                print(json.dumps(record), flush=True)
                records.append(record)
    return records


def table(records) -> str:
    lines = ["| network (epochs, images) | none | continued | **default** | best fixed δ (test oracle) | "
             "Δ default − continued | Δ default − none | default's fits |", "|---|---|---|---|---|---|---|---|"]
    keys = dict.fromkeys((r["network"], r["epochs"], r["n_train"]) for r in records)
    for key in keys:
        cells = {}
        for r in records:
            if (r["network"], r["epochs"], r["n_train"]) == key:
                cells.setdefault(r["method"], {})[r["seed"]] = r
        if "default" not in cells:
            continue
        seeds = sorted(cells["default"])

        def mean(method):
            rows = cells.get(method, {})
            return np.mean([rows[s]["nll"] for s in seeds]) if all(s in rows for s in seeds) else np.nan

        def paired(method):
            if not all(s in cells.get(method, {}) for s in seeds) or len(seeds) < 2:
                return "—"
            d = np.array([cells["default"][s]["nll"] - cells[method][s]["nll"] for s in seeds])
            return f"{d.mean():+.3f} ± {d.std(ddof=1) / np.sqrt(d.size):.3f}"
        fixed = {m: mean(m) for m in cells if m.startswith("δ=") and not np.isnan(mean(m))}
        oracle = f"{min(fixed.values()):.3f} ({min(fixed, key=fixed.get)})" if fixed else "—"
        fits = np.mean([cells["default"][s]["fits"] for s in seeds])
        lines.append(f"| {key[0]} ({key[1]}, {key[2]}) | {mean('none'):.3f} | {mean('continued'):.3f} | "
                     f"**{mean('default'):.3f}** | {oracle} | {paired('continued')} | {paired('none')} | {fits:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("networks", nargs="*", help=f"default: all of {list(networks())}")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--n-train", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--from-json", nargs="+", default=[], metavar="LOG", help="earlier runs' JSON lines, tabled too")
    args = parser.parse_args()
    earlier = [json.loads(line) for path in args.from_json for line in open(path) if line.startswith("{")]
    fresh = run(args.networks or list(networks()), args.methods, args.epochs, args.n_train, tuple(args.seeds),
                args.batch_size) \
        if args.networks or not earlier else []
    print(table(earlier + fresh))
