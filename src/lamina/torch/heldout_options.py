"""The held-out tuner's options (:func:`lamina.torch.heldout.tune_heldout`) checked before any work,
and the two it resolves from the data: how many calibrations (``folds``) and whether the criterion
is read relative to where training is heading (``relative``)."""
from __future__ import annotations

from lamina.torch.heldout_budget import merge_share, resolve_refit
from lamina.torch.likelihoods import Classification

SMALL_HELDOUT = 50   # held-out samples below which one calibration's δ is too noisy (folds="auto")


def check_options(merge_at, refit, burn_in, update_every, split_gate, rewarm) -> None:
    """Refuse a bad ``merge_at``, ``refit``, ``burn_in``, ``update_every``, ``split_gate`` or
    ``rewarm`` with an error naming it (before any training)."""
    merge_share(merge_at, resolve_refit(refit, continues=False))
    if any(value is not None and int(value) < 1 for value in (burn_in, update_every)):
        raise ValueError("burn_in and update_every must be positive integers")
    if not split_gate >= 0:
        raise ValueError(f"split_gate must be a number ≥ 0 (standard errors), got {split_gate!r}")
    if isinstance(rewarm, bool) or not isinstance(rewarm, (int, float)) or not 0 <= rewarm <= 1:
        raise ValueError(f"rewarm must be a fraction in [0, 1] of the continued run's steps, got {rewarm!r}")
    if refit is True and rewarm > 0:
        raise ValueError(f"rewarm={rewarm!r} re-warms the continued run's optimizer: it needs refit=False or \"auto\"")


def n_folds(folds, val_fraction: float, n: int, *, given_val: bool) -> int:
    """The number of calibrations: ``folds`` checked, or "auto" resolved — 2 where a held-out part of
    ``val_fraction`` of the ``n`` samples has fewer than ``SMALL_HELDOUT`` samples and two disjoint
    parts fit, else 1; always 1 where the user gives ``val``.

    >>> n_folds("auto", 0.3, 100, given_val=False), n_folds("auto", 0.3, 500, given_val=False)
    (2, 1)
    """
    if isinstance(folds, str) and folds == "auto":
        small = max(1, int(round(val_fraction * n))) < SMALL_HELDOUT
        return 2 if small and 2 * val_fraction <= 1 and not given_val else 1
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise ValueError(f"folds must be \"auto\" or a whole number ≥ 1 of calibrations, got {folds!r}")
    if not given_val and folds * val_fraction > 1:
        raise ValueError(f"folds × val_fraction must be ≤ 1 (disjoint held-out parts), "
                         f"got {folds} × {val_fraction}")
    return 1 if given_val else folds


def relative_criterion(relative, likelihood, found) -> bool:
    """``relative`` checked, or "auto" resolved: a classifier without scale-invariant weights
    (``found``: the :func:`lamina.torch.identifiability` finding)."""
    if isinstance(relative, str) and relative == "auto":
        return isinstance(likelihood, Classification) and not found.scale_invariant
    if not isinstance(relative, bool):
        raise ValueError(f"relative must be \"auto\", True or False, got {relative!r}")
    if relative and not isinstance(likelihood, Classification):
        raise ValueError("relative=True needs a classification likelihood (c_eq compares negative log-likelihoods "
                         "with the L2 term; a regression's held-out criterion is its mean squared error)")
    return relative
