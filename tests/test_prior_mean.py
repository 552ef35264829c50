"""Prior means per group (L2-SP: δ_g ‖W_g − μ_g‖²) in coupled and decoupled modes, and the
held-out tuner's search along the identified directions of log δ."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import lamina.torch as lt  # noqa: E402
from lamina.torch.heldout_budget import calibration_epochs, continued_epochs, search_steps  # noqa: E402
from lamina.torch.scale_search import HeldoutScale, passes_per_update  # noqa: E402
from lamina.torch.likelihoods import Classification  # noqa: E402
from lamina.torch.penalty import Regularizer  # noqa: E402


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))


def test_penalty_pulls_each_group_toward_its_mean():
    net = _net()
    pretrained = {k: v + 0.5 for k, v in _net(1).state_dict().items()}
    head_free = {k: v for k, v in pretrained.items() if not k.startswith("2.")}
    reg = Regularizer(net, 10, [2.0, 3.0], prior_mean=head_free)   # biases in the dict: ignored
    expected = (2.0 * (net[0].weight - pretrained["0.weight"]).pow(2).sum()
                + 3.0 * net[2].weight.pow(2).sum()) / (2 * 10)
    torch.testing.assert_close(reg.penalty(), expected)
    assert reg.has_prior_mean and not Regularizer(net, 10).has_prior_mean
    torch.testing.assert_close(reg.sq_distances()[1], net[2].weight.pow(2).sum())


@pytest.mark.parametrize("with_mean", [False, True])
def test_the_gradient_added_without_autograd_is_the_penalty_s_gradient(with_mean):
    """fit adds the coupled L2 gradient after backward (Regularizer.add_gradient) instead of
    differentiating loss + penalty(): same gradient, same value; a frozen weight gets none, and a
    weight the loss does not reach gets the penalty's alone."""
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3), nn.ReLU(), nn.Linear(3, 2))
    means = {k: v + 0.3 for k, v in _net(1).state_dict().items() if k == "0.weight"} if with_mean else None
    reg = Regularizer(net, 10, [0.5, 2.0, 7.0], prior_mean=means)
    X, y = torch.randn(10, 4), torch.randint(0, 2, (10,))
    net[4].weight.requires_grad_(False)
    (nn.functional.cross_entropy(net(X), y) + reg.penalty()).backward()
    expected = {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}
    net.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(net(X), y)
    loss.backward()
    value = reg.add_gradient()
    torch.testing.assert_close(value, reg.penalty().detach())
    assert net[4].weight.grad is None
    for name, p in net.named_parameters():
        if p.requires_grad:
            torch.testing.assert_close(p.grad, expected[name])
    net.zero_grad(set_to_none=True)
    reg.add_gradient()   # no backward: only the penalty's gradient
    torch.testing.assert_close(net[2].weight.grad, 2.0 / 10 * net[2].weight.detach())
    assert net[0].bias.grad is None
    reg.set_deltas([1.0, 1.0, 1.0])   # δ changed: the coefficients follow
    net.zero_grad(set_to_none=True)
    reg.add_gradient()
    torch.testing.assert_close(net[2].weight.grad, 1.0 / 10 * net[2].weight.detach())
    assert float(Regularizer(net, 10, mode="decoupled").add_gradient()) == 0.0


def test_the_direct_gradient_adds_to_a_sparse_embedding_gradient_as_autograd_did():
    class Bag(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed, self.head = nn.Embedding(20, 8, sparse=True), nn.Linear(8, 3)

        def forward(self, x):
            return self.head(self.embed(x).mean(1))

    torch.manual_seed(0)
    net, X, y = Bag(), torch.randint(0, 20, (30, 4)), torch.randint(0, 3, (30,))
    reg = Regularizer(net, 30, [0.5, 2.0])
    (nn.functional.cross_entropy(net(X), y) + reg.penalty()).backward()
    expected = net.embed.weight.grad.to_dense().clone()
    net.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(net(X), y).backward()
    assert net.embed.weight.grad.is_sparse
    reg.add_gradient()
    torch.testing.assert_close(net.embed.weight.grad.to_dense(), expected)
    result = lt.fit(net, (X, y), epochs=2, regularizer=reg)   # Adam on the dense sum, as before
    assert np.all(np.isfinite(result.history["loss"]))


def test_bad_prior_means_get_clear_errors():
    net = _net()
    with pytest.raises(ValueError, match=r"prior_mean\['2.weight'\] has shape .* no entry of prior_mean fits"):
        Regularizer(net, 10, prior_mean={"2.weight": torch.zeros(5, 6)})
    with pytest.raises(ValueError, match="matches no regularized parameter"):
        Regularizer(net, 10, prior_mean={"head.weight": torch.zeros(3, 6)})
    with pytest.raises(TypeError, match="prior_mean must be a mapping"):
        Regularizer(net, 10, prior_mean=[torch.zeros(6, 4)])
    with pytest.raises(ValueError, match="penalty='l2' only"):
        Regularizer(net, 10, penalty="l1", prior_mean={"0.weight": torch.zeros(6, 4)})
    with pytest.raises(ValueError, match="non-finite"):
        Regularizer(net, 10, prior_mean={"0.weight": torch.full((6, 4), float("nan"))})


def _ridge_problem():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(40, 5, generator=generator, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0], dtype=torch.float64) + 0.3 * torch.randn(40, generator=generator,
                                                                                                dtype=torch.float64)
    mu = torch.tensor([[0.8, -1.0, 0.0, 1.0, 2.0]], dtype=torch.float64)
    delta = 7.0
    # ½ mean r² + δ/(2N)‖w − μ‖²  →  (XᵀX + δ I) w = Xᵀy + δ μ
    closed = torch.linalg.solve(X.T @ X + delta * torch.eye(5, dtype=torch.float64), X.T @ y + delta * mu[0])
    return X, y, mu, delta, closed


@pytest.mark.parametrize("mode", ["coupled", "decoupled"])
def test_l2_sp_reaches_the_ridge_solution_toward_the_mean(mode):
    X, y, mu, delta, closed = _ridge_problem()
    net = nn.Linear(5, 1, bias=False).double()
    reg = Regularizer(net, 40, delta, mode=mode, prior_mean={"weight": mu})
    assert reg.needs_step == (mode == "decoupled")
    opt = torch.optim.SGD(reg.param_groups(), lr=0.01)
    assert opt.param_groups[0]["weight_decay"] == 0.0          # the step toward μ is lamina's
    for _ in range(4000):
        loss = 0.5 * (net(X)[:, 0] - y).pow(2).mean() + reg.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if reg.needs_step:
            reg.prox_step(0.01)
    # decoupled: fixed point of W ← W − η∇L − ηδ/N (W − η∇L − μ), within O(η) of the optimum
    torch.testing.assert_close(net.weight.detach()[0], closed, rtol=0, atol=2e-3 if mode == "decoupled" else 1e-8)


def test_tune_honours_prior_mean_in_every_mode():
    X, y, mu, delta, closed = _ridge_problem()
    for mode in ("coupled", "decoupled"):
        net = nn.Linear(5, 1, bias=False).double()
        result = lt.tune(net, (X, y), likelihood="regression", tuner="fixed", delta=delta, epochs=300, lr=0.05,
                         batch_size=40, mode=mode, prior_mean={"weight": mu})
        moved_to_mean = (net.weight.detach()[0] - mu[0]).norm() < (net.weight.detach()[0]).norm()
        assert result.lambdas == {"weight": delta} and bool(moved_to_mean)


def test_heldout_searches_the_identified_directions():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(120, 4, generator=generator)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()
    torch.manual_seed(0)
    tanh = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    result = lt.tune(tanh, (X, y), epochs=30, lr=1e-2, batch_size=32, seed=0, burn_in=5, update_every=5,
                     per_direction=True)
    assert result.info["identifiability"]["n_identified"] == 2
    # two calibrations ran (one scale, and the identified directions); the held-out data chose
    selection = result.info["selection"]
    assert set(selection) >= {"heldout_nll_common", "heldout_nll_split", "paired_se", "split_kept"}
    kept = selection["split_kept"]
    assert kept == (selection["heldout_nll_common"] - selection["heldout_nll_split"] > selection["paired_se"]
                    and not selection["rivals"][0]["separable"])
    assert all((len(step) == 2) if kept else (np.ndim(step) == 0) for step in result.info["log_scale"])
    # both kinds on both folds: four calibrations, shortened from half the 30 epochs (merge_at="auto":
    # an epoch on 84 of 120 samples in batches of 32 is 3 of 4 steps, 0.75 of a full one, and the
    # searches of an update every 5 epochs add theirs) so that the whole costs at most 1.4 fits
    update_cost = search_steps(passes_per_update(True), 36 + 84, 32) / 4   # in full-data epochs (4 steps)
    first = result.info["merge_epoch"]   # (stretch 4/3: the continued run makes up the split's fewer steps)
    assert (first, True) == calibration_epochs(30, 15, 4, 0.75, update_cost, 5, 5, 4 / 3) and result.info["merge_at"] == first / 30
    assert result.compute.fits == pytest.approx((4 * first * 84 / 120 + continued_epochs(30, first, 4 / 3)) / 30)
    assert result.info["budget_fits"] <= 1.4
    relu = _net()
    result = lt.tune(relu, (X, y), epochs=30, lr=1e-2, batch_size=32, seed=0, burn_in=5, update_every=5)
    assert result.info["identifiability"]["n_identified"] == 1
    assert all(np.ndim(step) == 0 for step in result.info["log_scale"])    # one common scale
    first = result.info["merge_epoch"]   # two folds of at most 0.3 of the epochs, then a retraining of all 30
    assert "selection" not in result.info and result.info["refit"]
    assert (first, True) == calibration_epochs(30, 9, 2, 0.75, update_cost, 5, 5, 4 / 3, refit=True)
    assert result.compute.fits == pytest.approx((2 * first * 84 / 120 + 30) / 30)
    lambdas = list(result.lambdas.values())
    assert lambdas[0] == pytest.approx(lambdas[1])


def _identity_classifier():
    """A 2-class linear classifier with logits = x, its regularizer (δ = 1) and three inputs:
    the first two classified 0 and 1 with margin 2, the third 0 with margin 1.3."""
    net = nn.Sequential(nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.eye(2))
    return net, Regularizer(net, 10, 1.0), torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.5, 0.2]])


def test_heldout_skips_updates_when_the_held_out_set_is_separable():
    net, reg, X = _identity_classifier()
    correct = HeldoutScale(net, reg, Classification(), (X, torch.tensor([0, 1, 0])), burn_in=1, update_every=1)
    assert correct.on_epoch_end(0, None) is False and correct.n_skipped == 1
    assert reg.lambdas == {"0.weight": 1.0}
    wrong = HeldoutScale(net, reg, Classification(), (X, torch.tensor([0, 1, 1])), burn_in=1, update_every=1)
    assert wrong.on_epoch_end(0, None) is True and reg.lambdas["0.weight"] != 1.0


def test_heldout_skips_updates_while_the_held_out_predictions_are_worse_than_chance():
    """Held-out NLL ≥ log K (the uniform prediction's): shrinking every weight lowers it whatever
    δ should be, so the update is skipped and δ kept; once the network does better, it updates."""
    net, reg, X = _identity_classifier()
    all_wrong = HeldoutScale(net, reg, Classification(), (X, torch.tensor([1, 0, 1])), burn_in=1, update_every=1)
    assert all_wrong._uninformative() == "chance"
    assert all_wrong.on_epoch_end(0, None) is False and all_wrong.n_skipped_chance == 1
    assert all_wrong.n_skipped == 0 and reg.lambdas == {"0.weight": 1.0}
    one_wrong = HeldoutScale(net, reg, Classification(), (X, torch.tensor([0, 1, 1])), burn_in=1, update_every=1)
    assert one_wrong._uninformative() is None                     # mean NLL ≈ 0.60 < log 2
    assert one_wrong.on_epoch_end(0, None) is True and one_wrong.n_skipped_chance == 0


def test_an_overfit_network_worse_than_chance_at_its_own_scale_still_updates():
    """Memorized label noise: four held-out samples right and one confidently wrong (margins 5) put
    the held-out NLL at 1.01 > log 2, but at a smaller scale of the searched line it beats chance —
    the update runs (and raises δ) instead of being skipped as "chance"; a held-out set that no
    scale predicts better than chance is still skipped."""
    net, reg, _ = _identity_classifier()
    X = torch.tensor([[5.0, 0.0], [0.0, 5.0], [5.0, 0.0], [0.0, 5.0], [5.0, 0.0]])
    y = torch.tensor([0, 1, 0, 1, 1])
    with torch.no_grad():
        assert float(nn.functional.cross_entropy(net(X), y)) > math.log(2)
    overfit = HeldoutScale(net, reg, Classification(), (X, y), burn_in=1, update_every=1)
    assert overfit._uninformative() is None
    assert overfit.on_epoch_end(0, None) is True and overfit.n_skipped_chance == 0
    assert reg.lambdas["0.weight"] > 1.0
    hopeless = HeldoutScale(net, Regularizer(net, 10, 1.0), Classification(), (X, 1 - y), burn_in=1, update_every=1)
    assert hopeless._uninformative() == "chance"


def test_heldout_skips_regression_updates_while_a_constant_predicts_the_held_out_targets_better():
    """Held-out MSE ≥ the held-out variance of y (the best constant's): shrinking the weights
    flattens the prediction toward a constant and lowers it whatever δ should be."""
    from lamina.torch.likelihoods import Gaussian
    net = nn.Sequential(nn.Linear(1, 1, bias=False))
    with torch.no_grad():
        net[0].weight.fill_(1.0)
    reg, X = Regularizer(net, 10, 1.0), torch.tensor([[1.0], [2.0], [3.0]])
    backwards = HeldoutScale(net, reg, Gaussian(), (X, torch.tensor([3.0, 2.0, 1.0])), burn_in=1, update_every=1)
    assert backwards._uninformative() == "chance"                  # MSE 8/3 against variance 2/3
    assert backwards.on_epoch_end(0, None) is False and backwards.n_skipped_chance == 1
    assert reg.lambdas == {"0.weight": 1.0}
    close = HeldoutScale(net, reg, Gaussian(), (X, torch.tensor([1.2, 2.1, 2.9])), burn_in=1, update_every=1)
    assert close._uninformative() is None and close.on_epoch_end(0, None) is True


def test_a_short_regression_run_on_few_samples_does_not_drive_delta_away():
    """12 samples, 100 epochs: δ doubled at every update to 4·10⁶ and the network predicted a
    constant (test MSE 10.8 against 1.6 without a penalty) before the regression guard."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    y = (X @ rng.normal(size=5) + 0.1 * rng.normal(size=400)).astype(np.float32)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 1))
    result = lt.tune(net, (X[:12], y[:12]), likelihood="regression", tuner="heldout", epochs=100, lr=3e-3,
                     batch_size=32, seed=0)
    assert result.info["n_skipped_chance"] > 0 and max(result.lambdas.values()) < 10
    with torch.no_grad():
        prediction = result.model(torch.from_numpy(X[12:]))[:, 0].numpy()
    assert prediction.std() > 0.3 * y[12:].std()                  # not a constant
    assert np.mean((prediction - y[12:]) ** 2) < np.var(y[12:])     # better than the best constant


def test_heldout_freezes_a_delta_the_held_out_optimum_does_not_follow():
    net = _net()
    reg = Regularizer(net, 10, [1.0, 1.0])
    tuner = HeldoutScale(net, reg, Classification(), (torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)),
                         burn_in=1, update_every=1)
    tuner._freeze_unresponsive(np.zeros(2), np.array([0.15, 0.15]))
    # δ fell by e^1.6 on both groups; group 0's optimum followed (about ½·Δlog δ), group 1's stayed put
    tuner._freeze_unresponsive(np.array([-1.6, -1.6]), np.array([0.15 - 0.6, 0.14]))
    assert tuner.frozen.tolist() == [False, True]
    tuner._freeze_unresponsive(np.array([-0.5, -0.5]), np.array([0.15, 0.15]))   # not far yet: kept
    assert tuner.frozen.tolist() == [False, True]


def test_heldout_keeps_raising_a_delta_while_the_weights_still_grow():
    """A rising δ is never frozen: c* may fall while δ rises because training still grows the
    weights (the diabetes MLP), and a large δ cannot drift unseen — it shrinks the weights."""
    net = _net()
    reg = Regularizer(net, 10, [1.0, 1.0])
    tuner = HeldoutScale(net, reg, Classification(), (torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)),
                         burn_in=1, update_every=1)
    tuner._freeze_unresponsive(np.zeros(2), np.array([0.01, 0.01]))
    tuner._freeze_unresponsive(np.array([2.0, -2.0]), np.array([-0.08, 0.01]))
    assert tuner.frozen.tolist() == [False, True]


def test_a_pretrained_state_dict_whose_head_had_another_size_anchors_the_body_and_warns_about_the_head():
    torch.manual_seed(0)
    pretrained = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 5))   # five classes
    net = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))          # a new head for three
    with pytest.warns(UserWarning, match=r"prior_mean\['2.weight'\] has shape \(5, 6\).*replaced layers"):
        reg = Regularizer(net, 10, prior_mean=pretrained.state_dict())
    (body,), (head,) = reg.means
    assert torch.equal(body, pretrained[0].weight) and head is None   # the head is pulled toward 0
    X, y = torch.randn(40, 4), torch.randint(0, 3, (40,))
    with pytest.warns(UserWarning, match="replaced layers"):
        result = lt.tune(net, (X, y), epochs=4, batch_size=16, prior_mean=pretrained.state_dict())
    assert set(result.lambdas) == {"0.weight", "2.weight"}


def test_heldout_takes_no_verdict_nor_reference_from_a_scale_pinned_at_its_range():
    """c* at the end of its search range (|log c*| = 0.5) says only "further": such updates
    neither freeze a δ nor serve as the reference its later response is measured from."""
    net = _net()
    reg = Regularizer(net, 10, [1.0, 1.0])
    tuner = HeldoutScale(net, reg, Classification(), (torch.zeros(2, 4), torch.zeros(2, dtype=torch.long)),
                         burn_in=1, update_every=1)
    for fallen in (0.0, -0.7, -1.4, -2.1):   # pinned while δ falls: no reference, no verdict
        tuner._freeze_unresponsive(np.full(2, fallen), np.full(2, 0.5))
    assert tuner._first is None and not tuner.frozen.any()
    tuner._freeze_unresponsive(np.full(2, -2.8), np.full(2, 0.38))   # the first reference
    tuner._freeze_unresponsive(np.full(2, -3.5), np.full(2, 0.21))
    assert tuner._first is not None and not tuner.frozen.any()
