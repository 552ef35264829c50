"""Scaling rules for networks: one δ → one prior precision per group, δ_g = δ · s_g.

Static rules are read off the groups (and the weights at initialization) once; adaptive rules
are recomputed during training, every few steps, from the current weights and gradients.
Weights are normalized so that their coefficient-weighted mean is one,
Σ_g n_g s_g = Σ_g n_g, as in :func:`lamina.scale_weights`: every rule spends the same total
prior precision as the uniform one at equal δ.

==================  ==============================  ==========================================
rule                s_g ∝                           rationale
==================  ==============================  ==========================================
``uniform``         1                               one δ for every layer
``per_element``     1 / n_g                         every layer pays the same total penalty
``sqrt_numel``      √n_g                            group-lasso convention
``fan_in``          fan_in_g                        prior variance 1/fan_in (LeCun/He init.)
``inverse_norm``    1 / ‖W_g(0)‖²                   MacKay's δ_g = γ_g/‖w_g‖² at equal γ, at init.
``alpha_hill``      a + (b−a)(α_g−α_min)/(α_max−α_min)  AlphaDecay (arXiv 2506.14562): heavy-tailed
                                                    spectra (small Hill exponent α) decay less
``awd``             EMA ‖∇_g‖ / ‖W_g‖               adaptive weight decay: penalty gradient
                                                    kept in ratio to the loss gradient
==================  ==============================  ==========================================
"""
from __future__ import annotations

import math
from enum import Enum

import numpy as np
import torch

from lamina._validation import parse_choice
from lamina.groups import Groups
from lamina.scaling import scale_weights
from lamina.torch.groups import ParamGroup


class Rule(str, Enum):
    """Names of the network scaling rules (see the module table)."""

    UNIFORM = "uniform"
    PER_ELEMENT = "per_element"
    SQRT_NUMEL = "sqrt_numel"
    FAN_IN = "fan_in"
    INVERSE_NORM = "inverse_norm"
    ALPHA_HILL = "alpha_hill"
    AWD = "awd"

    @classmethod
    def parse(cls, value) -> "Rule":
        return parse_choice(cls, value, "rule")


def _normalize(weights: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    weights = np.where(np.isfinite(weights) & (weights > 0), weights, 1.0)
    return weights * sizes.sum() / np.dot(sizes, weights)


def static_weights(rule, groups: list[ParamGroup]) -> np.ndarray:
    """Weights ``s`` of a static rule, one per (regularized) group, normalized.

    Reuses :func:`lamina.scale_weights` on the partition of the coefficients into groups.

    Examples
    --------
    >>> from torch import nn
    >>> from lamina.torch.groups import discover_groups, regularized
    >>> g = regularized(discover_groups(nn.Sequential(nn.Linear(4, 2), nn.Linear(2, 1))))
    >>> static_weights("fan_in", g).round(3).tolist()
    [1.111, 0.556]
    """
    rule = Rule.parse(rule)
    sizes = np.array([g.numel for g in groups], dtype=np.float64)
    partition = Groups.contiguous([g.numel for g in groups], names=[g.name for g in groups])
    if rule is Rule.SQRT_NUMEL:
        return scale_weights("sqrt_size", partition)
    if rule in (Rule.UNIFORM, Rule.PER_ELEMENT):
        return scale_weights(rule.value, partition)
    if rule is Rule.FAN_IN:
        return scale_weights("fan_in", partition, fan_in=[g.fan_in for g in groups])
    if rule is Rule.INVERSE_NORM:
        with torch.no_grad():
            norms = np.array([float(g.sq_norm()) for g in groups])
        return _normalize(1.0 / np.maximum(norms, 1e-12), sizes)
    raise ValueError(f"rule {rule.value!r} is adaptive; use make_rule() for it")


# ----------------------------------------------------------------------------- AlphaDecay
def hill_alpha(weight: torch.Tensor, tail_fraction: float = 0.5) -> float:
    """Power-law exponent of the eigenvalue spectrum of WᵀW by the Hill estimator.

    With λ_(1) ≥ … ≥ λ_(n) the eigenvalues of WᵀW (squared singular values, W reshaped to
    (out, in·kernel)) and k = ⌈tail_fraction · n⌉,

        α̂ = 1 + k / Σ_{i=1..k} ln(λ_(i) / λ_(k+1)).

    Small α̂ = heavy tail (strong learned correlations). Returns NaN for fewer than 3
    eigenvalues or a flat spectrum.

    Examples
    --------
    >>> w = torch.diag(torch.arange(1.0, 11.0) ** -1.0)   # λ_i = i⁻²: a power law
    >>> round(hill_alpha(w, 0.5), 2)
    1.6
    """
    matrix = weight.detach().reshape(weight.shape[0], -1).double()
    return hill_alpha_eigenvalues(torch.linalg.svdvals(matrix) ** 2, tail_fraction)


def hill_alpha_eigenvalues(eig: torch.Tensor, tail_fraction: float = 0.5) -> float:
    """Hill estimate α̂ from eigenvalues directly (see :func:`hill_alpha`)."""
    eig, _ = torch.sort(torch.as_tensor(eig, dtype=torch.float64).reshape(-1), descending=True)
    n = eig.numel()
    k = min(n - 1, max(1, math.ceil(tail_fraction * n)))
    if n < 3 or eig[k] <= 0:
        return float("nan")
    logs = torch.log(eig[:k] / eig[k]).sum()
    return float("nan") if logs <= 0 else float(1.0 + k / logs)


class AdaptiveRule:
    """An adaptive rule: ``observe`` after each backward (cheap, on device), ``weights`` when
    the training loop asks (every few steps), answering normalized weights, one per group."""

    name = "adaptive"

    def observe(self, groups: list[ParamGroup]) -> None:  # pragma: no cover - default no-op
        """See the gradients of the current step."""

    def weights(self, groups: list[ParamGroup]) -> np.ndarray:
        raise NotImplementedError


class AlphaHillRule(AdaptiveRule):
    """AlphaDecay-style rule: s_g interpolated linearly in the Hill exponent α_g,

        s_g = low + (high − low) (α_g − α_min) / (α_max − α_min),

    so that the most heavy-tailed module gets ``low`` and the lightest-tailed ``high``
    (then normalized). Groups whose α is undefined (vectors, tiny matrices) get the mean.
    """

    name = "alpha_hill"

    def __init__(self, low: float = 0.5, high: float = 1.5, tail_fraction: float = 0.5):
        if not 0 < low <= high:
            raise ValueError(f"need 0 < low <= high, got low={low}, high={high}")
        self.low, self.high, self.tail_fraction = low, high, tail_fraction

    def weights(self, groups: list[ParamGroup]) -> np.ndarray:
        alphas = np.array([hill_alpha(g.params[0], self.tail_fraction) if g.params[0].ndim >= 2
                           else np.nan for g in groups])
        sizes = np.array([g.numel for g in groups], dtype=np.float64)
        finite = np.isfinite(alphas)
        if finite.sum() < 2 or np.ptp(alphas[finite]) == 0:
            return np.ones(len(groups))
        lo, hi = alphas[finite].min(), alphas[finite].max()
        s = self.low + (self.high - self.low) * (alphas - lo) / (hi - lo)
        s[~finite] = s[finite].mean()
        return _normalize(s, sizes)


def _grad_norm(group: ParamGroup) -> torch.Tensor:
    total = torch.zeros((), device=group.params[0].device)
    for p in group.params:
        if p.grad is not None:
            total = total + p.grad.detach().pow(2).sum()
    return total.sqrt()


class AWDRule(AdaptiveRule):
    """Adaptive weight decay: s_g ∝ EMA‖∇_g L‖ / ‖W_g‖ (Ghiasi et al., 2022, per group).

    ``observe`` keeps an exponential moving average (factor ``beta``) of each group's
    gradient norm on the device, without host synchronization.
    """

    name = "awd"

    def __init__(self, beta: float = 0.9):
        self.beta = beta
        self._grad_norm = None

    def observe(self, groups: list[ParamGroup]) -> None:
        norms = torch.stack([_grad_norm(g) for g in groups])
        if self._grad_norm is None:
            self._grad_norm = norms.detach().clone()
        else:
            self._grad_norm.mul_(self.beta).add_(norms.detach(), alpha=1 - self.beta)

    def weights(self, groups: list[ParamGroup]) -> np.ndarray:
        if self._grad_norm is None:
            return np.ones(len(groups))
        with torch.no_grad():
            w_norm = torch.stack([g.sq_norm() for g in groups]).sqrt()
            ratio = (self._grad_norm / w_norm.clamp_min(1e-12)).cpu().numpy().astype(np.float64)
        return _normalize(ratio, np.array([g.numel for g in groups], dtype=np.float64))


def make_rule(rule, groups: list[ParamGroup]):
    """``(weights, adaptive_rule_or_None)`` for a rule name or an :class:`AdaptiveRule`."""
    if isinstance(rule, AdaptiveRule):
        return rule.weights(groups), rule
    rule = Rule.parse(rule)
    if rule is Rule.ALPHA_HILL:
        adaptive = AlphaHillRule()
        return adaptive.weights(groups), adaptive
    if rule is Rule.AWD:
        return np.ones(len(groups)), AWDRule()
    return static_weights(rule, groups), None
