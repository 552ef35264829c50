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
from contextlib import contextmanager

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from torch import nn

from lamina.torch.grid_minimum import refined_minimum
from lamina.torch.heldout_select import all_correct, eval_outputs
from lamina.torch.likelihoods import Classification, Gaussian
from lamina.torch.modes import in_mode
from lamina.torch.penalty import Regularizer


#: the search range of log c and its tolerance (:func:`weight_scale_search`'s defaults)
SEARCH_RANGE, SEARCH_XATOL = 0.5, 0.01
RELATIVE_RANGE = 1.0   # log c range of both searches of the relative criterion (module doc)
GRID_POINTS = 9        # their common grid of log c (:func:`joint_scale_search`)
BRENT_PASSES = 10      # forward passes of one bounded Brent search (7–13 measured)
CHANCE_SCALES = 4      # smaller scales at which a held-out loss at chance must be at chance too (HeldoutScale)
EVAL_BATCH = 4096      # rows per forward pass of the searches (memory, not results)


def passes_per_update(relative: bool, n_directions: int = 1) -> int:
    """Forward passes of one :class:`HeldoutScale` update: the current outputs (shared by the skip
    checks and the grid's middle point), then the joint grid's other points and its two refinements
    (``relative``) or a Brent search per direction (:mod:`lamina.torch.heldout_budget` counts them)."""
    return 1 + (GRID_POINTS + 1 if relative else BRENT_PASSES * n_directions)


@contextmanager
def _moved_weights(model: nn.Module, regularizer: Regularizer):
    """Yields ``move(log_scales)``, which sets every regularized weight of group g to
    μ_g + c_g (W_g − μ_g), c_g = exp(log_scales[g]) (μ_g its prior mean, 0 by default); the model
    in ``eval`` mode meanwhile, its weights and modes restored on exit."""
    weights = [(g_index, p, mu) for g_index, (g, means) in enumerate(zip(regularizer.reg_groups, regularizer.means))
               for p, mu in zip(g.params, means)]
    params = [p for _, p, _ in weights]
    saved = [p.detach().clone() for p in params]
    # W = μ + c (W₀ − μ): the offsets once, then three fused (foreach) operations per move (on small
    # networks a search's per-tensor copies had been a fifth of its time)
    offsets = [w if mu is None else w - mu for (_, _, mu), w in zip(weights, saved)]
    anchored = [(p, mu) for _, p, mu in weights if mu is not None]

    def move(log_scales) -> None:
        if not params:
            return
        scaled = torch._foreach_mul(offsets, [math.exp(float(log_scales[g_index])) for g_index, _, _ in weights])
        torch._foreach_copy_(params, scaled)
        if anchored:
            torch._foreach_add_([p for p, _ in anchored], [mu for _, mu in anchored])

    with in_mode(model, training=False):
        try:
            yield move
        finally:
            if params:
                torch._foreach_copy_(params, saved)


def _outputs(model: nn.Module, X: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``model(X)`` in batches of ``batch_size`` rows."""
    return torch.cat([model(X[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)])


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
        out = _outputs(model, X, batch_size)
        if gaussian:
            return float((out.reshape(y.shape) - y).pow(2).mean())
        extra = 0.0 if penalties is None else float(np.dot(penalties, np.exp(2.0 * np.asarray(log_scales))))
        return float(likelihood.nll(out, y)) + extra

    n_groups = len(regularizer.reg_groups)
    basis = np.ones((1, n_groups)) if directions is None else np.asarray(directions, dtype=np.float64)
    t = np.zeros(basis.shape[0])
    with _moved_weights(model, regularizer) as move:
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


@torch.no_grad()
def joint_scale_search(model: nn.Module, regularizer: Regularizer, likelihood, held, train, penalty: float, *,
                       log_range: float = RELATIVE_RANGE, points: int = GRID_POINTS,
                       batch_size: int = EVAL_BATCH, at_one: torch.Tensor | None = None) -> tuple[float, float]:
    """(log c*_held, log c_eq) of the relative criterion (module doc), both in one pass: every
    regularized weight moved to μ_g + c (W_g − μ_g) for ``points`` values of log c evenly over
    [−log_range, log_range], each one forward pass of the held-out and training rows together
    (``held``, ``train``: (X, y)) — the held-out NLL and the training NLL + c²·``penalty`` (the L2
    term at c = 1, :meth:`~lamina.torch.penalty.Regularizer.l2_term`) at each; then each minimum by one step of successive parabolic interpolation
    (:func:`~lamina.torch.grid_minimum.parabola_vertex` through the lowest sample and its neighbours, one more evaluation
    there, and the vertex again through the three best). Eleven forward passes for both where two
    Brent searches (:func:`weight_scale_search`) took 15–25; agrees with Brent's to about 0.01 in
    log c. The model is left unchanged; evaluated in ``eval`` mode.
    ``at_one`` (optional): the outputs of the held-out and training rows, in that order, at the
    current weights (c = 1, in ``eval`` mode), reused for the grid's middle point."""
    (X_held, y_held), (X_train, y_train) = held, train
    n_held, n_groups = int(X_held.shape[0]), len(regularizer.reg_groups)

    def outputs(log_c: float, X: torch.Tensor) -> torch.Tensor:
        move(np.full(n_groups, log_c))
        return _outputs(model, X, batch_size)

    def held_loss(log_c: float, out=None) -> float:
        out = outputs(log_c, X_held) if out is None else out
        return float(likelihood.nll(out, y_held))

    def train_loss(log_c: float, out=None) -> float:
        out = outputs(log_c, X_train) if out is None else out
        return float(likelihood.nll(out, y_train)) + penalty * math.exp(2.0 * log_c)

    grid = np.linspace(-log_range, log_range, points)
    both = torch.cat([X_held, X_train])
    with _moved_weights(model, regularizer) as move:
        samples_held, samples_train = [], []
        for log_c in grid:
            out = at_one if log_c == 0 and at_one is not None else outputs(float(log_c), both)
            samples_held.append(held_loss(float(log_c), out[:n_held]))
            samples_train.append(train_loss(float(log_c), out[n_held:]))
        return (refined_minimum(held_loss, grid, np.array(samples_held)),
                refined_minimum(train_loss, grid, np.array(samples_train)))


class HeldoutScale:
    """Callback: every ``update_every`` epochs after ``burn_in``, δ_g ← δ_g·(c*_g)^(−2κ) (clipped),
    c* from :func:`weight_scale_search` on the held-out data — one common scale, or one per
    identified direction (``directions``); β ← 1/held-out MSE (Gaussian). With ``train_sample``
    (training rows; one common scale only), c* relative to the training objective's c_eq (module
    doc), each kept in ``log_scales`` (the ratio) and ``log_equilibria``."""

    def __init__(self, model, regularizer: Regularizer, likelihood, val, *, burn_in: int, update_every: int,
                 kappa: float = 1.0, max_factor: float = 2.0, directions=None, train_sample=None):
        self.model, self.regularizer, self.likelihood, self.val = model, regularizer, likelihood, val
        if train_sample is not None and directions is not None:
            raise ValueError("train_sample (the relative criterion) searches one common scale: not with directions")
        self.train_sample, self.log_equilibria = train_sample, []
        self.burn_in, self.update_every = int(burn_in), int(update_every)
        if not (isinstance(kappa, (int, float)) and kappa > 0):
            raise ValueError(f"kappa must be > 0 (the damping of δ ← δ·c*^(−2κ)), got {kappa!r}")
        if not (isinstance(max_factor, (int, float)) and max_factor > 1):
            raise ValueError(f"max_factor must be > 1 (the largest change of δ per update), got {max_factor!r}")
        self.kappa, self.max_step = float(kappa), math.log(float(max_factor))
        self.directions = directions
        self.log_scales: list = []
        self.n_skipped = 0
        self.n_skipped_chance = 0
        self.frozen = None
        self._first = None

    @torch.no_grad()
    def _log_scale(self, current: torch.Tensor | None = None) -> tuple[np.ndarray | float, bool]:
        """(log c* of this update, whether a search ended at its range's end): the held-out c*, or
        log c*_held − log c_eq where ``train_sample`` is given (module doc; ``current``: the rows'
        outputs at c = 1, :meth:`_current_outputs`)."""
        if self.train_sample is None:
            log_c = weight_scale_search(self.model, self.regularizer, self.likelihood, self.val,
                                        directions=self.directions)
            return log_c, _at_range_end(log_c, SEARCH_RANGE)
        held, heading = joint_scale_search(self.model, self.regularizer, self.likelihood, self.val, self.train_sample,
                                           float(self.regularizer.l2_term()), at_one=current)
        self.log_equilibria.append(heading)
        return held - heading, _at_range_end((held, heading), RELATIVE_RANGE)

    @torch.no_grad()
    def _current_outputs(self) -> torch.Tensor:
        """The outputs at the current weights (``eval`` mode) of the held-out rows, then of
        ``train_sample``'s where it is given: one pass serves the skip checks, β and the joint
        grid's middle point (on full-batch data an update's passes cost about a quarter of a
        training step each)."""
        X = self.val[0] if self.train_sample is None else torch.cat([self.val[0], self.train_sample[0]])
        with in_mode(self.model, training=False):
            return _outputs(self.model, X, EVAL_BATCH)

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

    @torch.no_grad()
    def _uninformative(self, held_out: torch.Tensor | None = None) -> str | None:
        """Why the held-out loss says nothing about δ now — ``"separable"``, ``"chance"`` — or
        None, from the held-out outputs at the current weights (``held_out``; one forward pass
        of the held-out set in ``eval`` mode where not given).

        ``"separable"``: every held-out sample classified correctly. The held-out NLL then
        falls monotonically as the logits grow (any proper score does), so it has no finite
        optimum in the weight scale and says nothing against smaller δ. Such updates are
        skipped (δ kept) instead of driving δ toward 0 — on 15 held-out images that happens
        often.

        ``"chance"``: a held-out NLL no better than the uniform prediction's, log K. Shrinking
        every weight toward μ (the head toward 0, the logits toward equal) then lowers the
        held-out loss whatever δ should be, so c* sits at the end of its range. Such updates
        are skipped until the network predicts better than chance. Early in fine-tuning on 35
        images of ten classes the held-out NLL was 4.5 against log 10 = 2.3 at the first
        update, and without the skip δ doubled at every update to 52,000 while the training
        objective climbed from 0.4 to 55.

        For a Gaussian likelihood ``"chance"`` is a held-out mean squared error no lower than the
        best constant's, the held-out variance of y: shrinking the weights toward μ flattens the
        prediction toward a constant, which is then closer, whatever δ should be. (A regression
        MLP on 12 samples, 100 epochs: c* sat at the end of its range at every update, δ reached
        4·10⁶ and the network predicted a constant.)

        An *overfitting* network (memorized label noise) is worse than chance at its own scale
        too, and there δ must rise: so ``"chance"`` also needs the held-out loss at
        ``CHANCE_SCALES`` smaller scales of the search's range to be no better (passes made only
        when c = 1 is at chance). On breast_cancer with 20 % of the labels flipped every update
        after epoch 20 was skipped, δ stayed at 1.7 where CV chose 22 (benchmarks/RESULTS.md)."""
        X, y = self.val
        held_out = eval_outputs(self.model, X) if held_out is None else held_out
        if isinstance(self.likelihood, Gaussian):
            baseline = float((y - y.mean(0)).pow(2).mean())
        elif isinstance(self.likelihood, Classification):
            if all_correct(held_out, y):
                return "separable"
            baseline = math.log(held_out.shape[-1])
        else:
            return None
        return "chance" if self._held_out_loss(held_out) >= baseline and self._chance_at_every_scale(baseline) else None

    @torch.no_grad()
    def _chance_at_every_scale(self, baseline: float) -> bool:
        """Whether the held-out loss is at ``baseline`` or above at ``CHANCE_SCALES`` scales c < 1 too."""
        log_range = RELATIVE_RANGE if self.train_sample is not None else SEARCH_RANGE
        with _moved_weights(self.model, self.regularizer) as move:
            for log_c in np.linspace(-log_range, 0.0, CHANCE_SCALES + 1)[:-1]:
                move(np.full(len(self.regularizer.reg_groups), log_c))
                if self._held_out_loss(_outputs(self.model, self.val[0], EVAL_BATCH)) < baseline:
                    return False
        return True

    def due(self, epoch: int) -> bool:
        return epoch + 1 >= self.burn_in and (epoch + 1 - self.burn_in) % self.update_every == 0

    def on_epoch_end(self, epoch, optimizer):
        if not self.due(epoch):
            return False
        current = self._current_outputs()   # the search leaves W as is
        held_out = current[:self.val[0].shape[0]]
        reason = self._uninformative(held_out)
        if reason == "separable":
            self.n_skipped += 1
            return False
        if reason == "chance":
            self.n_skipped_chance += 1
            return False
        log_c, pinned = self._log_scale(current)
        self.log_scales.append(log_c if np.ndim(log_c) == 0 else np.asarray(log_c).tolist())
        log_delta = np.log(np.maximum(self.regularizer.delta.detach().cpu().double().numpy(), 1e-300))
        self._freeze_unresponsive(log_delta, np.broadcast_to(np.asarray(log_c, dtype=np.float64), log_delta.shape),
                                  pinned)
        step = np.clip(-2.0 * self.kappa * np.asarray(log_c, dtype=np.float64), -self.max_step, self.max_step)
        step = np.where(self.frozen, 0.0, step)   # _freeze_unresponsive has set frozen
        factor = torch.as_tensor(np.exp(step), dtype=self.regularizer.delta.dtype, device=self.regularizer.delta.device)
        self.regularizer.set_deltas(self.regularizer.delta * factor, optimizer)
        if isinstance(self.likelihood, Gaussian):   # β ← 1 / held-out MSE
            mse = self._mse(held_out)
            self.likelihood.log_precision.copy_((-mse.clamp_min(1e-12).log()).to(self.likelihood.log_precision.dtype))
        return True

    def _held_out_loss(self, held_out: torch.Tensor) -> float:
        """The chance checks' loss of the held-out outputs: the mean squared error (Gaussian), else the NLL."""
        gaussian = isinstance(self.likelihood, Gaussian)
        return float(self._mse(held_out) if gaussian else self.likelihood.nll(held_out, self.val[1]))

    def _mse(self, held_out: torch.Tensor) -> torch.Tensor:
        """The held-out mean squared error of the held-out outputs ``held_out``."""
        y = self.val[1]
        return (held_out.reshape(y.shape) - y).pow(2).mean()
