"""Tuners of the λ vector; the shared interface lives in :mod:`lamina.tuners.base`."""
from lamina.tuners.base import Compute, Stopwatch, TuneResult, Tuner

__all__ = ["Compute", "Stopwatch", "TuneResult", "Tuner"]
