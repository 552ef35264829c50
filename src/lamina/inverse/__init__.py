"""Inverse problems on PyLops operators: builders, automatic λ, sparse recovery, phase diagrams.

Objective: ½‖Ax − b‖² + Σ_g λ_g R(x_g), R ∈ {L0, L1, L2} (PyLops' convention).

* :func:`fit` — solve with λ given, or chosen by ``tuner=`` (the rules "discrepancy", "gcv",
  "sure", "cv", "lcurve", or any tuner of :mod:`lamina.tuners.search` on the problem as an
  :class:`~lamina.inverse.tunable.OperatorProblem`), optionally one λ per group (hypergradient or SURE);
* :func:`reconstruct` — a full trace or image from irregularly observed samples (model and λ per
  group chosen by cross-validation over the observed samples);
* :func:`recover` — noiseless sparse recovery (IRLS by default; basis pursuit, reweighted L1, OMP);
* :func:`phase_diagram`, :func:`donoho_tanner_weak` — empirical and theoretical phase transitions;
* problem builders: :func:`deconvolution`, :func:`deconvolution_2d`, :func:`interpolation`,
  :func:`compressed_sensing`, :func:`seismogram_recovery`.
"""
from lamina.inverse.fit import DEFAULT_RULE, FitResult, fit
from lamina.inverse.noise import NoiseEstimate, NoiseEstimateWarning, estimate_noise, estimate_sigma
from lamina.inverse.phase import PhaseDiagram, donoho_tanner_weak, phase_diagram
from lamina.inverse.problems import (InverseProblem, add_noise, deconvolution, deconvolution_2d, filled_snr,
                                     frequency_band_groups, interpolation, reflectivity, ricker, time_window_groups)
from lamina.inverse.sensing import compressed_sensing, seismogram_recovery, wavelet_scale_groups
from lamina.inverse.heldout import UnsupportedFillWarning
from lamina.inverse.reconstruct import Reconstruction, reconstruct
from lamina.inverse.regular import RegularMaskWarning
from lamina.inverse.recover import Recovery, basis_pursuit, irls, recover
from lamina.inverse.rules import GCV, SURE, Discrepancy, KFoldCV, LCurve, Rule

__all__ = [
    "fit", "FitResult", "DEFAULT_RULE", "Rule", "Discrepancy", "GCV", "SURE", "KFoldCV", "LCurve",
    "reconstruct", "Reconstruction", "RegularMaskWarning", "UnsupportedFillWarning", "recover", "Recovery", "basis_pursuit", "irls", "phase_diagram", "PhaseDiagram", "donoho_tanner_weak",
    "estimate_sigma", "NoiseEstimate", "NoiseEstimateWarning", "estimate_noise", "InverseProblem", "deconvolution", "deconvolution_2d", "interpolation", "filled_snr",
    "compressed_sensing", "seismogram_recovery", "ricker", "reflectivity", "add_noise",
    "time_window_groups", "frequency_band_groups", "wavelet_scale_groups",
]
