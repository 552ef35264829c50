"""The continued run of the held-out tuner: a fresh optimizer, its learning rate re-warmed."""
import pytest
import torch
from torch import nn

import lamina.torch as lt
import lamina.torch.final_run as final_run
import lamina.torch.heldout as heldout
from lamina.torch.restart import LinearWarmup, restart


class _RecordLR:
    def __init__(self, optimizer):
        self.optimizer, self.lrs = optimizer, []

    def on_after_backward(self):
        self.lrs.append(self.optimizer.param_groups[0]["lr"])


def test_the_warmup_ramps_the_learning_rate_of_a_real_fit_step_by_step():
    X, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    net = nn.Linear(3, 2)
    opt, warm = restart("adam", [{"params": list(net.parameters())}], 0.01, steps=60, fraction=0.1)
    record = _RecordLR(opt)
    lt.fit(net, (X, y), likelihood="classification", epochs=6, batch_size=4, optimizer=opt,
           callbacks=[warm, record])        # 10 steps per epoch, 60 steps: a warm-up of 6
    assert len(record.lrs) == 60
    assert record.lrs[:7] == pytest.approx([0.01 * k / 6 for k in range(1, 7)] + [0.01])
    assert record.lrs[-1] == pytest.approx(0.01)


def test_restart_rejects_bad_arguments():
    p = nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match="fraction"):
        restart("adam", [{"params": [p]}], 0.1, steps=10, fraction=-0.1)
    with pytest.raises(ValueError, match="optimizer"):
        restart("lbfgs", [{"params": [p]}], 0.1, steps=10)
    with pytest.raises(ValueError, match="steps"):
        LinearWarmup(torch.optim.SGD([p], lr=0.1), 0)


def test_the_heldout_tuner_continues_on_all_data_with_a_fresh_rewarmed_optimizer(monkeypatch):
    """The calibration's Adam state describes samples already fitted; the continued run must not
    inherit it (a stale v made the LayerNorm residual net spike after the merge)."""
    calls = []
    real_fit = heldout.fit

    def spy(model, data, **kwargs):
        opt = kwargs.get("optimizer")
        calls.append({"n": int(data[0].shape[0]), "state": len(getattr(opt, "state", {})),
                      "lr": opt.param_groups[0]["lr"] if isinstance(opt, torch.optim.Optimizer) else None,
                      "warm": [type(c).__name__ for c in kwargs.get("callbacks") or []]})
        return real_fit(model, data, **kwargs)

    monkeypatch.setattr(heldout, "fit", spy)
    monkeypatch.setattr(final_run, "fit", spy)   # the run on all the data
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(100, 4, generator=generator)
    y = (X[:, 0] > 0).long()
    # the continued run makes up the split's steps: 120 − 15 · 3 = 75 → 19 epochs of 4 batches, a tenth ≈ 8
    for rewarm, first_lr in [(0.0, 1e-2), (0.1, 1e-2 / 8)]:
        calls.clear()
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
        lt.tune(net, (X, y), likelihood="classification", epochs=30, lr=1e-2, batch_size=25, seed=0, rewarm=rewarm,
                merge_at=0.5, refit=False)   # (given: "auto" shortens the calibrations of this small run)
        *calibrations, merged = calls                    # one calibration per fold (two by default)
        assert [c["n"] for c in calibrations] == [70, 70] and merged["n"] == 100
        assert merged["state"] == 0                      # fresh: nothing carried over
        assert "LinearWarmup" in merged["warm"]
        assert merged["lr"] == pytest.approx(first_lr)


def test_tune_names_a_bad_rewarm():
    X, y = torch.randn(20, 3), torch.randint(0, 2, (20,))
    for bad in (-0.1, 1.5, "0.1", True, float("nan")):
        with pytest.raises(ValueError, match="rewarm"):
            lt.tune(nn.Linear(3, 2), (X, y), epochs=2, rewarm=bad)
    with pytest.raises(ValueError, match=r"rewarm=0.1 re-warms the continued run.* refit=False"):
        lt.tune(nn.Linear(3, 2), (X, y), epochs=2, rewarm=0.1, refit=True)   # a retraining has no continued run
    assert lt.tune(nn.Linear(3, 2), (X, y), epochs=4, rewarm=0.1).info["refit"] is False   # "auto": continued
