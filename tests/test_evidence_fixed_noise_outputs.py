"""The recorded Laplace log evidence of a multi-output regression at a fixed noise precision."""
import numpy as np
import torch
from torch import nn

from lamina.torch.evidence import OnlineEvidence
from lamina.torch.likelihoods import Gaussian
from lamina.torch.penalty import Regularizer


def test_recorded_log_evidence_counts_every_output_when_the_noise_is_fixed():
    """Linear model, 2 outputs, β held (update_noise=False), weights at the MAP: the Laplace
    evidence is exact. The outputs per sample were only counted when β was learned, so the NLL's
    normalizer used D = 1: recorded −20.494 for an exact −24.930 (off by ½N(D−1) log(2π/β))."""
    torch.manual_seed(0)
    n, p, D = 12, 3, 2
    Q, _ = torch.linalg.qr(torch.randn(n, p, dtype=torch.float64))
    X = Q * torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64)   # XᵀX diagonal: the diag GGN is exact
    Y = X @ torch.randn(p, D, dtype=torch.float64) + 0.5 * torch.randn(n, D, dtype=torch.float64)
    model, likelihood = nn.Linear(p, D, bias=False).double(), Gaussian(3.0)
    reg = Regularizer(model, n, 0.7)
    evidence = OnlineEvidence(model, reg, likelihood, structure="diag", decay=0.0, inner_iterations=1,
                              scale_invariant=None, burn_in=0, update_every=1, update_noise=False)
    Xn, Yn, beta = X.numpy(), Y.numpy(), 3.0
    W = np.linalg.solve(Xn.T @ Xn + 0.7 / beta * np.eye(p), Xn.T @ Yn)
    with torch.no_grad():
        model.weight.copy_(torch.as_tensor(W.T))
    evidence.on_forward(model(X), Y)
    assert evidence.on_epoch_end(0)
    delta = float(reg.delta)
    r = Yn - Xn @ W
    A = beta * Xn.T @ Xn + delta * np.eye(p)
    exact = (-0.5 * beta * (r ** 2).sum() + 0.5 * n * D * np.log(beta / (2 * np.pi))
             - 0.5 * delta * (W ** 2).sum() + 0.5 * p * D * np.log(delta) - 0.5 * D * np.linalg.slogdet(A)[1])
    np.testing.assert_allclose(evidence.log_evidence[-1][1], exact, rtol=1e-6, atol=1e-5)   # β is float32
