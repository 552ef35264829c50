"""fit's checkpoints: a run killed mid-way and resumed ends as the uninterrupted run; a checkpoint
of another model or recipe is refused."""
import pytest
import torch
from torch import nn

import lamina.torch as lt
from lamina.torch.penalty import Regularizer


class _Kill:
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, epoch, optimizer):
        if epoch == self.epoch:
            raise KeyboardInterrupt


def _run(path, setting, kill=None):
    generator = torch.Generator().manual_seed(0)
    X, y = torch.randn(40, 3, generator=generator), torch.randint(0, 2, (40,), generator=generator)
    Xv, yv = torch.randn(20, 3, generator=generator), torch.randint(0, 2, (20,), generator=generator)
    dtype = torch.float64 if setting == "float64" else torch.float32
    torch.manual_seed(1)
    layers = [nn.Linear(3, 8), nn.ReLU()] + ([nn.Dropout(0.3)] if setting == "dropout" else []) + [nn.Linear(8, 2)]
    net = nn.Sequential(*layers).to(dtype)
    val = (Xv.to(dtype), yv) if setting == "val" else None
    return lt.fit(net, (X.to(dtype), y), epochs=8, lr=1e-2, batch_size=16, regularizer=Regularizer(net, 40, 0.5),
                  checkpoint=path, checkpoint_every=2, callbacks=[] if kill is None else [_Kill(kill)],
                  val=val, eval_every=1, patience=20 if val is not None else None)


@pytest.mark.parametrize("setting", ["dropout", "float64", "val"])
def test_a_run_killed_and_resumed_ends_as_the_uninterrupted_run(setting, tmp_path):
    full = _run(None, setting)
    path = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        _run(path, setting, kill=4)          # dies after epoch 5; the checkpoint holds epoch 4
    resumed = _run(path, setting)
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    assert resumed.history["loss"] == full.history["loss"]
    assert resumed.history.get("val_nll") == full.history.get("val_nll")
    assert resumed.history["lambdas"] == full.history["lambdas"]


def test_an_early_stopped_run_run_again_returns_the_same_model(tmp_path):
    torch.manual_seed(0)
    X, y = torch.randn(60, 4), torch.randint(0, 3, (60,))

    def run(path):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 3))
        return lt.fit(net, (X[:30], y[:30]), epochs=200, lr=3e-2, val=(X[30:], y[30:]), patience=3, eval_every=2,
                      checkpoint=path)

    path = tmp_path / "ckpt.pt"
    first = run(path)
    again = run(path)                        # the checkpoint of the stopped run is resumed
    assert first.stopped_early and again.stopped_early and again.epochs == first.epochs
    for a, b in zip(first.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)


def test_a_checkpoint_of_another_recipe_or_model_is_refused(tmp_path):
    X, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    path = tmp_path / "ckpt.pt"
    lt.fit(nn.Linear(3, 2), (X, y), epochs=2, lr=1e-2, checkpoint=path)
    with pytest.raises(ValueError, match="another model or recipe.*lr"):
        lt.fit(nn.Linear(3, 2), (X, y), epochs=4, lr=0.5, checkpoint=path)
    with pytest.raises(ValueError, match="another model or recipe.*optimizer"):
        lt.fit(nn.Linear(3, 2), (X, y), epochs=4, lr=1e-2, optimizer="sgd", checkpoint=path)
    with pytest.raises(ValueError, match="another model or recipe.*parameters"):
        lt.fit(nn.Linear(3, 5), (X, y), epochs=4, lr=1e-2, checkpoint=path)
    out = lt.fit(nn.Linear(3, 2), (X, y), epochs=4, lr=1e-2, checkpoint=path)   # the same recipe, extended
    assert out.epochs == 4 and len(out.history["loss"]) == 4


def test_a_checkpoint_past_the_requested_epochs_is_refused_naming_epochs(tmp_path):
    X, y = torch.randn(40, 3), torch.randint(0, 2, (40,))
    path = tmp_path / "ckpt.pt"
    lt.fit(nn.Linear(3, 2), (X, y), epochs=4, lr=1e-2, checkpoint=path)
    net = nn.Linear(3, 2)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"epochs=2 .*4 epochs"):
        lt.fit(net, (X, y), epochs=2, lr=1e-2, checkpoint=path)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))   # refused before loading
    again = lt.fit(nn.Linear(3, 2), (X, y), epochs=4, lr=1e-2, checkpoint=path)   # the finished run, as it was
    assert again.epochs == 4 and len(again.history["loss"]) == 4


def test_a_checkpoint_written_on_other_data_of_the_same_size_is_refused_naming_it(tmp_path):
    """N alone matched before: a checkpoint of other (X, y) of the same size was resumed silently.
    The recipe now holds a hash of a few rows and checksums of X and y; the same data still resumes."""
    generator = torch.Generator().manual_seed(0)
    X, y = torch.randn(40, 3, generator=generator), torch.randint(0, 2, (40,), generator=generator)
    path = tmp_path / "ckpt.pt"
    first = lt.fit(nn.Linear(3, 2), (X, y), epochs=2, lr=1e-2, checkpoint=path)
    other_x, other_y = X.clone(), y.clone()
    other_x[20, 1] += 1.0                    # a row the hash does not read (0, 6, 11, 17, …): the sum
    other_y[5] = 1 - other_y[5]
    for data in ((other_x, y), (X, other_y), (torch.randn(40, 3, generator=generator), y)):
        net = nn.Linear(3, 2)
        before = [p.detach().clone() for p in net.parameters()]
        with pytest.raises(ValueError, match=r"checkpoint '.*ckpt\.pt' was written by another model or recipe \(data:"):
            lt.fit(net, data, epochs=4, lr=1e-2, checkpoint=path)
        assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))   # refused before loading
    out = lt.fit(nn.Linear(3, 2), (X.clone(), y.clone()), epochs=4, lr=1e-2, checkpoint=path)   # same data: resumed
    assert out.epochs == 4 and out.history["loss"][:2] == first.history["loss"]


def test_a_checkpoint_resumes_on_the_same_data_in_another_memory_layout(tmp_path):
    """The fingerprint held the float sum of X, whose digits on centred float64 data are rounding
    error that changes with the summation order: the same values column-major (as
    ``DataFrame.to_numpy()`` returns them), or summed by another number of threads, were refused as
    other data. The checksum of the values' bit patterns is the same in any order."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.standard_normal((4000, 8))
    X = (X - X.mean(0)) / X.std(0)           # standardized features: their sum is ~1e-14
    y = X[:, :1] + 0.1 * rng.standard_normal((4000, 1))
    path = tmp_path / "ckpt.pt"

    def run(features, epochs):
        torch.manual_seed(0)
        return lt.fit(nn.Linear(8, 1).double(), (features, y), likelihood="regression", epochs=epochs, lr=1e-2,
                      batch_size=1000, checkpoint=path)

    first = run(np.ascontiguousarray(X), 1)
    out = run(np.asfortranarray(X), 2)       # the same values, column-major: resumed
    assert out.epochs == 2 and out.history["loss"][:1] == first.history["loss"]
