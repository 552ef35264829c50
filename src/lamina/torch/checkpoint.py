"""Checkpoints of :func:`lamina.torch.fit.fit`: everything a killed run needs to end as the
uninterrupted one — weights, optimizer, δ, the data order, torch's global RNG (Dropout), the loss
and validation histories, the early-stopping and ``on_spike`` state, the callbacks' state — and a
fingerprint of the model and recipe, so that a checkpoint of another run is refused rather than
resumed. Written to a temporary file, then renamed over the previous one (a kill during the write
leaves the previous checkpoint loadable)."""
from __future__ import annotations

import os

import torch

from lamina.torch.data import model_device


def recipe_fingerprint(model, opt, optimizer, lr, batch_size, seed, batches, likelihood, regularizer) -> dict:
    """What a checkpoint must have been written with to be resumed: the model's parameters, the
    optimizer, the recipe and the regularizer's groups (``epochs`` may grow: a run is extended)."""
    return {"parameters": [(name, tuple(p.shape), str(p.dtype)) for name, p in model.named_parameters()],
            "optimizer": type(opt).__name__, "lr": None if isinstance(optimizer, torch.optim.Optimizer) else float(lr),
            "batch_size": None if batches.loader is not None else int(batch_size), "seed": int(seed),
            "n_data": int(batches.n_data), "likelihood": type(likelihood).__name__,
            "regularizer": None if regularizer is None else
            (list(regularizer.names), regularizer.penalty_kind.value, regularizer.mode.value)}


def _rng_state(device):
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state, device) -> None:
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def save_checkpoint(path, epoch, model, opt, regularizer, likelihood, batches, losses, lambdas, *, recipe=None,
                    val_nll=(), first_loss=None, lowest=None, early=None, callbacks=()) -> None:
    best, best_state, bad_evals, stopped = early if early is not None else (float("inf"), None, 0, False)
    state = {"epoch": epoch, "model": model.state_dict(), "optimizer": opt.state_dict(),
             "regularizer": None if regularizer is None else regularizer.state_dict(),
             "log_precision": getattr(likelihood, "log_precision", None),
             "batches": batches.state(), "losses": torch.stack(losses).cpu(),
             "lambdas": [x.cpu() for x in lambdas], "recipe": recipe, "rng": _rng_state(model_device(model)),
             "val_nll": list(val_nll), "first_loss": None if first_loss is None else float(first_loss),
             "best": best, "best_state": best_state, "bad_evals": bad_evals, "stopped": stopped,
             "lowest": None if lowest is None or lowest.state is None else (lowest.value, lowest.state),
             "callbacks": [cb.state_dict() if hasattr(cb, "state_dict") and hasattr(cb, "load_state_dict") else None
                           for cb in callbacks]}
    tmp = f"{path}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)


def resume_checkpoint(path, recipe, model, opt, regularizer, likelihood, batches, losses, lambdas,
                      callbacks=()) -> dict:
    """Load what :func:`save_checkpoint` wrote into the run's objects (model, optimizer, δ, noise,
    data order, histories, callbacks with ``load_state_dict``); the rest of the run's state
    (epoch, RNG, early stopping, the lowest-loss weights) comes back as a dict."""
    state = torch.load(path, map_location=model_device(model), weights_only=False)
    saved = state.get("recipe")
    if saved is not None and recipe is not None and saved != recipe:
        diffs = [f"{key}: {saved.get(key)!r} in the checkpoint, {recipe.get(key)!r} now"
                 for key in recipe if saved.get(key) != recipe.get(key)]
        raise ValueError(f"checkpoint {os.fspath(path)!r} was written by another model or recipe ("
                         + "; ".join(diffs) + "): remove it, or pass another checkpoint path")
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    if regularizer is not None and state["regularizer"] is not None:
        regularizer.load_state_dict(state["regularizer"])
    if state.get("log_precision") is not None and hasattr(likelihood, "log_precision"):
        likelihood.log_precision.copy_(state["log_precision"])
    batches.set_state(state["batches"])
    device = model_device(model)
    saved_losses = state["losses"]
    if isinstance(saved_losses, torch.Tensor):
        losses.extend(saved_losses.to(device).unbind())
    else:   # a checkpoint of an earlier version: host floats
        losses.extend(torch.tensor(x, device=device) for x in saved_losses)
    lambdas.extend(x.to(device) for x in state["lambdas"])
    for callback, saved_state in zip(callbacks, state.get("callbacks") or ()):
        if saved_state is not None and hasattr(callback, "load_state_dict"):
            callback.load_state_dict(saved_state)
    return {"epoch": int(state["epoch"]), "rng": state.get("rng"), "val_nll": state.get("val_nll", []),
            "first_loss": state.get("first_loss"), "best": state.get("best", float("inf")),
            "best_state": state.get("best_state"), "bad_evals": state.get("bad_evals", 0),
            "stopped": state.get("stopped", False), "lowest": state.get("lowest")}
