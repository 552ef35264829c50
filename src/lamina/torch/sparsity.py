"""A target sparsity reached by L1/L0 with one λ per layer, chosen while training.

Objective (DESIGN.md), N the number of training samples, λ_g the strength of group g:

    L1:  mean task loss + 1/N Σ_g λ_g ‖W_g‖₁   (soft thresholding at η λ_g / N after each step)
    L0:  mean task loss + 1/N Σ_g λ_g ‖W_g‖₀   (hard thresholding at √(2 η λ_g / N))

With Adam or AdamW both thresholds are taken in Adam's metric (divided by d_i = √v̂_i + ε inside
the root for L0; :mod:`lamina.torch.penalty`), so that the fixed points are the penalty's own.

The user gives an overall sparsity ρ (fraction of exact zeros among the regularized weights)
instead of λ. The tuner writes λ_g = s · r_g and runs three phases on the recipe's epochs E:

1. *Regularized training* (the first (1 − ``finetune_fraction``)·E epochs). After a dense
   warm-up, a target density d(t) falls from 1 to (1 − ρ)(1 + m) (m: :func:`phase_one_margin`) along the cubic
   schedule of gradual pruning (Zhu & Gupta 2017), d(t) = 1 − ρ' (1 − (1 − u)³), u ∈ [0, 1].
   The overall scale s is the dual variable of that constraint, moved after every step by
   multiplicative dual ascent on the gap in log density,

       log s ← log s + k · clip(log d̂ − log d(t), ±log 2),   d̂ the current density,

   (k = ``gain``, doubled for L0 whose threshold grows as √λ). The per-layer ratios r_g
   follow the marginal-cost criterion of a constrained optimum: at the best allocation,
   pruning one more weight costs the same loss in every layer. Every ``update_every`` epochs
   (about 30 updates over the density ramp; on short runs fewer, so that the probes, G + 1
   forward passes over the criterion data for G layers, cost at most about half the training's
   compute: on the 30-epoch digits MLP they had doubled the run's time; after the ramp, where the
   target density is constant and the allocation settles, ``SETTLED_SPACING`` = 4 times farther
   apart: 38 probes instead of 57 in 300 epochs, the 95/98 % accuracies of the three benchmark
   settings within ±0.004 or better) the smallest
   ``probe`` share of each layer's surviving weights is removed for a moment
   and the loss increase per removed weight c_g is read on the criterion data (``val`` when
   given, else the training data, in eval mode; forward passes only); then

       log r_g ← log r_g + κ · clip(mean_h log c_h − log c_g, ±log 2),

   so layers that are cheap to prune get a larger λ_g (κ = ``kappa``; the geometric mean of
   r is folded back into s); a layer whose density falls below 0.3 of the overall density is read
   as the costliest, whatever its probe says (layer collapse: :mod:`lamina.torch.marginal_costs`).
   With L1, where the density has reached the ramp's end and an epoch's training loss is back more
   than half of the way from its lowest to chance — L1's zeros cascading down a chain on a run too
   short for the ramp (:mod:`lamina.torch.lost_progress`) — phase 1 stops: phase 2 happens there,
   λ → 0, and its remaining epochs train the masked network.
   *How far L1 goes.* L1 shrinks every survivor by the same threshold, so the further it drives the
   density the more it changes the function beyond the zeros it makes (and the cascade above). For a
   classifier whose shrunk weights change the function (no regularized weight is scale-invariant), L1
   therefore goes ``L1_LOG_SHARE`` = 0.6 of the way to the target in log density, (1 − ρ)(1 + m) =
   (1 − ρ)^0.6, and the projection takes the rest within the allocation L1 found. Everywhere else
   phase 1 goes to m = ``MARGIN`` = 0.08: L0, whose hard threshold leaves the survivors as they are;
   networks with BatchNorm-invariant weights, where shrinking them changes nothing but the step size
   (there a margin of 1–2 lost 0.05–0.20 at 95–98 %); and regression, where the shrinkage of the output
   toward the mean is the regularization an overfitting fit needs (diabetes and Friedman #1 at 100–200
   epochs: the test MSE rose in every run, 0.58 → 0.86 on diabetes at 95 %, while 30-epoch runs gained).
   Classifiers at 30 epochs: the digits MLP's L1 0.926 / 0.893 / 0.566 → 0.950 / 0.925 / 0.882 at
   90 / 95 / 98 % (benchmarks/RESULTS.md, Issue 15, "How far L1 goes").
2. *Exact projection* to ρ: with K = round((1 − ρ) · P) weights to keep out of P, each layer
   keeps its k_g largest magnitudes, k_g ∝ its current number of nonzeros (largest
   remainders, Σ k_g = K): the allocation found in phase 1 is kept. If phase 1 ended sparser
   than ρ, zeros where the loss gradient is largest join the mask, to be trained again; where
   they cannot move (units that died in training have no gradient, or there is no fine-tuning)
   the result stays sparser than ρ: a ``RuntimeWarning`` then says so and ``info["missed_target"]``
   holds the overshoot.
3. *Masked fine-tuning* (the last ``finetune_fraction``·E epochs, fresh optimizer, no penalty):
   gradients of pruned weights are zeroed, and the mask is re-applied after every step, so
   the zeros stay exact.

The cost is one training run (E epochs) plus a few forward passes per ratio update.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

from lamina._validation import check_positive_float, check_positive_int
from lamina.torch.data import loader_pairs
from lamina.torch.default_tuner import any_scale_invariant
from lamina.torch.fit import Batches, as_tensors, fit, make_optimizer, model_device, model_dtype, optimizer_groups
from lamina.torch.likelihoods import Classification
from lamina.torch.lost_progress import LostProgress
from lamina.torch.marginal_costs import guard_collapse, marginal_costs
from lamina.torch.masks import group_nonzeros, projection
from lamina.torch.optimizer_state import reads_free
from lamina.torch.penalty import Penalty, Regularizer
from lamina.torch.result import NetTuneResult
from lamina.torch.sparsity_checks import check_stop_lost
from lamina.torch.sparsity_warnings import output_is_constant, warn_if_collapsed, warn_if_overshot
from lamina.tuners.base import Compute

_MAX_STEP = math.log(2.0)
PROBE_SHARE = 0.5    # the marginal-cost probes' compute, at most about this share of the training's
SETTLED_SPACING = 4  # after the density ramp, ratio updates this many times farther apart
MARGIN = 0.08        # phase 1's excess density where the projection is to remove only a few weights
L1_LOG_SHARE = 0.6   # L1's share of the way to the target in log density where it shrinks the function


def cubic_density(epoch: float, start: float, end: float, final_density: float) -> float:
    """Target density of the gradual schedule: 1 before ``start``, ``final_density`` after ``end``."""
    if epoch <= start:
        return 1.0
    u = min(1.0, (epoch - start) / max(end - start, 1e-12))
    return 1.0 - (1.0 - final_density) * (1.0 - (1.0 - u) ** 3)


def start_scale(kind: Penalty, finetune_epochs: int) -> float:
    """λ/N at the ramp's start: 1e-3 (L1: a threshold of 1e-3 of the learning rate per step); 1e-6 for L0 with
    no fine-tuning epoch, whose first hard thresholds zeroed more than the target (0.78 for ρ = 0.5 in one
    epoch) with nothing to grow them back — an undershoot, unlike an overshoot, the projection repairs."""
    return 1e-6 if kind is Penalty.L0 and finetune_epochs == 0 else 1e-3


def phase_one_margin(margin, target: float, shrinks_function) -> float:
    """m of phase 1's end density (1 − ρ)(1 + m) (module doc, "How far L1 goes"): for ``"auto"``,
    (1 − ρ)^(``L1_LOG_SHARE`` − 1) − 1 where ``shrinks_function()`` (L1, a classifier, no weight
    scale-invariant), else ``MARGIN``; never below ``MARGIN``."""
    if isinstance(margin, str) and margin == "auto":
        if target > 0 and shrinks_function():
            return max(MARGIN, (1.0 - target) ** (L1_LOG_SHARE - 1.0) - 1.0)
        return MARGIN
    if isinstance(margin, str):
        raise ValueError(f"margin must be 'auto' or a number ≥ 0, got {margin!r}")
    return check_positive_float(margin, "margin", strict=False)


def default_update_every(start: int, end: int, n_groups: int, n_criterion: int, n_data: int) -> int:
    """Epochs between ratio updates: about 30 updates over the density ramp, but never so often
    that the probes cost more than PROBE_SHARE of the training's compute. An update is
    n_groups + 1 forward passes over the criterion samples; an epoch of training about three
    (forward and backward) over the n_data training samples."""
    probe_epochs = (n_groups + 1) * n_criterion / (3.0 * n_data)
    return max(1, int(round((end - start) / 30)), int(math.ceil(probe_epochs / PROBE_SHARE)))


class SparsityController:
    """Fit callback: dual ascent of the λ scale on the density gap (every step) and marginal-cost
    updates of the per-layer ratios (every ``update_every`` epochs). See the module docstring."""

    def __init__(self, model, regularizer: Regularizer, likelihood, criterion, *, schedule, start_epoch: int,
                 gain: float, kappa: float, update_every: int, probe: float, allocate: bool, scale0: float,
                 ramp_end: int | None = None, progress_lost: LostProgress | None = None, stop_ramp=None):
        self.progress_lost, self.stop_ramp = progress_lost, stop_ramp   # (the ramp's stop: module doc)
        self.masks, self.stopped = None, None
        self.model, self.reg, self.likelihood, self.criterion = model, regularizer, likelihood, criterion
        self.schedule, self.start_epoch = schedule, start_epoch
        self.ramp_end = math.inf if ramp_end is None else ramp_end
        self.gain, self.kappa, self.update_every, self.probe, self.allocate = gain, kappa, update_every, probe, allocate
        device = regularizer.delta.device
        self.sizes = [g.numel for g in regularizer.reg_groups]
        self.total = float(sum(self.sizes))
        self.on_host = reads_free(regularizer.delta)   # λ_g = exp(log s + log r_g), log s a float on the CPU
        self.log_scale = math.log(scale0) if self.on_host else torch.tensor(math.log(scale0), dtype=torch.float64,
                                                                             device=device)
        self.log_ratio = torch.zeros(len(regularizer.names), dtype=torch.float64, device=device)
        self.epoch, self.goal = 0, 1.0
        self.ratio_history: list[list[float]] = []
        self.density_history: list[float] = []
        self._apply()

    def _apply(self):
        on = self.epoch >= self.start_epoch
        lam = torch.exp(self.log_scale + self.log_ratio) if on else torch.zeros_like(self.log_ratio)
        self.reg.set_deltas(lam.to(self.reg.delta.dtype))

    def on_forward(self, output, y):
        if self.progress_lost is not None and self.masks is None:
            self.progress_lost.on_forward(output, y)

    def on_step_end(self):
        if self.masks is not None:
            self.masks.on_step_end()

    def on_after_backward(self):
        """log s ← log s + k · clip(log d̂ − log d(t), ±log 2): in floats where reading d̂ is free (λ
        rescaled in place), else in tensor ops on the device. After the ramp's stop: the mask only."""
        if self.masks is not None:
            self.masks.on_after_backward()
            return
        if self.epoch < self.start_epoch:
            return
        nonzero = group_nonzeros(self.reg).sum()
        if self.on_host:
            gap = math.log(max(int(nonzero), 1) / self.total) - math.log(self.goal)
            step = self.gain * min(max(gap, -_MAX_STEP), _MAX_STEP)
            self.log_scale += step
            self.reg.delta.mul_(math.exp(step))
            return
        density = nonzero.double() / self.total
        gap = (density.clamp_min(1.0 / self.total).log() - math.log(self.goal)).clamp(-_MAX_STEP, _MAX_STEP)
        self.log_scale.add_(self.gain * gap)
        self._apply()

    def on_epoch_end(self, epoch, optimizer):
        self.epoch = epoch + 1
        self.goal = self.schedule(self.epoch)
        nonzeros = group_nonzeros(self.reg).cpu().numpy()   # (one read of the device per epoch)
        self.density_history.append(float(nonzeros.sum()) / self.total)
        if self.masks is not None:
            self.masks.on_epoch_end(epoch, optimizer)
            return False
        if self.progress_lost is not None:
            self.progress_lost.close_epoch()
            reached = self.density_history[-1] <= self.schedule(self.ramp_end)   # the ramp's work is done
            if self.epoch > self.start_epoch and reached and self.progress_lost.lost():
                self._stop(optimizer)
                return False
        every = self.update_every * (SETTLED_SPACING if self.epoch >= self.ramp_end else 1)
        # (a ramp too short for an update gets one at its end: the ratios are set at least once)
        due = (self.epoch - self.start_epoch) % every == 0 or (self.epoch >= self.ramp_end and not self.ratio_history)
        if self.allocate and self.epoch > self.start_epoch and due:
            costs = marginal_costs(self.model, self.reg, self.likelihood, self.criterion, self.probe)
            if costs is not None:
                costs = guard_collapse(costs, nonzeros, self.sizes)   # (no layer starved to zero: marginal_costs doc)
                log_c = torch.as_tensor(np.log(costs), dtype=torch.float64, device=self.log_ratio.device)
                step = (log_c.mean() - log_c).clamp(-_MAX_STEP, _MAX_STEP)
                self.log_ratio.add_(self.kappa * step)
                shift = self.log_ratio.mean()
                self.log_ratio.sub_(shift)
                self.log_scale = self.log_scale + (float(shift) if self.on_host else shift)
                self.ratio_history.append(torch.exp(self.log_ratio).tolist())
        self._apply()
        return False

    def _stop(self, optimizer):
        """Stop the ramp (module doc, phase 1): λ as it is now kept for the record, the exact
        projection to the target now, then λ = 0 and the mask."""
        lost = self.progress_lost
        self.stopped = {"epoch": self.epoch, "density": self.density_history[-1], "loss": lost.last,
                        "lowest_loss": lost.best, "chance": lost.chance, "lambdas": self.reg.lambdas}
        self.masks = self.stop_ramp()
        self.reg.set_deltas(torch.zeros_like(self.reg.delta), optimizer)


def sparsity_report(regularizer: Regularizer) -> dict:
    """{"overall": fraction of zeros among all regularized weights, "per_group": {name: fraction}}."""
    per_group = regularizer.sparsity()
    sizes = {g.name: g.numel for g in regularizer.reg_groups}
    overall = sum(per_group[n] * sizes[n] for n in per_group) / sum(sizes.values())
    return {"overall": float(overall), "per_group": per_group}


def tune_sparsity(model, train, likelihood, recipe, *, penalty, target: float, val=None, by=None,
                  finetune_fraction: float = 0.2, warmup_fraction: float = 0.05, ramp_fraction: float = 0.6,
                  margin="auto", gain: float = 0.2, kappa: float = 0.5, update_every: int | None = None,
                  probe: float = 0.1, allocate: bool = True, criterion_size: int = 2048, prox_metric: str = "auto",
                  stop_lost="auto", progress: bool = False):
    """Train ``model`` to an overall sparsity ``target`` with L1/L0, one λ per layer (module docs).

    Parameters (besides the recipe)
    ----------
    penalty : {"l1", "l0"}
    target : float in [0, 1)
        ρ, the fraction of exact zeros among the regularized weights at the end.
    val : (X, y), optional
        Criterion data for the per-layer ratios (held out; never trained on). Default: up to
        ``criterion_size`` training samples.
    finetune_fraction, warmup_fraction, ramp_fraction : float
        Shares of the epochs for the masked fine-tuning (phase 3; one epoch at least in runs of two or
        more, where it is > 0), and, within phase 1, for the dense warm-up and the end of the density ramp.
    margin : "auto" or float ≥ 0
        Phase 1 aims at density (1 − ρ)(1 + margin), so that the projection only removes weights
        (:func:`phase_one_margin`: "How far L1 goes" above).
    gain, kappa : float
        Step of the dual ascent on log s (per optimizer step) and damping of the ratio updates.
    update_every : int, optional
        Epochs between ratio updates during the density ramp (default :func:`default_update_every`:
        about 30 updates over the ramp, fewer on short runs so that the probes cost at most about
        half the training's compute); ``SETTLED_SPACING`` × as many after it.
    probe : float
        Share of each layer's surviving weights removed to read its marginal cost.
    allocate : bool
        False keeps r_g = 1: one λ for every layer (the baseline).
    prox_metric : {"auto", "euclidean"}
        Metric of the thresholding step (:class:`lamina.torch.Regularizer`): Adam's own by
        default, "euclidean" for the plain η λ_g / N of the first version.
    stop_lost : "auto" or bool
        End phase 1 where an L1 network at the ramp's end has lost half of what it learned (above).
        ``"auto"``: where no regularized weight is scale-invariant (lost_progress module doc).

    Returns
    -------
    NetTuneResult
        ``lambdas``: λ_g at the end of phase 1; ``info["sparsity"]``: ``{"overall": ρ̂,
        "per_group": {name: fraction of zeros}}`` after fine-tuning; ``info["kept"]``: nonzeros
        per group; ``info["sparsity_before_projection"]``, ``info["density_trajectory"]`` (per
        epoch of phase 1), ``info["phase_one_density"]`` ((1 − ρ)(1 + m): phase 1's aim), ``info["ratios"]``
        (r after each update), ``info["ramp_stopped"]`` (None or
        where the ramp stopped; ``lambdas`` are then λ there); ``compute.fits`` = 1.
    """
    for name, value in (("finetune_fraction", finetune_fraction), ("warmup_fraction", warmup_fraction),
                        ("ramp_fraction", ramp_fraction), ("probe", probe)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
    if warmup_fraction >= ramp_fraction:   # the density ramp runs from the warm-up's end to ramp_fraction
        raise ValueError(f"warmup_fraction ({warmup_fraction!r}) must be below ramp_fraction ({ramp_fraction!r})")
    gain = check_positive_float(gain, "gain")
    kappa, criterion_size = check_positive_float(kappa, "kappa"), check_positive_int(criterion_size, "criterion_size")
    if not isinstance(recipe.optimizer, str):
        raise ValueError(f"optimizer: with target_sparsity give the optimizer by name ('adam', 'adamw', 'sgd'), not "
                         f"an instance ({type(recipe.optimizer).__name__}): the tuner applies the penalty by a proximal "
                         "step at the learning rate of the optimizer it builds for each phase (training, fine-tuning)")
    update_every = None if update_every is None else check_positive_int(update_every, "update_every")
    kind = Penalty.parse(penalty)
    device, dtype = model_device(model), model_dtype(model)
    n_data = Batches(train, likelihood, 1, device, 0).n_data
    reg = Regularizer(model, n_data, 0.0, penalty=kind.value, by=by, prox_metric=prox_metric)
    epochs = recipe.epochs
    tail = int(round(finetune_fraction * epochs)) if target > 0 else 0
    if tail == 0 and target > 0 and finetune_fraction > 0 and epochs >= 2:
        tail = 1   # the weights grown by the projection need an epoch to train (else they stay 0: target missed)
    main = max(1, epochs - tail)
    start = int(round(warmup_fraction * main))
    end = max(start + 1, int(round(ramp_fraction * main)))
    if val is not None:
        criterion = as_tensors(val, likelihood, device, "val", dtype)
    elif isinstance(train, torch.utils.data.DataLoader):
        xs, ys = zip(*[batch for _, batch in zip(range(max(1, criterion_size // max(train.batch_size or 1, 1))),
                                                 loader_pairs(train))])
        criterion = as_tensors((torch.cat(xs), torch.cat(ys)), likelihood, device, "train", dtype)
    else:
        X, y = as_tensors(train, likelihood, device, "train", dtype)
        criterion = (X[:criterion_size], y[:criterion_size])
    invariant = functools.cache(lambda: any_scale_invariant(model, reg.reg_groups, train))   # probed where asked
    shrinks = target > 0 and kind is Penalty.L1
    stop_lost = check_stop_lost(stop_lost, applies=shrinks, invariant=invariant)
    margin = phase_one_margin(margin, target, lambda: shrinks and isinstance(likelihood, Classification)
                              and not invariant())
    goal = min(1.0, (1.0 - target) * (1.0 + margin))
    progress_lost = LostProgress(likelihood, criterion[1], n_data) if stop_lost else None
    controller = SparsityController(
        model, reg, likelihood, criterion, schedule=lambda e: cubic_density(e, start, end, goal),
        start_epoch=start if target > 0 else main + 1, gain=gain * (2.0 if kind is Penalty.L0 else 1.0),
        kappa=kappa, update_every=(default_update_every(start, end, len(reg.names), len(criterion[0]), n_data)
                                   if update_every is None else update_every), probe=probe,
        allocate=allocate, scale0=start_scale(kind, tail) * n_data, ramp_end=end, progress_lost=progress_lost,
        stop_ramp=lambda: projection(model, reg, likelihood, criterion, target))
    ramp_optimizer = make_optimizer(recipe.optimizer, optimizer_groups(reg, model), recipe.lr)
    out = fit(model, train, likelihood=likelihood, epochs=main, lr=recipe.lr, batch_size=recipe.batch_size,
              seed=recipe.seed, optimizer=ramp_optimizer, regularizer=reg, callbacks=[controller],
              progress=progress, on_spike="ignore")   # (its loss rises by design; an earlier epoch is denser)
    lambdas = reg.lambdas if controller.stopped is None else controller.stopped["lambdas"]
    history = {key: list(value) for key, value in out.history.items()}
    before = sparsity_report(reg)
    seconds, n_epochs = out.seconds, out.epochs
    if target > 0:
        mask_cb = controller.masks if controller.stopped else projection(model, reg, likelihood, criterion, target)
        if tail > 0:
            # (a ramp that stopped has trained the masked network since: its optimizer goes on)
            optimizer = ramp_optimizer if controller.stopped else \
                make_optimizer(recipe.optimizer, [{"params": list(model.parameters())}], recipe.lr)
            rest = fit(model, train, likelihood=likelihood, epochs=tail, lr=recipe.lr, batch_size=recipe.batch_size,
                       seed=recipe.seed + 1, optimizer=optimizer, callbacks=[mask_cb], progress=progress)
            history.setdefault("loss", []).extend(rest.history["loss"])
            seconds, n_epochs = seconds + rest.seconds, n_epochs + rest.epochs
        mask_cb.on_epoch_end(n_epochs, None)
    report = sparsity_report(reg)
    missed = warn_if_overshot(report["overall"], target, before["overall"], tail,
                              sum(g.numel for g in reg.reg_groups))
    collapsed = warn_if_collapsed(history.get("loss", []), kind, target, recipe.optimizer, prox_metric,
                                  output_is_constant(model, criterion[0]))
    info = {"sparsity": report, "collapsed": collapsed, "target_sparsity": target, "penalty": kind.value,
            "sparsity_before_projection": before["overall"], "phase_one_density": goal,
            "kept": {g.name: int(round((1 - report["per_group"][g.name]) * g.numel)) for g in reg.reg_groups},
            "density_trajectory": controller.density_history, "ratios": controller.ratio_history,
            "finetune_epochs": tail, "allocate": allocate, "missed_target": missed,
            "ramp_stopped": None if controller.stopped is None else
            {k: v for k, v in controller.stopped.items() if k != "lambdas"}}
    result = NetTuneResult(f"sparsity-{kind.value}", lambdas, model, history.get("lambdas", []),
                           Compute(fits=float(n_epochs) / epochs, epochs=float(n_epochs), seconds=seconds),
                           info=info, history=history)
    return result
