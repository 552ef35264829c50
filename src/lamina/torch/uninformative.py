"""When a held-out reading says nothing about δ: the checks :class:`lamina.torch.scale_search.HeldoutScale`
runs before its criterion — every held-out sample classified correctly (``"separable"``), a held-out
loss at chance at every smaller scale toward a constant end (``"chance"``), training rows at chance too
(crushed: δ halved). A mixin: the callback's model, regularizer, likelihood, held-out data ``val``,
``train_sample``, ``search_range`` and ``_constant_end`` are its state."""
from __future__ import annotations

import math

import numpy as np
import torch

from lamina._warnings import warn
from lamina.torch.heldout_select import all_correct, eval_outputs
from lamina.torch.likelihoods import Classification, Gaussian, at_chance, chance_nll
from lamina.torch.scale_lines import EVAL_BATCH, moved_weights, outputs_in_batches

CHANCE_SCALES = 4      # smaller scales at which a held-out loss at chance must be at chance too


class UninformativeReadings:
    """The skip checks of :class:`~lamina.torch.scale_search.HeldoutScale` (module doc)."""

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
        return "chance" if self._held_out_loss(held_out) >= baseline and self._anchor_is_constant() \
            and self._chance_at_every_scale(baseline) else None

    @torch.no_grad()
    def _anchor_is_constant(self) -> bool:
        """Whether the line's end, every regularized weight at its prior mean (W = μ), predicts one
        constant for every held-out row — a new head pulled toward zero — so that shrinking toward it
        flattens the predictions toward the uninformative baseline the "chance" check compares with.
        Not where the readout has a prior mean (fine-tuning a whole pretrained network): W = μ is the
        pretrained model, and whether the held-out samples prefer it is what δ decides. Memorized label
        noise had sent the held-out NLL above log K at every smaller scale, every update was skipped and
        δ stayed at its start: a pretrained tanh MLP fine-tuned on 60 samples with a fifth of their
        labels flipped ended at test NLL 1.32 where the pretrained network alone had 0.37 (benchmarks/
        RESULTS.md, Issue 14, "Fine-tuning a whole pretrained network"). Computed once (one pass)."""
        if self._constant_end is None:
            with moved_weights(self.model, self.regularizer) as move:
                move(np.full(len(self.regularizer.reg_groups), -math.inf))
                out = outputs_in_batches(self.model, self.val[0], EVAL_BATCH)
            spread = float((out - out[:1]).abs().max()) if out.shape[0] else 0.0
            self._constant_end = spread <= 1e-6 * (1.0 + float(out.abs().max()))
        return self._constant_end

    @torch.no_grad()
    def _chance_at_every_scale(self, baseline: float) -> bool:
        """Whether the held-out loss is at ``baseline`` or above at ``CHANCE_SCALES`` scales c < 1 too."""
        log_range = self.search_range
        with moved_weights(self.model, self.regularizer) as move:
            for log_c in np.linspace(-log_range, 0.0, CHANCE_SCALES + 1)[:-1]:
                move(np.full(len(self.regularizer.reg_groups), log_c))
                if self._held_out_loss(outputs_in_batches(self.model, self.val[0], EVAL_BATCH)) < baseline:
                    return False
        return True

    def _crushed(self, current: torch.Tensor) -> bool:
        """Whether the training rows (``train_sample``; their outputs follow the held-out rows' in
        ``current``) are at the chance level too: a training NLL within 2 % of the best constant
        prediction's (:func:`~lamina.torch.likelihoods.chance_nll`). A held-out loss at chance
        says nothing about δ while the network fits its training samples (the early fine-tuning
        above; memorized label noise); where it fits nothing, not even them, the penalty holds
        its weights at μ — a seven-layer ReLU MLP at δ = 1 sat at log 10 for its whole
        calibration, every update skipped, and was retrained into the same W = 0 — and δ is
        halved (``max_factor``) instead of kept (benchmarks/RESULTS.md, Issue 14, "A retraining
        that learns nothing"). Checked before the held-out criterion, whatever the held-out loss:
        a network still in its initial plateau (a global-average-pooling CNN on digits sat
        within 2 % of chance on both for its whole calibration) reads as held-out NLL 1 % below
        log K, the criterion's c* is then noise, and it had raised δ 1.5× on one seed, whose
        retraining stayed in the plateau (test NLL 1.39, no penalty 0.75; "a calibration still in
        its plateau")."""
        if self.train_sample is None:
            return False
        train_nll = float(self.likelihood.nll(current[self.val[0].shape[0]:], self.train_sample[1]))
        return at_chance(train_nll, chance_nll(self.likelihood, self.train_sample[1]))


    def _held_out_loss(self, held_out: torch.Tensor) -> float:
        """The chance checks' loss of the held-out outputs: the mean squared error (Gaussian), else the NLL."""
        gaussian = isinstance(self.likelihood, Gaussian)
        return float(self._mse(held_out) if gaussian else self.likelihood.nll(held_out, self.val[1]))

    def _mse(self, held_out: torch.Tensor) -> torch.Tensor:
        """The held-out mean squared error of the held-out outputs ``held_out``."""
        y = self.val[1]
        return (held_out.reshape(y.shape) - y).pow(2).mean()


def warn_if_uncalibrated(tuners, first: int, epochs: int) -> bool:
    """Warn (``RuntimeWarning``) where no calibration's :class:`~lamina.torch.scale_search.HeldoutScale`
    read the held-out samples once — every planned update skipped (nothing fitted yet, every held-out
    sample classified correctly, or a held-out loss at chance) or none due in the ``first`` epochs of
    ``epochs``: δ is then the rule's start (halved where nothing was fitted), not calibrated. Returns
    whether it warned."""
    if any(t.log_scales for t in tuners):
        return False
    crushed, separable = sum(t.n_crushed for t in tuners), sum(t.n_skipped for t in tuners)
    chance = sum(t.n_skipped_chance for t in tuners)
    reasons = [f"{count} update(s) {why}" for count, why in (
        (crushed, "found nothing fitted yet (δ halved)"), (separable, "found every held-out sample classified "
                                                        "correctly"), (chance, "found the held-out loss at chance"))
               if count] or ["no update fell in them"]
    start = "the rule's start, halved where nothing was fitted" if crushed else "the rule's start"
    warn(f"the held-out calibration made no reading of δ in its {first} epoch(s) of {epochs}: {', '.join(reasons)}; δ is "
         f"{start}, not calibrated — more epochs (or more samples) give it readings", RuntimeWarning)
    return True
