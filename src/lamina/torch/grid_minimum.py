"""The minimum of a smooth function of one variable sampled on an even grid, refined by successive
parabolic interpolation: the held-out and training minima of the relative criterion
(:func:`lamina.torch.scale_search.joint_scale_search`) from one grid of forward passes."""
from __future__ import annotations

import numpy as np


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


def parabola_vertex(x: np.ndarray, f: np.ndarray) -> float | None:
    """The vertex of the parabola through three points x0 < x1 < x2 with f1 ≤ f0, f2 (it lies in
    [x0, x2]); None where they are collinear."""
    a, b = (x[1] - x[0]) * (f[1] - f[2]), (x[1] - x[2]) * (f[1] - f[0])
    denominator = a - b
    if not abs(denominator) > 0:
        return None
    return float(x[1] - 0.5 * ((x[1] - x[0]) * a - (x[1] - x[2]) * b) / denominator)
