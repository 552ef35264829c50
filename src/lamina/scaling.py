"""Scaling rules: one λ → one weight per group, so that λ_g = λ · s_g.

Every rule returns weights normalized (by default) so that their coefficient-weighted mean
is one, Σ_g n_g s_g / Σ_g n_g = 1: a scaled λ then spends the same total penalty budget as
the uniform one, and the two can be compared at equal λ.

=================  =========================  ==========================================
rule               s_g ∝                      rationale
=================  =========================  ==========================================
``uniform``        1                          one λ for everything
``per_element``    1 / n_g                    every group pays the same total, whatever its size
``sqrt_size``      √n_g                       group-lasso convention (Yuan & Lin 2006)
``fan_in``         fan_in_g                   Gaussian prior of variance 1/fan_in (LeCun/He init.)
``inverse_norm``   1 / ‖r_g‖²                 MacKay's evidence fixed point λ_g = γ_g/‖w_g‖²
                                              with γ_g constant, from a reference vector r
=================  =========================  ==========================================
"""
from __future__ import annotations

from enum import Enum

import numpy as np

from lamina._validation import check_positive_float, parse_choice
from lamina.groups import Groups, as_groups


class ScalingRule(str, Enum):
    """Names of the scaling rules (see the module table)."""

    UNIFORM = "uniform"
    PER_ELEMENT = "per_element"
    SQRT_SIZE = "sqrt_size"
    FAN_IN = "fan_in"
    INVERSE_NORM = "inverse_norm"

    @classmethod
    def parse(cls, value) -> "ScalingRule":
        return parse_choice(cls, value, "rule")


def _partition(groups) -> Groups:
    """A Groups from a Groups, one label per coefficient, or index arrays covering 0..n−1."""
    if isinstance(groups, Groups):
        return groups
    if isinstance(groups, (list, tuple)) and groups and all(np.ndim(index) == 1 for index in groups):
        return as_groups(list(groups), sum(len(index) for index in groups))
    if groups is None or isinstance(groups, (str, bytes, dict)) or np.ndim(groups) != 1:
        raise TypeError(f"groups must be a Groups, a label per coefficient or a list of index arrays; "
                        f"got {groups!r:.80}")
    return as_groups(groups, len(groups))


def scale_weights(rule, groups: Groups, *, reference=None, fan_in=None,
                  normalize: bool = True, eps: float = 1e-12) -> np.ndarray:
    """Per-group weights ``s`` of a scaling rule, so that ``lam_g = lam * s[g]``.

    Parameters
    ----------
    rule : str or ScalingRule
        One of ``uniform``, ``per_element``, ``sqrt_size``, ``fan_in``, ``inverse_norm``.
    groups : Groups, labels (n_features,) or list of index arrays
        The partition the weights are for (anything :func:`~lamina.groups.as_groups` reads).
    reference : array, shape (n_features,), optional
        Reference coefficients (e.g. a least-squares or initial fit); needed by ``inverse_norm``.
    fan_in : array, shape (n_groups,), optional
        Number of inputs feeding each group; needed by ``fan_in``.
    normalize : bool
        Rescale so that Σ_g n_g s_g = Σ_g n_g (coefficient-weighted mean one).
    eps : float
        Floor on ‖r_g‖² for ``inverse_norm`` (a zero reference block gets weight 1/eps).

    Returns
    -------
    ndarray, shape (n_groups,)

    Notes
    -----
    ``inverse_norm`` is MacKay's fixed point λ_g = γ_g / ‖w_g‖² with the same number γ of
    well-determined parameters in every group; the evidence tuners estimate γ_g instead.

    Examples
    --------
    >>> g = Groups.contiguous([1, 4])
    >>> scale_weights("per_element", g, normalize=False).tolist()
    [1.0, 0.25]
    """
    rule = ScalingRule.parse(rule)
    check_positive_float(eps, "eps")
    groups = _partition(groups)
    sizes = groups.sizes.astype(np.float64)
    if rule is ScalingRule.UNIFORM:
        weights = np.ones(groups.n_groups)
    elif rule is ScalingRule.PER_ELEMENT:
        weights = 1.0 / sizes
    elif rule is ScalingRule.SQRT_SIZE:
        weights = np.sqrt(sizes)
    elif rule is ScalingRule.FAN_IN:
        if fan_in is None:
            raise ValueError("rule 'fan_in' needs fan_in=, one input count per group")
        weights = np.asarray(fan_in, dtype=np.float64)
        if weights.shape != (groups.n_groups,) or np.any(~np.isfinite(weights)) or np.any(weights <= 0):
            raise ValueError(f"fan_in must hold {groups.n_groups} positive finite values, got {fan_in!r}")
    else:
        if reference is None:
            raise ValueError("rule 'inverse_norm' needs reference=, one coefficient vector")
        reference = np.asarray(reference, dtype=np.float64)
        if reference.shape != (groups.n_features,) or not np.all(np.isfinite(reference)):
            raise ValueError(f"reference must be {groups.n_features} finite values, got shape {reference.shape}")
        weights = 1.0 / np.maximum(groups.norms(reference) ** 2, eps)
    if normalize:
        weights = weights * sizes.sum() / np.dot(sizes, weights)
    return weights
