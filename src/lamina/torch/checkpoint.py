"""Checkpoints of :func:`lamina.torch.fit.fit`: everything a killed run needs to end as the
uninterrupted one — weights, optimizer, δ, the data order, torch's global RNG (Dropout), the loss
and validation histories, the early-stopping and ``on_spike`` state, the callbacks' state — and a
fingerprint of the model and recipe, so that a checkpoint of another run is refused rather than
resumed. Written to a temporary file, then renamed over the previous one (a kill during the write
leaves the previous checkpoint loadable: :func:`lamina._files.write_atomically`)."""
from __future__ import annotations

import hashlib
import io
import os

import torch

from lamina._files import write_atomically
from lamina.torch.data import model_device


def recipe_fingerprint(model, opt, optimizer, lr, batch_size, seed, batches, likelihood, regularizer) -> dict:
    """What a checkpoint must have been written with to be resumed: the model's parameters, the
    optimizer, the recipe, the training data (:func:`data_fingerprint`) and the regularizer's groups
    (``epochs`` may grow: a run is extended)."""
    return {"parameters": [(name, tuple(p.shape), str(p.dtype)) for name, p in model.named_parameters()],
            "optimizer": type(opt).__name__, "lr": None if isinstance(optimizer, torch.optim.Optimizer) else float(lr),
            "batch_size": None if batches.loader is not None else int(batch_size), "seed": int(seed),
            "n_data": int(batches.n_data), "data": data_fingerprint(batches), "likelihood": type(likelihood).__name__,
            "regularizer": None if regularizer is None else
            (list(regularizer.names), regularizer.penalty_kind.value, regularizer.mode.value)}


def data_fingerprint(batches) -> str | None:
    """A cheap fingerprint of the training tensors (X, y): a hash of at most 8 rows spread over the
    set, first and last included, and a checksum of all of X and of all of y (:func:`_checksum`: the
    same data gives the same one on every device, thread count and memory layout) — so that a
    checkpoint written on other data of the same size is refused, not resumed silently. None for a
    DataLoader: reading its data would cost an epoch, so other data behind a loader of the same
    size is not detected."""
    if batches.loader is not None:
        return None
    n = batches.n_data
    index = torch.tensor(sorted({round(i * (n - 1) / 7) for i in range(8)}) if n else [], dtype=torch.long)
    digest = hashlib.sha256()
    for t in (batches.X, batches.y):
        digest.update(t.detach()[index.to(t.device)].to("cpu", torch.float64).contiguous().numpy().tobytes())
    sums = [_checksum(t) for t in (batches.X, batches.y)]
    return f"rows {digest.hexdigest()[:16]}, checksum X {sums[0]:016x}, checksum y {sums[1]:016x}"


def _checksum(t, chunk: int = 1 << 22) -> int:
    """The sum, modulo 2**64, of the tensor's values as float64 bit patterns (each split in two
    32-bit integers). Integer sums are exact in any order; a float sum of centred data (near 0) is
    mostly rounding error, whose digits changed with the thread count and the memory layout (a
    column-major array, as ``DataFrame.to_numpy()`` returns): the same data had been refused."""
    total = 0
    for part in t.detach().reshape(-1).split(chunk):
        total += int(part.to(torch.float64).contiguous().view(torch.int32).to(torch.int64).sum())
    return total % 2 ** 64


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
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomically(path, buffer.getvalue())


def _check_resumable(state, path, recipe, epochs) -> None:
    """The checkpoint was written by this recipe, and holds no more epochs than the run asks for
    (a run may be extended, never shortened: its model and history would be those of the longer run)."""
    saved = state.get("recipe")
    if saved is not None and recipe is not None and "data" not in saved:   # written before the data was checked
        recipe = {key: value for key, value in recipe.items() if key != "data"}
    if saved is not None and recipe is not None and saved != recipe:
        diffs = [f"{key}: {saved.get(key)!r} in the checkpoint, {recipe.get(key)!r} now"
                 for key in recipe if saved.get(key) != recipe.get(key)]
        raise ValueError(f"checkpoint {os.fspath(path)!r} was written by another model or recipe ("
                         + "; ".join(diffs) + "): remove it, or pass another checkpoint path")
    done = int(state["epoch"]) + 1
    if epochs is not None and done > epochs:
        raise ValueError(f"epochs={epochs} is fewer than the {done} epochs checkpoint {os.fspath(path)!r} already "
                         f"holds: pass epochs >= {done} to resume or extend that run, or another checkpoint path")


def resume_checkpoint(path, recipe, model, opt, regularizer, likelihood, batches, losses, lambdas,
                      callbacks=(), epochs=None) -> dict:
    """Load what :func:`save_checkpoint` wrote into the run's objects (model, optimizer, δ, noise,
    data order, histories, callbacks with ``load_state_dict``); the rest of the run's state
    (epoch, RNG, early stopping, the lowest-loss weights) comes back as a dict. A checkpoint of
    another recipe, or one holding more than ``epochs`` epochs, is refused (``ValueError``) before
    anything is loaded."""
    state = torch.load(path, map_location=model_device(model), weights_only=False)
    _check_resumable(state, path, recipe, epochs)
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
