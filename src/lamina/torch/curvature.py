"""Curvature of a network's loss per parameter group, for the evidence (:mod:`lamina.torch.evidence`).

:class:`GGNCurvature` accumulates, as exponential moving averages on the device, the pieces of
the generalized Gauss–Newton matrix H = Σ_n J_nᵀ Λ_n J_n of each group from the sampled output
gradient back-propagated through the training step's graph: ``kfac`` — H_g ≈ N · E[a aᵀ] ⊗
E[g gᵀ] for ``nn.Linear`` weights (eigenvalues N·α_i·β_j); ``diag`` — h = N · E[(g²)(a²)ᵀ]
(a layer applied at several positions per sample: the squared batch gradient, as below);
any other group the diagonal of the batch gradient of the sampled loss. The effective number of
parameters of a group at prior precision δ is γ = Σ_i h_i / (h_i + δ) (:func:`gamma_diag`,
:func:`gamma_kfac`), and the Laplace log evidence of the spectra (:func:`laplace_log_evidence`).
"""
from __future__ import annotations

from collections import Counter
from enum import Enum

import numpy as np
import torch
from torch import nn

from lamina._validation import parse_choice
from lamina.torch.groups import ParamGroup


class Structure(str, Enum):
    KFAC = "kfac"
    DIAG = "diag"

    @classmethod
    def parse(cls, value) -> "Structure":
        return parse_choice(cls, value, "curvature")


def gamma_diag(h: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """γ = Σ_i h_i / (h_i + δ) for curvature eigenvalues (or diagonal) h ≥ 0.

    Examples
    --------
    >>> gamma_diag(torch.tensor([1.0, 3.0, 0.0]), torch.tensor(1.0)).item()
    1.25
    """
    h = h.clamp_min(0.0)
    return (h / (h + delta)).sum()


def gamma_kfac(eig_a: torch.Tensor, eig_g: torch.Tensor, n_data: int, delta: torch.Tensor) -> torch.Tensor:
    """γ for H ≈ N · A ⊗ G from the eigenvalues of A and G: Σ_ij Nα_iβ_j / (Nα_iβ_j + δ)."""
    h = n_data * torch.outer(eig_g.clamp_min(0.0), eig_a.clamp_min(0.0))
    return gamma_diag(h, delta)


class _EMA:
    """Bias-corrected exponential moving average of a tensor."""

    def __init__(self, decay: float):
        self.decay, self.value, self.weight = decay, None, 0.0

    def update(self, x: torch.Tensor) -> None:
        x = x.detach()
        if self.value is None:
            self.value = torch.zeros_like(x)
        self.value.mul_(self.decay).add_(x, alpha=1.0 - self.decay)
        self.weight = self.weight * self.decay + (1.0 - self.decay)

    def get(self) -> torch.Tensor | None:
        return None if self.value is None else self.value / self.weight


class GGNCurvature:
    """Moving-average GGN curvature of each regularized group, from sampled output gradients.

    Parameters
    ----------
    model : nn.Module
    groups : list of ParamGroup
        The regularized groups.
    structure : {"kfac", "diag"}
        Structure for ``nn.Linear`` weight groups (others are always diagonal).
    decay : float
        EMA factor per curvature step.
    """

    def __init__(self, model: nn.Module, groups: list[ParamGroup], structure="kfac", decay: float = 0.95):
        self.structure = Structure.parse(structure)
        self.groups = groups
        self.decay = decay
        holders = Counter(id(p) for m in model.modules() for p in m.parameters(recurse=False))
        # a weight tied between modules (a second Linear, an input Embedding) takes the generic
        # path, whose gradient back-propagates through every use; a hook sees one
        linear = {id(m.weight): m for m in model.modules() if isinstance(m, nn.Linear) and holders[id(m.weight)] == 1}
        self._module_of = {}
        for k, g in enumerate(groups):
            if len(g.params) == 1 and id(g.params[0]) in linear:
                self._module_of[k] = linear[id(g.params[0])]
        self._generic = [k for k in range(len(groups)) if k not in self._module_of]
        self._captured: dict[int, list] = {k: [] for k in self._module_of}
        self._stats = {k: (_EMA(decay), _EMA(decay)) if self.structure is Structure.KFAC else (_EMA(decay),)
                       for k in self._module_of}
        self._stats.update({k: (_EMA(decay),) for k in self._generic})
        self._handles = [model.register_forward_pre_hook(self._clear)]
        for k, module in self._module_of.items():
            self._handles.append(module.register_forward_hook(self._make_hook(k)))

    def _demote_unhookable(self) -> None:
        """A Linear whose forward hook did not fire before its first curvature step is read
        without being called (``nn.MultiheadAttention`` uses ``out_proj.weight`` directly), and
        one called more than once per forward (its uses combine within a sample's output, where
        K-FAC-expand's A ⊗ G was 2–2.5 × the GGN): its group gets the diagonal GGN from the
        parameter's gradient instead, which needs no hook."""
        for k in [k for k, calls in self._captured.items()
                  if len(calls) > 1 or (not calls and self._stats[k][0].get() is None)]:
            del self._module_of[k], self._captured[k]
            self._generic.append(k)
            self._stats[k] = (_EMA(self.decay),)

    def _trainable(self, k: int) -> list[torch.Tensor]:
        return [p for p in self.groups[k].params if p.requires_grad]

    def _clear(self, *_):
        for captured in self._captured.values():
            captured.clear()

    def _make_hook(self, k):
        def hook(module, inputs, output):
            if torch.is_grad_enabled() and output.requires_grad and k in self._captured:
                self._captured[k].append((inputs[0].detach(), output))
        return hook

    def remove(self) -> None:
        """Remove the forward hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def accumulate(self, output: torch.Tensor, v: torch.Tensor) -> None:
        """Back-propagate the sampled output gradient ``v`` and update the moving averages.

        ``output`` must still hold its graph (call before the training ``backward``)."""
        n_batch = output.shape[0]
        self._demote_unhookable()
        hooked = [(k, a, s) for k, calls in self._captured.items() for a, s in calls]
        # parameters frozen after the groups were built are skipped: their group keeps the
        # curvature it had (or none, see ready())
        generic = [(k, self._trainable(k)) for k in self._generic]
        targets = [s for _, _, s in hooked] + [p for _, params in generic for p in params]
        if not targets:
            return
        grads = torch.autograd.grad(output, targets, grad_outputs=v, retain_graph=True, allow_unused=True)
        per_group: dict[int, list] = {}
        for (k, a, s), g in zip(hooked, grads[:len(hooked)]):
            if g is not None:
                per_group.setdefault(k, []).append((a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])))
        for k, pairs in per_group.items():
            a = torch.cat([p[0] for p in pairs])
            g = torch.cat([p[1] for p in pairs])
            if self.structure is Structure.KFAC:
                # K-FAC-expand (Eschenhagen et al. 2023): a layer applied at T positions per
                # sample in one call (a sequence) has B·T rows; A averages over them, G sums
                # per sample, so that A ⊗ G keeps the per-sample scale of the GGN (both over B
                # made it T× too large); with one row per sample both are as before
                self._stats[k][0].update(a.T @ a / a.shape[0])
                self._stats[k][1].update(g.T @ g / n_batch)
            elif a.shape[0] == n_batch:   # one row per sample: its gradient is g aᵀ
                self._stats[k][0].update((g * g).T @ (a * a) / n_batch)
            else:
                # a layer applied at several positions per sample: a sample's gradient is
                # Σ_t g_t a_tᵀ, and Σ_t g_t² a_t² drops its cross-position terms (0.48 × the exact
                # diagonal for a mean-pooled sequence at T = 4); the batch gradient's square, as
                # for the other groups, keeps them (cross-sample terms vanish as E[v] = 0)
                batch_grad = g.T @ a
                self._stats[k][0].update(batch_grad * batch_grad / n_batch)
        offset = len(hooked)
        for k, params in generic:
            if len(params) < len(self.groups[k].params):
                offset += len(params)
                continue   # partly or wholly frozen: its diagonal would not match the group's size
            parts = []
            for p in params:
                grad = grads[offset]
                offset += 1
                parts.append(torch.zeros_like(p).reshape(-1) if grad is None else grad.reshape(-1))
            flat = torch.cat(parts)
            self._stats[k][0].update(flat * flat / n_batch)
        self._clear()

    def ready(self) -> bool:
        """Every group whose parameters all train has curvature (frozen groups never will)."""
        return all(stat.get() is not None for k, stats in self._stats.items()
                   if len(self._trainable(k)) == len(self.groups[k].params) for stat in stats)

    def spectra(self, n_data: int) -> list[torch.Tensor]:
        """Curvature eigenvalues (K-FAC) or diagonal of every group, scaled to N samples."""
        out = []
        for k in range(len(self.groups)):
            stats = self._stats[k]
            if stats[0].get() is None:   # frozen before its first curvature step: the prior alone
                out.append(torch.zeros(sum(p.numel() for p in self.groups[k].params),
                                       device=self.groups[k].params[0].device))
            elif k in self._module_of and self.structure is Structure.KFAC:
                eig_a = torch.linalg.eigvalsh(stats[0].get()).clamp_min(0.0)
                eig_g = torch.linalg.eigvalsh(stats[1].get()).clamp_min(0.0)
                out.append(n_data * torch.outer(eig_g, eig_a).reshape(-1))
            else:
                out.append(n_data * stats[0].get().reshape(-1))
        return out

    def gammas(self, delta: torch.Tensor, n_data: int, spectra=None) -> torch.Tensor:
        """γ_g for every group at strengths ``delta`` (tensor, one per group), on device."""
        spectra = self.spectra(n_data) if spectra is None else spectra
        return torch.stack([gamma_diag(h, delta[k].to(h.dtype)) for k, h in enumerate(spectra)])


def laplace_log_evidence(nll: float, delta, norms, spectra) -> float:
    """Laplace approximation of log p(D | δ) (up to constants in δ and w) with a block-diagonal
    curvature, one block per regularized group g of P_g parameters with eigenvalues h_gi:

        log p(D | δ) ≈ −NLL(w) − ½ Σ_g δ_g ‖w_g − μ_g‖² + ½ Σ_g P_g log δ_g − ½ Σ_g Σ_i log(h_gi + δ_g).

    Its stationary points in δ_g at fixed w and h are MacKay's δ_g = γ_g / ‖w_g − μ_g‖²
    (γ_g = Σ_i h_gi/(h_gi + δ_g)); unregularized parameters (flat prior) add no term.

    >>> value = laplace_log_evidence(1.0, np.array([2.0]), np.array([0.5]), [np.array([2.0, 0.0])])
    >>> round(value, 6)     # −1 − ½·2·0.5 + ½·2·log 2 − ½(log 4 + log 2)
    -1.846574
    """
    delta = np.asarray(delta, dtype=np.float64)
    total = -float(nll) - 0.5 * float(np.dot(delta, np.asarray(norms, dtype=np.float64)))
    for d, h in zip(delta, spectra):
        if d <= 0:  # no prior on the group (δ = 0): flat, no term
            continue
        h = np.clip(np.asarray(h, dtype=np.float64).reshape(-1), 0.0, None)
        total += 0.5 * h.size * float(np.log(d)) - 0.5 * float(np.log(h + d).sum())
    return float(total)
