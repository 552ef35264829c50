r"""Gradient boosting of depthwise histogram trees with a λ per tree depth.

Round t adds one tree per output (K = 1 for squared and logistic loss, K classes for softmax),
grown on the gradients g_i and hessians h_i of the loss at the current scores F. With a λ per
depth, the regularized objective of a tree with leaves j at depths k_j is

.. math::

    \sum_j \Big[G_j w_j + \tfrac12 (H_j + \lambda_{k_j}) w_j^2\Big] + \tfrac12\gamma T,

(G_j, H_j: sums of g and h in leaf j; T leaves), minimized leaf by leaf at
w_j = −G_j/(H_j + λ_{k_j}). Splitting a node at depth d into two leaves at depth d + 1 changes the
loss by (xgboost's ``loss_chg``)

.. math::

    \Delta = \frac{G_L^2}{H_L+\lambda_{d+1}} + \frac{G_R^2}{H_R+\lambda_{d+1}} - \frac{G^2}{H+\lambda_d}.

As in xgboost's exact method, a tree is first grown with every split of largest Δ > 0 (beyond
10⁻⁶) whose children both hold rows and have H ≥ ``min_child_weight``, then pruned bottom-up: a
split whose two children are leaves and whose Δ < γ becomes a leaf (value −G/(H + λ_d) at its
depth d), and its parent is tried in turn. A split of two leaves lowers the first sum by ½Δ
and adds ½γ: it is kept when Δ ≥ γ. γ is xgboost's ``gamma`` (``min_split_loss``), compared with
the un-halved Δ after the tree is grown, so a weak split above strong ones (XOR) stays.

``lam`` holds λ_1 … λ_D (D = ``max_depth``), one per depth at which leaves can sit; a tree that
is a single leaf (depth 0) uses λ_0 := λ_1. With one λ for every depth this is xgboost's
objective, split rule and pruning. The tree's output is η w (η the learning rate).

Losses (as xgboost's ``reg:squarederror``, ``binary:logistic``, ``multi:softprob``):
squared g = F − y, h = 1; logistic g = p − y, h = p(1 − p); softmax g_k = p_k − y_k,
h_k = 2 p_k (1 − p_k) (xgboost's diagonal bound).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from lamina.trees import _kernels
from lamina.trees._binning import split_points

#: smallest hessian (xgboost's)
EPS = 1e-16


class Loss(str, Enum):
    """Training losses."""

    SQUARED = "squared"
    LOGISTIC = "logistic"
    SOFTMAX = "softmax"


def check_depth_lambdas(lam, max_depth: int, name: str = "lam") -> np.ndarray:
    """λ per depth as an array of ``max_depth`` finite values ≥ 0 (a scalar is repeated)."""
    refused = TypeError(f"{name} must be a float or one value per depth, got {lam!r}")
    if lam is None:   # np.asarray would read it as NaN
        raise refused
    try:
        values = np.asarray(lam, dtype=np.float64)
    except (TypeError, ValueError):
        raise refused from None
    if values.ndim == 0:
        values = np.full(max_depth, float(values))
    if values.ndim != 1 or values.shape[0] != max_depth:
        raise ValueError(f"{name} must be a float or have one value per depth (max_depth = {max_depth}), "
                         f"got shape {np.shape(lam)}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or inf; expected finite values >= 0")
    if np.any(values < 0):
        raise ValueError(f"{name} must be >= 0, got negative value(s) at depth(s) "
                         f"{(np.flatnonzero(values < 0) + 1).tolist()}")
    return values


def lam_at_depth(lam: np.ndarray) -> np.ndarray:
    """(λ_0 = λ_1, λ_1, …, λ_D): the λ of a leaf at each depth 0 … D."""
    return np.concatenate([lam[:1], lam])


def gradients(loss: Loss, y: np.ndarray, F: np.ndarray):
    """(g, h), each (K, n), of the loss at the scores F (K, n); y is (n,) or one-hot (K, n)."""
    if loss is Loss.SQUARED:
        return F - y[None, :], np.ones_like(F)
    if loss is Loss.LOGISTIC:
        p = 1.0 / (1.0 + np.exp(-F))
        return p - y[None, :], np.maximum(p * (1.0 - p), EPS)
    p = softmax(F)
    return p - y, np.maximum(2.0 * p * (1.0 - p), EPS)


def softmax(F: np.ndarray) -> np.ndarray:
    """Column-wise softmax of scores (K, n)."""
    z = np.exp(F - F.max(axis=0, keepdims=True))
    return z / z.sum(axis=0, keepdims=True)


def loss_value(loss: Loss, y: np.ndarray, F: np.ndarray) -> float:
    """Mean loss: ½-free squared error (MSE), log-loss, or multinomial log-loss."""
    if loss is Loss.SQUARED:
        return float(np.mean((F[0] - y) ** 2))
    if loss is Loss.LOGISTIC:
        return float(np.mean(np.logaddexp(0.0, F[0]) - y * F[0]))
    shifted = F - F.max(axis=0, keepdims=True)
    return float(np.mean(np.log(np.exp(shifted).sum(axis=0)) - np.sum(y * shifted, axis=0)))


def default_base(loss: Loss, y: np.ndarray) -> np.ndarray:
    """Initial scores (K,): mean of y, log-odds of its mean, or log class frequencies."""
    if loss is Loss.SQUARED:
        return np.array([float(np.mean(y))])
    if loss is Loss.LOGISTIC:
        p = float(np.clip(np.mean(y), 1e-6, 1 - 1e-6))
        return np.array([np.log(p / (1 - p))])
    freq = np.clip(y.mean(axis=1), 1e-6, None)
    return np.log(freq) - np.mean(np.log(freq))


@dataclass(frozen=True)
class BoostSpec:
    """Everything of a boosted model but λ: loss and the xgboost-named settings."""

    loss: Loss
    n_estimators: int
    max_depth: int
    learning_rate: float
    gamma: float = 0.0
    min_child_weight: float = 1.0
    max_bins: int = 256


@dataclass
class Ensemble:
    """The trees of a boosted model as flat node arrays (see :mod:`lamina.trees._kernels`).

    Tree t's nodes are ``offsets[t]:offsets[t+1]`` (child ids local to the tree); it adds to output
    ``tree_class[t]``; ``base`` (K,) are the initial scores.
    """

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: np.ndarray
    cover: np.ndarray
    gain: np.ndarray
    offsets: np.ndarray
    tree_class: np.ndarray
    base: np.ndarray

    @property
    def n_trees(self) -> int:
        return self.offsets.shape[0] - 1

    def raw_predict(self, X32: np.ndarray) -> np.ndarray:
        """Scores (K, n) of float32 rows X32 (n, p)."""
        out = np.zeros((X32.shape[0], self.base.shape[0])) + self.base[None, :]
        _kernels.predict_trees(X32, self.feature, self.threshold, self.left, self.right, self.value,
                               self.offsets, self.tree_class, out)
        return np.ascontiguousarray(out.T)

    def apply(self, X32: np.ndarray) -> np.ndarray:
        """Leaf (node id local to its tree) of every row in every tree, (n, n_trees)."""
        return _kernels.apply_trees(X32, self.feature, self.threshold, self.left, self.right, self.offsets)


def boost(Xb, bins, y, spec: BoostSpec, lam, base=None) -> Ensemble:
    """Fit the trees.

    Parameters
    ----------
    Xb : uint8 array (n, p)
        Bin indices (:func:`lamina.trees._binning.apply_bins`).
    bins : lamina.trees._binning.Bins
        The bins Xb was made with (:func:`lamina.trees._binning.fit_bins`).
    y : array (n,) or one-hot (K, n) for softmax
    spec : BoostSpec
    lam : array (max_depth,)
        λ_1 … λ_D, the λ of leaves at each depth (module docstring).
    base : array (K,), optional
        Initial scores; :func:`default_base` when None.
    """
    loss, max_depth = spec.loss, spec.max_depth
    n_outputs = y.shape[0] if loss is Loss.SOFTMAX else 1
    base = default_base(loss, y) if base is None else np.asarray(base, dtype=np.float64).reshape(n_outputs)
    F = np.zeros((n_outputs, Xb.shape[0])) + base[:, None]
    n_bins = bins.n_bins
    lam_depth = lam_at_depth(np.asarray(lam, dtype=np.float64))
    max_nodes = 2 ** (max_depth + 1) - 1
    trees = []
    for _ in range(spec.n_estimators):
        g, h = gradients(loss, y, F)
        for k in range(n_outputs):
            arrays = tuple(np.empty(max_nodes, np.int32) for _ in range(5)) + (
                np.empty(max_nodes), np.empty(max_nodes, np.int32), np.empty(max_nodes), np.empty(max_nodes))
            Fk = F[k]
            n_nodes = _kernels.grow_tree(Xb, np.ascontiguousarray(g[k]), np.ascontiguousarray(h[k]), n_bins,
                                         lam_depth, spec.gamma, spec.min_child_weight, max_depth,
                                         spec.learning_rate, Fk, *arrays)
            trees.append((k, n_nodes, arrays))
    return _assemble(trees, bins, base)


def _assemble(trees, bins, base) -> Ensemble:
    """The grown trees as one :class:`Ensemble`. A split after bin b with the node's next non-empty
    bin b' gets the threshold t of :func:`lamina.trees._binning.split_points` between upper[b] and
    lower[b'] (their float32 midpoint, or lower[b'] where the midpoint rounds onto upper[b]): every
    training row of the node with bin ≤ b has x ≤ upper[b] < t, every other x ≥ lower[b'] ≥ t, so
    predictions (left when x < t) route the training rows as the fit did."""
    sizes = np.array([n for _, n, _ in trees], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    feature, split_bin, next_bin, left, right, value, depth, gain, cover = (
        np.concatenate([a[i][:n] for _, n, a in trees]) for i in range(9))
    threshold = np.zeros(feature.shape[0], dtype=np.float32)
    for f in range(len(bins.cuts)):
        at = feature == f
        threshold[at] = split_points(bins.upper[f][split_bin[at]], bins.lower[f][next_bin[at]])
    return Ensemble(feature, threshold, left, right, value, depth, cover, gain, offsets,
                    np.array([k for k, _, _ in trees], dtype=np.int64), base)
