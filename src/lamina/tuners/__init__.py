"""Tuners of the λ vector.

* :mod:`lamina.tuners.base` — the answer every tuner gives (:class:`TuneResult`);
* :mod:`lamina.tuners.problem` — :class:`TunableProblem`, what a family (linear models, inverse
  problems, networks) supplies so that a tuner is written once;
* :mod:`lamina.tuners.search` — the tuners written once: :class:`GridSearch`,
  :class:`OptunaSearch`, :class:`HypergradientSearch`; :class:`EvidenceSearch`
  (:mod:`lamina.tuners.evidence_search`) on the one MacKay step of :mod:`lamina.tuners.evidence`;
* :mod:`lamina.tuners.registry` — the names ``tuner=`` accepts: :func:`available`.
"""
from lamina.tuners.base import Compute, Stopwatch, TuneResult, Tuner
from lamina.tuners.problem import TunableProblem
from lamina.tuners.registry import available, describe
from lamina.tuners.search import GridSearch, HypergradientSearch, OptunaSearch, ProblemTuner
from lamina.tuners.evidence_search import EvidenceSearch

__all__ = ["Compute", "EvidenceSearch", "GridSearch", "HypergradientSearch", "OptunaSearch", "ProblemTuner", "Stopwatch",
           "TunableProblem", "TuneResult", "Tuner", "available", "describe"]
