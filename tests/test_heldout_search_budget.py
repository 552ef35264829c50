"""The held-out tuner's searches counted in its cost budget (lamina.torch.heldout_budget), and the
passes they share (lamina.torch.scale_search)."""
import math

import numpy as np
import pytest
import torch
from torch import nn

import lamina.torch as lt
from lamina.torch.data import steps_per_epoch
from lamina.torch.heldout_budget import (COST_BUDGET, OVERHEAD, PASS_COST, SEARCH_SHARE, first_update, n_updates,
                                         search_steps, update_interval)
from lamina.torch.likelihoods import Classification
from lamina.torch.penalty import Regularizer
from lamina.torch.scale_lines import moved_weights
from lamina.torch.scale_search import HeldoutScale, joint_scale_search, passes_per_update


def test_search_steps_count_forward_passes_by_their_rows():
    # eleven passes over 60 rows where a step holds 42: 11·60/(6·42) steps
    assert search_steps(11, 60, 42) == pytest.approx(11 * PASS_COST * 60 / 42) == pytest.approx(55 / 21)
    assert search_steps(11, 406, 128) == pytest.approx(11 * 406 / (6 * 128))
    assert passes_per_update(True) == 11 and passes_per_update(False) == 11 and passes_per_update(False, 3) == 31


@pytest.mark.parametrize(("epochs", "fit_steps", "search", "expected"), [
    (300, 3, 5.8, 5),      # 500 images, 3 steps an epoch: epochs/60 already leaves 15 steps for 5.8
    (100, 3, 5.8, 4),      # 2 epochs would be 6 steps: the searches would cost 97 % of them
    (30, 3, 5.8, 4),       # an update after every epoch had cost twice the epoch
    (300, 1, 55 / 21, 6),  # full-batch on 60 samples: one step an epoch
    (30, 40, 1.0, 1),      # many steps an epoch: every epoch
    (3000, 1, 55 / 21, 50),  # long runs keep epochs/60
])
def test_update_interval_keeps_the_searches_within_a_share_of_the_steps_between_updates(epochs, fit_steps, search,
                                                                                       expected):
    every = update_interval(epochs, fit_steps, search)
    assert every == expected
    assert search <= SEARCH_SHARE * every * fit_steps + 1e-9           # the share holds
    assert every == 1 or every == round(epochs / 60) or search > SEARCH_SHARE * (every - 1) * fit_steps   # the least


def _blobs(n, seed=0, features=6, classes=3):
    g = torch.Generator().manual_seed(seed)
    centres = 2.0 * torch.randn(classes, features, generator=g)
    y = torch.arange(n) % classes
    return centres[y] + 1.5 * torch.randn(n, features, generator=g), y


@pytest.mark.parametrize(("n", "epochs", "batch_size"), [(50, 30, 128), (60, 100, 128), (120, 60, 128),
                                                        (300, 30, 64), (400, 40, 128)])
def test_the_default_tuner_stays_within_its_counted_budget(n, epochs, batch_size):
    """Epochs by their share of samples or steps and the searches by their passes: the whole within
    COST_BUDGET − OVERHEAD on small, full-batch and short runs, where the searches had cost more than
    the epochs they steered."""
    X, y = _blobs(n)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    result = lt.tune(net, (X, y), likelihood="classification", epochs=epochs, lr=1e-2, batch_size=batch_size, seed=0)
    info = result.info
    assert info["relative"] is True
    searches = info["budget_fits"] - result.compute.fits   # at least the searches (epochs by steps count ≥ by samples)
    assert searches > 0
    assert info["budget_fits"] <= COST_BUDGET - OVERHEAD + 1e-9
    n_fit = info["n_train"]
    fit_steps = steps_per_epoch(n_fit, batch_size)
    rows = info["n_val"] + min(n_fit, max(info["n_val"], 256))
    assert info["update_every"] == update_interval(epochs, fit_steps, search_steps(passes_per_update(True), rows, min(batch_size, n_fit)))


def test_a_given_update_interval_is_kept():
    X, y = _blobs(50)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    result = lt.tune(net, (X, y), epochs=30, lr=1e-2, batch_size=128, seed=0, burn_in=2, update_every=1)
    assert result.info["update_every"] == 1 and result.info["burn_in"] == 2
    for bad in ({"update_every": 0}, {"burn_in": -1}):
        with pytest.raises(ValueError, match="burn_in and update_every"):
            lt.tune(net, (X, y), epochs=30, batch_size=128, seed=0, **bad)


@pytest.mark.parametrize(("first", "burn_in", "every", "expected"), [
    (9, 2, 4, 5),     # 30 epochs: updates after epochs 5 and 9, not 2 and 6
    (9, 2, 1, 2),     # an update every epoch already ends on the last
    (90, 20, 5, 20),  # 300 epochs: unchanged
    (45, 10, 2, 11),
    (3, 5, 2, 3),     # a calibration shorter than the burn-in: one update, on its last epoch
])
def test_the_last_update_falls_on_the_calibrations_last_epoch(first, burn_in, every, expected):
    start = first_update(first, burn_in, every)
    assert start == expected
    last = start + (n_updates(first, burn_in, every) - 1) * every
    assert last == first   # as many updates as the budget counts, the last on the last epoch


def test_the_tuner_reads_the_criterion_on_the_calibrations_last_epoch(monkeypatch):
    from lamina.torch import heldout
    due_epochs = []

    class Recording(HeldoutScale):
        def on_epoch_end(self, epoch, optimizer):
            if self.due(epoch):
                due_epochs.append(epoch + 1)
            return super().on_epoch_end(epoch, optimizer)

    monkeypatch.setattr(heldout, "HeldoutScale", Recording)
    X, y = _blobs(300)
    net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3))
    result = lt.tune(net, (X, y), epochs=30, lr=1e-2, batch_size=32, seed=0, burn_in=2, update_every=4)
    merge_epoch = result.info["merge_epoch"]
    assert merge_epoch == 9 and result.info["burn_in"] == 2
    assert due_epochs == [5, 9]   # were [2, 6]: the last three epochs' δ was never read


def test_the_grid_reuses_the_outputs_at_the_current_weights():
    """The pass at c = 1 the update already made (skip checks) serves as the grid's middle point:
    the same minima as without it, one forward pass fewer."""
    X, y = _blobs(80, seed=3)
    torch.manual_seed(1)
    net = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 3))
    lt.tune(net, (X, y), epochs=20, lr=1e-2, batch_size=80, seed=0, tuner="none")
    reg = Regularizer(net, 60, 0.5)
    held, train = (X[:20], y[:20]), (X[20:], y[20:])
    calls = []
    net.register_forward_hook(lambda *args: calls.append(1))
    plain = joint_scale_search(net, reg, Classification(), held, train, float(reg.l2_term().detach()))
    without = len(calls)
    callback = HeldoutScale(net, reg, Classification(), held, burn_in=1, update_every=1, train_sample=train)
    current = callback._current_outputs()
    calls.clear()
    reused = joint_scale_search(net, reg, Classification(), held, train, float(reg.l2_term().detach()), at_one=current)
    assert reused == pytest.approx(plain, abs=1e-12)
    assert len(calls) == without - 1 == passes_per_update(True) - 1   # (the current outputs, counted there)


def test_moved_weights_scale_offsets_from_the_prior_mean_and_restore_them():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    mean = {"0.weight": torch.randn(4, 3)}   # the first layer anchored, the head toward zero
    reg = Regularizer(net, 10, prior_mean=mean)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad(), moved_weights(net, reg) as move:
        move(np.array([math.log(2.0), math.log(0.5)]))
        assert torch.allclose(net[0].weight, mean["0.weight"] + 2.0 * (before["0.weight"] - mean["0.weight"]))
        assert torch.allclose(net[2].weight, 0.5 * before["2.weight"])
        assert torch.equal(net[0].bias, before["0.bias"])        # unregularized: untouched
        assert not net.training
    assert all(torch.equal(net.state_dict()[k], v) for k, v in before.items()) and net.training
