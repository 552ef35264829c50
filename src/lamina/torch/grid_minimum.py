"""The relative criterion's two minima from one grid of forward passes (:func:`joint_scale_search`;
:mod:`lamina.torch.scale_search`, "Relative to where training is heading"): the minimum of a smooth
function of one variable sampled on an even grid, refined by successive parabolic interpolation."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lamina.torch.likelihoods import Classification
from lamina.torch.penalty import Regularizer
from lamina.torch.scale_lines import EVAL_BATCH, moved_weights, outputs_in_batches

RELATIVE_RANGE = 1.0   # log c range of both searches of the relative criterion
GRID_POINTS = 9        # their common grid of log c


class JointMinima(NamedTuple):
    """What :func:`joint_scale_search` reads off its grid: the two minima (log c*_held, log c_eq), the
    L2 term's share of the training objective's curvature at c_eq (:func:`penalty_share`), and the
    held-out NLL's slope in log c just below c = 1 from its per-sample differences between c = 1 and the
    grid's next smaller scale, with its standard error (:func:`paired_slope`; 0, 0 where the likelihood
    has no per-sample NLL)."""
    held: float
    heading: float
    penalty_share: float
    held_slope: float
    held_slope_se: float


def refined_minimum(loss, grid: np.ndarray, values: np.ndarray) -> float:
    """The minimum of a smooth ``loss`` sampled on an even ``grid``: the parabola's vertex through
    the lowest sample and its neighbours, ``loss`` evaluated there, and the vertex again through the
    lowest of all the samples and its nearest neighbours. Where the lowest sample is an end of the
    grid, the parabola through the last three samples says whether the minimum lies inside the
    last interval (refined as above) or beyond the end (that end is returned: the caller reads it
    as pinned)."""
    i = int(np.argmin(values))
    centre = min(max(i, 1), len(grid) - 2)
    guess = parabola_vertex(grid[centre - 1:centre + 2], values[centre - 1:centre + 2])
    if guess is None or not grid[0] < guess < grid[-1] or (i != centre and (guess - grid[centre]) * (i - centre) <= 0):
        return float(grid[i])   # collinear, beyond the grid, or on the wrong side of the lowest end sample
    xs, fs = np.append(grid, guess), np.append(values, loss(float(guess)))
    order = np.argsort(xs)
    xs, fs = xs[order], fs[order]
    j = int(np.argmin(fs))
    if j in (0, len(xs) - 1):
        return float(xs[j])
    better = parabola_vertex(xs[j - 1:j + 2], fs[j - 1:j + 2])
    return float(xs[j] if better is None else np.clip(better, xs[j - 1], xs[j + 1]))


def penalty_share(grid: np.ndarray, values: np.ndarray, log_c: float, penalty: float) -> float:
    """r = P''(u) / f''(u) at u = log c: the L2 term's share of the curvature, in u, of the penalized
    training objective f(u) = NLL(W moved to c = eᵘ) + e^{2u}·``penalty`` sampled on the even ``grid``
    (``values``), P(u) = e^{2u}·``penalty``: both second derivatives by the second difference at the
    grid point nearest u. 1 where f'' is not above P'' (a flat or concave data term along the line).

    Why: at c_eq, f'(u) = 0; raising log δ by v moves c_eq by du/dv = −r/2 (differentiate
    f'(u) = NLL'(u) + 2e^{2u}δS = 0 in log δ), so the controller's δ ← δ·c*^(−2κ), which assumes
    du/dv = −½ (a penalty-dominated line, r = 1), under-reacts by 1/r where the data's curvature
    dominates the line's (:class:`~lamina.torch.scale_search.HeldoutScale`, "The step's gain")."""
    i = int(np.clip(np.argmin(np.abs(grid - log_c)), 1, len(grid) - 2))
    second = lambda f: float(f[i - 1] - 2.0 * f[i] + f[i + 1])   # noqa: E731 (both by the same difference)
    curvature, pen = second(values), second(float(penalty) * np.exp(2.0 * np.asarray(grid, dtype=np.float64)))
    return pen / curvature if curvature > pen else 1.0


def paired_slope(below: torch.Tensor | None, above: torch.Tensor | None, step: float) -> tuple[float, float]:
    """(mean, standard error) over the held-out samples of (ℓᵢ(above) − ℓᵢ(below)) / ``step``: the held-out
    NLL's slope in log c between two scales, paired per sample (0, 0 where either is missing). Between
    c = 1 and the next smaller scale, a slope > 0 says the held-out samples prefer the smaller weights;
    a difference at two fixed scales carries none of the optimism of a loss read at its own minimum,
    and unlike a central difference it is not raised by the loss's steeper rise toward larger weights
    (on a deep ELU MLP whose held-out minimum sat at c = 1, the central difference read 1.6 s.e.)."""
    if below is None or above is None or below.numel() < 2:
        return 0.0, 0.0
    d = (above - below).double() / step
    return float(d.mean()), float(d.std() / math.sqrt(d.numel()))


def parabola_vertex(x: np.ndarray, f: np.ndarray) -> float | None:
    """The vertex of the parabola through three points x0 < x1 < x2 with f1 ≤ f0, f2 (it lies in
    [x0, x2]); None where they are collinear."""
    a, b = (x[1] - x[0]) * (f[1] - f[2]), (x[1] - x[2]) * (f[1] - f[0])
    denominator = a - b
    if not abs(denominator) > 0:
        return None
    return float(x[1] - 0.5 * ((x[1] - x[0]) * a - (x[1] - x[2]) * b) / denominator)


@torch.no_grad()
def joint_scale_search(model: nn.Module, regularizer: Regularizer, likelihood, held, train, penalty, *,
                       log_range: float = RELATIVE_RANGE, points: int = GRID_POINTS,
                       batch_size: int = EVAL_BATCH, at_one: torch.Tensor | None = None,
                       line=None) -> JointMinima:
    """(log c*_held, log c_eq, …: :class:`JointMinima`) of the relative criterion
    (:mod:`lamina.torch.scale_search`), both in one pass: every
    regularized weight moved to μ_g + c (W_g − μ_g) for ``points`` values of log c evenly over
    [−log_range, log_range], each one forward pass of the held-out and training rows together
    (``held``, ``train``: (X, y)) — the held-out NLL and the training NLL + c²·``penalty`` (the L2
    term at c = 1, :meth:`~lamina.torch.penalty.Regularizer.l2_term`) at each; then each minimum by one step of successive parabolic interpolation
    (:func:`parabola_vertex` through the lowest sample and its neighbours, one more evaluation
    there, and the vertex again through the three best). Eleven forward passes for both where two
    Brent searches (:func:`~lamina.torch.scale_search.weight_scale_search`) took 15–25; agrees with Brent's to about 0.01 in
    log c. The model is left unchanged; evaluated in ``eval`` mode.
    ``at_one`` (optional): the outputs of the held-out and training rows, in that order, at the
    current weights (c = 1, in ``eval`` mode), reused for the grid's middle point.
    ``line`` (optional, a bool per regularized group): move only these groups (the others keep
    c = 1; :class:`~lamina.torch.scale_search.HeldoutScale`'s ``line``); ``penalty`` is then one L2 term per group
    (δ_g ‖W_g − μ_g‖²/(2N)), of which only the moved ones scale with c². The per-sample held-out NLL
    (softmax cross-entropy; none for a likelihood with ``nll`` only) at c = 1 and at the grid's next
    smaller scale gives :class:`JointMinima`'s paired slope, from the same passes."""
    (X_held, y_held), (X_train, y_train) = held, train
    n_held, n_groups = int(X_held.shape[0]), len(regularizer.reg_groups)
    moved = np.ones(n_groups, dtype=bool) if line is None else np.asarray(line, dtype=bool)
    if np.ndim(penalty) == 0 and line is not None:
        raise ValueError("line: the penalty must be given per group (which of its terms scale with c²)")
    terms = np.asarray(penalty, dtype=np.float64)
    fixed, scaled = (0.0, float(terms)) if terms.ndim == 0 else (float(terms[~moved].sum()), float(terms[moved].sum()))
    exponents = moved.astype(np.float64)   # log c_g = log c for the moved groups, 0 for the others

    def outputs(log_c: float, X: torch.Tensor) -> torch.Tensor:
        move(log_c * exponents)
        return outputs_in_batches(model, X, batch_size)

    def held_loss(log_c: float, out=None) -> float:
        out = outputs(log_c, X_held) if out is None else out
        return float(likelihood.nll(out, y_held))

    def train_loss(log_c: float, out=None) -> float:
        out = outputs(log_c, X_train) if out is None else out
        return float(likelihood.nll(out, y_train)) + fixed + scaled * math.exp(2.0 * log_c)

    grid = np.linspace(-log_range, log_range, points)
    one = points // 2 if points % 2 else None   # (c = 1 is a grid point where points is odd)
    slope_at = () if one is None or not isinstance(likelihood, Classification) else (one - 1, one)
    both = torch.cat([X_held, X_train])
    with moved_weights(model, regularizer) as move:
        samples_held, samples_train, per_sample = [], [], {}
        for i, log_c in enumerate(grid):
            out = at_one if log_c == 0 and at_one is not None else outputs(float(log_c), both)
            samples_held.append(held_loss(float(log_c), out[:n_held]))
            samples_train.append(train_loss(float(log_c), out[n_held:]))
            if i in slope_at:   # the held-out slope's two scales: per-sample NLL
                per_sample[i] = F.cross_entropy(out[:n_held], y_held, reduction="none")
        samples_train = np.array(samples_train)
        held = refined_minimum(held_loss, grid, np.array(samples_held))
        heading = refined_minimum(train_loss, grid, samples_train)
    slope = paired_slope(per_sample[one - 1], per_sample[one], float(grid[one] - grid[one - 1])) if slope_at \
        else (0.0, 0.0)
    return JointMinima(held, heading, penalty_share(grid, samples_train, heading, scaled), *slope)
