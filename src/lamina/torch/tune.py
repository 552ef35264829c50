"""``lamina.torch.tune``: one entry point for every tuner of a network's λ vector.

All methods train with the same recipe (optimizer, epochs, lr, batch size, seed) and answer
a :class:`NetTuneResult` — a :class:`lamina.tuners.TuneResult` with ``.model``,
``.history`` and ``.seconds`` added. λ are reported as δ_g, the prior precision of
mean task loss + 1/(2N) Σ_g δ_g ‖W_g‖² (weight_decay = δ_g / N).

=================  =========================================================================
tuner              what it does
=================  =========================================================================
``auto``           the default: ``heldout`` for a classifier, ``evidence`` for a regression
                   (``heldout`` where a regularized group is scale-invariant); see
                   :mod:`lamina.torch.default_tuner`
``heldout``        held-out weight-scale calibration of δ on 70 % of the data for 0.3 of the
                   epochs (where the held-out part is small: twice, on disjoint held-out
                   parts, δ their geometric mean), then δ frozen and the network retrained
                   from its initial weights on all data (1.14–1.32 fits); fine-tuning with a
                   prior mean: calibrated for half the epochs, a second ratio rule competing,
                   and the same run continued on all data for the rest of its steps
                   (1.2 / 1.5 fits; ``refit=False`` asks for that anywhere;
                   see :mod:`lamina.torch.heldout`)
``evidence``       online MacKay fixed point per group (one training run, updates after epochs/6;
                   returns the weights of the highest Laplace evidence seen, as laplace-torch's
                   marglik_training; δ of scale-invariant groups, e.g. weights followed by
                   BatchNorm, held: see :mod:`lamina.torch.evidence`)
``hypergradient``  implicit-differentiation gradient of a held-out loss w.r.t. log δ_g, online
``cv``             one δ for all groups by K-fold CV over a grid (joblib folds), then refit
``optuna``         TPE search of the per-group vector on a held-out split, pruning, refit
``fixed``          δ from a scaling rule and one base δ (``rule=``, ``delta=``), no tuning
``none``           no regularization (δ = 0)
``grid``           the generic one-δ grid search of :mod:`lamina.tuners.search` (``cv`` runs it)
``search``         the generic Optuna TPE search of the δ vector (ask/tell, median pruning)
=================  =========================================================================

``tuner=`` also takes a tuner object of :mod:`lamina.tuners.search` (any
:class:`~lamina.tuners.search.ProblemTuner`), run on the network as a
:class:`~lamina.torch.tunable.NetworkProblem`. ``lamina.tuners.available("network")`` lists the
names. ``method=`` is the old spelling of ``tuner=`` (deprecated; it warns).
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from enum import Enum

import torch
from torch import nn

from lamina._context import seeded_global_rng
from lamina._validation import check_positive_float, check_positive_int, parse_choice
from lamina._warnings import warn
from lamina.torch.data import steps_per_epoch, to_tensor
from lamina.torch.default_tuner import AUTO, default_tuner
from lamina.torch.evidence import OnlineEvidence
from lamina.torch.fit import Batches, evaluate, fit, float_features, model_device, model_dtype
from lamina.torch.identifiability import identifiability
from lamina.torch.invariance import example_rows
from lamina.torch.likelihoods import Gaussian, make_likelihood
from lamina.torch.penalty import Regularizer
from lamina.torch.prior_readout import drop_uninformative_readout
from lamina.torch.result import NetTuneResult, Recipe  # noqa: F401  (re-exported)
from lamina.torch.rules import make_rule
from lamina.torch.sparsity import tune_sparsity
from lamina.torch.sparsity_checks import check_sparsity_request
from lamina.torch.tunable import NetworkProblem
from lamina.torch.tune_checks import check_data, check_seed
from lamina.tuners import registry
from lamina.tuners.base import Compute
from lamina.tuners.problem import is_problem_tuner


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


def _frozen_copy(prior_mean):
    """The prior means as they are now: ``model.state_dict()`` shares memory with the parameters
    that training moves (the final run had been pulled toward the weights at the merge)."""
    if not isinstance(prior_mean, Mapping):
        return prior_mean
    return {name: value.detach().clone() if isinstance(value, torch.Tensor) else value
            for name, value in prior_mean.items()}


def _n_data(train, likelihood, device) -> int:
    return Batches(train, likelihood, 1, device, 0).n_data


def tune(model: nn.Module, train, *, likelihood="classification", tuner="auto", epochs: int = 300,
         lr: float = 3e-3, batch_size: int = 128, seed: int = 0, optimizer: str = "adam", val=None,
         by=None, delta: float = 1.0, rule=None, mode: str = "coupled", prior_mean=None,
         penalty: str = "l2", target_sparsity: float | None = None, progress: bool = False,
         method=None, **options) -> NetTuneResult:
    """Tune one prior precision δ_g per parameter group of ``model`` and train it.

    Parameters
    ----------
    model : nn.Module
        Trained in place (on its own device; data are moved there).
    train : (X, y) tensors/arrays or a DataLoader
    likelihood : {"classification", "regression"}
        Softmax cross-entropy, or Gaussian with a learned noise precision.
    tuner : str or ProblemTuner
        A name of the module table (``lamina.tuners.available("network")``) or a tuner object
        of :mod:`lamina.tuners.search`; default ``"auto"``: ``"heldout"`` for a classifier,
        ``"evidence"`` (curvature on every 4th step) for a regression unless a regularized
        group is scale-invariant (BatchNorm) or ``val``/a heldout option is given, then
        ``"heldout"``; ``info["default"]`` names
        the choice (:mod:`lamina.torch.default_tuner`). Why: on the digits MLP
        (benchmarks/RESULTS.md, Issue 4) the Laplace evidence and the online hypergradient
        pick δ about ten times above the held-out optimum (for a ReLU net only the geometric
        mean of the per-layer δ is identifiable, and theirs is ≈ 4), whereas calibrating one
        scale so that the held-out loss is stationary along the weight-decay direction,
        c* = argmin_c V(c·W) = 1, lands near it at the cost of one fit; on regressions that
        criterion calibrates only the predictions' amplitude and under-regularized, and the
        evidence's test RMSE was 6 % lower over twelve regression settings
        (benchmarks/bench_nn_regression.py).
    epochs, lr, batch_size, seed, optimizer
        The training recipe (Adam by default). ``seed`` (an integer ≥ 0) decides the splits, the
        minibatch order and, through torch's global generator (seeded for the run and restored
        afterwards), Dropout's masks: the same seed gives the same result.
    val : (X, y), optional
        Held-out data for ``heldout``/``hypergradient``/``optuna`` and the generic tuners (else a
        split of ``train``). The others (``evidence``, ``fixed``, ``none``, ``cv``) do not select on
        it: they score it into ``info["val"]`` and warn.
    by : None, "module_type" or dict
        Grouping (see :func:`lamina.torch.discover_groups`).
    delta : float
        Initial δ (``heldout``, ``evidence``, ``hypergradient``) or base δ of the rule (``fixed``).
    rule : str or AdaptiveRule, optional
        Scaling rule for ``fixed``, the per-group ratios kept by ``heldout``, and the starting
        point of the other online tuners. Default: ``"auto"`` for ``heldout`` (uniform where
        only the common scale is identified, the μP ratios of :mod:`lamina.torch.readout` where
        the split is), ``"uniform"`` for the others.
    mode : {"coupled", "decoupled"}
        L2 added to the loss, or as weight decay in the optimizer param groups.
    prior_mean : mapping of parameter name → Tensor, optional
        Prior means μ_g: the penalty becomes 1/(2N) Σ_g δ_g ‖W_g − μ_g‖² (L2-SP), e.g. the
        pretrained ``state_dict`` when fine-tuning (copied at the call: training does not move
        it; entries of a replaced head are left out; groups without an entry — or whose entry's
        name is misspelled — are pulled toward 0; so is a readout whose prior mean classifies
        the training samples no better than a constant, with a warning, a check made on (X, y)
        tensors, not on a DataLoader: :mod:`lamina.torch.prior_readout`). Every method honours it.
    penalty : {"l2", "l1", "l0"}
        ``"l2"`` (default): the δ_g above. ``"l1"``/``"l0"`` with ``target_sparsity``: mean task
        loss + 1/N Σ_g λ_g ‖W_g‖₁ (or ‖W_g‖₀), λ_g chosen while training so that the regularized
        weights end with that fraction of exact zeros (:mod:`lamina.torch.sparsity`); ``lambdas``
        are then the λ_g and ``info["sparsity"]`` holds the sparsity overall and per group.
    target_sparsity : float in [0, 1), optional
        Overall fraction of exact zeros among the regularized weights (L1/L0 only).
    method : str, optional
        Deprecated spelling of ``tuner`` (a DeprecationWarning; removed in the next release).
    **options
        Passed to the method (``val_fraction``, ``merge_at``, ``folds``, ``kappa`` for heldout;
        ``structure``, ``update_every``, ``burn_in`` (default epochs // 6), ``keep_best`` (default
        True: return the weights and δ of the update with the highest Laplace evidence),
        ``regularize_bias`` (a δ per bias too; default False), ``decay`` (of the curvature's
        moving average; default 1 − 1/(training steps between two updates)), ``scale_invariant``, ``per_direction`` (move δ only along the
        directions :func:`lamina.torch.identifiability` finds identified; off by default, mixed
        results in benchmarks/RESULTS.md) or ``directions`` for evidence; ``grid``,
        ``folds``, ``n_jobs`` for cv; ``n_trials``, ``storage`` for optuna).

    Returns
    -------
    NetTuneResult
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    tuner = _resolve_tuner_keyword(tuner, method)
    chosen_by_default = isinstance(tuner, str) and tuner == AUTO
    if chosen_by_default and (penalty != "l2" or target_sparsity is not None):
        tuner = "heldout"   # the target-sparsity controller runs on the held-out core
    heldout_rule = "auto" if rule is None else rule   # each tuner's own default ratios
    rule = "uniform" if rule is None else rule
    if penalty != "l2" or target_sparsity is not None:
        penalty, target_sparsity = check_sparsity_request(model, penalty, target_sparsity, by=by, mode=mode,
                                                          prior_mean=prior_mean, method=tuner, rule=rule,
                                                          delta=delta, options=options, sparsity_tuner=tune_sparsity)
    sparse = target_sparsity is not None
    if sparse:
        tuner = "heldout"
    recipe = Recipe(check_positive_int(epochs, "epochs"), check_positive_float(lr, "lr"),
                    check_positive_int(batch_size, "batch_size"), check_seed(seed), optimizer)
    # the tuners multiply δ: from 0 they would never move it (nor regularize)
    check_positive_float(delta, "delta", strict=tuner in (AUTO, "heldout", "evidence", "hypergradient"))
    started = time.perf_counter()
    lik = make_likelihood(likelihood, model_device(model))
    train, val = float_features(train, model), float_features(val, model)
    check_data(model, train, lik, "train")
    if val is not None:
        check_data(model, val, lik, "val")
    prior_mean = drop_uninformative_readout(model, _frozen_copy(prior_mean), train, lik, by)
    if tuner == AUTO:   # not overridden by the sparsity tuner above
        tuner, defaults = default_tuner(model, train, "regression" if isinstance(lik, Gaussian) else
                                        "classification", by, val=val, options=options)
        options = {**defaults, **options}
    with seeded_global_rng(recipe.seed, model_device(model)):
        if sparse:
            result = tune_sparsity(model, train, lik, recipe, penalty=penalty, target=target_sparsity, val=val,
                                   by=by, progress=progress, **options)
        elif is_problem_tuner(tuner) or registry.entry(tuner, "network").generic:
            result = _tune_problem(tuner, model, train, lik, recipe, by=by, rule=rule, mode=mode,
                                   prior_mean=prior_mean, val=val, **options)
        else:
            result = _run_registered(tuner, model, train, lik, recipe, val=val, by=by, delta=delta,
                                     rule=heldout_rule if tuner == "heldout" else rule,
                                     mode=mode, prior_mean=prior_mean, progress=progress, **options)
    if chosen_by_default:
        result.info["default"] = tuner
    if val is not None and result.method in IGNORE_VAL:
        _report_unused_val(result, val, lik)
    result.compute.seconds = time.perf_counter() - started
    return result


IGNORE_VAL = ("evidence", "fixed", "none", "cv")   # tuners that choose δ without held-out data


def _report_unused_val(result, val, lik) -> None:
    """``val`` given to a tuner that does not choose δ on it: its NLL goes to ``info["val"]``, and a
    warning says so (it had been ignored without a word)."""
    result.info["val"] = evaluate(result.model, val, lik)
    warn(f"tuner {result.method!r} does not choose δ on val (it selects on the training data); "
         f"val is only scored: result.info['val'] = {result.info['val']} (tuner='heldout' chooses δ on val)",
         UserWarning)


def _resolve_tuner_keyword(tuner, method):
    """``tuner`` (a registered name or a tuner object), honouring the deprecated ``method=``."""
    if method is not None:
        warn("lamina.torch.tune(method=...) is deprecated; use tuner=... (same names)",
             DeprecationWarning)
        if not (isinstance(tuner, str) and tuner == AUTO):
            raise ValueError(f"give tuner= or the deprecated method=, not both (tuner={tuner!r}, method={method!r})")
        tuner = method
    if isinstance(tuner, Method):
        tuner = tuner.value
    if is_problem_tuner(tuner) or (isinstance(tuner, str) and tuner == AUTO):
        return tuner
    return registry.entry(tuner, "network").name


def _tune_problem(tuner, model, train, lik, recipe, *, by, rule, mode, prior_mean, val=None,
                  **options) -> NetTuneResult:
    """A generic tuner (object or name) on the network as a NetworkProblem."""
    problem_options = {k: options.pop(k) for k in ("val_fraction", "report_every") if k in options}
    if not is_problem_tuner(tuner):
        tuner = registry.entry(tuner, "network").load()(**options)
        if "seed" not in options and hasattr(tuner, "seed"):   # a registered name follows tune's seed
            tuner.seed = recipe.seed
    elif options:
        raise TypeError(f"unexpected options for a tuner object: {sorted(options)} (set them on the object)")
    problem = NetworkProblem(model, train, lik, recipe, by=by, mode=mode, prior_mean=prior_mean, rule=rule,
                             val=val, **problem_options)
    result = tuner.tune_problem(problem)
    return NetTuneResult(result.method, result.lambdas, model, result.trajectory, result.compute,
                         curve=result.curve, info=result.info, history=problem.history)


def _run_registered(name, model, train, lik, recipe, *, val, by, delta, rule, mode, prior_mean, progress,
                    **options) -> NetTuneResult:
    """The network family's own tuner registered under ``name`` (see lamina.tuners.registry)."""
    function = registry.entry(name, "network").load()
    if function is tune_online:
        return tune_online(Method(name), model, train, lik, recipe, by=by, delta=delta, rule=rule, mode=mode,
                           prior_mean=prior_mean, progress=progress, **options)
    common = {"by": by, "mode": mode, "prior_mean": prior_mean}
    if name in ("heldout", "hypergradient"):
        common.update(val=val, delta=delta, rule=rule, progress=progress)
    elif name == "optuna":
        common.update(val=val)
    return function(model, train, lik, recipe, **common, **options)


def _identified_directions(model, train, by, prior_mean, reg):
    """The identified directions of log δ (:func:`lamina.torch.identifiability` on the first
    training inputs, :func:`~lamina.torch.invariance.example_rows`) when fewer than the groups, else None (every direction moves); None too
    for a DataLoader (no batch is read ahead of training)."""
    if not isinstance(train, (tuple, list)) or len(train) != 2:
        return None
    X = to_tensor(train[0], "train", "X")
    X = example_rows(X).to(device=model_device(model))
    if X.is_floating_point():
        X = X.to(dtype=model_dtype(model))
    found = identifiability(model, by, example=X, prior_mean=prior_mean)
    if found.n_identified >= len(reg.names) or list(found.groups) != list(reg.names):
        return None
    if found.n_identified == 0:   # a LayerNorm MLP: δ acts through the dynamics only, and stays put
        warn("per_direction=True: no direction of log δ is identified on this model (each "
             "regularized weight is scale-invariant or its scale absorbed), so δ stays at its "
             "start; without per_direction the evidence moves δ, which acts here through the "
             "training dynamics (benchmarks/RESULTS.md: 28 % lower RMSE on a LayerNorm MLP)",
             RuntimeWarning)
    return found.identified


def tune_online(method, model, train, lik, recipe: Recipe, *, by, delta, rule, mode, prior_mean, progress,
                **options) -> NetTuneResult:
    """The online tuners that train once: ``evidence``, ``fixed`` (a rule) and ``none`` (δ = 0)."""
    n_data = _n_data(train, lik, model_device(model))
    regularize_bias = bool(options.pop("regularize_bias", False)) if method is Method.EVIDENCE else False
    reg = Regularizer(model, n_data, 0.0 if method is Method.NONE else delta, mode=mode, by=by,
                      prior_mean=prior_mean, regularize_bias=regularize_bias)
    callbacks = []
    evidence = None
    if method is not Method.NONE:
        weights, adaptive = make_rule(rule, reg.reg_groups)
        reg.set_deltas(delta * weights)
        if adaptive is not None and method is Method.FIXED:   # for evidence: only its start
            callbacks.append(RuleCallback(adaptive, reg, delta, options.pop("rule_every", 5)))
    if method is Method.EVIDENCE:
        generator = torch.Generator(device=model_device(model))
        generator.manual_seed(recipe.seed + 1)
        # laplace-torch's schedule (Immer et al. 2021: 50 burn-in epochs of 300) and its choice of
        # the weights at the highest Laplace evidence seen (see OnlineEvidence, keep_best)
        options.setdefault("burn_in", max(1, recipe.epochs // 6))
        options.setdefault("keep_best", True)
        options.setdefault("final_epoch", recipe.epochs - 1)
        if "decay" not in options:  # curvature averaged over about the steps since the last update
            loader = isinstance(train, torch.utils.data.DataLoader)
            steps = len(train) if loader else steps_per_epoch(n_data, recipe.batch_size)
            per_update = steps * int(options.get("update_every", 5)) / int(options.get("curvature_every", 1))
            options["decay"] = 1.0 - 1.0 / max(per_update, 2.0)
        if options.pop("per_direction", False) and "directions" not in options:
            options["directions"] = _identified_directions(model, train, by, prior_mean, reg)
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
    if evidence is not None:
        evidence.restore_best()
    info = evidence_info(evidence) if evidence is not None else {}
    if hasattr(lik, "log_precision") and "noise_precision" not in info:
        info["noise_precision"] = float(lik.precision)
    trajectory = out.history.get("lambdas", [])
    fits = 1.0
    return NetTuneResult(method.value, reg.lambdas, model, trajectory,
                         Compute(fits=fits, epochs=float(out.epochs), seconds=out.seconds),
                         info=info, history=out.history)


def evidence_info(evidence: OnlineEvidence) -> dict:
    """γ per group and the noise precision, as host floats (for results)."""
    info = {}
    if evidence.gamma is not None:
        info["gamma"] = dict(zip(evidence.regularizer.names, evidence.gamma.cpu().tolist()))
    if isinstance(evidence.likelihood, Gaussian):
        info["noise_precision"] = float(evidence.likelihood.precision)
    info["n_updates"] = evidence.n_updates
    if evidence.log_evidence:
        info["log_evidence"] = [(epoch, float(value)) for epoch, value in evidence.log_evidence]
    if evidence.best is not None:
        info["best_epoch"] = evidence.best["epoch"]
        info["best_log_evidence"] = float(evidence.best["log_evidence"])
    info["scale_invariant"] = list(evidence.scale_invariant or [])
    if evidence.invariance_ratios:
        info["scale_invariance_ratio"] = dict(evidence.invariance_ratios)
    if info["scale_invariant"]:
        info["scale_invariant_reason"] = evidence.REASON
    return info
