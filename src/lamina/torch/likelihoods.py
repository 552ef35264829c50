"""Likelihoods of the network tuners: the task loss, its NLL, and sampled output gradients.

Both likelihoods give, besides the training loss, a *sampled output gradient* v with
E[v vᵀ] = Λ, the Hessian of the negative log-likelihood w.r.t. the network output; back-
propagating v gives Monte-Carlo generalized Gauss–Newton (GGN) curvature at the cost of one
backward pass.

* classification (softmax cross-entropy): ŷ ~ Cat(softmax f), v = softmax(f) − e_ŷ,
  Λ = diag(p) − p pᵀ;
* regression (Gaussian, noise precision β, learned by the evidence tuner):
  NLL = ½β(y − f)² − ½ log β + ½ log 2π, v = √β ξ with Rademacher ξ (±1), Λ = β I
  (exact per-sample squares for one output).
"""
from __future__ import annotations

import math
from enum import Enum

import torch
import torch.nn.functional as F


class Likelihood(str, Enum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"

    @classmethod
    def parse(cls, value) -> "Likelihood":
        aliases = {"gaussian": "regression", "categorical": "classification"}
        try:
            return cls(aliases.get(value, value))
        except ValueError:
            raise ValueError("likelihood must be 'classification' or 'regression' "
                             f"(alias 'gaussian'); got {value!r}") from None


class Classification:
    """Softmax cross-entropy on integer labels."""

    name = "classification"

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of the batch."""
        return self.nll(output, target)

    def nll(self, output, target) -> torch.Tensor:
        try:
            return F.cross_entropy(output, target)
        except IndexError as error:   # torch's "Target 4 is out of bounds" (a DataLoader's labels: not checked before)
            raise ValueError(f"y: class label {int(target.max())} is out of range for a network with "
                             f"{output.shape[-1]} outputs (labels must be 0..{output.shape[-1] - 1})") from error

    def sample_output_grad(self, output: torch.Tensor, generator=None) -> torch.Tensor:
        """v = softmax(f) − e_ŷ with ŷ sampled from the model, shape of ``output``."""
        with torch.no_grad():
            probs = torch.softmax(output.detach(), dim=-1)
            sample = torch.multinomial(probs.reshape(-1, probs.shape[-1]), 1, generator=generator)
            onehot = torch.zeros_like(probs.reshape(-1, probs.shape[-1])).scatter_(1, sample, 1.0)
            return probs - onehot.reshape(probs.shape)

    def residual_sq(self, output, target):
        return None


def chance_nll(likelihood, y: torch.Tensor) -> float | None:
    """The mean NLL of the best constant prediction of the labels ``y`` — the entropy of their
    frequencies — for a :class:`Classification`; ``None`` for any other likelihood.

    >>> round(chance_nll(Classification(), torch.tensor([0, 1, 2, 3] * 5)), 4)   # log 4
    1.3863
    """
    if not isinstance(likelihood, Classification):
        return None
    shares = torch.bincount(y.reshape(-1).long()).double()
    shares = shares[shares > 0] / shares.sum()
    return float(-(shares * shares.log()).sum())


AT_CHANCE = 0.98   # a mean NLL at this share of chance_nll or above: nothing fitted


def at_chance(nll: float, chance: float | None) -> bool:
    """Whether a classifier's mean training NLL ``nll`` is within 2 % of ``chance`` (the best
    constant prediction's, :func:`chance_nll`) or above it (:data:`AT_CHANCE`): it has fitted
    nothing. False where ``chance`` is None (not a classifier)."""
    return chance is not None and nll >= AT_CHANCE * chance


class Gaussian:
    """Gaussian likelihood with a scalar noise precision β (a tensor, updated by tuners)."""

    name = "regression"

    def __init__(self, precision: float = 1.0, device=None):
        self.log_precision = torch.tensor(math.log(precision), device=device)

    @property
    def precision(self) -> torch.Tensor:
        return self.log_precision.exp()

    @staticmethod
    def _squares(output, target) -> torch.Tensor:
        """‖y − f‖² per sample: every dimension after the first (the batch) is an output."""
        return (output - _as_outputs(target, output)).pow(2).reshape(output.shape[0], -1).sum(1)

    def loss(self, output, target) -> torch.Tensor:
        """Mean over samples of ½β‖y − f‖² (the −½ log β term is constant in w); a sample's
        outputs are all its dimensions after the batch's (a sequence's positions included)."""
        return 0.5 * self.precision * self._squares(output, target).mean()

    def nll(self, output, target) -> torch.Tensor:
        """Mean NLL per sample, all output dimensions summed."""
        dims = output[0].numel()
        return (0.5 * self.precision * self._squares(output, target)).mean() \
            + 0.5 * dims * (math.log(2 * math.pi) - self.log_precision)

    def sample_output_grad(self, output, generator=None) -> torch.Tensor:
        signs = torch.randint(0, 2, output.shape, generator=generator, device=output.device)
        return (2 * signs - 1).to(output.dtype) * self.precision.sqrt().to(output.dtype)

    def residual_sq(self, output, target) -> torch.Tensor:
        """Σ over the batch of ‖y − f‖² (detached, on device)."""
        return (output.detach() - _as_outputs(target, output)).pow(2).sum()


def _as_outputs(target: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """``target`` in the shape of ``output``; a clear error where a sample's targets do not match its outputs
    (a DataLoader's targets are not checked before training)."""
    if target.numel() != output.numel():
        raise ValueError(f"y: {target.numel() // max(1, output.shape[0])} target value(s) per sample (batch shape "
                         f"{tuple(target.shape)}) but the network has {output[0].numel()} outputs; they must match")
    return target.reshape(output.shape)


def make_likelihood(likelihood, device=None):
    """A likelihood object from its name (or the object itself)."""
    if isinstance(likelihood, (Classification, Gaussian)):
        return likelihood
    kind = Likelihood.parse(likelihood)
    return Classification() if kind is Likelihood.CLASSIFICATION else Gaussian(device=device)
