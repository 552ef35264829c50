"""Choosing and mixing :func:`lamina.inverse.reconstruct`'s models from their held-out predictions.

Every model m gives, along its λ grid, out-of-fold predictions P_m[k, i] of the held-out samples
v_i. :func:`choose` keeps, per model, the grid point of least weighted held-out error and mixes
the models at those points with the stacking weights (stacked generalization, Wolpert 1992;
Breiman 1996): w ≥ 0, Σ w = 1 minimizing the weighted error of Σ_m w_m P_m.
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


def choose(predictions, held_out, target, sample_weights, combine: bool) -> dict:
    """Best grid point of every model by the weighted held-out error
    Σ_i w_i (x̂_i − v_i)² / Σ_i w_i v_i², and the stacking weights of the models at those points
    (on rows scaled by √w_i). Returns ``errors`` (per model, along its grid), ``best_index``,
    ``used`` (models of weight > 10⁻³), ``weights`` (theirs, summing to 1) and ``score``."""
    root = np.sqrt(sample_weights)
    total = max(float(np.sum(sample_weights * target ** 2)), 1e-300)
    errors = [np.sum(sample_weights * (p[:, held_out] - target) ** 2, axis=1) / total for p in predictions]
    best_index = [int(np.argmin(e)) for e in errors]
    best = int(np.argmin([e[i] for e, i in zip(errors, best_index)]))
    weights = np.zeros(len(predictions))
    weights[best] = 1.0
    if combine and len(predictions) > 1 and target.size > len(predictions):
        stacked = np.stack([p[i, held_out] for p, i in zip(predictions, best_index)], axis=1)
        weights = stacking_weights(root[:, None] * stacked, root * target)
    used = np.flatnonzero(weights > 1e-3)
    weights = weights[used] / weights[used].sum()
    mixed = sum(w * predictions[i][best_index[i], held_out] for w, i in zip(weights, used))
    score = float(np.sum(sample_weights * (mixed - target) ** 2)) / total
    return {"errors": errors, "best_index": best_index, "used": used, "weights": weights, "score": score}
