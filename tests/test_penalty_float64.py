"""A float64 model's δ keeps double precision: the coupled gradient and the decoupled weight_decay δ_g/N."""
import torch
from torch import nn

from lamina.torch.penalty import Regularizer


def test_a_float64_model_gets_its_penalty_in_double_precision():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    deltas, n = [0.7, 2.3], 7
    assert Regularizer(net, n, deltas, mode="decoupled").param_groups()[0]["weight_decay"] == 0.7 / 7
    reg = Regularizer(net, n, deltas)
    weights = [net[0].weight, net[2].weight]
    objective = sum(0.5 * d / n * w.pow(2).sum() for d, w in zip(deltas, weights))
    expected = torch.autograd.grad(objective, weights)
    for w in weights:
        w.grad = torch.zeros_like(w)
    value = reg.add_gradient()
    for w, g in zip(weights, expected):
        torch.testing.assert_close(w.grad, g, rtol=1e-14, atol=0)
    assert abs(float(value) - float(objective)) < 1e-14
