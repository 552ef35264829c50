"""lamina.torch.pruning against the papers' own definitions, reimplemented here independently:
global = torch.nn.utils.prune.global_unstructured (L1Unstructured); ERK = RigL's get_sparsities
loop (the layers of largest raw density made dense one group at a time, ε solved again); LAMP =
the official _normalize_scores (w_u² / Σ_{v ≥ u} w_v², ascending order) and a global threshold."""
import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from lamina.torch import pruning


def _mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class _CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16)
        self.conv2, self.bn2 = nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32)
        self.head = nn.Linear(128, 10)


def _weights(model):
    return [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]


def _rigl_erk(shapes, density):
    n = np.array([np.prod(s) for s in shapes], dtype=np.float64)
    raw = np.array([np.sum(s) / np.prod(s) for s in shapes])
    dense = set()
    while True:
        sparse = [i for i in range(len(shapes)) if i not in dense]
        eps = (density * n.sum() - sum(n[i] for i in dense)) / sum(raw[i] * n[i] for i in sparse)
        top = max(raw[i] for i in sparse)
        if eps * top <= 1:
            return np.array([1.0 if i in dense else eps * raw[i] for i in range(len(shapes))])
        dense |= {i for i in sparse if raw[i] == top}


def _official_lamp(w):
    s = w.detach().double().flatten().pow(2)
    ss, idx = s.sort()
    before = torch.zeros_like(ss)
    before[1:] = ss.cumsum(0)[:-1]
    out = torch.zeros_like(s)
    out[idx] = ss / (s.sum() - before)
    return out


MODELS = [lambda: _mlp((20, 30, 20, 5)), _CNN, lambda: _mlp((64, 8, 8, 2)), lambda: _mlp((2, 10, 10, 1))]


@pytest.mark.parametrize("make", MODELS)
@pytest.mark.parametrize("rho", [0.5, 0.9, 0.95, 0.98])
def test_allocations_match_the_papers_definitions(make, rho):
    torch.manual_seed(0)
    base = make()
    ws = [w.detach().clone() for w in _weights(base)]
    sizes = np.array([w.numel() for w in ws])
    keep = round((1 - rho) * sizes.sum())
    # global: the masks of torch's global_unstructured, exactly
    ref = copy.deepcopy(base)
    pairs = [(m, "weight") for m in ref.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=int(sizes.sum() - keep))
    masks = pruning.magnitude_masks(copy.deepcopy(base), "global", rho)
    assert all(torch.equal(m.weight_mask.bool(), mask) for (m, _), mask in zip(pairs, masks))
    # ERK: RigL's densities, each count within 1 of d_l P_l and the total exactly K
    d = _rigl_erk([tuple(w.shape) for w in ws], 1 - rho)
    np.testing.assert_allclose(pruning.erk_densities([tuple(w.shape) for w in ws], 1 - rho), d, rtol=1e-12)
    counts = [int(m.sum()) for m in pruning.magnitude_masks(copy.deepcopy(base), "ERK", rho)]
    assert sum(counts) == keep and np.all(np.abs(np.array(counts) - d * sizes) < 1)
    # uniform: within 1 of (1 − ρ) P_l (l1_unstructured's round per layer), total exactly K
    counts = [int(m.sum()) for m in pruning.magnitude_masks(copy.deepcopy(base), "uniform", rho)]
    assert sum(counts) == keep and np.all(np.abs(np.array(counts) - (1 - rho) * sizes) < 1)
    # LAMP: the official scores, and the per-layer counts of a global threshold on them
    for w in ws:
        torch.testing.assert_close(pruning.lamp_scores(w).double(), _official_lamp(w), rtol=1e-5, atol=0)
    scores = [_official_lamp(w) for w in ws]
    threshold = torch.topk(torch.cat(scores), keep).values[-1]
    lamp = pruning.magnitude_masks(copy.deepcopy(base), "LAMP", rho)
    if keep >= len(ws):   # below that, which layer keeps its score-1 weight is a tie
        assert [int(m.sum()) for m in lamp] == [int((s >= threshold).sum()) for s in scores]
    # every allocation: each layer keeps its largest magnitudes
    for kind in pruning.ALLOCATIONS:
        for w, mask in zip(ws, pruning.magnitude_masks(copy.deepcopy(base), kind, rho)):
            if mask.any() and (~mask).any():
                assert float(w.abs()[mask].min()) >= float(w.abs()[~mask].max())


def test_a_layer_can_be_emptied_when_the_budget_is_below_the_number_of_layers():
    """15 + 10 weights at 95 %: K = round(1.25) = 1 weight for two layers — LAMP too keeps one
    layer empty (the docstring's "no layer is emptied" holds only for K ≥ the number of layers)."""
    torch.manual_seed(0)
    net = _mlp((3, 5, 2))
    for kind in pruning.ALLOCATIONS:
        masks = pruning.magnitude_masks(copy.deepcopy(net), kind, 0.95)
        assert sum(int(m.sum()) for m in masks) == 1
