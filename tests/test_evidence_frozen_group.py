"""The δ of a group frozen after the regularizer was built."""
import torch
from torch import nn

from lamina.torch.evidence import OnlineEvidence
from lamina.torch.likelihoods import Classification
from lamina.torch.penalty import Regularizer


def test_a_frozen_group_keeps_its_delta():
    """A frozen group has no curvature (h = 0, γ = 0): the fixed point sent its δ from 1 to 1e-3
    in 3 updates (max_factor 10 per update, down to the 1e-8 floor), so that once unfrozen (a
    backbone frozen for the first epochs) it was not regularized at all."""
    torch.manual_seed(0)
    X, y = torch.randn(20, 3), torch.randint(0, 3, (20,))
    net = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 3))
    reg = Regularizer(net, 20, 1.0, regularize_bias=True)
    net[0].bias.requires_grad_(False)
    evidence = OnlineEvidence(net, reg, Classification(), decay=0.0, burn_in=0, update_every=1,
                              scale_invariant=None)
    for epoch in range(3):
        evidence.on_forward(net(X), y)
        assert evidence.on_epoch_end(epoch)
    assert reg.lambdas["0.bias"] == 1.0
    assert reg.lambdas["0.weight"] != 1.0    # the others are still updated
