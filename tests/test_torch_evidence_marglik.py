"""The evidence tuner's Laplace log evidence: its stationary point is MacKay's fixed point, the
weights returned are those of the highest evidence seen, and the burn-in follows the epochs."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from scipy.optimize import minimize_scalar  # noqa: E402
from torch import nn  # noqa: E402

import lamina.torch as lt  # noqa: E402
from lamina.torch.curvature import gamma_diag  # noqa: E402
from lamina.torch.evidence import laplace_log_evidence  # noqa: E402


def test_log_evidence_is_maximal_at_the_mackay_fixed_point():
    """At fixed weights and curvature, argmax_δ log p(D | δ) solves δ = γ(δ)/‖w‖² (per group)."""
    rng = np.random.default_rng(0)
    spectra = [rng.gamma(0.5, 20.0, size=40), rng.gamma(0.5, 2.0, size=15)]
    norms = np.array([3.0, 0.7])
    delta = np.ones(2)
    for _ in range(500):
        gamma = np.array([float(gamma_diag(torch.tensor(h), torch.tensor(d))) for h, d in zip(spectra, delta)])
        delta = gamma / norms
    for g in range(2):
        def negative(log_d, g=g):
            d = delta.copy()
            d[g] = np.exp(log_d)
            return -laplace_log_evidence(0.0, d, norms, spectra)
        best = minimize_scalar(negative, bounds=(-10, 10), method="bounded", options={"xatol": 1e-10})
        np.testing.assert_allclose(np.exp(best.x), delta[g], rtol=1e-4)


def _task():
    torch.manual_seed(0)
    X = torch.randn(200, 8)
    y = (X[:, 0] - X[:, 1] + 0.5 * X[:, 2] > 0).long()
    return X, y


def _net():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))


def test_returns_the_weights_of_the_highest_log_evidence():
    X, y = _task()
    kwargs = dict(tuner="evidence", lr=1e-2, batch_size=50, burn_in=5, update_every=5, seed=3)
    kept = lt.tune(_net(), (X, y), epochs=60, **kwargs)
    trace = kept.info["log_evidence"]
    assert len(trace) == kept.info["n_updates"] == 12
    epochs, values = zip(*trace)
    best = int(np.argmax(values))
    assert kept.info["best_epoch"] == epochs[best] and kept.info["best_log_evidence"] == pytest.approx(values[best])
    # the same run stopped right after that update: identical weights and δ
    stopped = lt.tune(_net(), (X, y), epochs=epochs[best] + 1, keep_best=False, **kwargs)
    for a, b in zip(kept.model.parameters(), stopped.model.parameters()):
        torch.testing.assert_close(a, b)
    assert kept.lambdas == pytest.approx(stopped.lambdas)
    last = lt.tune(_net(), (X, y), epochs=60, keep_best=False, **kwargs)
    assert "best_epoch" not in last.info and len(last.info["log_evidence"]) == 12
    if epochs[best] != 59:
        assert any(not torch.equal(a, b) for a, b in zip(kept.model.parameters(), last.model.parameters()))


def test_the_final_weights_are_ranked_where_no_update_falls_on_the_last_epoch():
    """A 5-epoch regression returned the weights of its first epoch (its only update), whatever the
    four epochs after it had learned: the final weights' evidence at their δ is recorded too."""
    torch.manual_seed(0)
    X = torch.randn(300, 5)
    y = torch.sin(X @ torch.randn(5))
    records = []
    for epochs in (5, 8):
        torch.manual_seed(1)
        net = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1))
        result = lt.tune(net, (X, y), likelihood="regression", epochs=epochs, seed=0)
        records.append([e for e, _ in result.info["log_evidence"]])
        assert result.info["n_updates"] == len(records[-1]) - 1   # the final record is no update
        assert result.info["best_epoch"] == epochs - 1   # the most trained weights: returned
        torch.manual_seed(1)
        last = lt.tune(nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1)), (X, y),
                       likelihood="regression", epochs=epochs, seed=0, keep_best=False)
        for a, b in zip(result.model.parameters(), last.model.parameters()):
            torch.testing.assert_close(a, b)
    assert records == [[0, 4], [0, 5, 7]]


def test_burn_in_defaults_to_a_sixth_of_the_epochs():
    X, y = _task()
    result = lt.tune(_net(), (X, y), tuner="evidence", epochs=36, lr=1e-2, batch_size=50, update_every=5)
    assert result.info["log_evidence"][0][0] == 36 // 6 - 1  # first update after 6 epochs (0-based 5)
    assert [e for e, _ in result.info["log_evidence"]] == list(range(5, 36, 5))


def test_regularize_bias_gives_each_bias_its_own_delta():
    X, y = _task()
    result = lt.tune(_net(), (X, y), tuner="evidence", epochs=12, lr=1e-2, batch_size=50, burn_in=2,
                     update_every=2, regularize_bias=True)
    assert set(result.lambdas) == {f"{i}.{kind}" for i in (0, 2, 4) for kind in ("weight", "bias")}
    assert all(np.isfinite(v) and v > 0 for v in result.lambdas.values())
    with pytest.raises(TypeError, match="regularize_bias"):
        lt.tune(_net(), (X, y), tuner="fixed", epochs=2, regularize_bias=True)


def test_gaussian_evidence_is_highest_at_the_converged_fixed_point():
    """On a linear-Gaussian model the Laplace evidence is exact and the fixed point maximizes it:
    the evidence kept is the last one (the curvature is scaled by the current β, not a stale one)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 0.3]) + 0.5 * rng.standard_normal(200)
    torch.manual_seed(0)
    result = lt.tune(nn.Linear(5, 1, bias=False), (X, y), likelihood="regression", tuner="evidence", epochs=400,
                     lr=0.05, batch_size=200, burn_in=5, update_every=5)
    values = [v for _, v in result.info["log_evidence"]]
    assert result.info["best_log_evidence"] == pytest.approx(values[-1], abs=1e-3)
    assert values[-1] - values[len(values) // 4] > 0
