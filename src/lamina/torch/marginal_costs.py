"""The per-layer marginal cost of pruning that sets the sparsity tuner's ratios (:mod:`lamina.torch.sparsity`):
at the best allocation of a fixed number of weights, removing one more costs the same loss in every layer."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lamina.torch.modes import in_mode
from lamina.torch.penalty import Regularizer


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
