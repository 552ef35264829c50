"""Decay strategies for the transformer LM, each one training run (or a grid of them).

=============  ==================================================================  ==========
strategy       decays                                                              runs
=============  ==================================================================  ==========
``none``       0 everywhere                                                        1
``nanogpt``    λ on every matrix type, 0 on embeddings, norms, biases (one λ)      1 per λ
``timescale``  ``nanogpt`` with λ = 1/(fraction · Σ_t η_t) (EMA timescale rule)   1
``alphadecay`` per matrix λ_m = λ·s_m, s_m linear in the Hill exponent α_m of      1 (+ λ)
               the spectrum of W_mᵀW_m between ``low`` (heaviest tail) and
               ``high``, normalized to mean 1 over coefficients, recomputed
               every ``every`` steps (default: a sixth of the run; He et al.
               2025, arXiv 2506.14562)
``awd``        per matrix λ_m = λ·s_m, s_m ∝ EMA‖∇W_m‖/‖W_m‖ normalized the same  1 (+ λ)
               way, recomputed every ``every`` steps (default 10; Ghiasi et al.
               2022, per matrix)
``lamina``     :class:`~lamina.torch.lm.tuner.HeldoutDecayTuner` (embedding and    ≈ 1.13
               matrix types start at λ₀ = 1/(100·Σ_t η_t), floored at the
               timescale rule once the held-out loss rises; the head's decay
               chosen on held-out text among shadow copies of the head trained
               beside it with decays m·λ_ts, m ∈ {0, 1, 3, 10}; options: the
               held-out-minus-training gap rule ``z=2``, ``temperature``)
=============  ==================================================================  ==========

The AlphaDecay and AWD rules reuse :class:`lamina.torch.rules.AlphaHillRule` and
:class:`lamina.torch.rules.AWDRule`; their base λ is an argument (the benchmark gives them the
best grid λ of ``nanogpt``, so their cost is one run plus that grid's).
"""
from __future__ import annotations

import numpy as np
import torch

from lamina.torch.groups import ParamGroup
from lamina.torch.lm.model import CharTransformer, Corpus, LMConfig
from lamina.torch.lm.param_types import make_adamw, matrix_types, param_types, set_decays
from lamina.torch.lm.train import DecayCallback, LMRecipe, LMRun, train_lm
from lamina.torch.lm.tuner import (START_RUNS, HeldoutDecayTuner, heldout_split, start_decay, timescale_decay,
                                   tuned_types)
from lamina.torch.rules import AlphaHillRule, AWDRule

STRATEGIES = ("none", "nanogpt", "timescale", "alphadecay", "awd", "lamina")


def _matrix_groups(optimizer) -> tuple[list[dict], list[ParamGroup]]:
    """The per-matrix optimizer groups (named ``type:param``) and lamina ParamGroups over them."""
    groups = [g for g in optimizer.param_groups if ":" in g["name"]]
    wrapped = [ParamGroup(g["name"], tuple(g["params"]), (g["name"],), "weight", "Linear", True,
                          int(g["params"][0].shape[-1]), int(g["params"][0].numel())) for g in groups]
    return groups, wrapped


class RuleDecay(DecayCallback):
    """λ_m = λ·s_m per matrix from a lamina adaptive rule, recomputed every ``every`` steps."""

    def __init__(self, optimizer, rule, lam: float, every: int):
        if not (isinstance(every, int) and every >= 1):
            raise ValueError(f"every must be a positive integer, got {every!r}")
        self.groups, self.wrapped = _matrix_groups(optimizer)
        if not self.groups:
            raise ValueError("optimizer: no per-matrix param groups (build it with per_matrix=True)")
        self.rule, self.lam, self.every = rule, float(lam), every

    def after_backward(self, step: int, model, optimizer) -> None:
        self.rule.observe(self.wrapped)

    def after_step(self, step: int, model, optimizer) -> None:
        if (step + 1) % self.every == 0:
            weights = np.asarray(self.rule.weights(self.wrapped), dtype=np.float64)
            set_decays(optimizer, {g["name"]: self.lam * float(s) for g, s in zip(self.groups, weights)})


def _decayed(strategy: str, decays: dict[str, float], model) -> dict[str, float]:
    """The decays of the groups a strategy regularizes (what the verdict compares): for
    ``nanogpt``/``timescale`` the matrix types (one λ), for the rest every group it may decay."""
    if strategy == "none":
        return {}
    types = param_types(model)
    if strategy in ("nanogpt", "timescale"):
        return {k: v for k, v in decays.items() if k in matrix_types(types)}
    if strategy == "lamina":
        return {k: v for k, v in decays.items() if k in tuned_types(model)}
    return {k: v for k, v in decays.items() if ":" in k}


def run_strategy(strategy: str, corpus: Corpus, config: LMConfig, recipe: LMRecipe, seed: int, *,
                 lam: float = 0.1, fraction: float = 1.0, every: int | None = None, tuner_options=None,
                 device=None) -> LMRun:
    """Train a fresh :class:`CharTransformer` (initialized by ``seed``, same batches per seed)
    with ``strategy``'s decays; ``run.info`` holds the regularized groups' final decays
    (``lambdas``) and strategy details. ``device``: where the network trains (default the CPU;
    the text stays on the host and each batch is moved there)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    if config.vocab_size < corpus.vocab_size:
        raise ValueError(f"config: vocab_size {config.vocab_size} is smaller than the corpus' {corpus.vocab_size} "
                         "distinct characters (LMConfig(corpus.vocab_size, ...))")
    torch.manual_seed(seed)
    model = CharTransformer(config, seed=seed)
    if device is not None:
        model = model.to(device)
    train, callbacks, info = corpus.train, [], {}
    if every is not None and not (isinstance(every, int) and not isinstance(every, bool) and every >= 1):
        raise ValueError(f"every must be a positive integer (steps between decay updates) or None, got {every!r}")
    if every is None:   # AlphaDecay's spectra change slowly; AWD follows the gradient's EMA
        every = max(1, recipe.steps // 6) if strategy == "alphadecay" else 10
    if strategy in ("none", "nanogpt", "timescale"):
        lam = timescale_decay(recipe, fraction) if strategy == "timescale" else lam
        optimizer = make_adamw(model, "none" if strategy == "none" else "nanogpt", recipe.lr, lam=lam, betas=(0.9, 0.95))
    elif strategy in ("alphadecay", "awd"):
        optimizer = make_adamw(model, "nanogpt", recipe.lr, lam=lam, per_matrix=True, betas=(0.9, 0.95))
        rule = AlphaHillRule() if strategy == "alphadecay" else AWDRule()
        callbacks.append(RuleDecay(optimizer, rule, lam, every))
    else:
        options = dict(tuner_options or {})
        windows = options.get("heldout_windows", 32)
        if isinstance(windows, bool) or not (isinstance(windows, int) and windows >= 2):
            raise ValueError(f"heldout_windows must be an integer >= 2 (paired errors need two), got {windows!r}")
        train, heldout = heldout_split(corpus.train, float(options.pop("val_fraction", 0.1)))
        lam0 = start_decay(recipe, float(options.pop("start_runs", START_RUNS)))
        types = tuned_types(model)
        optimizer = make_adamw(model, {key: lam0 for key in types}, recipe.lr, betas=(0.9, 0.95))
        tuner = HeldoutDecayTuner(model, recipe, heldout, corpus.train, lam0=lam0, types=types, seed=seed, fit=train,
                                  **options)
        callbacks.append(tuner)
        info.update(lam0=lam0)
    run = train_lm(model, train, corpus.val, optimizer, recipe, seed=seed, callbacks=callbacks)
    if strategy == "lamina":
        info.update(n_updates=len(callbacks[0].log_scales), frozen=[t for t, f in zip(callbacks[0].types, callbacks[0].frozen) if f],
                    switched_at=callbacks[0].switched_at,
                    log_temperatures=[round(v, 4) for v in callbacks[0].log_temperatures], heldout_curve=[round(v, 4) for v in callbacks[0].overfit.means],
                    last_log_scale=(
            dict(zip(callbacks[0].types, callbacks[0].log_scales[-1])) if callbacks[0].log_scales else {}))
        shadow = callbacks[0].shadow
        if shadow is not None:   # the head's decay chosen among shadow copies (tuner section 5)
            info.update(shadow_decays=shadow.decays, shadow_choice=shadow.decays[shadow.chosen],
                        shadow_heldout=[[round(v, 4) for v in row] for row in shadow.records])
    if strategy in ("nanogpt", "timescale", "alphadecay", "awd"):
        info["lam"] = lam
    info["lambdas"] = _decayed(strategy, run.decays, model)
    run.info = info
    return run
