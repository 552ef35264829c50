"""Wall time of the default network tuner against one unregularized training (issue 14's cost goal:
≤ 1.5× one training), where the held-out searches are a large share of the tuner's time: small
full-batch data (every epoch one step) and short runs.

``lt.tune`` (the default) against ``tuner="none"`` on the same data, model and recipe (Adam 3e-3,
batch 128, seed 0), interleaved, ``REPEATS`` runs each, one thread; prints the ratio of the medians
and of the fastest runs, the calibration length, the updates per calibration and the cost as the
budget counts it (``info["budget_fits"]``). Settings: those of bench_nn_short.py, and
``finetune-mu`` (the fine-tuning task with its prior mean: four calibrations). Run it alone:
another busy process moves these sub-second timings by more than the differences measured.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nn_walltime.py [SETTING,…] [EPOCHS,…]``
(default: iris-mlp-60,wine-tanh,digits-transfer,finetune-mu,digits-mlp at 30,100,300)
"""
from __future__ import annotations

import statistics
import sys
import time

REPEATS = 9


def problem(name: str):
    """(likelihood, train data, model factory, options) of a setting."""
    if name == "finetune-mu":
        from lamina.studies.transfer import pretrained_backbone, transfer_data, transfer_model
        X, y, _, _ = transfer_data(0, "digits-finetune")
        return ("classification", (X, y), lambda: transfer_model("digits-finetune"),
                {"prior_mean": pretrained_backbone("digits-finetune")})
    from bench_nn_short import all_settings
    likelihood, load, make = all_settings()[name]
    data = load(0)
    return likelihood, (data[0], data[1]), make, {}


def main(argv) -> None:
    import torch

    import lamina.torch as lt
    torch.set_num_threads(1)
    names = (argv[0] if argv else "iris-mlp-60,wine-tanh,digits-transfer,finetune-mu,digits-mlp").split(",")
    epochs_list = [int(e) for e in (argv[1] if len(argv) > 1 else "30,100,300").split(",")]
    for name in names:
        likelihood, train, make, options = problem(name)
        for epochs in epochs_list:
            times = {"none": [], "default": []}
            for _ in range(REPEATS):
                for method in times:
                    torch.manual_seed(0)
                    started = time.perf_counter()
                    result = lt.tune(make(), train, likelihood=likelihood, epochs=epochs, lr=3e-3, batch_size=128,
                                     seed=0, **({"tuner": "none"} if method == "none" else options))
                    times[method].append(time.perf_counter() - started)
                    if method == "default":
                        info = result.info
            one = statistics.median(times["none"])
            print(f"{name} {epochs} epochs: one training {one:.3f} s; default "
                  f"{statistics.median(times['default']) / one:.2f}× (fastest runs "
                  f"{min(times['default']) / min(times['none']):.2f}×); calibrations of {info['merge_epoch']} epochs, "
                  f"updates {[f['n_updates'] for f in info['folds']]} every {info['update_every']}, "
                  f"counted {info.get('budget_fits', float('nan')):.2f} fits", flush=True)   # (nan: before it was)


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    main(sys.argv[1:])
