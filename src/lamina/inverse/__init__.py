"""Inverse problems on PyLops operators: problem builders and studies."""
from lamina.inverse.problems import InverseProblem, add_noise, deconvolution, reflectivity, ricker

__all__ = ["InverseProblem", "deconvolution", "ricker", "reflectivity", "add_noise"]
