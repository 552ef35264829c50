"""lamina.torch.identifiability: the rescaling symmetries, found numerically and checked on
trained networks (moving δ along a flat direction leaves the trained function unchanged,
moving it along the identified one does not)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from lamina.torch import identifiability  # noqa: E402


def _mlp(widths=(4, 8, 8, 2), act=nn.ReLU):
    torch.manual_seed(0)
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), act()]
    return nn.Sequential(*layers[:-1])


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.inp, self.a, self.b, self.out = nn.Linear(4, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 2)

    def forward(self, x):
        h = torch.relu(self.inp(x))
        h = h + self.b(torch.relu(self.a(h)))
        return self.out(torch.relu(h))


def test_relu_chain_identifies_only_the_product():
    found = identifiability(_mlp())
    assert found.chains == [("0.weight", "2.weight", "4.weight")]
    assert found.n_identified == 1 and not found.split_identified
    np.testing.assert_allclose(np.abs(found.identified[0]), np.full(3, 3 ** -0.5), atol=1e-12)
    np.testing.assert_allclose(found.flat @ np.ones(3), 0.0, atol=1e-12)
    assert "per-layer cannot help" in found.verdict()


@pytest.mark.parametrize("act", [nn.Tanh, nn.GELU, nn.Sigmoid])
def test_non_homogeneous_activations_break_the_symmetry(act):
    found = identifiability(_mlp(act=act))
    assert found.pairs == [] and found.n_identified == 3 and found.split_identified


def test_normalization_makes_weights_scale_invariant():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    found = identifiability(net)
    assert found.scale_invariant == ["0.weight"]
    assert found.absorbed == {"3.weight": "1.weight"}      # BatchNorm's affine scale takes it
    assert found.n_identified == 0 and "effective learning rate" in found.verdict()
    affine_free = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8, affine=False), nn.ReLU(), nn.Linear(8, 2))
    found = identifiability(affine_free)
    assert found.scale_invariant == ["0.weight"] and found.absorbed == {} and found.n_identified == 1


def test_prior_mean_and_regularized_bias_break_what_they_touch():
    net = _mlp()
    with_mean = identifiability(net, prior_mean={"2.weight": net[2].weight.detach().clone()})
    # W₀ ↔ W₄ (with b₀ and b₂ scaled) still leaves W₂ alone: its mean does not break that pair
    assert with_mean.chains == [("0.weight", "4.weight")] and with_mean.n_identified == 2
    assert any("prior mean of 2.weight" in reason for _, _, reason in with_mean.broken)
    zero_mean = identifiability(net, prior_mean={"2.weight": torch.zeros(8, 8)})
    assert zero_mean.n_identified == 1
    with_bias = identifiability(net, regularize_bias=True)      # the pairs break, not the symmetries
    assert with_bias.pairs == [] and with_bias.n_identified == len(with_bias.groups) - 2


def test_residual_stream_and_branch_are_separate_chains():
    found = identifiability(_Residual())
    assert sorted(map(sorted, found.chains)) == [["a.weight", "b.weight"], ["inp.weight", "out.weight"]]
    assert found.n_identified == 2


def test_convolutions_with_pooling():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3), nn.ReLU(),
                        nn.Flatten(), nn.Linear(4, 3))
    assert identifiability(net).chains == [("0.weight", "3.weight", "6.weight")]


def test_bad_arguments_get_clear_errors():
    with pytest.raises(TypeError, match="model must be"):
        identifiability("net")
    with pytest.raises(TypeError, match="prior_mean must be a mapping"):
        identifiability(_mlp(), prior_mean=[1.0])
    with pytest.raises(ValueError, match="example"):
        identifiability(nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2)))
    found = identifiability(nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2)),
                            example=torch.arange(6).reshape(3, 2))
    assert found.groups == ["0.weight", "1.weight"]
    for option, value in (("tol", -1), ("tol", 10), ("tol", "x"), ("factor", 1), ("factor", 0), ("factor", -2.0),
                          ("seed", None)):
        with pytest.raises(ValueError, match=option):
            identifiability(_mlp(), **{option: value})
    with pytest.raises(ValueError, match="example"):   # the wrong width: torch's error, named
        identifiability(_mlp(), example=torch.randn(3, 5))
    with pytest.raises(ValueError, match="example.*2 rows"):
        identifiability(nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2)),
                        example=torch.randn(1, 4))


def test_examples_are_cast_and_normalization_first_is_shaped():
    """An array or a float32 batch for a float64 model runs as the model's dtype; a model that
    starts with LayerNorm/BatchNorm1d gets its input width from it."""
    net = _mlp().double()
    assert identifiability(net, example=np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)).n_identified == 1
    assert identifiability(net, example=torch.randn(5, 4)).n_identified == 1
    for norm in (nn.LayerNorm(4), nn.BatchNorm1d(4)):
        found = identifiability(nn.Sequential(norm, nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)))
        assert found.groups == ["1.weight", "3.weight"]


def test_frozen_nonzero_tensors_break_the_symmetries_that_scale_them():
    """A rescaling that must scale a frozen bias (or a frozen normalization scale) is no symmetry of
    what training can move: W₀ × 2, W₁ / 2 with the biases fixed changes the output."""
    net = _mlp((4, 8, 8, 2))
    with torch.no_grad():
        for layer in (net[0], net[2]):
            layer.bias.normal_()
    for layer in (net[0], net[2], net[4]):
        layer.bias.requires_grad_(False)
    x = torch.randn(16, 4)
    with torch.no_grad():
        moved = {**net.state_dict(), "0.weight": net[0].weight * 2, "2.weight": net[2].weight / 2}
        assert float((torch.func.functional_call(net, moved, (x,)) - net(x)).norm()) > 1e-2 * float(net(x).norm())
    found = identifiability(net)
    assert found.n_identified == 3 and found.chains == []
    assert {reason for _, _, reason in found.broken} == {"the frozen 0.bias", "the frozen 2.bias"}
    with torch.no_grad():   # frozen at zero: scaling leaves them as they are, the symmetry stands
        for layer in (net[0], net[2], net[4]):
            layer.bias.zero_()
    assert identifiability(net).n_identified == 1
    norm_net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    assert identifiability(norm_net).n_identified == 0            # BatchNorm's scale absorbs the head's
    norm_net[1].requires_grad_(False)
    assert identifiability(norm_net).n_identified == 1            # … unless it is frozen


def _train(delta, X, y, start=None):
    """Full-batch L-BFGS to a minimum of mean squared error + Σ_g δ_g ‖W_g‖² / (2N)."""
    net = _mlp((3, 12, 12, 1)).double()
    if start is not None:
        net.load_state_dict(start)
    weights = [net[0].weight, net[2].weight, net[4].weight]
    optimizer = torch.optim.LBFGS(net.parameters(), lr=1.0, max_iter=4000, tolerance_grad=1e-12,
                                  tolerance_change=1e-15, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = ((net(X) - y) ** 2).mean() + sum(d * w.pow(2).sum() for d, w in zip(delta, weights)) / (2 * len(X))
        loss.backward()
        return loss

    optimizer.step(closure)
    net.objective = float(closure().detach())
    return net


def _rescaled(net, v):
    """W_l → c_l W_l, b_l → (Π_{k≤l} c_k) b_l with c = exp(−v/2): the optimum for δ·exp(v)
    when v moves along the chain's flat directions (Σ v = 0 keeps the function)."""
    state = {k: t.clone() for k, t in net.state_dict().items()}
    cumulative = 1.0
    for layer, c in zip((0, 2, 4), np.exp(-np.asarray(v) / 2)):
        cumulative *= c
        state[f"{layer}.weight"] *= c
        state[f"{layer}.bias"] *= cumulative
    return state


def test_trained_function_moves_only_along_the_identified_direction():
    """The optimum for δ·exp(v), v flat, is the rescaled optimum for δ: the same function and
    the same objective value; L-BFGS started there stays, up to its own noise (the ReLU kinks
    stop it at a gradient of about 1e-2, where the objective still drifts by ~1e-4 and the
    function by ~1 %).
    Along the identified direction no rescaling is optimal: the function moves by far more."""
    generator = torch.Generator().manual_seed(1)
    X = torch.randn(80, 3, generator=generator, dtype=torch.float64)
    y = (torch.sin(2 * X[:, :1]) + X[:, 1:2] * X[:, 2:3]) + 0.1 * torch.randn(80, 1, generator=generator,
                                                                              dtype=torch.float64)
    X_test = torch.randn(200, 3, generator=generator, dtype=torch.float64)
    found = identifiability(_mlp((3, 12, 12, 1)))
    delta = np.full(3, 8.0)
    base = _train(delta, X, y)
    with torch.no_grad():
        f_base = base(X_test)
    moved, objective = {}, {}
    for name, v in (("flat 1", found.flat[0]), ("flat 2", found.flat[1]), ("identified", found.identified[0])):
        v = 1.5 * v / np.linalg.norm(v)
        start = _rescaled(base, v) if name.startswith("flat") else _rescaled(base, v - v.mean())
        net = _train(delta * np.exp(v), X, y, start=start)
        with torch.no_grad():
            moved[name] = float((net(X_test) - f_base).norm() / f_base.norm())
        objective[name] = net.objective / base.objective - 1
    assert moved["flat 1"] < 0.02 and moved["flat 2"] < 0.02, moved
    assert abs(objective["flat 1"]) < 1e-3 and abs(objective["flat 2"]) < 1e-3, objective
    assert moved["identified"] > 10 * max(moved["flat 1"], moved["flat 2"], 0.01), moved
    assert abs(objective["identified"]) > 0.05, objective


class _NormResidual(nn.Module):
    """Stem + BatchNorm, one residual block whose branch ends in BatchNorm, then a linear head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.stem, self.bn = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv1, self.bn1 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)
        with torch.no_grad():
            for norm in (self.bn, self.bn1, self.bn2):
                norm.weight.normal_()
                norm.bias.normal_()

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))
        return self.fc(x.mean((2, 3)))


def test_normalization_scales_of_a_residual_stream_absorb_the_head_together():
    """No single BatchNorm can take the head's scale (the stream adds two of them), all of them
    together can: nothing is identified, where the head had been counted as identified."""
    net = _NormResidual()
    found = identifiability(net, example=torch.randn(4, 3, 8, 8))
    assert sorted(found.scale_invariant) == ["conv1.weight", "conv2.weight", "stem.weight"]
    assert "fc.weight" in found.absorbed and found.n_identified == 0
    moved = {**net.state_dict(), "fc.weight": net.fc.weight / 2}
    for name in ("bn", "bn2"):
        moved[f"{name}.weight"], moved[f"{name}.bias"] = 2 * getattr(net, name).weight, 2 * getattr(net, name).bias
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        assert float((torch.func.functional_call(net, moved, (x,)) - net(x)).norm()) < 1e-5 * float(net(x).norm())


def _in_span(v, basis):
    v = np.asarray(v, float) / np.linalg.norm(v)
    return np.linalg.norm(v - basis.T @ (basis @ v)) < 1e-8


def test_merged_groups_and_regularized_biases_keep_their_flat_directions():
    """A group merging tensors of one chain moves their log-scales together: with W₀, W₂ in one
    group, δ_body·e^t, δ_head·e^(−2t) is the same objective up to W₀, W₂ × e^(−t/2), W₄ × e^t
    (product 1: the same function). A regularized bias breaks the pair W₀ → W₂, but not the
    move of δ of W₀ and b₀ up against W₂'s."""
    net = _mlp()
    found = identifiability(net, by={"body": ["0.weight", "2.weight"]})
    assert found.groups == ["body", "4.weight"] and found.n_identified == 1
    assert _in_span([1.0, -2.0], found.flat)
    t, x = 0.7, torch.randn(16, 4)
    c = np.exp(-t / 2)
    with torch.no_grad():
        moved = {**net.state_dict(), "0.weight": net[0].weight * c, "0.bias": net[0].bias * c,
                 "2.weight": net[2].weight * c, "2.bias": net[2].bias * c * c, "4.weight": net[4].weight / (c * c)}
        assert float((torch.func.functional_call(net, moved, (x,)) - net(x)).norm()) < 1e-5 * float(net(x).norm())
    body = lambda state: float(state["0.weight"].pow(2).sum() + state["2.weight"].pow(2).sum())  # noqa: E731
    head = lambda state: float(state["4.weight"].pow(2).sum())  # noqa: E731
    before = dict(net.state_dict())
    np.testing.assert_allclose(np.exp(t) * body(moved) + np.exp(-2 * t) * head(moved), body(before) + head(before),
                               rtol=1e-5)
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3))
    assert identifiability(conv, "module_type", example=torch.randn(4, 1, 10, 10)).n_identified == 1
    with_bias = identifiability(net, regularize_bias=True)
    index = {name: i for i, name in enumerate(with_bias.groups)}
    v = np.zeros(len(index))
    v[index["0.weight"]], v[index["0.bias"]], v[index["2.weight"]] = 1.0, 1.0, -1.0
    assert _in_span(v, with_bias.flat) and not _in_span(v - 2 * np.eye(len(index))[index["0.bias"]], with_bias.flat)
    assert with_bias.n_identified == 4


def test_a_group_ahead_of_a_scale_invariant_one_is_flat_too():
    """W₀ → LeakyReLU → W₂ → LayerNorm (no affine) → ReLU → W₅: W₂'s scale is free, and W₀'s can
    pass to W₂ (W₀ × c, b₀ × c, W₂ / c keeps f): only δ of W₅ is identified."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 8), nn.LayerNorm(8, elementwise_affine=False),
                        nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(16, 4)
    with torch.no_grad():
        moved = {**net.state_dict(), "0.weight": 3 * net[0].weight, "0.bias": 3 * net[0].bias,
                 "2.weight": net[2].weight / 3}
        assert float((torch.func.functional_call(net, moved, (x,)) - net(x)).norm()) < 1e-4 * float(net(x).norm())
    found = identifiability(net)
    assert found.scale_invariant == ["2.weight"] and "0.weight" in found.absorbed
    assert found.n_identified == 1 and _in_span([0.0, 0.0, 1.0], found.identified)


class _TiedChain(nn.Module):
    """x → A → ReLU → L → ReLU → L → ReLU → B: one bias-free Linear L applied twice."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.tied, self.b = nn.Linear(4, 8), nn.Linear(8, 8, bias=False), nn.Linear(8, 2)

    def forward(self, x):
        h = torch.relu(self.tied(torch.relu(self.a(x))))
        return self.b(torch.relu(self.tied(h)))


def test_a_weight_applied_twice_needs_the_inverse_square_and_is_found():
    """Scaling the tied L by c scales both of its uses: L × c, B / c² keeps f (B / c does not),
    and δ_L c², δ_B / c⁴ is the same objective up to that move, so log δ is flat along
    e_L − 2 e_B as well as along e_A − e_B: only δ_A δ_L² δ_B is identified."""
    net, x, c = _TiedChain(), torch.randn(16, 4), 1.7

    def change(**scales):
        state = net.state_dict()
        moved = {**state, **{k.replace("_", "."): state[k.replace("_", ".")] * s for k, s in scales.items()}}
        with torch.no_grad():
            return float((torch.func.functional_call(net, moved, (x,)) - net(x)).norm() / net(x).norm())
    assert change(tied_weight=c, b_weight=1 / c ** 2) < 1e-5 and change(tied_weight=c, b_weight=1 / c) > 0.1
    assert change(a_weight=c ** 2, a_bias=c ** 2, tied_weight=1 / c) < 1e-5
    found = identifiability(net)
    assert found.groups == ["a.weight", "tied.weight", "b.weight"]
    assert found.n_identified == 1 and _in_span([1.0, 2.0, 1.0], found.identified)
    assert _in_span([0.0, 1.0, -2.0], found.flat) and _in_span([1.0, 0.0, -1.0], found.flat)
    assert found.powers[("tied.weight", "b.weight")] == (1, 2)
    assert "a weight applied more than once" in str(found)
    penalty = lambda d, s: d[0] * float(s["a.weight"].pow(2).sum()) + d[1] * float(  # noqa: E731
        s["tied.weight"].pow(2).sum()) + d[2] * float(s["b.weight"].pow(2).sum())
    before = dict(net.state_dict())
    moved = {**before, "tied.weight": before["tied.weight"] * c, "b.weight": before["b.weight"] / c ** 2}
    np.testing.assert_allclose(penalty([1.0, c ** 2, c ** -4], before), penalty([1.0, 1.0, 1.0], moved), rtol=1e-5)
