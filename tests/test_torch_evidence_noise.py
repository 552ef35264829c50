"""The evidence tuner's noise precision with and without the flat-prior parameters (count_free),
and K-FAC keeps the GGN's scale for a layer applied at several positions per sample."""
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
                              max_factor=1e6, scale_invariant=None, burn_in=0, update_every=1,
                              count_free=True)
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


def test_a_network_s_biases_are_not_counted_in_the_noise_by_default():
    """A ReLU MLP with 101 biases on 150 samples (noise precision 4): counting every bias as a
    degree of freedom (count_free=True, exact for a centred linear model above) leaves the noise
    almost none and β far too small; the default does not count them."""
    import lamina.torch as lt
    g = torch.Generator().manual_seed(0)

    def sample(n):
        X = torch.randn(n, 5, generator=g)
        return X, torch.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2] + 0.5 * torch.randn(n, generator=g)

    train, test = sample(150), sample(2000)
    betas, nlls = [], []
    for count_free in (False, True):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(5, 50), nn.ReLU(), nn.Linear(50, 50), nn.ReLU(), nn.Linear(50, 1), nn.Flatten(0))
        result = lt.tune(net, train, likelihood="regression", tuner="evidence", epochs=150, lr=3e-3, batch_size=64,
                         seed=0, count_free=count_free)
        betas.append(result.info["noise_precision"])
        nlls.append(lt.evaluate(result.model, test, lt.Gaussian(betas[-1]))["nll"])
    assert 1.0 < betas[0] < 4.0 and betas[1] < betas[0] / 3, betas
    assert nlls[0] < nlls[1] - 0.3, nlls


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
                              max_factor=1e6, scale_invariant=None, burn_in=0, update_every=1,
                              count_free=True)
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


class _Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(4, 8)
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        h = self.embed(x)
        h, _ = self.attention(h, h, h)
        return self.head(h.mean(1))


def test_curvature_reaches_the_attention_output_projection_whose_hook_never_fires():
    """nn.MultiheadAttention reads out_proj.weight without calling out_proj, so its forward hook
    never fired: its group never had curvature, ready() stayed False and the evidence tuner never
    updated any δ (n_updates 0). Its group now gets the diagonal GGN from the parameter gradient,
    equal to the exact diagonal (one sampled gradient per output class summed = the GGN's)."""
    torch.manual_seed(0)
    X = torch.randn(16, 5, 4, dtype=torch.float64)
    net, likelihood = _Attention().double(), Classification()
    groups = Regularizer(net, len(X), 1.0).reg_groups
    curvature = GGNCurvature(net, groups, "kfac", decay=1 - 1 / 400)
    generator = torch.Generator().manual_seed(1)
    for _ in range(400):
        out = net(X)
        curvature.accumulate(out, likelihood.sample_output_grad(out, generator))
    assert curvature.ready()
    k = [g.name for g in groups].index("attention.out_proj.weight")
    params = {name: v.detach() for name, v in net.named_parameters()}
    w = params["attention.out_proj.weight"]
    exact = torch.zeros_like(w)
    for i in range(len(X)):
        def logits(v, i=i):
            return functional_call(net, {**params, "attention.out_proj.weight": v}, (X[i:i + 1],))[0]
        J = jacrev(logits)(w).reshape(3, -1)
        prob = torch.softmax(logits(w), -1)
        exact += torch.diagonal(J.T @ (torch.diag(prob) - torch.outer(prob, prob)) @ J).reshape(w.shape)
    estimate = curvature.spectra(len(X))[k].reshape(w.shape)
    ratio = float(estimate.sum() / exact.sum())
    correlation = float(torch.corrcoef(torch.stack([estimate.flatten(), exact.flatten()]))[0, 1])
    assert 0.85 < ratio < 1.15, ratio
    assert correlation > 0.9, correlation


def test_evidence_updates_every_group_of_an_attention_model():
    torch.manual_seed(0)
    X, y = torch.randn(64, 5, 4), torch.randint(0, 3, (64,))
    net = _Attention()
    reg = Regularizer(net, len(X), 1.0)
    evidence = OnlineEvidence(net, reg, Classification(), burn_in=1, update_every=1)
    for epoch in range(3):
        evidence.on_forward(net(X), y)
        evidence.on_epoch_end(epoch)
    assert evidence.n_updates == 3
    assert np.all(reg.delta.numpy() != 1.0), reg.delta


def test_evidence_survives_a_group_frozen_after_the_regularizer_was_built():
    """Freezing a layer after the Regularizer was built made autograd.grad raise (a target without
    grad); now the frozen group keeps the curvature it had (none here: its prior alone) and the
    others update."""
    torch.manual_seed(0)
    X, y = torch.randn(64, 1, 8), torch.randint(0, 3, (64,))
    net = nn.Sequential(nn.Conv1d(1, 4, 3), nn.Tanh(), nn.Conv1d(4, 4, 3), nn.Tanh(), nn.Flatten(),
                        nn.Linear(16, 3))
    reg = Regularizer(net, len(X), 1.0)
    evidence = OnlineEvidence(net, reg, Classification(), burn_in=1, update_every=1, scale_invariant=None)
    net[2].weight.requires_grad_(False)
    for epoch in range(3):
        evidence.on_forward(net(X), y)
        evidence.on_epoch_end(epoch)
    assert evidence.n_updates == 3
    delta = dict(zip(reg.names, reg.delta.tolist()))
    assert delta["0.weight"] != 1.0 and delta["5.weight"] != 1.0


def test_every_dimension_after_the_batch_is_an_output_of_a_regression():
    """The same data and linear model with outputs shaped (B, 2) and (B, 2, 1) (two positions of
    one output): the training loss and the evidence tuner's δ and β agree. With only the last
    dimension counted as outputs, the loss was averaged over positions and β came out 2 × too
    small (2.32 against MacKay's closed form 4.78, the (B, 2) run's)."""
    import lamina.torch as lt
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 4))
    Y = X @ rng.normal(size=(2, 4)).T + 0.5 * rng.normal(size=(150, 2))

    class Positions(nn.Module):
        def __init__(self, positions_axis):
            super().__init__()
            self.linear, self.positions_axis = nn.Linear(4, 2, bias=False), positions_axis

        def forward(self, x):
            out = self.linear(x)
            return out.unsqueeze(-1) if self.positions_axis else out

    likelihood = Gaussian()
    zeros, ones = torch.zeros(3, 2), torch.ones(3, 2)
    assert float(likelihood.loss(zeros, ones)) == float(likelihood.loss(zeros[..., None], ones[..., None])) == 1.0
    assert float(likelihood.nll(zeros, ones)) == float(likelihood.nll(zeros[..., None], ones[..., None]))
    found = []
    for positions_axis in (False, True):
        torch.manual_seed(0)
        y = torch.tensor(Y, dtype=torch.float32)
        result = lt.tune(Positions(positions_axis), (torch.tensor(X, dtype=torch.float32),
                                                     y[..., None] if positions_axis else y),
                         likelihood="regression", tuner="evidence", epochs=150, lr=0.05, batch_size=150, seed=0)
        found.append((result.lambdas["linear.weight"], result.info["noise_precision"]))
    delta, beta = 1.0, 1.0     # MacKay's fixed point, 2N observations sharing δ and β
    eig, XtY = np.linalg.eigvalsh(X.T @ X), X.T @ Y
    for _ in range(2000):
        W = np.linalg.solve(delta / beta * np.eye(4) + X.T @ X, XtY)
        gamma = 2 * np.sum(beta * eig / (beta * eig + delta))
        delta, beta = gamma / np.sum(W ** 2), (300 - gamma) / np.sum((Y - X @ W) ** 2)
    np.testing.assert_allclose(found[1], found[0], rtol=1e-3)
    np.testing.assert_allclose(found[0], [delta, beta], rtol=2e-2)


class _Tied(nn.Module):
    """Two Linear modules sharing one weight (tied)."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 3)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.out(torch.tanh(self.b(torch.tanh(self.a(x)))))


class _Twice(nn.Module):
    """One Linear module called twice per forward."""

    def __init__(self):
        super().__init__()
        self.a, self.out = nn.Linear(4, 4), nn.Linear(4, 3)

    def forward(self, x):
        return self.out(torch.tanh(self.a(torch.tanh(self.a(x)))))


def _exact_ggn_trace(net, X, name):
    params = {k: v.detach() for k, v in net.named_parameters()}
    total = 0.0
    for i in range(len(X)):
        def logits(w, i=i):
            return functional_call(net, {**params, name: w}, (X[i:i + 1],))[0]
        J = jacrev(logits)(params[name]).reshape(3, -1)
        prob = torch.softmax(logits(params[name]), -1)
        total += float(torch.trace(J.T @ (torch.diag(prob) - torch.outer(prob, prob)) @ J))
    return total


def test_curvature_of_a_weight_used_twice_sums_its_uses():
    """A weight tied between two Linear modules had the curvature of its last holder's use only
    (trace 2.11 for an exact 3.86); a Linear called twice per forward had K-FAC-expand's A ⊗ G,
    2.2 × the exact GGN (13.39 against 6.00). Both now take the parameter-gradient diagonal,
    which back-propagates through every use."""
    torch.manual_seed(0)
    X = torch.randn(12, 4, dtype=torch.float64)
    for make in (_Tied, _Twice):
        net, likelihood = make().double(), Classification()
        groups = Regularizer(net, len(X), 1.0).reg_groups
        exact = _exact_ggn_trace(net, X, "a.weight")
        for structure in ("kfac", "diag"):
            curvature = GGNCurvature(net, groups, structure, decay=1 - 1 / 1500)
            generator = torch.Generator().manual_seed(1)
            for _ in range(1500):
                out = net(X)
                curvature.accumulate(out, likelihood.sample_output_grad(out, generator))
            k = [g.name for g in groups].index("a.weight")
            ratio = float(curvature.spectra(len(X))[k].sum()) / exact
            assert 0.9 < ratio < 1.1, (make.__name__, structure, ratio)
            curvature.remove()
