"""The digits transfer task: a backbone pretrained on the digits 0–4, fine-tuned on 5–9.

Shared by ``lamina nn --task digits-transfer`` and ``benchmarks/bench_nn.py`` (one builder).

* Source: every image of the digits 0–4 in scikit-learn's bundled 8×8 digits (pixels/16);
  a 64-256-256-5 ReLU MLP trained on them with δ = 1 (the prior precision of a standard
  normal), Adam, lr 3e-3, batch 128, 100 epochs, initialized from ``torch.manual_seed(123)``,
  fit seed 0. The backbone (the two hidden layers, parameters ``0.*`` and ``2.*``) is kept,
  its head (``4.*``) dropped. Computed once per process and cached.
* Target: the digits 5–9 relabelled 0–4; 10 training images per class drawn with ``seed``
  (50 images), every other 5–9 image as test set.
* Model: the same architecture with the pretrained backbone and a new 5-class head drawn
  from torch's global generator (seed it before calling :func:`transfer_model`).

Toward zero, the fine-tuned network is a ReLU chain: only the product of its per-layer δ is
identified. With the pretrained backbone as prior mean μ (L2-SP, penalty
1/(2N) Σ_g δ_g ‖W_g − μ_g‖², the new head pulled toward 0) the symmetry W_0 → W_0/c,
W_1 → c·W_1 no longer leaves the penalty's minimizers invariant, and every δ is identified.
"""
from __future__ import annotations

import numpy as np

HEAD = "4."
_CACHE: dict = {}


def _network(n_classes: int):
    from torch import nn
    return nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, n_classes))


def pretrained_backbone() -> dict:
    """State dict of the backbone trained on the digits 0–4 (head left out); cached per process.

    Training runs inside :func:`torch.random.fork_rng`, so calling this does not move torch's
    global generator (a model built after it draws the same weights whether or not the cache
    was warm). The tensors returned are copies owned by the cache: do not modify them.
    """
    if "state" not in _CACHE:
        import torch
        from sklearn.datasets import load_digits

        from lamina.torch.tune import tune
        X, y = load_digits(return_X_y=True)
        source = y < 5
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(123)
            net = _network(5)
            tune(net, ((X[source] / 16.0).astype(np.float32), y[source]), tuner="fixed", delta=1.0, epochs=100,
                 lr=3e-3, batch_size=128, seed=0)
        _CACHE["state"] = {k: v.detach().clone() for k, v in net.state_dict().items() if not k.startswith(HEAD)}
    return _CACHE["state"]


def transfer_data(seed: int):
    """(X_train, y_train, X_test, y_test): 10 training images per class of the digits 5–9
    (labels 0–4) drawn with ``seed``, the other 5–9 images as test set (float32 pixels/16)."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(seed)
    target = np.where(y >= 5)[0]
    train = np.concatenate([rng.choice(target[y[target] == c], 10, replace=False) for c in range(5, 10)])
    test = np.setdiff1d(target, train)
    return ((X[train] / 16.0).astype(np.float32), y[train] - 5, (X[test] / 16.0).astype(np.float32), y[test] - 5)


def transfer_model():
    """64-256-256-5 ReLU MLP: the pretrained backbone and a new head (from torch's generator)."""
    net = _network(5)
    net.load_state_dict(pretrained_backbone(), strict=False)
    return net
