"""A small training loop: Adam/SGD/AdamW, penalties, callbacks, early stopping, checkpoints.

Everything inside the epoch loop stays on the model's device: batches are drawn with a
device generator, losses are summed into device tensors, and the host reads them only every
``check_every`` epochs and at the end, to stop a diverging run: a non-finite training loss,
or one risen ``DIVERGENCE_FACTOR`` times above the first batch's loss (at least above
``DIVERGENCE_FACTOR``), raises :class:`DivergenceError` with the reason.

A *callback* is any object with some of ``on_forward(output, target)`` (after the forward
pass, graph alive), ``on_after_backward()``, ``on_step_end()`` (after the optimizer step and
the proximal one) and ``on_epoch_end(epoch, optimizer) -> bool``;
the evidence and hypergradient tuners and the adaptive rules are callbacks.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lamina._context import seeded_global_rng
from lamina._validation import check_positive_int
from lamina._warnings import warn
from lamina.torch.data import Batches, as_tensors, float_features, loader_pairs, model_device, model_dtype  # noqa: F401 (re-exported)
from lamina.torch.checkpoint import recipe_fingerprint, resume_checkpoint, save_checkpoint, set_rng_state
from lamina.torch.likelihoods import Classification, make_likelihood
from lamina.torch.modes import in_mode, training_modes
from lamina.torch.penalty import Mode, Penalty, Regularizer


DIVERGENCE_FACTOR = 1e6


class DivergenceError(FloatingPointError):
    """Training diverged: the loss became non-finite or exploded far above its start."""


@torch.no_grad()
def evaluate(model: nn.Module, data, likelihood="classification", batch_size: int = 4096) -> dict:
    """Mean NLL (and accuracy for classification, RMSE for regression) of ``model`` on data.

    Examples
    --------
    >>> net = nn.Linear(2, 3)
    >>> sorted(evaluate(net, (torch.zeros(4, 2), torch.tensor([0, 1, 2, 0]))))
    ['accuracy', 'nll']
    """
    likelihood = make_likelihood(likelihood, model_device(model))
    batch_size = check_positive_int(batch_size, "batch_size")
    device, dtype = model_device(model), model_dtype(model)
    data = float_features(data, model)
    if isinstance(data, torch.utils.data.DataLoader):
        pairs = [as_tensors(batch, likelihood, device, "data", dtype) for batch in loader_pairs(data, "data")]
    else:
        X, y = as_tensors(data, likelihood, device, "data", dtype)
        pairs = [(X[i:i + batch_size], y[i:i + batch_size]) for i in range(0, X.shape[0], batch_size)]
    with in_mode(model, training=False), torch.no_grad():
        outputs = torch.cat([tensor_output(model(X)) for X, _ in pairs])
    y = torch.cat([y for _, y in pairs])
    result = {"nll": float(likelihood.nll(outputs, y))}
    if isinstance(likelihood, Classification):
        result["accuracy"] = float((outputs.argmax(-1) == y).double().mean())
    else:
        result["rmse"] = float((outputs.reshape(y.shape) - y).pow(2).mean().sqrt())
    return result


def forward_batch(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """``model(X)`` in training, checked to be one tensor; a batch too small for BatchNorm's batch statistics
    (torch: "Expected more than 1 value per channel") gets an error naming ``batch_size``."""
    try:
        return tensor_output(model(X))
    except ValueError as error:
        if "more than 1 value per channel" not in str(error):
            raise
        raise ValueError(f"batch_size: a batch of {X.shape[0]} sample(s) is too small for the model's BatchNorm in "
                         f"training mode (its batch statistics need two values per channel); use batch_size ≥ 2"
                         ) from error


def tensor_output(output):
    """The model's output, checked to be one tensor (the likelihood's input)."""
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"model: the forward pass must return one tensor (logits or predictions), got a "
                        f"{type(output).__name__}; wrap the model so that it returns that tensor")
    return output


# ----------------------------------------------------------------------------- optimizers
def make_optimizer(name: str, param_groups: list[dict], lr: float) -> torch.optim.Optimizer:
    """torch.optim's ``name`` optimizer over ``param_groups`` at rate ``lr``. Weight decay is only
    what a group states (a :class:`~lamina.torch.penalty.Regularizer`'s decoupled δ_g/N): AdamW's
    own default of 0.01 would add a penalty nobody asked for, so a group without one gets 0."""
    classes = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}
    if name not in classes:
        raise ValueError(f"optimizer must be one of {sorted(classes)}; got {name!r}")
    if not (isinstance(lr, (int, float)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    return classes[name](param_groups, lr=lr, **({"weight_decay": 0.0} if name == "adamw" else {}))


def optimizer_groups(regularizer, model: torch.nn.Module) -> list[dict]:
    """The optimizer's param groups: the regularizer's, one per group, where the optimizer applies
    their decay (decoupled L2, :meth:`~lamina.torch.penalty.Regularizer.sync_optimizer` rewrites
    it); otherwise one group of every parameter, the same steps for less work — δ then acts
    through the gradient (coupled L2) or a proximal step (L1, L0), and torch's foreach Adam step
    over four groups of a small MLP takes ≈ 1.5× its step over one."""
    if regularizer is None:
        return [{"params": list(model.parameters())}]
    groups = regularizer.param_groups()
    covered = {id(p) for group in groups for p in group["params"]}
    # the model's trainable parameters the regularizer does not hold (a regularizer of a submodule,
    # a weight unfrozen after it was built) train unpenalized: left out, they never moved
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in covered]
    if regularizer.penalty_kind is Penalty.L2 and regularizer.mode is Mode.DECOUPLED:
        return groups + ([{"params": rest, "weight_decay": 0.0}] if rest else [])
    return [{"params": [p for group in groups for p in group["params"]] + rest, "weight_decay": 0.0}]


@dataclass
class FitResult:
    """What :func:`fit` returns: the trained model and the per-epoch history."""

    model: nn.Module
    history: dict = field(default_factory=dict)
    seconds: float = 0.0
    epochs: int = 0
    stopped_early: bool = False


def _call(callbacks, method: str, *args):
    for cb in callbacks:
        fn = getattr(cb, method, None)
        if fn is not None:
            fn(*args)


def fit(model: nn.Module, train, *, likelihood="classification", epochs: int = 300, lr: float = 3e-3,
        batch_size: int = 128, seed: int = 0, optimizer: str = "adam", regularizer: Regularizer | None = None,
        callbacks=(), val=None, patience: int | None = None, eval_every: int = 5,
        checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 10, progress: bool = False,
        check_every: int = 10, record_lambdas: bool = True, on_spike: str = "restore") -> FitResult:
    """Train ``model`` on ``train`` with minibatches; the loss is mean NLL + penalty.

    Parameters
    ----------
    model : nn.Module
        Trained in place, on its own device, in training mode — except a submodule set to eval
        inside a model in training mode (a frozen BatchNorm), which stays in eval; every module's
        mode is given back at the end.
    train : (X, y) or DataLoader
    likelihood : "classification", "regression" or a likelihood object
    epochs, lr, batch_size, seed, optimizer
        The recipe; ``optimizer`` in {"adam", "adamw", "sgd"}, or an optimizer instance over
        the model's parameters to continue with (its state kept; ``lr`` then unused).
    regularizer : Regularizer, optional
        Coupled L2 added to the loss; decoupled L2 through the optimizer's param groups;
        L1/L0 by a proximal step after every optimizer step.
    callbacks : sequence
        Objects with ``on_forward``/``on_after_backward``/``on_step_end``/``on_epoch_end`` (module docs);
        the state of those with ``state_dict``/``load_state_dict`` goes into the checkpoint.
    val : (X, y), optional
        Held-out data: validation NLL every ``eval_every`` epochs; with ``patience`` (number
        of evaluations without improvement) training stops early and the best weights return.
    checkpoint : path, optional
        Saved every ``checkpoint_every`` epochs (written to a temporary file, then renamed over
        the previous one); an existing file is resumed from: weights, optimizer, δ, the data
        order, torch's global RNG (Dropout), the loss and validation histories, the early-stopping
        and ``on_spike`` state, so that the resumed run ends as the uninterrupted one. A checkpoint
        written by another model or recipe (parameters, optimizer, lr, batch_size, seed, training
        set size and, for (X, y) tensors, data — a hash of a few rows and a checksum of X and of y, not
        checked for a DataLoader —, likelihood, regularizer), or one already holding more than
        ``epochs`` epochs (a run is extended, never shortened), is refused with a ``ValueError``.
    progress : bool
        Show a tqdm progress bar.
    on_spike : {"restore", "warn", "ignore"}
        A run whose δ did not move and whose last epoch's loss ends more than ``SPIKE_FACTOR`` ×
        its lowest epoch loss ended inside an optimizer spike (Adam on a LayerNorm residual net
        at lr 3e-3: 0.011 → 5.2 in the last three epochs). ``"restore"`` (default) returns the
        weights at the end of the lowest-loss epoch — the iterate with the lowest training
        objective, not a choice on held-out data — and warns; ``"warn"`` keeps the last weights;
        ``"ignore"`` does not check (a run whose loss rises by design: a pruning ramp).
        Costs one copy of the weights, refreshed when an epoch's loss is a new low.

    Returns
    -------
    FitResult
        ``history`` holds per-epoch ``loss`` (mean task loss plus the coupled L2 term; a decoupled
        decay, L1 and L0 are not in it), ``val_nll`` (if
        ``val``) and ``lambdas`` (the δ vector after each epoch).
    """
    likelihood = make_likelihood(likelihood, model_device(model))
    if on_spike not in ("restore", "warn", "ignore"):
        raise ValueError(f"on_spike must be 'restore', 'warn' or 'ignore', got {on_spike!r}")
    epochs = int(epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    for name, value in (("eval_every", eval_every), ("check_every", check_every), ("checkpoint_every", checkpoint_every)):
        check_positive_int(value, name)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model: it has no trainable parameters (none, or all with requires_grad=False)")
    device = model_device(model)
    train, val = float_features(train, model), float_features(val, model)
    batches = Batches(train, likelihood, batch_size, device, seed, dtype=model_dtype(model))
    if regularizer is not None and regularizer.n_data != batches.n_data:
        raise ValueError(f"regularizer.n_data={regularizer.n_data} differs from the training set "
                         f"size {batches.n_data}")
    _check_regularizer(model, regularizer, optimizer)
    if isinstance(optimizer, torch.optim.Optimizer):  # continue with a given optimizer (its state kept)
        opt = optimizer
        if regularizer is not None:
            regularizer.sync_optimizer(opt)
    else:
        opt = make_optimizer(optimizer, optimizer_groups(regularizer, model), lr)
    prox = regularizer is not None and regularizer.needs_step
    losses, lambdas, val_nll = [], [], []
    start_delta = None if regularizer is None else regularizer.delta.detach().clone()
    best, best_state, bad_evals, stopped, start_epoch = float("inf"), None, 0, False, 0
    lowest = _Lowest(model) if on_spike == "restore" else None
    recipe = None if checkpoint is None else \
        recipe_fingerprint(model, opt, optimizer, lr, batch_size, seed, batches, likelihood, regularizer)
    resumed = None
    if checkpoint is not None and os.path.exists(checkpoint):
        resumed = resume_checkpoint(checkpoint, recipe, model, opt, regularizer, likelihood, batches, losses, lambdas,
                                    callbacks, epochs=epochs)
        start_epoch = resumed["epoch"] + 1
        val_nll.extend(resumed["val_nll"])
        best, bad_evals, stopped = resumed["best"], resumed["bad_evals"], resumed["stopped"]
        best_state = resumed["best_state"]
        if lowest is not None and resumed["lowest"] is not None:
            lowest.value, lowest.state = resumed["lowest"]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs, initial=start_epoch, desc="fit", leave=False)
    started = time.perf_counter()
    epoch, first_loss = start_epoch - 1, None
    if resumed is not None and resumed["first_loss"] is not None:
        first_loss = torch.tensor(resumed["first_loss"], device=device)
    # Dropout's draws: two runs with one seed are the same
    with training_modes(model), seeded_global_rng(seed, device):
        if resumed is not None and resumed["rng"] is not None:
            set_rng_state(resumed["rng"], device)
        for epoch in range(start_epoch, epochs if not stopped else start_epoch):
            total = torch.zeros((), device=device)
            for X, y in batches:
                output = forward_batch(model, X)
                loss = likelihood.loss(output, y)
                _call(callbacks, "on_forward", output, y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if regularizer is not None:   # the coupled L2 gradient, added without its graph
                    loss = loss.detach() + regularizer.add_gradient()
                if first_loss is None:
                    first_loss = loss.detach()
                _call(callbacks, "on_after_backward")
                opt.step()
                if prox:
                    regularizer.prox_step(lr, opt)
                _call(callbacks, "on_step_end")
                total = total + loss.detach() * (X.shape[0] / batches.n_data)   # the mean over samples
            losses.append(total)
            if lowest is not None:
                lowest.observe(losses[-1])
            _call(callbacks, "on_epoch_end", epoch, opt)
            if regularizer is not None and record_lambdas:
                lambdas.append(regularizer.delta.detach().clone())
            if (epoch + 1) % check_every == 0 or epoch + 1 == epochs:
                _check_divergence(losses[-1], first_loss, epoch, lr)
            if val is not None and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs):
                score = evaluate(model, val, likelihood)["nll"]   # each module's mode given back
                val_nll.append((epoch, score))
                if score < best - 1e-6:
                    best, bad_evals = score, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad_evals += 1
                    if patience is not None and bad_evals >= patience:
                        stopped = True
            if checkpoint is not None and ((epoch + 1) % checkpoint_every == 0 or epoch + 1 == epochs or stopped):
                save_checkpoint(checkpoint, epoch, model, opt, regularizer, likelihood, batches, losses, lambdas,
                                recipe=recipe, val_nll=val_nll, first_loss=first_loss, lowest=lowest,
                                early=(best, best_state, bad_evals, stopped), callbacks=callbacks)
            if bar is not None:
                bar.update(1)
            if stopped:
                break
    if bar is not None:
        bar.close()
    if stopped and best_state is not None:
        model.load_state_dict(best_state)
    history = {"loss": torch.stack(losses).cpu().tolist() if losses else []}
    # a tuner that moved δ changes the loss legitimately: only fixed-δ runs are checked (and not with "ignore")
    checked = on_spike != "ignore" and (start_delta is None or torch.equal(start_delta, regularizer.delta.detach()))
    restore = lowest is not None and not stopped
    if checked and warn_if_spiked(history["loss"], lr, restored=restore) and restore:
        lowest.restore()
    if lambdas:
        names = regularizer.names
        history["lambdas"] = [dict(zip(names, row)) for row in torch.stack(lambdas).cpu().double().tolist()]
    if val is not None:
        history["val_nll"] = val_nll
    return FitResult(model, history, time.perf_counter() - started, epoch + 1, stopped)


def _check_regularizer(model: nn.Module, regularizer: Regularizer | None, optimizer) -> None:
    """The regularizer acts on the model's own parameters, and a given optimizer has the param
    groups a decoupled L2 writes δ_g / N into (without them no decay was applied, silently)."""
    if regularizer is None:
        return
    own = {id(p) for p in model.parameters()}
    if not all(id(p) in own for g in regularizer.reg_groups for p in g.params):
        raise ValueError("regularizer: its parameters are not the model's (built on another module or a copy of "
                         "it); build it on the model that is trained")
    if (isinstance(optimizer, torch.optim.Optimizer) and regularizer.penalty_kind is Penalty.L2
            and regularizer.mode is Mode.DECOUPLED):
        named = {group.get("name") for group in optimizer.param_groups}
        missing = [g.name for g, means in zip(regularizer.reg_groups, regularizer.means)
                   if all(m is None for m in means) and g.name not in named]
        if missing:
            raise ValueError(f"optimizer: a decoupled regularizer sets weight_decay = δ_g/N in the param groups named "
                             f"after its groups, and this optimizer has none for {missing}; build it on "
                             "regularizer.param_groups(lr=...), or pass optimizer by name, or use mode='coupled'")


# A healthy fixed-δ run ends within ~10 % of its lowest epoch loss (digits settings); 2× is a
# spike the run has not recovered from (digits LayerNorm residual net, continued run of the
# default: 0.090 → 2.28 at epoch 240, still 0.238 = 2.6× at the end; 3× let it through).
SPIKE_FACTOR = 2.0


class _Lowest:
    """The weights at the end of the epoch with the lowest training loss seen so far."""

    def __init__(self, model: nn.Module):
        self.model, self.value, self.state = model, float("inf"), None

    def observe(self, loss: torch.Tensor) -> None:
        value = float(loss)
        if value < self.value:
            self.value = value
            self.state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def restore(self) -> None:
        if self.state is not None:
            self.model.load_state_dict(self.state)


def warn_if_spiked(epoch_losses, lr: float, factor: float = SPIKE_FACTOR, restored: bool = False) -> bool:
    """Warn (``RuntimeWarning``) when the last epoch's loss is more than ``factor`` × the lowest
    epoch loss of the run: an optimizer instability late in training (Adam's loss spikes),
    which leaves a model far worse than the one the run had reached. Returns whether it warned.
    :func:`fit` checks only runs whose δ ended where it started (a tuner raising δ raises the
    penalized loss by design).

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_if_spiked([2.5, 0.3, 0.11, 0.106, 2.3], lr=3e-3), len(caught)
    (True, 1)
    >>> warn_if_spiked([2.5, 0.3, 0.2, 0.21], lr=3e-3)
    False
    """
    values = [float(v) for v in epoch_losses]
    if len(values) < 2 or not all(np.isfinite(values)):
        return False
    best = min(values)
    if not (best > 0 and values[-1] > factor * best):
        return False
    epoch = values.index(best) + 1
    kept = (f"the weights of epoch {epoch} are returned (on_spike='restore')" if restored else
            "the returned model is the last one")
    warn(f"the training loss ended at {values[-1]:.3g}, {values[-1] / best:.1f}× its lowest value "
         f"{best:.3g} (epoch {epoch}): a late loss spike of the optimizer; {kept} — lower lr (now {lr}) "
         f"to avoid it", RuntimeWarning)
    return True


def _check_divergence(loss: torch.Tensor, first_loss: torch.Tensor, epoch: int, lr: float) -> None:
    value, start = float(loss), float(first_loss)
    if not np.isfinite(value):
        raise DivergenceError(f"training diverged: the loss became non-finite ({value}) by epoch {epoch + 1}; "
                              f"lower lr (now {lr}) or check the data and the model")
    if value > DIVERGENCE_FACTOR * max(abs(start), 1.0):
        raise DivergenceError(f"training diverged: the loss rose from {start:.3g} (first batch) to {value:.3g} "
                              f"(epoch {epoch + 1}); lower lr (now {lr})")
