"""Every submodule's training mode, kept and given back around a probe or an evaluation.

``was = model.training; model.eval(); …; model.train(was)`` gives every submodule the root's mode
back: a BatchNorm a user froze with ``.eval()`` inside a model in training mode came back in
training mode (its running statistics then moved with the next batches). The mode of each module
is what must come back, as :func:`lamina.torch.fit` does at the end of training.
"""
from __future__ import annotations

from torch import nn


def module_modes(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    """(module, its ``training`` flag) for ``model`` and every submodule."""
    return [(module, module.training) for module in model.modules()]


def restore_modes(modes: list[tuple[nn.Module, bool]]) -> None:
    """Give every module of :func:`module_modes` its own mode back."""
    for module, training in modes:
        module.train(training)
