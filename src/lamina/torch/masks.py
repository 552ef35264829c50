"""Exact zeros at a target sparsity: the projection that ends the regularized phase of
:mod:`lamina.torch.sparsity`, and the mask that keeps pruned weights at zero while the rest train.

The projection keeps K = round((1 − ρ) P) of the P regularized weights, each group its largest
magnitudes in proportion to its current nonzeros (the allocation training found); the mask
callback zeroes the pruned weights' gradients and re-applies the mask after every epoch, so the
zeros are exact whatever the optimizer.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lamina.torch.penalty import Regularizer


@torch.no_grad()
def group_nonzeros(regularizer: Regularizer) -> torch.Tensor:
    """Number of nonzero weights per regularized group, a 1-D tensor on the device (no sync)."""
    return torch.stack([sum(torch.count_nonzero(p) for p in g.params) for g in regularizer.reg_groups])


@torch.no_grad()
def project_to_target(regularizer: Regularizer, target: float, grow_scores=None) -> list[torch.Tensor]:
    """Keep K = round((1 − ρ) P) weights: per group its k_g largest magnitudes, k_g proportional
    to the group's current nonzeros (largest remainders). Zeroes the rest in place and returns
    one boolean mask per parameter (True = kept), in the order of the groups' params.

    When fewer than K weights are nonzero, all are kept and the missing ones are grown where
    ``grow_scores`` (one tensor per parameter, e.g. |∂loss/∂w|, as in RigL) is largest among
    the zeros; they start at 0 and train during the masked fine-tuning."""
    groups = regularizer.reg_groups
    nonzeros = group_nonzeros(regularizer).cpu().numpy().astype(np.int64)
    sizes = np.array([g.numel for g in groups], dtype=np.int64)
    keep = int(round((1.0 - target) * sizes.sum()))
    if nonzeros.sum() <= keep:
        counts = nonzeros
    else:
        share = keep * nonzeros / nonzeros.sum()
        counts = np.floor(share).astype(np.int64)
        order = np.argsort(-(share - counts), kind="stable")
        counts[order[:keep - counts.sum()]] += 1
    masks = []
    for g, k in zip(groups, counts):
        flat = torch.cat([p.detach().abs().flatten() for p in g.params])
        kept = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
        if k > 0:
            kept[torch.topk(flat, int(k), sorted=False).indices] = True
        offset = 0
        for p in g.params:
            mask = kept[offset:offset + p.numel()].view_as(p)
            p.mul_(mask.to(p.dtype))
            masks.append(mask)
            offset += p.numel()
    missing = keep - int(sum(int(m.sum()) for m in masks))
    if missing > 0 and grow_scores is not None:
        scores = torch.cat([torch.where(m, torch.full_like(s, -1.0), s.abs()).flatten()
                            for m, s in zip(masks, grow_scores)])
        grown = torch.zeros_like(scores, dtype=torch.bool)
        grown[torch.topk(scores, missing, sorted=False).indices] = True
        offset = 0
        for i, m in enumerate(masks):
            masks[i] = m | grown[offset:offset + m.numel()].view_as(m)
            offset += m.numel()
    return masks


def loss_gradients(model: nn.Module, regularizer: Regularizer, likelihood, data) -> list[torch.Tensor]:
    """|∂ mean NLL / ∂w| on ``data`` (eval mode) for every regularized tensor, grads left cleared."""
    X, y = data
    was_training = model.training
    model.eval()
    params = [p for g in regularizer.reg_groups for p in g.params]
    try:
        grads = torch.autograd.grad(likelihood.nll(model(X), y), params, allow_unused=True)
    finally:
        model.train(was_training)
    return [torch.zeros_like(p) if gr is None else gr.detach().abs() for p, gr in zip(params, grads)]


class MaskCallback:
    """Fit callback: pruned weights get zero gradients (so Adam/SGD never move them) and the mask
    is re-applied after every epoch (exact zeros whatever the optimizer)."""

    def __init__(self, params, masks):
        self.pairs = list(zip(params, masks))

    def on_after_backward(self):
        for p, mask in self.pairs:
            if p.grad is not None:
                p.grad.mul_(mask.to(p.grad.dtype))

    @torch.no_grad()
    def on_epoch_end(self, epoch, optimizer):
        for p, mask in self.pairs:
            p.mul_(mask.to(p.dtype))
        return False
