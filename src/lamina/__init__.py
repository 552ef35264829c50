"""lamina — regularization with a λ per group: per layer, per feature group, per scale.

Objective conventions
---------------------
Operators / inverse problems:  ½‖Ax − b‖² + Σ_g λ_g R(x_g)            (``lamina.solve``)
Estimators on n samples:       1/(2n)‖y − Xw‖² + Σ_g λ_g R(w_g)       (scikit-learn's)
R: L0 = #nonzeros, L1 = Σ|x|, L2 = ½‖x‖², elastic net and group L1 as in scikit-learn.
"""
from lamina.api import Solver, solve
from lamina.estimators import ElasticNetModel, GroupLasso, Lasso, LogisticRegression, Ridge
from lamina.tuners.linear import EvidenceTuner, GridCVTuner, HypergradientTuner, OptunaTuner
from lamina.groups import Groups
from lamina.penalties import L0, L1, L2, ElasticNet, GroupL1, Penalty
from lamina.scaling import ScalingRule, scale_weights
from lamina.solvers.base import ConvergenceWarning, SolveResult
from lamina.solvers.path import Path, lam_grid, regularization_path

__version__ = "0.1.0"

__all__ = [
    "solve", "Solver", "SolveResult", "ConvergenceWarning",
    "Groups", "ScalingRule", "scale_weights",
    "Penalty", "L0", "L1", "L2", "ElasticNet", "GroupL1",
    "Lasso", "ElasticNetModel", "Ridge", "GroupLasso",
    "regularization_path", "lam_grid", "Path",
    "LogisticRegression", "EvidenceTuner", "HypergradientTuner", "GridCVTuner", "OptunaTuner",
]
