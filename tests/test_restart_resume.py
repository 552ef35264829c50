"""A run re-warming its learning rate (restart's LinearWarmup), killed and resumed from its
checkpoint, continues the warm-up where it stopped."""
import pytest
import torch
from torch import nn

import lamina.torch as lt
from lamina.torch.restart import restart


class _Kill:
    def on_epoch_end(self, epoch, optimizer):
        if epoch == 2:
            raise KeyboardInterrupt


class _Rates:
    def __init__(self, optimizer):
        self.optimizer, self.rates = optimizer, []

    def on_after_backward(self):
        self.rates.append(self.optimizer.param_groups[0]["lr"])


def _run(path, kill=False):
    generator = torch.Generator().manual_seed(0)
    X, y = torch.randn(40, 3, generator=generator), torch.randint(0, 2, (40,), generator=generator)
    torch.manual_seed(1)
    net = nn.Linear(3, 2)
    opt, warm = restart("adam", [{"params": list(net.parameters())}], 0.01, steps=30, fraction=1.0)
    rates = _Rates(opt)
    out = lt.fit(net, (X, y), epochs=6, batch_size=8, optimizer=opt, checkpoint=path, checkpoint_every=1,
                 callbacks=[warm, rates] + ([_Kill()] if kill else []))
    return out, rates.rates


def test_a_warm_up_resumes_where_it_stopped(tmp_path):
    full, full_rates = _run(None)
    path = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        _run(path, kill=True)               # the checkpoint holds epoch 2 (10 steps)
    resumed, rates = _run(path)
    assert rates == pytest.approx(full_rates[10:], rel=1e-12)
    assert max(rates) <= 0.01 * (1 + 1e-12)
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
