"""Rules that turn one λ into a λ per tree depth: λ_k = λ · s_k, k = 1 … max_depth.

* ``"uniform"``: s_k = 1 (xgboost's single λ);
* ``"growing"``: s_k = c^(k−1) — deeper leaves, fitted on fewer rows, are shrunk harder
  (c < 1 makes it shrink the shallow leaves harder instead);
* ``"node_count"``: s_k = n_k / n_1, with n_k the number of nodes at depth k — in the trees of
  a fitted ensemble when one is given, else in a full binary tree (n_k = 2^k, i.e. growing with
  c = 2). Like lamina's "per element" scaling of a group by its size, a depth holding many
  nodes gets a proportionally larger λ.

Example
-------
>>> depth_lambdas("growing", 1.0, max_depth=3, factor=10.0)
array([  1.,  10., 100.])
"""
from __future__ import annotations

from enum import Enum

import numpy as np

from lamina._validation import check_positive_float, check_positive_int, parse_choice


class DepthRule(str, Enum):
    """Rules of a λ per depth."""

    UNIFORM = "uniform"
    GROWING = "growing"
    NODE_COUNT = "node_count"


def depth_lambdas(rule, lam: float, max_depth: int, factor: float = 2.0, ensemble=None) -> np.ndarray:
    """λ_1 … λ_D of a rule.

    Parameters
    ----------
    rule : {"uniform", "growing", "node_count"}
    lam : float
        λ_1 ≥ 0, the λ of the leaves at depth 1.
    max_depth : int
    factor : float
        c > 0 of "growing".
    ensemble : lamina.trees.boosting.Ensemble, optional
        Trees whose node counts per depth "node_count" uses.

    Returns
    -------
    lam : ndarray (max_depth,)
    """
    rule = parse_choice(DepthRule, rule, "rule")
    max_depth = check_positive_int(max_depth, "max_depth")
    lam = check_positive_float(lam, "lam", strict=False)
    depths = np.arange(1, max_depth + 1)
    if rule is DepthRule.UNIFORM:
        return np.full(max_depth, lam)
    if rule is DepthRule.GROWING:
        return lam * check_positive_float(factor, "factor") ** (depths - 1.0)
    if ensemble is None:
        counts = 2.0 ** depths
    else:
        counts = np.bincount(ensemble.depth, minlength=max_depth + 1)[1:max_depth + 1].astype(float)
        counts = np.maximum(counts, 1.0)            # an empty depth keeps the scale of depth 1
    return lam * counts / counts[0]
