"""lamina.torch.identifiability's probe (lamina.torch.invariance.SymmetryProbe) on inputs where a
plain output-norm test misleads: an empty batch, a deep network whose output hardly depends on
its input at initialization."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from lamina.torch import identifiability  # noqa: E402


def test_an_empty_example_is_an_error_not_every_delta_identified():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with pytest.raises(ValueError, match="example.*empty"):
        identifiability(net, example=torch.randn(0, 4))


def test_a_deep_relu_chain_at_initialization_is_one_chain_with_no_bias_absorbing_a_weight():
    """At PyTorch's default initialization the signal of the input fades with depth: the output of
    this 9-layer chain varies over the batch by ~1e-3 of its size. Scaling the biases of 4, 6, 8 by c
    and W₁₀ by 1/c keeps the (nearly constant) output within 1e-2, but moves its input-dependent
    part by ~60 %: no symmetry, and 10.weight is not flat. Only the chain's product is identified."""
    torch.manual_seed(0)
    net = nn.Sequential(*[m for _ in range(8) for m in (nn.Linear(16, 16), nn.ReLU())], nn.Linear(16, 2))
    x = torch.randn(16, 16)
    with torch.no_grad():
        moved = {**net.state_dict(), **{f"{i}.bias": 2 * net[i].bias for i in (4, 6, 8)},
                 "10.weight": net[10].weight / 2}
        before, after = net(x), torch.func.functional_call(net, moved, (x,))
        varying = lambda out: out - out.mean(0)  # noqa: E731
        assert float((varying(after) - varying(before)).norm()) > 0.3 * float(varying(before).norm())
    found = identifiability(net, example=x)
    assert found.absorbed == {} and found.n_identified == 1
    np.testing.assert_allclose(np.abs(found.identified[0]), np.full(9, 1 / 3), atol=1e-12)


class _TiedAutoencoder(nn.Module):
    """Encoder and decoder share one square weight, registered under two names."""

    def __init__(self):
        super().__init__()
        self.enc, self.dec, self.head = nn.Linear(6, 6, bias=False), nn.Linear(6, 6, bias=False), nn.Linear(6, 2)
        self.dec.weight = self.enc.weight

    def forward(self, x):
        return self.head(torch.relu(self.dec(torch.relu(self.enc(x)))))


def test_call_with_unties_only_models_that_share_a_tensor():
    """The probes' forward passes skip functional_call's untying where no tensor is shared (it is most
    of their overhead on a small network) and keep it where one is: overriding the tied weight under
    its first name replaces both of its uses, as functional_call's default does."""
    from lamina.torch.invariance import call_with, has_tied_tensors
    torch.manual_seed(0)
    tied, plain = _TiedAutoencoder(), nn.Sequential(nn.Linear(6, 6), nn.ReLU(), nn.Linear(6, 2))
    assert has_tied_tensors(tied) and not has_tied_tensors(plain)
    x = torch.randn(5, 6)
    with torch.no_grad():
        state = {"enc.weight": 2 * tied.enc.weight}
        expected = torch.func.functional_call(tied, state, (x,))          # tie_weights=True: both uses
        assert torch.equal(call_with(tied, state, (x,)), expected)
        one_use = torch.func.functional_call(tied, state, (x,), tie_weights=False)
        assert not torch.allclose(one_use, expected)
        moved = {"0.weight": 2 * plain[0].weight, "2.weight": plain[2].weight / 2}
        assert torch.equal(call_with(plain, moved, (x,)), torch.func.functional_call(plain, moved, (x,)))
    # the shared weight scaled by c is applied twice: the head takes 1/c² (the tied weight's powers)
    found = identifiability(tied, example=x)
    assert found.powers.get(("enc.weight", "head.weight")) == (1, 2), found.powers


class _HeadFirst(nn.Module):
    """The head is registered before the body it follows: registration order is not forward order."""

    def __init__(self):
        super().__init__()
        self.head, self.body = nn.Linear(8, 2, bias=False), nn.Linear(4, 8, bias=False)

    def forward(self, x):
        return self.head(torch.relu(self.body(x)))


def test_pairs_are_tested_in_forward_order_only_and_found_whatever_the_registration():
    """A bias-free ReLU chain is symmetric under every pair of its layers, both ways round; a pair
    whose scaled-up side runs after the other is the reverse of one already tested, so each pair
    is reported once, upstream first — by the order of the calls, not of the registration."""
    torch.manual_seed(0)
    chain = nn.Sequential(nn.Linear(4, 8, bias=False), nn.ReLU(), nn.Linear(8, 8, bias=False), nn.ReLU(),
                          nn.Linear(8, 2, bias=False))
    found = identifiability(chain)
    assert found.pairs == [("0.weight", "2.weight"), ("0.weight", "4.weight"), ("2.weight", "4.weight")]
    assert found.chains == [("0.weight", "2.weight", "4.weight")] and found.n_identified == 1
    reordered = identifiability(_HeadFirst(), example=torch.randn(16, 4))
    assert reordered.pairs == [("body.weight", "head.weight")] and reordered.n_identified == 1


def test_downstream_compares_the_calls_of_the_owning_modules():
    from lamina.torch.invariance import SymmetryProbe
    torch.manual_seed(0)
    probe = SymmetryProbe(_HeadFirst(), (torch.randn(16, 4),), tol=1e-2, factor=2.0, seed=0)
    assert probe.calls["body"] < probe.calls["head"]
    assert probe.downstream(["head.weight"], ["body.weight"]) and not probe.downstream(["body.weight"], ["head.weight"])
    assert not probe.downstream(["head.weight"], ["head.weight"])   # the same module is not after itself
    assert not probe.downstream(["unknown.weight"], ["body.weight"])   # never called: no claim


def test_a_bias_removed_by_batch_norm_is_still_found_flat_when_biases_are_regularized():
    """Biases alone are not tried as the scaled-up side of a pair with a weight that is not
    scale-invariant (an offset scaled while its weight is not is undone by no weight); before a
    BatchNorm, which removes the bias whatever its size, its δ is still reported not identified."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    found = identifiability(net, example=torch.randn(16, 4), regularize_bias=True)
    assert "0.bias" in found.absorbed and "0.weight" in found.scale_invariant
