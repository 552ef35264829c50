"""The tuner :func:`lamina.torch.tune` runs when none is named (``tuner="auto"``).

* Classification: ``heldout`` (:mod:`lamina.torch.heldout`) — on classifiers the Laplace evidence
  puts the common scale of δ about ten times above the held-out optimum (digits MLP), while one
  scale calibrated on held-out samples lands near it at 0.85–1 fit.
* Regression (a Gaussian likelihood with a learned noise precision β): ``evidence``
  (:mod:`lamina.torch.evidence`, MacKay's fixed point δ_g = γ_g/‖w_g‖², β = (N·D − Σγ)/RSS), with
  the curvature accumulated on every 4th step — unless a regularized group is scale-invariant
  (a weight followed by BatchNorm, or a bias-free one followed by LayerNorm/GroupNorm), where
  ``heldout`` runs; ``heldout`` too where ``val=`` is given (it chooses δ on it; the evidence
  would only score it) or one of heldout's own options (``val_fraction``, ``merge_at``, ...).

Why the evidence for regression
-------------------------------
The held-out criterion calibrates the weight scale at which shrinking every prediction along
the decay direction stops helping the held-out loss. For a classifier that is the logits'
temperature, the quantity the NLL rewards; for a regression it is only the amplitude of the
predictions, and it under-regularized the MLP regressions measured: on twelve settings (ten of
them invented for the purpose: ReLU, tanh, GELU, LayerNorm, BatchNorm, deep, wide one-hidden-layer
networks; 80 to 1,000 samples; diabetes and Friedman data, a sine, a sparse linear target), 5 seeds
each, this default's test RMSE was 6 % below heldout's on average (log ratio −0.063 ± 0.016 over 60
paired runs): lower by more than 2 s.e. on four settings (by up to 26 %, a tanh MLP on Friedman #1),
level on seven, higher on one (Friedman #1 with noise 3 on 150 samples, +5.8 %); against the best
single δ picked on the *test* set it is within 3 % on nine settings and 5.4 % at worst
(benchmarks/bench_nn_regression.py, benchmarks/RESULTS.md). For a Gaussian likelihood the
generalized Gauss–Newton matrix is the exact Hessian of the data term at a perfect fit, and β is
learned with the same counts γ: the setting the evidence was derived for (MacKay 1992).

Why not with a scale-invariant group
------------------------------------
The evidence does not depend on the δ of a weight followed by batch normalization (it holds δ
at its start) — and as the decay shrinks such a weight its curvature grows as 1/‖W‖², so its
γ tends to its parameter count and the noise keeps too few degrees of freedom: on a BatchNorm
MLP regression β came out at a quarter of the test precision (test NLL 0.825 against heldout's
0.481 at the same RMSE). The held-out β (1/held-out MSE) has no such bias.

Where it fails
--------------
MacKay's fixed point assumes the weights have converged at each update. On 30 samples with
unstandardized targets (variance 7) and 100 optimizer steps, the first updates came while the
network still predicted about a constant: β = (N − Σγ)/RSS came out near 1/var(y), the penalty
then held the weights small, and the run stayed in that everything-is-noise fixed point (test
MSE 0.09–0.66 of the variance over 3 seeds, against 0.06–0.19 without a penalty and 0.12–0.23
for heldout; with 300 steps, or standardized targets, 0.004–0.05). Standardize the targets and
give the fit a few hundred steps.

Curvature every 4th step: test RMSE unchanged over the ten first settings (log ratio to every
step +0.0004 ± 0.0047), wall time 1.7–1.9× → 1.4–1.5× one unregularized training on these small
networks, where the per-step overhead of the curvature pass dominates.
"""
from __future__ import annotations

import torch
from torch import nn

from lamina.torch.data import to_tensor
from lamina.torch.groups import discover_groups
from lamina.torch.invariance import EXAMPLE_ROWS, example_inputs, example_rows, scale_invariant_groups
from lamina.torch.modes import in_mode

AUTO = "auto"
REGRESSION_OPTIONS = {"curvature_every": 4}
# options only heldout takes: given, they name it (they had reached OnlineEvidence, a TypeError)
HELDOUT_OPTIONS = frozenset({"val_fraction", "merge_at", "kappa", "refit", "rewarm", "split_gate", "rivals", "folds", "relative"})


def default_tuner(model: nn.Module, train, likelihood: str, by=None, *, val=None,
                  options=()) -> tuple[str, dict]:
    """(tuner name, its default options) for ``tune(..., tuner="auto")`` (see the module doc);
    ``heldout`` too where ``val`` is given (it chooses δ on it; the evidence would only score it)
    or one of heldout's own ``options``."""
    if likelihood != "regression" or val is not None or HELDOUT_OPTIONS.intersection(options):
        return "heldout", {}
    groups = [g for g in discover_groups(model, by) if g.regularized]
    if groups and any_scale_invariant(model, groups, train):
        return "heldout", {}
    return "evidence", dict(REGRESSION_OPTIONS)


def any_scale_invariant(model: nn.Module, groups, train) -> bool:
    """Whether scaling some regularized group leaves the training-mode output unchanged, probed on
    up to 64 training inputs (random rows shaped for the first layer where none can be read
    without iterating the data; ``True`` — the choice that works everywhere — where neither, or
    where the model cannot run on them)."""
    inputs = _example(train)
    try:
        args = example_inputs(model, inputs)
    except ValueError:
        return True
    try:   # batch statistics, as in the training objective (buffers are not touched)
        with in_mode(model, training=True):
            return bool(scale_invariant_groups(model, groups, args))
    except (RuntimeError, ValueError, TypeError, IndexError):   # random rows the model cannot take
        return True


def _example(train):
    """The example input rows (:func:`~lamina.torch.invariance.example_rows`) of ``train`` — (X, y) or a DataLoader over a map-style dataset — or None
    (also for a single row, which batch normalization cannot run on in training mode: the probe
    then uses random rows, and the tuner's own check names the problem)."""
    if isinstance(train, (tuple, list)) and len(train) == 2:
        X = train[0]
        if len(X) < 2:
            return None
        return to_tensor(example_rows(X), "train", "X")   # lists and DataFrames too, as the tuners take them
    iterable = isinstance(getattr(train, "dataset", None), torch.utils.data.IterableDataset)
    # an unbatched loader (batch_sampler None) is refused by the tuners' own data check
    if isinstance(train, torch.utils.data.DataLoader) and not iterable and train.batch_sampler is not None:
        dataset = train.dataset
        count = min(EXAMPLE_ROWS, len(dataset))
        if count >= 2 and train.collate_fn is not None:
            with torch.random.fork_rng(devices=[]):   # a random augmentation draws from the global RNG
                batch = train.collate_fn([dataset[i] for i in range(count)])
            return batch[0] if isinstance(batch, (tuple, list)) else None
    return None
