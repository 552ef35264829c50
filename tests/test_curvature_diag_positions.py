"""The diagonal GGN of a Linear applied at several positions per sample (mean-pooled sequence)."""
import torch
from torch import nn
from torch.func import functional_call, jacrev

from lamina.torch.curvature import GGNCurvature
from lamina.torch.likelihoods import Gaussian
from lamina.torch.penalty import Regularizer


def test_diag_curvature_of_a_layer_shared_over_positions_keeps_the_cross_position_terms():
    """Token-wise Linear, tanh, mean over T positions, Linear; Gaussian likelihood. A sample's
    gradient is Σ_t g_t a_tᵀ: the per-row Σ_t g_t² a_t² dropped the cross terms and gave 0.48 ×
    the exact diagonal trace (inputs sharing a mean over positions, T = 4)."""
    torch.manual_seed(0)
    n, T, d = 6, 4, 3

    class Pooled(nn.Module):
        def __init__(self):
            super().__init__()
            self.l1, self.l2 = nn.Linear(d, 4), nn.Linear(4, 5)

        def forward(self, x):
            return self.l2(torch.tanh(self.l1(x)).mean(1))

    net = Pooled().double()
    X = torch.randn(n, T, d, dtype=torch.float64) + 1.0
    params = {k: v.detach() for k, v in net.named_parameters()}
    J = jacrev(lambda w: functional_call(net, {**params, "l1.weight": w}, (X,)))(params["l1.weight"])
    exact = J.reshape(n * 5, -1).pow(2).sum(0)          # diag of Σ_n J_nᵀ J_n (β = 1)
    curvature = GGNCurvature(net, Regularizer(net, n, 1.0).reg_groups, "diag", decay=1 - 1 / 2000)
    generator = torch.Generator().manual_seed(1)
    for _ in range(2000):
        out = net(X)
        curvature.accumulate(out, Gaussian().sample_output_grad(out, generator))
    h = curvature.spectra(n)[0]
    assert 0.9 < float(h.sum() / exact.sum()) < 1.1, float(h.sum() / exact.sum())
    assert float((h - exact).norm() / exact.norm()) < 0.15
