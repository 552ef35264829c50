"""Tuners of a λ per feature group for linear models (regression and logistic): the registry.

Every tuner answers ``tune(X, y, spec) -> TuneResult`` with λ in scikit-learn's scaling,
objective 1/n Σ loss + Σ_g λ_g R(w_g) (see :mod:`lamina.tuners.linear_data` for ``spec``):

* :class:`EvidenceTuner` — grouped ARD / MacKay fixed point (:mod:`lamina.tuners.linear_evidence_tuner`).
* :class:`HypergradientTuner` — implicit differentiation of the K-fold held-out loss
  (:mod:`lamina.tuners.linear_hypergradient`).
* :class:`GridCVTuner`, :class:`OptunaTuner` — baselines (:mod:`lamina.tuners.linear_search`).

A tuner refuses, by name, a penalty without the methods it needs (``LinearTuner.check_penalty``).
"""
from __future__ import annotations

from enum import Enum

from lamina.tuners.linear_common import LinearTuner
from lamina.tuners.linear_data import LinearSpec, Loss
from lamina.tuners.linear_evidence_tuner import OFF, EvidenceTuner
from lamina.tuners.linear_hypergradient import (EVIDENCE_START_FLOPS, REENTRY_FRACTION, HypergradientTuner, descend,
                                                evidence_start_affordable, reentry_point)
from lamina.tuners.linear_search import GridCVTuner, OptunaTuner


class TunerName(str, Enum):
    """Names ``tuner=`` accepts."""

    AUTO = "auto"
    EVIDENCE = "evidence"
    HYPERGRADIENT = "hypergradient"
    CV = "cv"
    OPTUNA = "optuna"


def default_tuner_name(spec: LinearSpec) -> TunerName:
    """The tuner ``lam="auto"`` runs (measured in benchmarks/bench_linear_tuning.py):
    evidence for squared-loss ridge, hypergradient for everything else."""
    if spec.is_ridge and spec.loss is Loss.SQUARED:
        return TunerName.EVIDENCE
    return TunerName.HYPERGRADIENT


_TUNERS = {TunerName.EVIDENCE: EvidenceTuner, TunerName.HYPERGRADIENT: HypergradientTuner,
           TunerName.CV: GridCVTuner, TunerName.OPTUNA: OptunaTuner}


def make_tuner(tuner, spec: LinearSpec) -> LinearTuner:
    """A tuner from a name ("auto", "evidence", "hypergradient", "cv", "optuna") or an instance."""
    if isinstance(tuner, LinearTuner):
        return tuner
    try:
        name = TunerName(tuner)
    except ValueError:
        choices = ", ".join(repr(t.value) for t in TunerName)
        raise ValueError(f"tuner must be a LinearTuner or one of {choices}; got {tuner!r}") from None
    if name is TunerName.AUTO:
        name = default_tuner_name(spec)
    return _TUNERS[name]()


__all__ = ["EVIDENCE_START_FLOPS", "OFF", "REENTRY_FRACTION", "EvidenceTuner", "GridCVTuner", "HypergradientTuner",
           "LinearTuner", "OptunaTuner", "TunerName", "default_tuner_name", "descend", "evidence_start_affordable",
           "make_tuner", "reentry_point"]
