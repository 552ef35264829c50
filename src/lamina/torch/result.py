"""What every network tuner answers (:class:`NetTuneResult`) and the recipe it trains with
(:class:`Recipe`) — in their own module so that the tuners import them without a cycle
through :mod:`lamina.torch.tune`."""
from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from lamina.tuners.base import TuneResult


@dataclass
class NetTuneResult(TuneResult):
    """:class:`TuneResult` of a network tuner, with the training history.

    ``fitted`` is the trained model (also ``.model``); ``lambdas`` maps group name → δ_g;
    ``trajectory`` the δ vector after each epoch (online tuners) or each trial/grid point;
    ``compute.seconds`` the wall time of the whole tuning (also ``.seconds``).
    """

    history: dict = field(default_factory=dict)

    @property
    def model(self) -> nn.Module:
        return self.fitted

    @property
    def seconds(self) -> float:
        return self.compute.seconds


@dataclass(frozen=True)
class Recipe:
    """The training recipe shared by every method of one comparison."""

    epochs: int = 300
    lr: float = 3e-3
    batch_size: int = 128
    seed: int = 0
    optimizer: str = "adam"
