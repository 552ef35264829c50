"""lamina.torch.fit: defects found by a review of the training loop (5 December 2026) — parameters
the regularizer does not hold, a regularizer with nothing trainable, Dropout's draws, the logged
loss on uneven batches, the caller's train/eval modes, RMSNorm among the normalization layers."""
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import lamina.torch as lt  # noqa: E402
from lamina.torch.penalty import Regularizer  # noqa: E402


def _data(n=20, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=generator), torch.randint(0, 2, (n,), generator=generator)


def _mlp(*middle):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), *middle, nn.Linear(8, 2))


@pytest.mark.parametrize("mode", ["coupled", "decoupled"])
def test_parameters_outside_the_regularizer_are_trained(mode):
    """A regularizer of the backbone only: the head had moved by exactly 0."""
    net, data = _mlp(), _data()
    head = [p.detach().clone() for p in net[2].parameters()]
    lt.fit(net, data, epochs=5, batch_size=20, regularizer=Regularizer(net[0], 20, 0.5, mode=mode))
    assert all(not torch.equal(before, after) for before, after in zip(head, net[2].parameters()))


def test_a_weight_unfrozen_after_the_regularizer_was_built_is_trained():
    net, data = _mlp(), _data()
    net[0].weight.requires_grad_(False)
    regularizer = Regularizer(net, 20, 0.5)
    net[0].weight.requires_grad_(True)
    before = net[0].weight.detach().clone()
    lt.fit(net, data, epochs=3, batch_size=20, regularizer=regularizer)
    assert not torch.equal(before, net[0].weight)


def test_only_biases_trainable_bitfit():
    """Every regularized weight frozen after the regularizer was built: the coupled gradient has
    nothing to add to (torch._foreach_add_ on empty lists had raised)."""
    net, data = _mlp(), _data()
    regularizer = Regularizer(net, 20, 0.5)
    for layer in (net[0], net[2]):
        layer.weight.requires_grad_(False)
    bias = net[0].bias.detach().clone()
    lt.fit(net, data, epochs=2, batch_size=20, regularizer=regularizer)
    assert not torch.equal(bias, net[0].bias)


def test_one_seed_gives_one_run_with_dropout_and_the_callers_stream_is_kept():
    data, runs = _data(), []
    for _ in range(2):
        net = _mlp(nn.Dropout(0.5))
        state = torch.get_rng_state()
        runs.append(lt.fit(net, data, epochs=3, batch_size=20, seed=0).history["loss"])
        assert torch.equal(state, torch.get_rng_state())
    assert runs[0] == runs[1]
    other = lt.fit(_mlp(nn.Dropout(0.5)), data, epochs=3, batch_size=20, seed=1).history["loss"]
    assert other != runs[0]


def test_logged_loss_is_the_mean_over_samples_on_uneven_batches():
    """20 samples in batches of 15 and 5: the mean of the two batch means (0.727 in the review's
    case) is not the mean task loss (0.712)."""
    net, (X, y) = _mlp(), _data()
    with torch.no_grad():
        full = float(nn.functional.cross_entropy(net(X), y))
    logged = lt.fit(net, (X, y), epochs=1, batch_size=15, lr=1e-12).history["loss"][0]
    assert logged == pytest.approx(full, rel=1e-5)


def test_the_callers_modes_are_restored():
    net = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    net.train()
    net[1].eval()     # BatchNorm statistics frozen by the caller
    lt.fit(net, _data(), epochs=1, batch_size=20)
    assert net.training and not net[1].training
    net.eval()
    lt.fit(net, _data(), epochs=1, batch_size=20)
    assert not any(module.training for module in net.modules())


@pytest.mark.skipif(not hasattr(nn, "RMSNorm"), reason="torch without nn.RMSNorm")
def test_rms_norm_is_a_normalization_layer():
    net = nn.Sequential(nn.Linear(3, 8), nn.RMSNorm(8), nn.Linear(8, 2))
    names = [name for g in lt.discover_groups(net, regularize_norm=True) if g.regularized for name in g.param_names]
    assert "1.weight" in names
    assert "1.weight" not in [n for g in lt.discover_groups(net) if g.regularized for n in g.param_names]
