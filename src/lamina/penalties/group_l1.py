"""Group L1 (group lasso): Σ_g λ_g w_g ‖x_g‖₂."""
from __future__ import annotations

import numpy as np

from lamina.penalties.base import Penalty, direction_thresholds, max_ratio


class GroupL1(Penalty):
    """Sum of Euclidean norms of the groups, one λ and one penalty factor per group.

    Parameters
    ----------
    weights : array, shape (n_groups,), optional
        Penalty factor per group; the usual group-lasso choice is √n_g
        (``lamina.scale_weights("sqrt_size", groups, normalize=False)``). 0 = unpenalized.

    Notes
    -----
    prox_{s R}(x)_g = max(0, 1 − s λ_g w_g / ‖x_g‖) x_g (block soft thresholding).
    Conjugate: indicator of ‖u_g‖ ≤ λ_g w_g for every group.

    Examples
    --------
    >>> from lamina.groups import Groups
    >>> GroupL1().prox(np.array([3.0, 4.0, 0.1]), np.array([1.0, 1.0]), Groups.contiguous([2, 1]), 1.0).round(12).tolist()
    [2.4, 3.2, 0.0]
    """

    name = "group_l1"
    separable = False

    def value(self, x, lam, groups):
        return float(np.dot(self.thresholds(lam, groups), groups.norms(x)))

    def prox(self, x, lam, groups, step):
        norms = groups.norms(x)
        shrink = np.maximum(0.0, 1.0 - step * self.thresholds(lam, groups) / np.maximum(norms, 1e-300))
        return x * groups.expand(shrink)

    def subdiff_distance(self, x, grad, lam, groups):
        thresholds = self.thresholds(lam, groups)
        norms = groups.norms(x)
        unit = x / groups.expand(np.where(norms > 0, norms, 1.0))
        active = groups.norms(grad + groups.expand(thresholds) * unit)
        return np.where(norms > 0, active, np.maximum(groups.norms(grad) - thresholds, 0.0))

    def lam_max(self, grad0, groups, direction=None):
        return max_ratio(groups.norms(grad0), direction_thresholds(self, groups, direction))

    def dual_scale(self, corr, lam, groups):
        return max(1.0, max_ratio(groups.norms(corr), self.thresholds(lam, groups)))

    def conjugate(self, corr, lam, groups):
        return 0.0
