"""Inverse-problem study: L0, L1 and L2 along a λ path, λ chosen by a rule, against the oracle.

For each penalty the whole warm-started path is solved; every point records the relative
error against the truth (of the model: the reflectivity, or the full gather for
interpolation) and the residual norm. A rule of :mod:`lamina.inverse.rules` picks λ — by
default the discrepancy principle, the largest λ whose residual is at most √m σ (σ known) —
and the oracle λ (least error, using the truth) is reported beside it so the reader sees
what the automatic choice costs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from lamina.groups import Groups
from lamina.inverse.problems import InverseProblem
from lamina.inverse.rules import Rule, make_rule, parse_rule
from lamina.operators import as_forward_model, rmatvec, squared_norm_estimate
from lamina.penalties import make_penalty


@dataclass
class PenaltyCurve:
    """One penalty's path: λ grid, errors, residuals, picks and solutions."""

    penalty: str
    solver: str
    lams: np.ndarray
    errors: np.ndarray
    residuals: np.ndarray
    chosen: int
    oracle: int
    seconds: float
    coefs: np.ndarray
    history: dict = field(default_factory=dict)
    rule: str = "discrepancy"
    scores: np.ndarray | None = None

    def summary(self) -> dict:
        return {"penalty": self.penalty, "solver": self.solver, "rule": self.rule,
                "lam_auto": float(self.lams[self.chosen]), "error_auto": float(self.errors[self.chosen]),
                "lam_oracle": float(self.lams[self.oracle]), "error_oracle": float(self.errors[self.oracle]),
                "error_ratio": float(self.errors[self.chosen] / max(self.errors[self.oracle], 1e-300)),
                "nonzeros": int(np.count_nonzero(self.coefs[self.chosen])),
                "path_points": int(len(self.lams)), "seconds": round(self.seconds, 3)}


def _grid(penalty_name, A, b, n_lams):
    penalty = make_penalty(penalty_name)
    if penalty_name == "l2":
        norm2, _ = squared_norm_estimate(A, n_iter=50)
        return norm2 * np.geomspace(10.0, 1e-5, n_lams)
    depth = 1e-4 if penalty_name == "l0" else 1e-3
    lam_max = penalty.lam_max(rmatvec(A, b), Groups.single(A.shape[1]))
    return lam_max * np.geomspace(0.9, depth, n_lams)


def discrepancy_index(residuals: np.ndarray, target: float) -> int:
    """Index of the largest λ (grid decreasing) whose residual is ≤ target; last if none."""
    below = np.flatnonzero(residuals <= target)
    return int(below[0]) if below.size else len(residuals) - 1


def run_penalty(problem: InverseProblem, penalty: str, n_lams: int = 25, tol: float = 1e-6,
                callback=None, rule=Rule.DISCREPANCY, lams=None) -> PenaltyCurve:
    """Path of one penalty on the problem, with the rule's pick and the oracle pick.

    The rule gets the problem's σ (known for synthetic data; NaN or None means estimate it).
    """
    rule = parse_rule(rule)
    A = as_forward_model(problem.A)
    # the candidates come back in decreasing λ (compute_candidates): keep the grid in that order
    lams = _grid(penalty, A, problem.b, n_lams) if lams is None else np.sort(np.asarray(lams, float).ravel())[::-1]
    sigma = problem.sigma if problem.sigma and np.isfinite(problem.sigma) else None
    started = time.perf_counter()
    tuner = make_rule(rule, sigma=sigma)
    path_callback = None if callback is None else (lambda k, result: callback(k, result))
    tuned = tuner.tune(A, problem.b, penalty, multipliers=lams, tol=tol, callback=path_callback)
    seconds = time.perf_counter() - started
    candidates = tuned.info["candidates"]
    errors = np.array([problem.relative_error(x) for x in candidates.coefs])
    chosen = tuned.curve["index"]
    result = candidates.results[chosen]
    return PenaltyCurve(penalty=penalty, solver=result.solver, lams=lams, errors=errors,
                        residuals=candidates.residual_norms, chosen=chosen, oracle=int(np.argmin(errors)),
                        seconds=seconds, coefs=candidates.coefs, rule=rule.value,
                        scores=np.asarray(tuned.curve["score"]),
                        history={"criterion": list(result.history.criterion),
                                 "criterion_name": result.criterion_name, "sigma": tuned.info.get("sigma")})


def deconvolution_study(problem: InverseProblem, penalties=("l1", "l0", "l2"), n_lams: int = 25,
                        progress=None, rule=Rule.DISCREPANCY) -> list[PenaltyCurve]:
    """Run :func:`run_penalty` for each penalty; ``progress(penalty, k)`` after each λ."""
    curves = []
    for name in penalties:
        callback = None if progress is None else (lambda k, _r, name=name: progress(name, k))
        curves.append(run_penalty(problem, name, n_lams=n_lams, callback=callback, rule=rule))
    return curves
