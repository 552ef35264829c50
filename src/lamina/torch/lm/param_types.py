"""Parameters of a transformer grouped by type and layer, each with its own decoupled decay.

AdamW (Loshchilov & Hutter) applies, per optimizer param group g with decay λ_g,

    W ← W − η_t (u_t + λ_g W),      u_t the Adam direction m̂_t / (√v̂_t + ε),

so the decay is *decoupled* from the gradient and can differ per group. :func:`param_types`
names the groups; :func:`adamw_groups` turns a decay per type into ``torch.optim.AdamW`` param
groups (each carries its ``"name"``), and :func:`make_adamw` builds the optimizer.

Types of a :class:`~lamina.torch.lm.model.CharTransformer` (every parameter in exactly one):

==================  =================================================================
type                parameters
==================  =================================================================
``embedding``       token and position embeddings (``tok_emb``, ``pos_emb``)
``attn.<l>``        the q/k/v and output matrices of block l
``mlp.<l>``         the two MLP matrices of block l
``head``            the output matrix (untied from the embedding)
``norm``            every LayerNorm gain and shift
``bias``            every Linear bias
==================  =================================================================

For another module, matrices of two or more dimensions are ``matrix.<module path>``,
normalization parameters ``norm``, embeddings ``embedding`` and the other vectors ``bias``.

Presets (a decay per type from one λ): ``"nanogpt"`` — λ on every matrix type (attention,
MLP, head), 0 on embeddings, norms and biases (minGPT's rule; nanoGPT itself also decays its
embedding, which is tied to its head); ``"uniform"`` — λ on every type; ``"none"`` — 0 everywhere.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from lamina.torch.lm.model import CharTransformer

PRESETS = ("nanogpt", "uniform", "none")
# optimizers whose weight_decay is decoupled (W ← W − ηλW, not added to the gradient)
DECOUPLED = (torch.optim.AdamW,)


def param_types(model: nn.Module) -> dict[str, list[tuple[str, nn.Parameter]]]:
    """type name → [(qualified name, parameter)], every trainable parameter exactly once.

    Examples
    --------
    >>> from lamina.torch.lm.model import LMConfig
    >>> net = CharTransformer(LMConfig(vocab_size=5, context=4, d_model=8, n_layers=2, n_heads=2))
    >>> list(param_types(net))
    ['embedding', 'attn.0', 'mlp.0', 'attn.1', 'mlp.1', 'head', 'norm', 'bias']
    """
    types: dict[str, list] = {}
    if isinstance(model, CharTransformer):
        def type_of(name: str, p) -> str:
            if name.startswith(("tok_emb", "pos_emb")):
                return "embedding"
            if ".ln_" in name or name.startswith("ln_final"):
                return "norm"
            if name.endswith(".bias"):
                return "bias"
            if name.startswith("blocks."):
                layer, sub = name.split(".")[1:3]
                return f"{'attn' if sub == 'attn' else 'mlp'}.{layer}"
            return "head"
        for name, p in model.named_parameters():
            if p.requires_grad:
                types.setdefault(type_of(name, p), []).append((name, p))
        order = ["embedding"] + [f"{kind}.{l}" for l in range(model.config.n_layers) for kind in ("attn", "mlp")]
        return {key: types[key] for key in order + ["head", "norm", "bias"] if key in types}
    modules = dict(model.named_modules())
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        owner = modules.get(name.rpartition(".")[0])
        if isinstance(owner, (nn.LayerNorm, nn.GroupNorm, nn.modules.batchnorm._NormBase)):
            key = "norm"
        elif isinstance(owner, (nn.Embedding, nn.EmbeddingBag)):
            key = "embedding"
        elif p.ndim >= 2:
            key = f"matrix.{name.rpartition('.')[0] or name}"
        else:
            key = "bias"
        types.setdefault(key, []).append((name, p))
    return types


def matrix_types(types) -> list[str]:
    """The types whose parameters are weight matrices of linear maps (decayed by ``nanogpt``)."""
    return [key for key in types if key.split(".")[0] in ("attn", "mlp", "head", "matrix")]


def preset_decays(model_or_types, preset: str, lam: float) -> dict[str, float]:
    """A decay per type from one λ by a named preset (see the module doc)."""
    types = model_or_types if isinstance(model_or_types, Mapping) else param_types(model_or_types)
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {list(PRESETS)}, got {preset!r}")
    lam = _checked_decay("lam", lam)
    decayed = {"nanogpt": set(matrix_types(types)), "uniform": set(types), "none": set()}[preset]
    return {key: (lam if key in decayed else 0.0) for key in types}


def _checked_decay(name: str, value) -> float:
    if isinstance(value, (bool, str)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite non-negative decay, got {value!r}")
    return value


def adamw_groups(model: nn.Module, decays: Mapping[str, float] | str, lam: float | None = None, *,
                 per_matrix: bool = False) -> list[dict]:
    """``torch.optim`` param groups, one per type: ``{"params", "weight_decay", "name"}``.

    ``decays`` maps type names (of :func:`param_types`) to λ ≥ 0 — types not named get 0 —
    or is a preset name with ``lam`` its λ. An unknown type name or a negative / non-finite
    decay raises a ``ValueError`` naming it. With ``per_matrix``, every matrix of a matrix
    type gets its own group ``"<type>:<parameter name>"`` (same starting decay): the
    granularity of per-module rules such as AlphaDecay.
    """
    types = param_types(model)
    if isinstance(decays, str):
        if lam is None and decays == "none":
            lam = 0.0
        if lam is None:
            raise ValueError(f"lam: a preset ({decays!r}) needs the decay λ it spreads over the types")
        decays = preset_decays(types, decays, lam)
    elif not isinstance(decays, Mapping):
        raise ValueError(f"decays must be a mapping type → λ or a preset name {list(PRESETS)}, got {type(decays).__name__}")
    unknown = sorted(set(decays) - set(types))
    if unknown:
        raise ValueError(f"decays: unknown parameter type(s) {unknown}; the model's types are {list(types)}")
    groups, matrices = [], set(matrix_types(types)) if per_matrix else set()
    for key, named in types.items():
        decay = _checked_decay(f"decays[{key!r}]", decays.get(key, 0.0))
        if key in matrices:
            groups += [{"params": [p], "weight_decay": decay, "name": f"{key}:{name}"} for name, p in named]
        else:
            groups.append({"params": [p for _, p in named], "weight_decay": decay, "name": key})
    return groups


def make_adamw(model: nn.Module, decays: Mapping[str, float] | str, lr: float, lam: float | None = None, *,
               per_matrix: bool = False, **adamw_options) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` over :func:`adamw_groups` (``adamw_options``: betas, eps, …)."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    return torch.optim.AdamW(adamw_groups(model, decays, lam, per_matrix=per_matrix), lr=lr, **adamw_options)


def check_decoupled(optimizer) -> None:
    """Raise ``ValueError`` (naming ``optimizer``) unless it applies decoupled weight decay
    per param group: Adam/SGD add λW to the gradient (coupled, rescaled by Adam's
    preconditioner), which is not the per-type decay these tools set."""
    if not isinstance(optimizer, DECOUPLED):
        raise ValueError(f"optimizer: {type(optimizer).__name__} does not apply decoupled weight decay per param "
                         "group; use torch.optim.AdamW (e.g. lamina.torch.lm.make_adamw)")
    if any("name" not in group for group in optimizer.param_groups):
        raise ValueError("optimizer: its param groups carry no 'name' — build them with adamw_groups()")


def decays_of(optimizer) -> dict[str, float]:
    """The current decay of every named param group."""
    return {group["name"]: float(group["weight_decay"]) for group in optimizer.param_groups}


def set_decays(optimizer, decays: Mapping[str, float]) -> None:
    """Set the decay of the named param groups (others unchanged); checked as in :func:`adamw_groups`."""
    names = {group["name"] for group in optimizer.param_groups}
    unknown = sorted(set(decays) - names)
    if unknown:
        raise ValueError(f"decays: unknown parameter type(s) {unknown}; the optimizer's groups are {sorted(names)}")
    for group in optimizer.param_groups:
        if group["name"] in decays:
            group["weight_decay"] = _checked_decay(f"decays[{group['name']!r}]", decays[group["name"]])
