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
Müller 2007) corrects it: with z the covariate of a sample — here its distance to the nearest
sample the estimate was fitted on (Euclidean, in samples; ``scipy.ndimage.distance_transform_edt``)
— weight each held-out error by

    w(z) = p_target(z) / p_cv(z),

p_target the histogram of z over the unobserved samples (distance to the nearest observed
sample) and p_cv the histogram of z over the held-out samples (distance to the nearest training
sample of their fold). The weighted CV error Σ_i w(z_i) e_i / Σ_i w(z_i) v_i² then estimates
the error on the unobserved samples' distribution of distances. Histograms use bins
round(2 log₂ z) (each bin √2 wider than the last); unobserved samples farther than every
held-out one count in the last held-out bin.
"""
from __future__ import annotations

import numpy as np


def distance_to_data(mask) -> np.ndarray:
    """Euclidean distance (in samples) from every sample to the nearest True sample of ``mask``
    (0 on the mask itself)."""
    from scipy.ndimage import distance_transform_edt

    mask = np.asarray(mask, bool)
    if not mask.any():
        raise ValueError("mask has no True sample: no distance to the data")
    return distance_transform_edt(~mask)


def _bins(distance) -> np.ndarray:
    return np.rint(2.0 * np.log2(np.maximum(np.asarray(distance, float), 1.0))).astype(int)


def importance_weights(cv_distances, target_distances) -> np.ndarray:
    """w_i = p_target(bin of z_i) / p_cv(bin of z_i) for the held-out distances ``cv_distances``
    (module docstring), normalized to mean 1; all ones when there is no target sample."""
    cv_bins = _bins(cv_distances)
    if cv_bins.size == 0:
        return np.ones(0)
    target_bins = _bins(target_distances)
    if target_bins.size == 0:
        return np.ones(cv_bins.size)
    target_bins = np.minimum(target_bins, cv_bins.max())
    size = int(max(cv_bins.max(), target_bins.max())) + 1
    p_cv = np.bincount(cv_bins, minlength=size) / cv_bins.size
    p_target = np.bincount(target_bins, minlength=size) / target_bins.size
    ratio = np.divide(p_target, p_cv, out=np.zeros(size), where=p_cv > 0)
    weights = ratio[cv_bins]
    if not np.any(weights > 0):  # no overlap at all: fall back to the plain average
        return np.ones(cv_bins.size)
    return weights / weights.mean()
