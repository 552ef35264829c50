"""The "chance" skip of the held-out calibration applies only where the line's end W = μ predicts one
constant (a head pulled toward zero), not where the whole network is anchored at pretrained weights
(lamina.torch.scale_search.HeldoutScale._anchor_is_constant)."""
import torch
from torch import nn

from lamina.torch.likelihoods import Classification
from lamina.torch.penalty import Regularizer
from lamina.torch.scale_search import HeldoutScale


def _rows(n, seed):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, generator=generator)
    return X, X[:, :3].argmax(1)


def _confident_net():
    net = nn.Linear(4, 3)
    with torch.no_grad():
        net.weight.zero_()
        net.weight[:, :3] = 8.0 * torch.eye(3)
        net.bias.zero_()
    return net


def _tuner(net, prior_mean):
    X, y = _rows(30, 0)
    held = (X, (y + 1) % 3)   # held-out labels the network gets confidently wrong, at every scale of the line
    reg = Regularizer(net, 100, 1.0, prior_mean=prior_mean)
    return HeldoutScale(net, reg, Classification(), held, burn_in=1, update_every=1, train_sample=_rows(60, 1))


def test_a_head_pulled_toward_zero_keeps_the_chance_skip():
    tuner = _tuner(_confident_net(), None)
    assert tuner._anchor_is_constant() is True
    assert tuner._uninformative() == "chance"


def test_a_network_anchored_at_pretrained_weights_is_not_at_chance():
    """W = μ is the pretrained network itself: shrinking toward it does not flatten the predictions,
    and whether the held-out samples prefer it is what δ decides, so the criterion runs."""
    net = _confident_net()
    prior = {name: p.detach().clone() for name, p in net.named_parameters()}
    tuner = _tuner(net, prior)
    assert tuner._anchor_is_constant() is False
    assert tuner._uninformative() is None
    assert [p.detach().clone() for p in net.parameters()][0].equal(prior["weight"])   # the probe left W as it was
