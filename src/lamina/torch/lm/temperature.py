"""The head's decay from the held-out temperature of the logits.

The output layer of a language model computes logits = W_head h + b; scaling W_head by c
divides the softmax temperature by c. So the 1-D held-out search along W_head → c·W_head
(the idea of :func:`lamina.torch.scale_search.weight_scale_search`, here with the head's inputs h
computed once: each trial is one matrix product, not a forward pass)

    log c* = argmin_{|log c| ≤ r}  V(c) = −(1/N) Σ_i log softmax(c W_head h_i + b)[y_i]

says whether the model is **over-confident on text it has not trained on** (c* < 1: the held-out
text wants a hotter softmax, a smaller head) or under-confident (c* > 1). Memorizing the training
text shows up there first: the training loss keeps rewarding a larger logit scale, the held-out
loss does not (issue 15, part 2, section D of benchmarks/RESULTS.md: the oracle split of a 20,000
character run puts a 70–2000× stronger decay on the head than on the rest).

From c* to the head's decay
---------------------------
Under AdamW, W ← (1 − η_t λ) W − η_t u_t with Adam's normalized update u. Two maps (``MAPS``):

``"interval"`` — remove the excess scale within one tuner interval. Over the next
interval the decay multiplies W by ≈ exp(−λ I), I = Σ_{t in the next interval} η_t, on top of
what the updates do; the decay already in place balances the push that built the current
scale, so the *raise* that brings W_head to c*·W_head by the next update is Δλ = −log c* / I:

    λ_head ← max(λ_head − κ log c* / I,  λ_head / ``max_factor``),   λ_head ≤ ``max_shrink`` / η_peak.

It is an integral controller with the natural gain of AdamW's decay: λ accumulates the raises
until the held-out temperature stays at c* ≈ 1, the step is large where the learning rate is
small (the decay acts slowly there) and lowering (c* > 1) is at most ÷``max_factor`` per update.

``"power"`` — the equilibrium map λ ← λ · c*^(−2κ) (factor clipped to ``max_factor``): r = ‖W‖
settles where the decay's pull η λ r balances the radial push of the updates, r ∝ λ^(−1) for a
coherent push and r ∝ λ^(−1/2) for a diffusive one (r² = η‖u‖²/(2λ)), i.e. r ∝ λ^(−1/(2κ)) with
κ ∈ [½, 1]. It ignores that the decay acts on the timescale 1/(ηλ), which is ≫ the run while λ
is small: in the 20,000-character benchmark it raised the head only to 0.26 with κ = 1 (the held-out
temperature kept drifting to c* = 0.74), and needed κ = 3 to reach the oracle's λ ≈ 4
(issue 15, part 2, section F of benchmarks/RESULTS.md).

The cap keeps the decay's shrinkage per step η λ ≤ ``max_shrink`` (0.1).

Examples
--------
>>> import torch
>>> torch.manual_seed(0) and None
>>> h = torch.randn(4000, 8); w = torch.randn(5, 8); b = torch.zeros(5)
>>> y = torch.distributions.Categorical(logits=h @ w.T).sample()       # the true scale is 1
>>> round(math.exp(temperature_search(h, 2.0 * w, b, y)), 1)             # a head 2× too large
0.5
>>> round(math.exp(temperature_search(h, 9.0 * w, b, y)), 2)             # beyond the range: its edge
0.37
>>> round(power_step(0.01, math.log(0.5), kappa=1.0, max_factor=2.0, max_decay=10.0), 4)
0.02
>>> round(interval_step(0.01, math.log(0.9), horizon=0.1), 4)   # +0.105/0.1: the excess gone in one interval
1.0636
"""
from __future__ import annotations

import math

import torch
from scipy.optimize import minimize_scalar
from torch import nn
from torch.nn import functional as F

from lamina.torch.invariance import inputs_of
from lamina.torch.modes import in_mode


@torch.no_grad()
def temperature_search(features: torch.Tensor, weight: torch.Tensor, bias, targets: torch.Tensor, *,
                       log_range: float = 1.0, xatol: float = 1e-3) -> float:
    """log c* = argmin over |log c| ≤ ``log_range`` of the mean cross-entropy of
    c·``weight`` ``features`` + ``bias`` against ``targets`` (bounded Brent, scipy)."""
    if not (isinstance(log_range, (int, float)) and math.isfinite(log_range) and log_range > 0):
        raise ValueError(f"log_range must be a positive number, got {log_range!r}")
    features = features.reshape(-1, features.shape[-1])
    targets = targets.reshape(-1)
    if features.shape[0] != targets.shape[0]:
        raise ValueError(f"targets: {targets.shape[0]} targets for {features.shape[0]} feature rows")
    base = features @ weight.T

    def loss(log_c: float) -> float:
        logits = base * math.exp(log_c) + (0.0 if bias is None else bias)
        return float(F.cross_entropy(logits, targets))

    result = minimize_scalar(loss, bounds=(-log_range, log_range), method="bounded", options={"xatol": xatol})
    return float(result.x)


MAPS = ("interval", "power")


def power_step(lam: float, log_c: float, *, kappa: float = 1.0, max_factor: float = 2.0,
               max_decay: float = math.inf) -> float:
    """The ``"power"`` map: λ · c*^(−2κ), the factor clipped to [1/``max_factor``, ``max_factor``],
    λ ≤ ``max_decay``."""
    move = max(-math.log(max_factor), min(math.log(max_factor), -2.0 * kappa * log_c))
    return min(lam * math.exp(move), max_decay)


def interval_step(lam: float, log_c: float, horizon: float, *, kappa: float = 1.0, max_factor: float = 2.0,
                  max_decay: float = math.inf) -> float:
    """The ``"interval"`` map: λ − κ log c* / ``horizon`` (``horizon`` = Σ η_t over the next
    interval), lowered by at most ÷``max_factor``, λ ≤ ``max_decay``."""
    if not (isinstance(horizon, (int, float)) and horizon >= 0):
        raise ValueError(f"horizon must be a non-negative number, got {horizon!r}")
    return min(max(lam - kappa * log_c / max(horizon, 1e-12), lam / max_factor), max_decay)


def linear_owning(model: nn.Module, weight: nn.Parameter) -> nn.Linear:
    """The ``nn.Linear`` whose weight is ``weight`` (the output head)."""
    for module in model.modules():
        if isinstance(module, nn.Linear) and module.weight is weight:
            return module
    raise ValueError("temperature: the head type's parameter is not the weight of an nn.Linear of the model")


@torch.no_grad()
def head_inputs(model: nn.Module, head: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """The inputs h of ``head`` on ``x`` (one forward pass in eval mode, through a hook)."""
    return forward_capturing(model, head, x)[1]


@torch.no_grad()
def forward_capturing(model: nn.Module, head: nn.Module | None, x: torch.Tensor):
    """(``model(x)`` in eval mode, the inputs of ``head`` on that pass — None without a head):
    one forward pass, the head's inputs through a hook (:func:`lamina.torch.invariance.inputs_of`)."""
    if head is None:
        with in_mode(model, training=False):
            return model(x), None
    output, inputs = inputs_of(model, head, (x,))
    return output, (inputs[-1] if inputs else None)
