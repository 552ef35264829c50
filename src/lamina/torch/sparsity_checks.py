"""Refusals of the target-sparsity tuner (:mod:`lamina.torch.sparsity`): what it cannot do, each
error naming the argument and what was expected."""
from __future__ import annotations

import inspect

import numpy as np
from torch import nn

from lamina._validation import check_bool
from lamina.torch.groups import discover_groups
from lamina.torch.penalty import Mode, Penalty


def check_target_sparsity(value) -> float:
    """ρ as a float in [0, 1), or a ValueError naming ``target_sparsity``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"target_sparsity must be a real number in [0, 1), got {value!r}")
    value = float(value)
    if not (np.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(f"target_sparsity must lie in [0, 1) (fraction of exact zeros among the "
                         f"regularized weights), got {value!r}")
    return value


def check_sparsity_request(model: nn.Module, penalty, target, *, by=None, mode="coupled", prior_mean=None,
                           method="heldout", rule="uniform", delta=1.0, options=None,
                           sparsity_tuner) -> tuple[Penalty, float]:
    """Refuse what the sparsity tuner cannot do, each error naming the argument (``options``: the
    keywords ``tune`` hands on to ``sparsity_tuner``, :func:`~lamina.torch.sparsity.tune_sparsity`, whose
    signature says which it takes)."""
    kind = Penalty.parse(penalty)
    if kind is Penalty.L2:
        if target is not None:
            raise ValueError("target_sparsity needs penalty='l1' or penalty='l0' (L2 shrinks weights "
                             "but never makes them exactly zero)")
        return kind, None
    if target is None:
        raise ValueError(f"penalty={kind.value!r} needs target_sparsity (the tuner chooses λ per layer "
                         "to reach it); for a fixed λ use lamina.torch.Regularizer with lamina.torch.fit")
    target = check_target_sparsity(target)
    if prior_mean is not None:
        raise ValueError(f"prior_mean works with penalty='l2' only; penalty={kind.value!r} shrinks toward "
                         "0 by a proximal step, which cannot pull toward a prior mean")
    if Mode.parse(getattr(mode, "value", mode)) is not Mode.COUPLED:
        raise ValueError(f"mode={mode!r} applies to L2 only; penalty={kind.value!r} always acts by a "
                         "proximal step after each optimizer step (leave mode='coupled')")
    if getattr(method, "value", method) not in ("heldout", "sparsity"):
        raise ValueError(f"tuner={getattr(method, 'name', method)!r} tunes L2 strengths; with penalty={kind.value!r} "
                         "and target_sparsity the sparsity tuner runs (leave tuner at its default)")
    if rule not in ("uniform", None):
        raise ValueError(f"rule={rule!r} is for L2; with target_sparsity the per-layer ratios are tuned")
    if delta != 1.0:
        raise ValueError(f"delta={delta!r} is L2's starting precision; with target_sparsity the λ per layer are "
                         "chosen to reach it (leave delta at its default)")
    known = set(inspect.signature(sparsity_tuner).parameters) - {"model", "train", "likelihood", "recipe", "penalty",
                                                                 "target", "val", "by", "progress"}
    unknown = sorted(set(options or ()) - known)
    if unknown:
        raise TypeError(f"tune() with target_sparsity got unexpected option(s) {unknown}; the sparsity tuner takes "
                        f"{sorted(known)}")
    check_bool((options or {}).get("allocate", True), "allocate")
    try:
        groups = discover_groups(model, by)
    except ValueError as error:
        raise ValueError(f"penalty={kind.value!r} with target_sparsity: the model has no regularized "
                         f"weights to sparsify ({error})") from None
    if not any(g.regularized for g in groups):
        raise ValueError(f"penalty={kind.value!r} with target_sparsity: the model has no regularized weights")
    return kind, target


def check_stop_lost(value, *, applies: bool, invariant) -> bool:
    """Whether the ramp may stop where the network has lost half of what it learned (module doc), where that
    ``applies`` (L1, a target > 0): ``"auto"`` where no regularized weight is scale-invariant (``invariant()``,
    probed then only)."""
    if isinstance(value, str) and value == "auto":
        return applies and not invariant()
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"stop_lost must be 'auto', True or False, got {value!r}")
    return applies and bool(value)
