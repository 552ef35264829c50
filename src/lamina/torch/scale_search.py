"""The held-out weight-scale criterion of :mod:`lamina.torch.heldout`: the search and its callback.

Raising δ moves the weights, to first order in the weakly determined directions, along
−(W − μ) (the decay direction). The held-out loss V is stationary in log δ when it is
stationary along that direction, i.e. when c* = argmin_c V(W_g → μ_g + c·(W_g − μ_g)) equals 1.
:func:`weight_scale_search` finds c* on the held-out data (a bounded Brent search, forward
passes only); :class:`HeldoutScale` is the training callback that moves δ toward c* = 1
(δ_g ← δ_g·(c*_g)^(−2κ), clipped), skipping separable held-out sets and freezing the δ the
held-out loss no longer sees.

Relative to where training is heading (classifiers)
----------------------------------------------------
c* > 1 says "larger weights would predict the held-out samples better". After many epochs that
means over-regularization; early in a run it mostly means the network is still under-trained and
under-confident — and the update then lowered δ by 10–10⁴× on runs of 30 or 100 epochs
(benchmarks/RESULTS.md, Issue 14, "Short runs"). The training samples separate the two: along the
same line, the penalized training objective itself is minimized at

    c_eq = argmin_c  mean NLL_train(c·W) + c²·(1/2N) Σ_g δ_g ‖W_g − μ_g‖²,

which is 1 at a converged penalized optimum (so nothing changes there) and above 1 while training
is still growing the weights. The update uses c*/c_eq: δ falls only where the held-out samples want
larger weights *than the training objective is heading for*, and rises where they want less of
the growth training will bring (overfitting under way). Both minima are searched over log c ∈ ±1
(``RELATIVE_RANGE``), so that two searches pinned together at ±½ do not read as agreement; c_eq on
up to max(256, held-out size) training rows. Used for classifiers whose regularized weights all
see their scale: a weight before BatchNorm does not (the training loss does not depend on its
norm, c_eq would only read the penalty), and there the held-out c* alone is kept.

Which weights the line moves
----------------------------
Raising the common scale of δ moves the weights, at a penalized optimum, by dW/d log δ =
−(H + P)⁻¹ P (W − μ), P the penalty's curvature δ_g/N per group and H the data's: along −(W_g − μ_g)
where the penalty dominates a group's curvature, hardly at all where the data pin it. The line
moves every group by default. In a recurrent network under the μP ratios (:mod:`lamina.torch.readout`,
:func:`~lamina.torch.readout.scale_line`) it moves the readout alone: the cell's weights are reused at
every step, their scale sets the gates' saturation for the held-out and the training rows alike, and
along a line that scales them too the two minima agreed at almost any δ — the calibration stayed
near its start (a GRU's δ ended at 0.63× its start on every seed, 0.04 NLL behind no penalty).
Measured along each group's own scale on the training rows, the data's curvature there is 10²–10³
times the penalty's (a GRU's cell: P/(P + H) ≈ 0.001–0.01 after the first updates, its readout ≈ 0.2).
With the readout's line the default gained 0.015–0.12 test NLL on six recurrent networks; on a
LayerNorm residual MLP, whose branches the penalty does move (P/(P + H) ≈ 0.5–0.66), the readout's
line cost 0.076 and a line weighted by P/(P + H) per group 0.017, so other networks keep the whole
line (benchmarks/RESULTS.md, Issue 14, "Which weights the line moves").

The step's gain
---------------
δ ← δ·(c*/c_eq)^(−2κ) assumes that the weights answer δ as ‖W − μ‖ ∝ δ^(−1/2): the reading
ρ = log c*/c_eq then moves by ½ per unit of log δ. Read at fixed δ over whole runs it moves by
0.07–0.33 on overfitting make_classification MLPs, where the data's curvature along the line
dominates the penalty's, and a short run's two updates raised δ 1.5–2× where tenfold was right
(benchmarks/RESULTS.md, Issue 14, "Short runs of overfitting networks"). The same grid gives the
line's answer: at c_eq, raising log δ by v moves log c_eq by −(r/2)·v, r the L2 term's share of the
training objective's curvature in log c (:func:`~lamina.torch.grid_minimum.penalty_share`), and an
update that raises δ takes the gain 1/r (at most ``max_gain`` = 10; the step then up to
``max_factor``²), but only where the held-out samples themselves prefer smaller weights now: c*
below 1 and below c_eq, and the held-out NLL's slope in log c between c = 1 and the grid's next
smaller scale, paired over the held-out samples (:func:`~lamina.torch.grid_minimum.paired_slope`),
above z standard errors, z set so that a calibration of n planned updates gains a step by noise
alone with probability at most 0.16 (Bonferroni: z = 1.41 for two updates, 1.61 for three; :attr:`HeldoutScale.evidence`). And only
calibrations of at most ``GAINED_UPDATES`` = 3 planned updates (short runs) gain: with more, the
controller integrates its readings itself — without that limit the 24 invented settings at their own
60–1,000 epochs moved by −0.003 ± 0.003 (mchigh −0.106; mc2noise +0.040, whose δ oscillates at its
high end). The evidence must be one-sided: on a deep SiLU MLP the reading settles at ρ ≈ −0.2 at
δ = 0.2 and at 0.8 alike (c* ≈ 1, c_eq above) while 0.8 is worse on the test set, and a slope by
central differences — raised by the held-out loss's steeper rise toward larger weights — passed
there and cost 0.24 ± 0.12 test NLL at 150 epochs (0.15 on a narrower one, 0.08 on a six-layer ELU
MLP); the difference toward smaller weights passed no update on those networks. Steps that lower δ
keep gain 1 (early in a run "larger weights" mostly means under-training, the section above).

The last reading of a short calibration
---------------------------------------
In a run too short to overfit, c_eq is where training would end up, not where it gets: over 48
short-run cells (digits with 100 / 300 images, make_classification with 200, three networks, 30–150
epochs, 10 seeds each) the default stayed within 0.35–3.5× of its start of δ while the best fixed δ was
0.03 on the digits, and lost to no penalty on 29 of 36 digits cells. What told those runs apart was the
held-out samples' own reading at the calibration's last update, log c*_held (Spearman −0.83 with the
best fixed δ, 0.79 with where an unpenalized run's held-out loss is lowest): where they still want
weights e^``LATE_HELD`` = e^0.25 larger, the network will not overfit before the run ends. So the last
update of a calibration of at most ``GAINED_UPDATES`` planned updates takes the plain reading log c*_held
there, at gain ``LATE_GAIN`` = 2 (the step up to ``max_factor``², as a gained raise): −0.016 ± 0.001 nats
over those 600 runs, better in 28 cells, worse in one (make_classification, 30 epochs of batch 128:
+0.022 ± 0.006); on the sweep's 24 settings at 30 epochs −0.005 ± 0.001, on bench_nn_short's 13 at 30 and
100 epochs level (the 100-digit full-batch MLP +0.02, a pretrained transfer task +0.12 on one seed of three).
`info["late_plain"]` counts such steps (benchmarks/RESULTS.md, Issue 14, "The last reading …").

Cost: both minima come from one grid of nine scales, each a forward pass of the held-out and the
training rows together, refined by successive parabolic interpolation (:func:`joint_scale_search`:
eleven passes with the one at c = 1 that the skip checks make anyway, within 0.013 of two Brent
searches' ratio wherever it is below 0.4 in log; the held-out c* alone takes 7–13 passes of the
held-out rows). A grid of five scales (seven passes) was 2.5× less accurate and cost the digits MLP
0.003 test NLL. On small full-batch data an update is still worth several training steps, and
:mod:`lamina.torch.heldout_budget` counts it: updates come less often there, and the calibrations
are shortened so that the whole stays within budget. One Newton step for c_eq from three passes
at c = 1 failed: far from the optimum that parabola is a poor model, and on a tanh MLP at 30
epochs δ ended at 43 instead of 6.7 (test NLL +0.29; benchmarks/RESULTS.md).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from scipy.stats import norm
from torch import nn

from lamina.torch.grid_minimum import GRID_POINTS, RELATIVE_RANGE, JointMinima, joint_scale_search
from lamina.torch.likelihoods import Gaussian
from lamina.torch.modes import in_mode
from lamina.torch.penalty import Regularizer
from lamina.torch.scale_lines import EVAL_BATCH, moved_weights, outputs_in_batches
from lamina.torch.uninformative import UninformativeReadings


#: the search range of log c and its tolerance (:func:`weight_scale_search`'s defaults)
SEARCH_RANGE, SEARCH_XATOL = 0.5, 0.01
BRENT_PASSES = 10      # forward passes of one bounded Brent search (7–13 measured)
MAX_GAIN = 10.0        # the largest gain of an update that raises δ (HeldoutScale._raise_gain)
GAIN_LEVEL = 0.16      # chance that a calibration gains a step by noise alone (one-sided one s.e.'s)
GAINED_UPDATES = 3     # the most updates a calibration may plan and still gain its steps (short runs)
LATE_HELD, LATE_GAIN = 0.25, 2.0   # a short calibration's last reading: plain where log c*_held exceeds it


def passes_per_update(relative: bool, n_directions: int = 1) -> int:
    """Forward passes of one :class:`HeldoutScale` update: the current outputs (shared by the skip
    checks and the grid's middle point), then the joint grid's other points and its two refinements
    (``relative``) or a Brent search per direction (:mod:`lamina.torch.heldout_budget` counts them)."""
    return 1 + (GRID_POINTS + 1 if relative else BRENT_PASSES * n_directions)


def _at_range_end(log_c, log_range: float) -> bool:
    """Whether a search's result (one log c or several) sits at the end of its range: pinned there,
    the minimum may lie beyond it."""
    return bool(np.any(np.abs(log_c) >= log_range - 2 * SEARCH_XATOL))


@torch.no_grad()
def weight_scale_search(model: nn.Module, regularizer: Regularizer, likelihood, val, *,
                        log_range: float = SEARCH_RANGE, xatol: float = SEARCH_XATOL, batch_size: int = EVAL_BATCH,
                        directions=None, penalties=None) -> np.ndarray | float:
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
    noise precision profiled out). Evaluated in ``eval`` mode. ``penalties`` (per group, optional):
    P_g added as Σ_g P_g·c_g² — with P_g = δ_g ‖W_g − μ_g‖²/(2N) and training samples for ``val``,
    the penalized training objective along the same line.

    Examples
    --------
    >>> net = nn.Linear(1, 1, bias=False)
    >>> _ = net.weight.data.fill_(2.0)
    >>> from lamina.torch.likelihoods import Gaussian
    >>> x = torch.ones(4, 1); reg = Regularizer(net, 4)
    >>> round(math.exp(weight_scale_search(net, reg, Gaussian(), (x, x[:, 0] * 1.6))), 2)
    0.8
    >>> reg = Regularizer(net, 4, prior_mean={"weight": torch.tensor([[1.0]])})
    >>> round(math.exp(weight_scale_search(net, reg, Gaussian(), (x, x[:, 0] * 1.7))), 2)  # 1 + c·1 = 1.7
    0.7
    """
    X, y = val
    gaussian = isinstance(likelihood, Gaussian)
    if gaussian and penalties is not None:
        raise ValueError("penalties: a Gaussian likelihood's loss here is the mean squared error (β profiled "
                         "out), which an L2 term cannot be added to; use them with a classification likelihood")

    def loss(log_scales: np.ndarray) -> float:
        move(log_scales)
        out = outputs_in_batches(model, X, batch_size)
        if gaussian:
            return float((out.reshape(y.shape) - y).pow(2).mean())
        extra = 0.0 if penalties is None else float(np.dot(penalties, np.exp(2.0 * np.asarray(log_scales))))
        return float(likelihood.nll(out, y)) + extra

    n_groups = len(regularizer.reg_groups)
    basis = np.ones((1, n_groups)) if directions is None else np.asarray(directions, dtype=np.float64)
    t = np.zeros(basis.shape[0])
    with moved_weights(model, regularizer) as move:
        for j in range(basis.shape[0]):
            # the range is in log c per group: a unit step of t_j moves some group by max|D_j|
            reach = log_range / max(float(np.max(np.abs(basis[j]))), 1e-12)

            def along(value, j=j):
                trial = t.copy()
                trial[j] = value
                return loss(basis.T @ trial)

            t[j] = minimize_scalar(along, bounds=(-reach, reach), method="bounded",
                                   options={"xatol": xatol * reach / log_range}).x
    log_scales = basis.T @ t
    return float(log_scales[0]) if directions is None else log_scales


class HeldoutScale(UninformativeReadings):
    """Callback: every ``update_every`` epochs after ``burn_in``, δ_g ← δ_g·(c*_g)^(−2κ) (clipped),
    c* from :func:`weight_scale_search` on the held-out data — one common scale, or one per
    identified direction (``directions``); β ← 1/held-out MSE (Gaussian). With ``train_sample``
    (training rows; one common scale only), c* relative to the training objective's c_eq (module
    doc), each kept in ``log_scales`` (the ratio) and ``log_equilibria``; ``line`` (names of
    regularized groups, with ``train_sample`` only): the line of both searches moves these groups
    alone — a recurrent network's readout under the μP ratios (module doc, "Which weights the line moves")."""

    def __init__(self, model, regularizer: Regularizer, likelihood, val, *, burn_in: int, update_every: int,
                 kappa: float = 1.0, max_factor: float = 2.0, directions=None, train_sample=None, line=None,
                 max_gain: float = MAX_GAIN, planned_updates: int = 1):
        self.model, self.regularizer, self.likelihood, self.val = model, regularizer, likelihood, val
        if train_sample is not None and directions is not None:
            raise ValueError("train_sample (the relative criterion) searches one common scale: not with directions")
        names = [g.name for g in regularizer.reg_groups]
        if line is not None and (train_sample is None or not set(line) <= set(names) or not line):
            raise ValueError(f"line must name some of the regularized groups {names} and come with train_sample, "
                             f"got {line!r}")
        self.line = None if line is None else [name in set(line) for name in names]
        self.train_sample, self.log_equilibria = train_sample, []
        self.burn_in, self.update_every = int(burn_in), int(update_every)
        if not (isinstance(kappa, (int, float)) and kappa > 0):
            raise ValueError(f"kappa must be > 0 (the damping of δ ← δ·c*^(−2κ)), got {kappa!r}")
        if not (isinstance(max_factor, (int, float)) and max_factor > 1):
            raise ValueError(f"max_factor must be > 1 (the largest change of δ per update), got {max_factor!r}")
        if not (isinstance(max_gain, (int, float)) and max_gain >= 1):
            raise ValueError(f"max_gain must be ≥ 1 (the largest gain of a step that raises δ), got {max_gain!r}")
        self.kappa, self.max_step, self.max_gain = float(kappa), math.log(float(max_factor)), float(max_gain)
        if isinstance(planned_updates, bool) or not isinstance(planned_updates, (int, np.integer)) \
                or planned_updates < 1:
            raise ValueError(f"planned_updates must be an integer ≥ 1 (the updates the calibration plans), "
                             f"got {planned_updates!r}")
        self.gains: list[float] = []
        self.planned_updates = int(planned_updates)
        self.directions = directions
        self.log_scales: list = []
        self.n_skipped = 0
        self.n_skipped_chance = 0
        self.n_crushed = 0
        self.frozen = None
        self._first = None
        self._constant_end = None   # whether the line's end W = μ predicts one constant (_anchor_is_constant)
        self.n_due, self.n_late_plain = 0, 0   # updates due so far (skipped ones too); plain last readings

    @torch.no_grad()
    def _log_scale(self, current: torch.Tensor | None = None) -> tuple[np.ndarray | float, bool]:
        """(log c* of this update, whether a search ended at its range's end): the held-out c*, or
        log c*_held − log c_eq where ``train_sample`` is given (module doc; ``current``: the rows'
        outputs at c = 1, :meth:`_current_outputs`)."""
        if self.train_sample is None:
            log_c = weight_scale_search(self.model, self.regularizer, self.likelihood, self.val,
                                        directions=self.directions)
            return log_c, _at_range_end(log_c, SEARCH_RANGE)
        reg = self.regularizer
        penalty = float(reg.l2_term()) if self.line is None else \
            (0.5 * reg.delta.detach() * reg.sq_distances().detach() / reg.n_data).double().cpu().numpy()   # per group
        minima = joint_scale_search(self.model, reg, self.likelihood, self.val, self.train_sample, penalty,
                                    at_one=current, line=self.line)
        self.log_equilibria.append(minima.heading)
        self.gains.append(self._raise_gain(minima))
        if self.planned_updates <= GAINED_UPDATES and self.n_due >= self.planned_updates and minima.held > LATE_HELD:
            self.gains[-1], self.n_late_plain = LATE_GAIN, self.n_late_plain + 1   # module doc, "The last reading …"
            return minima.held, _at_range_end(minima.held, RELATIVE_RANGE)
        return minima.held - minima.heading, _at_range_end((minima.held, minima.heading), RELATIVE_RANGE)

    def _raise_gain(self, minima: JointMinima) -> float:
        """The gain of an update that raises δ (module doc, "The step's gain"): 1/r, r the L2 term's share of
        the training objective's curvature along the line (at most ``max_gain``), in a calibration of at
        most ``GAINED_UPDATES`` planned updates, where the held-out samples themselves prefer smaller
        weights now — c*_held < 1, c*_held < c_eq, and the held-out NLL's paired slope in log c just
        below c = 1 above :attr:`evidence` standard errors; else 1."""
        if self.planned_updates > GAINED_UPDATES or minima.held >= min(0.0, minima.heading) \
                or not minima.held_slope > self.evidence * minima.held_slope_se:
            return 1.0
        return 1.0 / max(minima.penalty_share, 1.0 / self.max_gain)   # 1/r, at most max_gain

    @property
    def evidence(self) -> float:
        """Standard errors by which the held-out NLL's slope must exceed 0 for a gained step: z with
        P(N(0, 1) > z) = ``GAIN_LEVEL`` / ``planned_updates`` (Bonferroni: a calibration of many updates
        tests many times) — 1.41 for two updates, 1.61 for three."""
        return float(norm.isf(GAIN_LEVEL / self.planned_updates))

    @property
    def search_range(self) -> float:
        """The half-width of the searches' range of log c (the chance checks' smaller scales span it)."""
        return RELATIVE_RANGE if self.train_sample is not None else SEARCH_RANGE

    @property
    def line_names(self) -> list[str] | None:
        """The names of the groups ``line`` moves (``None``: every group)."""
        return None if self.line is None else [n for n, moved in zip(self.regularizer.names, self.line) if moved]

    @torch.no_grad()
    def _current_outputs(self) -> torch.Tensor:
        """The outputs at the current weights (``eval`` mode) of the held-out rows, then of
        ``train_sample``'s where it is given: one pass serves the skip checks, β and the joint
        grid's middle point (on full-batch data an update's passes cost about a quarter of a
        training step each)."""
        X = self.val[0] if self.train_sample is None else torch.cat([self.val[0], self.train_sample[0]])
        with in_mode(self.model, training=False):
            return outputs_in_batches(self.model, X, EVAL_BATCH)

    def _freeze_unresponsive(self, log_delta: np.ndarray, log_c: np.ndarray, pinned: bool | None = None) -> None:
        """Stop moving the δ whose held-out optimum does not respond to them.

        The update rests on ‖W − μ‖ ∝ δ^(−1/2), i.e. d log c*/d log δ ≈ ½: once log δ_g has
        fallen by more than log 4 since the first update while log c*_g moved by less than a
        tenth of the expected ½ Δlog δ_g, the held-out loss no longer sees δ_g (too few
        held-out samples, or δ too small to matter against the data) and further steps only
        drift; δ_g is then kept. (On 35 + 15 images it stopped a run whose c* stayed at
        e^0.15 while δ fell from 1 to 0.0025.) With one common scale the decision is one for
        every group (a rounding tie had frozen some and not others, halving a μP ratio), and an
        update whose c* sits at the end of the search range is no evidence, nor a reference
        (a δ started 12× too high froze at 3× its optimum while c* stayed pinned, or, measured
        from a pinned first update, at a third of it).

        Only falls are checked: the penalty's pull on the weights vanishes as δ → 0, so a
        falling δ can stop mattering and drift without bound, whereas a rising δ shrinks the
        weights until the held-out loss sees it (c* then rises above 1 and the update turns).
        Meanwhile c* can keep falling while δ rises simply because the weights are still
        growing with training; freezing there stopped the diabetes MLP at δ ≈ 4 with c* ≈ e^−0.08
        still asking for more (benchmarks/RESULTS.md, Issue 14).
        """
        if self.frozen is None:
            self.frozen = np.zeros(log_delta.shape, dtype=bool)
        if pinned is None:   # (the relative criterion says which of its two searches ended at its range's end)
            pinned = _at_range_end(log_c, SEARCH_RANGE)
        if pinned:
            return   # c* held at the end of its search range shows no response: neither reference nor verdict
        if self._first is None:
            self._first = (log_delta.copy(), log_c.copy())
            return
        moved = log_delta - self._first[0]
        responded = log_c - self._first[1]
        if self.directions is None and np.ptp(log_c) == 0:   # one common scale moves every δ alike: one decision
            moved = np.full_like(moved, moved.mean())          # (float32 δ: equal up to rounding)
        # (two clipped halvings are −log 4 up to rounding: "more than log 4" must not split on it)
        far = moved < -np.log(4.0) - 1e-6
        self.frozen |= far & (responded * np.sign(moved) < 0.05 * np.abs(moved))

    def due(self, epoch: int) -> bool:
        return epoch + 1 >= self.burn_in and (epoch + 1 - self.burn_in) % self.update_every == 0

    def on_epoch_end(self, epoch, optimizer):
        if not self.due(epoch):
            return False
        self.n_due += 1
        current = self._current_outputs()   # the search leaves W as is
        held_out = current[:self.val[0].shape[0]]
        reason = self._uninformative(held_out)
        if reason == "separable":
            self.n_skipped += 1
            return False
        if self._crushed(current):   # nothing fitted, not even the training rows: the held-out loss is noise
            self.n_crushed += 1
            self.regularizer.set_deltas(self.regularizer.delta * math.exp(-self.max_step), optimizer)
            return True
        if reason == "chance":
            self.n_skipped_chance += 1
            return False
        log_c, pinned = self._log_scale(current)
        self.log_scales.append(log_c if np.ndim(log_c) == 0 else np.asarray(log_c).tolist())
        log_delta = np.log(np.maximum(self.regularizer.delta.detach().cpu().double().numpy(), 1e-300))
        self._freeze_unresponsive(log_delta, np.broadcast_to(np.asarray(log_c, dtype=np.float64), log_delta.shape),
                                  pinned)
        gain = self.gains[-1] if self.train_sample is not None else 1.0
        reach = self.max_step * (2.0 if gain > 1.0 else 1.0)   # a gained step: up to max_factor²
        step = np.clip(-2.0 * self.kappa * gain * np.asarray(log_c, dtype=np.float64), -reach, reach)
        step = np.where(self.frozen, 0.0, step)   # _freeze_unresponsive has set frozen
        factor = torch.as_tensor(np.exp(step), dtype=self.regularizer.delta.dtype, device=self.regularizer.delta.device)
        self.regularizer.set_deltas(self.regularizer.delta * factor, optimizer)
        if isinstance(self.likelihood, Gaussian):   # β ← 1 / held-out MSE
            mse = self._mse(held_out)
            self.likelihood.log_precision.copy_((-mse.clamp_min(1e-12).log()).to(self.likelihood.log_precision.dtype))
        return True
