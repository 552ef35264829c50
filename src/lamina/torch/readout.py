"""The readout layer and the maximal-update (μP) ratio rule built on it.

Why the readout is special
--------------------------
A group g is a *readout* when the model's output is linear in it: scaling its tensors (and the
biases of the modules that own them) by c scales the output by c — the last Linear layer of a
classifier, whose weight norm is the temperature of the logits. In a ReLU chain every layer's
scale reaches the logits the same way, and only the product of the per-layer δ is identified
(:mod:`lamina.torch.identifiability`), so the split between layers cannot matter at the optimum.
Where the hidden activations are bounded or normalized (tanh, a LayerNorm residual stream, the
features of a pretrained backbone), the readout's scale alone sets the confidence and the other
layers' δ only shape the features: there the ratios are identified, and every setting measured
wants the readout's δ 10–100× the body's (benchmarks/RESULTS.md, Issue 14).

The rule
--------
The maximal-update parametrization (μP; Yang & Hu, "Feature learning in infinite-width neural
networks", ICML 2021) initializes input and hidden weights with variance ∝ 1/fan_in and the
readout with variance ∝ 1/fan_in²: a readout as large as the standard one pushes the network
into its kernel (lazy) regime, where the features barely learn. Read as Gaussian prior
precisions, that is

    s_g ∝ fan_in_g           (input and hidden groups),
    s_g ∝ fan_in_g²          (readout groups),

normalized as every rule of :mod:`lamina.torch.rules` (Σ_g n_g s_g = Σ_g n_g). The held-out
calibration of :mod:`lamina.torch.heldout` then tunes one common scale δ·s_g.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lamina.torch.groups import ParamGroup, anchored_groups, discover_groups
from lamina.torch.identifiability import _scaled_with_bias
from lamina.torch.invariance import _flat, call_with, has_tied_tensors
from lamina.torch.likelihoods import Classification
from lamina.torch.modes import in_mode
from lamina.torch.rules import AdaptiveRule, _normalize


@torch.no_grad()
def readout_groups(model: nn.Module, groups: list[ParamGroup], example, *, factor: float = 2.0,
                   tol: float = 1e-3) -> list[str]:
    """Names of the ``groups`` in which the output of ``model`` on ``example`` is linear.

    A group qualifies when scaling its tensors and their modules' biases by ``factor`` and by
    ``−factor`` scales the output by the same number (relative error below ``tol``), in eval mode
    (the negative factor excludes a hidden layer followed by a ReLU and bias-free layers, in which
    the output is positively homogeneous but not linear). A model that ends in a softmax or a
    nonlinearity has none.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    >>> from lamina.torch.groups import discover_groups
    >>> groups = [g for g in discover_groups(net) if g.regularized]
    >>> readout_groups(net, groups, torch.randn(5, 4))
    ['2.weight']
    >>> readout_groups(nn.Sequential(net, nn.Tanh()), groups, torch.randn(5, 4))
    []
    """
    args = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    params = dict(model.named_parameters())
    names = {id(p): n for n, p in params.items()}
    tied = has_tied_tensors(model)
    with in_mode(model, training=False):
        base = _flat(call_with(model, params, args, tied=tied))
        size = max(float(base.norm()), 1e-30)

        def scales_output(scaled, c) -> bool:
            out = _flat(call_with(model, {**params, **{n: params[n] * c for n in scaled}}, args, tied=tied))
            return float((out - c * base).norm()) <= tol * abs(c - 1.0) * size

        # −factor too: a layer ahead of a ReLU (no bias after it) is positively homogeneous, not linear
        return [group.name for group in groups
                if all(scales_output(_scaled_with_bias(model, group, names), c) for c in (factor, -factor))]


class MaximalUpdateRule(AdaptiveRule):
    """Ratios s_g ∝ fan_in_g, and fan_in_g² for the ``readout`` groups (module doc).

    Static: the weights depend on the groups only; it is an :class:`AdaptiveRule` so that it can
    carry the readout names into any tuner that takes a rule.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    >>> from lamina.torch.groups import discover_groups
    >>> groups = [g for g in discover_groups(net) if g.regularized]
    >>> s = MaximalUpdateRule(["2.weight"]).weights(groups)
    >>> float(s[1] / s[0])    # fan_in² of the readout (8² = 64) over the input layer's fan_in (4)
    16.0
    """

    name = "mup"

    def __init__(self, readout):
        self.readout = frozenset(readout)

    def weights(self, groups: list[ParamGroup]) -> np.ndarray:
        s = np.array([float(g.fan_in) ** (2 if g.name in self.readout else 1) for g in groups])
        return _normalize(s, np.array([g.numel for g in groups], dtype=np.float64))

    def observe(self, groups: list[ParamGroup]) -> None:
        """Nothing to observe: the ratios are fixed."""

    def __repr__(self) -> str:
        return f"MaximalUpdateRule(readout={sorted(self.readout)})"


def auto_rule(rule, model: nn.Module, likelihood, found, example, *, by=None, prior_mean=None):
    """``(rule, readout names)`` for the held-out tuner. ``"auto"`` becomes ``"uniform"`` where
    ``found`` (:func:`lamina.torch.identifiability` of the model) says only the product of the δ
    along homogeneous chains is identified — the ratios cannot matter at the optimum — and
    :class:`MaximalUpdateRule` for any other classifier whose output is linear in a readout
    layer: one whose split is identified (tanh/GELU layers, a prior mean, a residual stream), or
    whose δ act only through the training dynamics (normalization layers). Regression keeps
    uniform ratios: there the readout's scale is the size of the predictions, not a confidence,
    and the μP ratios shrank a tanh MLP's fit of friedman1 (RMSE 0.41 against 0.30 for one δ;
    benchmarks/RESULTS.md, Issue 14). So does a network whose every regularized group ``prior_mean``
    anchors (a whole pretrained network fine-tuned, its head included): the μP ratios describe the
    scale of freshly initialized weights — a new readout's δ ∝ fan_in² — and no layer is fresh there;
    L2-SP's one δ toward μ. On six such fine-tuning tasks the μP ratios let the body memorize a
    fifth of flipped labels (test NLL 1.379 against 1.144 uniform; the pretrained network alone 0.37)
    and were level elsewhere (−0.032 … +0.007; benchmarks/RESULTS.md, Issue 14, "Fine-tuning a whole
    pretrained network")."""
    if not (isinstance(rule, str) and rule == "auto"):
        return rule, []
    homogeneous = found.n_identified <= 1 and bool(found.chains)
    if homogeneous or not isinstance(likelihood, Classification):
        return "uniform", []
    groups = [g for g in discover_groups(model, by) if g.regularized]   # the Regularizer's reg_groups
    readout = readout_groups(model, groups, example)
    if groups and all(anchored_groups(model, groups, prior_mean)):
        return "uniform", readout
    return (MaximalUpdateRule(readout) if readout else "uniform"), readout


def scale_line(model: nn.Module, rule) -> list[str] | None:
    """The groups the held-out calibration's relative criterion moves along its line
    (:class:`lamina.torch.scale_search.HeldoutScale`'s ``line``): the readout alone for a recurrent
    network (an ``nn.RNNBase`` or ``nn.RNNCellBase`` inside) under the μP ratios, ``None`` (every
    group) otherwise — :mod:`lamina.torch.scale_search`, "Which weights the line moves".

    Examples
    --------
    >>> gru, head = nn.GRU(8, 16, batch_first=True), nn.Linear(16, 10)
    >>> scale_line(nn.ModuleList([gru, head]), MaximalUpdateRule(["1.weight"]))
    ['1.weight']
    >>> scale_line(nn.Sequential(nn.Linear(8, 16), nn.Tanh(), head), MaximalUpdateRule(["2.weight"])) is None
    True
    """
    readout = sorted(getattr(rule, "readout", ()))
    recurrent = any(isinstance(m, (nn.RNNBase, nn.RNNCellBase)) for m in model.modules())
    return readout if readout and recurrent else None
