"""Choosing on a window, applying to the whole image: :func:`~lamina.inverse.reconstruct` on large images.

Cross-validation solves every candidate model along its λ grid on K + 1 sets of samples; on an
image the smoothness priors need a sparse factorization per grid point and set, whose cost grows
faster than the number of pixels (a 2-D grid's LU factor fills in as n^1.5). Measured on this
project's machine (2 cores): 128² pixels 8–11 s per call, 256² 48–71 s, the camera image of
scikit-image (512²) 345 s.

What the rule chooses — which models, their mixture weights, and each model's λ — are properties
of the image's local statistics (its smoothness, its spectrum, how sparse its wavelet
coefficients are, and how far the unobserved pixels lie from the observed ones), not of its size.
So on a large image with scattered samples they are chosen on a central window of at most
``size`` × ``size`` pixels (or, where the central window's share of observed samples is off the
image's by more than a factor 2, on the window whose share is nearest: :func:`selection_window`),
by the same rule, and the chosen mixture is then fitted once on the
whole image at the chosen λ (one solve per model instead of K + 1 per grid point):

* a smoothness prior's λ and the spectral prior's noise-to-signal ratio t are dimensionless
  (data term and penalty scale alike with the signal's amplitude): they carry over as they are;
* a frame's λ per group is λ_g = t · d_g with d_g ∝ 1 / mean |coefficients of group g| of the
  pilot estimate, normalized to min d = 1 (:func:`~lamina.inverse.frame_l1.group_direction`):
  d_g is computed again on the whole image, and t, which scales as the amplitude (the data term
  as its square, the ℓ1 penalty as itself), is converted from the window's normalization (its
  observed RMS) to the whole image's.

Masks of whole missing lines (gathers) are never windowed: which lines are missing is global.
"""
from __future__ import annotations

import numpy as np

from lamina._validation import check_positive_int
from lamina.inverse.grid_model import GridModel, PilotCache, weights_by_model

WINDOW = 160   # side of the selection window on large images ("auto")


def window_size(select_window, shape, *, scattered: bool, user_models: bool) -> int | None:
    """The window side to select on, or None (select on the whole signal).

    ``select_window``: "auto" (``WINDOW`` on 2-D masks of scattered samples more than twice the
    window's area, with no model built for the full shape), None, or a side ≥ 32."""
    if select_window is None:
        return None
    if isinstance(select_window, str):
        if select_window != "auto":
            raise ValueError(f'select_window must be "auto", None or a whole number >= 32, got {select_window!r}')
        size = WINDOW
        if len(shape) != 2 or not scattered or user_models or shape[0] * shape[1] <= 2 * size * size:
            return None
        return size
    if isinstance(select_window, bool) or not isinstance(select_window, (int, np.integer)) or select_window < 32:
        raise ValueError(f'select_window must be "auto", None or a whole number >= 32, got {select_window!r}')
    if len(shape) != 2 or not scattered or user_models:
        raise ValueError("select_window: a window is chosen on 2-D masks of scattered samples, with models given "
                         "by name (not on a 1-D trace, a mask of whole missing lines or models built for a shape)")
    return int(select_window) if max(shape) > select_window else None


def central_window(shape, size: int) -> tuple:
    """Slices of the central ``size`` × ``size`` window (whole sides where shorter)."""
    return tuple(slice((s - min(s, size)) // 2, (s - min(s, size)) // 2 + min(s, size)) for s in shape)


def selection_window(mask, size: int) -> tuple:
    """Slices of the window the choice is made on: the central one, unless its share of observed
    samples is off the whole mask's by more than a factor of 2 (a mask observed in one corner, or
    with a hole in the middle) — then, among the windows at strides of a quarter side, the one
    whose share is nearest the whole mask's in ratio (ties: nearest the center). The mixture is
    chosen for the density of samples the image has; a window without samples has nothing to
    choose from."""
    mask = np.asarray(mask, bool)
    check_positive_int(size, "size")
    if mask.ndim != 2 or not mask.any():
        raise ValueError(f"mask must be a 2-D boolean array with an observed sample, got shape {mask.shape} "
                         f"with {int(mask.sum())} observed")
    share = float(mask.mean())
    central = central_window(mask.shape, size)
    if 0.5 <= float(mask[central].mean()) / share <= 2.0:
        return central
    sides = [min(s, size) for s in mask.shape]
    counts = np.pad(mask.cumsum(0).cumsum(1), ((1, 0), (1, 0)))   # summed-area table
    windows = []
    for r in _starts(mask.shape[0], sides[0]):
        for c in _starts(mask.shape[1], sides[1]):
            n = counts[r + sides[0], c + sides[1]] - counts[r, c + sides[1]] - counts[r + sides[0], c] + counts[r, c]
            if n > 0:
                windows.append((abs(np.log(n / (sides[0] * sides[1]) / share)),
                                abs(r - central[0].start) + abs(c - central[1].start), r, c))
    *_, r, c = min(windows)
    return slice(r, r + sides[0]), slice(c, c + sides[1])


def _starts(length: int, side: int) -> list:
    """Window starts along an axis: every quarter side, and the last one flush with the end."""
    return sorted(set(range(0, length - side + 1, max(1, side // 4))) | {length - side})


def fit_chosen(chosen, candidates, full_mask, full_values, amplitude_ratio: float, per_group: bool,
               max_iter: int) -> np.ndarray:
    """Σ_m w_m x_m on the whole (padded, normalized) image: every model of the window's mixture
    at its chosen λ (module doc).

    ``chosen``: {(model name, λ-grid value on the window): weight}; ``candidates``: the models
    built for the whole image, by name; ``amplitude_ratio``: the window's observed RMS over the
    whole image's (a frame's t scales by it)."""
    estimate, pilots = np.zeros(full_mask.shape), PilotCache()
    for name, weights in weights_by_model(chosen).items():
        model = GridModel(candidates[name], full_values, full_mask, 2, per_group, None, max_iter, pilots=pilots)
        scale = 1.0 if model.is_smooth else amplitude_ratio
        model.grid = np.array(list(weights)) * scale      # the window's chosen λ, as the model's grid
        estimate += model.refit_mixture(dict(enumerate(weights.values())), full_mask, full_values)
    return estimate
