"""The evidence fixed point as a tuner of any :class:`~lamina.tuners.problem.TunableProblem`.

For problems that give the evidence statistics at λ (the optional protocol member
``evidence_statistics(λ) -> EvidenceStatistics``: γ_g, ‖w_g − μ_g‖², RSS, n_out and the scale
with λ_g = α_g / (β · scale)), MacKay's fixed point (:func:`lamina.tuners.evidence.fixed_point`,
the one loop every family's evidence runs) iterates in λ:

    α_g = (γ_g(λ) + 2a) / (‖w_g(λ) − μ_g‖² + 2b),   β = (n_out − Σγ(λ) + 2c) / (RSS(λ) + 2d),
    λ_g ← α_g / (β · scale),

with the pruning rules of :func:`lamina.tuners.evidence.evidence_step` (a group whose
γ_g/size_g falls below ``min_gamma`` is switched off: λ_g = ∞ while iterating, then
``OFF`` × its upper bound in the answer). The posterior mode and γ depend on λ = α/(β·scale)
only, so started at λ₀ = α₀/(β₀·scale) the iterates are those of
:func:`~lamina.tuners.linear_evidence.grouped_evidence` (scikit-learn's ARDRegression for
singleton groups). It stops when max_g |Δ log λ_g| ≤ ``tol`` and no group was pruned.

Provided by :class:`~lamina.tuners.linear_problem.LinearProblem` (exact posterior for the squared
loss, Laplace approximation for the binary logistic loss) and
:class:`~lamina.inverse.tunable.OperatorProblem` (exact posterior), for the L2 penalty.
Networks keep their online evidence (``lamina.torch.tune(..., tuner="evidence")``, K-FAC or
diagonal GGN curvature during one training run).

>>> import numpy as np
>>> from lamina.inverse.tunable import OperatorProblem
>>> rng = np.random.default_rng(0)
>>> A = rng.standard_normal((80, 20)); x = np.r_[np.ones(10), np.zeros(10)]
>>> problem = OperatorProblem(A, A @ x + 0.1 * rng.standard_normal(80), "l2", np.repeat([0, 1], 10))
>>> result = EvidenceSearch().tune_problem(problem)
>>> result.info["converged"], result.info["switched_off"]
(True, [])
>>> bool(result.lambda_vector[1] > 100 * result.lambda_vector[0])    # the zero group: a large λ
True
"""
from __future__ import annotations

import numpy as np

from lamina._validation import check_positive_float, check_positive_int
from lamina.tuners.base import Stopwatch
from lamina.tuners.evidence import OFF, fixed_point
from lamina.tuners.problem import check_problem
from lamina.tuners.search import ProblemTuner

class EvidenceSearch(ProblemTuner):
    """MacKay's evidence fixed point on any problem with ``evidence_statistics`` (see module doc).

    Parameters
    ----------
    max_iter : int
        Fixed-point iterations (one posterior each).
    tol : float
        Stop when max_g |Δ log λ_g| ≤ tol (and no group was pruned in the step).
    min_gamma : float
        Prune a group when γ_g / size_g < min_gamma.
    hyperprior : (a, b, c, d)
        Gamma hyperparameters of α (a, b) and β (c, d); scikit-learn's 10⁻⁶.
    lam0 : float or array (n_groups,), optional
        Starting λ; default: the geometric mean of the problem's bounds.

    ``cv`` is accepted and ignored (the evidence uses no held-out data), so the families that
    set a tuner's folds can build this one like the others.
    """

    name = "evidence"
    cv = None

    def __init__(self, max_iter: int = 300, tol: float = 1e-5, min_gamma: float = 1e-7,
                 hyperprior=(1e-6, 1e-6, 1e-6, 1e-6), lam0=None):
        self.max_iter = check_positive_int(max_iter, "max_iter")
        self.tol = check_positive_float(tol, "tol")
        self.min_gamma = float(min_gamma)
        if len(hyperprior) != 4 or any(not np.isfinite(h) or h < 0 for h in hyperprior):
            raise ValueError(f"hyperprior must be four numbers ≥ 0 (a, b, c, d); got {hyperprior!r}")
        self.hyperprior = tuple(float(h) for h in hyperprior)
        self.lam0 = lam0

    def _start(self, problem) -> np.ndarray:
        n_groups = len(problem.names)
        if self.lam0 is None:
            lower, upper = problem.bounds()
            return np.sqrt(np.asarray(lower, float) * np.asarray(upper, float))
        lam0 = np.broadcast_to(np.asarray(self.lam0, dtype=np.float64), (n_groups,)).copy()
        if not np.all(np.isfinite(lam0) & (lam0 > 0)):
            raise ValueError(f"lam0 must be one value > 0 or one per group ({n_groups}); got {self.lam0!r}")
        return lam0

    def tune_problem(self, problem):
        problem = check_problem(problem)
        statistics = getattr(problem, "evidence_statistics", None)
        if not callable(statistics):
            hint = (" — networks keep their online evidence: lamina.torch.tune(model, data, tuner='evidence') "
                    "(K-FAC or diagonal GGN during training)") if problem.family == "network" else ""
            raise TypeError(f"tuner {self.name!r} needs a problem that gives evidence_statistics(lam) "
                            f"(an exact or Laplace posterior); {type(problem).__name__} does not{hint}")
        with Stopwatch() as clock:
            found = fixed_point(statistics, self._start(problem), max_iter=self.max_iter, tol=self.tol,
                                hyperprior=self.hyperprior, min_gamma=self.min_gamma)
            lam = found.lam
            if np.any(found.pruned):
                lam = np.where(found.pruned, OFF * np.asarray(problem.bounds()[1], dtype=float), lam)
            fitted = problem.refit(lam)
        return self._result(
            problem, lam, clock.seconds, fitted=fitted,
            trajectory=[dict(zip(problem.names, map(float, step))) for step in found.trajectory],
            curve={"iteration": list(range(1, len(found.trajectory) + 1))},
            info={"alpha": found.alpha.tolist(), "beta": found.beta, "gamma": found.gamma.tolist(),
                  "converged": found.converged, "n_iter": found.n_iter,
                  "switched_off": [name for name, off in zip(problem.names, found.pruned) if off]})
