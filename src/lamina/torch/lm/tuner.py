"""lamina's tuner of the decay per parameter type: a harmless start, then a held-out signal.

1. Start: a decay too weak to matter
------------------------------------
AdamW's step W ← (1 − η_t λ_g) W − η_t u_t makes W an exponential moving average of the
updates −u_t/λ_g with memory τ_g = 1/(η λ_g) iterations. Wang & Aitchison (ICML 2025) find the
best timescale between one epoch and the whole run — for a model that fits its data. A model
that is still learning at the end of its budget wants no decay at all (issue 15, part 2: the
timescale = the run, λ₀ ≈ 1, was +10 % validation perplexity on a small char transformer). So
every tuned type starts at a timescale of ``START_RUNS`` = 100 runs,

    λ₀ = 1 / (100 · Σ_t η_t),

with the integrated learning rate Σ_t η_t of the actual schedule: on its own it shrinks W by
e^(−0.01) over the run. A tuner that finds no signal leaves the decays there, i.e. ≈ no decay;
the held-out data must *raise* λ_g (up to ``max_factor`` per update, 2^11 over 11 updates).

2. The signal: what the held-out text prefers and the training text does not
----------------------------------------------------------------------------
Raising λ_g shrinks W_g (at AdamW's equilibrium ‖W_g‖ ∝ λ_g^(−1/2)), so over the EMA horizon
a change of log λ_g by Δ moves W_g to ≈ e^(−Δ/2) W_g. The held-out weight-scale slope
∂V/∂log c of W_g → c·W_g (lamina's held-out calibration, :mod:`lamina.torch.heldout`) alone
is a biased signal here: a model that is not converged (or whose softmax is mis-calibrated)
prefers another scale on *every* text, training text included, and decay is not the cure for
that. The step therefore uses the *gap* between the held-out and the training slopes (fixed
windows of each, per-window slopes from V at log c ∈ {−ε, 0, ε}):

    gap_g = mean slope_held − mean slope_train,    log c*_g = −gap_g / curvature_held, clipped to ±½,

set to 0 unless |gap_g| exceeds ``z`` standard errors of the between-window spread (``z=2``; the
rule is off by default since section 5, ``z=inf``) — symmetric and silent without evidence.
Every ``every`` steps after the warm-up log λ_g ← log λ_g + clip(−2 κ log c*_g, ±log ``max_factor``).
``leverage=True`` raises λ_g additively instead, by Δλ_g = −κ log c*_g / Σ_{t>now} η_t: it follows
a real overfitting signal further but amplifies chance gaps (issue 15, part 2, section C of benchmarks/RESULTS.md).

3. The overfitting switch: the timescale rule, once the held-out loss says so
----------------------------------------------------------------------------
The gap step is small where decay matters (its effect on W has timescale 1/(η λ) ≫ the run at
λ ≈ λ₀, so W and the gap barely respond within a run). The held-out loss itself tells *when*
decay is needed: :class:`~lamina.torch.lm.overfit.OverfitDetector` checks, at every update, the
per-window held-out loss against its running minimum (paired over the same windows) and
triggers after ``patience`` (2) consecutive rises of more than ``overfit_z`` (2) standard
errors — the model has started to memorize its training text. From then on every tuned type's
decay is at least Wang & Aitchison's EMA-timescale rule λ_ts = 1/Σ_t η_t (τ = the run; the
gap step keeps splitting it by type). A model that is still learning never triggers it and
keeps ≈ no decay; ``overfit_z=inf`` turns the switch off. (Issue 15, part 2, section D of
benchmarks/RESULTS.md: it never fired on 20,000–120,000 characters and took 10,000 characters,
≈ 160 epochs, from +37 % to +12 % against the best uniform λ.)

``persist`` (1 by default) applies a type's step only once its gated signal kept the same sign
at ``persist`` consecutive updates — a stricter gate for the large ``leverage`` steps.

A type whose signal does not respond to its decay is frozen (as in
:class:`lamina.torch.scale_search.HeldoutScale`, in both directions): once log λ_g has moved by more
than log 4 since the first update while log c*_g moved by less than a tenth of the expected
½ Δlog λ_g. The held-out text is every ``1/val_fraction``-th block of the training text
(blocks of ``block`` characters, spread over the corpus like the validation blocks); the model
trains on the rest until ``merge_at`` of the steps, then the decays are frozen and training
continues on all of the training text (cost: section 5; a forward pass counts ⅓ of a step).

:func:`timescale_decay` (the timescale = a fraction of the run) stays as the ``timescale``
baseline. Norms and biases keep decay 0 (the nanoGPT convention; decaying a LayerNorm gain
pulls it to 0, not to its initial 1); the embedding and every matrix type are tuned.

4. Option: the head's decay from the held-out temperature of the logits (off by default)
-----------------------------------------------------------------------------------------
``temperature="interval"`` (or ``"power"``) sets the head's decay from the held-out optimum c*
of W_head → c·W_head at every update (:mod:`lamina.torch.lm.temperature`). It found the
oracle's head-heavy split on 10,000–20,000 characters but cost +12.6 % on 30,000, where no decay
is best: c* < 1 is not evidence that decay helps (issue 15, part 2, section F of RESULTS.md).

5. The head: shadow copies (the default)
----------------------------------------
The head's decay is instead *measured* (:mod:`lamina.torch.lm.shadow`; ``shadow_heads="auto"``:
wherever the model has an untied head): copies of the head, trained at every step on the same
(detached) features with decays m · λ_ts (m ∈ {0, 1, 3, 10}, λ_ts = 1/Σ_t η_t), are compared on
the held-out windows at every update; at the merge step the least-decayed copy within
``shadow_z`` paired standard errors of the best is kept, trains on to the end and replaces the
network's head (its decay is then reported as the head's). The gap rule of section 2 is off by
default (``z=inf``: its 2 × 13 forward passes per update are not computed); the switch stays.
Cost ≈ 1 run + the copies (4 K d V / (6 × the network's weights) of a step each) + one held-out
forward pass per update. ``shadow_heads=False, z=2`` is the tuner of sections C/D of RESULTS.md.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from lamina.torch.lm.model import random_windows
from lamina.torch.lm.overfit import OverfitDetector
from lamina.torch.lm.param_types import matrix_types, param_types, set_decays
from lamina.torch.lm.shadow import MULTIPLES, HeadSelection
from lamina.torch.lm.temperature import (MAPS, forward_capturing, head_inputs, interval_step, linear_owning,
                                         power_step, temperature_search)
from lamina.torch.lm.train import DecayCallback, LMRecipe
from lamina.torch.modes import in_mode


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


START_RUNS = 100.0


def start_decay(recipe: LMRecipe, runs: float = START_RUNS) -> float:
    """lamina's starting decay λ₀ = 1 / (runs · Σ_t η_t): an EMA timescale of ``runs`` runs, so
    that the decay alone shrinks W by e^(−1/runs) over the run (1 % with the default 100) —
    harmless without a held-out signal; the held-out data must raise it.

    Examples
    --------
    >>> round(start_decay(LMRecipe(steps=1000, lr=1e-3, warmup=0, min_lr_ratio=1.0), 100), 6)
    0.01
    """
    if not (isinstance(runs, (int, float)) and math.isfinite(runs) and runs > 0):
        raise ValueError(f"runs must be a positive number, got {runs!r}")
    return 1.0 / (runs * recipe.lr_integral())


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
                 epsilon: float = 0.1, merge_at: float = 0.8, heldout_windows: int = 32, seed: int = 0,
                 fit: torch.Tensor | None = None, z: float = math.inf, leverage: bool = False,
                 overfit_z: float = 2.0, patience: int = 2, persist: int = 1, temperature: str = "off",
                 temperature_kappa: float = 1.0, temperature_range: float = 1.0, max_shrink: float = 0.1,
                 temperature_gap: bool = False, shadow_heads="auto", shadow_multiples=MULTIPLES,
                 shadow_z: float = 2.0):
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
        device = next(model.parameters()).device   # the texts may stay on the host; windows go to the model
        self.x, self.y = (t.to(device) for t in random_windows(heldout, heldout_windows, model.config.context,
                                                                 generator))
        # as many fixed windows of the text the model trains on: the reference the held-out
        # scale optimum is compared with (what the training data alone already prefer)
        self.fit_x, self.fit_y = (t.to(device) for t in random_windows(all_train if fit is None else fit,
                                                                         heldout_windows, model.config.context, generator))
        if not (isinstance(z, (int, float)) and z >= 0):   # z = inf: the signal off
            raise ValueError(f"z must be a non-negative number, got {z!r}")
        self.z = float(z)
        self.recipe, self.leverage = recipe, bool(leverage)
        self.theta = np.full(len(self.types), math.log(lam0))
        self.batch_windows = recipe.batch_size
        self.log_scales: list[list[float]] = []
        self.frozen, self._first = np.zeros(len(self.types), dtype=bool), None
        self.overfit = OverfitDetector(overfit_z, patience)
        if not (isinstance(persist, int) and persist >= 1):
            raise ValueError(f"persist must be a positive integer, got {persist!r}")
        self.persist, self._streak = persist, np.zeros(len(self.types), dtype=int)
        self.switched_at: int | None = None
        self.head = linear_owning(model, all_types["head"][0][1]) if "head" in all_types else None
        self.shadow = None   # the head's decay chosen among shadow copies (section 5)
        if shadow_heads not in (True, False, "auto"):
            raise ValueError(f"shadow_heads must be True, False or 'auto', got {shadow_heads!r}")
        if shadow_heads and self.head is None and shadow_heads != "auto":
            raise ValueError("shadow_heads: the model has no 'head' type (an untied output nn.Linear)")
        if shadow_heads and self.head is not None:
            self.shadow = HeadSelection(model, self.head, recipe, self.merge_step, timescale_decay(recipe),
                                        shadow_multiples, shadow_z)
        # the head's decay from the held-out temperature of the logits (off by default: section 4)
        if temperature not in ("off",) + MAPS:
            raise ValueError(f"temperature must be one of {['off', *MAPS]}, got {temperature!r}")
        self.temperature, self.log_temperatures, self.temperature_gap = temperature, [], bool(temperature_gap)
        if self.temperature != "off":
            if "head" not in self.types:
                raise ValueError(f"temperature: {temperature!r} needs the 'head' type among the tuned types, got {self.types}")
            for name, value in (("temperature_kappa", temperature_kappa), ("temperature_range", temperature_range),
                                ("max_shrink", max_shrink)):
                if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                    raise ValueError(f"{name} must be a positive number, got {value!r}")
            self.head_index = self.types.index("head")
            self.temperature_kappa, self.temperature_range = float(temperature_kappa), float(temperature_range)
            self.max_decay = float(max_shrink) / recipe.lr   # the decay shrinks W by η λ ≤ max_shrink per step

    def decays(self) -> dict[str, float]:
        return dict(zip(self.types, np.exp(self.theta).tolist()))

    def data(self, step: int):
        return self.all_train if step >= self.merge_step else None

    def on_batch(self, step: int, x, y) -> None:
        if self.shadow is not None:
            self.shadow.on_batch(y)

    def after_step(self, step: int, model, optimizer) -> None:
        if self.shadow is not None:
            self.extra_batches += self.shadow.train(step)
        if not (step < self.warmup or step >= self.merge_step or (step + 1) % self.every):
            self._update(step, model, optimizer)
        if self.shadow is not None and step == self.merge_step - 1:
            self.shadow.choose(lambda: (self._heldout_pass(model)[1], self.y))
        if self.shadow is not None and step == self.recipe.steps - 1:
            decay = self.shadow.finish()
            if "head" in {group["name"] for group in optimizer.param_groups}:
                set_decays(optimizer, {"head": decay})

    def _heldout_pass(self, model):
        """Per-window held-out losses of the network (the switch's signal) and the head's inputs on
        the held-out windows (None without a head): one forward pass."""
        self.extra_batches += self.x.shape[0] / self.batch_windows / 3.0
        logits, features = forward_capturing(model, self.head, self.x)
        per = F.cross_entropy(logits.flatten(0, 1), self.y.flatten(), reduction="none")
        return per.view(self.y.shape).mean(1).double().cpu().numpy(), features

    def _update(self, step: int, model, optimizer) -> None:
        features = None
        if math.isinf(self.z):   # the gap rule off: only the held-out loss (switch) and the copies' losses
            self._held_centre, features = self._heldout_pass(model)
            log_c = np.zeros(len(self.types))
        else:
            log_c = self.gap_search(model)
        if self.shadow is not None:
            self.shadow.record(features if features is not None else self._heldout_pass(model)[1], self.y)
        self.log_scales.append(log_c.tolist())
        # a signal counts once it kept its sign (and its significance) over `persist` updates
        sign = np.sign(log_c)
        previous = np.sign(np.array(self.log_scales[-2])) if len(self.log_scales) > 1 else np.zeros_like(sign)
        self._streak = np.where((sign != 0) & (sign == previous), self._streak + 1, (sign != 0).astype(int))
        signal = np.where(self._streak >= self.persist, log_c, 0.0)
        if self._first is None:
            self._first = (self.theta.copy(), log_c.copy())
        moved, responded = self.theta - self._first[0], log_c - self._first[1]
        self.frozen |= (np.abs(moved) > math.log(4.0)) & (responded * np.sign(moved) < 0.05 * np.abs(moved))
        if self.leverage:
            # the decay's leverage on log W over the rest of the run is −λ_g Σ_{t>step} η_t: the
            # raise that moves W_g by log c*_g within the run is Δλ_g = −κ log c*_g / Σ η (lowering
            # stays capped at ÷max_factor per update)
            remaining = max(self.recipe.lr_integral(step + 1), 1e-12)
            lam = np.exp(self.theta)
            target = np.maximum(lam - self.kappa * signal / remaining, lam * math.exp(-self.max_step))
            move = np.log(target) - self.theta
        else:
            move = np.clip(-2.0 * self.kappa * signal, -self.max_step, self.max_step)
        if self.temperature != "off":
            # the head: its decay from the held-out temperature of the logits (lamina.torch.lm.temperature),
            # never frozen — an integral controller
            i = self.head_index
            log_t = temperature_search(head_inputs(model, self.head, self.x), self.head.weight, self.head.bias,
                                       self.y, log_range=self.temperature_range)
            if self.temperature_gap:   # only what the held-out text wants beyond the training text
                log_t -= temperature_search(head_inputs(model, self.head, self.fit_x), self.head.weight,
                                            self.head.bias, self.fit_y, log_range=self.temperature_range)
                self.extra_batches += self.fit_x.shape[0] / self.batch_windows / 3.0
            self.log_temperatures.append(log_t)
            lam, options = math.exp(self.theta[i]), dict(kappa=self.temperature_kappa,
                                                         max_factor=math.exp(self.max_step), max_decay=self.max_decay)
            if self.temperature == "interval":   # Σ η_t over the next interval
                horizon = self.recipe.lr_integral(step + 1) - self.recipe.lr_integral(min(self.recipe.steps,
                                                                                          step + 1 + self.every))
                lam = interval_step(lam, log_t, horizon, **options)
            else:
                lam = power_step(lam, log_t, **options)
            move = move.copy()
            move[i], self.frozen[i] = math.log(lam) - self.theta[i], False
            self.extra_batches += self.x.shape[0] / self.batch_windows / 3.0
        self.theta = self.theta + np.where(self.frozen, 0.0, move)
        if self.switched_at is None and math.isfinite(self.overfit.z) and self.overfit.update(self._held_centre):
            # overfitting measured: the EMA-timescale rule (τ = the run) becomes the floor
            self.switched_at = step   # (the freeze rule measures responses from the switch on)
            self.frozen, self._first = np.zeros_like(self.frozen), None
        if self.switched_at is not None:   # the floor holds for every later gap step too
            self.theta = np.maximum(self.theta, math.log(timescale_decay(self.recipe)))
        set_decays(optimizer, self.decays())
        if not math.isinf(self.z):
            forwards = 1 + 2 * len(self.types)
            self.extra_batches += forwards * (self.x.shape[0] + self.fit_x.shape[0]) / self.batch_windows / 3.0

    @torch.no_grad()
    def scale_search(self, model) -> np.ndarray:
        """log c*_g per tuned type from a parabola of V(log c) through {−ε, 0, ε}, clipped to ±½."""
        def loss() -> float:
            return float(F.cross_entropy(model(self.x).flatten(0, 1), self.y.flatten()))

        with in_mode(model, training=False):
            centre, eps, out = loss(), self.epsilon, []
            for key in self.types:
                values = []
                for sign in (-1.0, 1.0):
                    factor = math.exp(sign * eps)
                    for p in self.params[key]:
                        p.mul_(factor)
                    try:
                        values.append(loss())
                    finally:
                        for p in self.params[key]:
                            p.div_(factor)
                slope, curvature = (values[1] - values[0]) / (2 * eps), (values[1] - 2 * centre + values[0]) / eps ** 2
                best = -slope / curvature if curvature > 0 else -0.5 * math.copysign(1.0, slope)
                out.append(float(np.clip(best, -0.5, 0.5)))
        return np.array(out)

    @torch.no_grad()
    def _window_losses(self, model, x, y) -> dict:
        """Per-window held-out losses at the centre and at every type scaled by e^{±ε}."""
        def loss() -> np.ndarray:
            per = F.cross_entropy(model(x).flatten(0, 1), y.flatten(), reduction="none")
            return per.view(y.shape).mean(1).double().cpu().numpy()

        eps, out = self.epsilon, {"centre": loss()}
        for key in self.types:
            for sign in (-1.0, 1.0):
                factor = math.exp(sign * eps)
                for p in self.params[key]:
                    p.mul_(factor)
                try:
                    out[key, sign] = loss()
                finally:
                    for p in self.params[key]:
                        p.div_(factor)
        return out

    @torch.no_grad()
    def gap_search(self, model) -> np.ndarray:
        """log c*_g of the held-out text *relative to the training text*, 0 where not significant.

        Per window, the slope of the loss in log c_g is (L(e^ε) − L(e^−ε)) / 2ε. The step uses
        the difference of the mean slopes, held-out minus training windows: a scale the
        training text also prefers (an under-trained or mis-calibrated model) is no reason to
        decay; only the part the held-out text alone asks for is (overfitting: a larger W_g fits
        the training text better but not the held-out one, slope gap > 0 → c* < 1 → more decay;
        the reverse → less decay, so the signal is symmetric). log c* = −gap / curvature (of the
        held-out parabola), clipped to ±½; set to 0 unless |gap| > ``z`` standard errors
        (between-window spread of both sets), so that a tuner without a signal leaves λ alone.
        """
        with in_mode(model, training=False):
            held = self._window_losses(model, self.x, self.y)
            fit = self._window_losses(model, self.fit_x, self.fit_y)
        self._held_centre = held["centre"]
        eps, out = self.epsilon, []
        for key in self.types:
            slope_h = (held[key, 1.0] - held[key, -1.0]) / (2 * eps)
            slope_f = (fit[key, 1.0] - fit[key, -1.0]) / (2 * eps)
            gap = slope_h.mean() - slope_f.mean()
            se = math.sqrt(slope_h.var(ddof=1) / slope_h.size + slope_f.var(ddof=1) / slope_f.size)
            curvature = (held[key, 1.0].mean() - 2 * held["centre"].mean() + held[key, -1.0].mean()) / eps ** 2
            if abs(gap) <= self.z * se:
                out.append(0.0)
                continue
            best = -gap / curvature if curvature > 0 else -0.5 * math.copysign(1.0, gap)
            out.append(float(np.clip(best, -0.5, 0.5)))
        return np.array(out)
