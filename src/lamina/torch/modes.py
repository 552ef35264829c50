"""Every submodule's training mode, kept and given back around a probe or an evaluation.

``was = model.training; model.eval(); …; model.train(was)`` gives every submodule the root's mode
back: a BatchNorm a user froze with ``.eval()`` inside a model in training mode came back in
training mode (its running statistics then moved with the next batches). The mode of each module
is what must come back, as :func:`lamina.torch.fit` does at the end of training. :func:`in_mode`
is the usual form: ``with in_mode(model, training=False): …``.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn


def module_modes(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    """(module, its ``training`` flag) for ``model`` and every submodule."""
    return [(module, module.training) for module in model.modules()]


def restore_modes(modes: list[tuple[nn.Module, bool]]) -> None:
    """Give every module of :func:`module_modes` its own mode back."""
    for module, training in modes:
        module.train(training)


@contextmanager
def in_mode(model: nn.Module, training: bool = False) -> Iterator[nn.Module]:
    """``model`` (every submodule) in ``training`` mode inside the block; each module's own mode
    after it, also when the block raises."""
    modes = module_modes(model)
    model.train(training)
    try:
        yield model
    finally:
        restore_modes(modes)


@contextmanager
def training_modes(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` as training sees it inside the block: a model in eval mode in training mode,
    and inside a model in training mode each submodule in its own mode (a BatchNorm the user
    froze with ``.eval()`` stays in eval); each module's own mode after it, also when it raises."""
    modes = module_modes(model)
    if not model.training:
        model.train()
    try:
        yield model
    finally:
        restore_modes(modes)
