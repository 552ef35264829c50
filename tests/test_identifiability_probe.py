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
