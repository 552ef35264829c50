"""A network the penalty holds at a constant prediction: the held-out calibration halves δ instead of
skipping the update (lamina.torch.scale_search.HeldoutScale._crushed)."""
import math

import pytest
import torch
from torch import nn

from lamina.torch.likelihoods import Classification
from lamina.torch.penalty import Regularizer
from lamina.torch.scale_search import HeldoutScale


def _rows(n, seed):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, generator=generator)
    return X, X[:, :3].argmax(1)   # three classes, one per leading coordinate


def _tuner(net, held, train):
    reg = Regularizer(net, 100, 1.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    return HeldoutScale(net, reg, Classification(), held, burn_in=1, update_every=1, train_sample=train), reg, opt


def test_constant_predictions_on_held_out_and_training_rows_halve_delta():
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(torch.tensor([0.3, 0.0, 0.0]))   # one constant output, a little off the uniform
    tuner, reg, opt = _tuner(net, _rows(30, 0), _rows(60, 1))
    assert tuner.on_epoch_end(0, opt) is True
    assert tuner.n_crushed == 1 and tuner.n_skipped_chance == 0 and tuner.log_scales == []
    assert float(reg.delta[0]) == pytest.approx(0.5)


def test_training_rows_at_chance_halve_delta_even_where_the_held_out_loss_is_below_chance():
    """A network still in its initial plateau: the training rows at chance, the held-out NLL a little
    below log K by the luck of its few samples. The held-out criterion is noise there; δ is halved
    and no search runs (a global-average-pooling CNN's δ had been raised 1.5× in such a plateau)."""
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(torch.tensor([0.3, 0.0, 0.0]))   # a constant output leaning to class 0
    X, _ = _rows(30, 0)
    held = (X, torch.tensor([0] * 18 + [1] * 6 + [2] * 6))   # held-out rows leaning to class 0: NLL 1.03 < log 3
    train = _rows(60, 1)
    assert float(nn.functional.cross_entropy(net(held[0]), held[1])) < 0.95 * math.log(3)
    tuner, reg, opt = _tuner(net, held, train)
    assert tuner._uninformative() is None                # not "chance": the criterion would have run
    assert tuner.on_epoch_end(0, opt) is True
    assert tuner.n_crushed == 1 and tuner.n_skipped_chance == 0 and tuner.log_scales == []
    assert float(reg.delta[0]) == pytest.approx(0.5)


def test_a_held_out_loss_at_chance_while_training_rows_are_fitted_is_skipped():
    """Held-out labels the network gets confidently wrong (at every smaller scale too) while it fits
    its training rows: the held-out loss says nothing about δ, and δ is kept."""
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.zero_()
        net.weight[:, :3] = 8.0 * torch.eye(3)
        net.bias.zero_()
    X, y = _rows(30, 0)
    held = (X, (y + 1) % 3)   # every held-out label shifted: confidently wrong
    tuner, reg, opt = _tuner(net, held, _rows(60, 1))
    train_nll = float(nn.functional.cross_entropy(net(_rows(60, 1)[0]), _rows(60, 1)[1]))
    assert train_nll < 0.5 * math.log(3)
    assert tuner.on_epoch_end(0, opt) is False
    assert tuner.n_skipped_chance == 1 and tuner.n_crushed == 0 and float(reg.delta[0]) == 1.0


def test_without_training_rows_the_skip_is_kept():
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.zero_()
        net.bias.copy_(torch.tensor([0.3, 0.0, 0.0]))
    reg = Regularizer(net, 100, 1.0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    tuner = HeldoutScale(net, reg, Classification(), _rows(30, 0), burn_in=1, update_every=1)
    assert tuner.on_epoch_end(0, opt) is False and tuner.n_skipped_chance == 1 and float(reg.delta[0]) == 1.0


def test_a_calibration_that_never_read_the_held_out_samples_says_so():
    """100 digits in 3 epochs of batches of 32: each fold's calibration (one epoch on 35 samples) finds
    nothing fitted yet at its only update and halves δ — no held-out reading at all, now a warning; with
    30 epochs the calibrations read δ and nothing is said."""
    import warnings
    import numpy as np
    from sklearn.datasets import load_digits
    import lamina.torch as lt
    X, y = load_digits(return_X_y=True)
    X, y = (X[:100] / 16).astype(np.float32), y[:100]
    said = {}
    for epochs in (3, 30):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = lt.tune(net, (X, y), epochs=epochs, lr=3e-3, batch_size=32, seed=0)
        said[epochs] = ([str(w.message) for w in caught if "held-out calibration made no reading" in str(w.message)],
                        result.info["n_updates"])
    messages, updates = said[3]
    assert updates == 0 and len(messages) == 1 and "nothing fitted yet" in messages[0]
    messages, updates = said[30]
    assert updates > 0 and not messages
