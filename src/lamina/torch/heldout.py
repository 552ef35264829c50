"""Held-out weight-scale calibration of δ, then training on all data: the default network tuner.

Why not the evidence alone
--------------------------
For a ReLU network whose biases are unregularized, (W_0, b_0, W_1) → (W_0/c, b_0/c, c·W_1)
leaves the function unchanged, so the objective mean NLL + 1/(2N) Σ_g δ_g ‖W_g‖² with
(δ_0, δ_1) and with (c²δ_0, δ_1/c²) have the same minimizers up to that rescaling (the
Laplace evidence is invariant too). Only the geometric mean of the per-layer δ is
identifiable: the per-layer values an online tuner reports drift along this ridge, and the
evidence's large first-layer δ (digits MLP: ≈ (220, 0.4, 0.7), geometric mean ≈ 4) is
"one δ ≈ 4" in disguise. What decides test NLL is that one scale, and the Laplace evidence
puts it about ten times above the held-out optimum (uniform δ ≈ 0.3–1) on that benchmark
(benchmarks/out/RESULTS_issue4.md).

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
passes of the held-out set; no backward pass). Per-group ratios come from ``rule``. By default
(``"auto"``) they are uniform where only the common scale is identified — by the symmetry above
a per-layer search would only move along the ridge — and follow the maximal-update (μP) prior
of :mod:`lamina.torch.readout` where the data identify the split (tanh/GELU layers, a prior
mean, a residual stream) or where δ acts only through the training dynamics (normalization
layers): the readout's δ ∝ fan_in², the other layers' ∝ fan_in (classifiers; regression
keeps uniform ratios).
For a Gaussian likelihood the held-out noise precision is profiled out (V(c) is ½ log of the
held-out MSE) and β ← 1 / held-out MSE at each update.

Budget: under one fit
---------------------
Default (``refit=False, merge_at=0.5``): calibrate δ during the first half of the recipe's
epochs on the (1 − ``val_fraction``) = 70 % split, then freeze δ and continue the same weights
on all N samples for the other half — with a fresh optimizer (:mod:`lamina.torch.restart`: the
calibration's Adam state describes samples already fitted and threw a LayerNorm residual net
into a loss spike; ``rewarm`` optionally re-warms its learning rate) — with the penalty
1/(2N) Σ_g δ_g ‖W_g − μ_g‖² (δ_g is the prior precision, so only N changes). In units of one
full-data fit that is 0.5·0.7 + 0.5 = 0.85 fits (``compute.fits``, counted from the samples
each epoch sees), plus ≈ 6 held-out forward passes per update: the cost goal "≤ 1.5× one
unregularized training" holds by construction. With ``per_direction=True``, where the data
identify more than the common scale, a second calibration moving δ along every identified
direction runs beside the common one and the held-out samples choose between them
(:mod:`lamina.torch.heldout_select`): 2·0.35 + 0.5 = 1.2 fits. benchmarks/RESULTS.md (Issue 14)
measures both on the settings of benchmarks/bench_nn.py and bench_nn_unseen.py.

Refitting variant (``refit=True, merge_at=1``, the default before): calibrate during a whole
run on the 70 % split (≈ 0.7 fits), then retrain from the initial weights on all data at the
found δ (one fit): ≈ 1.7 fits. Measured on the digits MLP (3 seeds): test NLL 0.122, accuracy
0.966.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from torch import nn

from lamina.torch.fit import as_tensors, fit, make_optimizer, model_device, model_dtype
from lamina.torch.heldout_select import Calibration, adopt, choose, twin
from lamina.torch.hypergradient import split_train
from lamina.torch.identifiability import identifiability
from lamina.torch.likelihoods import Classification, Gaussian
from lamina.torch.penalty import Regularizer
from lamina.torch.readout import auto_rule
from lamina.torch.restart import restart
from lamina.torch.result import NetTuneResult
from lamina.torch.rules import make_rule
from lamina.tuners.base import Compute

@torch.no_grad()
def weight_scale_search(model: nn.Module, regularizer: Regularizer, likelihood, val, *, log_range: float = 0.5,
                        xatol: float = 0.01, batch_size: int = 4096, directions=None) -> np.ndarray | float:
    """log c* = argmin over log c ∈ [−log_range, log_range] of the held-out loss with every
    regularized weight moved to μ_g + c (W_g − μ_g) (μ_g its prior mean, 0 by default) —
    Brent's bounded search (:func:`scipy.optimize.minimize_scalar`) to ``xatol`` in log c; the
    model is left unchanged. The held-out loss is smooth in log c, so Brent's parabolic steps
    reach the tolerance in about 6 evaluations where a golden-section search needs 12 (each is a
    held-out forward pass: on small networks these searches were a sixth of the default's time).

    With ``directions`` (an orthonormal (k, n_groups) basis, e.g. the identified directions of
    :func:`lamina.torch.identifiability`), the log-scale per group is Dᵀt and each coordinate
    t_j is searched in turn (one sweep); returns log c per group. Without, one common scale
    (a float). For a Gaussian likelihood the loss is the held-out mean squared error (the
    noise precision profiled out). Evaluated in ``eval`` mode.

    Examples
    --------
    >>> net = nn.Linear(1, 1, bias=False)
    >>> _ = net.weight.data.fill_(2.0)
    >>> from lamina.torch.likelihoods import Classification, Gaussian
    >>> x = torch.ones(4, 1); reg = Regularizer(net, 4)
    >>> round(math.exp(weight_scale_search(net, reg, Gaussian(), (x, x[:, 0] * 1.6))), 2)
    0.8
    >>> reg = Regularizer(net, 4, prior_mean={"weight": torch.tensor([[1.0]])})
    >>> round(math.exp(weight_scale_search(net, reg, Gaussian(), (x, x[:, 0] * 1.7))), 2)  # 1 + c·1 = 1.7
    0.7
    """
    X, y = val
    params = [(g_index, p, mu) for g_index, (g, means) in enumerate(zip(regularizer.reg_groups, regularizer.means))
              for p, mu in zip(g.params, means)]
    saved = [p.detach().clone() for _, p, _ in params]
    was_training = model.training
    model.eval()
    gaussian = isinstance(likelihood, Gaussian)

    def loss(log_scales: np.ndarray) -> float:
        for (g_index, p, mu), w in zip(params, saved):
            c = math.exp(float(log_scales[g_index]))
            p.copy_(w * c if mu is None else mu + (w - mu) * c)
        out = torch.cat([model(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)])
        if gaussian:
            return float((out.reshape(y.shape) - y).pow(2).mean())
        return float(likelihood.nll(out, y))

    n_groups = len(regularizer.reg_groups)
    basis = np.ones((1, n_groups)) if directions is None else np.asarray(directions, dtype=np.float64)
    t = np.zeros(basis.shape[0])
    try:
        for j in range(basis.shape[0]):
            # the range is in log c per group: a unit step of t_j moves some group by max|D_j|
            reach = log_range / max(float(np.max(np.abs(basis[j]))), 1e-12)

            def along(value, j=j):
                trial = t.copy()
                trial[j] = value
                return loss(basis.T @ trial)

            t[j] = minimize_scalar(along, bounds=(-reach, reach), method="bounded",
                                   options={"xatol": xatol * reach / log_range}).x
    finally:
        for (_, p, _), w in zip(params, saved):
            p.copy_(w)
        model.train(was_training)
    log_scales = basis.T @ t
    return float(log_scales[0]) if directions is None else log_scales


class HeldoutScale:
    """Callback: every ``update_every`` epochs after ``burn_in``, δ_g ← δ_g·(c*_g)^(−2κ) (clipped),
    c* from :func:`weight_scale_search` on the held-out data — one common scale, or one per
    identified direction (``directions``); β ← 1/held-out MSE (Gaussian)."""

    def __init__(self, model, regularizer: Regularizer, likelihood, val, *, burn_in: int, update_every: int,
                 kappa: float = 1.0, max_factor: float = 2.0, directions=None):
        self.model, self.regularizer, self.likelihood, self.val = model, regularizer, likelihood, val
        self.burn_in, self.update_every = int(burn_in), int(update_every)
        self.kappa, self.max_step = float(kappa), math.log(float(max_factor))
        self.directions = directions
        self.log_scales: list = []
        self.n_skipped = 0
        self.frozen = None
        self._first = None

    def _freeze_unresponsive(self, log_delta: np.ndarray, log_c: np.ndarray) -> None:
        """Stop moving the δ whose held-out optimum does not respond to them.

        The update rests on ‖W − μ‖ ∝ δ^(−1/2), i.e. d log c*/d log δ ≈ ½: once log δ_g has
        fallen by more than log 4 since the first update while log c*_g moved by less than a
        tenth of the expected ½ Δlog δ_g, the held-out loss no longer sees δ_g (too few
        held-out samples, or δ too small to matter against the data) and further steps only
        drift; δ_g is then kept. (On 35 + 15 images it stopped a run whose c* stayed at
        e^0.15 while δ fell from 1 to 0.0025.)

        Only falls are checked: the penalty's pull on the weights vanishes as δ → 0, so a
        falling δ can stop mattering and drift without bound, whereas a rising δ shrinks the
        weights until the held-out loss sees it (c* then rises above 1 and the update turns).
        Meanwhile c* can keep falling while δ rises simply because the weights are still
        growing with training; freezing there stopped the diabetes MLP at δ ≈ 4 with c* ≈ e^−0.08
        still asking for more (benchmarks/RESULTS.md, Issue 14).
        """
        if self._first is None:
            self._first = (log_delta.copy(), log_c.copy())
            self.frozen = np.zeros(log_delta.shape, dtype=bool)
            return
        moved = log_delta - self._first[0]
        responded = log_c - self._first[1]
        far = moved < -np.log(4.0)
        self.frozen |= far & (responded * np.sign(moved) < 0.05 * np.abs(moved))

    @torch.no_grad()
    def _separable(self) -> bool:
        """Classification with every held-out sample classified correctly: the held-out NLL
        then falls monotonically as the logits grow (any proper score does), so it has no
        finite optimum in the weight scale and says nothing against smaller δ. Such updates
        are skipped (δ kept) instead of driving δ toward 0 — on 15 held-out images that
        happens often."""
        if not isinstance(self.likelihood, Classification):
            return False
        X, y = self.val
        was_training = self.model.training
        self.model.eval()
        predicted = self.model(X).argmax(dim=-1)
        self.model.train(was_training)
        return bool((predicted.reshape(y.shape) == y).all())

    def due(self, epoch: int) -> bool:
        return epoch + 1 >= self.burn_in and (epoch + 1 - self.burn_in) % self.update_every == 0

    def on_epoch_end(self, epoch, optimizer):
        if not self.due(epoch):
            return False
        if self._separable():
            self.n_skipped += 1
            return False
        log_c = weight_scale_search(self.model, self.regularizer, self.likelihood, self.val,
                                    directions=self.directions)
        self.log_scales.append(log_c if np.ndim(log_c) == 0 else np.asarray(log_c).tolist())
        log_delta = np.log(np.maximum(self.regularizer.delta.detach().cpu().double().numpy(), 1e-300))
        self._freeze_unresponsive(log_delta, np.broadcast_to(np.asarray(log_c, dtype=np.float64), log_delta.shape))
        step = np.clip(-2.0 * self.kappa * np.asarray(log_c, dtype=np.float64), -self.max_step, self.max_step)
        step = np.where(self.frozen, 0.0, step)   # _freeze_unresponsive has set frozen
        factor = torch.as_tensor(np.exp(step), dtype=self.regularizer.delta.dtype, device=self.regularizer.delta.device)
        self.regularizer.set_deltas(self.regularizer.delta * factor, optimizer)
        if isinstance(self.likelihood, Gaussian):
            self._update_noise()
        return True

    @torch.no_grad()
    def _update_noise(self):
        X, y = self.val
        was_training = self.model.training
        self.model.eval()
        mse = (self.model(X).reshape(y.shape) - y).pow(2).mean().clamp_min(1e-12)
        self.model.train(was_training)
        self.likelihood.log_precision.copy_((-mse.log()).to(self.likelihood.log_precision.dtype))


def _materialize(train, likelihood, device, dtype):
    """(X, y) tensors from tensors/arrays, or by one pass over a DataLoader."""
    if isinstance(train, torch.utils.data.DataLoader):
        xs, ys = zip(*[(X, y) for X, y in train])
        train = (torch.cat(xs), torch.cat(ys))
    return as_tensors(train, likelihood, device, "train", dtype)


def tune_heldout(model, train, likelihood, recipe, *, val=None, val_fraction: float = 0.3, merge_at: float = 0.5,
                 burn_in: int | None = None, update_every: int | None = None, kappa: float = 1.0,
                 max_factor: float = 2.0, refit: bool = False, by=None, delta: float = 1.0, rule="auto", mode="coupled",
                 prior_mean=None, rewarm: float = 0.0, per_direction: bool = False, split_gate: float = 1.0, rivals=(),
                 progress=False):
    """Held-out weight-scale calibration of δ = δ₀·s (s from ``rule``), then training on all data.

    Parameters (besides the recipe)
    ----------
    val : (X, y), optional
        Held-out data given by the user: δ is calibrated on it, and the model is trained on
        ``train`` only (``val`` is never trained on): one full run, or two (2 fits) where a
        split is identified and the one-scale calibration runs beside it.
    val_fraction : float
        Share of ``train`` held out during calibration (default 0.3).
    merge_at : float in (0, 1]
        Fraction of the epochs run on the split while δ is calibrated (default 0.5); δ is
        then frozen. With ``refit=True`` use ``merge_at=1`` (calibrate for the whole run).
    refit : bool
        False (default): continue the same weights on all data for the remaining epochs, with
        a fresh optimizer (:func:`lamina.torch.restart.restart`) — 0.85 fits. True: retrain
        from the initial weights on all data at the found δ for the full epochs —
        0.7·merge_at + 1 fits.
    rewarm : float in [0, 1]
        Fraction of the continued run's steps over which the fresh optimizer's learning rate
        rises linearly from lr/T to lr (:class:`lamina.torch.restart.LinearWarmup`); 0 (default):
        none — a fifteenth was no better on the benchmark (benchmarks/RESULTS.md, Issue 14).
    burn_in, update_every : int
        Epochs before the first update and between updates (default epochs/15 and epochs/60,
        i.e. 20 and 5 for 300 epochs).
    kappa, max_factor
        Damping of the update δ ← δ·(c*)^(−2κ) and the largest factor per update.
    prior_mean : mapping of parameter name → Tensor, optional
        Prior means μ_g (L2-SP); the scale search then moves W_g along W_g − μ_g.
    rule : "auto", a rule name of :mod:`lamina.torch.rules` or an AdaptiveRule
        The per-group ratios s_g. ``"auto"`` (default): uniform where
        :func:`lamina.torch.identifiability` (on the first training batch) finds only the
        product of the δ along homogeneous chains identified (ReLU chains: the ratios cannot
        matter at the optimum), where the output is not linear in one readout layer, and for
        regression; otherwise — tanh/GELU layers, a prior mean, a residual stream,
        normalization layers — the μP rule (:class:`lamina.torch.readout.MaximalUpdateRule`).
        ``info["rule"]`` and ``info["readout"]`` say which.
    per_direction : bool
        False (default): one common scale for every group. True: where more than one direction
        of log δ is identified, a second calibration with one scale per identified direction,
        searched in turn (δ along the flat directions keeps the rule's ratios), runs beside the
        common one from the same initial weights, and the held-out samples choose
        (:mod:`lamina.torch.heldout_select`, ``split_gate``): 1.2 fits instead of 0.85. It was
        the default until the μP ratios beat it on tanh, GELU and L2-SP settings
        (benchmarks/RESULTS.md, Issue 14, "The μP ratios").
    split_gate : float
        Standard errors of the paired held-out NLL decrease by which the split calibration must
        beat the common scale to be kept (default 1).
    rivals : sequence of rule names, optional
        Where a split is identified, also calibrate one common scale under each of these ratio
        rules (e.g. ``("per_element",)``: every layer pays the same total penalty) on a copy of
        the network; each must beat the default's calibration on the held-out samples by
        ``split_gate`` standard errors, and the lowest held-out NLL among those that do is kept.
        +0.35 fits each. Off by default (benchmarks/RESULTS.md, Issue 14, "Ratio rules as rivals").
    """
    if not 0 < merge_at <= 1:
        raise ValueError(f"merge_at must lie in (0, 1], got {merge_at!r}")
    if not split_gate >= 0:
        raise ValueError(f"split_gate must be a number ≥ 0 (standard errors), got {split_gate!r}")
    if isinstance(rewarm, bool) or not isinstance(rewarm, (int, float)) or not 0 <= rewarm <= 1:
        raise ValueError(f"rewarm must be a fraction in [0, 1] of the continued run's steps, got {rewarm!r}")
    device, dtype = model_device(model), model_dtype(model)
    X, y = _materialize(train, likelihood, device, dtype)
    if val is None:
        fit_data, val_data = split_train((X, y), likelihood, device, val_fraction, recipe.seed, dtype)
        merged = (X, y)
    else:
        fit_data, val_data = (X, y), as_tensors(val, likelihood, device, "val", dtype)
        merged = (X, y)
    epochs = recipe.epochs
    first = max(1, min(epochs, int(round(merge_at * epochs))))
    if val is not None:  # the user's held-out data are never trained on: one run on train
        first, refit = epochs, False
    burn_in = max(1, int(round(epochs / 15))) if burn_in is None else int(burn_in)
    update_every = max(1, int(round(epochs / 60))) if update_every is None else int(update_every)
    if burn_in < 1 or update_every < 1:
        raise ValueError("burn_in and update_every must be positive integers")
    example = fit_data[0][: max(2, min(64, fit_data[0].shape[0]))]
    found = identifiability(model, by, example=example, prior_mean=prior_mean)
    split = found.n_identified > 1
    rule, readout = auto_rule(rule, model, likelihood, found, example, by=by)
    init_state = {k: v.detach().clone() for k, v in model.state_dict().items()} if refit else None

    def calibrate(net, lik, dirs, ratios=rule) -> Calibration:
        reg = Regularizer(net, int(fit_data[0].shape[0]), delta, mode=mode, by=by, prior_mean=prior_mean)
        weights, _ = make_rule(ratios, reg.reg_groups)
        reg.set_deltas(delta * np.asarray(weights))
        opt = make_optimizer(recipe.optimizer, reg.param_groups(), recipe.lr)
        tuner = HeldoutScale(net, reg, lik, val_data, burn_in=min(burn_in, first), update_every=update_every,
                             kappa=kappa, max_factor=max_factor, directions=dirs)
        run = fit(net, fit_data, likelihood=lik, epochs=first, lr=recipe.lr, batch_size=recipe.batch_size,
                  seed=recipe.seed, optimizer=opt, regularizer=reg, callbacks=[tuner], progress=progress)
        return Calibration(net, lik, reg, opt, run, tuner)

    selection, others = None, []
    if not (split and (per_direction or rivals)):
        chosen = calibrate(model, likelihood, None)
    else:  # one common scale (on a copy) against the split directions / rival rules; the held-out data decide
        common = calibrate(*twin(model, likelihood), None)
        contenders = [calibrate(model, likelihood, found.identified)] if per_direction else []
        contenders += [calibrate(*twin(model, likelihood), None, r) for r in rivals]
        labels = (["split"] if per_direction else []) + [f"one scale, rule {r}" for r in rivals]
        best, selection = choose(common, contenders, val_data, split_gate, labels=labels)
        chosen = common if best < 0 else contenders[best]
        others = [c for c in [common, *contenders] if c is not chosen]
    reg, tuner, out = chosen.regularizer, chosen.tuner, chosen.out
    final = Regularizer(model, int(merged[0].shape[0]), reg.delta.clone(), mode=mode, by=by, prior_mean=prior_mean)
    adopt(model, likelihood, chosen)
    history = {key: list(value) for key, value in out.history.items()}
    seconds, n_epochs = out.seconds, out.epochs
    opt, warmup = recipe.optimizer, []
    if refit:
        model.load_state_dict(init_state)
        first = 0
    elif first < epochs:  # a fresh optimizer (re-warmed if rewarm > 0): the calibration's Adam state is stale
        steps = (epochs - first) * -(-int(merged[0].shape[0]) // recipe.batch_size)
        opt, warm = restart(recipe.optimizer, final.param_groups(), recipe.lr, steps, rewarm)
        warmup = [warm]
    if first < epochs:
        rest = fit(model, merged, likelihood=likelihood, epochs=epochs - first, lr=recipe.lr,
                   batch_size=recipe.batch_size, seed=recipe.seed + 1, optimizer=opt,
                   regularizer=final, callbacks=warmup, progress=progress)
        for key, value in rest.history.items():
            history.setdefault(key, []).extend(value)
        seconds, n_epochs = seconds + rest.seconds, n_epochs + rest.epochs
    # compute in units of one full-data fit: the split runs count by their share of the samples
    split_epochs = out.epochs + sum(c.out.epochs for c in others)
    fits = (split_epochs * fit_data[0].shape[0] / merged[0].shape[0] + (n_epochs - out.epochs)) / epochs
    seconds += sum(c.out.seconds for c in others)
    info = {"n_updates": len(tuner.log_scales), "n_skipped_separable": tuner.n_skipped,
            "frozen": [] if tuner.frozen is None else [n for n, f in zip(reg.names, tuner.frozen) if f],
            "log_scale": tuner.log_scales, "merge_epoch": first,
            "n_train": int(fit_data[0].shape[0]), "n_val": int(val_data[0].shape[0])}
    info["identifiability"] = {"verdict": found.verdict(), "findings": found.findings(),
                               "n_identified": found.n_identified}
    info["rule"], info["readout"] = getattr(rule, "name", rule), readout
    if selection is not None:
        info["selection"] = selection
    if isinstance(likelihood, Gaussian):
        info["noise_precision"] = float(likelihood.precision)
    return NetTuneResult("heldout", final.lambdas, model, history.get("lambdas", []),
                         Compute(fits=float(fits), epochs=float(n_epochs), seconds=seconds), info=info, history=history)
