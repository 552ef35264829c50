"""The observed samples of :func:`~lamina.inverse.reconstruct`: checked, and placed in the padded
shape every candidate model is built on (frames need sides divisible by powers of two)."""
from __future__ import annotations

import numpy as np

from lamina._validation import check_bool, check_lam_values, check_positive_int
from lamina._warnings import warn


def as_boolean_mask(mask) -> np.ndarray:
    """``mask`` as an array, a 0/1 integer one read as boolean (any other dtype is left for the caller to refuse)."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ and np.issubdtype(mask.dtype, np.integer) and np.isin(mask, (0, 1)).all():
        mask = mask.astype(bool)
    return mask


def check_samples(values, mask):
    """(observed values in mask order, boolean mask), or a clear error naming the argument."""
    mask = as_boolean_mask(mask)
    if mask.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array (True = observed; 0/1 integers accepted), got dtype {mask.dtype}")
    if mask.ndim not in (1, 2) or mask.size == 0:
        raise ValueError(f"mask must be a non-empty 1-D trace or 2-D image, got shape {mask.shape}")
    n_observed = int(mask.sum())
    if n_observed == 0:
        raise ValueError("mask has no observed sample (no True entry): nothing to reconstruct from")
    values = np.asarray(values)
    if not (np.issubdtype(values.dtype, np.floating) or np.issubdtype(values.dtype, np.integer)):
        raise TypeError(f"values must be real numbers, got dtype {values.dtype}")
    values = values.astype(np.float64)
    if values.shape == mask.shape:
        observed = values[mask]
    elif values.ndim == 1 and values.size == n_observed:
        observed = values
    else:
        raise ValueError(f"values must have the mask's shape {mask.shape} or hold its {n_observed} observed "
                         f"samples (in mask order), got shape {values.shape}")
    if not np.all(np.isfinite(observed)):
        raise ValueError("values holds NaN or infinite entries at observed samples (True in mask)")
    return observed, mask


def check_options(seed, lam, **flags) -> None:
    """``seed`` a whole number >= 0, ``lam`` None or real numbers, each flag True or False; else a
    clear error naming the argument (numpy's seeding, or ``float()`` deep in a model, named none,
    and a flag such as ``combine="no"`` read as True)."""
    check_positive_int(seed, "seed", minimum=0)
    if lam is not None:
        check_lam_values(lam, "lam")
    for name, value in flags.items():
        check_bool(value, name)


def padded_shape(shape):
    """The shape the candidates are built on: each side rounded up to a multiple of 8–32, or of 4
    below 16 samples (the block of the local DCT, and two wavelet levels: a frame named by the
    user had failed on 13 or 15 samples)."""
    multiple = [32 if s >= 128 else 8 if s >= 16 else 4 for s in shape]
    if len(shape) == 2:
        multiple = [16 if s >= 64 else 8 if s >= 16 else 4 for s in shape]
    return tuple(int(-(-s // m) * m) for s, m in zip(shape, multiple))


def pad_samples(mask, observed, padded) -> tuple[np.ndarray, np.ndarray]:
    """The mask and the observed values (in mask order) in the ``padded`` shape, the extra
    samples unobserved: what every candidate model is built on."""
    full_mask = np.zeros(padded, bool)
    full_mask[tuple(slice(0, s) for s in np.shape(mask))] = mask
    full_values = np.zeros(padded)
    full_values[full_mask] = observed
    return full_mask, full_values


MIN_OBSERVED = 4   # below, no held-out partition can choose a model: the samples are interpolated
#: below, a trace left to the default candidates is interpolated too: on 4–7 observed samples the
#: held-out choice lost 0.43 dB to linear interpolation on average (643 masks) and fell > 0.5 dB
#: behind the better of linear and cubic on 38 % of them (linear: 6 %); benchmarks/RESULTS.md, issue 18
MIN_CHOICE = 8


def offset_and_scale(observed: np.ndarray) -> tuple[float, float]:
    """Mean and RMS deviation of the observed samples, computed on the samples divided by their
    largest magnitude so that neither overflows (values near 1e300) nor underflows (1e-300)."""
    observed = np.asarray(observed, dtype=np.float64)
    peak = float(np.max(np.abs(observed)))
    if peak == 0.0 or not np.isfinite(peak):
        return float(np.mean(observed)), 0.0
    unit = observed / peak
    mean = float(np.mean(unit))
    return peak * mean, peak * float(np.sqrt(np.mean((unit - mean) ** 2)))


def too_few_to_choose(mask: np.ndarray, left_to_default: bool) -> bool:
    """Fewer than ``MIN_OBSERVED`` observed samples, or a trace of fewer than ``MIN_CHOICE`` whose
    models are ``left_to_default`` (no dictionary, no λ named)."""
    n_observed = int(mask.sum())
    return n_observed < MIN_OBSERVED or (n_observed < MIN_CHOICE and mask.ndim == 1 and left_to_default)


def interpolate_few(observed: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, str]:
    """(estimate, name) where too few samples were observed for a held-out choice
    (:func:`too_few_to_choose`; a UserWarning says why): a trace interpolated linearly through its
    samples and held constant beyond them (the first-order spline's limit as λ → 0, ``"linear"``);
    an image by its nearest observed pixel (``"nearest"``)."""
    n_observed = int(np.asarray(mask).sum())
    why = (f"fewer than {MIN_OBSERVED}: no held-out choice is possible" if n_observed < MIN_OBSERVED else
           f"fewer than {MIN_CHOICE}: a held-out choice among the default candidates lost to linear "
           "interpolation there (name a dictionary or lam to fit one anyway)")
    name = "linear" if mask.ndim == 1 else "nearest"
    warn(f"reconstruct: only {n_observed} observed sample(s), {why}; the samples are interpolated ({name})",
         UserWarning)
    observed = np.asarray(observed, dtype=np.float64)
    where = np.flatnonzero(np.asarray(mask).ravel())
    if mask.ndim == 1:
        return np.interp(np.arange(mask.size), where, observed), "linear"
    from scipy.interpolate import NearestNDInterpolator
    points = np.column_stack(np.unravel_index(where, mask.shape))
    grid = np.indices(mask.shape).reshape(2, -1).T
    return NearestNDInterpolator(points, observed)(grid).reshape(mask.shape), "nearest"
