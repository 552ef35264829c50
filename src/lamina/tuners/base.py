"""The one interface every tuner of a λ vector shares — networks, linear models, inverse problems.

A tuner chooses one regularization strength per group. Whatever it tunes, it answers with a
:class:`TuneResult`: the fitted thing, the λ per group (by group name), how the λ vector moved
while it was chosen, and what the choice cost. Tables, plots and the HTML report read only
this object, so every tuner — evidence, hypergradient, K-fold CV, Optuna, GCV, SURE … — lands
in the same table.

Conventions for the λ each family reports (see README):

* linear estimators: λ_g of 1/(2n)‖y − Xw‖² + Σ_g λ_g R_g(w_g) (scikit-learn's scaling);
* inverse problems: λ_g of ½‖Ax − b‖² + Σ_g λ_g R_g(x_g);
* networks: δ_g, the Gaussian prior precision of mean loss + 1/(2N) Σ_g δ_g ‖W_g‖².
"""
from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Compute:
    """What a tuner spent. ``fits`` counts full trainings/solves, one per training or solve
    whether on all rows or on a fold's (fractions allowed, e.g. a run stopped early, or the
    overhead of an online tuner as a fraction of one fit); ``epochs`` counts passes over the
    training data (networks) or solver iterations summed over fits (linear/inverse)."""

    fits: float = 0.0
    epochs: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"fits": float(self.fits), "epochs": float(self.epochs), "seconds": float(self.seconds)}


@dataclass
class TuneResult:
    """Outcome of tuning a λ vector.

    Attributes
    ----------
    method : str
        Tuner name ("evidence", "hypergradient", "cv", "optuna", "gcv", …).
    lambdas : dict[str, float]
        Chosen λ per group name, in the family's convention (see module docstring).
    fitted : object
        The trained model / fitted estimator / solution at the chosen λ.
    trajectory : list[dict[str, float]]
        The λ vector after each tuner step (one dict per step; may be empty for grid tuners).
    compute : Compute
        Fits, epochs and seconds spent, the selection included.
    curve : dict, optional
        What the choice was read from, e.g. {"lam": [...], "score": [...]} for a grid.
    info : dict
        Anything tuner-specific (per-group effective degrees of freedom, switched-off groups …).
    """

    method: str
    lambdas: dict[str, float]
    fitted: Any = None
    trajectory: list[dict[str, float]] = field(default_factory=list)
    compute: Compute = field(default_factory=Compute)
    curve: dict | None = None
    info: dict = field(default_factory=dict)

    @property
    def lambda_vector(self) -> np.ndarray:
        """λ per group as an array, in the order of :attr:`lambdas`."""
        return np.array(list(self.lambdas.values()), dtype=np.float64)

    def summary(self) -> dict:
        """A JSON-serializable row for tables and studies."""
        return {"method": self.method, "lambdas": {k: float(v) for k, v in self.lambdas.items()},
                **self.compute.as_dict()}


class Tuner(abc.ABC):
    """Base class of the tuners. Subclasses set :attr:`name` and implement :meth:`tune`.

    ``tune``'s arguments depend on the family (a model and data for networks, X and y for
    linear models, an operator and data for inverse problems); its answer is always a
    :class:`TuneResult`.
    """

    name: str = "tuner"

    @abc.abstractmethod
    def tune(self, *args, **kwargs) -> TuneResult:
        """Choose the λ vector; return a :class:`TuneResult`."""


class Stopwatch:
    """``with Stopwatch() as clock: ...; clock.seconds`` — wall time of a block."""

    def __enter__(self) -> "Stopwatch":
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def elapsed(self) -> float:
        """Seconds since the block started (while it runs)."""
        return time.perf_counter() - self._start

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self._start
