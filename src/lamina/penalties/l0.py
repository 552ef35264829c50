"""L0 penalty: Σ_j λ_j w_j [x_j ≠ 0] (counts nonzeros; non-convex)."""
from __future__ import annotations

import numpy as np

from lamina.penalties.base import Penalty, direction_thresholds, group_max, max_ratio
from lamina.penalties.elastic_net import L1


class L0(Penalty):
    """Number of nonzeros, weighted by λ of the group and the penalty factor.

    Notes
    -----
    prox_{s R}(x)_j = x_j if x_j² > 2 s λ_j w_j else 0 (hard thresholding; ties go to 0).
    Stationarity used by solvers (a fixed point of the prox-gradient map): for x_j ≠ 0 the
    gradient must vanish; x_j = 0 is always stationary. ``lam_max`` is the λ above which
    the prox-gradient step with unit step sends every coefficient to zero from x = 0:
    max_j grad0_j² / (2 w_j).

    Examples
    --------
    >>> from lamina.groups import Groups
    >>> L0().prox(np.array([3.0, -1.0]), np.array([1.0]), Groups.single(2), step=1.0).tolist()
    [3.0, 0.0]
    """

    name = "l0"
    convex = False
    dof_rule = "support"
    grid_depth = 1e-4

    def in_scaled_coordinates(self, scale, groups):
        """Itself: a count of nonzeros does not see the scale."""
        return self._with_weights(self.weights)

    def value(self, x, lam, groups):
        return float(np.dot(self.thresholds(lam, groups), np.asarray(x) != 0))

    def prox(self, x, lam, groups, step):
        keep = np.asarray(x) ** 2 > 2.0 * step * self.thresholds(lam, groups)
        return np.where(keep, x, 0.0)

    def subdiff_distance(self, x, grad, lam, groups):
        # a coefficient with no cost (weight or λ_g 0) is smooth at 0 too: stationary only where grad = 0
        free = self.thresholds(lam, groups) == 0
        return np.where((np.asarray(x) != 0) | free, np.abs(grad), 0.0)

    def lam_max(self, grad0, groups, direction=None):
        return max_ratio(np.asarray(grad0) ** 2 / 2.0, direction_thresholds(self, groups, direction))

    # ------------------------------------------------------------------ capabilities
    def nonzero_costs(self, lam, groups):
        return self.thresholds(lam, groups)

    def entry_thresholds(self, grad, groups):
        """max_{j∈g} grad_j² / (2 w_j): the λ below which the unit-step prox-gradient map
        makes a zero coefficient of the group nonzero."""
        factors = self.factors(groups.n_features)
        ratios = np.where(factors > 0, np.asarray(grad) ** 2 / (2.0 * np.maximum(factors, 1e-300)), 0.0)
        return group_max(ratios, groups)

    def convex_surrogate(self):
        """L1 with the same factors."""
        return L1(weights=self.weights)
