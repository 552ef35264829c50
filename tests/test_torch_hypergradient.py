"""lamina.torch.hypergradient against finite differences of an exact inner solution, in both
penalty modes, and the call's side effects (BatchNorm statistics, frozen weights)."""
import numpy as np
import pytest
import torch
from torch import nn

from lamina.torch.hypergradient import hypergradient
from lamina.torch.likelihoods import Classification, Gaussian
from lamina.torch.penalty import Regularizer


class TwoGroups(nn.Module):
    """Two linear groups with an unregularized bias: the ridge inner problem has a closed form."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 1, bias=False)
        self.b = nn.Linear(2, 1)

    def forward(self, x):
        return (self.a(x[:, :3]) + self.b(x[:, 3:])).squeeze(-1)


@pytest.mark.parametrize("mode", ["coupled", "decoupled"])
def test_hypergradient_matches_finite_differences_in_both_modes(mode):
    """Decoupled training (weight decay δ/N) reaches the coupled stationary point, so its Hessian
    holds δ/N too: it used to leave the penalty out (0.0397 / 0.2936 against 0.0375 / 0.2212)."""
    torch.manual_seed(0)
    n, n_val = 60, 40
    X = torch.randn(n + n_val, 5, dtype=torch.float64)
    y = X @ torch.randn(5, dtype=torch.float64) + 0.7 + 0.5 * torch.randn(n + n_val, dtype=torch.float64)
    Xt, yt, Xv, yv = X[:n], y[:n], X[n:], y[n:]
    model, likelihood = TwoGroups().double(), Gaussian()
    mu = {"a.weight": torch.full((1, 3), 0.3, dtype=torch.float64),
          "b.weight": torch.full((1, 2), -0.2, dtype=torch.float64)}
    Z = torch.cat([Xt, torch.ones(n, 1, dtype=torch.float64)], 1)
    mean = torch.cat([mu["a.weight"][0], mu["b.weight"][0], torch.zeros(1, dtype=torch.float64)])

    def load_optimum(delta):
        D = torch.diag(torch.tensor([delta[0]] * 3 + [delta[1]] * 2 + [0.0], dtype=torch.float64))
        theta = torch.linalg.solve(Z.T @ Z + D, Z.T @ yt + D @ mean)
        with torch.no_grad():
            model.a.weight.copy_(theta[:3].view(1, 3))
            model.b.weight.copy_(theta[3:5].view(1, 2))
            model.b.bias.copy_(theta[5:])

    def held_out(delta):
        load_optimum(delta)
        with torch.no_grad():
            return float(likelihood.nll(model(Xv), yv))

    delta, eps = np.array([5.0, 20.0]), 1e-5
    finite = [(held_out(delta * np.exp(eps * e)) - held_out(delta * np.exp(-eps * e))) / (2 * eps)
              for e in np.eye(2)]
    reg = Regularizer(model, n, delta.tolist(), prior_mean=mu, mode=mode)
    load_optimum(delta)
    got = hypergradient(model, reg, likelihood, (Xt, yt), (Xv, yv), solver="cg", n_iter=100)
    np.testing.assert_allclose(got.detach().numpy(), finite, rtol=1e-5)


def test_hypergradient_leaves_batchnorm_statistics_and_frozen_weights_alone():
    """The held-out data are scored in eval mode and never enter the running statistics; two calls
    at the same weights agree; a frozen regularized weight contributes nothing (it raised KeyError)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3), nn.ReLU(), nn.Linear(3, 3))
    reg = Regularizer(net, 32, 1.0)
    net[5].weight.requires_grad_(False)   # frozen after the regularizer was built
    train = (torch.randn(32, 4), torch.randint(0, 3, (32,)))
    val = (torch.randn(16, 4) + 2.0, torch.randint(0, 3, (16,)))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    first = hypergradient(net, reg, Classification(), train, val)
    second = hypergradient(net, reg, Classification(), train, val)
    for key, value in net.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert net.training
    torch.testing.assert_close(first, second)
    assert float(first[-1]) == 0.0   # the frozen last layer's group
