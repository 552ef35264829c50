"""Regularized weights moved along a line of scales, W_g → μ_g + c_g (W_g − μ_g), and the model
evaluated there: the searches of :mod:`lamina.torch.scale_search` and :mod:`lamina.torch.grid_minimum`."""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch
from torch import nn

from lamina.torch.modes import in_mode
from lamina.torch.penalty import Regularizer

EVAL_BATCH = 4096      # rows per forward pass of the searches (memory, not results)


@contextmanager
def moved_weights(model: nn.Module, regularizer: Regularizer):
    """Yields ``move(log_scales)``, which sets every regularized weight of group g to
    μ_g + c_g (W_g − μ_g), c_g = exp(log_scales[g]) (μ_g its prior mean, 0 by default); the model
    in ``eval`` mode meanwhile, its weights and modes restored on exit."""
    weights = [(g_index, p, mu) for g_index, (g, means) in enumerate(zip(regularizer.reg_groups, regularizer.means))
               for p, mu in zip(g.params, means)]
    params = [p for _, p, _ in weights]
    saved = [p.detach().clone() for p in params]
    # W = μ + c (W₀ − μ): the offsets once, then three fused (foreach) operations per move (on small
    # networks a search's per-tensor copies had been a fifth of its time)
    offsets = [w if mu is None else w - mu for (_, _, mu), w in zip(weights, saved)]
    anchored = [(p, mu) for _, p, mu in weights if mu is not None]

    def move(log_scales) -> None:
        if not params:
            return
        scaled = torch._foreach_mul(offsets, [math.exp(float(log_scales[g_index])) for g_index, _, _ in weights])
        torch._foreach_copy_(params, scaled)
        if anchored:
            torch._foreach_add_([p for p, _ in anchored], [mu for _, mu in anchored])

    with in_mode(model, training=False):
        try:
            yield move
        finally:
            if params:
                torch._foreach_copy_(params, saved)


def outputs_in_batches(model: nn.Module, X: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``model(X)`` in batches of ``batch_size`` rows."""
    return torch.cat([model(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)])
