"""Held-out weight-scale calibration of δ, then training on all data: the default network tuner.

Why not the evidence alone
--------------------------
For a ReLU network whose biases are unregularized, (W_0, b_0, W_1) → (W_0/c, b_0/c, c·W_1)
leaves the function unchanged, so the objective mean NLL + 1/(2N) Σ_g δ_g ‖W_g‖² with
(δ_0, δ_1) and with (c²δ_0, δ_1/c²) have the same minimizers up to that rescaling (the
Laplace evidence is invariant too). Only the geometric mean of the per-layer δ is
identifiable: the per-layer values an online tuner reports drift along this ridge, and the
evidence's large first-layer δ (digits MLP: ≈ (220, 0.4, 0.7), geometric mean ≈ 4) is
"one δ ≈ 4" in disguise. What decides test NLL is that one scale, and the Laplace evidence puts it
about ten times above the held-out optimum (uniform δ ≈ 0.3–1) there (benchmarks/RESULTS.md, Issue 4).

The criterion
-------------
Raising δ moves the weights, to first order in the weakly determined directions, along −W
(the decay direction). The held-out loss V is stationary in log δ when it is stationary
along that direction, i.e. when

    c* = argmin_c V(W_g → c·W_g for every regularized group g)  equals 1.

(For a bias-free homogeneous network this is the held-out temperature of the logits: the
model is neither over- nor under-confident on data it has not fitted.) c* < 1 says "the
held-out data prefer smaller weights": increase δ. Since ‖W‖² ∝ 1/δ at the MAP of a weakly
determined Gaussian prior, the weights shrink by c when δ grows by c⁻², so every
``update_every`` epochs (after ``burn_in``) the tuner applies

    δ_g ← δ_g · exp(clip(−2 κ log c*, ±log max_factor)),

a damped stochastic root-finding of c* = 1 on a 1-D bounded Brent search (a few forward
passes of the held-out set; no backward pass). For a classifier without scale-invariant weights
c* is taken relative to c_eq, where the penalized training objective is heading along the same
line (:mod:`lamina.torch.scale_search`): an under-trained network no longer reads as over-regularized;
for a recurrent network under the μP ratios that line moves the readout alone (``info["line"]``). Per-group ratios come from ``rule``. By default
(``"auto"``) they are uniform where only the common scale is identified — by the symmetry above
a per-layer search would only move along the ridge — and follow the maximal-update (μP) prior
of :mod:`lamina.torch.readout` where the data identify the split (tanh/GELU layers, a prior
mean, a residual stream) or where δ acts only through the training dynamics (normalization
layers): the readout's δ ∝ fan_in², the other layers' ∝ fan_in (classifiers; regression
keeps uniform ratios).
For a Gaussian likelihood the held-out noise precision is profiled out (V(c) is ½ log of the
held-out MSE) and β ← 1 / held-out MSE at each update.

Retrain or continue: 1.2–1.4 fits, 0.85–1.1 when fine-tuning
-------------------------------------------------------------
Default (``refit="auto"``, ``merge_at="auto"``): calibrate δ during the first 0.3 of the recipe's
epochs on the (1 − ``val_fraction``) = 70 % split, freeze it, and retrain the network from its
initial weights on all N samples for every epoch with the penalty 1/(2N) Σ_g δ_g ‖W_g − μ_g‖²
(δ_g is the prior precision, so only N changes): 0.3·0.7 + 1 ≈ 1.2 fits, with the searches 1.3 on
500 images. Why not continue the calibrated weights: a network warm-started from weights fitted to
part of the data, then trained on all of it, generalizes worse than one trained on all of it from
the start (Ash & Adams 2020, "On warm-starting neural network training"), most where the penalty
is weak: at a fixed δ = 0.01 the continued schedule cost 0.01–0.06 test NLL on average (up to 0.09
in one run) against one plain run on four small networks, at δ = 1 nothing consistent. Retraining
gained 0.004–0.048 NLL (means of 3 seeds) on attention, LayerNorm, BatchNorm and recurrent
classifiers the default was not built on, and was level on the benchmark's MLPs and CNN and the
unseen MLP settings (benchmarks/RESULTS.md, Issue 14, "Retrain or continue"). A classifier's
retraining that learns nothing (its training loss at chance, where the calibration's was not: a
strong δ holding a deep SiLU net at W = 0 from the first step) falls back to continuing the
calibrated weights (:mod:`lamina.torch.final_run`).

The calibrated weights continue instead (``refit=False``; the default before 7 December 2026) when
fine-tuning toward a prior mean — there the calibration's trained head is worth keeping (the
fine-tuning tasks were 0.01–0.12 NLL worse retrained) — and where several calibrations compete
(``rivals``, ``per_direction``): calibrate for half the epochs (``merge_at`` 0.5), then continue
the same weights on all N samples for the rest of the run's optimizer steps (the other half of
the epochs, plus the steps the split's epochs did not make where it needs fewer batches:
:func:`lamina.torch.heldout_budget.continued_epochs`) — with a fresh optimizer
(:mod:`lamina.torch.restart`: the calibration's Adam state describes samples already fitted and
threw a LayerNorm residual net into a loss spike; ``rewarm`` optionally re-warms its learning
rate): 0.5·0.7 + 0.5 = 0.85 fits where a batch holds every sample, ≈ 0.98 on 500 images in
batches of 128. Before the continued run made up those steps, a 10-epoch run on 500 images ended
0.02–0.19 nats behind (the network was still learning at every step it lost).

Where the held-out part is small (fewer than 50 samples, ``folds="auto"``) a second calibration
from the same initial weights holds out a disjoint part, and δ is the geometric mean of the two: one calibration's root carries the
sampling noise of its few held-out samples (on the 50-image transfer task δ ranged over
0.06–1.8 between seeds), and two independent roots halve the variance of log δ. With
``per_direction=True``, where the data identify more than the common scale, a calibration
moving δ along every identified direction runs beside the common one and the held-out samples
choose between them (:mod:`lamina.torch.heldout_select`). When fine-tuning with a prior mean on
the pretrained layers and a new head (L2-SP, ``rivals="auto"``), one common scale with uniform
ratios competes with the μP ratios on every fold — four calibrations on small data: which one
fits depends on whether the pretrained features transfer. Where a ridge readout of them predicts
the training targets better than the raw inputs and the untrained body do
(:mod:`lamina.torch.transferability`), one δ toward μ is the default's calibration and the μP
ratios the rival that must beat it; otherwise the reverse.

:mod:`lamina.torch.heldout_budget` keeps the whole within ``COST_BUDGET`` = 1.5 fits, counting in
optimizer steps: an epoch on the split costs the larger of its share of the samples and of the
steps (on 35 of 50 samples in one batch a step costs as much as on 50), and each update's
searches cost their forward passes (a pass over R rows ≈ R/(6B) of a training step on B rows).
Updates come every ``epochs``/60 epochs, or less often where one update's searches would cost
more than half of the calibration steps between two updates; ``merge_at="auto"`` then shortens
every calibration to the most epochs within ``COST_BUDGET`` − ``OVERHEAD`` = 1.4 fits (the first
update still after ``epochs``/15, or at the calibration's end), the rest kept for what neither
counts (the identifiability probe, copies, restarts). Where even one epoch and one update each is
over (30 epochs of the 50-image fine-tuning task, 10–12 epochs on 100 samples), one epoch each;
``info["budget_fits"]`` says by how much. Before the searches were counted, runs of 30 epochs cost
3.8 trainings in wall time on 60 samples and 1.8 on 500 images, 300 epochs on 50–100 samples
1.6–1.9 (benchmarks/RESULTS.md, Issue 14, "The searches in the budget"; the settings of
bench_nn.py and bench_nn_unseen.py).

A calibration for the whole run before the retraining (``refit=True, merge_at=1``, the default
until 1 December 2026): ≈ 1.7 fits (digits MLP, 3 seeds: test NLL 0.122, accuracy 0.966).
"""
from __future__ import annotations

import numpy as np
import torch

from lamina.torch.data import steps_per_epoch
from lamina.torch.final_run import train_on_all_data
from lamina.torch.fit import as_tensors, fit, make_optimizer, model_device, model_dtype, optimizer_groups
from lamina.torch.heldout_budget import (budget_fits, calibration_epochs, epoch_cost_share, first_update,
                                         merge_share, n_updates, resolve_refit, search_steps, steps_stretch,
                                         update_interval)
from lamina.torch.heldout_options import check_options, n_folds, relative_criterion
from lamina.torch.heldout_select import Calibration, MidpointLosses, adopt, choose, twin
from lamina.torch.hypergradient import split_train
from lamina.torch.identifiability import identifiability
from lamina.torch.invariance import example_rows
from lamina.torch.likelihoods import Gaussian
from lamina.torch.penalty import Regularizer
from lamina.torch.readout import auto_rule, scale_line
from lamina.torch.result import NetTuneResult
from lamina.torch.rules import make_rule
from lamina.torch.scale_search import MAX_GAIN, HeldoutScale, passes_per_update
from lamina.torch.transferability import fine_tuning_plan
from lamina.torch.uninformative import warn_if_uncalibrated
from lamina.tuners.base import Compute


RELATIVE_ROWS = 256  # training rows (at least as many as held out) of c_eq, the relative criterion's


def tune_heldout(model, train, likelihood, recipe, *, val=None, val_fraction: float = 0.3, merge_at="auto",
                 burn_in: int | None = None, update_every: int | None = None, kappa: float = 1.0,
                 max_factor: float = 2.0, max_gain: float = MAX_GAIN, refit="auto", by=None, delta: float = 1.0,
                 rule="auto", mode="coupled",
                 prior_mean=None, rewarm: float = 0.0, per_direction: bool = False, split_gate: float = 1.0, rivals="auto",
                 folds="auto", relative="auto", progress=False):
    """Held-out weight-scale calibration of δ = δ₀·s (s from ``rule``), then training on all data.

    Parameters (besides the recipe)
    ----------
    val : (X, y), optional
        Held-out data given by the user: δ is calibrated on it, and the model is trained on
        ``train`` only (``val`` is never trained on): one full run, or two (2 fits) where a
        split is identified and the one-scale calibration runs beside it.
    val_fraction : float
        Share of ``train`` held out during calibration (default 0.3).
    merge_at : float in (0, 1] or "auto"
        Fraction of the epochs run on the split while δ is calibrated (by every fold and kind);
        δ is then frozen. ``"auto"`` (default): 0.3 before a retraining (``refit``), 0.5 before a
        continued run — shortened where the calibrations, their searches and the rest would take the cost
        over ``COST_BUDGET`` − ``OVERHEAD`` = 1.4 fits
        (:func:`lamina.torch.heldout_budget.calibration_epochs`: an epoch counts as the larger of
        its shares of samples and of steps, an update's searches by their forward passes).
        ``info["merge_at"]`` says which.
    refit : "auto" or bool
        True: retrain from the initial weights on all data at the found δ for the full epochs —
        1 + folds·0.7·merge_at fits and the searches (1.2–1.4). False: continue the calibrated
        weights on all data for the rest of the run's optimizer steps, with a fresh optimizer
        (:func:`lamina.torch.restart.restart`) — 0.85–1.1 fits (one fold). ``"auto"`` (default):
        False when fine-tuning toward ``prior_mean``, where calibrations compete (``rivals``,
        ``per_direction``) or with ``rewarm`` > 0, else True (module doc, "Retrain or continue");
        ``info["refit"]`` says which — ``"collapsed: continued"`` where a classifier's retraining
        ended at chance while its calibration had learned, and the calibrated weights continued
        instead (:mod:`lamina.torch.final_run`). Always True with ``epochs=1`` (no epoch would be
        left for all the data after the calibration).
    rewarm : float in [0, 1]
        Fraction of the continued run's steps over which the fresh optimizer's learning rate
        rises linearly from lr/T to lr (:class:`lamina.torch.restart.LinearWarmup`); 0 (default):
        none — a fifteenth was no better on the benchmark (benchmarks/RESULTS.md, Issue 14).
        Above 0 it asks for the continued run (``refit="auto"`` resolves to False).
    burn_in, update_every : int
        Epochs before the first update and between updates (default epochs/15 and epochs/60,
        i.e. 20 and 5 for 300 epochs; ``update_every`` more where one update's searches would
        cost over half of the calibration steps between two updates: every 6 epochs of a
        60-sample full-batch run, :func:`lamina.torch.heldout_budget.update_interval`). The first
        update comes up to ``update_every`` − 1 epochs after ``burn_in``, so that the last falls on
        the calibration's last epoch (:func:`lamina.torch.heldout_budget.first_update`).
        ``info["budget_fits"]``: the whole cost as the budget counts it (epochs by their share of
        samples or steps, searches by their forward passes), at most 1.4 with the defaults unless
        the run is too short for one epoch and one update per calibration.
    kappa, max_factor
        Damping of the update δ ← δ·(c*)^(−2κ) and the largest factor per update.
    max_gain : float ≥ 1
        The largest gain of an update that raises δ where the held-out samples themselves prefer
        smaller weights (:class:`~lamina.torch.scale_search.HeldoutScale`, module doc "The step's
        gain"; such a step may go up to ``max_factor``²); 1 turns the gain off. ``info["gains"]``.
    relative : "auto" or bool
        Take c* relative to c_eq, where the penalized training objective is heading along the
        same line (:mod:`lamina.torch.scale_search`). ``"auto"`` (default): for a classifier none
        of whose regularized weights is scale-invariant, on the one-scale calibrations;
        ``info["relative"]`` says whether it ran.
    prior_mean : mapping of parameter name → Tensor, optional
        Prior means μ_g (L2-SP); the scale search then moves W_g along W_g − μ_g.
    rule : "auto", a rule name of :mod:`lamina.torch.rules` or an AdaptiveRule
        The per-group ratios s_g. ``"auto"`` (default): uniform where
        :func:`lamina.torch.identifiability` (on the first training batch) finds only the
        product of the δ along homogeneous chains identified (ReLU chains: the ratios cannot
        matter at the optimum), where the output is not linear in one readout layer, for
        regression, and where ``prior_mean`` anchors every group (no layer is fresh); otherwise —
        tanh/GELU layers, a prior mean, a residual stream, normalization layers — the μP rule
        (:class:`lamina.torch.readout.MaximalUpdateRule`). ``info["rule"]``, ``info["readout"]`` say which.
    per_direction : bool
        False (default): one common scale for every group. True: where more than one direction
        of log δ is identified, a second calibration with one scale per identified direction,
        searched in turn (δ along the flat directions keeps the rule's ratios), runs beside the
        common one from the same initial weights, and the held-out samples choose
        (:mod:`lamina.torch.heldout_select`, ``split_gate``): +0.35 fits. It was
        the default until the μP ratios beat it on tanh, GELU and L2-SP settings
        (benchmarks/RESULTS.md, Issue 14, "The μP ratios").
    split_gate : float
        Standard errors of the paired held-out NLL decrease by which the split calibration must
        beat the common scale to be kept (default 1).
    rivals : "auto" or a sequence of rule names
        Where a split is identified, also calibrate one common scale under each of these ratio
        rules (e.g. ``("per_element",)``: every layer pays the same total penalty) on a copy of
        the network, on every fold; each must beat the default's calibration on the held-out
        samples of all folds together — by no margin: like the default's, each calibrates one
        common scale, with no more freedom to fit the held-out samples (and a classifier's
        held-out samples must not all be classified correctly by both: the NLL then only
        rewards sharper logits; and a lead must keep half of what it was at the calibrations'
        midpoint: :data:`lamina.torch.heldout_select.FADE`), and the lowest held-out NLL among those that do is kept.
        +0.35 fits per fold each. ``"auto"`` (default): ``("uniform",)`` where ``prior_mean`` anchors some regularized groups but not others and
        the ratios are the μP rule's — fine-tuning a pretrained body with a new head. The μP
        ratios (a weak pull on the body, a strong one on the head) fit features that transfer
        poorly, one δ toward μ for every layer fits features that transfer; none otherwise
        (benchmarks/RESULTS.md, Issue 14, "Ratio rules as rivals" and "L2-SP where the features
        transfer"). Where the features are found to transfer before training
        (:func:`lamina.torch.transferability.check_transfer`, ``info["transfer"]``), "auto"
        swaps the roles: one δ toward μ is the default's rule and the μP ratios its rival
        ("Do the features transfer?").
    folds : int ≥ 1 or "auto"
        Calibrations of the chosen kind, each holding out its own part of the data (disjoint
        blocks of ``val_fraction`` of one shuffle: needs folds·val_fraction ≤ 1), each for
        merge_at of the epochs; δ per group (and a Gaussian noise precision, in log) is the
        geometric mean of theirs, and the first one's weights continue for the remaining
        epochs. The root a calibration finds carries the sampling noise of its held-out part
        (on 15 held-out images one δ ranged over 0.006–0.3 between splits of the same 50), and
        averaging k independent roots divides the variance of log δ by k. Cost: each fold adds
        0.7·merge_at fits (0.85 for one fold on full-batch data, 1.2 for two). ``"auto"`` (default): 2 where a
        held-out part has fewer than :data:`~lamina.torch.heldout_options.SMALL_HELDOUT` = 50
        samples, else 1 (with 150 held-out images a second fold changed nothing measurable).
        Ignored when ``val`` is given.
    """
    check_options(merge_at, refit, burn_in, update_every, split_gate, rewarm)   # before any work
    device, dtype = model_device(model), model_dtype(model)
    X, y = as_tensors(train, likelihood, device, "train", dtype)
    merged = (X, y)
    folds = n_folds(folds, val_fraction, int(X.shape[0]), given_val=val is not None)
    if val is None:
        parts = [split_train((X, y), likelihood, device, val_fraction, recipe.seed, dtype, fold=k)
                 for k in range(folds)]
    else:
        parts = [((X, y), as_tensors(val, likelihood, device, "val", dtype))]
    fit_data, val_data = parts[0]
    epochs = recipe.epochs
    example = example_rows(fit_data[0])
    found = identifiability(model, by, example=example, prior_mean=prior_mean)
    split = found.n_identified > 1
    rule, readout = auto_rule(rule, model, likelihood, found, example, by=by, prior_mean=prior_mean)
    relative = relative_criterion(relative, likelihood, found)
    n_fit, n_all, n_val = int(fit_data[0].shape[0]), int(X.shape[0]), int(val_data[0].shape[0])
    sample_rows = min(n_fit, max(n_val, RELATIVE_ROWS)) if relative else 0
    search = search_steps(passes_per_update(relative), n_val + sample_rows, min(recipe.batch_size, n_fit))
    burn_in = max(1, int(round(epochs / 15))) if burn_in is None else int(burn_in)
    update_every = (update_interval(epochs, steps_per_epoch(n_fit, recipe.batch_size), search)
                    if update_every is None else int(update_every))

    def calibrate(net, lik, dirs, ratios=rule, part=parts[0]) -> Calibration:
        fit_data, val_data = part
        reg = Regularizer(net, int(fit_data[0].shape[0]), delta, mode=mode, by=by, prior_mean=prior_mean)
        weights, _ = make_rule(ratios, reg.reg_groups)
        reg.set_deltas(delta * np.asarray(weights))
        opt = make_optimizer(recipe.optimizer, optimizer_groups(reg, net), recipe.lr)
        sample = (fit_data[0][:sample_rows], fit_data[1][:sample_rows]) if relative and dirs is None else None
        line = scale_line(net, ratios) if sample is not None else None   # a recurrent net under μP: the readout
        tuner = HeldoutScale(net, reg, lik, val_data, burn_in=first_update(first, burn_in, update_every),
                             update_every=update_every, kappa=kappa, max_factor=max_factor, max_gain=max_gain,
                             planned_updates=n_updates(first, burn_in, update_every), directions=dirs,
                             train_sample=sample, line=line)
        midpoint = MidpointLosses(net, lik, val_data, first // 2) if competing else None   # a lead must not fade
        run = fit(net, fit_data, likelihood=lik, epochs=first, lr=recipe.lr, batch_size=recipe.batch_size, seed=recipe.seed,
                  optimizer=opt, regularizer=reg, callbacks=[tuner] + ([midpoint] if midpoint else []), progress=progress)
        return Calibration(net, lik, reg, opt, run, tuner, midpoint.losses if midpoint else None)

    rule, rivals, transfer = fine_tuning_plan(rivals, rule, model, by, prior_mean, merged, likelihood)
    competing = split and bool(per_direction or rivals)
    # retrain unless fine-tuning toward a prior mean or choosing among calibrations (module doc), always
    # where no epoch would be left for all the data after the calibration; never on the user's val data
    continues = prior_mean is not None or competing or rewarm > 0   # (a re-warmed learning rate: a continued run)
    refit = val is None and (resolve_refit(refit, continues=continues) or epochs == 1)
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()} if refit else None
    kind = (None, rule)   # (directions searched, ratio rule) of a calibration; the rivals follow where they compete
    kinds = [kind] + ([(found.identified, rule)] if per_direction else []) + [(None, r) for r in rivals] \
        if competing else [kind]
    # what the budget counts besides the calibrations' length: how many, an epoch's and an update's cost, the schedule
    stretch = steps_stretch(n_fit, n_all, recipe.batch_size)   # the continued run makes up the split's fewer steps
    counted = (len(kinds) * len(parts), epoch_cost_share(n_fit, n_all, recipe.batch_size),
               search / steps_per_epoch(n_all, recipe.batch_size), burn_in, update_every, stretch)
    auto_merge, merge_at = isinstance(merge_at, str) and merge_at == "auto", merge_share(merge_at, refit)
    if merge_at >= 1 and not refit and val is None:
        raise ValueError("merge_at=1 calibrates for every epoch and leaves none to train on the held-out share: "
                         "pass refit=True (calibrate, then retrain on all the data) or merge_at < 1")
    first = max(1, min(epochs, int(round(merge_at * epochs))))
    if not refit and merge_at < 1:   # rounding must leave the continued run at least one epoch on all the data
        first = max(1, min(first, epochs - 1))
    if auto_merge:   # shortened where the calibrations, their searches and the rest would cost over 1.4 fits
        first, shortened = calibration_epochs(epochs, first, *counted, refit=refit)
        merge_at = first / epochs if shortened else merge_at
    if val is not None:  # the user's held-out data are never trained on: one run on train
        first, refit = epochs, False
    selection, others = None, []
    if not competing:
        starts = [twin(model, likelihood) for _ in parts[1:]]   # the other folds start from the same weights
        chosen = calibrate(model, likelihood, *kind)
        repeats = [calibrate(net, lik, *kind, part=part) for (net, lik), part in zip(starts, parts[1:])]
    else:  # one common scale against the split directions / rival rules, each on every fold; the held-out data decide
        labels = (["split"] if per_direction else []) + [f"one scale, rule {getattr(r, 'name', r)}" for r in rivals]
        runs = [[calibrate(*twin(model, likelihood), *k, part=part) for part in parts] for k in kinds]
        gates = ([split_gate] if per_direction else []) + [0.0] * len(rivals)   # a rival rule: one scale, as the default
        best, selection = choose(runs[0], runs[1:], [part[1] for part in parts], gates, labels=labels)
        kind = kinds[best + 1]
        chosen, *repeats = runs.pop(best + 1)
        others = [c for fold_runs in runs for c in fold_runs]
    others += repeats
    reg, tuner, out = chosen.regularizer, chosen.tuner, chosen.out
    calibrations = [chosen, *repeats]
    warn_if_uncalibrated([c.tuner for c in calibrations], first, epochs)
    folds_info = [{"lambdas": c.regularizer.lambdas, "n_updates": len(c.tuner.log_scales),
                   **({"noise_precision": float(c.likelihood.precision)} if isinstance(c.likelihood, Gaussian) else {})}
                  for c in calibrations]
    log_deltas = torch.stack([c.regularizer.delta.detach().log() for c in calibrations])
    final = Regularizer(model, int(merged[0].shape[0]), log_deltas.mean(0).exp(), mode=mode, by=by,
                        prior_mean=prior_mean)
    adopt(model, likelihood, chosen)
    if isinstance(likelihood, Gaussian) and repeats:   # the noise precision, like δ, from every fold
        with torch.no_grad():
            likelihood.log_precision.copy_(torch.stack([c.likelihood.log_precision.detach()
                                                        for c in calibrations]).mean())
    history = {key: list(value) for key, value in out.history.items()}
    seconds, n_epochs = out.seconds, out.epochs
    # retrain from the initial weights (continuing the calibrated ones where that learns nothing), or continue them
    runs, done = train_on_all_data(model, merged, likelihood, recipe, final, first=first, stretch=stretch, refit=refit,
                                   init_state=init_state, calibration_losses=out.history["loss"], rewarm=rewarm,
                                   progress=progress)
    for rest in runs:
        for key, value in rest.history.items():
            history.setdefault(key, []).extend(value)
        seconds, n_epochs = seconds + rest.seconds, n_epochs + rest.epochs
    rest_epochs = sum(rest.epochs for rest in runs)
    # compute in units of one full-data fit: the split runs count by their share of the samples
    split_epochs = out.epochs + sum(c.out.epochs for c in others)
    fits = (split_epochs * fit_data[0].shape[0] / merged[0].shape[0] + (n_epochs - out.epochs)) / epochs
    seconds += sum(c.out.seconds for c in others)
    cost = budget_fits(epochs, first, *counted, refit=refit)
    info = {"n_updates": len(tuner.log_scales), "n_skipped_separable": tuner.n_skipped,
            "n_skipped_chance": tuner.n_skipped_chance, "n_crushed": tuner.n_crushed,
            "frozen": [] if tuner.frozen is None else [n for n, f in zip(reg.names, tuner.frozen) if f],
            "log_scale": tuner.log_scales, "relative": tuner.train_sample is not None, "line": tuner.line_names,
            "log_equilibrium": tuner.log_equilibria, "gains": tuner.gains, "late_plain": tuner.n_late_plain,
            "merge_epoch": first, "continued_epochs": rest_epochs, "merge_at": merge_at,
            "refit": done, "n_train": int(fit_data[0].shape[0]), "n_val": int(val_data[0].shape[0]),
            "folds": folds_info, "burn_in": burn_in, "update_every": update_every,
            "budget_fits": cost}
    info["identifiability"] = {"verdict": found.verdict(), "findings": found.findings(), "n_identified": found.n_identified}
    info["rule"], info["readout"] = getattr(rule, "name", rule), readout
    if selection is not None:
        info["selection"] = selection
    if transfer is not None:
        info["transfer"] = transfer.as_dict()
    if isinstance(likelihood, Gaussian):
        info["noise_precision"] = float(likelihood.precision)
    return NetTuneResult("heldout", final.lambdas, model, history.get("lambdas", []),
                         Compute(fits=float(fits), epochs=float(n_epochs), seconds=seconds), info=info, history=history)
