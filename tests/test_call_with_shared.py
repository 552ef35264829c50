"""``call_with`` (the probes' forward passes with replaced tensors) on models that share a module or a
tensor: the replacement reaches every use, and the model is left as it was — torch's own
``functional_call(tie_weights=True)`` left the probe's tensors in a module registered under two names."""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import lamina.torch as lt
from lamina.torch.invariance import call_with


def test_a_module_registered_twice_gets_the_replacement_in_both_uses_and_keeps_its_own_tensors():
    torch.manual_seed(0)
    shared = nn.Linear(3, 3)
    model = nn.Sequential(shared, nn.ReLU(), shared)
    weight, bias, x = shared.weight, shared.bias, torch.randn(5, 3)
    with torch.no_grad():
        out = call_with(model, {"0.weight": 2 * weight}, (x,))
        expected = F.linear(torch.relu(F.linear(x, 2 * weight, bias)), 2 * weight, bias)
        assert torch.allclose(out, expected)
        out = call_with(model, {"2.weight": 0 * weight}, (x,))   # the second name of the same slot
        assert torch.allclose(out, bias.expand(5, 3))
    assert shared.weight is weight and shared.bias is bias and weight.requires_grad


def test_a_tensor_assigned_to_two_modules_is_replaced_in_both():
    torch.manual_seed(0)
    a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight
    model, x = nn.Sequential(a, nn.ReLU(), b), torch.randn(4, 3)
    with torch.no_grad():
        out = call_with(model, {"0.weight": torch.zeros(3, 3)}, (x,))
    assert torch.allclose(out, b.bias.expand(4, 3))
    assert b.weight is a.weight and a.weight.requires_grad


def test_tune_trains_and_regularizes_a_module_registered_twice():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    torch.manual_seed(0)
    shared = nn.Linear(8, 8)
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.ReLU(), nn.Linear(8, 2))
    result = lt.tune(model, (X, y), epochs=6, batch_size=32, seed=0)
    assert set(result.lambdas) == {"0.weight", "4.weight"}
    assert all(p.requires_grad for p in model.parameters())
    assert dict(model.named_parameters())["0.weight"] is shared.weight
