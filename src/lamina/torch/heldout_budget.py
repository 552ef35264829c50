"""The held-out tuner's cost budget (:mod:`lamina.torch.heldout`, "Budget"): how much of the
recipe's epochs its calibrations may take, and how often they may search, so that the whole tuner
costs at most ``COST_BUDGET`` fits of one unregularized training, ``OVERHEAD`` of them kept for the
work neither the epochs nor the searches count (the identifiability probe, copies, restarts).

Costs are counted in optimizer steps. A search's forward pass without gradients over R rows costs
about R / (6B) of a training step on B rows (``PASS_COST``; the backward pass, the optimizer and
autograd's bookkeeping make up the rest): measured 0.24–0.29 of a step on the 50- and 60-sample
tasks (R ≈ 1.4 B, where per-operation overhead dominates) and ≈ 0.55 on the 500-image digits MLP
(R = 406, B = 128). Counted this way, one update of the relative criterion (eleven passes) cost
2.6 steps on those small tasks and 5.8 on the digits MLP — more than the 1–3 steps of the epoch it
followed where every epoch was one step or the run was short: a 30-epoch run of the default cost
3.8 trainings on 60 samples and 1.8 on 500 images before the searches were counted here
(benchmarks/RESULTS.md, Issue 14, "The searches in the budget")."""
from __future__ import annotations

import math

from lamina.torch.data import steps_per_epoch

COST_BUDGET = 1.5    # fits: the whole tuner, calibrations and retraining or continued run (merge_at="auto")
OVERHEAD = 0.1       # of those: the probes, copies and restarts neither the epochs nor the searches count
MERGE_AT = 0.5       # the calibration's share of the epochs where the budget allows it (continued run)
REFIT_MERGE_AT = 0.3  # the same before a retraining from the initial weights (refit)
PASS_COST = 1 / 6    # a forward pass over R rows without gradients, in training steps on as many rows
SEARCH_SHARE = 0.5   # the searches' most, as a share of the calibration steps between two updates (a
                     # quarter cut the updates of 30-epoch runs on 500 images from 4 to 2 and cost 0.016
                     # NLL on a tanh MLP: benchmarks/RESULTS.md)


def search_steps(passes: int, rows: int, batch_rows: int) -> float:
    """One update's searches in training steps: ``passes`` forward passes over ``rows`` rows, a
    training step holding ``batch_rows`` (``PASS_COST``)."""
    return passes * PASS_COST * rows / batch_rows


def update_interval(epochs: int, fit_steps: int, search: float) -> int:
    """Epochs between two updates: ``epochs``/60 (5 of 300), or more where one update's
    ``search`` (in steps, :func:`search_steps`) would cost more than ``SEARCH_SHARE`` = ½ of the
    ``fit_steps``-per-epoch calibration steps between them: an update after every epoch of a
    30-epoch run on 500 images, or every 5 of a full-batch one on 60, searched for longer than it
    trained. (Between two updates the weights also need steps to answer the last change of δ.)"""
    return max(1, int(round(epochs / 60)), math.ceil(search / (SEARCH_SHARE * fit_steps) - 1e-9))


def epoch_cost_share(n_fit: int, n_all: int, batch_size: int) -> float:
    """Cost of an epoch on ``n_fit`` of the ``n_all`` samples, in full-data epochs: the larger of
    the share of samples and the share of optimizer steps. A step's time grows with its rows on
    large batches but hardly at all on a few dozen: on 35 of 50 samples in one batch an epoch
    takes as long as one on all 50 (0.75–0.9 of it measured, where the samples said 0.7)."""
    return max(n_fit / n_all, steps_per_epoch(n_fit, batch_size) / steps_per_epoch(n_all, batch_size))


def resolve_refit(refit, continues: bool) -> bool:
    """``refit`` checked, or "auto" resolved: retrain from the initial weights after the calibration,
    unless the calibrated weights should continue (``continues``: fine-tuning toward a prior mean,
    several calibrations competing, or a re-warmed continued run asked for; the module doc of
    :mod:`lamina.torch.heldout`, "Retrain or continue")."""
    if isinstance(refit, str) and refit == "auto":
        return not continues
    if not isinstance(refit, bool):
        raise ValueError(f"refit must be \"auto\", True or False, got {refit!r}")
    return refit


def merge_share(merge_at, refit: bool) -> float:
    """``merge_at`` checked, or "auto" resolved: ``REFIT_MERGE_AT`` = 0.3 with ``refit`` (calibrate,
    then retrain), else ``MERGE_AT`` = 0.5 — which :func:`calibration_epochs` may shorten."""
    if isinstance(merge_at, str) and merge_at == "auto":
        return REFIT_MERGE_AT if refit else MERGE_AT
    if isinstance(merge_at, bool) or not isinstance(merge_at, (int, float)) or not 0 < merge_at <= 1:
        raise ValueError(f"merge_at must be \"auto\" or a fraction in (0, 1] of the epochs, got {merge_at!r}")
    return float(merge_at)


def first_update(first: int, burn_in: int, every: int) -> int:
    """The epoch of a calibration's first update: after ``burn_in`` epochs (or the calibration's
    ``first``, where it is shorter), moved later by up to ``every`` − 1 so that the last update falls
    on the calibration's last epoch — as many updates as :func:`n_updates` counts, the latest of them
    read on the weights δ is frozen with instead of up to ``every`` − 1 epochs before.

    Why: the relative criterion's reading drifts while the network trains — on overfitting networks
    it asks for a larger δ at every update — and a short run has few updates. At 30 epochs (updates
    after epochs 2 and 6 of a 9-epoch calibration before, 5 and 9 now) the default's test NLL fell
    by 0.014 ± 0.005 pooled over 19 invented settings (0.07–0.12 on three overfitting
    make_classification networks; at 50 epochs up to +0.04 on nets still learning slowly, whose
    earlier first reading, at chance, had halved δ), level at their own 60–1,000 epochs, on the
    architectures of bench_nn_architectures.py and on the benchmark's settings (benchmarks/RESULTS.md,
    Issue 14, "The last update on the calibration's last epoch")."""
    start = min(burn_in, first)
    return start + (first - start) % every


def n_updates(first: int, burn_in: int, every: int) -> int:
    """Updates in a calibration of ``first`` epochs: after epoch :func:`first_update`, then every
    ``every`` epochs up to the last (:meth:`lamina.torch.scale_search.HeldoutScale.due`)."""
    return (first - first_update(first, burn_in, every)) // every + 1


def steps_stretch(n_fit: int, n_all: int, batch_size: int) -> float:
    """Optimizer steps of an epoch on all ``n_all`` samples per step of one on ``n_fit`` of them
    (``batch_size`` rows a step): 1 where both fit one batch, 4/3 for 350 of 500 images in batches
    of 128, ≈ 1/0.7 on large data."""
    return steps_per_epoch(n_all, batch_size) / steps_per_epoch(n_fit, batch_size)


def continued_epochs(epochs: int, first: int, stretch: float = 1.0) -> int:
    """Epochs of the continued run on all the data after calibrations of ``first`` epochs on the split
    (none where they took every epoch): the rest of the run's optimizer steps, so that the whole
    makes as many as one training — ``epochs`` − ``first``/``stretch`` (:func:`steps_stretch`), at
    least one.

    Why steps: a network still learning at every step (a short run) lost what the split's fewer
    steps did not do. At 10 epochs on 500 images (4 steps an epoch on all of them, 3 on the 70 %
    split) the default ended 0.02–0.19 nats behind the same runs with the steps made up (digits
    MLPs and CNN, 5 seeds; pooled −18 % NLL), at 30 epochs 2 % behind, level at 100 and 300
    (benchmarks/RESULTS.md, Issue 14, "Short runs: the steps the split did not make")."""
    if first >= epochs:
        return 0
    return max(1, epochs - int(round(first / stretch)))


def epochs_on_all_data(epochs: int, first: int, stretch: float = 1.0, refit: bool = False) -> int:
    """Epochs on all the data after calibrations of ``first`` epochs: every epoch of the retraining
    (``refit``), else the continued run's (:func:`continued_epochs`)."""
    return epochs if refit else continued_epochs(epochs, first, stretch)


def budget_fits(epochs: int, first: int, n_calibrations: int, fit_share: float, update_cost: float,
                burn_in: int, every: int, stretch: float = 1.0, refit: bool = False) -> float:
    """The tuner's cost in fits as the budget counts it: ``n_calibrations`` of ``first`` epochs, each
    epoch ``fit_share`` of a full-data one (:func:`epoch_cost_share`) and each update's searches
    ``update_cost`` of one (:func:`search_steps` / steps per full-data epoch), then the retraining on
    all the data (``refit``: every epoch) or the continued run (:func:`continued_epochs`)."""
    calibration = fit_share * first + n_updates(first, burn_in, every) * update_cost
    return (n_calibrations * calibration + epochs_on_all_data(epochs, first, stretch, refit)) / epochs


def calibration_epochs(epochs: int, most: int, n_calibrations: int, fit_share: float, update_cost: float,
                       burn_in: int, every: int, stretch: float = 1.0, refit: bool = False) -> tuple[int, bool]:
    """(epochs of each calibration, whether the budget shortened them): the most, up to ``most``,
    whose :func:`budget_fits` stays within ``COST_BUDGET`` − ``OVERHEAD`` = 1.4, counting the updates
    exactly (a short calibration still makes one); one epoch where none does.

    Only small data or short runs are shortened: before a retraining, two folds (0.28 of the epochs
    without the searches where a batch holds a fraction of the samples, 0.2 on full-batch data);
    before a continued run, fine-tuning with a rival ratio rule (two kinds × two folds: 0.22) or two
    folds on full-batch data (0.4); or searches that cost more than the epochs."""
    room = COST_BUDGET - OVERHEAD + 1e-9   # (0.4 is 0.39… in floating point)
    for first in range(most, 0, -1):
        if budget_fits(epochs, first, n_calibrations, fit_share, update_cost, burn_in, every, stretch, refit) <= room:
            return first, first < most
    return 1, most > 1
