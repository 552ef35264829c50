"""Cross-validation folds for :func:`lamina.inverse.reconstruct` that look like the mask's gaps.

K-fold CV over the observed samples holds out a fold F and predicts it from the rest. When the
mask loses isolated samples (random pixel or sample loss), holding out random observed samples
imitates it. When the mask loses *whole lines* — the missing traces of a seismic gather, the
dropped rows of an image — it does not: a random held-out pixel keeps its neighbours along the
line, so a model that only interpolates along the line (across time, in a gather) predicts it
well and still fails on a missing line, where no neighbour along the line exists. The folds then
have to hold out whole lines (grouped K-fold, groups = line index; ``sklearn.model_selection.GroupKFold``).

Detection (:func:`line_axis`): a 2-D mask M has *lines along axis a* when it is constant along
axis a — M[i, j] = M[i, j'] for every j, j' (a = 1: whole rows observed or missing) — with at
least one missing line. This is checked on the mask the caller gave (before padding: padded
samples are unobserved in every line).
"""
from __future__ import annotations

import numpy as np

from lamina._validation import check_positive_int


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
    lines along ``axis`` per fold (``GroupKFold(shuffle=True)``, groups = line index), K at most
    the number of observed lines."""
    mask = np.asarray(mask, bool)
    n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
    observed = np.flatnonzero(mask.ravel())
    if axis is None:
        return np.array_split(np.random.default_rng(seed).permutation(observed), n_folds)
    from sklearn.model_selection import GroupKFold

    line = np.unravel_index(observed, mask.shape)[1 - axis]
    n_splits = min(n_folds, np.unique(line).size)
    if n_splits < 2:
        raise ValueError(f"mask has {np.unique(line).size} observed line(s) along axis {axis}: "
                         f"whole-line folds need at least 2")
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return [observed[test] for _, test in splitter.split(observed, groups=line)]
