"""The evidence tuner's noise precision counts the flat-prior parameters, and K-FAC keeps the GGN's
scale for a layer applied at several positions per sample."""
import numpy as np
import torch
from scipy.optimize import minimize
from torch import nn
from torch.func import functional_call, jacrev

from lamina.torch.curvature import GGNCurvature
from lamina.torch.evidence import OnlineEvidence
from lamina.torch.likelihoods import Classification, Gaussian
from lamina.torch.penalty import Regularizer


def test_evidence_fixed_point_is_the_exact_maximizer_with_an_unregularized_intercept():
    """Bayesian linear regression with a flat-prior intercept (centred inputs: K-FAC is exact).
    β = (N − Σγ − 1)/RSS: leaving out the intercept's γ = 1 ended at δ 11.556, β 0.568 against the
    maximizer's 11.896, 0.550."""
    torch.manual_seed(0)
    n, p = 40, 8
    X = torch.randn(n, p, dtype=torch.float64)
    X -= X.mean(0)
    y = X @ (0.5 * torch.randn(p, dtype=torch.float64)) + 1.0 + torch.randn(n, dtype=torch.float64)
    model, likelihood = nn.Linear(p, 1).double(), Gaussian(1.0)
    reg = Regularizer(model, n, 1.0)
    evidence = OnlineEvidence(model, reg, likelihood, structure="kfac", decay=0.5, inner_iterations=1,
                              max_factor=1e6, scale_invariant=None, burn_in=0, update_every=1)
    Z = torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], 1)
    for _ in range(200):   # weights at the exact MAP of the current (δ, β), then one update
        D = torch.diag(torch.tensor([float(reg.delta) / float(likelihood.precision)] * p + [0.0], dtype=torch.float64))
        theta = torch.linalg.solve(Z.T @ Z + D, Z.T @ y)
        with torch.no_grad():
            model.weight.copy_(theta[:p].view(1, p))
            model.bias.copy_(theta[p:])
        for _ in range(3):
            evidence.on_forward(model(X), y.view(-1, 1))
        evidence.update()

    def negative_log_evidence(log_hyper):
        delta, beta = np.exp(log_hyper)
        A = beta * (Z.T @ Z).numpy() + np.diag([delta] * p + [0.0])
        theta = np.linalg.solve(A, beta * (Z.T @ y).numpy())
        r = y.numpy() - Z.numpy() @ theta
        energy = 0.5 * beta * r @ r + 0.5 * delta * theta[:p] @ theta[:p]
        return -(0.5 * n * np.log(beta) + 0.5 * p * np.log(delta) - 0.5 * np.linalg.slogdet(A)[1] - energy)

    best = np.exp(minimize(negative_log_evidence, np.zeros(2), method="Nelder-Mead",
                           options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000}).x)
    np.testing.assert_allclose([float(reg.delta), float(likelihood.precision)], best, rtol=1e-3)


def test_kfac_keeps_the_ggn_scale_for_a_layer_applied_at_every_position():
    """A token-wise Linear on (B, T, d) inputs: its K-FAC factors sum over B·T rows, and dividing
    both by B made the curvature T× too large (Σh / exact trace 6.55 at T = 6)."""
    torch.manual_seed(0)
    n, T, d = 24, 6, 3

    class TokenWise(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2 = nn.Linear(d, 4), nn.Linear(4, 3)

        def forward(self, x):
            return self.l2(torch.tanh(self.l1(x)).mean(1))

    X = torch.randn(n, T, d, dtype=torch.float64)
    net, likelihood = TokenWise().double(), Classification()
    params = {k: v.detach() for k, v in net.named_parameters()}
    exact = 0.0
    for i in range(n):
        def logits(w, i=i):
            return functional_call(net, {**params, "l1.weight": w}, (X[i:i + 1],))[0]
        J = jacrev(logits)(params["l1.weight"]).reshape(3, -1)
        prob = torch.softmax(logits(params["l1.weight"]), -1)
        exact += float(torch.trace(J.T @ (torch.diag(prob) - torch.outer(prob, prob)) @ J))
    curvature = GGNCurvature(net, Regularizer(net, n, 1.0).reg_groups, "kfac", decay=1 - 1 / 1000)
    generator = torch.Generator().manual_seed(1)
    for _ in range(1000):
        out = net(X)
        curvature.accumulate(out, likelihood.sample_output_grad(out, generator))
    ratio = float(curvature.spectra(n)[0].sum()) / exact
    assert 0.8 < ratio < 1.4, ratio


def test_recorded_log_evidence_is_the_exact_one_up_to_a_constant_with_a_flat_prior_intercept():
    """keep_best compares the recorded Laplace log evidence across updates whose β differ: the
    flat-prior intercept's block of the Hessian is β·N, so −½ log det holds −½ log β for it (left
    out, the comparison favoured large β)."""
    torch.manual_seed(1)
    n, p = 40, 6
    X = torch.randn(n, p, dtype=torch.float64)
    X -= X.mean(0)
    y = X @ (0.5 * torch.randn(p, dtype=torch.float64)) + 1.0 + 0.7 * torch.randn(n, dtype=torch.float64)
    model, likelihood = nn.Linear(p, 1).double(), Gaussian(4.0)
    reg = Regularizer(model, n, 0.1)
    evidence = OnlineEvidence(model, reg, likelihood, structure="kfac", decay=0.0, inner_iterations=1,
                              max_factor=1e6, scale_invariant=None, burn_in=0, update_every=1)
    Z = torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], 1).numpy()
    exact, recorded, betas = [], [], []
    for epoch in range(6):   # weights at the MAP of the current (δ, β), then one update
        D = np.diag([float(reg.delta) / float(likelihood.precision)] * p + [0.0])
        theta = np.linalg.solve(Z.T @ Z + D, Z.T @ y.numpy())
        with torch.no_grad():
            model.weight.copy_(torch.as_tensor(theta[:p]).view(1, p))
            model.bias.copy_(torch.as_tensor(theta[p:]))
        evidence.on_forward(model(X), y.view(-1, 1))
        assert evidence.on_epoch_end(epoch)
        delta, beta = float(reg.delta), float(likelihood.precision)   # the record is at the new (δ, β)
        r = y.numpy() - Z @ theta
        A = beta * Z.T @ Z + np.diag([delta] * p + [0.0])
        exact.append(0.5 * n * np.log(beta) - 0.5 * beta * r @ r + 0.5 * p * np.log(delta)
                     - 0.5 * delta * theta[:p] @ theta[:p] - 0.5 * np.linalg.slogdet(A)[1])
        recorded.append(evidence.log_evidence[-1][1])
        betas.append(beta)
    assert np.ptp(np.log(betas)) > 1e-2       # β differs between the records: the term matters
    np.testing.assert_allclose(np.diff(recorded), np.diff(exact), rtol=1e-6, atol=1e-6)   # β is float32
