"""Do the pretrained features transfer? A linear readout's held-out error, before any training.

Fine-tuning with a prior mean (L2-SP: a pretrained body anchored at μ, a new head pulled toward 0)
has two corners, and which one fits is a property of the task: where the pretrained features
transfer, one δ toward μ for every layer (a strong pull on the body, as strong on the head) wins;
where they do not, the μP ratios (a weak pull on the body, a strong one on the head) win. Over
90 seeds of seven variants of the two digits tasks (benchmarks/bench_nn_finetune.py) the first
won on every fine-tuning seed and the second on every transfer seed (benchmarks/RESULTS.md,
Issue 14); a held-out choice between the two, made after the calibrations, was right on 85.

The question can be asked before training. The new head reads the body's features φ_μ(x) (the
inputs of its Linear layer, with every anchored parameter at its prior mean); two readouts that
know nothing of the pretraining read the inputs x themselves and the same body untrained, φ₀(x)
(every layer re-initialized: a wide random ReLU layer alone can be a better linear basis than the
pixels it reads). Each is scored by the leave-one-out squared error of the best ridge readout of
the one-hot targets on the training samples (:func:`readout_errors`: closed form on one SVD,
a few milliseconds), and the pretrained features' per-sample gain over the better of the other two,

    g_i = e_i(best of X, φ₀(X)) − e_i(φ_μ(X)),

is tested: where its mean exceeds ``Z`` = 2 standard errors the features transfer, and one δ toward
μ becomes the default's rule with the μP ratios as its rival (:func:`fine_tuning_rules`): both are
still calibrated and the held-out samples still choose, but the burden of proof is reversed — the
μP ratios must beat one δ toward μ to be kept, where before one δ toward μ had to beat them.
Otherwise nothing changes. The converse is not acted on: on tabular data the raw inputs can be as
good a readout as pretrained features that transfer all the same. (Calibrating one δ toward μ
alone where the features transfer was tried: its longer calibrations cost +0.011 ± 0.004 on one
variant where the race had been right, and they cost no less: benchmarks/RESULTS.md.)

Tried first (benchmarks/RESULTS.md, Issue 14, "Do the features transfer?"): LogME's evidence of
a Gaussian readout (You et al. 2021), which ranked the features of a small body trained on
shuffled labels above those of one trained on the real ones (519 against 446; their logistic
readouts lose 0.14 and 0.08 nats, their ridge readouts here 0.175 and 0.169, the pixels' 0.215); and the 5-fold log-loss of a logistic readout, which decided as this one does on
the tasks below but took 190–280 ms per call, a quarter of a 300-epoch fine-tuning run.

On the benchmark's seven variants (bench_nn_finetune.py, 90 seeds) z = mean/s.e. of g was 5.4–14.5
on every fine-tuning seed and −6.9 to −1.7 on every transfer seed. On seven tasks invented to
check it (8 seeds each) "transfer" was given on every seed of a deeper body, a tanh body and
permuted labels (24, the better rule each time), on 2 of 8 of wine split in two (right) and on
2 of 8 of breast cancer split at the median radius (a tie, and one wrong by 0.015 nats); a body
pretrained on shuffled labels (z −5.7 to −3.5) and even/odd digits 5–9 from a body of 0–4
(−2.6 to −0.9) keep the held-out choice.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from lamina._context import seeded_global_rng
from lamina._validation import parse_choice
from lamina._warnings import warn
from lamina.torch.groups import anchored_groups, anchored_names, discover_groups
from lamina.torch.invariance import inputs_of
from lamina.torch.likelihoods import Classification
from lamina.torch.rules import AdaptiveRule, Rule

Z = 2.0             # standard errors of the mean per-sample gain from which the features transfer
MAX_SAMPLES = 512   # training samples the readouts are scored on (evenly spaced beyond): SVDs of 512 rows
RIDGE_GRID = np.logspace(-4, 4, 17)   # ridge λ over mean(s²) of the standardized features


@dataclass(frozen=True)
class TransferCheck:
    """Mean leave-one-out error of the three readouts (pretrained features, raw inputs, the body
    untrained), the pretrained features' mean per-sample gain over the better of the other two and
    its standard error, and the verdict: ``"transfer"`` (gain > ``Z`` s.e.), ``"no transfer"``
    (gain < −``Z`` s.e.) or ``"undecided"``."""

    loss_features: float
    loss_inputs: float
    loss_untrained: float
    gain: float
    gain_se: float
    n_samples: int
    head: str

    @property
    def verdict(self) -> str:
        if self.gain > Z * self.gain_se:
            return "transfer"
        return "no transfer" if self.gain < -Z * self.gain_se else "undecided"

    def as_dict(self) -> dict:
        return {"verdict": self.verdict, "gain": self.gain, "gain_se": self.gain_se, "head": self.head,
                "loss_features": self.loss_features, "loss_inputs": self.loss_inputs,
                "loss_untrained": self.loss_untrained, "n_samples": self.n_samples}


def readout_errors(features, labels, grid=RIDGE_GRID) -> np.ndarray | None:
    """Per-sample leave-one-out squared error ‖t_i − t̂_(−i)‖² of the best ridge readout of the
    one-hot targets from ``features`` (n, d) — features standardized, targets and features centred
    (an unpenalized intercept), ridge λ = c·mean(s²) with c over ``grid`` chosen by the least mean
    error — or None for fewer than two classes. Closed form on the SVD F = USVᵀ (PRESS): with
    shrinkage s²/(s² + λ), fitted values U diag(shrinkage) Uᵀ T and leverages h_i = Σ_j U_ij²
    shrinkage_j + 1/n, the held-out residual is (t_i − t̂_i)/(1 − h_i).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((60, 4)); y = (X[:, 0] > 0).astype(int)
    >>> bool(readout_errors(X, y).mean() < readout_errors(rng.standard_normal((60, 4)), y).mean())
    True
    """
    F = np.asarray(features, np.float64).reshape(len(features), -1)
    labels = np.asarray(labels).reshape(-1)
    if labels.size != len(F):
        raise ValueError(f"labels: expected one per row of features ({len(F)}), got {labels.size}")
    if not np.all(np.isfinite(F)):
        raise ValueError("features must be finite (no NaN or infinity)")
    F = F - F.mean(0)
    scale = F.std(0)
    varying = scale > 1e-12 * max(float(scale.max(initial=0.0)), 1e-300)   # constant columns carry nothing
    F = F[:, varying] / scale[varying]
    classes, index = np.unique(labels, return_inverse=True)
    if classes.size < 2 or F.shape[1] == 0:
        return None
    targets = np.eye(classes.size)[index]
    targets -= targets.mean(0)
    u, s, _ = np.linalg.svd(F, full_matrices=False)
    s2, projected = s ** 2, u.T @ targets
    best = None
    for c in grid:
        shrinkage = s2 / (s2 + c * s2.mean())
        leverage = (u ** 2) @ shrinkage + 1.0 / len(F)
        residual = (targets - u @ (shrinkage[:, None] * projected)) / np.maximum(1.0 - leverage, 1e-12)[:, None]
        errors = (residual ** 2).sum(1)
        best = errors if best is None or errors.mean() < best.mean() else best
    return best


def check_transfer(model: nn.Module, prior_mean, train, likelihood, by=None) -> TransferCheck | None:
    """:class:`TransferCheck` of fine-tuning the classifier ``model`` from ``prior_mean`` on
    ``train``, or None where it does not apply: not a classification, no (X, y) tensors, inputs
    that are not one floating-point array, not exactly one ``nn.Linear`` layer holding the
    unanchored regularized weights (the new head), or a single class. Scored on at most
    ``MAX_SAMPLES`` samples, evenly spaced over ``train``."""
    if prior_mean is None or not isinstance(likelihood, Classification) \
            or not isinstance(train, (tuple, list)) or len(train) != 2:
        return None
    X, y = (torch.as_tensor(v) for v in train)
    if not X.is_floating_point() or X.ndim < 2:
        return None
    if len(X) > MAX_SAMPLES:   # spread over the data: the first rows may be sorted by class
        rows = torch.as_tensor(np.linspace(0, len(X) - 1, MAX_SAMPLES).round().astype(np.int64))
        X, y = X[rows], y[rows]
    y = y.reshape(-1).cpu().numpy()
    params = dict(model.named_parameters())
    anchored = anchored_names(params, prior_mean)
    free = {n for g in discover_groups(model, by) if g.regularized for n in g.param_names} - anchored
    owners = {name.rpartition(".")[0] for name in free}
    modules = dict(model.named_modules())
    if len(owners) != 1 or not isinstance(modules.get(next(iter(owners))), nn.Linear):
        return None
    head_name = next(iter(owners))
    at_mean = {n: torch.as_tensor(prior_mean[n]).to(device=params[n].device, dtype=params[n].dtype) for n in anchored}
    features = _head_inputs(model, head_name, at_mean, X)
    untrained = _head_inputs(_untrained(model), head_name, {}, X)
    if features is None or untrained is None or features.ndim != 2:
        return None
    losses = [readout_errors(F, y) for F in (features, X.reshape(len(X), -1).double().cpu(), untrained)]
    if any(loss is None for loss in losses):
        return None
    best = min(losses[1:], key=np.mean)
    gain = best - losses[0]
    return TransferCheck(*(float(np.mean(loss)) for loss in losses), float(gain.mean()),
                         float(gain.std(ddof=1) / math.sqrt(gain.size)), int(gain.size), head_name)


def _untrained(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every module that has ``reset_parameters`` re-initialized (seed 0;
    torch's generators left as they were)."""
    import copy
    fresh = copy.deepcopy(model)
    device = next(iter(fresh.parameters())).device
    with seeded_global_rng(0, device):
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
    return fresh


def _head_inputs(model, head_name: str, state: dict, X):
    """The inputs of the module ``head_name`` of ``model`` on ``X`` (:func:`inputs_of`, the tensors of
    ``state`` in place of the model's), or None unless it ran exactly once."""
    first = next(iter(model.parameters()))
    _, inputs = inputs_of(model, dict(model.named_modules())[head_name],
                          (X.to(device=first.device, dtype=first.dtype),), state)
    return inputs[0].double().cpu() if len(inputs) == 1 else None


def auto_rivals(rivals, rule, model, by, prior_mean) -> tuple:
    """``rivals`` as a tuple of rule names, or ``"auto"`` resolved: ``("uniform",)`` where
    ``prior_mean`` anchors some regularized groups but not others (L2-SP: a pretrained body, a
    new head) and the ratios are not uniform already; else none.

    Why: fine-tuning has two corners, and which one fits depends on whether the pretrained
    features transfer, which no ratio rule knows. Where they transfer (digits 0–9 → other images
    of 0–9) the body wants a strong pull toward μ and the new head a weak one (δ ≈ (3, 3, 0.1));
    where they do not (digits 0–4 → 5–9) the body wants to move freely and the head a strong pull
    (δ ≈ (0.01, 0.01, 100)), the corner the μP ratios start in and stay in. One δ toward μ for
    every layer is the simplest calibration out of the μP corner, and the held-out samples choose
    (benchmarks/RESULTS.md, Issue 14, "L2-SP where the features transfer")."""
    if not (isinstance(rivals, str) and rivals == "auto"):
        names = (rivals,) if isinstance(rivals, str) else tuple(rivals)   # one rule name, or several
        for name in names:
            if not isinstance(name, AdaptiveRule):
                parse_choice(Rule, name, "rivals")
        return names
    if prior_mean is None or getattr(rule, "name", rule) == "uniform":
        return ()
    anchored = anchored_groups(model, [g for g in discover_groups(model, by) if g.regularized], prior_mean)
    return ("uniform",) if any(anchored) and not all(anchored) else ()


def fine_tuning_plan(rivals, rule, model, by, prior_mean, train, likelihood) -> tuple:
    """(rule, rivals, :class:`TransferCheck` or None) of the held-out tuner: ``rivals`` resolved
    (:func:`auto_rivals`), and where "auto" made one δ toward μ the rival of the μP ratios, the
    features' verdict taken where it is strong (:func:`fine_tuning_rules`)."""
    resolved = auto_rivals(rivals, rule, model, by, prior_mean)
    if not (isinstance(rivals, str) and rivals == "auto" and resolved):
        return rule, resolved, None
    try:
        check = check_transfer(model, prior_mean, train, likelihood, by)
    except Exception as error:   # a model the check cannot copy or run: the race decides, as without it
        warn(f"prior_mean: could not check whether the pretrained features transfer "
             f"({type(error).__name__}: {error}); the held-out samples choose the ratios alone",
             RuntimeWarning)
        check = None
    return (*fine_tuning_rules(rule, resolved, check), check)


def fine_tuning_rules(rule, rivals: tuple, check: TransferCheck | None) -> tuple:
    """(rule, rivals) once the features' verdict is known. Where they transfer, one δ toward μ
    becomes the default's rule and ``rule`` (the μP ratios) its rival: the held-out samples still
    choose, but the burden of proof is reversed — the μP ratios must beat one δ toward μ, by the
    rules of :func:`lamina.torch.heldout_select.choose`, to be kept. Otherwise unchanged."""
    if check is None or "uniform" not in rivals or check.verdict != "transfer":
        return rule, rivals
    return "uniform", tuple(rule if r == "uniform" else r for r in rivals)
