"""Held-out samples weighted like the real gaps: importance-weighted CV for :func:`reconstruct`.

Cross-validation over the observed samples of a mask M holds out a fold F and predicts it from
M \\ F. The held-out samples then sit in gaps of the training mask that are wider than the gaps
of M (a held-out sample merges the two gaps beside it), so the CV error is an average over a
different distribution of "distance to the data" than the error that matters, the one on the
unobserved samples. Interpolators differ mostly in how their error grows with that distance
(a linear interpolant's error grows like h², a cubic spline's like h⁴ on smooth data but with
larger overshoot on rough data), so the plain CV average can rank the models, and mix them,
for the wrong gap distribution.

This is covariate shift (Shimodaira 2000), and importance-weighted CV (Sugiyama, Krauledat &
Müller 2007) corrects it: with z the covariate of a sample — where it sits with respect to the
samples the estimate was fitted on — weight each held-out error by

    w(z) = p_target(z) / p_cv(z),

p_target the histogram of z over the unobserved samples (with respect to the observed ones) and
p_cv the histogram of z over the held-out samples (with respect to the training samples of their
fold). The weighted CV error Σ_i w(z_i) e_i / Σ_i w(z_i) v_i² then estimates the error on the
unobserved samples' distribution of z. The covariate (:func:`gap_features`) is the distance to
the nearest fitted sample (Euclidean, in samples; ``scipy.ndimage.distance_transform_edt``) and,
on a 1-D trace, also the length of the gap (run of unfitted samples) the sample lies in: the two
fix its position in the gap, which is what an interpolant's error depends on. Each is binned by
round(2 log₂ z) (each bin √2 wider than the last); unobserved samples beyond the largest
held-out bin of a coordinate count in that bin.
"""
from __future__ import annotations

import numpy as np

from lamina._warnings import warn


def distance_to_data(mask) -> np.ndarray:
    """Euclidean distance (in samples) from every sample to the nearest True sample of ``mask``
    (0 on the mask itself)."""
    from scipy.ndimage import distance_transform_edt

    mask = np.asarray(mask, bool)
    if not mask.any():
        raise ValueError("mask has no True sample: no distance to the data")
    return distance_transform_edt(~mask)


def gap_length(mask) -> np.ndarray:
    """1-D: the length of the run of False samples each sample lies in (0 on True samples)."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 1:
        raise ValueError(f"gap_length needs a 1-D mask, got shape {mask.shape}")
    run_id = np.cumsum(mask)            # constant along a run of False samples
    lengths = np.bincount(run_id, weights=~mask)
    return np.where(mask, 0.0, lengths[run_id])


def gap_features(mask) -> np.ndarray:
    """The covariate z of every sample with respect to the True samples of ``mask``, shape
    (mask.size, n_features): distance to the nearest True sample, and on a 1-D mask the length
    of the gap it lies in."""
    columns = [distance_to_data(mask).ravel()]
    if np.ndim(mask) == 1:
        columns.append(gap_length(mask))
    return np.stack(columns, axis=1)


def _bins(z) -> np.ndarray:
    return np.rint(2.0 * np.log2(np.maximum(np.asarray(z, float), 1.0))).astype(int)


def importance_weights(cv_features, target_features) -> np.ndarray:
    """w_i = p_target(bin of z_i) / p_cv(bin of z_i) for the held-out covariates ``cv_features``
    (rows: samples; a 1-D array is one covariate) against the unobserved samples'
    ``target_features`` (module docstring), normalized to mean 1; all ones when there is no
    target sample or no overlap."""
    cv_features, target_features = np.asarray(cv_features, float), np.asarray(target_features, float)
    if cv_features.shape[0] == 0:
        return np.ones(0)
    if target_features.shape[0] == 0:
        return np.ones(cv_features.shape[0])
    cv_bins = _bins(cv_features.reshape(cv_features.shape[0], -1))
    target_bins = _bins(target_features.reshape(target_features.shape[0], -1))
    if target_bins.shape[1] != cv_bins.shape[1]:
        raise ValueError(f"target_features has {target_bins.shape[1]} covariates, cv_features {cv_bins.shape[1]}")
    target_bins = np.minimum(target_bins, cv_bins.max(axis=0))
    keys, codes = np.unique(np.vstack([cv_bins, target_bins]), axis=0, return_inverse=True)
    codes = codes.ravel()
    cv_codes, target_codes = codes[:cv_bins.shape[0]], codes[cv_bins.shape[0]:]
    p_cv = np.bincount(cv_codes, minlength=len(keys)) / cv_codes.size
    p_target = np.bincount(target_codes, minlength=len(keys)) / target_codes.size
    ratio = np.divide(p_target, p_cv, out=np.zeros(len(keys)), where=p_cv > 0)
    weights = ratio[cv_codes]
    if not np.any(weights > 0):  # no overlap at all: fall back to the plain average
        return np.ones(cv_codes.size)
    return weights / weights.mean()


def nearer_than_held_out(cv_distance, target_distance) -> bool:
    """True when every unobserved sample lies nearer to the data (``target_distance``) than every
    held-out sample lies to its fold's training samples (``cv_distance``): a regular mask (every
    other sample, every third) or one close to it. A held-out sample then always sits in a gap
    wider than every real one, the covariates of :func:`importance_weights` do not overlap and
    the held-out errors score a coarser problem than the real one — on clean seismograms sampled
    every 2nd–4th sample, the default's choice ended up to 7 dB below cubic interpolation
    (benchmarks/RESULTS.md, issue 18, "Regular masks")."""
    cv_distance, target_distance = np.asarray(cv_distance, float), np.asarray(target_distance, float)
    return bool(cv_distance.size and target_distance.size and target_distance.max() < cv_distance.min())


FAR_GAP_FACTOR = 4.0   # a grid point may err in the widest gaps at most this × the least error there


def far_gap_allowed(predictions, rows, target, within: float = FAR_GAP_FACTOR) -> list:
    """Per model, the grid points (a boolean array along its grid) whose squared error on the
    held-out ``rows`` (a boolean mask over the prediction rows; ``target`` their values) is at
    most ``within`` times the least error there of any model and grid point.

    :func:`lamina.inverse.reconstruct` applies it to the held-out samples of its block partition
    (:func:`lamina.inverse.folds.block_folds`) that lie farther from their fold's data than any
    sample of the random partitions does: the only evidence on how a model fills the mask's
    widest gaps. Those samples are few (a few blocks) and their errors noisy, so they rule out
    what fails there by a wide margin — a spectral prior at a small λ oscillating at 7× the
    signal's amplitude across a gap of 100 samples — rather than rank the rest: weighting them
    into the CV error instead made the choice a draw among the blocks (steps signal, 30 %
    kept and a gap of 100 samples: a wavelet frame chosen, 14.9 → 8.6 dB).
    """
    errors = _far_errors(predictions, rows, target)
    least = min(float(e.min()) for e in errors)
    return [e <= within * least for e in errors]


def far_best(predictions, rows, target, prefer: int | None = None, within: float = 2.0) -> tuple[int, int]:
    """The (model, grid index) of least squared error on the held-out ``rows`` (those of
    :func:`far_gap_allowed`) — model ``prefer`` at its best grid point instead wherever its error
    there is at most ``within`` times the least: what :func:`lamina.inverse.reconstruct`
    extrapolates a trace's unobserved ends with, beyond the random folds' reach
    (:func:`end_weights`), ``prefer`` being the first-order spline, which holds the end value."""
    errors = _far_errors(predictions, rows, target)
    least = [float(e.min()) for e in errors]
    model = int(np.argmin(least))
    if prefer is not None and least[prefer] <= within * least[model]:
        model = prefer
    return model, int(np.argmin(errors[model]))


def end_weights(mask, reach: float, length: int | None = None) -> np.ndarray:
    """1-D: the weight w of the far samples' model at each sample of ``mask`` — 0 from the first
    to the last observed sample and within ``reach`` of them, rising linearly to 1 at 2·reach
    beyond (a handover from the random folds' mixture, whose held-out samples reach that far, to
    the model the block partition's far samples rank first), 0 past ``length`` (padding).

    Only the ends: inside an interior gap every model is pinned at both edges, and the far
    samples' model did no better than the random folds' mixture there (bench_gaps, 60 gap masks:
    seismograms −0.78 → −0.69 dB against the best interpolation, synthetic traces −1.40 → −1.71,
    and up to −9 dB on single masks), while at an unobserved end the models extrapolate from one
    side and part ways (a spline of order 2 grows linearly: −18 dB on 10 % of an ObsPy trace at
    each end), and there it gained (ends masks: seismograms +0.84 → +2.26 dB, synthetic −0.18 →
    +0.41; benchmarks/RESULTS.md, issue 18, "Unobserved ends")."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 1 or not mask.any():
        raise ValueError(f"mask must be a 1-D boolean array with an observed sample, got shape {mask.shape} "
                         f"with {int(mask.sum())} observed")
    if not reach >= 0:
        raise ValueError(f"reach must be a distance >= 0 (samples), got {reach!r}")
    observed = np.flatnonzero(mask)
    index = np.arange(mask.size)
    beyond = np.maximum(observed[0] - index, index - observed[-1])   # > 0 only outside the data
    weights = np.clip((beyond - reach) / max(float(reach), 1.0), 0.0, 1.0)
    weights[(length if length is not None else mask.size):] = 0.0
    return weights


def end_line_weights(lines, n_lines: int) -> np.ndarray:
    """Lines of a mask of whole lines (``lines``: observed or not, ``n_lines`` of the signal, then
    padding): the weight of the end model at each — 0 up to the first / last observed line and
    within ``reach`` of it, rising linearly to 1 at 2·reach beyond, ``reach`` being that side's
    distance from the outermost observed line to the next one: the farthest the line folds
    extrapolate, when they hold out the outermost line (the handover of :func:`end_weights`)."""
    lines = np.asarray(lines, bool)
    observed = np.flatnonzero(lines[:n_lines])
    weights = np.zeros(lines.size)
    if observed.size < 2:
        return weights
    index = np.arange(n_lines)
    for beyond, reach in ((observed[0] - index, observed[1] - observed[0]),
                          (index - observed[-1], observed[-1] - observed[-2])):
        weights[:n_lines] = np.maximum(weights[:n_lines], np.clip((beyond - reach) / max(reach, 1), 0.0, 1.0))
    return weights


def _far_errors(predictions, rows, target) -> list:
    return [np.sum((np.asarray(p)[:, rows] - target) ** 2, axis=1) for p in predictions]


#: How far :func:`reconstruct`'s fill of the unobserved samples may deviate from the observed samples' mean, in
#: units of their own largest deviation from it, before :func:`warn_unsupported_fill` warns.
FILL_FACTOR = 4.0


class UnsupportedFillWarning(UserWarning):
    """:func:`lamina.inverse.reconstruct` filled unobserved samples with an amplitude the observed ones do not show."""


def warn_unsupported_fill(fill, observed) -> None:
    """Warn where the ``fill`` (the estimate on the unobserved samples) deviates from the ``observed`` samples'
    mean by more than ``FILL_FACTOR`` times their largest deviation from it.

    No held-out sample tests the middle of a gap far wider than every held-out sample's: a trace observed
    only at its two ends (20 samples each of 400, a chirp) was bridged by a smoothness prior at a small λ
    with 40× the observed amplitude, its held-out error on the observed samples near zero. The fill is
    kept (the data cannot say what lies there); the warning names the factor."""
    fill, observed = np.asarray(fill, float).ravel(), np.asarray(observed, float).ravel()
    centre = float(np.mean(observed))
    reach = float(np.max(np.abs(observed - centre)))
    factor = float(np.max(np.abs(fill - centre))) / reach if fill.size and reach > 0 else 0.0
    if factor > FILL_FACTOR:
        warn(f"reconstruct: the estimate of the unobserved samples deviates from the observed samples' mean by "
             f"{factor:.3g}× their largest deviation: a gap wider than the held-out samples could test was "
             "filled by extrapolating a model; linear interpolation (lamina.inverse.baselines) stays within "
             "the data's range", UnsupportedFillWarning)
