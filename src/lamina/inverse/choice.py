"""The held-out choice of :func:`lamina.inverse.reconstruct`: every model's λ and the mixture weights.

Out-of-fold predictions of the observed samples come from K-fold partitions of them
(:func:`~lamina.inverse.repeats.cross_validate`: random samples, or whole lines of a gather),
repeated; on a trace whose widest gaps lie beyond what random held-out samples test, one more
partition of whole blocks (:func:`~lamina.inverse.folds.gap_block_size`) whose far samples
rule models and λ out (:func:`~lamina.inverse.heldout.far_gap_allowed`) and pick the model that
extrapolates the trace's unobserved ends (:func:`~lamina.inverse.heldout.far_best`). The held-out errors of
the random partitions are weighted like the real gaps (:func:`~lamina.inverse.heldout.importance_weights`)
and the models are stacked, with the weights averaged over Bayesian-bootstrap reweightings
(:func:`~lamina.inverse.bagging.bagged_choice`) or, without bagging, fitted once
(:func:`~lamina.inverse.stacking.choose`).
"""
from __future__ import annotations

import numpy as np

from lamina.inverse.bagging import bagged_choice
from lamina.inverse.folds import gap_block_folds
from lamina.inverse.heldout import far_best, far_gap_allowed, gap_features, importance_weights, nearer_than_held_out
from lamina.inverse.repeats import cross_validate, resampling_units
from lamina.inverse.regular import regular_step
from lamina.inverse.smoothing import SmoothnessPrior
from lamina.inverse.stacking import choose


#: Held-out relative error (Σ (x̂ − v)² / Σ v²) from which a choice is taken to predict nothing: on a
#: regular mask of lines with every unobserved line nearer to the data than any held-out one, the
#: smoothness priors are then taken at their interpolating limit (λ → 0, the grid's least) —
#: benchmarks/RESULTS.md, issue 18, "Regular masks of whole lines".
UNPREDICTABLE = 0.5


def held_out_choice(models, full_mask, full_values, shape, *, n_folds: int, rule: str, seed: int, axis,
                    n_repeats: int, gap_weights: bool, combine: bool, n_bags: int, stack_within: float,
                    wide_gaps: bool) -> tuple[dict, int | None]:
    """The choice (``errors``, ``best_index``, ``mixture`` {(model, grid index): weight}, ``score``,
    ``far``: None, or the (model, grid index) of least error on the blocks' far samples and the
    random folds' ``reach``; ``nearer``: every unobserved sample is nearer to the data than every
    held-out sample, :func:`~lamina.inverse.heldout.nearer_than_held_out`; ``regular_step``: the
    step of the grid the observed samples of a trace (lines of a gather) lie on,
    :func:`~lamina.inverse.regular.regular_step`, where the sparse frames are ruled out when a
    Gaussian prior is among the models; ``interpolating_limit``: whether the smoothness priors were
    taken at their grid's least λ, ``UNPREDICTABLE``) and the side of the wide-gap blocks (None when that partition did not apply). ``shape``: the
    signal's own shape inside the padded ``full_mask``; ``gap_weights``: importance-weight the
    held-out errors (else a plain average)."""
    observed_index = np.flatnonzero(full_mask.ravel())
    region = np.zeros(full_mask.shape, bool)
    region[tuple(slice(0, s) for s in shape)] = True
    # drawn once, here, and cross-validated as drawn (the seed after the random partitions')
    block, blocks = (gap_block_folds(full_mask, region, n_folds, seed, seed + n_repeats)
                     if wide_gaps and full_mask.ndim == 1 and observed_index.size >= 4 else (None, None))
    n_rows = n_repeats + (blocks is not None)
    predictions, held_out, features = cross_validate(models, full_mask, full_values, n_folds, rule, seed, axis,
                                                      n_rows, blocks)
    values = np.tile(full_values.ravel()[observed_index], n_rows)
    in_random = np.repeat(np.arange(n_rows), observed_index.size) < n_repeats
    allowed, far_choice = None, None
    if block is not None:
        reach = float(features[held_out & in_random, 0].max())
        far = held_out & ~in_random & (features[:, 0] > reach)
        if far.any():
            allowed = far_gap_allowed(predictions, far, values[far])
            far_choice = {"pick": far_best(predictions, far, values[far], prefer=_holding_model(models, None)),
                          "reach": reach}
    step = regular_step(full_mask, axis)   # None on 2-D masks of scattered samples
    if step is not None and any(m.is_smooth for m in models):   # sparse frames alias on a regular mask
        smooth_only = [np.full(len(m.grid), m.is_smooth) for m in models]
        both = None if allowed is None else [a & keep for a, keep in zip(allowed, smooth_only)]
        allowed = both if both is not None and any(a.any() for a in both) else smooth_only
    held_out &= in_random
    target = values[held_out]
    target_features = gap_features(full_mask)[(region & ~full_mask).ravel()]
    nearer = nearer_than_held_out(features[held_out, 0], target_features[:, 0])
    sample_weights = np.ones(target.size)
    if gap_weights:
        sample_weights = importance_weights(features[held_out], target_features)

    def stack(allowed):
        if combine and n_bags > 0 and len(models) > 1 and target.size > len(models):
            units = resampling_units(full_mask, n_rows, axis)[held_out]
            return bagged_choice(predictions, held_out, target, sample_weights, units, n_bags, seed, stack_within,
                                 allowed)
        chosen = choose(predictions, held_out, target, sample_weights, combine, stack_within, allowed)
        chosen["mixture"] = {(int(i), chosen["best_index"][i]): float(w)
                             for w, i in zip(chosen["weights"], chosen["used"])}
        return chosen

    choice = stack(allowed)
    limit = bool(axis is not None and step is not None and nearer and choice["score"] >= UNPREDICTABLE
                 and any(m.is_smooth for m in models))
    if limit:   # regular lines whose held-out lines nothing predicts: interpolate across the lines
        choice = stack([np.arange(len(m.grid)) == np.argmin(m.grid) if m.is_smooth else np.zeros(len(m.grid), bool)
                        for m in models])
    if axis is not None and far_choice is None:
        far_choice = end_lines_choice(models, full_mask, axis, predictions, held_out, values, shape[1 - axis])
    return dict(choice, far=far_choice, nearer=nearer, regular_step=step, interpolating_limit=limit), block


def end_lines_choice(models, full_mask, axis: int, predictions, held_out, values, n_lines: int) -> dict | None:
    """A mask of whole lines along ``axis`` (``n_lines`` of them in the signal): the (model, grid
    index) that extrapolates the unobserved lines beyond the first and the last observed one
    (``{"pick", "lines": True}``), None where there are none.

    The interleaved line folds hold out lines between two training lines, which tests
    interpolation; only the outermost observed lines, when held out, are predicted from one side,
    as the unobserved end lines are. On their out-of-fold predictions the model of a trace's
    unobserved ends is picked (:func:`~lamina.inverse.heldout.far_best`: the first-order spline
    across the lines, which holds the last observed line as the interpolation baselines do,
    unless another model errs less than half as much). :func:`~lamina.inverse.reconstruct.reconstruct`
    hands the end lines over to it beyond the distance those held-out lines tested
    (:func:`~lamina.inverse.heldout.end_line_weights`). Before, the mixture extrapolated its
    splines of order 2–3 across the rows: the last 3 rows of a 100 × 64 crop of scikit-image's
    camera at 10.0 dB against linear interpolation's 20.5 (benchmarks/RESULTS.md, issue 18)."""
    observed_lines = np.flatnonzero(full_mask.any(axis=axis))   # ``n_lines``: the signal's, padding excluded
    if observed_lines.size < 3 or (observed_lines[0] == 0 and observed_lines[-1] == n_lines - 1):
        return None
    line_of = np.indices(full_mask.shape)[1 - axis].ravel()[np.flatnonzero(full_mask.ravel())]
    outermost = np.isin(line_of, observed_lines[[0, -1]])
    edge = held_out & np.tile(outermost, held_out.size // outermost.size)
    hold = _holding_model(models, 1 - axis)
    if not edge.any() or hold is None:
        return None
    return {"pick": far_best(predictions, edge, values[edge], prefer=hold), "lines": True}


def _holding_model(models, along) -> int | None:
    """The index of the first-order spline along ``along`` (None: along a trace), which holds the
    last observed value beyond the data, or None when it is not among the models."""
    return next((i for i, m in enumerate(models) if isinstance(m.model, SmoothnessPrior)
                 and m.model.order == 1 and m.model.axis == along), None)
