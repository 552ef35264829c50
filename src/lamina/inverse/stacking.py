"""Choosing and mixing :func:`lamina.inverse.reconstruct`'s models from their held-out predictions.

Every model m gives, along its λ grid, out-of-fold predictions P_m[k, i] of the held-out samples
v_i. :func:`choose` keeps, per model, the grid point of least weighted held-out error and mixes
the models at those points with the stacking weights (stacked generalization, Wolpert 1992;
Breiman 1996): w ≥ 0, Σ w = 1 minimizing the weighted error of Σ_m w_m P_m.

Only the *contenders* enter the stack: the models whose held-out error at their best grid point
is within a factor ``STACK_WITHIN`` of the least one, CV_m ≤ c · min_m' CV_m' (c = 10). A model
an order of magnitude worse than the best can only help the mixture through small correlations
of its large held-out errors with the others' errors; its stacking weight is then small, but
its answer on the unobserved samples is checked by very few held-out samples where it fails
most. On GT.BOSA.00.BHE of ObsPy's test data at 50 % kept (mask seed 1) the cycle-spun db4 and
sym8 frames (CV errors 1.1·10⁻³ and 1.3·10⁻³, 68× and 82× spline2's 1.6·10⁻⁵) got weights
0.015 and 0.016; 99 % of their error on the missing samples lies on the six samples beyond the
last observed ones (periodized frames extrapolate the trace's ends badly; CV holds out at most
one such sample per fold and end), where it is 1.2·10⁻² and 1.7·10⁻², and the mixture lost 3.7
dB against spline2 alone (41.6 against 45.3 dB; benchmarks/RESULTS.md, issue 18). The factor
was read off the 144 trace and image masks of the benchmark and its validation set: 3 to 30
all remove those two frames; 2 and 2.5 also drop a model that helps (−4.5 dB on one validation
mask), 100 keeps the frames; 10 sits in the middle of that range on a log scale.
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


STACK_WITHIN = 10.0  # contenders: best held-out error within this factor of the least one


def contenders(best_errors, within: float = STACK_WITHIN) -> np.ndarray:
    """Indices of the models whose held-out error is at most ``within`` times the least one
    (module docstring); the best model is always one."""
    best_errors = np.asarray(best_errors, float)
    return np.flatnonzero(best_errors <= within * np.min(best_errors))


def choose(predictions, held_out, target, sample_weights, combine: bool, within: float = STACK_WITHIN) -> dict:
    """Best grid point of every model by the weighted held-out error
    Σ_i w_i (x̂_i − v_i)² / Σ_i w_i v_i², and the stacking weights of the :func:`contenders`
    (``within``; ``np.inf`` stacks every model) at those points (on rows scaled by √w_i).
    Returns ``errors`` (per model, along its grid), ``best_index``, ``used`` (models of weight
    > 10⁻³), ``weights`` (theirs, summing to 1) and ``score``."""
    root = np.sqrt(sample_weights)
    total = max(float(np.sum(sample_weights * target ** 2)), 1e-300)
    errors = [np.sum(sample_weights * (p[:, held_out] - target) ** 2, axis=1) / total for p in predictions]
    best_index = [int(np.argmin(e)) for e in errors]
    best_errors = [e[i] for e, i in zip(errors, best_index)]
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
    return {"errors": errors, "best_index": best_index, "used": used, "weights": weights, "score": score}
