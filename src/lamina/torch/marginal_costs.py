"""The per-layer marginal cost of pruning that sets the sparsity tuner's ratios (:mod:`lamina.torch.sparsity`):
at the best allocation of a fixed number of weights, removing one more costs the same loss in every layer.

*Layer collapse.* A probe reads the cost of a small step; it cannot see that a layer is on its way to
no weights at all, after which the network's output no longer depends on its input (the pruning
literature's layer collapse, Tanaka et al. 2020). On the benchmark's BatchNorm CNN at 98 % the
probes rated the second convolution and the head cheap until both reached zero density at epoch 130
of 300 (seed 0: training loss back at chance, test accuracy 0.55 at the end). So a layer whose
density has fallen below ``COLLAPSE_SHARE`` = 0.3 of the overall density is read as the costliest
(:func:`guard_collapse`: its λ falls by the largest step): BatchNorm CNN at 300 epochs, six seeds,
L1 0.972 / 0.951 / 0.784 → 0.974 / 0.959 / 0.849 at 90 / 95 / 98 % (the worst seed 0.554 → 0.808),
L0 at 98 % 0.819 → 0.846; the MLPs, where no layer falls that far, unchanged (benchmarks/RESULTS.md,
Issue 15, "Layer collapse").
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lamina.torch.modes import in_mode
from lamina.torch.penalty import Regularizer

COLLAPSE_SHARE = 0.3   # a layer below this share of the overall density is read as the costliest


@torch.no_grad()
def marginal_costs(model: nn.Module, regularizer: Regularizer, likelihood, data, probe: float) -> np.ndarray | None:
    """Loss increase per removed weight when the smallest ``probe`` share of each group's nonzero
    weights is zeroed (one group at a time), read on ``data`` in eval mode; the model is left
    unchanged. A group without nonzeros gets twice the largest cost (its λ should fall).
    None when no group can be probed."""
    X, y = data
    with in_mode(model, training=False):
        base = float(likelihood.nll(model(X), y))
        floor = 1e-6 * max(abs(base), 1e-3)
        costs = []
        for g in regularizer.reg_groups:
            flat = torch.cat([p.detach().abs().flatten() for p in g.params])
            alive = flat[flat > 0]
            if alive.numel() == 0:
                costs.append(np.nan)
                continue
            m = max(1, int(probe * alive.numel()))
            cut = torch.kthvalue(alive, m).values
            saved = [p.detach().clone() for p in g.params]
            for p in g.params:
                p.masked_fill_(p.abs() <= cut, 0.0)
            removed = sum(int(((s != 0) & (p == 0)).sum()) for s, p in zip(saved, g.params))
            loss = float(likelihood.nll(model(X), y))
            for p, s in zip(g.params, saved):
                p.copy_(s)
            costs.append(max(loss - base, floor) / max(removed, 1))
    costs = np.asarray(costs, dtype=np.float64)
    if np.all(np.isnan(costs)):
        return None
    costs[np.isnan(costs)] = 2.0 * np.nanmax(costs)
    return costs


def guard_collapse(costs: np.ndarray, nonzeros, sizes, share: float | None = None) -> np.ndarray:
    """``costs`` with every group whose density (``nonzeros`` / ``sizes``, per group) is below ``share``
    (default ``COLLAPSE_SHARE``) × the overall density set to four times the largest cost, so that the
    ratio update lowers its λ by the largest step (module doc)."""
    share = COLLAPSE_SHARE if share is None else share
    nonzeros, sizes = np.asarray(nonzeros, dtype=np.float64), np.asarray(sizes, dtype=np.float64)
    starving = nonzeros / sizes < share * nonzeros.sum() / sizes.sum()
    if not starving.any():
        return costs
    guarded = np.array(costs, dtype=np.float64)
    guarded[starving] = 4.0 * guarded.max()
    return guarded
