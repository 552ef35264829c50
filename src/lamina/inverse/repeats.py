"""Repeated K-fold cross-validation over the observed samples of a mask, for
:func:`lamina.inverse.reconstruct`.

:func:`cross_validate` gives every candidate model's out-of-fold predictions of the observed
samples along its λ grid, for ``n_repeats`` K-fold partitions (:func:`repeats`: how many by
default), with, per held-out row, where it lies in the gaps of its fold's training samples
(:func:`~lamina.inverse.heldout.gap_features`). :func:`resampling_units` names what a fold holds
out together (an observed sample, or a whole line), the unit :mod:`lamina.inverse.bagging`
resamples.
"""
from __future__ import annotations

import numpy as np

from lamina.inverse.folds import sample_folds
from lamina.inverse.heldout import gap_features

REPEAT_BELOW = 1000  # observed samples below which repeats() averages two partitions


def repeats(n_observed: int, axis=None) -> int:
    """K-fold partitions :func:`reconstruct` averages by default: 2 when the folds hold out
    scattered samples (``axis`` None) and fewer than ``REPEAT_BELOW`` are observed, else 1.

    The CV error of a model, CV = (1/n) Σ_i e_i over the n observed samples, varies with the
    random partition as well as with the samples; averaging R independent partitions divides the
    partition part of its variance by R. Every model and grid point is scored on the same
    partitions, but the choice among them is a minimum over noisy estimates, and the most
    flexible candidates (sparse frames with a λ per level) win it by chance: on the ObsPy example
    EHZ trace at 30 % kept (154 held-out samples), fold seeds 0, 1, 2 gave 1.9, 3.8 and 4.3 dB
    with one partition (the local DCT with a λ per band took 0.91 of the mixture on seed 0 and
    reached 1.6 dB alone), 2.9 dB with two (benchmarks/RESULTS.md, issue 18). The cost is R
    times the CV fits, so images (≥ 1229 observed pixels at 30 % of 64 × 64) keep one
    partition. Whole-line folds keep one: they are interleaved and fixed by the mask
    (:func:`~lamina.inverse.folds.sample_folds`), so a second partition would repeat the first
    (and with random groups of lines, the earlier rule, two partitions did not help on the
    parabolic-event gather: 8.5 → 8.4 dB at 70 % of the traces kept, 2.5 → 2.5 at 30 %)."""
    return 2 if axis is None and n_observed < REPEAT_BELOW else 1


def cross_validate(models, full_mask, full_values, n_folds: int, rule, seed: int, axis=None, n_repeats: int = 1,
                   blocks: list | None = None):
    """Out-of-fold predictions of the observed samples: per model, an array (grid points ×
    rows); the mask of the rows held out (all of them for K-fold, one fold for the hold-out
    rule); and, per row, where its sample lies with respect to its fold's training samples
    (:func:`~lamina.inverse.heldout.gap_features`: distance to the nearest training sample, and
    in 1-D the length of the training gap it lies in), shape (rows, n_features). A row is an
    observed sample in one repeat: ``n_repeats`` K-fold partitions (seeds ``seed``, ``seed`` + 1,
    …) give ``n_repeats`` × observed samples rows, repeat r in block r. With ``axis`` (lines
    along it, :mod:`lamina.inverse.folds`) the folds are whole lines. With ``blocks`` (folds of
    whole blocks, :func:`~lamina.inverse.folds.block_folds`, as the caller drew and checked them)
    the last of the ``n_repeats`` partitions holds out those folds instead, so that some held-out
    samples lie as far from the data as the middle of the mask's widest gaps."""
    observed_index = np.flatnonzero(full_mask.ravel())
    n_obs = observed_index.size
    predictions = [np.zeros((m.grid.size, n_repeats * n_obs)) for m in models]
    position = np.full(full_mask.size, -1)
    position[observed_index] = np.arange(n_obs)
    held_out = np.zeros(n_repeats * n_obs, bool)
    features = np.zeros((n_repeats * n_obs, 1 if full_mask.ndim == 2 else 2))
    if n_obs >= 4:
        for repeat in range(n_repeats):
            folds = (blocks if blocks is not None and repeat == n_repeats - 1
                     else sample_folds(full_mask, n_folds, seed + repeat, axis))
            for fold in folds[:1] if rule == "holdout" else folds:
                train = full_mask.copy().ravel()
                train[fold] = False
                train = train.reshape(full_mask.shape)
                rows = repeat * n_obs + position[fold]
                held_out[rows] = True
                features[rows] = gap_features(train)[fold]
                for model, prediction in zip(models, predictions):
                    for k, estimate in enumerate(model.estimates(train, full_values, train.sum() / full_mask.sum())):
                        prediction[k, rows] = estimate.ravel()[fold]
    return predictions, held_out, features


def resampling_units(full_mask, n_repeats: int, axis=None) -> np.ndarray:
    """The resampling unit of every row of :func:`cross_validate` (repeat r, observed sample j):
    the observed sample j, or with whole-line folds (``axis``) the line it lies on — what a fold
    holds out together (:mod:`lamina.inverse.bagging`)."""
    observed_index = np.flatnonzero(full_mask.ravel())
    units = np.arange(observed_index.size) if axis is None else \
        np.unravel_index(observed_index, full_mask.shape)[1 - axis]
    return np.tile(units, n_repeats)
