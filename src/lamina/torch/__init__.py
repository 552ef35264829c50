"""lamina for PyTorch networks: one prior precision δ_g per parameter group, set and tuned.

Convention: loss = mean task loss + 1/(2N) Σ_g δ_g ‖W_g‖²; PyTorch weight_decay = δ_g / N.

>>> import torch, lamina.torch as lt
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
>>> [g.name for g in lt.discover_groups(net) if g.regularized]
['0.weight', '2.weight']
"""
from lamina.torch.evidence import GGNCurvature, OnlineEvidence
from lamina.torch.fit import DivergenceError, FitResult, evaluate, fit
from lamina.torch.groups import ParamGroup, discover_groups
from lamina.torch.identifiability import Identifiability, identifiability
from lamina.torch.likelihoods import Classification, Gaussian, make_likelihood
from lamina.torch.penalty import Regularizer, hard_threshold, soft_threshold
from lamina.torch.readout import MaximalUpdateRule, readout_groups
from lamina.torch.rules import AlphaHillRule, AWDRule, Rule, hill_alpha, static_weights
from lamina.torch.tune import NetTuneResult, Recipe, tune

__all__ = ["AWDRule", "AlphaHillRule", "Classification", "DivergenceError", "FitResult", "GGNCurvature", "Gaussian",
           "Identifiability", "MaximalUpdateRule", "NetTuneResult", "OnlineEvidence", "ParamGroup", "Recipe",
           "Regularizer", "Rule", "discover_groups", "evaluate", "fit", "identifiability", "hard_threshold",
           "hill_alpha", "make_likelihood", "readout_groups", "soft_threshold", "static_weights", "tune"]
