"""Global settings changed only for the call that needs them, and restored after.

* :func:`quiet_optuna` — Optuna's logging at WARNING (a study created per tuning call would
  otherwise print an INFO line per trial);
* :func:`torch_threads` — torch's intra-op thread count (one thread per worker when several
  processes share the cores: oversubscribed threads made a study 6× slower);
* :func:`seeded_global_rng` — torch's global generators seeded for one run (Dropout draws from them).
"""
from __future__ import annotations

import contextlib


@contextlib.contextmanager
def quiet_optuna():
    """Optuna's logging at WARNING inside the block; the caller's level is restored after."""
    import optuna
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(level, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(level)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """``torch.set_num_threads(n)`` inside the block (nothing when ``n`` is None); restored after."""
    if n is None:
        yield
        return
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def seeded_global_rng(seed: int, device):
    """torch's global generators (which Dropout and other random modules draw from) seeded with
    ``seed`` for the run, the caller's state restored afterwards."""
    import torch
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(seed)
        for index in devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        yield
