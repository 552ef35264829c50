"""lamina's tuner of the decay per parameter type: an EMA timescale, then held-out calibration.

1. Scale from the EMA timescale (Wang & Aitchison, ICML 2025)
--------------------------------------------------------------
AdamW's step W ← (1 − η_t λ_g) W − η_t u_t makes W an exponential moving average of the
updates −u_t/λ_g with rate η_t λ_g: its memory is τ_g = 1/(η λ_g) iterations. Wang & Aitchison
find the best timescale, counted in epochs, roughly constant across model and data size, and
between one epoch and the whole run. Every tuned type starts at the decay for which the run
spans 1/``fraction`` timescales,

    Σ_t η_t λ₀ = 1 / fraction      ⇒   λ₀ = 1 / (fraction · Σ_t η_t),

with the integrated learning rate Σ_t η_t of the actual schedule — so the starting decay
follows the lr schedule and the run length (twice the steps → half the decay) without a grid.

2. The split between types from held-out data
---------------------------------------------
Raising λ_g shrinks W_g along −W_g: at AdamW's equilibrium ‖W_g‖ ∝ λ_g^(−1/2) (updates of
fixed size balanced by the decay), so over the EMA horizon a change of log λ_g by Δ moves
W_g to ≈ e^(−Δ/2) W_g. The held-out loss V is therefore stationary in log λ_g when it is
stationary in the scale of W_g: the criterion of lamina's held-out weight-scale calibration
(:mod:`lamina.torch.heldout`), here one scale per type,

    log c*_g = argmin_{log c} V(W_g → c·W_g),   estimated by a parabola through
               log c ∈ {−ε, 0, ε} (3 forward passes shared, 2 per type), clipped to ±½,

and every ``every`` steps after the warm-up

    log λ_g ← log λ_g + clip(−2 κ log c*_g, ±log ``max_factor``)

(c*_g < 1: the held-out text prefers smaller W_g, decay it more). The step is proportional
to the miscalibration, so a type whose scale the held-out loss does not see stays put — an
online gradient on log λ with a normalized step would drift instead. A type whose held-out
optimum does not respond to its decay is frozen, as in :class:`lamina.torch.heldout.HeldoutScale`:
once log λ_g has moved by more than log 4 since the first update while log c*_g moved by less
than a tenth of the expected ½ Δlog λ_g, further steps would only drift (the training
gradient regrows W_g faster than the decay shrinks it) and λ_g is kept. The held-out text is
every ``1/val_fraction``-th block of the training text (blocks of ``block`` characters, spread
over the corpus like the validation blocks); the model trains on the rest until
``merge_at`` of the steps, then the decays are frozen and training continues on all of the
training text. Cost: the run plus (updates × forward passes × held-out windows / batch / 3)
batches (a forward pass ≈ ⅓ of a training step), ≈ 1.1 runs with the defaults.

Norms and biases keep decay 0 (the nanoGPT convention; decaying a LayerNorm gain pulls it to
0, not to its initial 1); the embedding and every matrix type are tuned.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from lamina.torch.lm.model import random_windows
from lamina.torch.lm.param_types import matrix_types, param_types, set_decays
from lamina.torch.lm.train import DecayCallback, LMRecipe


def timescale_decay(recipe: LMRecipe, fraction: float = 1.0) -> float:
    """λ₀ = 1 / (fraction · Σ_t η_t): the run spans 1/fraction EMA timescales.

    Examples
    --------
    >>> round(timescale_decay(LMRecipe(steps=1000, lr=1e-3, warmup=0, min_lr_ratio=1.0), 0.5), 6)
    2.0
    """
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ValueError(f"fraction must lie in (0, 1], got {fraction!r}")
    return 1.0 / (fraction * recipe.lr_integral())


def heldout_split(codes: torch.Tensor, val_fraction: float = 0.1, block: int = 2000):
    """(fit, held-out) codes: every round(1/val_fraction)-th block of ``block`` characters held out
    (blocks shortened on a short text so that at least two are held out)."""
    if not 0 < val_fraction < 0.5:
        raise ValueError(f"val_fraction must lie in (0, 0.5), got {val_fraction!r}")
    period = max(2, int(round(1 / val_fraction)))
    block = max(1, min(int(block), codes.numel() // (2 * period)))   # at least two held-out blocks
    blocks = torch.split(codes, block)
    if len(blocks) < period:
        raise ValueError(f"codes: {codes.numel()} characters make {len(blocks)} blocks of {block}, need {period}")
    held = [b for i, b in enumerate(blocks) if i % period == period - 1]
    kept = [b for i, b in enumerate(blocks) if i % period != period - 1]
    return torch.cat(kept), torch.cat(held)


def tuned_types(model) -> list[str]:
    """The types lamina's tuner decays: the embedding and every matrix type."""
    types = param_types(model)
    return [key for key in types if key == "embedding" or key in matrix_types(types)]


class HeldoutDecayTuner(DecayCallback):
    """Per-type held-out scale calibration of log λ_g every ``every`` steps (module doc)."""

    def __init__(self, model, recipe: LMRecipe, heldout: torch.Tensor, all_train: torch.Tensor, *, lam0: float,
                 types=None, every: int | None = None, kappa: float = 1.0, max_factor: float = 2.0,
                 epsilon: float = 0.1, merge_at: float = 0.8, heldout_windows: int = 48, seed: int = 0):
        if not 0 < merge_at <= 1:
            raise ValueError(f"merge_at must lie in (0, 1], got {merge_at!r}")
        every = max(1, recipe.steps // 16) if every is None else every
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every must be a positive integer, got {every!r}")
        for name, value in (("kappa", kappa), ("epsilon", epsilon), ("lam0", lam0)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not max_factor > 1:
            raise ValueError(f"max_factor must be > 1, got {max_factor!r}")
        all_types = param_types(model)
        self.types = list(types) if types is not None else tuned_types(model)
        unknown = sorted(set(self.types) - set(all_types))
        if unknown:
            raise ValueError(f"types: unknown parameter type(s) {unknown}; the model's types are {list(all_types)}")
        self.params = {key: [p for _, p in all_types[key]] for key in self.types}
        self.all_train, self.every, self.warmup = all_train, every, recipe.warmup
        self.merge_step = max(1, int(round(merge_at * recipe.steps)))
        self.kappa, self.max_step, self.epsilon = float(kappa), math.log(max_factor), float(epsilon)
        generator = torch.Generator().manual_seed(int(seed) + 7919)
        self.x, self.y = random_windows(heldout, heldout_windows, model.config.context, generator)
        self.theta = np.full(len(self.types), math.log(lam0))
        self.batch_windows = recipe.batch_size
        self.log_scales: list[list[float]] = []
        self.frozen, self._first = np.zeros(len(self.types), dtype=bool), None

    def decays(self) -> dict[str, float]:
        return dict(zip(self.types, np.exp(self.theta).tolist()))

    def data(self, step: int):
        return self.all_train if step >= self.merge_step else None

    def after_step(self, step: int, model, optimizer) -> None:
        if step < self.warmup or step >= self.merge_step or (step + 1) % self.every:
            return
        log_c = self.scale_search(model)
        self.log_scales.append(log_c.tolist())
        if self._first is None:
            self._first = (self.theta.copy(), log_c.copy())
        moved, responded = self.theta - self._first[0], log_c - self._first[1]
        self.frozen |= (np.abs(moved) > math.log(4.0)) & (responded * np.sign(moved) < 0.05 * np.abs(moved))
        step = np.clip(-2.0 * self.kappa * log_c, -self.max_step, self.max_step)
        self.theta = self.theta + np.where(self.frozen, 0.0, step)
        set_decays(optimizer, self.decays())
        forwards = 1 + 2 * len(self.types)
        self.extra_batches += forwards * self.x.shape[0] / self.batch_windows / 3.0

    @torch.no_grad()
    def scale_search(self, model) -> np.ndarray:
        """log c*_g per tuned type from a parabola of V(log c) through {−ε, 0, ε}, clipped to ±½."""
        was_training = model.training
        model.eval()

        def loss() -> float:
            return float(F.cross_entropy(model(self.x).flatten(0, 1), self.y.flatten()))

        centre, eps, out = loss(), self.epsilon, []
        try:
            for key in self.types:
                values = []
                for sign in (-1.0, 1.0):
                    factor = math.exp(sign * eps)
                    for p in self.params[key]:
                        p.mul_(factor)
                    values.append(loss())
                    for p in self.params[key]:
                        p.div_(factor)
                slope, curvature = (values[1] - values[0]) / (2 * eps), (values[1] - 2 * centre + values[0]) / eps ** 2
                best = -slope / curvature if curvature > 0 else -0.5 * math.copysign(1.0, slope)
                out.append(float(np.clip(best, -0.5, 0.5)))
        finally:
            model.train(was_training)
        return np.array(out)
