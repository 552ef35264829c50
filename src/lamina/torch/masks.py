"""Exact zeros at a target sparsity: the projection that ends the regularized phase of
:mod:`lamina.torch.sparsity`, and the mask that keeps pruned weights at zero while the rest train.

The projection keeps K = round((1 − ρ) P) of the P regularized weights, each group its largest
magnitudes in proportion to its current nonzeros (the allocation training found; at least one
weight per group); the mask
callback zeroes the pruned weights' gradients and re-applies the mask after every optimizer step,
so the zeros are exact whatever the optimizer and its state.
"""
from __future__ import annotations

import operator
from functools import reduce

import numpy as np
import torch
from torch import nn

from lamina.torch.modes import in_mode
from lamina.torch.penalty import Regularizer


@torch.no_grad()
def group_nonzeros(regularizer: Regularizer) -> torch.Tensor:
    """Number of nonzero weights per regularized group, a 1-D tensor on the device (no sync)."""
    # (reduce, not sum: sum would start from the int 0, one more tensor op per group at every step)
    return torch.stack([reduce(operator.add, (torch.count_nonzero(p) for p in g.params)) for g in regularizer.reg_groups])


def allocate(keep: int, nonzeros: np.ndarray) -> np.ndarray:
    """Weights kept per group: k_g ∝ the group's nonzeros (largest remainders), all of them where
    fewer than ``keep`` are nonzero — and at least one in every group while ``keep`` allows: a
    layer left with no weight cuts the network (a ReLU chain then predicts a constant), which L1
    or L0 on a tiny network at 95–99 % did."""
    nonzeros = np.asarray(nonzeros, dtype=np.int64)
    if nonzeros.sum() <= keep:
        counts = nonzeros.copy()
    else:
        share = keep * nonzeros / nonzeros.sum()
        counts = np.floor(share).astype(np.int64)
        order = np.argsort(-(share - counts), kind="stable")
        counts[order[:keep - counts.sum()]] += 1
    if keep >= counts.size:
        for empty in np.flatnonzero(counts == 0):
            if counts.sum() >= keep:          # the budget is spent: take one from the largest group
                counts[np.argmax(counts)] -= 1
            counts[empty] = 1
    return counts


@torch.no_grad()
def project_to_target(regularizer: Regularizer, target: float, grow_scores=None) -> list[torch.Tensor]:
    """Keep K = round((1 − ρ) P) weights: per group its k_g largest magnitudes, k_g from
    :func:`allocate` (proportional to the group's current nonzeros, at least one per group).
    Zeroes the rest in place and returns one boolean mask per parameter (True = kept), in the
    order of the groups' params.

    Weights kept beyond a group's nonzeros, and the missing ones when fewer than K weights are
    nonzero, are grown where ``grow_scores`` (one tensor per parameter, e.g. |∂loss/∂w|, as in
    RigL) is largest among the zeros; they start at 0 and train during the masked fine-tuning."""
    groups = regularizer.reg_groups
    nonzeros = group_nonzeros(regularizer).cpu().numpy().astype(np.int64)
    sizes = np.array([g.numel for g in groups], dtype=np.int64)
    keep = int(round((1.0 - target) * sizes.sum()))
    counts = allocate(keep, nonzeros)
    masks, start = [], 0
    for g, k, alive in zip(groups, counts, nonzeros):
        flat = torch.cat([p.detach().abs().flatten() for p in g.params])
        kept = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
        if k > 0:
            kept[torch.topk(flat, int(min(k, alive)), sorted=False).indices] = True
        if k > alive:   # the floor: grow where the loss gradient is largest (any zero without scores)
            score = (torch.zeros_like(flat) if grow_scores is None else
                     torch.cat([s.detach().abs().flatten() for s in grow_scores[start:start + len(g.params)]]))
            kept = _grow(kept, score, k - alive)
        offset = 0
        for p in g.params:
            mask = kept[offset:offset + p.numel()].view_as(p)
            p.mul_(mask.to(p.dtype))
            masks.append(mask)
            offset += p.numel()
        start += len(g.params)
    missing = keep - int(sum(int(m.sum()) for m in masks))
    if missing > 0 and grow_scores is not None:
        grown = _grow(torch.cat([m.flatten() for m in masks]),
                      torch.cat([s.abs().flatten() for s in grow_scores]), missing)
        offset = 0
        for i, m in enumerate(masks):
            masks[i] = grown[offset:offset + m.numel()].view_as(m)
            offset += m.numel()
    return masks


def _grow(kept: torch.Tensor, scores: torch.Tensor, n: int) -> torch.Tensor:
    """``kept`` (flat, boolean) with the ``n`` entries of largest score among those not kept added
    (scores ≥ 0: |∂loss/∂w|)."""
    free = torch.where(kept, torch.full_like(scores, -1.0), scores)
    grown = kept.clone()
    grown[torch.topk(free, int(n), sorted=False).indices] = True
    return grown


def loss_gradients(model: nn.Module, regularizer: Regularizer, likelihood, data) -> list[torch.Tensor]:
    """|∂ mean NLL / ∂w| on ``data`` (eval mode) for every regularized tensor, grads left cleared."""
    X, y = data
    params = [p for g in regularizer.reg_groups for p in g.params]
    with in_mode(model, training=False):
        grads = torch.autograd.grad(likelihood.nll(model(X), y), params, allow_unused=True)
    return [torch.zeros_like(p) if gr is None else gr.detach().abs() for p, gr in zip(params, grads)]


class MaskCallback:
    """Fit callback: pruned weights get zero gradients (so a fresh Adam/SGD never moves them) and
    the mask is re-applied after every optimizer step and every epoch (exact zeros whatever the
    optimizer: one that carries moments from before the mask, Adam's or SGD's momentum, moves
    pruned weights with zero gradients — all of them nonzero between the steps of an epoch)."""

    def __init__(self, params, masks):
        self.pairs = list(zip(params, masks))

    def on_after_backward(self):
        for p, mask in self.pairs:
            if p.grad is not None:
                p.grad.mul_(mask.to(p.grad.dtype))

    @torch.no_grad()
    def on_step_end(self):
        for p, mask in self.pairs:
            p.mul_(mask.to(p.dtype))

    def on_epoch_end(self, epoch, optimizer):
        self.on_step_end()
        return False


def projection(model, regularizer: Regularizer, likelihood, criterion, target: float) -> MaskCallback:
    """Project to ``target`` in place (:func:`~lamina.torch.masks.project_to_target`: per layer its largest
    magnitudes, the allocation kept; zeros grown where the loss gradient on ``criterion`` is largest if too
    few weights are alive or a layer has none) and return the mask's callback."""
    grow = None
    alive = group_nonzeros(regularizer)
    if int(alive.sum()) < round((1.0 - target) * sum(g.numel for g in regularizer.reg_groups)) \
            or not bool(alive.all()):
        grow = loss_gradients(model, regularizer, likelihood, criterion)
    masks = project_to_target(regularizer, target, grow)
    return MaskCallback([p for g in regularizer.reg_groups for p in g.params], masks)
