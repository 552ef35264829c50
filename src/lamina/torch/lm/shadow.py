"""The head's decay chosen among shadow heads: copies of the readout trained beside the network.

The output layer computes logits = W h + b from the final features h. Whether a decay λ on W
helps is a property of the whole run — AdamW's decay acts on the timescale 1/(ηλ), and a head
that is over-confident *now* need not be better decayed at the end (issue 15, part 2, section F
of benchmarks/RESULTS.md: the held-out temperature read "over-confident" on a run where no decay
was best, and following it cost 12.6 %). But the head is small (d × V) and its inputs are shared,
so its decay can be *measured* instead of inferred: K copies of the head, each trained by AdamW
with its own decay λ_k on the same features, at every training step, from the head's initial
weights. The features are detached (the network never sees the copies), so each copy is exactly
a head trained with decay λ_k on this run's features; their losses on held-out text compare the
decays over the run so far.

Decays: λ_k = m_k · λ_ts, m = ``MULTIPLES`` (0, 1, 3, 10) and λ_ts = 1/Σ_t η_t, Wang &
Aitchison's EMA timescale equal to the run, so the grid follows the recipe. The choice
(:func:`choose`) is the least-decayed copy whose held-out loss is not worse than the best copy's
by more than ``z`` paired standard errors over the held-out windows: a larger decay has to earn
its place, as in the tuner's other steps (a copy decayed hard can look as good as a milder one at
the choice and fall behind over the rest of the run, when the learning rate is small and the
features still move).

The copies share one tensor (K, V, d): one matrix product per step for the logits of all and
one for their gradients (in closed form: no autograd graph), the gradient clipped per copy at
the recipe's norm, the decoupled decay W ← (1 − η_t λ_k) W applied before the Adam step, as
``torch.optim.AdamW`` does — so copy k follows exactly the trajectory
of a separate ``AdamW`` with ``weight_decay=λ_k`` on its weight and 0 on its bias (a test checks
it). They train on every token of the training batches: copies trained on a subsample of them
(⅛) chose worse (their gradient noise differs from the head's) and cost the default 6.8 % on one
run. Cost per step ≈ K · 4 d V / (6 × the network's weights per token), counted by
:meth:`ShadowHeads.cost_per_step`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from lamina.torch.lm.param_types import matrix_types, param_types

MULTIPLES = (0.0, 1.0, 3.0, 10.0)


class ShadowHeads:
    """K copies of ``head`` (an ``nn.Linear``) trained by AdamW with decays ``decays``, batched."""

    def __init__(self, head: nn.Linear, decays, lr_at, *, betas=(0.9, 0.95), eps: float = 1e-8,
                 clip_norm: float = 1.0):
        decays = [float(d) for d in decays]
        if not decays or any(not (math.isfinite(d) and d >= 0) for d in decays):
            raise ValueError(f"decays must be a non-empty list of numbers >= 0, got {decays!r}")
        if not isinstance(head, nn.Linear) or head.bias is None:
            raise ValueError(f"head must be an nn.Linear with a bias, got {type(head).__name__}")
        k = len(decays)
        self.decays = torch.tensor(decays, dtype=head.weight.dtype, device=head.weight.device)
        self.weight = head.weight.detach().clone().unsqueeze(0).repeat(k, 1, 1)
        self.bias = head.bias.detach().clone().unsqueeze(0).repeat(k, 1)
        self.optimizer = torch.optim.Adam([self.weight, self.bias], lr=lr_at(0), betas=betas, eps=eps)
        self.lr_at, self.clip_norm = lr_at, float(clip_norm)

    def _log_probs(self, features: torch.Tensor) -> torch.Tensor:
        """(N, K, V) log-softmax of every copy on (N, d) features: one matrix product for all."""
        k, v, d = self.weight.shape
        logits = torch.addmm(self.bias.reshape(-1), features, self.weight.reshape(k * v, d).T)
        return torch.log_softmax(logits.view(-1, k, v), dim=2)

    @torch.no_grad()
    def step(self, step: int, features: torch.Tensor, targets: torch.Tensor) -> None:
        """One AdamW step of every copy on the mean cross-entropy over the rows of (N, d)
        ``features``; the gradient in closed form, (softmax − one-hot) / N times the features."""
        n, (k, v, d) = features.shape[0], self.weight.shape
        residual = self._log_probs(features).exp_()
        rows, copies = torch.arange(n, device=features.device), torch.arange(k, device=features.device)
        residual[rows[:, None], copies[None, :], targets[:, None]] -= 1.0
        residual /= n
        grad_w = (residual.view(n, k * v).T @ features).view(k, v, d)
        grad_b = residual.sum(0)
        norms = torch.sqrt(grad_w.pow(2).sum((1, 2)) + grad_b.pow(2).sum(1))
        scale = (self.clip_norm / (norms + 1e-6)).clamp(max=1.0)   # clip_grad_norm_ per copy
        self.weight.grad, self.bias.grad = grad_w * scale[:, None, None], grad_b * scale[:, None]
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.weight.mul_((1.0 - lr * self.decays)[:, None, None])
        self.optimizer.step()

    @torch.no_grad()
    def heldout_losses(self, features: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
        """(K, windows) mean loss of every copy per window: features (windows, T, d), targets (windows, T)."""
        w, t, d = features.shape
        log_probs = self._log_probs(features.reshape(w * t, d))
        k = log_probs.shape[1]
        picked = log_probs.gather(2, targets.reshape(-1, 1, 1).expand(-1, k, 1)).squeeze(2)   # (rows, K)
        return (-picked).T.reshape(k, w, t).mean(2).double().cpu().numpy()

    def keep(self, k: int) -> None:
        """Keep copy k only (its Adam state with it): the others stop costing."""
        old, weight = self.optimizer, self.weight[k:k + 1].clone()
        bias = self.bias[k:k + 1].clone()
        new = torch.optim.Adam([weight, bias], lr=old.param_groups[0]["lr"], betas=old.defaults["betas"],
                               eps=old.defaults["eps"])
        for before, after in ((self.weight, weight), (self.bias, bias)):
            state = old.state.get(before)
            if state:
                new.state[after] = {"step": state["step"].clone(), "exp_avg": state["exp_avg"][k:k + 1].clone(),
                                    "exp_avg_sq": state["exp_avg_sq"][k:k + 1].clone()}
        self.weight, self.bias, self.optimizer, self.decays = weight, bias, new, self.decays[k:k + 1]

    @torch.no_grad()
    def copy_into(self, head: nn.Linear, k: int = 0) -> None:
        """Write copy k's weight and bias into ``head``."""
        head.weight.copy_(self.weight[k])
        head.bias.copy_(self.bias[k])

    def cost_per_step(self, n_weights: int) -> float:
        """Training batches one step of the copies costs: forward and weight gradient of K heads
        (4 d V per token) against 6 × ``n_weights`` (the network's weights used per token)."""
        k, v, d = self.weight.shape
        return 4.0 * k * v * d / (6.0 * n_weights)


def choose(losses: np.ndarray, z: float = 2.0) -> int:
    """The least-decayed copy (rows ordered by decay) whose per-window held-out losses (K, windows)
    are not worse than the best copy's by more than ``z`` paired standard errors.

    Examples
    --------
    >>> rng = np.random.default_rng(0); base = rng.normal(2.0, 0.3, 32)
    >>> choose(np.stack([base + 0.10, base + 0.001 * rng.normal(size=32), base]))   # 1 ties with the best
    1
    >>> choose(np.stack([base + 0.10, base + 0.05, base]))                           # only 2 is the best
    2
    """
    losses = np.asarray(losses, dtype=float)
    if losses.ndim != 2 or losses.size == 0 or not np.all(np.isfinite(losses)):
        raise ValueError(f"losses must be a finite (copies, windows) array, got shape {losses.shape}")
    if not z >= 0:
        raise ValueError(f"z must be a number >= 0 (standard errors), got {z!r}")
    best = int(np.argmin(losses.mean(1)))
    for k in range(best + 1):
        difference = losses[k] - losses[best]
        se = difference.std(ddof=1) / math.sqrt(difference.size) if difference.size > 1 else 0.0
        if difference.mean() <= z * se:
            return k
    return best


class HeadSelection:
    """The tuner's use of :class:`ShadowHeads`: the copies train at every step on the features of
    the training batch (captured by a forward hook on ``head``), their held-out losses are recorded
    at the tuner's updates, :func:`choose` picks one at the merge step (the others stop), and at
    the last step the chosen copy is written into ``head``."""

    def __init__(self, model: nn.Module, head: nn.Linear, recipe, merge_step: int, base_decay: float,
                 multiples=MULTIPLES, z: float = 2.0):
        multiples = [float(m) for m in multiples]
        if any(b <= a for a, b in zip(multiples, multiples[1:])):
            raise ValueError(f"shadow_multiples must increase, got {multiples!r}")
        if not z >= 0:
            raise ValueError(f"shadow_z must be a number >= 0 (standard errors), got {z!r}")
        self.head, self.recipe, self.merge_step, self.z = head, recipe, merge_step, float(z)
        self.copies = ShadowHeads(head, [m * base_decay for m in multiples], lambda s: recipe.lr * recipe.lr_factor(s),
                                  clip_norm=recipe.clip_norm)
        self.decays = self.copies.decays.tolist()
        types = param_types(model)   # the weights a token passes through: the matrix types
        self.n_weights = sum(p.numel() for key in matrix_types(types) for _, p in types[key])
        self.records: list[list[float]] = []
        self.chosen: int | None = None
        self._last, self._features, self._targets = None, None, None
        head.register_forward_hook(self._capture)

    def _capture(self, module, args, output):
        if module.training:
            self._features = args[0].detach()

    def on_batch(self, targets: torch.Tensor) -> None:
        self._targets = targets

    def train(self, step: int) -> float:
        """One step of the copies on the last training batch; returns its cost in batches."""
        if self._features is None or self._targets is None:
            return 0.0
        d = self._features.shape[-1]
        self.copies.step(step, self._features.reshape(-1, d), self._targets.reshape(-1))
        return self.copies.cost_per_step(self.n_weights)

    def record(self, features: torch.Tensor, targets: torch.Tensor) -> None:
        """Held-out losses per copy and window, (windows, T, d) features of the held-out windows."""
        if self.chosen is None:
            self._last = self.copies.heldout_losses(features, targets)
            self.records.append(self._last.mean(1).tolist())

    def choose(self, heldout) -> None:
        """Pick the copy at the merge, from the last record (or, without one, from ``heldout()``:
        features and targets of the held-out windows)."""
        if self._last is None:
            self.record(*heldout())
        self.chosen = choose(self._last, self.z)
        self.copies.keep(self.chosen)

    def finish(self) -> float:
        """Write the chosen copy into the head; its decay."""
        self.copies.copy_into(self.head)
        return self.decays[self.chosen]
