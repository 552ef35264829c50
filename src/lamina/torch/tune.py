"""``lamina.torch.tune``: one entry point for every tuner of a network's λ vector.

All methods train with the same recipe (optimizer, epochs, lr, batch size, seed) and answer
a :class:`NetTuneResult` — a :class:`lamina.tuners.TuneResult` with ``.model``,
``.history`` and ``.seconds`` added. λ are reported as δ_g, the prior precision of
mean task loss + 1/(2N) Σ_g δ_g ‖W_g‖² (weight_decay = δ_g / N).

=================  =========================================================================
method             what it does
=================  =========================================================================
``heldout``        held-out weight-scale calibration of δ on 70 % of the data for half the
                   epochs, then δ frozen and the same run continued on all data (default;
                   0.85 fits; ``refit=True, merge_at=1`` retrains instead, 1.7 fits; see
                   :mod:`lamina.torch.heldout`)
``evidence``       online MacKay fixed point per group (one training run; δ of scale-invariant
                   groups, e.g. weights followed by BatchNorm, held: see :mod:`lamina.torch.evidence`)
``hypergradient``  implicit-differentiation gradient of a held-out loss w.r.t. log δ_g, online
``cv``             one δ for all groups by K-fold CV over a grid (joblib folds), then refit
``optuna``         TPE search of the per-group vector on a held-out split, pruning, refit
``fixed``          δ from a scaling rule and one base δ (``rule=``, ``delta=``), no tuning
``none``           no regularization (δ = 0)
=================  =========================================================================
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import torch
from torch import nn

from lamina._validation import check_positive_float, check_positive_int, parse_choice
from lamina.tuners.base import Compute, TuneResult
from lamina.torch.evidence import OnlineEvidence, evidence_info
from lamina.torch.fit import Batches, fit, model_device, model_dtype
from lamina.torch.likelihoods import Classification, make_likelihood
from lamina.torch.penalty import Regularizer
from lamina.torch.rules import make_rule


class Method(str, Enum):
    HELDOUT = "heldout"
    EVIDENCE = "evidence"
    HYPERGRADIENT = "hypergradient"
    CV = "cv"
    OPTUNA = "optuna"
    FIXED = "fixed"
    NONE = "none"

    @classmethod
    def parse(cls, value) -> "Method":
        return parse_choice(cls, value, "method")


@dataclass
class NetTuneResult(TuneResult):
    """:class:`TuneResult` of a network tuner, with the training history.

    ``fitted`` is the trained model (also ``.model``); ``lambdas`` maps group name → δ_g;
    ``trajectory`` the δ vector after each epoch (online tuners) or each trial/grid point;
    ``compute.seconds`` the wall time of the whole tuning (also ``.seconds``).
    """

    history: dict = field(default_factory=dict)

    @property
    def model(self) -> nn.Module:
        return self.fitted

    @property
    def seconds(self) -> float:
        return self.compute.seconds


@dataclass(frozen=True)
class Recipe:
    """The training recipe shared by every method of one comparison."""

    epochs: int = 300
    lr: float = 3e-3
    batch_size: int = 128
    seed: int = 0
    optimizer: str = "adam"


class RuleCallback:
    """Recompute an adaptive rule's weights every ``every`` epochs: δ_g = δ · s_g."""

    def __init__(self, rule, regularizer: Regularizer, base: float, every: int = 5):
        self.rule, self.regularizer, self.base, self.every = rule, regularizer, base, every

    def on_after_backward(self):
        self.rule.observe(self.regularizer.reg_groups)

    def on_epoch_end(self, epoch, optimizer):
        if (epoch + 1) % self.every == 0:
            weights = self.rule.weights(self.regularizer.reg_groups)
            self.regularizer.set_deltas(self.base * weights, optimizer)


def _n_data(train, likelihood, device) -> int:
    return Batches(train, likelihood, 1, device, 0).n_data


def tune(model: nn.Module, train, *, likelihood="classification", method="heldout", epochs: int = 300,
         lr: float = 3e-3, batch_size: int = 128, seed: int = 0, optimizer: str = "adam", val=None,
         by=None, delta: float = 1.0, rule="uniform", mode: str = "coupled", prior_mean=None,
         penalty: str = "l2", target_sparsity: float | None = None, progress: bool = False,
         **options) -> NetTuneResult:
    """Tune one prior precision δ_g per parameter group of ``model`` and train it.

    Parameters
    ----------
    model : nn.Module
        Trained in place (on its own device; data are moved there).
    train : (X, y) tensors/arrays or a DataLoader
    likelihood : {"classification", "regression"}
        Softmax cross-entropy, or Gaussian with a learned noise precision.
    method : str
        See the module table; default ``"heldout"``. Why that default: on the digits MLP
        (benchmarks/out/RESULTS_issue4.md) the Laplace evidence and the online hypergradient
        pick δ about ten times above the held-out optimum (for a ReLU net only the geometric
        mean of the per-layer δ is identifiable, and theirs is ≈ 4), whereas calibrating one
        scale so that the held-out loss is stationary along the weight-decay direction,
        c* = argmin_c V(c·W) = 1, lands near it at the cost of one fit.
    epochs, lr, batch_size, seed, optimizer
        The training recipe (Adam by default).
    val : (X, y), optional
        Held-out data for ``heldout``/``hypergradient``/``optuna`` (else a split of ``train``).
    by : None, "module_type" or dict
        Grouping (see :func:`lamina.torch.discover_groups`).
    delta : float
        Initial δ (``heldout``, ``evidence``, ``hypergradient``) or base δ of the rule (``fixed``).
    rule : str
        Scaling rule for ``fixed``, the per-group ratios kept by ``heldout``, and the starting
        point of the other online tuners.
    mode : {"coupled", "decoupled"}
        L2 added to the loss, or as weight decay in the optimizer param groups.
    prior_mean : mapping of parameter name → Tensor, optional
        Prior means μ_g: the penalty becomes 1/(2N) Σ_g δ_g ‖W_g − μ_g‖² (L2-SP), e.g. the
        pretrained ``state_dict`` when fine-tuning (entries of a replaced head are left out;
        groups without an entry are pulled toward 0). Every method honours it.
    penalty : {"l2", "l1", "l0"}
        ``"l2"`` (default): the δ_g above. ``"l1"``/``"l0"`` with ``target_sparsity``: mean task
        loss + 1/N Σ_g λ_g ‖W_g‖₁ (or ‖W_g‖₀), λ_g chosen while training so that the regularized
        weights end with that fraction of exact zeros (:mod:`lamina.torch.sparsity`); ``lambdas``
        are then the λ_g and ``info["sparsity"]`` holds the sparsity overall and per group.
    target_sparsity : float in [0, 1), optional
        Overall fraction of exact zeros among the regularized weights (L1/L0 only).
    **options
        Passed to the method (``val_fraction``, ``merge_at``, ``kappa`` for heldout;
        ``structure``, ``update_every``, ``scale_invariant`` for evidence; ``grid``,
        ``folds``, ``n_jobs`` for cv; ``n_trials``, ``storage`` for optuna).

    Returns
    -------
    NetTuneResult
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if penalty != "l2" or target_sparsity is not None:
        from lamina.torch.sparsity import check_sparsity_request
        penalty, target_sparsity = check_sparsity_request(model, penalty, target_sparsity, by=by, mode=mode,
                                                          prior_mean=prior_mean, method=method, rule=rule)
    sparse = target_sparsity is not None
    if sparse:
        method = Method.HELDOUT
    method = Method.parse(method)
    recipe = Recipe(check_positive_int(epochs, "epochs"), check_positive_float(lr, "lr"),
                    check_positive_int(batch_size, "batch_size"), seed, optimizer)
    check_positive_float(delta, "delta", strict=False)
    lik = make_likelihood(likelihood, model_device(model))
    if isinstance(lik, Classification):
        check_class_labels(model, train, "train")
        if val is not None:
            check_class_labels(model, val, "val")
    started = time.perf_counter()
    if sparse:
        from lamina.torch.sparsity import tune_sparsity
        result = tune_sparsity(model, train, lik, recipe, penalty=penalty, target=target_sparsity, val=val, by=by,
                               progress=progress, **options)
    elif method is Method.HELDOUT:
        from lamina.torch.heldout import tune_heldout
        result = tune_heldout(model, train, lik, recipe, val=val, by=by, delta=delta, rule=rule, mode=mode,
                              prior_mean=prior_mean, progress=progress, **options)
    elif method is Method.CV:
        from lamina.torch.baselines import tune_cv
        result = tune_cv(model, train, lik, recipe, by=by, mode=mode, prior_mean=prior_mean, **options)
    elif method is Method.OPTUNA:
        from lamina.torch.baselines import tune_optuna
        result = tune_optuna(model, train, lik, recipe, val=val, by=by, mode=mode, prior_mean=prior_mean,
                             **options)
    elif method is Method.HYPERGRADIENT:
        from lamina.torch.hypergradient import tune_hypergradient
        result = tune_hypergradient(model, train, lik, recipe, val=val, by=by, delta=delta, rule=rule,
                                    mode=mode, prior_mean=prior_mean, progress=progress, **options)
    else:
        result = _tune_online(method, model, train, lik, recipe, by=by, delta=delta, rule=rule, mode=mode,
                              prior_mean=prior_mean, progress=progress, **options)
    result.compute.seconds = time.perf_counter() - started
    return result


def check_class_labels(model: nn.Module, data, argument: str) -> None:
    """Class labels of an ``(X, y)`` pair must lie in 0..C−1, C the network's number of outputs.

    C is read from one forward pass on the first sample (in eval mode, without gradients, so
    that batch statistics and the training state are untouched). DataLoaders are not read.
    """
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        return
    X, y = (torch.as_tensor(np.asarray(v)) if not isinstance(v, torch.Tensor) else v for v in data)
    if y.numel() == 0 or X.shape[0] == 0:
        return
    low, high = float(y.min()), float(y.max())
    if low < 0:
        raise ValueError(f"{argument}: class labels must be 0..C-1 (C = outputs of the network); got {low:g}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            first = X[:1].to(device=model_device(model))
            if first.is_floating_point():
                first = first.to(dtype=model_dtype(model))
            n_classes = int(model(first).shape[-1])
    finally:
        model.train(was_training)
    if high >= n_classes:
        raise ValueError(f"{argument}: class label {high:g} is out of range for a network with {n_classes} "
                         f"outputs (labels must be 0..{n_classes - 1})")


def _tune_online(method, model, train, lik, recipe: Recipe, *, by, delta, rule, mode, prior_mean, progress,
                 **options) -> NetTuneResult:
    n_data = _n_data(train, lik, model_device(model))
    reg = Regularizer(model, n_data, 0.0 if method is Method.NONE else delta, mode=mode, by=by,
                      prior_mean=prior_mean)
    callbacks = []
    evidence = None
    if method is not Method.NONE:
        weights, adaptive = make_rule(rule, reg.reg_groups)
        reg.set_deltas(delta * weights)
        if adaptive is not None:
            callbacks.append(RuleCallback(adaptive, reg, delta, options.pop("rule_every", 5)))
    if method is Method.EVIDENCE:
        generator = torch.Generator(device=model_device(model))
        generator.manual_seed(recipe.seed + 1)
        evidence = OnlineEvidence(model, reg, lik, generator=generator, **options)
        callbacks.append(evidence)
    elif options:
        raise TypeError(f"unexpected options for method {method.value!r}: {sorted(options)}")
    try:
        out = fit(model, train, likelihood=lik, epochs=recipe.epochs, lr=recipe.lr,
                  batch_size=recipe.batch_size, seed=recipe.seed, optimizer=recipe.optimizer,
                  regularizer=reg, callbacks=callbacks, progress=progress)
    finally:
        if evidence is not None:
            evidence.remove()
    info = evidence_info(evidence) if evidence is not None else {}
    if hasattr(lik, "log_precision") and "noise_precision" not in info:
        info["noise_precision"] = float(lik.precision)
    trajectory = out.history.get("lambdas", [])
    fits = 1.0
    return NetTuneResult(method.value, reg.lambdas, model, trajectory,
                         Compute(fits=fits, epochs=float(out.epochs), seconds=out.seconds),
                         info=info, history=out.history)
