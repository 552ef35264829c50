"""The default network tuner (heldout): defects found by a review, each checked here."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import lamina.torch as lt  # noqa: E402


def _classes(n=200, d=5, k=3, seed=0, noise=0.0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = (X @ torch.randn(d, k, generator=g) * 2 + 0.5 * torch.randn(n, k, generator=g)).argmax(1)
    if noise:
        flip = torch.rand(n, generator=g) < noise
        y = torch.where(flip, torch.randint(0, k, (n,), generator=g), y)
    return X, y


def _mlp(h=16, act=nn.ReLU, seed=0, d=5, k=3):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, h), act(), nn.Linear(h, k))


def test_a_state_dict_prior_mean_is_not_moved_by_training():
    """model.state_dict() shares memory with the parameters: the continued run had been pulled
    toward the weights at the merge (0.46 away from the pretrained ones), not toward them."""
    from lamina.torch.fit import fit
    X, y = _classes(300, seed=1)
    torch.manual_seed(0)
    pretrained = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    fit(pretrained, _classes(300, seed=1), epochs=5, lr=1e-2, batch_size=50, seed=5)
    models = []
    for prior in (lambda m: m.state_dict(), lambda m: {k: v.clone() for k, v in m.state_dict().items()}):
        model = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
        model.load_state_dict(pretrained.state_dict())
        lt.tune(model, train=(X, y), epochs=20, lr=1e-2, batch_size=32, seed=0, prior_mean=prior(model))
        models.append(model)
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        assert torch.equal(a, b)


def test_one_common_scale_keeps_the_rule_ratios():
    """With one common scale every δ moves alike, but the freeze was decided per group on
    'moved < −log 4', which two clipped halvings meet up to an ulp: one group froze, the other
    moved on, and the μP ratio of this tanh MLP went from 51.2 to 25.6."""
    X, y = _classes()
    y = torch.where(torch.rand(200, generator=torch.Generator().manual_seed(1)) < 0.3,
                    torch.randint(0, 3, (200,), generator=torch.Generator().manual_seed(2)), y)
    result = lt.tune(_mlp(act=nn.Tanh), train=(X, y), epochs=30, lr=1e-2, batch_size=32, seed=0)
    ratios = [row["2.weight"] / row["0.weight"] for row in result.history["lambdas"]]
    assert result.info["rule"] != "uniform" and np.ptp(ratios) <= 1e-5 * ratios[0]


def test_a_scale_pinned_at_the_end_of_its_range_does_not_freeze_delta():
    """δ started 12× above its optimum: c* sat at the end of its search range (log c* = 0.5) for
    five updates, which the freeze rule read as "no response", and δ stayed at 25 while the
    held-out loss kept asking for less. Starts 10 and 100 now end at the same δ, within 30 %."""
    X, y = _classes(n=300, noise=0.35, seed=0)
    found = {}
    for start in (10.0, 100.0):
        result = lt.tune(_mlp(h=64), train=(X, y), epochs=60, lr=1e-2, batch_size=32, seed=0, delta=start,
                         refit=False)   # a calibration of half the epochs (the retraining's is 0.3)
        found[start] = list(result.lambdas.values())[0]
        assert not result.info["frozen"]
    assert abs(np.log(found[100.0] / found[10.0])) < np.log(1.3)


def test_a_prior_on_a_replaced_head_still_brings_the_uniform_rival():
    """The L2-SP rival ("one scale, rule uniform") ran when the head's entries were left out of
    the prior, and not when they were there with the old head's shape — the same prior."""
    X, y = _classes(k=3)
    pretrained = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    full = {k: v.clone() for k, v in pretrained.state_dict().items()}
    body = {k: v for k, v in full.items() if not k.startswith("4.")}
    chosen = []
    for prior in (full, body):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
        model.load_state_dict({**body, **{k: v for k, v in model.state_dict().items() if k.startswith("4.")}})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = lt.tune(model, train=(X, y), epochs=20, lr=1e-2, batch_size=32, seed=0, prior_mean=prior)
        chosen.append((result.info.get("selection") is not None, result.lambdas))
    assert chosen[0] == chosen[1]


def test_a_prior_left_with_no_anchor_is_dropped_not_an_error():
    """A single Linear whose prior readout predicts no better than a constant: the warning said
    it "is pulled toward 0 instead", then tune raised "prior_mean matches no regularized
    parameter"."""
    X, y = _classes()
    pretrained = nn.Linear(5, 3)
    with torch.no_grad():
        pretrained.weight.mul_(0.0)
    model = nn.Linear(5, 3)
    with pytest.warns(UserWarning, match="pulled toward 0 instead"):
        result = lt.tune(model, train=(X, y), epochs=10, lr=1e-2, batch_size=32, seed=0,
                         prior_mean=pretrained.state_dict())
    assert set(result.lambdas) == {"weight"}


def test_bad_tuner_arguments_name_themselves():
    """δ = 0 had passed and turned tuning and regularization off (14 "updates" of 0); κ < 0
    moved δ the wrong way; merge_at=1 returned a model never trained on the held-out share."""
    X, y = _classes()
    common = dict(train=(X, y), epochs=5, lr=1e-2, batch_size=32, seed=0)
    with pytest.raises(ValueError, match="delta must be finite and > 0"):
        lt.tune(_mlp(), delta=0.0, **common)
    with pytest.raises(ValueError, match="kappa must be > 0"):
        lt.tune(_mlp(), kappa=-1.0, **common)
    with pytest.raises(ValueError, match="max_factor must be > 1"):
        lt.tune(_mlp(), max_factor=1.0, **common)
    with pytest.raises(ValueError, match="merge_at=1 .* refit=True"):
        lt.tune(_mlp(), merge_at=1, refit=False, **common)
    for bad in ("yes", 1, None):
        with pytest.raises(ValueError, match="refit must be \"auto\", True or False"):
            lt.tune(_mlp(), refit=bad, **common)
    assert lt.tune(_mlp(), tuner="fixed", delta=0.0, **common).lambdas
