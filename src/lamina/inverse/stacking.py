"""Choosing and mixing :func:`lamina.inverse.reconstruct`'s models from their held-out predictions.

Every model m gives, along its λ grid, out-of-fold predictions P_m[k, i] of the held-out samples
v_i. :func:`choose` keeps, per model, the grid point of least weighted held-out error and mixes
the models at those points with the stacking weights (stacked generalization, Wolpert 1992;
Breiman 1996): w ≥ 0, Σ w = 1 minimizing the weighted error of Σ_m w_m P_m.

With ``within`` (``reconstruct(stack_within=)``; by default ∞, every model) only the
*contenders* enter the stack: the models whose held-out error at their best grid point is within
that factor of the least one, CV_m ≤ c · min_m' CV_m'. A model an order of magnitude worse than
the best can only help the mixture through small correlations of its large held-out errors with
the others' errors; its stacking weight is then small, and its answer on the unobserved samples
is checked by few held-out samples. On GT.BOSA.00.BHE of ObsPy's test data at 50 % kept (mask
seed 1) the cycle-spun db4 and sym8 frames (CV errors 68× and 82× spline2's) got weights 0.015
and 0.016 and cost 3.7 dB, 99 % of it on the six samples beyond the first and last observed
ones (the periodized frames fill the trace's two unobserved ends from its other end); c = 10
removes them (41.6 → 45.3 dB). It is not the default, because such small weights also *gain*:
on the smooth 96-sample trace of tests/test_inverse_heldout.py, weights of 0.01–0.04 on frames
24–3800× worse than the best are worth 2.1 and 0.8 dB on its two masks, and c = 10 takes one of
them below cubic interpolation − 0.5 dB (benchmarks/RESULTS.md, issue 18).
"""
from __future__ import annotations

import numpy as np


def stacking_weights(predictions, target) -> np.ndarray:
    """w ≥ 0 with Σw = 1 minimizing ‖P w − v‖² (stacked generalization, Breiman 1996): NNLS on
    P with a heavily weighted row enforcing the sum."""
    from scipy.optimize import nnls

    predictions = np.asarray(predictions, float)
    heavy = 1e3 * max(float(np.linalg.norm(predictions)), 1.0)
    system = np.vstack([predictions, np.full((1, predictions.shape[1]), heavy)])
    weights = nnls(system, np.concatenate([target, [heavy]]), maxiter=50 * predictions.shape[1])[0]
    return weights / weights.sum() if weights.sum() > 0 else np.full(predictions.shape[1], 1.0 / predictions.shape[1])


STACK_WITHIN = np.inf  # by default every model is stacked (module docstring)


def contenders(best_errors, within: float) -> np.ndarray:
    """Indices of the models whose held-out error is at most ``within`` times the least one
    (module docstring); the best model is always one."""
    best_errors = np.asarray(best_errors, float)
    if not np.isfinite(within):   # every model (also when the least error is 0, where ∞ · 0 is NaN)
        return np.flatnonzero(np.isfinite(best_errors))   # but none that is ruled out (∞)
    return np.flatnonzero(best_errors <= within * np.min(best_errors))


def choose(predictions, held_out, target, sample_weights, combine: bool, within: float = STACK_WITHIN,
           allowed=None) -> dict:
    """Best grid point of every model by the weighted held-out error
    Σ_i w_i (x̂_i − v_i)² / Σ_i w_i v_i², and the stacking weights of the :func:`contenders`
    (``within``; ``np.inf`` stacks every model) at those points (on rows scaled by √w_i).
    ``allowed`` (per model, a boolean array along its grid) rules grid points out; a model with
    none allowed is not stacked. Returns ``errors`` (per model, along its grid), ``best_index``,
    ``best_errors`` (each model's error there; ∞ for a model with none allowed), ``used`` (models
    of weight > 10⁻³), ``weights`` (theirs, summing to 1) and ``score``."""
    root = np.sqrt(sample_weights)
    total = max(float(np.sum(sample_weights * target ** 2)), 1e-300)
    errors = [np.sum(sample_weights * (p[:, held_out] - target) ** 2, axis=1) / total for p in predictions]
    ruled = errors if allowed is None else [np.where(a, e, np.inf) for e, a in zip(errors, allowed)]
    best_index = [int(np.argmin(e)) for e in ruled]
    best_errors = [e[i] for e, i in zip(ruled, best_index)]
    weights = np.zeros(len(predictions))
    weights[int(np.argmin(best_errors))] = 1.0
    pool = contenders(best_errors, within)
    if combine and pool.size > 1 and target.size > pool.size:
        stacked = np.stack([predictions[m][best_index[m], held_out] for m in pool], axis=1)
        weights = np.zeros(len(predictions))
        weights[pool] = stacking_weights(root[:, None] * stacked, root * target)
    used = np.flatnonzero(weights > 1e-3)
    weights = weights[used] / weights[used].sum()
    mixed = sum(w * predictions[i][best_index[i], held_out] for w, i in zip(weights, used))
    score = float(np.sum(sample_weights * (mixed - target) ** 2)) / total
    return {"errors": errors, "best_index": best_index, "best_errors": best_errors, "used": used, "weights": weights,
            "score": score}
