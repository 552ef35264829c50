"""``lamina.inverse.reconstruct``: a full signal or image from irregularly observed samples.

Given the samples v observed on a boolean mask M of a 1-D trace or a 2-D image, each candidate
model gives an estimate along its own λ grid:

* smoothness priors ``spline1``, ``spline2``, ``spline3`` — x = argmin ½‖M(x − v)‖² + ½λ‖D_k x‖²,
  discrete smoothing splines of degree 2k − 1 (:mod:`lamina.inverse.smoothing`);
* the spectral prior ``spectral`` — a Gaussian prior in the DCT basis with a λ per frequency,
  λ_k = t / p_k, p the power spectrum estimated from the observed samples (on images per sector
  of direction; Wiener interpolation, kriging; :mod:`lamina.inverse.spectral`); not on masks of
  whole lines;
* sparsity in a tight frame S (cycle-spun wavelets, a local DCT; :mod:`lamina.inverse.dictionaries`)
  with one λ per group (wavelet level, frequency band):

      c = argmin ½‖M(S c − v)‖² + Σ_g λ_g ‖c_g‖₁,   x = S c,   λ_g = t · d_g.

  The relative λ per group is the Laplace-prior MAP rule d_g = 1/mean_{j∈g}|(Sᵀx₀)_j|
  (a group whose coefficients are small gets a large λ; for a Laplace prior of scale b_g on
  group g and noise σ, λ_g = σ²/b_g), x₀ a pilot estimate (the cubic smoothing spline of the
  training samples); one multiplier t is chosen by the rule. ``per_group=False`` uses d = 1
  (one λ for every coefficient). Solved by FISTA (step 1, since ‖MS‖ ≤ 1) with adaptive
  restart, warm-started along the decreasing grid of t.

The rule (default: K-fold cross-validation over the observed samples) scores every candidate
and grid point by the error of predicting held-out observed samples from the others — for the
sparse models with λ scaled by the training share, as in :class:`~lamina.inverse.KFoldCV` —
and the best λ of each model is refitted on all observed samples. The held-out errors are
importance-weighted (:mod:`lamina.inverse.heldout`) so that the held-out samples' positions in the
gaps of their folds' training samples follow the unobserved samples' positions in the gaps of the
mask: plain CV scores wider gaps than the real ones and undervalues the interpolating limit λ → 0
of the smoothness priors (the smoothing grid reaches 10⁻⁹, where spline1/spline2 are linear and
natural cubic interpolation). By default the answer is the
mixture Σ_m w_m x_m with the weights (w ≥ 0, Σ w = 1) that best predict the held-out samples
from the models' out-of-fold predictions (stacked generalization, Wolpert 1992; Breiman 1996),
which on real traces is more robust than keeping one model; these weights are fitted again on
Bayesian-bootstrap reweightings of the held-out samples and averaged
(:mod:`lamina.inverse.bagging`), so that the mixture does not follow a few held-out samples of
large error (``stack_within`` mixes only the models within a factor of the best one's held-out
error; by default all). The signal is centred and scaled
by its observed samples, and padded with unobserved samples to a shape the frames accept.

Gathers with missing traces. When the missing entries of a 2-D mask are whole lines (rows or
columns: the mask is constant along one axis, :func:`~lamina.inverse.folds.line_axis`), random
held-out samples would keep their neighbours along the line and reward priors that smooth
along it, which cannot fill a missing line. The folds then hold out whole lines
(:func:`~lamina.inverse.folds.sample_folds`, interleaved), their errors are averaged plainly,
and two kinds of candidates join: smoothing splines of order 1–3 *across* the lines (differences
along the other axis only: interpolation across the traces at every time sample) and the f-k
frame (:class:`~lamina.inverse.fk.FKFrame`, padded 2-D Fourier; linear events are sparse in it)
with a λ per temporal-frequency band.

Wide gaps. On a trace whose widest gaps (a dead stretch, unobserved ends) lie farther from the
data than any random held-out sample does from its fold's, one more K-fold partition holds out
whole blocks as wide as those gaps (:func:`~lamina.inverse.folds.block_folds`); its held-out
samples beyond the random partitions' reach rule out every model and λ that errs there by more
than 4× the least error (:func:`~lamina.inverse.heldout.far_gap_allowed`); the choice itself stays
with the random partitions.

Regular masks. A regular sampling — every s-th sample of a trace, every s-th trace of a gather,
some of them possibly lost (:func:`~lamina.inverse.regular.regular_step`, ``info["regular_step"]``)
— folds every atom of a sparse frame onto aliases that explain the observed samples as sparsely,
which the irregular held-out folds do not see; the sparse frames are then ruled out when a Gaussian
prior is among the candidates (PyLops' linear-event gather kept every 2nd trace: 9.5 → 31.8 dB,
cubic interpolation 25.2). And every unobserved sample of such a mask lies nearer to the data than
any held-out sample does to its fold's (:func:`~lamina.inverse.heldout.nearer_than_held_out`,
``info["nearer_than_held_out"]``): the held-out errors score a coarser problem than the real one.
Lines whose coarser problem nothing predicts (held-out error ≥ ``choice.UNPREDICTABLE``) are interpolated
(``info["interpolating_limit"]``; every 3rd time sample of a gather: 7.8 → 16.6 dB). On a trace it warns
(:class:`RegularMaskWarning`) and keeps its choice, which smooths too much on clean traces (the
benchmark's seven seismograms kept every 4th sample: 2.0 dB below the better of linear and cubic
interpolation on average, 7.3 dB on one) where the spectral prior at its interpolating limit
(``dictionary="spectral", lam=1e-6``) is level with it; with noise of 10–30 % of the RMS the
default is ahead of that limit in 5 of 6 such cells. The observed samples of a regular mask cannot
tell noise from the signal's content near their Nyquist frequency, so the warning names both
answers (benchmarks/RESULTS.md, issue 18, "Regular masks"); :class:`UnsupportedFillWarning`: a fill
far beyond the observed amplitude (:func:`~lamina.inverse.heldout.warn_unsupported_fill`)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from lamina._validation import check_positive_int, parse_choice
from lamina.inverse.choice import held_out_choice
from lamina.inverse.folds import line_axis
from lamina.inverse.grid_model import GridModel, PilotCache, mixture_estimate
from lamina.inverse.heldout import end_line_weights, end_weights, warn_unsupported_fill
from lamina.inverse.model_set import candidate_models
from lamina.inverse.regular import warn_nearer_than_held_out
from lamina.inverse.samples import (check_options, check_samples, interpolate_few, offset_and_scale, pad_samples,
                                    padded_shape, too_few_to_choose)
from lamina.inverse.repeats import REPEAT_BELOW, cross_validate, repeats  # noqa: F401 (re-exported: tests/test_inverse_repeats.py)
from lamina.inverse.stacking import STACK_WITHIN
from lamina.inverse.window import fit_chosen, selection_window, window_size


class HeldOutWeighting(str, Enum):
    """How :func:`reconstruct` averages the held-out errors."""

    GAPS = "gaps"        # importance weights: held-out samples placed in gaps like the unobserved ones
    UNIFORM = "uniform"  # plain average


class FoldKind(str, Enum):
    """What :func:`reconstruct`'s folds hold out."""

    AUTO = "auto"        # whole lines when the mask's missing entries are whole lines, else samples
    SAMPLES = "samples"  # random observed samples


class ReconstructRule(str, Enum):
    """How :func:`reconstruct` scores the candidates on the observed samples."""

    CV = "cv"            # K-fold over the observed samples
    HOLDOUT = "holdout"  # one fold (1/K of the observed samples) held out


@dataclass
class Reconstruction:
    """Answer of :func:`reconstruct`.

    Attributes
    ----------
    x : ndarray, the mask's shape
        The estimate of the full signal — at the observed samples too, where it is the penalized
        fit, not the data (a noisy sample is smoothed, as the chosen λ says).
    dictionary : str
        The chosen model, the one of largest weight in a mixture ("spline2", "wavelet:db4x4", "localdct:32", or "observed" when every
        sample was observed; "linear" for a trace and "nearest" for an image with fewer than 4
        observed samples, where nothing can be held out, and for a trace with fewer than 8 left to
        the default candidates, where a held-out choice lost to linear interpolation; ``score`` is
        NaN there).
    lam : ndarray, shape (n_groups,)
        λ per group of the chosen model (one value for a smoothness prior, in units of
        ‖D_kᵀD_k‖, on the signal scaled to unit RMS; for the spectral prior its noise-to-signal
        ratio t, the λ per frequency being t / p_k).
    groups : tuple of str
        The group names of ``lam``.
    score : float
        Held-out relative error of the answer: Σ (x̂_v − v)² / Σ v² over the held-out samples
        (centred values; for a mixture, of the mixture of the out-of-fold predictions).
    scores : dict
        The best held-out relative error of every candidate model.
    rule : str
    weights : dict
        The mixture x = Σ_m w_m x_m of the models' estimates (stacking; {model: 1.0} for one).
    info : dict
        ``curves`` (per model: λ multipliers and held-out errors), ``n_folds``, ``per_group``,
        ``n_bags`` and ``mixture`` ({(model, grid index): weight}, the models that were refitted),
        ``gap_block`` (the side of the blocks of the wide-gap partition, or None).
    """

    x: np.ndarray
    dictionary: str
    lam: np.ndarray
    groups: tuple
    score: float
    scores: dict = field(default_factory=dict)
    rule: str = "cv"
    weights: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.x, dtype=dtype)


def _reconstruct_on_window(observed, mask, size, options) -> Reconstruction:
    """:func:`reconstruct` with its choice made on a window (:mod:`lamina.inverse.window`)."""
    window = selection_window(mask, size)
    full = np.zeros(mask.shape)
    full[mask] = observed
    # the whole mask is scattered: choose among its candidates even where the window's missing entries are whole lines
    chosen = reconstruct(full[window], mask[window], select_window=None, **dict(options, folds="samples"))
    if chosen.dictionary in ("observed", "constant", "linear", "nearest"):   # nothing chosen on the window
        return reconstruct(observed, mask, select_window=None, **options)
    offset, scale = offset_and_scale(observed)
    scale = scale or 1.0
    padded = padded_shape(mask.shape)
    full_mask, full_values = pad_samples(mask, (observed - offset) / scale, padded)
    candidates = {m.name: m for m in candidate_models(padded, options["dictionary"], None, options["per_group"])}
    curves = chosen.info["curves"]
    mixture = {(name, float(curves[name]["lam"][k])): w for (name, k), w in chosen.info["mixture"].items()}
    max_iter = options["max_iter"] if options["max_iter"] is not None else 50
    estimate = fit_chosen(mixture, candidates, full_mask, full_values, chosen.info["scale"] / scale,
                          options["per_group"], max_iter)
    x = offset + scale * estimate[tuple(slice(0, s) for s in mask.shape)]
    info = dict(chosen.info, window=tuple((w.start, w.stop) for w in window), padded_shape=padded,
                offset=offset, scale=scale, window_scale=chosen.info["scale"])
    return replace(chosen, x=x, info=info)


def _too_few_samples(observed: np.ndarray, mask: np.ndarray, rule: str) -> Reconstruction:
    """Too few samples for a held-out choice (:func:`~lamina.inverse.samples.too_few_to_choose`)."""
    x, name = interpolate_few(observed, mask)
    return Reconstruction(x=x, dictionary=name, lam=np.zeros(0), groups=(), score=float("nan"), rule=rule)


def reconstruct(values, mask, *, dictionary=None, lam=None, rule="cv", n_folds: int = 5, per_group: bool = True,
                n_lams: int | None = None, max_iter: int | None = None, combine: bool = True,
                weighting="gaps", folds="auto", seed: int = 0, n_repeats="auto", n_bags: int = 100,
                stack_within: float = STACK_WITHIN, select_window="auto", wide_gaps: bool = True) -> Reconstruction:
    """Reconstruct a full 1-D trace or 2-D image from the samples observed on ``mask``.

    Parameters
    ----------
    values : ndarray
        The observed samples: an array of the mask's shape (entries where ``mask`` is False are
        ignored and may be NaN), or a 1-D array of the observed samples in mask order
        (``signal[mask]``).
    mask : ndarray of bool, shape (n,) or (n_rows, n_cols)
        True where the sample is observed (an integer array of 0 and 1 is read the same way). A
        2-D mask of one row or one column is reconstructed as a 1-D trace.
    dictionary : str, Dictionary, SmoothnessPrior or list of them, optional
        Candidate models ("spline1", "spline2", "spline3", "spectral", "wavelet:<PyWavelets family>",
        "localdct[:block]"; on images also "spline<k>:axis<a>", differences along axis a only,
        and "fk[:0]", the f-k frame with time along axis 1, or 0); by default the smoothness
        priors and the frames of :func:`~lamina.inverse.dictionaries.default_dictionaries`,
        plus, when whole lines of a 2-D mask are missing, the splines across the lines and the
        f-k frame. The rule picks and mixes them.
    lam : float or array, optional
        Fix λ (one value, or one per group of the single model given) instead of tuning it;
        units as in :class:`Reconstruction` (the signal is scaled to unit RMS first).
    rule : {"cv", "holdout"}
        K-fold cross-validation over the observed samples, or one held-out fold.
    n_folds : int
        K (fewer when there are fewer than 2K observed samples).
    per_group : bool
        λ per group (wavelet level / frequency band) by the Laplace-prior rule and a λ per
        frequency from the estimated spectrum (the spectral prior), or one λ for every
        coefficient of each model (the spectral prior then is the white-noise prior).
    n_lams : int, optional
        Grid points per model (default 14 for 1-D, 8 for images).
    max_iter : int, optional
        FISTA iterations per grid point (default 50; 100 for a named dictionary on a trace, fitted
        alone). Among the default candidates 100 or 200 moved the SNR on 151 trace masks by −0.03 to
        +0.04 dB on average at 1.5–2.5× the time (benchmarks/RESULTS.md, issue 18).
    combine : bool
        Mix the models (each at its best λ) with weights w ≥ 0, Σw = 1 fitted to the
        out-of-fold predictions (stacking), instead of keeping the best one alone.
    weighting : {"gaps", "uniform"}
        How the held-out errors are averaged: weighted so that the held-out samples' positions
        with respect to their fold's training samples (distance to the nearest one; in 1-D, also
        the length of the gap) follow the unobserved samples' positions with respect to the
        observed ones (importance-weighted CV, :mod:`lamina.inverse.heldout`), or a plain average.
        Folds of whole lines (``folds``) are always averaged plainly (:mod:`lamina.inverse.folds`).
    folds : {"auto", "samples"}
        What the folds hold out: by default whole lines (rows or columns) when the mask's
        missing entries are whole lines (a 2-D mask constant along an axis, such as a gather
        with missing traces; :mod:`lamina.inverse.folds`), and then the splines of order 1–3
        across the lines and the f-k frame (:mod:`lamina.inverse.fk`) join the default
        candidates; otherwise random observed samples. ``"samples"`` always holds out random
        samples (and keeps the default candidates of any mask).
    seed : int
        Folds of scattered samples (repeat r uses seed + r; whole-line folds are fixed by the
        mask) and the bootstrap draws of ``n_bags``.
    n_repeats : int or "auto"
        K-fold partitions averaged (repeated CV; :func:`repeats`): by default 2 on masks of
        scattered samples with fewer than 1000 observed samples, else 1.
    n_bags : int
        With ``combine``, the stacking weights are averaged over this many Bayesian-bootstrap
        reweightings of the held-out samples (whole lines with whole-line folds; each model
        keeps the λ chosen on all of them; :mod:`lamina.inverse.bagging`), so that the mixture
        does not rest on a few held-out samples; 0 fits them once, on the held-out samples as
        they are.
    stack_within : float
        With ``combine``, only the models whose held-out error is at most this factor times the
        least one are mixed (:func:`~lamina.inverse.stacking.contenders`; ≥ 1; by default
        ``np.inf``, every model): a model an order of magnitude worse than the best gets a small
        stacking weight from small correlations of its large errors, which the held-out samples
        check poorly — a weight that can cost or gain: with 10, GT.BOSA.00.BHE 50 % (mask seed 1)
        gains 3.7 dB and a smooth synthetic trace loses 0.8 and 2.1 dB
        (:mod:`lamina.inverse.stacking`).
    select_window : "auto", int or None
        Choose the models, weights and λ on a central window of this many pixels a side, then fit
        the chosen mixture once on the whole image (:mod:`lamina.inverse.window`). "auto": a
        window of 160 × 160 on images of scattered samples larger than twice its area (a 512²
        image: 345 s per call chosen on the whole image); None: always choose on the whole signal.
    wide_gaps : bool
        On a 1-D trace whose widest gaps (or unobserved ends) lie farther from the data than the
        random folds' held-out samples do from theirs (:func:`~lamina.inverse.folds.gap_block_size`),
        add one K-fold partition of whole blocks as wide as those gaps and rule out every model and
        λ whose error on the blocks' far samples exceeds 4 × the least one there
        (:func:`~lamina.inverse.heldout.far_gap_allowed`): the spectral prior at a small λ had
        filled a gap of 100 samples of a chirp (30 % kept) with oscillations 7× the signal's
        amplitude, −10.6 dB against +4.0 for linear interpolation (now +5.3). Unobserved ends
        beyond the random folds' reach are extrapolated by the model and λ of least error on
        those far samples — the first-order spline, which holds the end value, unless another
        model errs less than half as much there — blended in linearly from the reach to twice it
        (``info["ends_model"]``; :func:`~lamina.inverse.heldout.end_weights`). Costs one more
        partition of CV fits where it applies; random masks of 30–70 % kept never trigger it.
        False: the random partitions only.

    Returns
    -------
    Reconstruction
        ``.x`` (the mask's shape), ``.dictionary``, ``.lam``, ``.groups``, ``.score``, ``.scores``.

    Notes
    -----
    See the module docstring for the models and the rule. Every model is solved on K + 1 sets
    of samples along its grid (R·K + 1 with R repeated partitions); the λ chosen on the training
    folds (share s of the samples) is used as λ/s on all of them. The bagged stacking fits no
    model again: it re-reads the out-of-fold predictions.

    Examples
    --------
    >>> t = np.linspace(0, 1, 200)
    >>> signal = np.sin(8 * np.pi * t) * np.exp(-3 * t)
    >>> mask = np.random.default_rng(0).random(200) < 0.5
    >>> result = reconstruct(signal[mask], mask, dictionary=["spline1", "spline2"])
    >>> result.dictionary, bool(np.max(np.abs(result.x - signal)) < 1e-2)
    ('spline2', True)
    """
    observed, mask = check_samples(values, mask)
    check_options(seed, lam, per_group=per_group, combine=combine, wide_gaps=wide_gaps)
    if mask.ndim == 2 and min(mask.shape) == 1 and mask.size > 1:   # one row or one column: a trace
        trace = reconstruct(observed, mask.ravel(), dictionary=dictionary, lam=lam, rule=rule, n_folds=n_folds,
                            per_group=per_group, n_lams=n_lams, max_iter=max_iter, combine=combine,
                            weighting=weighting, folds=folds, seed=seed, n_repeats=n_repeats, n_bags=n_bags,
                            stack_within=stack_within, select_window=select_window, wide_gaps=wide_gaps)
        return replace(trace, x=trace.x.reshape(mask.shape))
    user_models = dictionary is not None and not all(
        isinstance(item, str) for item in (dictionary if isinstance(dictionary, (list, tuple)) else [dictionary]))
    scattered = mask.ndim == 2 and (folds == "samples" or line_axis(mask) is None)
    size = window_size(select_window, mask.shape, scattered=scattered, user_models=user_models or lam is not None)
    if size is not None:
        options = dict(dictionary=dictionary, rule=rule, n_folds=n_folds, per_group=per_group, n_lams=n_lams,
                       max_iter=max_iter, combine=combine, weighting=weighting, folds=folds, seed=seed,
                       n_repeats=n_repeats, n_bags=n_bags, stack_within=stack_within, wide_gaps=wide_gaps)
        return _reconstruct_on_window(observed, mask, size, options)
    rule = parse_choice(ReconstructRule, rule, "rule")
    weighting = parse_choice(HeldOutWeighting, weighting, "weighting")
    fold_kind = parse_choice(FoldKind, folds, "folds")
    n_folds = check_positive_int(n_folds, "n_folds", minimum=2)
    n_bags = check_positive_int(n_bags, "n_bags", minimum=0)
    if isinstance(stack_within, bool) or not isinstance(stack_within, (int, float)) or not stack_within >= 1:
        raise ValueError(f"stack_within must be a number >= 1 (np.inf mixes every model), got {stack_within!r}")
    alone = np.ndim(mask) == 1 and dictionary is not None   # a named dictionary on a trace: fitted alone
    max_iter = check_positive_int(max_iter if max_iter is not None else (100 if alone else 50), "max_iter")
    n_lams = check_positive_int(n_lams if n_lams is not None else (14 if mask.ndim == 1 else 8), "n_lams")
    shape = mask.shape
    if mask.all():
        return Reconstruction(x=np.zeros(shape) + np.asarray(observed).reshape(shape), dictionary="observed",
                              lam=np.zeros(0), groups=(), score=0.0, rule=rule.value)
    if too_few_to_choose(mask, left_to_default=dictionary is None and lam is None):
        return _too_few_samples(observed, mask, rule.value)
    offset, scale = offset_and_scale(observed)
    padded = padded_shape(shape)
    full_mask, full_values = pad_samples(mask, (observed - offset) / (scale or 1.0), padded)
    axis = line_axis(mask) if fold_kind is FoldKind.AUTO else None
    candidates = candidate_models(padded, dictionary, axis, per_group)
    if lam is not None and len(candidates) > 1 and np.size(lam) > 1:
        raise ValueError("lam with one value per group needs a single dictionary= model")
    if scale == 0.0:   # every observed sample equal: every model gives that constant
        return Reconstruction(x=np.full(shape, offset), dictionary="constant", lam=np.zeros(0), groups=(),
                              score=0.0, rule=rule.value)
    pilots = PilotCache()   # one pilot per set of training samples, shared by the frames
    models = [GridModel(m, full_values, full_mask, n_lams, per_group, lam, max_iter, warm_refit=axis is not None,
                        pilots=pilots) for m in candidates]
    observed_index = np.flatnonzero(full_mask.ravel())
    n_folds = min(n_folds, max(2, observed_index.size // 2))
    if isinstance(n_repeats, str):
        if n_repeats != "auto":
            raise ValueError(f'n_repeats must be a positive integer or "auto", got {n_repeats!r}')
        n_repeats = repeats(observed_index.size, axis)
    n_repeats = check_positive_int(n_repeats, "n_repeats")
    choice, block = held_out_choice(models, full_mask, full_values, shape, n_folds=n_folds, rule=rule, seed=seed,
                                    axis=axis, n_repeats=n_repeats,
                                    gap_weights=weighting is HeldOutWeighting.GAPS and axis is None,
                                    combine=combine, n_bags=n_bags, stack_within=stack_within, wide_gaps=wide_gaps)
    best_index, pairs = choice["best_index"], choice["mixture"]
    if choice["nearer"] and mask.ndim == 1 and lam is None:
        warn_nearer_than_held_out()
    estimate, ends = mixture_estimate(models, pairs, full_mask, full_values), None
    far = choice["far"]
    if far is not None:   # unobserved ends (whole end lines) beyond the folds' reach: the far samples' model
        w = (np.expand_dims(end_line_weights(full_mask.any(axis=axis), shape[1 - axis]), axis) if far.get("lines")
             else end_weights(full_mask, far["reach"], shape[0]))
        if w.any():
            ends = far["pick"]
            estimate = (1 - w) * estimate + w * models[ends[0]].refit(ends[1], full_mask, full_values)
    totals = np.bincount([i for i, _ in pairs], weights=list(pairs.values()), minlength=len(models))
    main = int(np.argmax(totals))  # the model of largest weight, at its grid point of largest weight
    chosen = models[main]
    lam_chosen = chosen.lams(max((k for i, k in pairs if i == main), key=lambda k: pairs[(main, k)]))
    x = offset + scale * estimate[tuple(slice(0, s) for s in shape)]
    warn_unsupported_fill(x[~mask], observed)
    curves = {m.model.name: {"lam": m.grid, "error": e} for m, e in zip(models, choice["errors"])}
    scores = {m.model.name: float(e[i]) for m, e, i in zip(models, choice["errors"], best_index)}
    mixture = {models[i].model.name: float(totals[i]) for i in np.flatnonzero(totals)}
    return Reconstruction(x=x, dictionary=chosen.model.name, lam=np.asarray(lam_chosen, float),
                          groups=tuple(chosen.model.group_names), score=choice["score"], scores=scores,
                          rule=rule.value, weights=mixture,
                          info={"curves": curves, "n_folds": n_folds, "n_repeats": n_repeats, "gap_block": block,
                                "per_group": per_group, "ends_model": ends and models[ends[0]].model.name,
                                "n_bags": n_bags, "mixture": {(models[i].model.name, k): w for (i, k), w in pairs.items()},
                                "padded_shape": padded, "offset": offset, "scale": scale, "weighting": weighting.value,
                                "line_axis": axis, "nearer_than_held_out": choice["nearer"],
                                "regular_step": choice["regular_step"], "interpolating_limit": choice["interpolating_limit"]})
