"""Parameter groups of a PyTorch module: one λ (prior precision δ_g) per group.

:func:`discover_groups` walks any ``nn.Module`` (not only ``nn.Sequential``) and returns one
:class:`ParamGroup` per weight tensor of the layers that carry one (Linear, Conv1d/2d/3d,
Embedding, the input and recurrent matrices of RNN/LSTM/GRU, any other tensor with two or
more dimensions), and one group per bias and per normalization parameter — those are
*unregularized* unless asked. The user can merge groups by module type (``by="module_type"``)
or by name patterns / explicit parameter lists (``by={"backbone": "features.*", "head": ...}``).

Convention (DESIGN.md): the network objective is
mean task loss + 1/(2N) Σ_g δ_g ‖W_g‖², δ_g the Gaussian prior precision of group g.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

WEIGHT, BIAS, NORM, OTHER = "weight", "bias", "norm", "other"

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm) \
    + ((nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())
_CONV_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_RNN_TYPES = (nn.RNNBase,)
_EMBED_TYPES = (nn.Embedding, nn.EmbeddingBag)


@dataclass(frozen=True, eq=False)
class ParamGroup:
    """One group of parameters sharing one regularization strength.

    Attributes
    ----------
    name : str
        Group name (the parameter's qualified name, or the user's group name).
    params : tuple of nn.Parameter
        The tensors of the group.
    param_names : tuple of str
        Their qualified names in the module.
    kind : str
        ``"weight"``, ``"bias"``, ``"norm"`` or ``"other"``.
    module_type : str
        Class name of the owning module (``"mixed"`` for merged groups of several types).
    regularized : bool
        Whether the group is penalized (weights yes; biases, normalization no, by default).
    fan_in : int
        Inputs feeding one output unit (for the ``fan_in`` rule; 1 where meaningless).
    numel : int
        Number of coefficients.
    module_class : type or None
        Class of the owning module (None for merged groups of several classes).
    """

    name: str
    params: tuple
    param_names: tuple
    kind: str
    module_type: str
    regularized: bool
    fan_in: int
    numel: int
    module_class: type | None = None

    def sq_norm(self) -> torch.Tensor:
        """‖W_g‖², a 0-d tensor on the parameters' device (no host sync)."""
        total = self.params[0].pow(2).sum()
        for p in self.params[1:]:
            total = total + p.pow(2).sum()
        return total


def _fan_in(module: nn.Module, param_name: str, param: torch.Tensor) -> int:
    if isinstance(module, nn.Linear):
        return module.in_features
    if isinstance(module, _CONV_TYPES):
        kernel = 1
        for k in module.kernel_size:
            kernel *= k
        in_channels = module.in_channels if not isinstance(module, nn.modules.conv._ConvTransposeNd) \
            else module.out_channels
        return max(1, in_channels // module.groups * kernel)
    if isinstance(module, _EMBED_TYPES):
        return 1
    if param.ndim >= 2:
        return int(param[0].numel())
    return 1


def _kind(module: nn.Module, local_name: str, param: torch.Tensor) -> str:
    if isinstance(module, _NORM_TYPES):
        return NORM
    if "bias" in local_name:
        return BIAS
    if isinstance(module, (nn.Linear, *_CONV_TYPES, *_EMBED_TYPES, *_RNN_TYPES)) and "weight" in local_name:
        return WEIGHT
    return WEIGHT if param.ndim >= 2 else OTHER


def _tensor_groups(model: nn.Module, regularize_bias: bool, regularize_norm: bool) -> list[ParamGroup]:
    groups = []
    seen = set()
    for module_name, module in model.named_modules():
        for local_name, param in module.named_parameters(recurse=False):
            if id(param) in seen or not param.requires_grad:
                continue
            seen.add(id(param))
            name = f"{module_name}.{local_name}" if module_name else local_name
            kind = _kind(module, local_name, param)
            regularized = (kind == WEIGHT or (kind == BIAS and regularize_bias)
                           or (kind == NORM and regularize_norm))
            groups.append(ParamGroup(name, (param,), (name,), kind, type(module).__name__, regularized,
                                     _fan_in(module, local_name, param), int(param.numel()), type(module)))
    if not groups:
        raise ValueError("model has no trainable parameters; nothing to regularize")
    return groups


def _merge(name: str, members: list[ParamGroup]) -> ParamGroup:
    types = {g.module_type for g in members}
    classes = {g.module_class for g in members}
    kinds = {g.kind for g in members}
    fan_in = round(sum(g.fan_in * g.numel for g in members) / sum(g.numel for g in members))
    return ParamGroup(name, tuple(p for g in members for p in g.params),
                      tuple(n for g in members for n in g.param_names),
                      kinds.pop() if len(kinds) == 1 else WEIGHT,
                      types.pop() if len(types) == 1 else "mixed",
                      True, max(1, fan_in), sum(g.numel for g in members),
                      classes.pop() if len(classes) == 1 else None)


def _matches(spec, group: ParamGroup) -> bool:
    if isinstance(spec, str):
        return any(fnmatch.fnmatchcase(n, spec) for n in group.param_names)
    if isinstance(spec, re.Pattern):
        return any(spec.search(n) for n in group.param_names)
    if isinstance(spec, type):   # the class or a subclass of it (nn.Linear takes attention's out_proj)
        if group.module_class is not None:
            return issubclass(group.module_class, spec)
        return group.module_type == spec.__name__
    if isinstance(spec, (list, tuple, set)):
        ids = {id(item) for item in spec if isinstance(item, torch.Tensor)}
        return (bool(ids) and id(group.params[0]) in ids) or any(
            _matches(item, group) for item in spec if not isinstance(item, torch.Tensor))
    raise TypeError(f"group spec must be a name pattern, regex, module type or list of parameters; got {spec!r}")


def discover_groups(model: nn.Module, by=None, *, regularize_bias: bool = False,
                    regularize_norm: bool = False) -> list[ParamGroup]:
    """Parameter groups of ``model``, each to get its own prior precision δ_g.

    Parameters
    ----------
    model : nn.Module
        Any module; parameters shared between modules are counted once.
    by : None, "module_type" or dict
        ``None``: one group per parameter tensor. ``"module_type"``: regularized tensors merged
        by owning module class (``Linear``, ``Conv2d`` …). A dict ``{group name: spec}`` with spec
        a glob pattern on parameter names (``"features.*"``), a compiled regex, a module class
        (its subclasses included) or a list of parameters/patterns: matching regularized tensors
        are merged into that group (first match wins); the others keep their own group.
    regularize_bias, regularize_norm : bool
        Penalize biases / normalization parameters too (default: no).

    Returns
    -------
    list of ParamGroup
        Regularized groups first, then unregularized ones, each in module order.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    >>> [(g.name, g.regularized) for g in discover_groups(net)][:3]
    [('0.weight', True), ('2.weight', True), ('0.bias', False)]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    groups = _tensor_groups(model, regularize_bias, regularize_norm)
    regularized = [g for g in groups if g.regularized]
    others = [g for g in groups if not g.regularized]
    if by is None:
        merged = regularized
    elif by == "module_type":
        buckets: dict[str, list[ParamGroup]] = {}
        for g in regularized:
            buckets.setdefault(g.module_type, []).append(g)
        merged = [_merge(name, members) for name, members in buckets.items()]
    elif isinstance(by, Mapping):
        buckets = {name: [] for name in by}
        rest = []
        for g in regularized:
            target = next((name for name, spec in by.items() if _matches(spec, g)), None)
            (buckets[target] if target is not None else rest).append(g)
        empty = [name for name, members in buckets.items() if not members]
        if empty:
            raise ValueError(f"by: group(s) {empty} match no regularized parameter of the model")
        merged = [_merge(name, members) for name, members in buckets.items()] + rest
    else:
        raise ValueError(f"by must be None, 'module_type' or a dict of name -> spec; got {by!r}")
    if not merged:
        raise ValueError("model has no regularized parameter group (no weight tensors)")
    names = [g.name for g in merged + others]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:   # δ is looked up by group name (lambdas, dict deltas, the optimizer's param groups)
        raise ValueError(f"by: group name(s) {clashes} are also the name of another group (a parameter's "
                         "qualified name or a module type); choose other names")
    return merged + others


def regularized(groups: list[ParamGroup]) -> list[ParamGroup]:
    """The groups that carry a penalty, in order."""
    return [g for g in groups if g.regularized]


def anchored_names(params: Mapping[str, torch.Tensor], prior_mean) -> set[str]:
    """The names in ``params`` that ``prior_mean`` anchors: those with an entry of their own shape
    (a replaced layer's entry, of another shape, anchors nothing, as in
    :func:`lamina.torch.penalty.resolve_prior_mean`)."""
    if prior_mean is None:
        return set()
    return {n for n, p in params.items()
            if n in prior_mean and tuple(torch.as_tensor(prior_mean[n]).shape) == tuple(p.shape)}


def anchored_groups(model: nn.Module, groups: list[ParamGroup], prior_mean) -> list[bool]:
    """Per group of ``groups``: whether ``prior_mean`` anchors one of its parameters
    (:func:`anchored_names`; a replaced head's entry, of another shape, is left out and the head
    is pulled toward 0)."""
    names = anchored_names(dict(model.named_parameters()), prior_mean)
    return [bool(names.intersection(g.param_names)) for g in groups]
