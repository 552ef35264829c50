"""A prior mean whose readout predicts the training targets worse than a constant is not a prior.

L2-SP (``prior_mean=``, Li et al. 2018) pulls each anchored group toward its pretrained value. A
replaced head (another number of classes) is recognised by its shape and pulled toward 0
(:func:`lamina.torch.penalty.resolve_prior_mean`); a head of the *same* shape trained for other
classes is not — fine-tuning a 5-class head pretrained on digits 0–4 for digits 5–9 relabelled
0–4, with the whole ``state_dict`` as the prior, gave test NLL 0.41–0.49 where lamina without the
prior reached 0.19–0.22 (60 training images, 3 seeds): the μP ratios pull that readout 64× harder
than the body, toward weights that map the features to the wrong classes.

The check: evaluate the network with every anchored parameter at its prior mean on (up to 2048
of) the training samples, and compare its per-sample loss with the best constant's — the class
frequencies' −log p_y (the logits first rescaled by the temperature that fits these samples best,
so that a head of the right classes that is merely overconfident on shifted data is not
penalized), or the squared deviation from the targets' mean. Unless the prior mean beats the
constant by more than two standard errors of the paired per-sample difference, its readout carries
no information about these targets: the readout groups' anchors are dropped (pulled toward 0 like
a new head), with a warning. The body keeps its prior. (In the case above the prior head classified
25 % of the 60 images right, the most frequent class is 22 %; its cross-entropy was 4.4 nats
against the frequencies' 1.6.)
"""
from __future__ import annotations

import math

import torch
from scipy.optimize import minimize_scalar
from torch import nn

from lamina._warnings import warn
from lamina.torch.data import to_tensor
from lamina.torch.groups import anchored_names, discover_groups
from lamina.torch.invariance import call_with, example_rows
from lamina.torch.likelihoods import Classification
from lamina.torch.modes import in_mode
from lamina.torch.readout import readout_groups

MAX_SAMPLES = 2048


def drop_uninformative_readout(model: nn.Module, prior_mean, train, likelihood, by=None):
    """``prior_mean`` without the entries of the readout groups when the network at its prior
    mean predicts ``train`` worse than a constant (module docstring); else ``prior_mean`` itself.
    DataLoaders and prior means without a readout entry are returned unchanged."""
    if prior_mean is None or not isinstance(train, (tuple, list)) or len(train) != 2:
        return prior_mean
    X, y = to_tensor(train[0], "train", "X"), to_tensor(train[1], "train", "y")   # arrays, lists, pandas
    X, y = X[:MAX_SAMPLES], y[:MAX_SAMPLES]
    params = dict(model.named_parameters())
    device, dtype = next(iter(params.values())).device, next(iter(params.values())).dtype
    X = X.to(device=device, dtype=dtype) if X.is_floating_point() else X.to(device)
    groups = [g for g in discover_groups(model, by) if g.regularized]
    readouts = set(readout_groups(model, groups, example_rows(X)))
    fits = anchored_names(params, prior_mean)
    names = [n for g in groups if g.name in readouts for n in g.param_names if n in fits]   # others: a replaced head
    if not names:
        return prior_mean
    at_mean = {n: torch.as_tensor(prior_mean[n]).to(device=p.device, dtype=p.dtype) if n in fits else p
               for n, p in params.items()}
    with in_mode(model, training=False), torch.no_grad():
        output = call_with(model, at_mean, (X,))
    classification = isinstance(likelihood, Classification)
    gain = _gain_over_constant(output.double(), y.to(device), classification)
    if gain.mean() > 2.0 * gain.std() / len(gain) ** 0.5:
        return prior_mean
    warn(f"prior_mean: the network at its prior mean predicts the training targets no better than a "
         f"constant (mean {'log-loss' if classification else 'squared error'} gain over it "
         f"{float(gain.mean()):.3g} ± {float(gain.std() / len(gain) ** 0.5):.2g}): the readout's prior "
         f"({', '.join(names)}) was trained for other targets, so it is pulled toward 0 instead; the other "
         "entries are kept")
    kept = {k: v for k, v in prior_mean.items() if k not in names}
    anchored = fits.intersection(n for g in groups for n in g.param_names) - set(names)
    return kept if anchored else None   # nothing else anchored: no prior mean at all (not an error)


def _gain_over_constant(output, y, classification: bool) -> torch.Tensor:
    """Per sample, the best constant's loss minus the prior mean's: log-loss with the logits at
    their best temperature, or squared error."""
    if classification:
        labels = y.reshape(-1).long()
        logits = output.reshape(len(labels), -1)
        freq = torch.bincount(labels, minlength=logits.shape[1]).double() / len(labels)
        constant = -freq[labels].log()

        def losses(log_temperature: float) -> torch.Tensor:
            return nn.functional.cross_entropy(logits * math.exp(-log_temperature), labels, reduction="none")
        best = minimize_scalar(lambda t: float(losses(t).mean()), bounds=(-5.0, 8.0), method="bounded").x
        return constant - losses(best)
    target = y.reshape(output.shape).to(output.dtype)
    constant = ((target - target.mean(0)) ** 2).reshape(len(target), -1).sum(1)
    return constant - ((output - target) ** 2).reshape(len(target), -1).sum(1)
