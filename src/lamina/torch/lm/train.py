"""Training a :class:`~lamina.torch.lm.model.CharTransformer` with AdamW: one recipe for all.

The recipe (:class:`LMRecipe`) fixes everything but the decays: ``steps`` AdamW steps on
random windows of ``batch_size`` × ``context`` characters, learning rate

    η_t = η · t / warmup                                         (t < warmup)
    η_t = η · (r + (1 − r) · ½ (1 + cos(π (t − warmup) / (steps − warmup))))   (after),

r = ``min_lr_ratio`` (``torch.optim.lr_scheduler.LambdaLR``), betas (0.9, 0.95), gradient
clipping at norm 1. Batches come from a ``torch.Generator`` seeded by ``seed``: one seed gives
the same batches to every strategy. Validation perplexity is exp of the mean next-character
cross-entropy over non-overlapping windows of the validation text.

Strategies that change the decays during training are :class:`DecayCallback` objects: the
loop calls ``on_batch`` (the batch drawn), ``after_backward`` (gradients present, before the step) and ``after_step``; a
callback may also replace the training text from some step on (``data``) and reports the
extra forward/backward passes it spent (``extra_batches``, in training batches).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from lamina.torch.fit import DivergenceError
from lamina.torch.lm.model import random_windows, tiled_windows
from lamina.torch.lm.param_types import check_decoupled, decays_of
from lamina.torch.modes import in_mode


@dataclass(frozen=True)
class LMRecipe:
    """Steps, peak learning rate, warm-up, batch, final-lr ratio: the same for every strategy."""

    steps: int = 1500
    lr: float = 3e-3
    warmup: int = 100
    batch_size: int = 32
    min_lr_ratio: float = 0.1
    clip_norm: float = 1.0

    def __post_init__(self):
        for name in ("steps", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.warmup, int) or not 0 <= self.warmup < self.steps:
            raise ValueError(f"warmup must be an integer in [0, steps), got {self.warmup!r}")
        for name in ("lr", "min_lr_ratio", "clip_norm"):
            if isinstance(getattr(self, name), bool) or not isinstance(getattr(self, name), (int, float)):
                raise ValueError(f"{name} must be a number, got {getattr(self, name)!r}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ValueError(f"min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio!r}")

    def lr_factor(self, step: int) -> float:
        """η_t / η at step t (see the module doc)."""
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = (step - self.warmup) / max(1, self.steps - self.warmup)
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    def lr_integral(self, start: int = 0) -> float:
        """Σ_{t ≥ start} η_t: the integrated learning rate of the rest of the run."""
        return self.lr * sum(self.lr_factor(t) for t in range(start, self.steps))


class DecayCallback:
    """Hooks of a strategy that changes decays while training (all optional no-ops)."""

    extra_batches: float = 0.0   # forward+backward passes spent besides training, in training batches

    def data(self, step: int):
        """Training text for ``step`` (None: the loop's own)."""
        return None

    def on_batch(self, step: int, x, y) -> None:
        """The training batch of ``step``: input and target codes, (batch, context) each."""

    def after_backward(self, step: int, model, optimizer) -> None:
        """Gradients of the step are in ``p.grad``; the step is not yet applied."""

    def after_step(self, step: int, model, optimizer) -> None:
        """The AdamW step ``step`` is applied."""


@dataclass
class LMRun:
    """A finished training: final decays, validation perplexity, trajectory and cost."""

    model: object
    decays: dict
    val_ppl: float
    train_loss: float
    trajectory: list = field(default_factory=list)
    runs: float = 1.0
    seconds: float = 0.0
    info: dict = field(default_factory=dict)


@torch.no_grad()
def perplexity(model, codes: torch.Tensor, context: int | None = None, batch_size: int = 128,
               max_windows: int | None = None) -> float:
    """exp(mean next-character cross-entropy) over non-overlapping windows of ``codes``."""
    context = context or model.config.context
    device = next(model.parameters()).device
    x, y = (t.to(device) for t in tiled_windows(codes, context, max_windows))
    total = 0.0
    with in_mode(model, training=False):
        for i in range(0, x.shape[0], batch_size):
            logits = model(x[i:i + batch_size])
            total += float(F.cross_entropy(logits.flatten(0, 1), y[i:i + batch_size].flatten(), reduction="sum"))
    return math.exp(total / y.numel())


def train_lm(model, train_codes: torch.Tensor, val_codes: torch.Tensor, optimizer, recipe: LMRecipe, *,
             seed: int = 0, callbacks=(), record_every: int = 50) -> LMRun:
    """Train ``model`` with ``optimizer`` (AdamW, named param groups) by ``recipe``; returns
    the validation perplexity on ``val_codes`` and the decays recorded every ``record_every`` steps."""
    check_decoupled(optimizer)
    callbacks = list(callbacks)
    for callback in callbacks:
        if not isinstance(callback, DecayCallback):
            raise ValueError(f"callbacks: expected DecayCallback objects, got {type(callback).__name__}")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, recipe.lr_factor)
    generator = torch.Generator().manual_seed(int(seed))
    context, device = model.config.context, next(model.parameters()).device   # the text may stay on the host
    trajectory, running, started = [], None, time.perf_counter()
    model.train()
    for step in range(recipe.steps):
        codes = train_codes
        for callback in callbacks:
            replaced = callback.data(step)
            codes = codes if replaced is None else replaced
        x, y = (t.to(device) for t in random_windows(codes, recipe.batch_size, context, generator))
        for callback in callbacks:
            callback.on_batch(step, x, y)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        if not torch.isfinite(loss):
            raise DivergenceError(f"training diverged at step {step}: loss {float(loss)} (lr {recipe.lr})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_norm)
        for callback in callbacks:
            callback.after_backward(step, model, optimizer)
        optimizer.step()
        scheduler.step()
        for callback in callbacks:
            callback.after_step(step, model, optimizer)
        value = float(loss.detach())
        running = value if running is None else 0.98 * running + 0.02 * value
        if step % record_every == 0 or step == recipe.steps - 1:
            trajectory.append({"step": step, "loss": running, "decays": decays_of(optimizer)})
    extra = sum(c.extra_batches for c in callbacks)
    return LMRun(model, decays_of(optimizer), perplexity(model, val_codes, context), running, trajectory,
                 runs=(recipe.steps + extra) / recipe.steps, seconds=time.perf_counter() - started)
