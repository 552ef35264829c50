r"""Held-out loss of a boosted model as a function of λ with the tree structure fixed, and its gradient.

Fix every tree's splits. The rows in each leaf are then fixed too, and the boosting recursion
becomes a smooth map of λ = (λ_1 … λ_D): round t computes g, h at the scores F_{t−1}, each
leaf j of the round's tree gets the ridge-like weight

.. math::

    w_j(\lambda) = -\eta\,\frac{G_j}{H_j + \lambda_{k_j}},\qquad G_j = \sum_{i\in j} g_i,\ H_j = \sum_{i\in j} h_i,

and F_t = F_{t−1} + w_{leaf(i)}. Forward-mode differentiation carries ∂F/∂λ (K × n × D) through the
rounds: ∂w_j/∂λ_m = −η [∂G_j/∂λ_m (H_j+λ_{k_j}) − G_j (∂H_j/∂λ_m + [m = k_j])]/(H_j+λ_{k_j})²,
with ∂g/∂λ = (∂g/∂F) ∂F/∂λ (squared loss: 1; logistic: p(1−p); softmax: the softmax Jacobian) and
likewise ∂h/∂λ. The held-out loss L(F_val) then has ∂L/∂λ = Σ_i ∂L/∂F_i · ∂F_i/∂λ. This is the
hypergradient of :class:`lamina.trees.tuning.HypergradientTuner` (the splits themselves move
with λ in a refit; the gradient ignores that, the tuner's line search does not).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lamina.trees.boosting import EPS, BoostSpec, Ensemble, Loss, gradients, loss_value, softmax


def _derivatives(loss: Loss, F: np.ndarray, dF: np.ndarray):
    """(∂g, ∂h), each (K, n, D), from ∂F (K, n, D) at scores F (K, n)."""
    if loss is Loss.SQUARED:
        return dF, np.zeros_like(dF)
    if loss is Loss.LOGISTIC:
        p = 1.0 / (1.0 + np.exp(-F))
        q = p * (1.0 - p)
        dg = q[..., None] * dF
        dh = np.where((q > EPS)[..., None], (1.0 - 2.0 * p)[..., None] * dg, 0.0)
        return dg, dh
    p = softmax(F)
    dp = p[..., None] * (dF - np.einsum("kn,knd->nd", p, dF)[None])
    q = 2.0 * p * (1.0 - p)
    dh = np.where((q > EPS)[..., None], 2.0 * (1.0 - 2.0 * p)[..., None] * dp, 0.0)
    return dp, dh


def _loss_gradient(loss: Loss, y: np.ndarray, F: np.ndarray) -> np.ndarray:
    """∂(mean held-out loss)/∂F, (K, n)."""
    n = F.shape[1]
    if loss is Loss.SQUARED:
        return 2.0 * (F - y[None, :]) / n
    if loss is Loss.LOGISTIC:
        return (1.0 / (1.0 + np.exp(-F)) - y[None, :]) / n
    return (softmax(F) - y) / n


def _indicator(leaf: np.ndarray, n_nodes: int) -> sp.csr_matrix:
    n = leaf.shape[0]
    return sp.csr_matrix((np.ones(n), (leaf, np.arange(n))), shape=(n_nodes, n))


def replay(ensemble: Ensemble, spec: BoostSpec, lam, leaves_train, y_train, leaves_val, y_val):
    """Held-out loss and its gradient in λ, the structure of ``ensemble`` fixed.

    Parameters
    ----------
    ensemble : Ensemble
        Trees fitted on the training rows (their splits are kept, their leaf values recomputed).
    spec : BoostSpec
    lam : array (max_depth,)
        λ_1 … λ_D at which to evaluate.
    leaves_train, leaves_val : int arrays (n_train, n_trees), (n_val, n_trees)
        ``ensemble.apply`` of the training and held-out rows.
    y_train, y_val : targets as given to :func:`lamina.trees.boosting.boost`.

    Returns
    -------
    value : float
        Mean held-out loss (:func:`lamina.trees.boosting.loss_value`).
    grad : ndarray (max_depth,)
        ∂value/∂λ.
    F_val : ndarray (K, n_val)
        Held-out scores (equal to ``ensemble.raw_predict`` at the λ the trees were fitted with).
    """
    lam = np.asarray(lam, dtype=np.float64)
    n_depths, K = lam.shape[0], ensemble.base.shape[0]
    F = np.zeros((K, leaves_train.shape[0])) + ensemble.base[:, None]
    F_val = np.zeros((K, leaves_val.shape[0])) + ensemble.base[:, None]
    dF = np.zeros(F.shape + (n_depths,))
    dF_val = np.zeros(F_val.shape + (n_depths,))
    depth_index = np.maximum(ensemble.depth, 1) - 1                 # a root leaf uses λ_1
    eta = spec.learning_rate
    for start in range(0, ensemble.n_trees, K):
        g, h = gradients(spec.loss, y_train, F)
        dg, dh = _derivatives(spec.loss, F, dF)
        for k in range(K):
            t = start + k
            nodes = slice(ensemble.offsets[t], ensemble.offsets[t + 1])
            n_nodes = ensemble.offsets[t + 1] - ensemble.offsets[t]
            M = _indicator(leaves_train[:, t], n_nodes)
            G, H = M @ g[k], M @ h[k]
            dG, dH = M @ dg[k], M @ dh[k]
            index = depth_index[nodes]
            L = H + lam[index]
            w = -eta * G / np.where(L > 0, L, 1.0)
            onehot = np.zeros((n_nodes, n_depths))
            onehot[np.arange(n_nodes), index] = 1.0
            dw = -eta * (dG * L[:, None] - G[:, None] * (dH + onehot)) / np.where(L > 0, L * L, 1.0)[:, None]
            F[k] += w[leaves_train[:, t]]
            dF[k] += dw[leaves_train[:, t]]
            F_val[k] += w[leaves_val[:, t]]
            dF_val[k] += dw[leaves_val[:, t]]
    value = loss_value(spec.loss, y_val, F_val)
    grad = np.einsum("kn,knd->d", _loss_gradient(spec.loss, y_val, F_val), dF_val)
    return value, grad, F_val
