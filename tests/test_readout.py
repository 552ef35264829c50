"""The readout layer, the μP ratio rule, and the default's choice of ratios."""
import numpy as np
import pytest
import torch
from torch import nn

import lamina.torch as lt
from lamina.torch.groups import discover_groups
from lamina.torch.likelihoods import Classification
from lamina.torch.readout import MaximalUpdateRule, auto_rule, readout_groups


def _regularized(model):
    return [g for g in discover_groups(model) if g.regularized]


class Residual(nn.Module):
    """x → inp → (+ block) → out: the output is linear in ``out`` only."""

    def __init__(self):
        super().__init__()
        self.inp, self.block, self.out = nn.Linear(5, 6), nn.Linear(6, 6), nn.Linear(6, 3)
        self.norm = nn.LayerNorm(6)

    def forward(self, x):
        h = self.inp(x)
        h = h + torch.tanh(self.block(self.norm(h)))
        return self.out(h)


def test_the_readout_is_the_group_the_output_is_linear_in():
    x = torch.randn(7, 5)
    model = Residual()
    assert readout_groups(model, _regularized(model), x) == ["out.weight"]
    chain = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    # a ReLU chain is homogeneous in every layer, but only the last enters the output linearly
    assert readout_groups(chain, _regularized(chain), x) == ["2.weight"]
    squashed = nn.Sequential(chain, nn.Softmax(dim=-1))
    assert readout_groups(squashed, _regularized(squashed), x) == []
    # two heads summed: neither alone scales the output, so neither sets its temperature
    two = nn.ModuleDict({"a": nn.Linear(5, 3), "b": nn.Linear(5, 3)})
    two.forward = lambda inputs: two["a"](inputs) + two["b"](inputs)
    assert readout_groups(two, _regularized(two), x) == []


def test_mup_ratios_are_fan_in_and_fan_in_squared_for_the_readout():
    model = Residual()
    groups = _regularized(model)
    s = MaximalUpdateRule(["out.weight"]).weights(groups)
    by_name = dict(zip([g.name for g in groups], s))
    assert by_name["block.weight"] / by_name["inp.weight"] == pytest.approx(6 / 5)
    assert by_name["out.weight"] / by_name["inp.weight"] == pytest.approx(36 / 5)
    sizes = np.array([g.numel for g in groups], dtype=float)
    assert float(sizes @ s) == pytest.approx(sizes.sum())   # same total precision as uniform
    # without a readout it is the fan_in rule
    plain = MaximalUpdateRule([]).weights(groups)
    assert plain[1] / plain[0] == pytest.approx(groups[1].fan_in / groups[0].fan_in)


def _data(n=90, d=4, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=generator)
    return X, (X[:, 0] - X[:, 1] > 0).long()


def test_the_default_uses_mup_ratios_where_the_split_is_identified():
    X, y = _data()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    result = lt.tune(net, (X, y), epochs=10, batch_size=30, seed=0, burn_in=2, update_every=2)
    assert result.info["rule"] == "mup" and result.info["readout"] == ["2.weight"]
    lambdas = result.lambdas
    assert lambdas["2.weight"] / lambdas["0.weight"] == pytest.approx(8 ** 2 / 4, rel=1e-5)
    # two folds; 63 of 90 samples take as many steps as 90 (batches of 30), and an update's searches
    # (eleven passes over 90 rows) cost 1.8 epochs: each calibration is shortened to one epoch of ten
    # before the retraining of ten (2·0.1·0.7 + 1 fits counted in samples), where one update each is
    # still over 1.4 fits
    assert "selection" not in result.info and result.compute.fits == pytest.approx(1.14)
    assert result.info["merge_epoch"] == 1 and result.info["budget_fits"] == pytest.approx((2 * (1 + 11 / 6) + 10) / 10)
    # an explicit rule is honoured
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    result = lt.tune(net, (X, y), epochs=10, batch_size=30, seed=0, burn_in=2, update_every=2, rule="uniform")
    assert result.info["rule"] == "uniform" and result.lambdas["2.weight"] == pytest.approx(result.lambdas["0.weight"])


def test_the_default_keeps_uniform_ratios_without_a_linear_readout():
    X, y = _data()
    torch.manual_seed(0)
    # a tanh layer identifies the split, but log-softmax is not linear in the last layer's scale
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2), nn.LogSoftmax(dim=-1))
    result = lt.tune(net, (X, y), epochs=6, batch_size=30, seed=0, burn_in=2, update_every=2)
    assert result.info["identifiability"]["n_identified"] > 1
    assert result.info["rule"] == "uniform" and result.info["readout"] == []


def test_other_tuners_keep_uniform_ratios_by_default():
    X, y = _data()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    result = lt.tune(net, (X, y), tuner="fixed", epochs=2, batch_size=30, seed=0)
    assert len({round(v, 9) for v in result.lambdas.values()}) == 1


def test_regression_keeps_uniform_ratios():
    X, _ = _data()
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    result = lt.tune(net, (X, X[:, 0] - X[:, 1]), likelihood="regression", tuner="heldout", epochs=6, batch_size=30,
                     seed=0, burn_in=2, update_every=2)
    assert result.info["identifiability"]["n_identified"] > 1 and result.info["rule"] == "uniform"


def test_normalized_networks_get_mup_ratios_and_relu_chains_uniform():
    X, y = _data()
    torch.manual_seed(0)
    # LayerNorm takes every scale: nothing is identified at the optimum, δ acts through the dynamics
    net = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 2))
    result = lt.tune(net, (X, y), epochs=6, batch_size=30, seed=0, burn_in=2, update_every=2)
    assert result.info["identifiability"]["n_identified"] == 0
    assert result.info["rule"] == "mup" and result.info["readout"] == ["3.weight"]
    torch.manual_seed(0)
    chain = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    result = lt.tune(chain, (X, y), epochs=6, batch_size=30, seed=0, burn_in=2, update_every=2)
    assert result.info["rule"] == "uniform" and result.info["readout"] == []


def test_a_network_anchored_in_every_group_gets_uniform_ratios():
    """Fine-tuning a whole pretrained network (its head in ``prior_mean`` too): no layer is fresh, so
    the μP ratios' premise does not hold and "auto" is L2-SP's one δ toward μ; with the head left out
    (a new head pulled toward zero) the μP ratios stay."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))
    example = torch.randn(16, 4)
    everything = {k: v.clone() for k, v in net.state_dict().items()}
    body = {k: v for k, v in everything.items() if not k.startswith("2.")}
    for prior, expected in ((everything, "uniform"), (body, "mup"), (None, "mup")):
        found = lt.identifiability(net, example=example, prior_mean=prior)
        rule, readout = auto_rule("auto", net, Classification(), found, example, prior_mean=prior)
        assert getattr(rule, "name", rule) == expected and readout == ["2.weight"]
    rule, _ = auto_rule("mup", net, Classification(), found, example, prior_mean=everything)
    assert rule == "mup"   # an explicit rule is honoured
