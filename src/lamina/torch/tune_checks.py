"""Checks of what :func:`lamina.torch.tune` is given: the seed, and (X, y) pairs that fit the
network (labels in range, finite regression targets, one target per output), each with an
error naming the argument."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lamina._validation import check_positive_int
from lamina.torch.data import to_tensor
from lamina.torch.fit import model_device, model_dtype, tensor_output
from lamina.torch.likelihoods import Classification
from lamina.torch.modes import in_mode


def check_seed(seed) -> int:
    seed = check_positive_int(seed, "seed", minimum=0)
    if seed >= 2 ** 62:
        raise ValueError(f"seed must be an integer in [0, 2**62), got {seed}")
    return seed


def check_data(model: nn.Module, data, likelihood, argument: str) -> None:
    """An ``(X, y)`` pair must fit the network: X must go through it, class labels must lie in
    0..C−1 (C the network's number of outputs), a regression target must have one value per
    output and be finite.

    The network is read from one forward pass on the first sample (in eval mode, without
    gradients, so that batch statistics and the training state are untouched). DataLoaders are
    not read.
    """
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        return
    X, y = to_tensor(data[0], argument, "X"), to_tensor(data[1], argument, "y")
    if y.numel() == 0 or X.shape[0] == 0:
        return
    classification = isinstance(likelihood, Classification)
    if classification and float(y.min()) < 0:
        raise ValueError(f"{argument}: class labels must be 0..C-1 (C = outputs of the network); "
                         f"got {float(y.min()):g}")
    if not classification and not bool(torch.isfinite(y).all()):
        raise ValueError(f"{argument}: the regression targets y must be finite (found NaN or inf)")
    shape = _output_shape(model, X, argument)
    outputs = shape[-1] if classification else int(np.prod(shape))
    if classification and float(y.max()) >= outputs:
        hint = ("; likelihood='classification' reads the outputs as the logits of a softmax over the classes, so "
                "a binary classifier needs 2 outputs (e.g. nn.Linear(hidden, 2)), not one logit for "
                "BCEWithLogitsLoss" if outputs == 1 else "")
        raise ValueError(f"{argument}: class label {float(y.max()):g} is out of range for a network with {outputs} "
                         f"outputs (labels must be 0..{outputs - 1}){hint}")
    if not classification and y[:1].numel() != outputs:
        raise ValueError(f"{argument}: y has {y[:1].numel()} target value(s) per sample (shape {tuple(y.shape)}) but "
                         f"the network has {outputs} outputs; they must match")


def _output_shape(model: nn.Module, X, argument: str) -> tuple:
    """The network's output shape for one sample (batch dimension dropped)."""
    try:
        with in_mode(model, training=False), torch.no_grad():
            first = X[:1].to(device=model_device(model))
            if first.is_floating_point():
                first = first.to(dtype=model_dtype(model))
            return tuple(tensor_output(model(first)).shape[1:]) or (1,)
    except (RuntimeError, ValueError, IndexError) as error:
        raise ValueError(f"{argument}: the network's forward pass failed on a sample of shape {tuple(X.shape[1:])} "
                         f"(check the number of features and the model; {type(error).__name__}: {error})") from error
