"""Bagged stacking for :func:`lamina.inverse.reconstruct`: the models' mixture weights averaged
over Bayesian-bootstrap reweightings of the held-out samples.

:func:`~lamina.inverse.stacking.choose` picks, per model m, the grid point k_m of least weighted
held-out error and mixes the models at those points with stacking weights fitted to the same
held-out errors. On a short real trace the held-out errors are heavy-tailed: a few held-out
samples near the largest amplitude, in wide gaps of their fold's training samples, carry a
large share of a model's CV error, and the choice follows them. On the XJ.WUQ..HHN trace of
ObsPy's test data at 30 % kept (mask seed 0) three held-out samples in one 22-sample training
gap at the trace's peak carry 0.43 of the weighted CV error of linear interpolation (spline1 at
λ → 0); the CV ranks it last of the three smoothing splines (CV relative error 3.5·10⁻³ against
2.7·10⁻³ for spline3) while on the missing samples it is the best (1.7·10⁻³ against 2.4·10⁻³),
and the stacking puts 0.75 on spline3 (benchmarks/RESULTS.md, issue 18).

Bagging (Breiman 1996) averages an unstable choice over resamples. Here the resampling is the
Bayesian bootstrap (Rubin 1981): B times, every resampling *unit* u (an observed sample, or a
whole line for whole-line folds; the rows of one unit in several repeated partitions share it)
gets a weight g_u ~ n·Dirichlet(1, …, 1), the held-out rows' importance weights are multiplied
by g_u of their unit, and the stacking weights are fitted again; the answer averages them,

    x = Σ_m w̄_m x_m(k_m),   w̄_m = (1/B) Σ_b w_m^(b),

each model m at the grid point k_m chosen on all held-out samples. A mixture carried by a few
held-out samples is averaged with the mixtures that win when those samples weigh little; one
the whole held-out set supports stays. On XJ.WUQ 30 % seed 0 the weights become spline1 0.11,
spline2 0.17, spline3 0.53 (28.49 → 28.83 dB; linear interpolation 29.47). The grid point k_m is
not bagged: a model's CV curve along λ is smooth and its minimum is set by all held-out samples,
and bagging it too mixed in distant grid points of a few resamples (spline3 at λ index 3 with
weight 0.06 on a smooth 96-sample trace, 1.7 dB below cubic interpolation at 45 dB, where the
weights alone stay within 0.3 dB of it; tests/test_inverse_heldout.py). No model is fitted again
(the resamples reuse the out-of-fold predictions), and the refit on all observed samples runs
once per model of average weight ≥ ``MIN_WEIGHT`` (the rest is dropped and the weights
renormalized), as without bags.
"""
from __future__ import annotations

import numpy as np

from lamina._validation import check_positive_int
from lamina.inverse.stacking import STACK_WITHIN, choose, contenders

MIN_WEIGHT = 0.01  # models of less average weight are dropped (one refit each)


def bagged_choice(predictions, held_out, target, sample_weights, units, n_bags: int, seed: int = 0,
                  within: float = STACK_WITHIN, allowed=None) -> dict:
    """The stacking weights of :func:`~lamina.inverse.stacking.choose` averaged over ``n_bags``
    Bayesian-bootstrap reweightings of the resampling ``units``, each model at its grid point
    chosen on all held-out rows (module docstring).

    Parameters
    ----------
    predictions, held_out, target, sample_weights
        As for :func:`~lamina.inverse.stacking.choose` (``target`` and ``sample_weights`` per
        held-out row).
    units : array of int, one per held-out row
        The resampling unit of each held-out row (0 … n_units − 1); rows of one unit share its
        bootstrap weight.
    n_bags : int
        B, the number of reweightings (≥ 1).
    seed : int
        Seed of the Dirichlet draws.
    within : float
        Only the :func:`~lamina.inverse.stacking.contenders` on all held-out rows (best error
        within this factor of the least one) are stacked, in every reweighting.
    allowed : list of boolean arrays, optional
        Grid points each model may use (as for :func:`~lamina.inverse.stacking.choose`).

    Returns
    -------
    dict
        ``errors`` and ``best_index`` (each model's grid point, chosen on all held-out rows),
        ``mixture`` {(model index, grid index): weight} summing to 1 (pairs of weight ≥ ``MIN_WEIGHT``),
        and ``score``, the weighted held-out error of the mixture of out-of-fold predictions.
    """
    units = np.asarray(units, int)
    sample_weights = np.asarray(sample_weights, float)
    if units.shape != sample_weights.shape:
        raise ValueError(f"units must give one unit per held-out row ({sample_weights.size}), got shape {units.shape}")
    n_bags = check_positive_int(n_bags, "n_bags")
    base = choose(predictions, held_out, target, sample_weights, True, within, allowed)
    pool = contenders(base["best_errors"], within)
    _, units = np.unique(units, return_inverse=True)
    n_units = int(units.max()) + 1 if units.size else 0
    rng = np.random.default_rng(seed)
    mixture = {}
    at_best = [predictions[m][base["best_index"][m]][None] for m in pool]   # each contender at its λ
    for _ in range(n_bags):
        draw = rng.dirichlet(np.ones(n_units)) * n_units if n_units > 1 else np.ones(max(n_units, 1))
        choice = choose(at_best, held_out, target, sample_weights * draw[units], True, np.inf)
        for weight, j in zip(choice["weights"], choice["used"]):
            i = int(pool[j])
            key = (i, int(base["best_index"][i]))
            mixture[key] = mixture.get(key, 0.0) + float(weight) / n_bags
    mixture = {key: w for key, w in mixture.items() if w >= MIN_WEIGHT}
    total = sum(mixture.values())
    mixture = {key: w / total for key, w in sorted(mixture.items(), key=lambda item: -item[1])}
    mixed = sum(w * predictions[i][k, held_out] for (i, k), w in mixture.items())
    norm = max(float(np.sum(sample_weights * target ** 2)), 1e-300)
    score = float(np.sum(sample_weights * (mixed - target) ** 2)) / norm
    return {"errors": base["errors"], "best_index": base["best_index"], "mixture": mixture, "score": score}
