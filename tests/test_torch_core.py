"""lamina.torch: groups, rules, penalties, prox steps, the fit loop and input errors."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import lamina  # noqa: E402
import lamina.torch as lt  # noqa: E402
from lamina.torch.groups import discover_groups, regularized  # noqa: E402
from lamina.torch.penalty import Regularizer, hard_threshold, soft_threshold  # noqa: E402
from lamina.torch.rules import (AlphaHillRule, AWDRule, hill_alpha, hill_alpha_eigenvalues,  # noqa: E402
                                make_rule, static_weights)  # noqa: E402


class Mixed(nn.Module):
    """Not a Sequential: embedding → LSTM, and a conv branch with BatchNorm, joined in a head."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 6)
        self.rnn = nn.LSTM(6, 5, batch_first=True)
        self.conv = nn.Conv2d(1, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(5 + 4, 3)

    def forward(self, tokens, image):
        seq, _ = self.rnn(self.embed(tokens))
        pooled = self.bn(self.conv(image)).relu().mean(dim=(2, 3))
        return self.head(torch.cat([seq[:, -1], pooled], dim=1))


def test_discovery_on_non_sequential_module():
    groups = {g.name: g for g in discover_groups(Mixed())}
    reg = [g.name for g in discover_groups(Mixed()) if g.regularized]
    assert reg == ["embed.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "conv.weight", "head.weight"]
    assert groups["rnn.bias_ih_l0"].kind == "bias" and not groups["rnn.bias_ih_l0"].regularized
    assert groups["bn.weight"].kind == "norm" and not groups["bn.weight"].regularized
    assert groups["conv.weight"].fan_in == 1 * 3 * 3
    assert groups["rnn.weight_hh_l0"].fan_in == 5 and groups["head.weight"].fan_in == 9
    assert groups["embed.weight"].numel == 120
    with_norm = [g.name for g in discover_groups(Mixed(), regularize_norm=True, regularize_bias=True)
                 if g.regularized]
    assert "bn.weight" in with_norm and "head.bias" in with_norm


def test_user_grouping_by_type_pattern_and_params():
    net = Mixed()
    by_type = [g.name for g in discover_groups(net, "module_type") if g.regularized]
    assert by_type == ["Embedding", "LSTM", "Conv2d", "Linear"]
    custom = discover_groups(net, {"backbone": ["embed.*", "rnn.*", net.conv.weight], "head": "head.*"})
    reg = regularized(custom)
    assert [g.name for g in reg] == ["backbone", "head"]
    assert reg[0].numel == 120 + 4 * 5 * 6 + 4 * 5 * 5 + 36
    with pytest.raises(ValueError, match="by: group"):
        discover_groups(net, {"nothing": "nope.*"})
    with pytest.raises(ValueError, match="by must be"):
        discover_groups(net, "per_layer")


def test_a_group_name_may_not_be_another_groups_name():
    """by={"2.weight": "0.*"} made two groups named '2.weight': the decoupled optimizer then gave
    both the second one's weight decay (10.0 and 10.0 for δ = 1, 100 at N = 10)."""
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    for by in ({"2.weight": "0.*"}, {"0.bias": "2.*"}):
        with pytest.raises(ValueError, match="also the name of another group"):
            discover_groups(net, by)
    assert [g.name for g in regularized(discover_groups(net, {"first": "0.*"}))] == ["first", "2.weight"]


def test_static_rules_match_lamina_scaling():
    net = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    groups = regularized(discover_groups(net))
    partition = lamina.Groups.contiguous([32, 8])
    for rule, ref in [("uniform", "uniform"), ("per_element", "per_element"), ("sqrt_numel", "sqrt_size")]:
        np.testing.assert_allclose(static_weights(rule, groups), lamina.scale_weights(ref, partition))
    np.testing.assert_allclose(static_weights("fan_in", groups),
                               lamina.scale_weights("fan_in", partition, fan_in=[8, 4]))
    norms = np.array([float(net[0].weight.detach().pow(2).sum()), float(net[2].weight.detach().pow(2).sum())])
    expected = (1 / norms) * 40 / np.dot([32, 8], 1 / norms)
    np.testing.assert_allclose(static_weights("inverse_norm", groups), expected, rtol=1e-6)
    with pytest.raises(ValueError, match="rule must be one of"):
        make_rule("spectral", groups)


def test_hill_estimator_recovers_power_law_exponent():
    rng = np.random.default_rng(0)
    for alpha in (2.5, 4.0):
        eig = rng.pareto(alpha - 1, size=4000) + 1.0        # density ∝ λ^(-alpha) on [1, ∞)
        estimate = hill_alpha_eigenvalues(torch.tensor(eig), tail_fraction=0.2)
        assert abs(estimate - alpha) < 0.1 * alpha
    w = torch.randn(30, 20, dtype=torch.float64)
    eig = torch.linalg.eigvalsh(w.T @ w)
    assert abs(hill_alpha(w) - hill_alpha_eigenvalues(eig)) < 1e-8


def test_adaptive_rules_weights():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(30, 40), nn.ReLU(), nn.Linear(40, 30), nn.ReLU(), nn.Linear(30, 3))
    groups = regularized(discover_groups(net))
    sizes = np.array([g.numel for g in groups])
    with torch.no_grad():   # make the middle layer heavy-tailed: it must get the smallest decay
        u, s, v = torch.linalg.svd(net[2].weight, full_matrices=False)
        net[2].weight.copy_(u @ torch.diag(s * torch.arange(1, 31.0) ** -2.0) @ v)
    s = AlphaHillRule().weights(groups)
    assert np.argmin(s) == 1 and np.isclose(np.dot(sizes, s), sizes.sum())
    rule = AWDRule(beta=0.0)
    net(torch.randn(16, 30)).pow(2).mean().backward()
    rule.observe(groups)
    ratio = np.array([float(g.params[0].grad.norm() / g.params[0].detach().norm()) for g in groups])
    np.testing.assert_allclose(rule.weights(groups), ratio * sizes.sum() / np.dot(sizes, ratio), rtol=1e-5)


def test_decoupled_weight_decay_equals_coupled_l2_for_sgd():
    torch.manual_seed(0)
    X, y = torch.randn(32, 5), torch.randn(32, 2)
    nets = [nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    deltas = [3.0, 0.5]
    coupled = Regularizer(nets[0], 32, deltas)
    decoupled = Regularizer(nets[1], 32, deltas, mode="decoupled")
    opt_c = torch.optim.SGD(coupled.param_groups(), lr=0.1)
    opt_d = torch.optim.SGD(decoupled.param_groups(), lr=0.1)
    assert [g["weight_decay"] for g in opt_d.param_groups] == [3.0 / 32, 0.5 / 32, 0.0]
    for _ in range(3):
        for net, reg, opt in ((nets[0], coupled, opt_c), (nets[1], decoupled, opt_d)):
            loss = (net(X) - y).pow(2).mean() + reg.penalty()
            opt.zero_grad()
            loss.backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b)
    decoupled.set_deltas({"0.weight": 1.0, "2.weight": 2.0}, opt_d)
    assert [g["weight_decay"] for g in opt_d.param_groups][:2] == [1.0 / 32, 2.0 / 32]


def test_prox_operators_against_their_definition():
    grid = torch.cat([torch.linspace(-4, 4, 80001, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)])
    for w in (-2.3, -0.4, 0.0, 0.7, 1.9):
        for t in (0.3, 1.0):
            l1 = 0.5 * (grid - w) ** 2 + t * grid.abs()
            l0 = 0.5 * (grid - w) ** 2 + t * (grid != 0)
            assert abs(float(soft_threshold(torch.tensor(w), t)) - float(grid[l1.argmin()])) < 1e-3
            assert abs(float(hard_threshold(torch.tensor(w, dtype=torch.float64), t)) - float(grid[l0.argmin()])) < 1e-3


def test_regularizer_prox_step_and_sparsity():
    net = nn.Linear(4, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.5, -0.05, 0.2, -1.0], [0.01, 0.3, -0.02, 0.04]]))
    reg = Regularizer(net, n_data=10, deltas=1.0, penalty="l1")
    assert float(reg.penalty()) == 0.0
    reg.prox_step(lr=1.0)                      # threshold η λ / N = 0.1
    expected = soft_threshold(torch.tensor([[0.5, -0.05, 0.2, -1.0], [0.01, 0.3, -0.02, 0.04]]), 0.1)
    torch.testing.assert_close(net.weight.detach(), expected)
    assert reg.sparsity() == {"weight": 0.5}
    l0 = Regularizer(net, n_data=10, deltas=5.0, penalty="l0")  # threshold √(2·1·5/10) = 1
    l0.prox_step(lr=1.0)
    assert l0.sparsity() == {"weight": 1.0}


@pytest.mark.parametrize("amsgrad", [False, True])
def test_prox_step_thresholds_in_adams_metric(amsgrad):
    """With Adam's state the thresholds are η λ/(N d) (L1) and √(2 η λ/(N d)) (L0), d = √v̂ + ε
    computed here from the optimizer's own state; SGD and prox_metric="euclidean" keep η λ/N."""
    torch.manual_seed(0)
    net = nn.Linear(6, 3)
    opt = torch.optim.Adam(net.parameters(), lr=0.05, betas=(0.8, 0.9), eps=1e-3, amsgrad=amsgrad)
    for _ in range(3):
        opt.zero_grad()
        (net(torch.randn(8, 6)) ** 2).mean().backward()
        opt.step()
    state = opt.state[net.weight]
    second = state["max_exp_avg_sq"] if amsgrad else state["exp_avg_sq"]
    d = (second / (1 - 0.9 ** 3)).sqrt() + 1e-3
    w = net.weight.detach().clone()
    reg = Regularizer(net, n_data=10, deltas=0.02, penalty="l1")
    reg.prox_step(0.05, opt)
    torch.testing.assert_close(net.weight.detach(), torch.sign(w) * torch.clamp(w.abs() - 0.05 * 0.02 / 10 / d, min=0))
    with torch.no_grad():
        net.weight.copy_(w)
    Regularizer(net, n_data=10, deltas=0.02, penalty="l0").prox_step(0.05, opt)
    torch.testing.assert_close(net.weight.detach(), w * (w.abs() > torch.sqrt(2 * 0.05 * 0.02 / 10 / d)))
    for plain in (Regularizer(net, n_data=10, deltas=0.02, penalty="l1", prox_metric="euclidean"),
                  Regularizer(net, n_data=10, deltas=0.02, penalty="l1")):
        with torch.no_grad():
            net.weight.copy_(w)
        plain.prox_step(0.05, opt if plain.prox_metric == "euclidean" else torch.optim.SGD(net.parameters(), lr=0.05))
        torch.testing.assert_close(net.weight.detach(), soft_threshold(w, 0.05 * 0.02 / 10))
    with pytest.raises(ValueError, match="prox_metric"):
        Regularizer(net, n_data=10, penalty="l1", prox_metric="adam")


def test_fit_checkpoint_resumes_like_an_uninterrupted_run(tmp_path):
    X, y = torch.randn(40, 3), torch.randint(0, 2, (40,))

    def run(epochs, path):
        torch.manual_seed(1)
        net = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
        reg = Regularizer(net, 40, 0.5)
        return lt.fit(net, (X, y), epochs=epochs, lr=1e-2, batch_size=16, regularizer=reg,
                      checkpoint=path, checkpoint_every=2)

    full = run(6, None)
    path = tmp_path / "ckpt.pt"
    run(4, path)                                 # "killed" after 4 epochs
    resumed = run(6, path)
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        torch.testing.assert_close(a, b)
    assert len(resumed.history["loss"]) == 6 and resumed.epochs == 6


def test_fit_early_stopping_restores_best():
    torch.manual_seed(0)
    X, y = torch.randn(60, 4), torch.randint(0, 3, (60,))
    net = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 3))
    out = lt.fit(net, (X[:30], y[:30]), epochs=200, lr=3e-2, val=(X[30:], y[30:]), patience=3, eval_every=2)
    assert out.stopped_early and out.epochs < 200
    best = min(score for _, score in out.history["val_nll"])
    assert abs(lt.evaluate(net, (X[30:], y[30:]))["nll"] - best) < 1e-5


def test_bad_inputs_name_the_argument():
    net = nn.Linear(3, 2)
    X, y = torch.randn(10, 3), torch.randint(0, 2, (10,))
    with pytest.raises(ValueError, match="likelihood"):
        lt.tune(net, (X, y), likelihood="poisson", epochs=1)
    with pytest.raises(ValueError, match="tuner must be one of"):
        lt.tune(net, (X, y), tuner="no-such-tuner", epochs=1)
    with pytest.raises(ValueError, match="rule"):
        lt.tune(net, (X, y), tuner="fixed", rule="magic", epochs=1)
    with pytest.raises(ValueError, match="delta"):
        lt.tune(net, (X, y), tuner="fixed", delta=-1.0, epochs=1)
    with pytest.raises(ValueError, match="deltas"):
        Regularizer(net, 10, [-1.0])
    with pytest.raises(ValueError, match="X has 10 samples but y has 9"):
        lt.tune(net, (X, y[:9]), epochs=1)
    with pytest.raises(ValueError, match="n_data"):
        Regularizer(net, 0)
    with pytest.raises(ValueError, match="penalty"):
        Regularizer(net, 10, penalty="l3")
    Xr = torch.randn(10, 3) * 1e3
    with pytest.raises(FloatingPointError, match="non-finite"):
        lt.fit(nn.Linear(3, 1), (Xr, torch.randn(10)), likelihood="regression", optimizer="sgd",
               lr=1e6, epochs=20, batch_size=10)


class _Sabotage:
    """Callback: records the weights after each epoch (in ``snapshots``), then flips the classifier
    before the last of 10 epochs — a stand-in for a late loss spike."""

    def __init__(self, net):
        self.net, self.snapshots = net, {}

    def on_epoch_end(self, epoch, optimizer):
        self.snapshots[epoch] = [p.detach().clone() for p in self.net.parameters()]
        if epoch == 8:
            with torch.no_grad():
                for p in self.net.parameters():
                    p.mul_(-30.0)


def test_fit_warns_when_the_loss_ends_far_above_its_minimum():
    import warnings as _warnings
    torch.manual_seed(0)
    X = torch.randn(64, 3)
    y = (X[:, 0] > 0).long()
    net = torch.nn.Linear(3, 2)
    with pytest.warns(RuntimeWarning, match="late loss spike"):
        lt.fit(net, (X, y), epochs=10, lr=0.05, batch_size=64, callbacks=[_Sabotage(net)])
    net = torch.nn.Linear(3, 2)
    with _warnings.catch_warnings():
        _warnings.simplefilter("error", RuntimeWarning)
        lt.fit(net, (X, y), epochs=10, lr=0.05, batch_size=64)


def test_fit_restores_the_lowest_loss_weights_after_a_late_spike():
    import warnings as _warnings
    torch.manual_seed(0)
    X = torch.randn(64, 3)
    y = (X[:, 0] > 0).long()
    net = torch.nn.Linear(3, 2)
    sabotage = _Sabotage(net)
    with pytest.warns(RuntimeWarning, match="weights of epoch"):
        result = lt.fit(net, (X, y), epochs=10, lr=0.05, batch_size=64, callbacks=[sabotage])
    losses = result.history["loss"]
    lowest = int(np.argmin(losses))
    assert losses[-1] > 3 * losses[lowest] and lowest < 9
    for p, kept in zip(net.parameters(), sabotage.snapshots[lowest]):
        assert torch.equal(p.detach(), kept)   # the lowest-loss epoch's weights, not the last ones
    net = torch.nn.Linear(3, 2)
    sabotage = _Sabotage(net)
    with pytest.warns(RuntimeWarning, match="the last one"):
        lt.fit(net, (X, y), epochs=10, lr=0.05, batch_size=64, callbacks=[sabotage], on_spike="warn")
    for p, last in zip(net.parameters(), sabotage.snapshots[9]):
        assert torch.equal(p.detach(), last)
    net = torch.nn.Linear(3, 2)
    sabotage = _Sabotage(net)
    with _warnings.catch_warnings():
        _warnings.simplefilter("error", RuntimeWarning)   # a pruning ramp's loss rises by design: no check
        lt.fit(net, (X, y), epochs=10, lr=0.05, batch_size=64, callbacks=[sabotage], on_spike="ignore")
    for p, last in zip(net.parameters(), sabotage.snapshots[9]):
        assert torch.equal(p.detach(), last)
    with pytest.raises(ValueError, match="on_spike"):
        lt.fit(net, (X, y), epochs=1, on_spike="skip")


def test_no_spike_warning_when_a_tuner_raised_delta():
    import warnings as _warnings
    torch.manual_seed(0)
    X = torch.randn(64, 3)
    y = (X[:, 0] > 0).long()
    net = torch.nn.Linear(3, 2)
    reg = Regularizer(net, 64, 1.0)

    class RaiseDelta:   # a tuner-like callback: δ × 10⁴ before the last epoch raises the penalized loss
        def on_epoch_end(self, epoch, optimizer):
            if epoch == 8:
                reg.set_deltas(reg.delta * 1e4, optimizer)

    with _warnings.catch_warnings():
        _warnings.simplefilter("error", RuntimeWarning)
        result = lt.fit(net, (X, y), epochs=10, lr=0.05, batch_size=64, regularizer=reg, callbacks=[RaiseDelta()])
    assert result.history["loss"][-1] > 3 * min(result.history["loss"])   # the loss did rise: the check was skipped


def test_a_spike_the_run_has_half_recovered_from_is_still_a_spike():
    """The default's continued run on the LayerNorm residual net: 0.090 at its lowest, 2.28 at
    epoch 240, 0.238 (2.6×) at the end — a spike; a healthy run ends within ~10 % of its low."""
    import warnings as _warnings
    from lamina.torch.fit import warn_if_spiked
    recovering = [2.4, 0.16, 0.12, 0.09, 2.28, 1.22, 0.57, 0.35, 0.285, 0.238]
    with pytest.warns(RuntimeWarning, match="late loss spike"):
        assert warn_if_spiked(recovering, lr=3e-3)
    with _warnings.catch_warnings():
        _warnings.simplefilter("error", RuntimeWarning)
        assert not warn_if_spiked([2.4, 0.16, 0.12, 0.09, 0.095, 0.099], lr=3e-3)


def test_adamw_without_a_regularizer_adds_no_weight_decay():
    """torch's AdamW decays by 0.01 unless told otherwise; lamina's only penalty is the regularizer's."""
    X, y = torch.randn(40, 5, generator=torch.Generator().manual_seed(0)), torch.randint(0, 3, (40,))
    weights = {}
    for name in ("adam", "adamw"):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
        lt.fit(net, (X, y), epochs=30, lr=0.05, batch_size=10, optimizer=name)
        weights[name] = torch.cat([p.detach().ravel() for p in net.parameters()])
    torch.testing.assert_close(weights["adamw"], weights["adam"])


@pytest.mark.parametrize("penalty, mode, n_groups",
                         [("l2", "coupled", 1), ("l1", "decoupled", 1), ("l2", "decoupled", 3)])
def test_the_optimizer_gets_one_group_unless_it_applies_a_decay_per_group(penalty, mode, n_groups):
    """One param group where δ acts through the gradient or a proximal step (Adam's step over one
    group is cheaper), the regularizer's groups where the optimizer applies their decay — and the
    same steps either way."""
    from lamina.torch.fit import make_optimizer, optimizer_groups
    torch.manual_seed(0)
    X, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
    nets = [nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)) for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    regs = [Regularizer(net, 32, [3.0, 0.5], penalty=penalty, mode=mode) for net in nets]
    groups = optimizer_groups(regs[0], nets[0])
    assert len(groups) == n_groups
    assert sorted(id(p) for g in groups for p in g["params"]) == sorted(id(p) for p in nets[0].parameters())
    opts = [make_optimizer("adam", groups, 0.05), make_optimizer("adam", regs[1].param_groups(), 0.05)]
    for _ in range(5):
        for net, reg, opt in zip(nets, regs, opts):
            opt.zero_grad()
            nn.functional.cross_entropy(net(X), y).backward()
            reg.add_gradient()
            opt.step()
            if reg.needs_step:
                reg.prox_step(0.05, opt)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_fit_and_evaluate_refuse_what_they_cannot_train_or_read():
    """Each a message naming the argument, where the run used to be silently unregularized, to
    train nothing, or to fail inside torch."""
    import copy
    torch.manual_seed(0)
    X, y = torch.randn(64, 4), torch.randint(0, 3, (64,))
    net = nn.Linear(4, 3)
    decoupled = Regularizer(net, 64, 50.0, mode="decoupled")
    with pytest.raises(ValueError, match=r"optimizer: .* none for \['weight'\]"):   # its decay had never applied
        lt.fit(net, (X, y), epochs=1, optimizer=torch.optim.SGD(net.parameters(), lr=0.1), regularizer=decoupled)
    own = torch.optim.SGD(decoupled.param_groups(lr=0.1), lr=0.1)            # the groups it writes δ/N into
    lt.fit(net, (X, y), epochs=1, optimizer=own, regularizer=decoupled)
    assert own.param_groups[0]["weight_decay"] == pytest.approx(50.0 / 64)
    with pytest.raises(ValueError, match="regularizer: its parameters are not the model's"):
        lt.fit(copy.deepcopy(net), (X, y), epochs=1, regularizer=Regularizer(net, 64, 1.0))

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 3)

        def forward(self, x):
            return self.linear(x), x

    for call in (lambda: lt.fit(Pair(), (X, y), epochs=1), lambda: lt.evaluate(Pair(), (X, y))):
        with pytest.raises(TypeError, match="model: the forward pass must return one tensor .* got a tuple"):
            call()
    with pytest.raises(ValueError, match="model: it has no trainable parameters"):
        lt.fit(nn.ReLU(), (X, y), epochs=1)
    with pytest.raises(ValueError, match="eval_every"):
        lt.fit(net, (X, y), epochs=1, val=(X, y), eval_every=0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=16)
    assert lt.evaluate(net, loader) == pytest.approx(lt.evaluate(net, (X, y)))


def test_a_module_class_spec_takes_its_subclasses_and_only_them():
    """{"lin": nn.Linear} compared class names: attention's out_proj (a Linear subclass) and a
    user's subclass stayed out, and an unrelated class named 'Linear' was taken in."""
    class MyLinear(nn.Linear):
        pass

    class Linear(nn.Module):   # not torch's
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(2, 2))

    net = nn.ModuleDict({"a": MyLinear(3, 4), "mha": nn.MultiheadAttention(4, 2), "other": Linear(),
                         "b": nn.Linear(4, 2)})
    lin = {g.name: g for g in discover_groups(net, {"lin": nn.Linear})}["lin"]
    assert set(lin.param_names) == {"a.weight", "mha.out_proj.weight", "b.weight"}


def test_evaluation_and_probes_give_each_submodule_its_own_mode_back():
    """``was = model.training; model.eval(); …; model.train(was)`` gave every submodule the root's
    mode: a BatchNorm frozen in eval mode inside a model in training mode came back in training
    mode from ``evaluate`` (and from the tuners' probes), and its running statistics then moved."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    net.train()
    net[1].eval()
    X, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    lt.evaluate(net, (X, y))
    assert net.training and not net[1].training
    from lamina.torch import identifiability
    identifiability(net, example=X)
    assert net.training and not net[1].training


def test_fit_keeps_a_batchnorm_the_user_froze_in_eval_mode():
    """fit called ``model.train()`` at the start and after every validation: a BatchNorm frozen with
    ``.eval()`` inside a model in training mode trained in batch mode and its running statistics
    moved. A model handed over wholly in eval mode still trains in training mode."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    net[1].eval()
    mean, var = net[1].running_mean.clone(), net[1].running_var.clone()
    X, y = torch.randn(64, 3), torch.randint(0, 2, (64,))
    lt.fit(net, (X, y), epochs=3, batch_size=16, val=(X[:16], y[:16]), eval_every=1)
    assert torch.equal(net[1].running_mean, mean) and torch.equal(net[1].running_var, var)
    assert net.training and not net[1].training
    net.eval()
    lt.fit(net, (X, y), epochs=1, batch_size=16)
    assert not torch.equal(net[1].running_mean, mean)   # trained in training mode
    assert not net.training and not net[1].training     # and handed back in eval mode


def test_in_mode_gives_each_module_its_mode_back_when_the_block_raises():
    from lamina.torch.modes import in_mode
    net = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8))
    net[1].eval()
    with pytest.raises(RuntimeError), in_mode(net, training=False):
        assert not net.training and not net[0].training
        raise RuntimeError("probe failed")
    assert net.training and net[0].training and not net[1].training
    with in_mode(net, training=True):
        assert net[1].training
    assert not net[1].training


def test_fit_gives_each_module_its_mode_back_when_training_fails():
    net = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    net.eval()
    X, y = torch.randn(32, 3), torch.randint(0, 2, (32,))

    class Fails:
        def on_epoch_end(self, epoch, optimizer):
            raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        lt.fit(net, (X, y), epochs=2, batch_size=16, callbacks=[Fails()])
    assert not any(module.training for module in net.modules())
