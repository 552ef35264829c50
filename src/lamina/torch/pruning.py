"""Magnitude pruning to a target sparsity: the allocations lamina's sparsity tuner is compared with.

Every allocation keeps K = round((1 − ρ) P) of the P regularized weights (those lamina's
:func:`~lamina.torch.discover_groups` regularizes: biases and normalization parameters are
neither counted nor pruned) and keeps, within a layer l, its k_l largest magnitudes. They differ
in the k_l:

* ``"uniform"`` — every layer at the target, k_l = (1 − ρ) P_l (as
  ``torch.nn.utils.prune.l1_unstructured`` per layer, but rounded by largest remainder so that
  the layers' k_l add up to K; ERK's k_l are rounded alike);
* ``"global"`` — one magnitude threshold for all layers
  (``torch.nn.utils.prune.global_unstructured``);
* ``"ERK"`` (Evci et al. 2020, RigL) — density d_l = ε (Σ_i n_i) / (Π_i n_i) over the
  dimensions n_i of the layer's tensor, ε set so that Σ d_l P_l = K, layers whose d_l would
  exceed 1 kept dense and ε solved again;
* ``"LAMP"`` (Lee et al. 2021) — one global threshold on the score
  w_u² / Σ_{v: |w_v| ≥ |w_u|} w_v² (computed within each layer), which is 1 for every layer's
  largest weight, so no layer is emptied while K ≥ the number of layers (below that, which
  layers keep their score-1 weight is a tie; "uniform" and "global" may empty a layer, as
  ``l1_unstructured``/``global_unstructured`` do: 20, 100, 10 weights at 98 % keep 1, 2, 0).

Every regularized tensor is allocated, the first and last layers included (RigL's ImageNet code
keeps the first layer dense by default, ``first_layer_sparsity=0``; LAMP prunes every layer).

:func:`prune_and_finetune` is the pipeline of the benchmark and of the sparsity study: prune a
densely trained model once, then fine-tune with the mask (pruned weights get no gradient and
the mask is re-applied after every step, so they stay exact zeros).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune

from lamina.torch.fit import fit
from lamina.torch.groups import discover_groups
from lamina.torch.masks import MaskCallback
from lamina.torch.sparsity_checks import check_target_sparsity

ALLOCATIONS = ("uniform", "global", "ERK", "LAMP")


def weight_pairs(model: nn.Module, by=None) -> list[tuple[nn.Module, str]]:
    """(module, parameter name) of every regularized tensor, in lamina's group order."""
    try:
        groups = discover_groups(model, by)
    except ValueError as error:
        raise ValueError(f"model: no regularized weights to prune ({error})") from None
    pairs = []
    for group in groups:
        if group.regularized:
            for qualified in group.param_names:
                owner, _, attr = qualified.rpartition(".")
                pairs.append((model.get_submodule(owner), attr))
    if not pairs:
        raise ValueError("model: no regularized weights to prune (biases and normalization parameters "
                         "are never pruned)")
    return pairs


def erk_densities(shapes, density: float) -> np.ndarray:
    """ERK densities d_l = ε (Σ dims)/(Π dims) with Σ d_l P_l = density · Σ P_l, capped at 1."""
    if not 0 < density <= 1:
        raise ValueError(f"density must lie in (0, 1], got {density!r}")
    sizes = np.array([np.prod(s) for s in shapes], dtype=np.float64)
    raw = np.array([np.sum(s) / np.prod(s) for s in shapes], dtype=np.float64)
    dense = np.zeros(len(shapes), dtype=bool)
    while True:
        budget = density * sizes.sum() - sizes[dense].sum()
        eps = budget / np.sum(raw[~dense] * sizes[~dense])
        d = np.where(dense, 1.0, eps * raw)
        if np.all(d <= 1.0 + 1e-12):
            return np.minimum(d, 1.0)
        dense |= d > 1.0


def lamp_scores(weight: torch.Tensor) -> torch.Tensor:
    """LAMP score of every entry: w_u² / Σ_{|w_v| ≥ |w_u|} w_v², flattened."""
    sq = weight.detach().flatten().pow(2)
    order = torch.argsort(sq)
    tail = torch.flip(torch.cumsum(torch.flip(sq[order], [0]), 0), [0])
    score = torch.empty_like(sq)
    score[order] = sq[order] / tail.clamp_min(torch.finfo(sq.dtype).tiny)
    return score


def _masks_from_prune(pairs) -> list[torch.Tensor]:
    """The masks torch.nn.utils.prune attached, then the reparametrization removed (weights kept)."""
    masks = [getattr(m, f"{n}_mask").bool().clone() for m, n in pairs]
    for m, n in pairs:
        prune.remove(m, n)
    return masks


def _apportion(shares: np.ndarray, total: int) -> list[int]:
    """Whole counts that add up to ``total`` from real ``shares`` that (nearly) do: the floors,
    plus one for the largest fractional parts (Hamilton's largest-remainder method)."""
    counts = np.floor(shares + 1e-9).astype(int)
    extra = int(np.clip(total - counts.sum(), 0, len(shares)))
    counts[np.argsort(-(shares - counts), kind="stable")[:extra]] += 1
    return counts.tolist()


def _top_k_masks(weights, counts) -> list[torch.Tensor]:
    masks = []
    for w, k in zip(weights, counts):
        flat = w.abs().flatten()
        mask = torch.zeros_like(flat, dtype=torch.bool)
        mask[torch.topk(flat, max(0, min(int(k), flat.numel()))).indices] = True
        masks.append(mask.view_as(w))
    return masks


@torch.no_grad()
def magnitude_masks(model: nn.Module, allocation: str, sparsity: float, by=None) -> list[torch.Tensor]:
    """Zero the pruned regularized weights of ``model`` in place (``allocation`` at ``sparsity``)
    and return the masks (True = kept), in the order of :func:`weight_pairs`."""
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {list(ALLOCATIONS)}, got {allocation!r}")
    sparsity = check_target_sparsity(sparsity)
    pairs = weight_pairs(model, by)
    weights = [getattr(m, n).detach() for m, n in pairs]
    total = sum(w.numel() for w in weights)
    keep = int(round((1 - sparsity) * total))
    sizes = np.array([w.numel() for w in weights], dtype=np.float64)
    if allocation == "global":
        if keep == total:
            return [torch.ones_like(w, dtype=torch.bool) for w in weights]
        prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=total - keep)
        return _masks_from_prune(pairs)
    if allocation == "uniform":
        counts = _apportion((1 - sparsity) * sizes, keep)
    elif allocation == "ERK":
        counts = _apportion(erk_densities([tuple(w.shape) for w in weights], 1 - sparsity) * sizes, keep)
    else:
        scores = torch.cat([lamp_scores(w).reshape(-1) for w in weights])
        layer = torch.repeat_interleave(torch.arange(len(weights)), torch.as_tensor(sizes, dtype=torch.long))
        # exactly the `keep` best scores (ties at the cut broken by position, never by emptying a layer)
        top = torch.topk(scores, keep).indices if keep > 0 else torch.zeros(0, dtype=torch.long)
        counts = torch.bincount(layer[top.cpu()], minlength=len(weights)).tolist()
    masks = _top_k_masks(weights, counts)
    for w, mask in zip(weights, masks):
        w.mul_(mask.to(w.dtype))
    return masks


def layer_sparsity(model: nn.Module, by=None) -> dict[str, float]:
    """Fraction of exact zeros of every regularized tensor, by qualified parameter name."""
    return {name: float((p.detach() == 0).sum()) / p.numel()
            for g in discover_groups(model, by) if g.regularized for name, p in zip(g.param_names, g.params)}


def overall_sparsity(model: nn.Module, by=None) -> float:
    """Fraction of exact zeros among the regularized weights."""
    weights = [getattr(m, n).detach() for m, n in weight_pairs(model, by)]
    return sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)


def prune_and_finetune(model: nn.Module, train, allocation: str, sparsity: float, *, epochs: int,
                       likelihood="classification", lr: float = 3e-3, batch_size: int = 128, seed: int = 0,
                       optimizer: str = "adam", by=None):
    """Prune a (densely trained) ``model`` once by ``allocation``, then fine-tune it ``epochs``
    epochs with the mask (fresh optimizer, data order from ``seed + 1``). Returns the
    :class:`~lamina.torch.FitResult` of the fine-tuning (None for ``epochs=0``)."""
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
    masks = magnitude_masks(model, allocation, sparsity, by)
    params = [getattr(m, n) for m, n in weight_pairs(model, by)]
    callback = MaskCallback(params, masks)
    callback.on_epoch_end(-1, None)
    if epochs == 0:
        return None
    out = fit(model, train, likelihood=likelihood, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed + 1,
              optimizer=optimizer, callbacks=[callback])
    callback.on_epoch_end(epochs, None)
    return out
