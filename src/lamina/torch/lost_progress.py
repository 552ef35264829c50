"""When a density ramp has cost the network half of what it learned (:mod:`lamina.torch.sparsity`).

L1 shrinks every surviving weight, and in Adam's metric the shrinkage of a weight grows as its
gradients fade (the threshold is η λ / (N (√v̂ + ε))): once a hidden unit loses its inputs, its
outgoing weights see no gradient and are zeroed within a few steps, and so on down the chain.
On a run too short for the density ramp (digits 64-64-64-10, 500 images, 30 epochs of batches
of 64, 90 %) the training loss fell to 0.5, then climbed back to 2.27 — chance is 2.30 — within
three epochs of the density passing 0.4, and the six epochs of masked fine-tuning left it at 0.85
(test accuracy 0.78 against 0.89 for global magnitude pruning). At 100 epochs the same ramp
raised the loss from 0.16 to 0.74 and recovered (0.94).

:class:`LostProgress` reads the mean training NLL of every epoch (detached, from the outputs the
training pass computes anyway) and says when the network has lost half of what it learned:

    loss_epoch > best + LOST_SHARE · (chance − best),      best < AT_CHANCE · chance,

``best`` the lowest epoch loss so far and ``chance`` the NLL of the best constant prediction
(the entropy of the class frequencies). The sparsity tuner then stops the ramp: the exact
projection to the target happens there, with the allocation L1 has found so far, and the
remaining epochs train the masked network (module doc of :mod:`lamina.torch.sparsity`).
Classification only (a regression's constant prediction has no fixed loss while its noise
precision is learned).

Only once the density has reached the ramp's end value (the projection then only finishes what L1
began, with L1's allocation), only for L1 (L0's hard threshold does not shrink the survivors), and
not where a regularized weight is scale-invariant (``stop_lost="auto"``): before BatchNorm,
shrinking a weight does not change the function, a loss spike there comes from the sparsity
itself, and L1's moving support recovered from it better than a mask fixed at the spike — on the
benchmark's BatchNorm CNN at 98 % and 300 epochs the stop took L1 from 0.77 to 0.45 test accuracy
(3 seeds; at 90–95 % and 30 epochs it gained 0.04–0.17): benchmarks/RESULTS.md, Issue 15.
"""
from __future__ import annotations

import torch

from lamina.torch.likelihoods import AT_CHANCE, chance_nll

LOST_SHARE = 0.5   # the share of the way back to chance at which the ramp stops


class LostProgress:
    """Epoch losses of a training run, and whether the last one has lost half the progress.

    ``labels``: training labels (or a sample of them) for the chance level; ``n_data``: the
    training samples per epoch (each batch's NLL is weighted by its share). Inactive
    (``active`` False, :meth:`lost` always False) where the likelihood has no chance level."""

    def __init__(self, likelihood, labels: torch.Tensor, n_data: int, share: float = LOST_SHARE):
        self.likelihood, self.n_data, self.share = likelihood, int(n_data), float(share)
        self.chance = chance_nll(likelihood, labels)
        self.active = self.chance is not None
        self.total, self.best, self.last = None, float("inf"), None

    @torch.no_grad()
    def on_forward(self, output: torch.Tensor, y: torch.Tensor) -> None:
        if not self.active:
            return
        batch = self.likelihood.nll(output.detach(), y) * (y.shape[0] / self.n_data)
        self.total = batch if self.total is None else self.total + batch

    def close_epoch(self) -> None:
        """End the epoch: its mean NLL becomes :attr:`last` (one read of the device)."""
        if self.total is None:
            return
        self.last, self.total = float(self.total), None
        self.best = min(self.best, self.last)

    def lost(self) -> bool:
        """Whether the last epoch's loss is back more than ``share`` of the way from the best to chance
        (and the best was better than chance)."""
        if not self.active or self.last is None or not self.best < AT_CHANCE * self.chance:
            return False
        return self.last > self.best + self.share * (self.chance - self.best)
