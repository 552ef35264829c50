"""Wall time of the default network tuner against one unregularized training on the two tiny
fine-tuning tasks (50 target images, every epoch one step), where the held-out searches are a
large share of the tuner's time (issue 14's cost goal: ≤ 1.5× one training).

``lt.tune`` with the prior mean (→ μ) and without (toward 0) against ``tuner="none"``: seed 0,
300 epochs, median of ``REPEATS`` runs each, one thread. Run it alone: another busy process moves
these sub-second timings by more than the differences measured.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_nn_walltime.py``
"""
from __future__ import annotations

import statistics
import time

REPEATS = 9


def median_seconds(task: str, **options) -> float:
    import torch

    import lamina.torch as lt
    from lamina.studies.transfer import transfer_data, transfer_model
    Xtr, ytr, _, _ = transfer_data(0, task)
    times = []
    for _ in range(REPEATS):
        torch.manual_seed(0)
        net = transfer_model(task)
        started = time.perf_counter()
        lt.tune(net, (Xtr, ytr), likelihood="classification", epochs=300, lr=3e-3, batch_size=128, seed=0, **options)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    import torch

    from lamina.studies.transfer import pretrained_backbone
    torch.set_num_threads(1)
    for task in ("digits-transfer", "digits-finetune"):
        one_fit = median_seconds(task, tuner="none")
        to_mu = median_seconds(task, prior_mean=pretrained_backbone(task))
        to_zero = median_seconds(task)
        print(f"{task}: one fit {one_fit:.3f} s; default → μ {to_mu / one_fit:.2f}×; toward 0 {to_zero / one_fit:.2f}×",
              flush=True)


if __name__ == "__main__":
    main()
