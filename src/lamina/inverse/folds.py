"""Cross-validation folds for :func:`lamina.inverse.reconstruct` that look like the mask's gaps.

K-fold CV over the observed samples holds out a fold F and predicts it from the rest. When the
mask loses isolated samples (random pixel or sample loss), holding out random observed samples
imitates it. When the mask loses *whole lines* — the missing traces of a seismic gather, the
dropped rows of an image — it does not: a random held-out pixel keeps its neighbours along the
line, so a model that only interpolates along the line (across time, in a gather) predicts it
well and still fails on a missing line, where no neighbour along the line exists. The folds then
have to hold out whole lines (grouped K-fold, groups = line index).

Which lines go together matters too. Holding out a line merges the two gaps beside it, so a
held-out line lies in a wider gap than a missing line of the mask does; holding out two
neighbouring observed lines in the same fold widens it further. With random groups (``sklearn``'s
``GroupKFold(shuffle=True)``, the previous rule) a fold of 4–5 of 22 observed traces often held
out neighbours, and the CV ranked the models for gaps wider than the mask's (parabolic-event
gather, 70 % of the traces kept: 8.5 dB, against 9.4 for cubic interpolation across the traces).
The folds are therefore *interleaved*: the observed lines, in order along the other axis, go to
folds 0, 1, …, K − 1, 0, 1, … (line of rank r to fold r mod K), so that two lines of the same
fold are K observed lines apart and every held-out line's training gap is its own gap merged
with its two neighbours' (9.0 dB on that gather, the other five gather rows within +0.2/−0.3 dB;
benchmarks/RESULTS.md, issue 18). Such folds are fixed by the mask: ``seed`` does not change them.

Detection (:func:`line_axis`): a 2-D mask M has *lines along axis a* when it is constant along
axis a — M[i, j] = M[i, j'] for every j, j' (a = 1: whole rows observed or missing) — with at
least one missing line. This is checked on the mask the caller gave (before padding: padded
samples are unobserved in every line).

*Wide gaps* (a dead stretch of a trace, unobserved ends) need folds of their own. Random held-out
samples lie at most a few spacings from their fold's training samples, so the CV error says
nothing about a model far from the data, and a model that oscillates there wins the choice: the
spectral prior at a small λ filled a gap of 100 samples of a chirp (30 % kept) with 7× the
signal's amplitude, −10.6 dB where linear interpolation gave +4.0. The importance weights of
:mod:`lamina.inverse.heldout` cannot repair it: no held-out sample has the covariate of the gap's
middle. Blocks as wide as the gap, held out whole (:func:`block_folds`, sized by
:func:`gap_block_size`), have it; :func:`~lamina.inverse.heldout.far_gap_allowed` uses them.
"""
from __future__ import annotations

import numpy as np

from lamina._validation import check_positive_int
from lamina.inverse.heldout import distance_to_data


def line_axis(mask) -> int | None:
    """The axis along which a 2-D boolean ``mask`` is constant (its missing entries are whole
    lines: a = 1 for whole rows, a = 0 for whole columns), or None: for 1-D masks, masks without
    a missing sample, and masks that are not constant along either axis. Two or more observed
    lines are required (with one, no line can be held out)."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array, got dtype {mask.dtype}")
    if mask.ndim != 2 or mask.all() or not mask.any():
        return None
    for axis in (1, 0):
        if np.all(mask == mask.take([0], axis=axis)) and int(mask.any(axis=axis).sum()) >= 2:
            return axis
    return None


def sample_folds(mask, n_folds: int, seed: int, axis: int | None = None) -> list:
    """K folds of the observed samples of ``mask`` (flat indices into ``mask.ravel()``).

    ``axis`` None: a random permutation cut into K nearly equal parts. ``axis`` given: whole
    lines along ``axis`` per fold, interleaved (module docstring: the observed line of rank r
    along the other axis goes to fold r mod K), K at most the number of observed lines."""
    mask = np.asarray(mask, bool)
    n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
    observed = np.flatnonzero(mask.ravel())
    if axis is None:
        return np.array_split(np.random.default_rng(seed).permutation(observed), n_folds)
    lines, rank = np.unique(np.unravel_index(observed, mask.shape)[1 - axis], return_inverse=True)
    n_splits = min(n_folds, lines.size)
    if n_splits < 2:
        raise ValueError(f"mask has {lines.size} observed line(s) along axis {axis}: "
                         f"whole-line folds need at least 2")
    fold_of = rank.ravel() % n_splits
    return [observed[fold_of == k] for k in range(n_splits)]


UNSUPPORTED_SHARE = 0.02   # unobserved samples farther from the data than any random held-out one


def gap_block_size(mask, region, n_folds: int, seed: int) -> int | None:
    """Side (in samples) of the blocks of :func:`block_folds` when random folds cannot imitate the
    mask's widest gaps, else None: when more than ``UNSUPPORTED_SHARE`` of the unobserved samples
    in ``region`` lie farther from the observed ones than every held-out sample of the random
    K-fold partition of ``seed`` from its fold's training samples. The side is the widest gap's
    diameter, 2 max distance + 1, capped at the shortest axis over K so that K blocks fit."""
    return _gap_block(mask, region, n_folds, seed)[0]


def _gap_block(mask, region, n_folds: int, seed: int) -> tuple[int | None, float]:
    """(:func:`gap_block_size`, the random partition's reach: the farthest held-out sample's distance)."""
    mask, region = np.asarray(mask, bool), np.asarray(region, bool)
    target = distance_to_data(mask)[region & ~mask]
    if target.size == 0:
        return None, 0.0
    reach = 0.0
    for fold in sample_folds(mask, n_folds, seed):
        train = mask.copy().ravel()
        train[fold] = False
        if fold.size and train.any():   # fewer observed samples than folds leaves folds empty
            reach = max(reach, float(distance_to_data(train.reshape(mask.shape)).ravel()[fold].max()))
    if np.mean(target > reach) <= UNSUPPORTED_SHARE:
        return None, reach
    extent = min(int(region.any(axis=tuple(a for a in range(mask.ndim) if a != k)).sum()) for k in range(mask.ndim))
    size = min(2 * int(np.ceil(target.max())) + 1, extent // n_folds)
    return (size if size > 2 * reach else None), reach


def gap_block_folds(mask, region, n_folds: int, seed: int, block_seed: int) -> tuple[int | None, list | None]:
    """(side, :func:`block_folds` of ``block_seed``) where :func:`gap_block_size` applies, else (None, None).
    Where the grid's random offset puts every observed sample in one block (a trace observed in one short
    stretch: whether its ends were tested had depended on the seed), the blocks are halved while they stay
    wider than twice the random folds' reach; (None, None) if still fewer than two blocks hold observed
    samples (one fold would hold out everything)."""
    size, reach = _gap_block(mask, region, n_folds, seed)
    if size is None:
        return None, None
    folds = block_folds(mask, n_folds, block_seed, size)
    while len(folds) < 2 and size // 2 > 2 * reach:
        size //= 2
        folds = block_folds(mask, n_folds, block_seed, size)
    return (size, folds) if len(folds) >= 2 else (None, None)


def block_folds(mask, n_folds: int, seed: int, size: int) -> list:
    """K folds of the observed samples of ``mask`` held out in whole blocks: the grid of
    ``size``-sample blocks (squares on an image), shifted by a random offset, with the blocks
    that hold observed samples dealt to the folds in random order (block of rank r to fold r mod
    K). Fewer folds when fewer blocks hold observed samples."""
    mask = np.asarray(mask, bool)
    rng = np.random.default_rng(seed)
    coords = np.indices(mask.shape).reshape(mask.ndim, -1)
    block = np.ravel_multi_index(tuple((c + rng.integers(size)) // size for c in coords),
                                 tuple(s // size + 2 for s in mask.shape))
    observed = np.flatnonzero(mask.ravel())
    blocks, rank = np.unique(block[observed], return_inverse=True)
    order = rng.permutation(blocks.size)
    fold_of = order[rank.ravel()] % min(n_folds, blocks.size)
    return [observed[fold_of == k] for k in range(min(n_folds, blocks.size))]
