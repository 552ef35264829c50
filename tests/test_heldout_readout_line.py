"""In a recurrent network under the μP ratios the relative criterion's line moves the readout alone
(lamina.torch.scale_search, "Which weights the line moves")."""
import math

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import lamina.torch as lt
from lamina.torch.likelihoods import Classification
from lamina.torch.penalty import Regularizer
from lamina.torch.scale_search import HeldoutScale, joint_scale_search


def _digits(n=400):
    X, y = load_digits(return_X_y=True)
    return torch.as_tensor((X[:n] / 16).astype(np.float32)), torch.as_tensor(y[:n])


def _terms(reg):
    return (0.5 * reg.delta.double() * reg.sq_distances().double() / reg.n_data).detach().numpy()


@pytest.mark.parametrize("epochs", [3, 40])
def test_the_readout_line_minimizes_both_losses_with_the_body_held(epochs):
    """(log c*_held, log c_eq) with ``line`` = the readout, against a dense grid of the same two
    objectives with only the readout's weight scaled: the held-out NLL, and the training NLL plus
    the body's L2 terms fixed and the readout's times c²; the model is left unchanged."""
    X, y = _digits()
    torch.manual_seed(epochs)
    net = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    lt.tune(net, (X[:300].numpy(), y[:300].numpy()), likelihood="classification", tuner="fixed", delta=1.0,
            epochs=epochs, lr=3e-3, batch_size=64, seed=0)
    reg, lik = Regularizer(net, 300, [0.1, 20.0]), Classification()
    held, train = (X[300:], y[300:]), (X[:256], y[:256])
    terms = _terms(reg)
    before = [p.detach().clone() for p in net.parameters()]
    found = joint_scale_search(net, reg, lik, held, train, terms, line=[False, True])
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    grid, held_values, train_values = np.linspace(-1, 1, 2001), [], []
    readout = net[2].weight
    saved = readout.detach().clone()
    with torch.no_grad():
        for log_c in grid:
            readout.copy_(saved * math.exp(log_c))
            held_values.append(float(lik.nll(net(held[0]), held[1])))
            train_values.append(float(lik.nll(net(train[0]), train[1])) + terms[0] + terms[1] * math.exp(2 * log_c))
        readout.copy_(saved)
    for value, curve in zip(found, (held_values, train_values)):
        best = grid[int(np.argmin(curve))]
        if abs(best) < 0.98:
            assert value == pytest.approx(best, abs=0.02)
        else:
            assert abs(value) > 0.98 and np.sign(value) == np.sign(best)   # pinned at the same end


def test_the_whole_line_is_the_default_and_a_line_needs_the_penalty_per_group():
    X, y = _digits(300)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 16), nn.Tanh(), nn.Linear(16, 10))
    reg, lik = Regularizer(net, 200, 1.0), Classification()
    held, train = (X[200:], y[200:]), (X[:200], y[:200])
    whole = joint_scale_search(net, reg, lik, held, train, float(reg.l2_term().detach()))
    assert joint_scale_search(net, reg, lik, held, train, _terms(reg), line=[True, True]) == \
        pytest.approx(whole, abs=1e-6)
    with pytest.raises(ValueError, match="per group"):
        joint_scale_search(net, reg, lik, held, train, float(reg.l2_term().detach()), line=[False, True])


@pytest.mark.parametrize("line, train_sample", [(["2.weight"], None), (["nope"], True), ([], True)])
def test_a_bad_line_is_refused_naming_it(line, train_sample):
    X, y = _digits(40)
    net = nn.Sequential(nn.Linear(64, 8), nn.Tanh(), nn.Linear(8, 10))
    reg = Regularizer(net, 40)
    with pytest.raises(ValueError, match="line must name"):
        HeldoutScale(net, reg, Classification(), (X, y), burn_in=1, update_every=1, line=line,
                     train_sample=(X, y) if train_sample else None)


class _RowsGRU(nn.Module):
    """A GRU over the 8 rows of a digit, a linear head on its last state."""

    def __init__(self):
        super().__init__()
        self.body, self.head = nn.GRU(8, 16, batch_first=True), nn.Linear(16, 10)

    def forward(self, x):
        return self.head(self.body(x.reshape(-1, 8, 8))[0][:, -1])


def test_the_default_moves_a_recurrent_readout_and_every_group_otherwise():
    """A GRU (the μP ratios): ``info["line"]`` is its readout; a tanh MLP (the μP ratios, not
    recurrent) and a ReLU chain (uniform ratios): no line (every group moves); a BatchNorm network
    (no relative criterion): none."""
    X, y = _digits(300)
    data = (X.numpy(), y.numpy())
    kwargs = dict(likelihood="classification", tuner="heldout", epochs=8, lr=3e-3, batch_size=64, seed=0)
    torch.manual_seed(0)
    gru = lt.tune(_RowsGRU(), data, **{**kwargs, "epochs": 30})
    assert gru.info["rule"] == "mup" and gru.info["line"] == ["head.weight"] and gru.info["n_updates"] > 0
    tanh = lt.tune(nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10)), data, **kwargs)
    assert tanh.info["rule"] == "mup" and tanh.info["line"] is None and tanh.info["relative"] is True
    relu = lt.tune(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), data, **kwargs)
    assert relu.info["rule"] == "uniform" and relu.info["line"] is None and relu.info["relative"] is True
    bn = lt.tune(nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10)), data, **kwargs)
    assert bn.info["relative"] is False and bn.info["line"] is None
