"""Choosing, on the held-out samples, between one common scale and a split between layers.

Where the data identify more than the common scale of the per-group δ (a prior mean, tanh or
GELU layers, a residual stream — :func:`lamina.torch.identifiability`), the held-out
calibration can also move δ along the split directions. Whether that helps is an empirical
question for each network: the split searches see the same few held-out samples as the common
scale, and on some networks they follow noise (digits tanh MLP, seed 0: test NLL 0.188 with
the split against 0.146 with one scale), on others they find what one scale cannot (LayerNorm
residual MLP: 0.158 against 0.182). So both calibrations run, from the same initial weights
and minibatch order, and the held-out samples decide:

    dᵢ = ℓᵢ(common) − ℓᵢ(split)   (per-sample held-out NLL of the two calibrated networks)

The split is kept when mean(d) > ``gate`` · sd(d)/√n_val (``gate`` = 1 by default: a split
must beat one scale by more than its paired standard error, since it had more freedom to fit
the held-out samples while δ was calibrated on them); otherwise the common scale is kept.
The cost is one more calibration run on the split: +0.35 fits with the default
``val_fraction=0.3, merge_at=0.5`` per fold: with several folds
(:func:`lamina.torch.heldout.tune_heldout`) every kind calibrates on every fold and the held-out
samples of all folds decide together (and ``merge_at="auto"`` shortens the calibrations where
their number would take the cost over 1.5 fits).

A rival *ratio rule* (:func:`lamina.torch.heldout.tune_heldout`'s ``rivals``) calibrates one
common scale, as the default does, with no more freedom to fit the held-out samples, so it is
compared without a margin (``gate`` 0 for it; ``gate`` takes one value per rival).

A lead that fades is not trusted: the rival must also keep at least ``FADE`` = ½ of the lead it
had at the calibrations' midpoint (:class:`MidpointLosses`), wherever it led there. The choice is
made early — a tenth to a half of the run — and early leads can be transient: fine-tuning a
pretrained body with a new head, the rival with the weaker pull on the head predicts more sharply
in the first epochs whatever the task, and where the body must move away from its pretrained
weights the common scale catches up and overtakes it later in the run. On 90 seeds of seven
fine-tuning variants and 48 seeds of six invented tasks the rule cut the wrong choices from 13 to
8 and from 19 to 16, and comparing the rival rules without a margin then to 5 and 13 (digits 0–4 →
5–9: test NLL 0.234 → 0.207; benchmarks/RESULTS.md, Issue 14, "A fading lead" and "No margin for a
rival ratio rule").
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lamina.torch.likelihoods import Classification, Gaussian
from lamina.torch.modes import in_mode


@dataclass
class Calibration:
    """One calibration run: the network, its likelihood (a Gaussian's noise precision is
    calibrated too), regularizer, optimizer, the fit result
    and the callback that moved δ."""

    model: nn.Module
    likelihood: object
    regularizer: object
    optimizer: torch.optim.Optimizer
    out: object
    tuner: object
    midpoint: torch.Tensor | None = None   # per-sample held-out NLL at the calibration's midpoint


#: the share of its midpoint lead a rival must keep at the end of the calibrations (module doc)
FADE = 0.5


class MidpointLosses:
    """Training callback: the per-sample held-out NLL (:func:`heldout_losses`) at the end of
    epoch ``epoch`` (0-based), in ``losses``; None until then."""

    def __init__(self, model: nn.Module, likelihood, val, epoch: int):
        self.model, self.likelihood, self.val, self.epoch = model, likelihood, val, int(epoch)
        self.losses = None

    def on_epoch_end(self, epoch, optimizer) -> bool:
        if epoch == self.epoch:
            self.losses = heldout_losses(self.model, self.likelihood, self.val).double().reshape(-1)
        return False


@torch.no_grad()
def eval_outputs(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """``model(X)`` in ``eval`` mode, without gradients; the model's mode is restored."""
    with in_mode(model, training=False):
        return model(X)


@torch.no_grad()
def heldout_losses(model: nn.Module, likelihood, val) -> torch.Tensor:
    """Per-sample held-out NLL of ``model`` (``eval`` mode; the model's mode is restored)."""
    X, y = val
    out = eval_outputs(model, X)
    if isinstance(likelihood, Gaussian):
        beta = likelihood.precision.to(out.dtype)
        sq = (out.reshape(y.shape) - y).pow(2).reshape(y.shape[0], -1)
        return 0.5 * beta * sq.sum(1) - 0.5 * sq.shape[1] * (beta.log() - math.log(2 * math.pi))
    return F.cross_entropy(out, y, reduction="none")


def all_correct(logits: torch.Tensor, y: torch.Tensor) -> bool:
    """Every sample's largest logit is its label's."""
    return bool((logits.argmax(dim=-1).reshape(y.shape) == y).all())


def classifies_all(model: nn.Module, likelihood, val) -> bool:
    """A classifier that gets every held-out sample right (``eval`` mode); False otherwise and
    for other likelihoods."""
    if not isinstance(likelihood, Classification):
        return False
    X, y = val
    return all_correct(eval_outputs(model, X), y)


def choose(common, rivals: list, val, gate: float | list[float] = 1.0, labels=None) -> tuple[int, dict]:
    """(index of the chosen rival, or −1 for ``common``; the held-out numbers).

    A rival is eligible when its paired decrease of the held-out NLL against ``common``
    exceeds ``gate`` standard errors (a number, or one per rival) and, where every calibration carries its ``midpoint``
    losses, keeps at least ``FADE`` of its lead at the midpoint (module doc); among the eligible
    ones the lowest held-out NLL wins.
    A classifier's rival that classifies every held-out sample correctly, as ``common`` does,
    is not eligible: on such a held-out set the NLL only rewards the sharper logits (the reason
    :class:`lamina.torch.scale_search.HeldoutScale` skips its updates there), and a rival with
    a weaker pull on the readout wins without being better — on the transfer task's seed 1
    (30 held-out images, both calibrations below 0.09 NLL) that choice took test NLL from 0.26
    to 0.51.
    ``numbers`` keeps the first rival's figures under the ``split`` keys (the per-direction
    calibration comes first) and every rival's under ``rivals``.

    With several folds, ``common`` and each rival are lists of calibrations, one per fold, and
    ``val`` the list of the folds' held-out parts: the per-sample differences of every fold are
    pooled (each fold's pair is compared on its own held-out samples).

    >>> net = nn.Linear(2, 2); val = (torch.randn(8, 2), torch.randint(0, 2, (8,)))
    >>> from lamina.torch.likelihoods import Classification
    >>> same = Calibration(net, Classification(), None, None, None, None)
    >>> choose(same, [same], val)[0]  # a tie keeps the common scale
    -1
    >>> choose([same, same], [[same, same]], [val, val])[0]  # two folds, pooled
    -1
    """
    if not rivals:
        raise ValueError("rivals must hold at least one calibration")
    gates = list(gate) if isinstance(gate, (list, tuple)) else [gate] * len(rivals)
    if len(gates) != len(rivals) or not all(g >= 0 for g in gates):
        raise ValueError(f"gate must be a number ≥ 0 (standard errors), or one per rival, got {gate!r}")
    if isinstance(common, Calibration):
        common, rivals, val = [common], [[r] for r in rivals], [val]
    if any(len(r) != len(common) for r in rivals) or len(val) != len(common):
        raise ValueError("common, every rival and val must hold one entry per fold")
    labels = [f"rival {k}" for k in range(len(rivals))] if labels is None else list(labels)

    def losses(calibrations) -> torch.Tensor:
        return torch.cat([heldout_losses(c.model, c.likelihood, part).double().reshape(-1)
                          for c, part in zip(calibrations, val)])

    def midpoint_lead(rival) -> float | None:
        """mean(ℓ_common − ℓ_rival) at the midpoint, None where a calibration did not record it."""
        if any(c.midpoint is None for c in [*common, *rival]):
            return None
        return float(torch.cat([c.midpoint for c in common]).mean() - torch.cat([c.midpoint for c in rival]).mean())

    a = losses(common)
    common_separates = all(classifies_all(c.model, c.likelihood, part) for c, part in zip(common, val))
    table, best, best_value = [], -1, float(a.mean())
    for k, rival in enumerate(rivals):
        b = losses(rival)
        d = a - b
        se = float(d.std()) / math.sqrt(d.numel()) if d.numel() > 1 else math.inf
        separable = common_separates and all(classifies_all(c.model, c.likelihood, part) for c, part in zip(rival, val))
        lead_then = midpoint_lead(rival)
        faded = lead_then is not None and float(d.mean()) < FADE * lead_then
        eligible = float(d.mean()) > gates[k] * se and not separable and not faded
        table.append({"label": labels[k], "heldout_nll": float(b.mean()), "paired_se": se, "eligible": eligible,
                      "separable": separable, "midpoint_lead": lead_then, "faded": faded,
                      "lambdas": _lambdas(rival[0])})
        if eligible and float(b.mean()) < best_value:
            best, best_value = k, float(b.mean())
    first = table[0]
    numbers = {"heldout_nll_common": float(a.mean()), "heldout_nll_split": first["heldout_nll"],
               "paired_se": first["paired_se"], "split_kept": best == 0,
               "chosen": "common" if best < 0 else labels[best], "common_lambdas": _lambdas(common[0]),
               "n_heldout": int(a.numel()), "rivals": table}
    return best, numbers


def _lambdas(calibration: Calibration) -> dict | None:
    reg = calibration.regularizer
    return None if reg is None else {name: round(value, 6) for name, value in reg.lambdas.items()}


def adopt(model: nn.Module, likelihood, chosen: Calibration) -> None:
    """Load the chosen calibration's weights (and a Gaussian's noise precision) into the user's
    ``model``/``likelihood`` (nothing to do when the chosen run trained ``model`` itself). The
    optimizer state is not carried over: the continued run restarts it
    (:mod:`lamina.torch.restart`)."""
    if chosen.model is model:
        return
    model.load_state_dict(chosen.model.state_dict())
    if isinstance(likelihood, Gaussian):
        with torch.no_grad():
            likelihood.log_precision.copy_(chosen.likelihood.log_precision)


def twin(model: nn.Module, likelihood):
    """An independent copy of ``model`` and ``likelihood`` (same weights, same state)."""
    return copy.deepcopy(model), copy.deepcopy(likelihood)
