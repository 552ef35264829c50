"""Two fine-tuning tasks on scikit-learn's bundled 8×8 digits: one whose features transfer, one whose do not.

Shared by ``lamina nn --task digits-transfer`` / ``--task digits-finetune`` and
``benchmarks/bench_nn.py`` (one builder each).

* ``"digits-transfer"`` (the default ``task``) — source: every image of the digits 0–4; target:
  the digits 5–9 relabelled 0–4, 10 training images per class (50 images). Features learnt on
  0–4 transfer poorly to 5–9: the best fine-tuning moves the backbone freely and pulls the new
  head hard (benchmarks/RESULTS.md, Issue 14).
* ``"digits-finetune"`` — source: a fixed random half of all the images (seed 123), the ten
  classes; target: the same ten classes in the other half, 10 training images per class (100
  images). The features transfer: the best fine-tuning keeps the backbone near its pretrained
  weights and lets the new head grow.

In both, the backbone is a 64-256-256 ReLU MLP trained on the source with δ = 1 (the prior
precision of a standard normal), Adam, lr 3e-3, batch 128, 100 epochs, initialized from
``torch.manual_seed(123)``, fit seed 0; its two hidden layers (parameters ``0.*`` and ``2.*``)
are kept and its head (``4.*``) dropped — computed once per process and task, and cached. The
target's training images are drawn with ``seed``; every other target image is the test set
(pixels/16, float32). The model is the same architecture with the pretrained backbone and a new
head drawn from torch's global generator (seed it before calling :func:`transfer_model`).

Toward zero, the fine-tuned network is a ReLU chain: only the product of its per-layer δ is
identified. With the pretrained backbone as prior mean μ (L2-SP, penalty
1/(2N) Σ_g δ_g ‖W_g − μ_g‖², the new head pulled toward 0) the symmetry W_0 → W_0/c,
W_1 → c·W_1 no longer leaves the penalty's minimizers invariant, and every δ is identified.
"""
from __future__ import annotations

import numpy as np

HEAD = "4."
PER_CLASS = 10
TASKS = ("digits-transfer", "digits-finetune")
_CACHE: dict = {}


def _network(n_classes: int):
    from torch import nn
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, n_classes))


def _parts(task: str):
    """(X, source indices, target indices, target labels, number of classes) of ``task``."""
    from sklearn.datasets import load_digits
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(repr(t) for t in TASKS)}, got {task!r}")
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    if task == "digits-transfer":
        source, target = np.where(y < 5)[0], np.where(y >= 5)[0]
        return X, y, source, target, y[target] - 5, 5
    order = np.random.default_rng(123).permutation(len(y))
    source, target = np.sort(order[: len(y) // 2]), np.sort(order[len(y) // 2:])
    return X, y, source, target, y[target], 10


def pretrained_backbone(task: str = "digits-transfer") -> dict:
    """State dict of the backbone trained on ``task``'s source (head left out); cached per process.

    Training runs inside :func:`torch.random.fork_rng`, so calling this does not move torch's
    global generator (a model built after it draws the same weights whether or not the cache
    was warm). The tensors returned are copies owned by the cache: do not modify them.
    """
    if task not in _CACHE:
        import torch

        from lamina.torch.tune import tune
        X, y, source, _, _, _ = _parts(task)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(123)
            net = _network(int(y[source].max()) + 1)
            tune(net, (X[source], y[source]), tuner="fixed", delta=1.0, epochs=100, lr=3e-3, batch_size=128, seed=0)
        _CACHE[task] = {k: v.detach().clone() for k, v in net.state_dict().items() if not k.startswith(HEAD)}
    return _CACHE[task]


def transfer_data(seed: int, task: str = "digits-transfer"):
    """(X_train, y_train, X_test, y_test) of ``task``'s target: ``PER_CLASS`` training images per
    class drawn with ``seed``, every other target image as test set."""
    X, _, _, target, labels, n_classes = _parts(task)
    rng = np.random.default_rng(seed)
    train = np.concatenate([rng.choice(np.where(labels == c)[0], PER_CLASS, replace=False)
                            for c in range(n_classes)])
    test = np.setdiff1d(np.arange(len(target)), train)
    return X[target[train]], labels[train], X[target[test]], labels[test]


def transfer_model(task: str = "digits-transfer"):
    """64-256-256-k ReLU MLP: ``task``'s pretrained backbone and a new head (from torch's generator)."""
    net = _network(_parts(task)[5])
    net.load_state_dict(pretrained_backbone(task), strict=False)
    return net
