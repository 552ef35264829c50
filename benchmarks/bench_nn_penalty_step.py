"""Wall time of the default tuner with the coupled L2 gradient added directly (what
``lamina.torch.fit`` does: ``Regularizer.add_gradient`` after ``backward``) against the same run
with the penalty differentiated by autograd (the former path), and one unregularized ``fit`` —
all in one process, interleaved, medians (issue 14's "≤ 1.5× one unregularized training").

Same recipe as bench_nn.py (Adam 3e-3, batch 128, 300 epochs), seed 0. Run it alone on the cores:
``OMP_NUM_THREADS=1 PYTHONPATH=src:benchmarks python benchmarks/bench_nn_penalty_step.py SETTING
[--toward] [--reps R]`` (``--toward``: the pretrained backbone as ``prior_mean``).
"""
from __future__ import annotations

import argparse
import statistics
import time

KINDS = ("none", "autograd", "direct")


def _autograd_gradient(regularizer):
    """The former path: the penalty's own graph and backward."""
    value = regularizer.penalty()
    if value.requires_grad:
        value.backward()
    return value.detach()


def measure(name: str, toward: bool, reps: int) -> dict:
    import torch

    import lamina.torch as lt
    from bench_nn_rules import _settings
    from lamina.studies.transfer import pretrained_backbone
    from lamina.torch.penalty import Regularizer
    likelihood, load, make = _settings()[name]
    data = load(0)
    recipe = {"likelihood": likelihood, "epochs": 300, "lr": 3e-3, "batch_size": 128, "seed": 0}
    prior = {"prior_mean": pretrained_backbone(name)} if toward else {}
    direct = Regularizer.add_gradient

    def once(kind: str) -> float:
        Regularizer.add_gradient = _autograd_gradient if kind == "autograd" else direct
        torch.manual_seed(0)
        started = time.perf_counter()
        if kind == "none":
            lt.fit(make(), data[:2], **recipe)
        else:
            lt.tune(make(), data[:2], **recipe, **prior)
        return time.perf_counter() - started

    try:
        for kind in KINDS:   # warm-up
            once(kind)
        seconds = {kind: [] for kind in KINDS}
        for _ in range(reps):
            for kind in KINDS:
                seconds[kind].append(once(kind))
    finally:
        Regularizer.add_gradient = direct
    return {kind: statistics.median(values) for kind, values in seconds.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("setting")
    parser.add_argument("--toward", action="store_true", help="the pretrained backbone as prior_mean")
    parser.add_argument("--reps", type=int, default=11)
    args = parser.parse_args(argv)
    median = measure(args.setting, args.toward, args.reps)
    print(f"{args.setting}{' (prior_mean)' if args.toward else ''}: "
          + ", ".join(f"{kind} {median[kind]:.3f} s ({median[kind] / median['none']:.2f}×)" for kind in KINDS)
          + f"  [medians of {args.reps}]")


if __name__ == "__main__":
    main()
