"""Feature binning of the histogram learner: at most ``max_bins`` bins per feature, stored as uint8.

A feature with at most ``max_bins`` distinct values gets one bin per value; the thresholds are
the float32 midpoints of consecutive distinct values, as xgboost's exact method places its
splits, so with enough bins the histogram learner searches exactly xgboost-exact's candidates.
Otherwise the cuts sit at the ``max_bins``-quantiles of the data (midpoint to the next distinct
value). Row i is in bin b of feature f when cuts[f][b−1] ≤ x < cuts[f][b].

The midpoint m of two neighbouring values a < b is (a + b)/2 rounded to float32 (computed in
float64, so it cannot overflow). When a and b are adjacent float32 numbers, m rounds onto a or b;
the cut is m when m > a and b otherwise, so a stays below the cut, b at or above it, and every bin
holds at least one training value (``lower[f][k]``/``upper[f][k]`` exist for every bin k).

A split between bins is placed, as in xgboost's exact method, at the midpoint of the largest value
left and the smallest value right of it among the node's rows — ``(upper[f][b] +
lower[f][b'])/2`` with b the node's last non-empty bin on the left and b' its first on the right.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lamina._validation import check_finite_array


FLOAT32_MAX = float(np.finfo(np.float32).max)


def as_float32(X, name: str = "X") -> np.ndarray:
    """X as a C-contiguous float32 (n, p) array, refusing NaN/inf and values beyond float32's range
    (about 3.4e38: they would become inf in the bins)."""
    X = check_finite_array(X, name, ndim=2)
    largest = float(np.max(np.abs(X), initial=0.0))
    if largest > FLOAT32_MAX:
        raise ValueError(f"{name} holds values up to {largest:.3g} in absolute value; the trees bin features "
                         f"in float32, whose largest value is {FLOAT32_MAX:.3g}: rescale the features")
    return np.ascontiguousarray(X, dtype=np.float32)


@dataclass
class Bins:
    """Per feature f: ``cuts[f]`` (float32, at most max_bins − 1 cut points) and the smallest and
    largest training value of each bin, ``lower[f]``, ``upper[f]`` (float32, len(cuts[f]) + 1)."""

    cuts: list
    lower: list
    upper: list

    @property
    def n_bins(self) -> np.ndarray:
        return np.array([c.size + 1 for c in self.cuts], dtype=np.int32)



def fit_bins(X32: np.ndarray, max_bins: int) -> Bins:
    """Bins of every feature (see :class:`Bins`)."""
    thresholds, lowers, uppers = [], [], []
    for f in range(X32.shape[1]):
        column = X32[:, f]
        distinct = np.unique(column)
        if distinct.size > max_bins:
            cuts = np.unique(np.quantile(column, np.linspace(0, 1, max_bins + 1)[1:-1], method="inverted_cdf"))
            above = np.searchsorted(distinct, cuts) + 1
            keep = above < distinct.size
            lower, upper = cuts[keep].astype(np.float32), distinct[above[keep]]
        else:
            lower, upper = distinct[:-1], distinct[1:]
        cuts = split_points(lower, upper)
        bin_of = np.searchsorted(cuts, distinct, side="right")
        starts = np.flatnonzero(np.r_[True, bin_of[1:] != bin_of[:-1]])
        stops = np.r_[starts[1:], distinct.size] - 1
        if starts.size != cuts.size + 1:       # split_points keeps every bin non-empty
            raise RuntimeError(f"feature {f}: {cuts.size + 1 - starts.size} empty bin(s)")
        thresholds.append(cuts)
        lowers.append(distinct[starts].astype(np.float32))
        uppers.append(distinct[stops].astype(np.float32))
    return Bins(thresholds, lowers, uppers)


def split_points(lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Float32 points t with lower < t ≤ upper, elementwise (lower < upper, float32): the midpoint
    m = fl32((lower + upper)/2), or ``upper`` where m rounds onto ``lower`` (adjacent float32 numbers).
    A value x goes below the point when x < t: ``lower`` below, ``upper`` above."""
    mid = ((lower.astype(np.float64) + upper.astype(np.float64)) * 0.5).astype(np.float32)
    return np.where(mid > lower, mid, upper).astype(np.float32)


def apply_bins(X32: np.ndarray, bins: Bins) -> np.ndarray:
    """Bin index of every entry, uint8 (n, p), C order (rows are read whole by the kernels)."""
    Xb = np.empty(X32.shape, dtype=np.uint8)
    for f, cuts in enumerate(bins.cuts):
        Xb[:, f] = np.searchsorted(cuts, X32[:, f], side="right")
    return Xb
