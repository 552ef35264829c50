"""Regular masks in :func:`~lamina.inverse.reconstruct`: a periodic sampling of a trace or of
the lines of a gather, where the held-out choice needs two precautions.

A sparse frame aliases on such a mask (:func:`regular_step`), and every unobserved sample is
nearer to the data than any held-out sample (:func:`~lamina.inverse.heldout.nearer_than_held_out`),
so the held-out errors score a coarser problem than the real one (:func:`warn_nearer_than_held_out`).
Measured in ``benchmarks/bench_regular_masks.py`` (benchmarks/RESULTS.md, issue 18, "Regular masks").
"""
from __future__ import annotations

import numpy as np

from lamina._warnings import warn


def regular_step(mask, axis: int | None = None) -> int | None:
    """The step s ≥ 2 of the grid every observed sample of a trace lies on (``axis`` None, 1-D
    ``mask``), or every observed line of a 2-D mask of whole lines (``axis``: the axis along
    which the mask is constant, :func:`~lamina.inverse.folds.line_axis`) — the greatest common
    divisor of their spacings — or None when it is 1. A regular acquisition with some samples
    (traces) lost still lies on its grid.

    On such a mask a sparse frame's fill of the unobserved samples is not determined by the
    data: an atom and its aliases (its frequency shifted by multiples of 1/s) take the same
    values on the grid, so the observed samples are explained as sparsely by either (coherent
    aliasing; random or jittered sampling makes it incoherent, Hennenfent & Herrmann 2008), and
    the irregular held-out folds of :func:`~lamina.inverse.reconstruct` do not see it. On
    PyLops' linear-event gather kept every 2nd trace, the f-k frame filled the missing traces
    with zeros (0.0 dB) while its held-out error was among the least of every candidate's.
    """
    mask = np.asarray(mask, bool)
    kept = mask if axis is None else mask.any(axis=axis)
    if kept.ndim != 1:
        return None
    spacing = np.diff(np.flatnonzero(kept))
    if spacing.size < 2:
        return None
    step = int(np.gcd.reduce(spacing))
    return step if step >= 2 else None


class RegularMaskWarning(UserWarning):
    """The held-out samples of :func:`reconstruct` cannot test gaps as narrow as the mask's."""


def warn_nearer_than_held_out() -> None:
    """A trace whose every unobserved sample is nearer to the data than any held-out sample
    (:func:`~lamina.inverse.heldout.nearer_than_held_out`: a regular mask). Warned, not
    corrected: which λ is right there depends on whether the samples carry noise, which the
    observed samples of a regular mask cannot tell apart from the signal's content near their
    Nyquist frequency (benchmarks/RESULTS.md, issue 18, "Regular masks"). Traces only: on 27
    regular masks of images (2×2 and 3×3 lattices, checkerboards) the default stayed within
    1 dB of the better of linear and cubic interpolation, 22 of 27 at or above it."""
    warn("reconstruct: every unobserved sample lies nearer to the observed ones than any held-out "
         "sample lies to its fold's (a regular mask): the held-out choice scores gaps wider than the "
         "real ones and tends to smooth too much. If the samples are exact (no noise), "
         "dictionary='spectral', lam=1e-6 (Wiener interpolation) was within 1.4 dB of the better of "
         "linear and cubic interpolation on every seismogram tried, and better on average; "
         "with noise, keep the default.", RegularMaskWarning)
