"""The held-out tuner's cost budget (:mod:`lamina.torch.heldout`, "Budget"): how much of the
recipe's epochs its calibrations may take so that the whole tuner costs at most ``COST_BUDGET``
fits of one unregularized training, ``OVERHEAD`` of them kept for the work the epochs do not count."""
from __future__ import annotations

from lamina.torch.data import steps_per_epoch

COST_BUDGET = 1.5    # fits: the whole tuner, calibrations and continued run (merge_at="auto")
OVERHEAD = 0.1       # of those: the held-out searches, probes and restarts the epochs do not count
MERGE_AT = 0.5       # the calibration's share of the epochs where the budget allows it


def epoch_cost_share(n_fit: int, n_all: int, batch_size: int) -> float:
    """Cost of an epoch on ``n_fit`` of the ``n_all`` samples, in full-data epochs: the larger of
    the share of samples and the share of optimizer steps. A step's time grows with its rows on
    large batches but hardly at all on a few dozen: on 35 of 50 samples in one batch an epoch
    takes as long as one on all 50 (0.75–0.9 of it measured, where the samples said 0.7)."""
    return max(n_fit / n_all, steps_per_epoch(n_fit, batch_size) / steps_per_epoch(n_all, batch_size))


def merge_share(merge_at, n_calibrations: int, fit_share: float, refit: bool) -> tuple[float, bool]:
    """(merge_at checked or "auto" resolved, whether "auto" shortened it).

    "auto": 1 with ``refit`` (calibrate for the whole run, then retrain); else ``MERGE_AT`` = 0.5,
    shortened where k calibrations on the share f of the samples for m of the epochs plus the
    continued run on all of them for 1 − m would cost more than ``COST_BUDGET`` − ``OVERHEAD``
    fits: k·f·m + (1 − m) ≤ B  ⇔  m ≤ (B − 1) / (k·f − 1), f from :func:`epoch_cost_share`.
    Only small data reach it: fine-tuning with a rival ratio rule (two kinds × two folds: m = 0.22
    where a batch holds a fraction of the samples, 0.4/3 on full-batch data), or two folds on
    full-batch data (m = 0.4)."""
    if isinstance(merge_at, str) and merge_at == "auto":
        if refit:
            return 1.0, False
        excess, room = n_calibrations * fit_share - 1, round(COST_BUDGET - OVERHEAD - 1, 9)   # 0.4, not 0.39…
        if excess <= 0 or room / excess >= MERGE_AT:
            return MERGE_AT, False
        return room / excess, True
    if isinstance(merge_at, bool) or not isinstance(merge_at, (int, float)) or not 0 < merge_at <= 1:
        raise ValueError(f"merge_at must be \"auto\" or a fraction in (0, 1] of the epochs, got {merge_at!r}")
    return float(merge_at), False
