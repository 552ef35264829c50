"""Penalties with a λ per group: value, prox, optimality and dual pieces, and the optional
capabilities solvers and tuners ask for by name (see ``base``)."""
from enum import Enum

from lamina.penalties.base import CAPABILITIES, MissingCapability, Penalty
from lamina.penalties.elastic_net import L1, L2, ElasticNet
from lamina.penalties.group_l1 import GroupL1
from lamina.penalties.l0 import L0


class PenaltyName(str, Enum):
    L0 = "l0"
    L1 = "l1"
    L2 = "l2"
    ELASTICNET = "elasticnet"
    GROUP_L1 = "group_l1"


_BY_NAME = {PenaltyName.L0: L0, PenaltyName.L1: L1, PenaltyName.L2: L2,
            PenaltyName.ELASTICNET: ElasticNet, PenaltyName.GROUP_L1: GroupL1}


def make_penalty(penalty) -> Penalty:
    """A Penalty from a name ('l0', 'l1', 'l2', 'elasticnet', 'group_l1') or a Penalty."""
    if isinstance(penalty, Penalty):
        return penalty
    try:
        return _BY_NAME[PenaltyName(penalty)]()
    except ValueError:
        choices = ", ".join(repr(name.value) for name in PenaltyName)
        raise ValueError(f"penalty must be a Penalty or one of {choices}; got {penalty!r}") from None


__all__ = ["Penalty", "MissingCapability", "CAPABILITIES", "L0", "L1", "L2", "ElasticNet", "GroupL1",
           "PenaltyName", "make_penalty"]
