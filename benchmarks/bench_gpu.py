"""A prepared device check: lamina's network tuners on a GPU against the CPU (issue 14: "where a
GPU is lent, time one setting there once"; issue 15's transformer on a device).

One short script, for the one call a session with a lent GPU makes: the digits MLP of
``bench_nn.py`` (64-256-256-10, 500 training digits, Adam 3e-3, batch 128) trained by
``lamina.torch.tune`` without a penalty and with the default tuner, on the CPU (one torch thread)
and on ``--device`` — test NLL, accuracy, seconds, and the default's time over the unregularized
fit of the same device; then every other tuner and option once on the device, a few epochs each
(evidence, hypergradient, a prior mean, a target sparsity with L1 and L0, a regression), and the
transformer's lamina strategy (``lamina.torch.lm``), each checked to end on the device with finite
numbers. The data stay numpy arrays on the host, as a user passes them.

Usage: ``python benchmarks/bench_gpu.py [--device cuda] [--epochs 300] [--seeds 0]``
(``--device cpu`` runs the same code on the CPU only, which is how the script itself was tested:
about 10 s with the defaults on one core). On a lent machine (whose image has torch, NumPy, SciPy,
scikit-learn and tqdm, not PyWavelets or PyLops; this script needs neither), from the
repository's root: ``PYTHONPATH=src python3 benchmarks/bench_gpu.py``. Prints a markdown table and writes it to
benchmarks/out/gpu.md.
"""
from __future__ import annotations

import argparse
import math
import pathlib
import time
import warnings

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent / "out"


def timed_row(device: str, method: str, seed: int, epochs: int, data) -> dict:
    import torch

    import lamina.torch as lt
    from lamina.studies.shipped import relu_mlp

    Xtr, ytr, Xte, yte = data
    torch.manual_seed(seed)
    model = relu_mlp([64, 256, 256, 10]).to(device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    result = lt.tune(model, (Xtr, ytr), likelihood="classification", epochs=epochs, lr=3e-3, batch_size=128,
                     seed=seed, **({"tuner": "none"} if method == "none" else {}))
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    scores = lt.evaluate(result.model, (Xte, yte))
    on_device = next(result.model.parameters()).device.type == torch.device(device).type
    return {"device": device, "method": method, "seed": seed, "nll": scores["nll"], "accuracy": scores["accuracy"],
            "seconds": seconds, "on_device": on_device}


def smoke(device: str) -> list[tuple[str, str]]:
    """(what, outcome) of every other tuner and option, a few epochs each, on ``device``."""
    import torch
    from sklearn.datasets import load_diabetes

    import lamina.torch as lt
    from lamina.studies.shipped import digits_split, relu_mlp
    from lamina.torch.lm import LMConfig, LMRecipe, load_corpus, run_strategy

    Xtr, ytr, _, _ = digits_split(0)
    Xd, yd = load_diabetes(return_X_y=True)
    Xd, yd = ((Xd - Xd.mean(0)) / Xd.std(0)).astype(np.float32), ((yd - yd.mean()) / yd.std()).astype(np.float32)

    def mlp(sizes):
        torch.manual_seed(0)
        return relu_mlp(sizes).to(device)

    pretrained = {k: v.clone() for k, v in mlp([64, 64, 10]).state_dict().items()}
    calls = {
        "evidence (K-FAC)": lambda: lt.tune(mlp([64, 64, 10]), (Xtr, ytr), tuner="evidence", epochs=12),
        "hypergradient": lambda: lt.tune(mlp([64, 64, 10]), (Xtr, ytr), tuner="hypergradient", epochs=12),
        "default, prior_mean": lambda: lt.tune(mlp([64, 64, 10]), (Xtr, ytr), epochs=12, prior_mean=pretrained),
        "L1, target sparsity 0.9": lambda: lt.tune(mlp([64, 64, 10]), (Xtr, ytr), penalty="l1",
                                                   target_sparsity=0.9, epochs=12),
        "L0, target sparsity 0.9": lambda: lt.tune(mlp([64, 64, 10]), (Xtr, ytr), penalty="l0",
                                                   target_sparsity=0.9, epochs=12),
        "regression (default: evidence)": lambda: lt.tune(mlp([10, 32, 1]), (Xd, yd[:, None]),
                                                          likelihood="regression", epochs=20),
    }
    outcomes = []
    for what, call in calls.items():
        try:
            with warnings.catch_warnings():   # e.g. the untrained "pretrained" readout's prior_mean warning
                warnings.simplefilter("ignore", UserWarning)
                result = call()
            params = list(result.model.parameters())
            finite = all(bool(torch.isfinite(p).all()) for p in params)
            placed = all(p.device.type == torch.device(device).type for p in params)
            outcomes.append((what, "ok" if finite and placed else f"finite={finite}, on {device}={placed}"))
        except Exception as error:   # a device check reports every failure, then the next call
            outcomes.append((what, f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"))
    try:
        corpus = load_corpus(max_chars=20_000)
        run = run_strategy("lamina", corpus, LMConfig(corpus.vocab_size, context=16, d_model=16, n_layers=2,
                                                      n_heads=2), LMRecipe(steps=30, warmup=3, batch_size=8), 0,
                           tuner_options={"every": 5, "heldout_windows": 8}, device=device)
        outcomes.append(("transformer, lamina strategy", "ok" if math.isfinite(run.val_ppl) else "val ppl not finite"))
    except Exception as error:
        outcomes.append(("transformer, lamina strategy", f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"))
    return outcomes


def main(device: str, epochs: int, seeds) -> str:
    import torch

    from lamina.studies.shipped import digits_split

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {device}: torch sees no CUDA device here (torch.cuda.is_available() is False)")
    torch.set_num_threads(1)
    devices = ["cpu"] if device == "cpu" else ["cpu", device]
    rows = []
    for seed in seeds:
        data = digits_split(seed)
        for where in devices:
            timed_row(where, "none", seed, 2, data)   # one-time costs (CUDA context, kernels) off the clock
            for method in ("none", "default"):
                rows.append(timed_row(where, method, seed, epochs, data))
                print(rows[-1], flush=True)
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else "CPU"
    lines = [f"## Device check: digits MLP 64-256-256-10, {epochs} epochs, seeds {list(seeds)} ({name})", "",
             "| device | method | test NLL | accuracy | seconds | × no penalty on the same device | model on device |",
             "|---|---|---|---|---|---|---|"]
    for where in devices:
        for method in ("none", "default"):
            group = [r for r in rows if r["device"] == where and r["method"] == method]
            base = np.mean([r["seconds"] for r in rows if r["device"] == where and r["method"] == "none"])
            lines.append(f"| {where} | {method} | {np.mean([r['nll'] for r in group]):.4f} | "
                         f"{np.mean([r['accuracy'] for r in group]):.4f} | {np.mean([r['seconds'] for r in group]):.1f} | "
                         f"{np.mean([r['seconds'] for r in group]) / base:.2f} | {all(r['on_device'] for r in group)} |")
    lines += ["", f"Every other tuner and option on {device}, a few epochs each:", "", "| call | outcome |", "|---|---|"]
    lines += [f"| {what} | {outcome} |" for what, outcome in smoke(device)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="the device to check beside the CPU (default cuda)")
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()
    text = main(args.device, args.epochs, args.seeds)
    OUT.mkdir(exist_ok=True)
    (OUT / "gpu.md").write_text(text)
    print(text)
