"""Penalties with one strength per parameter group, inside PyTorch training.

Conventions (DESIGN.md), N the number of training samples:

* L2 (coupled): loss = mean task loss + 1/(2N) Σ_g δ_g ‖W_g‖², δ_g the Gaussian prior precision;
  the equivalent PyTorch ``weight_decay`` of group g is δ_g / N (decoupled mode puts it in
  the optimizer's param groups: identical to the coupled term for SGD and Adam, decoupled
  decay for AdamW);
* L1: mean task loss + 1/N Σ_g λ_g ‖W_g‖₁, applied by soft thresholding at η λ_g / N after
  each optimizer step (η the step's learning rate);
* L0: mean task loss + 1/N Σ_g λ_g ‖W_g‖₀, applied by hard thresholding at √(2 η λ_g / N).

λ is always a vector here (one value per regularized group), stored as a tensor on the
parameters' device so that updating it needs no host round-trip.
"""
from __future__ import annotations

from enum import Enum
from typing import Mapping

import numpy as np
import torch
from torch import nn

from lamina._validation import parse_choice
from lamina.torch.groups import ParamGroup, discover_groups


class Penalty(str, Enum):
    L2 = "l2"
    L1 = "l1"
    L0 = "l0"

    @classmethod
    def parse(cls, value) -> "Penalty":
        return parse_choice(cls, value, "penalty")


class Mode(str, Enum):
    COUPLED = "coupled"
    DECOUPLED = "decoupled"

    @classmethod
    def parse(cls, value) -> "Mode":
        return parse_choice(cls, value, "mode")


def soft_threshold(w: torch.Tensor, threshold) -> torch.Tensor:
    """prox of t‖·‖₁: sign(w) max(|w| − t, 0).

    Examples
    --------
    >>> soft_threshold(torch.tensor([-2.0, 0.5, 3.0]), 1.0).tolist()
    [-1.0, 0.0, 2.0]
    """
    return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0)


def hard_threshold(w: torch.Tensor, threshold) -> torch.Tensor:
    """prox of t‖·‖₀: w · 1{|w| > √(2t)}.

    Examples
    --------
    >>> hard_threshold(torch.tensor([-2.0, 0.5, 3.0]), 1.0).tolist()
    [-2.0, 0.0, 3.0]
    """
    return w * (w.abs() > torch.sqrt(2.0 * torch.as_tensor(threshold, dtype=w.dtype))).to(w.dtype)


def check_deltas(values, names: list[str], argument: str = "deltas") -> np.ndarray:
    """One finite, non-negative strength per group, from a scalar, a sequence or a dict."""
    if isinstance(values, Mapping):
        unknown = set(values) - set(names)
        if unknown:
            raise ValueError(f"{argument} names unknown group(s) {sorted(unknown)}; groups are {names}")
        missing = [n for n in names if n not in values]
        if missing:
            raise ValueError(f"{argument} misses group(s) {missing}")
        values = [values[n] for n in names]
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(len(names), float(array))
    if array.shape != (len(names),):
        raise ValueError(f"{argument} must be a scalar or one value per regularized group "
                         f"({len(names)}), got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{argument} must be finite and non-negative, got {array.tolist()}")
    return array


class Regularizer:
    """One penalty strength per parameter group of a model.

    Parameters
    ----------
    model : nn.Module or list of ParamGroup
        The network (groups discovered with :func:`discover_groups`) or groups made by hand.
    n_data : int
        N, the number of training samples (δ_g enters as δ_g / N).
    deltas : float, sequence or dict
        Strength per regularized group (δ_g for L2, λ_g for L1/L0).
    penalty : {"l2", "l1", "l0"}
    mode : {"coupled", "decoupled"}
        For L2: a term added to the loss (:meth:`penalty`), or weight decay in the optimizer's
        param groups (:meth:`param_groups`, :meth:`sync_optimizer`). L1/L0 always act by a
        proximal step (:meth:`prox_step`).
    by, regularize_bias, regularize_norm
        Passed to :func:`discover_groups` when ``model`` is a module.

    Examples
    --------
    >>> net = nn.Linear(3, 1)
    >>> reg = Regularizer(net, n_data=10, deltas=2.0)
    >>> reg.lambdas
    {'weight': 2.0}
    >>> with torch.no_grad():
    ...     _ = net.weight.fill_(1.0)
    >>> round(reg.penalty().item(), 6)   # 2 · 3 / (2 · 10)
    0.3
    """

    def __init__(self, model, n_data: int, deltas=1.0, *, penalty="l2", mode="coupled", by=None,
                 regularize_bias: bool = False, regularize_norm: bool = False):
        if isinstance(model, nn.Module):
            self.groups = discover_groups(model, by, regularize_bias=regularize_bias,
                                          regularize_norm=regularize_norm)
        else:
            self.groups = list(model)
        if isinstance(n_data, bool) or not isinstance(n_data, (int, np.integer)) or n_data < 1:
            raise ValueError(f"n_data must be a positive integer (training set size), got {n_data!r}")
        self.n_data = int(n_data)
        self.penalty_kind = Penalty.parse(penalty)
        self.mode = Mode.parse(mode)
        self.reg_groups = [g for g in self.groups if g.regularized]
        self.names = [g.name for g in self.reg_groups]
        device = self.reg_groups[0].params[0].device
        self.delta = torch.as_tensor(check_deltas(deltas, self.names), dtype=torch.float32, device=device)

    # ----------------------------------------------------------------- strengths
    @property
    def lambdas(self) -> dict[str, float]:
        """Strength per regularized group name (host floats; synchronizes)."""
        return dict(zip(self.names, self.delta.detach().cpu().double().tolist()))

    def set_deltas(self, values, optimizer=None) -> None:
        """Replace the strengths: a tensor (kept on device, no host copy), array, scalar or dict."""
        if isinstance(values, torch.Tensor) and values.shape == self.delta.shape:
            self.delta.copy_(values.detach())
        else:
            self.delta.copy_(torch.as_tensor(check_deltas(values, self.names), dtype=self.delta.dtype))
        if optimizer is not None:
            self.sync_optimizer(optimizer)

    # ----------------------------------------------------------------- L2
    def penalty(self) -> torch.Tensor:
        """Coupled L2 term 1/(2N) Σ_g δ_g ‖W_g‖² (zero in decoupled mode and for L1/L0)."""
        if self.penalty_kind is not Penalty.L2 or self.mode is Mode.DECOUPLED:
            return torch.zeros((), device=self.delta.device)
        norms = torch.stack([g.sq_norm() for g in self.reg_groups])
        return 0.5 * torch.dot(self.delta.to(norms.dtype), norms) / self.n_data

    def param_groups(self, **options) -> list[dict]:
        """Optimizer param groups: one per regularized group with weight_decay = δ_g / N (L2,
        decoupled mode; 0 otherwise), one for every unregularized parameter (weight_decay 0).
        ``options`` (lr, betas …) are copied into each."""
        decay = self.delta.cpu().double().numpy() / self.n_data
        use = self.penalty_kind is Penalty.L2 and self.mode is Mode.DECOUPLED
        out = [{"params": list(g.params), "weight_decay": float(d) if use else 0.0, "name": g.name, **options}
               for g, d in zip(self.reg_groups, decay)]
        rest = [p for g in self.groups if not g.regularized for p in g.params]
        if rest:
            out.append({"params": rest, "weight_decay": 0.0, "name": "unregularized", **options})
        return out

    def sync_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Write the current δ_g / N into the optimizer's param groups (decoupled L2 only)."""
        if self.penalty_kind is not Penalty.L2 or self.mode is not Mode.DECOUPLED:
            return
        decay = dict(zip(self.names, (self.delta.cpu().double().numpy() / self.n_data).tolist()))
        for group in optimizer.param_groups:
            if group.get("name") in decay:
                group["weight_decay"] = decay[group["name"]]

    # ----------------------------------------------------------------- L1 / L0
    @torch.no_grad()
    def prox_step(self, lr: float) -> None:
        """Proximal step after an optimizer step with learning rate ``lr`` (L1: soft, L0: hard
        thresholding at η λ_g / N); no-op for L2."""
        if self.penalty_kind is Penalty.L2:
            return
        op = soft_threshold if self.penalty_kind is Penalty.L1 else hard_threshold
        thresholds = self.delta * (float(lr) / self.n_data)
        for g, t in zip(self.reg_groups, thresholds):
            for p in g.params:
                p.copy_(op(p, t.to(p.dtype)))

    @torch.no_grad()
    def sparsity(self) -> dict[str, float]:
        """Fraction of exact zeros per regularized group."""
        return {g.name: float(sum(int((p == 0).sum()) for p in g.params) / g.numel) for g in self.reg_groups}

    def state_dict(self) -> dict:
        return {"delta": self.delta.detach().cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.delta.copy_(state["delta"].to(self.delta.device))
