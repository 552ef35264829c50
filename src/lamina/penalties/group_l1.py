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

    # ------------------------------------------------------------------ capabilities
    def in_scaled_coordinates(self, scale, groups):
        """weights / the group's scale, where the scale is the same within each group (else None:
        ‖scale ∘ x_g‖ is no multiple of ‖x_g‖)."""
        scale = np.asarray(scale, dtype=np.float64)
        first = scale[groups.order[groups.ptr[:-1]]]
        if not np.allclose(scale, first[groups.labels], rtol=1e-12, atol=0.0):
            return None
        return self._with_weights(self.factors(groups.n_groups) / first)

    def block_l2_thresholds(self, lam, groups):
        return self.thresholds(lam, groups)

    def dual_norm(self, v, groups):
        """‖v_g‖₂ / c_g per group (0 for unpenalized groups)."""
        factors = self.factors(groups.n_groups)
        return np.where(factors > 0, groups.norms(v) / np.maximum(factors, 1e-300), 0.0)

    def generalized_support(self, x, lam, groups):
        """Coefficients of nonzero groups and of unpenalized groups."""
        active = (groups.norms(x) > 0) | (self.thresholds(lam, groups) == 0)
        return np.flatnonzero(active[groups.labels])

    def gradient_on_support(self, x, lam, groups, support):
        """t_g x_g / ‖x_g‖ on S (0 on unpenalized zero groups)."""
        norms = groups.norms(x)
        labels = groups.labels[support]
        safe = np.where(norms > 0, norms, 1.0)
        return self.thresholds(lam, groups)[labels] * (np.asarray(x)[support] / safe[labels])

    def hessian_on_support(self, x, lam, groups, support):
        """Block diagonal t_g/‖x_g‖ (I − u_g u_gᵀ), u_g = x_g/‖x_g‖, on S (a matrix)."""
        thresholds = self.thresholds(lam, groups)
        norms = groups.norms(x)
        labels = groups.labels[support]
        safe = np.where(norms > 0, norms, 1.0)
        unit = np.asarray(x)[support] / safe[labels]
        hessian = np.zeros((support.size, support.size))
        for g in np.unique(labels):
            if norms[g] == 0 or thresholds[g] == 0:
                continue
            idx = np.flatnonzero(labels == g)
            u = unit[idx]
            hessian[np.ix_(idx, idx)] = thresholds[g] / norms[g] * (np.eye(idx.size) - np.outer(u, u))
        return hessian

    def prior_factors(self, groups):
        """None: the group factors enter :meth:`prior_precision_to_lam` instead."""
        return None

    def prior_precision_to_lam(self, alpha, groups):
        """β n λ_g = √(α_g (p_g + 1)) / c_g (moment matching of the group-Laplace prior)."""
        c = self.factors(groups.n_groups)
        return np.sqrt(np.asarray(alpha, float) * (groups.sizes + 1)) / np.where(c > 0, c, 1.0)
