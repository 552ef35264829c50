"""A hidden layer of a bias-free ReLU tail is not a readout."""
import torch
from torch import nn

from lamina.torch.groups import discover_groups
from lamina.torch.readout import readout_groups


def test_a_hidden_layer_ahead_of_a_relu_and_a_bias_free_readout_is_not_a_readout():
    """Tanh, then Linear(bias=False)-ReLU-Linear(bias=False): the output is positively homogeneous in
    the hidden Linear (scaling by 2 doubles it) but not linear; it was reported as a readout
    (['2.weight', '4.weight']), and the μP rule gave it fan_in² like the real readout."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8, bias=False), nn.ReLU(),
                        nn.Linear(8, 3, bias=False))
    groups = [g for g in discover_groups(net) if g.regularized]
    assert readout_groups(net, groups, torch.randn(16, 4)) == ["4.weight"]
