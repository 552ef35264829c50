"""lamina.torch tuners: evidence vs Bayesian linear regression, hypergradient vs finite
differences, and every method of ``tune`` end to end on small problems."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import lamina.torch as lt  # noqa: E402
from lamina.torch.heldout_budget import continued_epochs  # noqa: E402
from lamina.torch.hypergradient import hypergradient  # noqa: E402
from lamina.torch.likelihoods import Classification, Gaussian  # noqa: E402
from lamina.torch.penalty import Regularizer  # noqa: E402
from lamina.tuners.base import TuneResult  # noqa: E402


def test_evidence_fixed_point_matches_bayesian_ridge():
    from sklearn.linear_model import BayesianRidge
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 0.3]) + 0.5 * rng.standard_normal(200)
    ref = BayesianRidge(fit_intercept=False, tol=1e-10, max_iter=500, alpha_1=0, alpha_2=0,
                        lambda_1=0, lambda_2=0).fit(X, y)
    torch.manual_seed(0)
    net = nn.Linear(5, 1, bias=False)
    result = lt.tune(net, (X, y), likelihood="regression", tuner="evidence", epochs=400, lr=0.05,
                     batch_size=200, burn_in=5, update_every=5, structure="kfac")
    assert result.method == "evidence"
    np.testing.assert_allclose(result.lambdas["weight"], ref.lambda_, rtol=0.03)
    np.testing.assert_allclose(result.info["noise_precision"], ref.alpha_, rtol=0.03)
    np.testing.assert_allclose(net.weight.detach().numpy().ravel(), ref.coef_, atol=2e-3)


class TwoBlocks(nn.Module):
    """y = W₁ x[:, :3] + W₂ x[:, 3:]: two groups, not a Sequential."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 1, bias=False)
        self.b = nn.Linear(4, 1, bias=False)

    def forward(self, x):
        return (self.a(x[:, :3]) + self.b(x[:, 3:])).squeeze(-1)


def _ridge(X, y, deltas, mean=None):
    """argmin 1/(2n) ‖Xc − y‖² + 1/(2n) Σ_g δ_g ‖c_g − μ_g‖² (μ = 0 unless given)."""
    n = X.shape[0]
    penalty = np.diag(np.r_[np.full(3, deltas[0]), np.full(4, deltas[1])])
    mean = np.zeros(X.shape[1]) if mean is None else mean
    return np.linalg.solve(X.T @ X / n + penalty / n, X.T @ y / n + penalty @ mean / n)


@pytest.mark.parametrize("toward", [False, True])
def test_hypergradient_matches_finite_differences(toward):
    """dV/d log δ_g at the ridge solution against central differences of the closed form — also
    toward a prior mean (L2-SP on the first block), where the derivative of the optimum is
    −H⁻¹ (w_g − μ_g)/N, not −H⁻¹ w_g/N."""
    rng = np.random.default_rng(1)
    X, Xv = rng.standard_normal((30, 7)), rng.standard_normal((20, 7))
    w = rng.standard_normal(7)
    y, yv = X @ w + rng.standard_normal(30), Xv @ w + rng.standard_normal(20)
    deltas = np.array([2.0, 5.0])
    net = TwoBlocks().double()
    mean = np.r_[w[:3] + 0.5, np.zeros(4)] if toward else None
    reg = Regularizer(net, 30, deltas, prior_mean={"a.weight": torch.tensor(mean[:3])[None]} if toward else None)
    coef = _ridge(X, y, deltas, mean)
    with torch.no_grad():
        net.a.weight.copy_(torch.tensor(coef[:3])[None])
        net.b.weight.copy_(torch.tensor(coef[3:])[None])
    lik = Gaussian()
    to = dict(dtype=torch.float64)
    train, val = (torch.tensor(X, **to), torch.tensor(y, **to)), (torch.tensor(Xv, **to), torch.tensor(yv, **to))
    for solver, n_iter in (("cg", 20), ("neumann", 400)):
        grad = hypergradient(net, reg, lik, train, val, solver=solver, n_iter=n_iter).numpy()

        def val_nll(d):
            c = _ridge(X, y, d, mean)
            return 0.5 * np.mean((Xv @ c - yv) ** 2)

        eps = 1e-5
        fd = [(val_nll(deltas * np.exp(eps * e)) - val_nll(deltas * np.exp(-eps * e))) / (2 * eps)
              for e in np.eye(2)]
        np.testing.assert_allclose(grad, fd, rtol=1e-4 if solver == "cg" else 1e-2, atol=1e-9)


def test_hypergradient_differentiates_twice_through_fused_attention():
    """nn.TransformerEncoder calls scaled_dot_product_attention, whose fused CPU kernel has no
    double backward: the Hessian products raised "derivative for
    aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented". The
    Hessian's forward runs in the math kernel; the result equals a run wholly in that kernel."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(12, 8)
            self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 1)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.encoder(self.embed(x)).mean(1))

    torch.manual_seed(0)
    X, Xv = torch.randint(0, 12, (24, 5)), torch.randint(0, 12, (16, 5))
    y, yv = (X < 6).sum(1).ge(3).long(), (Xv < 6).sum(1).ge(3).long()
    net = Encoder().double()
    reg = Regularizer(net, 24, 1.0)
    grad = hypergradient(net, reg, Classification(), (X, y), (Xv, yv))
    with sdpa_kernel([SDPBackend.MATH]):
        reference = hypergradient(net, reg, Classification(), (X, y), (Xv, yv))
    assert torch.all(torch.isfinite(grad)) and torch.count_nonzero(grad) == len(reg.names)
    torch.testing.assert_close(grad, reference)


def _digits_subset(n=120):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    return X[:n] / 16.0, y[:n], X[n:n + 200] / 16.0, y[n:n + 200]


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.mark.parametrize("method, options", [
    ("heldout", {}),
    ("heldout", {"refit": False, "merge_at": 0.5, "mode": "decoupled", "optimizer": "adamw"}),
    ("heldout", {"refit": True, "merge_at": 1.0}),
    ("evidence", {}),
    ("evidence", {"structure": "diag", "mode": "decoupled", "optimizer": "adamw"}),
    ("hypergradient", {"burn_in": 4, "update_every": 2}),
    ("fixed", {"rule": "fan_in", "delta": 2.0}),
    ("fixed", {"rule": "alpha_hill"}),
    ("fixed", {"rule": "awd"}),
    ("none", {}),
    pytest.param("cv", {"grid": [0.1, 10.0], "folds": 2}, marks=pytest.mark.slow),
    pytest.param("optuna", {"n_trials": 3, "prune_every": 5}, marks=pytest.mark.slow),
    # more trials than the pruner's 5 start-up trials, checked every epoch: pruned trials happen
    pytest.param("optuna", {"n_trials": 9, "prune_every": 1}, marks=pytest.mark.slow, id="optuna-pruned"),
])
def test_tune_methods_share_one_result_shape(method, options):
    X, y, Xt, yt = _digits_subset()
    net = _mlp()
    before = lt.evaluate(net, (Xt, yt))["nll"]
    result = lt.tune(net, (X, y), tuner=method, epochs=20, lr=1e-2, batch_size=32, **options)
    assert isinstance(result, TuneResult) and result.method == method
    assert set(result.lambdas) == {"0.weight", "2.weight"}
    assert all(np.isfinite(v) and v >= 0 for v in result.lambdas.values())
    assert result.model is net and result.seconds > 0 and result.compute.fits > 0.5
    assert len(result.history["loss"]) >= 1
    assert lt.evaluate(net, (Xt, yt))["nll"] < before
    if method == "none":
        assert set(result.lambdas.values()) == {0.0}
    if method == "evidence":
        assert result.info["n_updates"] >= 1 and len(result.trajectory) == 20
        assert result.trajectory[0] != result.trajectory[-1]
    if method == "heldout":
        assert result.info["n_updates"] >= 1 and result.info["n_val"] == 36
        # 36 held out (< 50): two folds of m epochs each on the 84-sample split; then a retraining
        # of all 20 epochs on the 120 (refit: the default without a prior mean) or the rest of the
        # run's steps on them (an epoch on the split is 3 batches of 32, on all 120 it is 4);
        # "auto" shortens m so that the searches fit the budget too
        refit = options.get("refit", True)
        first, rest = result.info["merge_epoch"], result.info["continued_epochs"]
        assert result.info["refit"] is refit
        assert len(result.trajectory) == first + rest
        if refit:
            assert rest == 20 and first == (20 if options.get("merge_at") == 1.0 else first)
        else:
            assert rest == continued_epochs(20, first, 4 / 3) and first * 3 + rest * 4 in range(78, 83)
        assert result.compute.fits == pytest.approx((2 * first * 0.7 + rest) / 20)
        if "merge_at" not in options:   # "auto": shortened (a given merge_at is kept)
            assert first < 0.3 * 20 and result.info["budget_fits"] <= 1.4


def _small_digits_task(seed):
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[:150], order[150:650]
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    return net, (X[train] / 16.0, y[train]), (X[test] / 16.0, y[test])


def test_default_tuner_costs_at_most_one_and_a_half_fits():
    """The cost goal of the default, counted (not timed): ≤ 1.5 unregularized trainings' worth of
    epochs·samples (45 held-out images: two calibrations on 70 % splits, then a retraining of every
    epoch on all data), and within 1.4 where the held-out searches count too (the calibrations are
    then shortened from 0.3 of the epochs, 9 of 30, to fewer). The continued run (``refit=False``)
    makes up the steps the split's epochs did not make, and the budget counts them."""
    net, train, _ = _small_digits_task(0)
    result = lt.tune(net, train, epochs=30, lr=1e-2, batch_size=64, seed=0)
    baseline = lt.tune(_small_digits_task(0)[0], train, tuner="none", epochs=30, lr=1e-2, batch_size=64, seed=0)
    assert result.method == "heldout" and baseline.compute.fits == 1.0 and result.info["refit"]
    first, rest = result.info["merge_epoch"], result.info["continued_epochs"]
    assert 1 <= first < 9 and rest == 30
    assert result.compute.epochs == first + rest
    assert result.compute.fits <= 1.5 * baseline.compute.fits and result.info["budget_fits"] <= 1.4
    assert result.compute.fits == pytest.approx((2 * first * result.info["n_train"] / 150 + rest) / 30)
    assert len(result.history["loss"]) == first + rest  # the calibration's epochs, then the retraining's

    continued = lt.tune(_small_digits_task(0)[0], train, epochs=30, lr=1e-2, batch_size=64, seed=0, refit=False)
    first, rest = continued.info["merge_epoch"], continued.info["continued_epochs"]   # (105 of 150 samples:
    assert first == 8 and rest == continued_epochs(30, 8, 3 / 2) == 25             # 2 batches of 64, not 3)
    assert continued.compute.fits <= 1.5 and continued.info["budget_fits"] <= 1.4 and not continued.info["refit"]


def test_default_tuner_is_heldout_and_beats_no_regularization():
    """The default tuner must beat the unregularized fit's test NLL (no-reg overfits here)."""
    gains = []
    for seed in (0, 1):
        scores = {}
        for method in (None, "none"):
            net, train, test = _small_digits_task(seed)
            kwargs = {} if method is None else {"tuner": method}
            result = lt.tune(net, train, epochs=200, lr=1e-2, batch_size=64, seed=seed, **kwargs)
            scores[result.method] = lt.evaluate(result.model, test)["nll"]
        assert set(scores) == {"heldout", "none"}
        gains.append(scores["none"] - scores["heldout"])
    assert min(gains) > 0.02, gains


def test_weight_scale_search_finds_the_held_out_optimum():
    from lamina.torch.scale_search import weight_scale_search
    torch.manual_seed(0)
    X = torch.randn(200, 3)
    net = nn.Linear(3, 1, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0, -2.0, 0.5]]))
    y = 0.8 * net(X).squeeze(-1).detach()
    reg = Regularizer(net, 200)
    log_c = weight_scale_search(net, reg, Gaussian(), (X, y[:, None]))
    assert log_c == pytest.approx(np.log(0.8), abs=1e-2)
    assert torch.allclose(net.weight, torch.tensor([[1.0, -2.0, 0.5]]))  # weights restored


def test_heldout_regression_learns_noise_and_accepts_val_and_dataloader():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4)).astype(np.float32)
    y = (X @ np.array([1.0, -1.0, 0.5, 0.0]) + 0.3 * rng.standard_normal(200)).astype(np.float32)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 1), nn.Flatten(0))
    result = lt.tune(net, (X[:150], y[:150]), likelihood="regression", tuner="heldout", epochs=60, lr=1e-2,
                     batch_size=50, val=(X[150:], y[150:]))
    assert result.method == "heldout" and result.info["n_val"] == 50
    assert result.compute.fits == pytest.approx(1.0)  # a given val: one run, no refit
    assert 2.0 < result.info["noise_precision"] < 40.0  # 1/0.3² ≈ 11
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(X), torch.tensor(y)),
                                         batch_size=50)
    out = lt.tune(net, loader, likelihood="regression", tuner="heldout", epochs=10, lr=1e-2, batch_size=50)
    assert out.info["n_train"] == 140 and np.isfinite(list(out.lambdas.values())).all()


def test_evidence_on_batchnorm_cnn_and_dataloader():
    X, y, _, _ = _digits_subset(96)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)
            self.fc = nn.Linear(4 * 4 * 4, 10)

        def forward(self, x):
            h = torch.max_pool2d(self.bn(self.conv(x.view(-1, 1, 8, 8))).relu(), 2)
            return self.fc(h.flatten(1))

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.tensor(X, dtype=torch.float32), torch.tensor(y))
    loader = torch.utils.data.DataLoader(data, batch_size=32, shuffle=True)
    result = lt.tune(Net(), loader, tuner="evidence", epochs=15, lr=1e-2, burn_in=3, update_every=3)
    assert list(result.lambdas) == ["conv.weight", "fc.weight"]
    assert result.info["n_updates"] >= 3
    # conv.weight feeds BatchNorm: scale-invariant, its δ is held; the head's is tuned
    assert result.info["scale_invariant"] == ["conv.weight"]
    assert result.lambdas["conv.weight"] == 1.0 and result.lambdas["fc.weight"] != 1.0
    assert set(result.info["gamma"]) == {"conv.weight", "fc.weight"}


class _ConvBN(nn.Module):
    """conv1 → BatchNorm (scale-invariant), conv2 without normalization, Linear head."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        h = self.bn1(self.conv1(x.view(-1, 1, 8, 8))).relu()
        return self.fc(torch.max_pool2d(self.conv2(h).relu(), 2).flatten(1))


@pytest.mark.parametrize("structure", ["kfac", "diag"])
def test_evidence_holds_delta_of_weights_followed_by_batchnorm(structure):
    """δ = γ/‖w‖² runs away on a weight followed by BatchNorm (f(cW) = f(W): the evidence is flat
    in δ, the decay shrinks ‖w‖ for free); the plain fixed point drives δ_conv1 above 10³ in 30
    epochs here. The tuner must detect exactly conv1 and hold its δ, and still tune the rest."""
    X, y, _, _ = _digits_subset(120)
    torch.manual_seed(0)
    result = lt.tune(_ConvBN(), (X, y), tuner="evidence", epochs=30, lr=1e-2, batch_size=32, burn_in=3,
                     update_every=3, structure=structure)
    assert result.lambdas["conv1.weight"] <= 10.0, result.lambdas  # no runaway (δ starts at 1)
    assert result.info["scale_invariant"] == ["conv1.weight"]
    ratios = result.info["scale_invariance_ratio"]
    assert ratios["conv1.weight"] < 1e-3 and ratios["conv2.weight"] > 0.1 and ratios["fc.weight"] > 0.1
    assert "normalization" in result.info["scale_invariant_reason"]
    assert result.lambdas["conv1.weight"] == 1.0
    assert all(d["conv1.weight"] == 1.0 for d in result.trajectory)
    assert result.info["n_updates"] >= 5
    assert result.lambdas["conv2.weight"] != 1.0 and result.lambdas["fc.weight"] != 1.0
    assert all(np.isfinite(v) for v in result.info["gamma"].values())


def test_scale_invariance_detector_is_general_and_side_effect_free():
    from torch.nn.utils.parametrizations import weight_norm

    from lamina.torch.groups import discover_groups
    from lamina.torch.invariance import scale_invariant_groups
    X = torch.tensor(_digits_subset(64)[0], dtype=torch.float32)
    torch.manual_seed(0)
    nets = {  # LayerNorm/GroupNorm only make a bias-free weight invariant (a bias is not rescaled)
        "layernorm+dropout": (nn.Sequential(nn.Linear(64, 16, bias=False), nn.LayerNorm(16), nn.ReLU(),
                                            nn.Dropout(0.3), nn.Linear(16, 10)), ["0.weight"]),
        "layernorm with bias": (nn.Sequential(nn.Linear(64, 16), nn.LayerNorm(16), nn.ReLU(),
                                              nn.Linear(16, 10)), []),
        "groupnorm": (nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 8, 3, bias=False),
                                    nn.GroupNorm(2, 8), nn.ReLU(), nn.Flatten(), nn.Linear(288, 10)), ["1.weight"]),
        "weight norm": (nn.Sequential(weight_norm(nn.Linear(64, 16)), nn.ReLU(), nn.Linear(16, 10)),
                        ["0.parametrizations.weight.original1"]),
        "plain": (nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)), []),
    }
    for label, (net, expected) in nets.items():
        net.train()
        groups = [g for g in discover_groups(net) if g.regularized]
        assert scale_invariant_groups(net, groups, (X,)) == expected, label
    net = _ConvBN().train()
    running, rng = net.bn1.running_mean.clone(), torch.random.get_rng_state()
    groups = [g for g in discover_groups(net) if g.regularized]
    assert scale_invariant_groups(net, groups, (X,)) == ["conv1.weight"]
    assert torch.equal(net.bn1.running_mean, running) and int(net.bn1.num_batches_tracked) == 0
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_l1_training_reports_sparsity():
    X, y, _, _ = _digits_subset()
    net = _mlp()
    reg = Regularizer(net, len(X), 20.0, penalty="l1")
    lt.fit(net, (X, y), epochs=10, lr=1e-2, batch_size=32, regularizer=reg)
    sparsity = reg.sparsity()
    assert sparsity["0.weight"] > 0.1
    zeros = float((net[0].weight == 0).double().mean())
    assert sparsity["0.weight"] == pytest.approx(zeros)


@pytest.mark.slow
def test_optuna_prunes_and_counts_the_epochs_of_pruned_trials():
    X, y, _, _ = _digits_subset()
    result = lt.tune(_mlp(), (X, y), tuner="optuna", epochs=12, lr=1e-2, batch_size=32, n_trials=10,
                     prune_every=1, low=1e-3, high=1e4)
    assert result.info["n_trials"] == 10 and result.info["pruned"] >= 1
    # every pruned trial ran fewer than its 12 epochs; the refit adds 12
    assert 12 < result.compute.epochs < 10 * 12 + 12


def test_evidence_along_identified_directions_keeps_the_rule_split_on_a_relu_chain():
    """On a ReLU chain only the product of the δ is identified: with per_direction the evidence
    moves the common scale only (the uniform rule's equal δ stay equal), while the plain fixed
    point lets the δ drift apart along the rescaling ridge."""
    torch.manual_seed(0)
    X = torch.randn(160, 6)
    y = (X[:, 0] + X[:, 1] > 0).long()

    def net():
        torch.manual_seed(1)
        return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 2))

    kwargs = dict(tuner="evidence", epochs=40, lr=1e-2, batch_size=32, burn_in=5, update_every=5)
    along = np.array(list(lt.tune(net(), (X, y), per_direction=True, **kwargs).lambdas.values()))
    plain = np.array(list(lt.tune(net(), (X, y), **kwargs).lambdas.values()))
    assert np.allclose(along, along[0], rtol=1e-4) and not np.isclose(along[0], 1.0)
    assert np.max(plain) / np.min(plain) > 2.0
    with pytest.raises(ValueError, match="directions"):
        lt.tune(net(), (X, y), directions=np.ones((1, 2)), **kwargs)



def test_evidence_per_direction_warns_where_no_direction_is_identified():
    """Before every Linear a LayerNorm with its own gain: each δ's direction is flat (the weight
    and bias rescale freely, or the gain absorbs the scale), so ``per_direction=True`` froze δ at
    its start, silently (28 % higher RMSE than the plain evidence on a LayerNorm MLP)."""
    torch.manual_seed(0)
    X = torch.randn(96, 5)
    y = X[:, 0] - X[:, 1]
    net = nn.Sequential(nn.Linear(5, 16), nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 16), nn.LayerNorm(16),
                        nn.ReLU(), nn.Linear(16, 1))
    kwargs = dict(likelihood="regression", tuner="evidence", epochs=6, lr=1e-2, batch_size=32, burn_in=2,
                  update_every=2)
    with pytest.warns(RuntimeWarning, match="no direction of log δ is identified"):
        result = lt.tune(net, (X, y), per_direction=True, **kwargs)
    assert np.allclose(list(result.lambdas.values()), 1.0)
    chain = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="per_direction")
        lt.tune(chain, (X, y), per_direction=True, **kwargs)

def test_hypergradient_tunes_a_short_run_and_warns_when_it_cannot():
    """burn_in was 20 epochs whatever the run's length: tune(tuner="hypergradient", epochs=12)
    returned the rule's δ untouched, silently."""
    X, y, _, _ = _digits_subset(120)
    result = lt.tune(_mlp(), (X, y), tuner="hypergradient", epochs=12, lr=1e-2, batch_size=64, seed=0)
    assert result.info["n_updates"] == 12 and len(set(result.lambdas.values())) > 1
    with pytest.warns(RuntimeWarning, match="no update"):
        lt.tune(_mlp(), (X, y), tuner="hypergradient", epochs=12, lr=1e-2, batch_size=64, seed=0, burn_in=20)


def test_an_adaptive_rule_only_starts_the_evidence_tuner():
    """rule="awd" with the evidence tuner: the rule's callback had reset δ = δ₀ · s every 5
    epochs between the evidence's updates (epoch 15 of this run: (0.91, 1.18) between evidence
    values (2.69, 2.21) and (2.58, 1.73)); δ now changes only when the evidence updates, at the
    same epochs as with the uniform start."""
    torch.manual_seed(0)
    X = torch.randn(200, 4)
    y = (X[:, 0] * X[:, 1] + 0.3 * X[:, 2] > 0).long()
    changed = {}
    for rule in ("uniform", "awd"):
        torch.manual_seed(1)
        net = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2))
        result = lt.tune(net, (X, y), tuner="evidence", rule=rule, epochs=40, lr=1e-2, batch_size=50, seed=0,
                         keep_best=False, burn_in=10, update_every=3)
        history = result.history["lambdas"]
        changed[rule] = [e for e in range(1, len(history)) if history[e] != history[e - 1]]
        assert result.lambdas == history[-1]
    assert changed["awd"] == changed["uniform"] and len(changed["uniform"]) >= 8


def test_cv_baseline_refuses_non_finite_targets_and_says_when_every_point_diverged():
    """tune_cv answered numpy's 'All-NaN slice encountered' for a NaN target and for a grid
    whose every fit diverged (OptunaSearch says 'no trial completed' for the latter)."""
    from lamina.torch.baselines import tune_cv
    torch.manual_seed(0)
    X, y = torch.randn(12, 2), torch.randn(12)
    bad = y.clone()
    bad[3] = float("nan")
    net = lambda: nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))  # noqa: E731
    with pytest.raises(ValueError, match="targets y contain NaN or inf"):
        tune_cv(net(), (X, bad), Gaussian(), lt.Recipe(epochs=1, batch_size=4), grid=[1.0], folds=3)
    with pytest.raises(RuntimeError, match="every grid point diverged"):
        tune_cv(net(), (X, y), Gaussian(), lt.Recipe(epochs=3, lr=1e12, batch_size=4, optimizer="sgd"),
                grid=[0.1, 1.0], folds=3)
