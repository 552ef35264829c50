"""lamina as a solver of benchopt's Lasso benchmark (``benchopt/benchmark_lasso``).

The benchmark minimizes ½‖y − Xβ − β₀‖² + λ‖β‖₁ with λ = reg·λ_max (β₀ only when
``fit_intercept``). lamina is run the way skglm and celer are run there: one fresh solve per
point of the curve, the budget being the number of outer (working-set) iterations and the
tolerance out of the way, so each point is a complete solve and benchopt's default patience
sees a new iterate at every point until convergence.

* ``fit_intercept=False``: :func:`lamina.solve` on the operator form, exactly the benchmark's
  objective.
* ``fit_intercept=True``: :class:`lamina.Lasso`, whose objective 1/(2n)‖y − Xβ − β₀‖² + α‖β‖₁
  is the benchmark's divided by n, so α = λ/n.

Run it from a checkout of the benchmark (nothing is fetched at run time)::

    make bench-benchopt BENCHOPT_LASSO=/path/to/benchmark_lasso

or by hand: ``benchopt run /path/to/benchmark_lasso -s benchmarks/benchopt/lamina_solver.py
-s skglm -s Celer -s sklearn ...`` (see ``benchmarks/bench_benchopt.py``).
"""
import warnings

from benchopt import BaseSolver
from benchopt import safe_import_context

with safe_import_context() as import_ctx:
    import numpy as np
    import lamina


class Solver(BaseSolver):
    """lamina: working-set coordinate descent with Anderson extrapolation."""

    name = "lamina"
    sampling_strategy = "iteration"
    requirements = ["pip::lamina"]

    def set_objective(self, X, y, lmbd, fit_intercept):
        self.X, self.y, self.lmbd = X, y, lmbd
        self.fit_intercept = fit_intercept
        warnings.filterwarnings("ignore", category=lamina.ConvergenceWarning)
        self.run(1)  # compile the numba kernels outside the timed runs

    def run(self, n_iter):
        n_features = self.X.shape[1]
        if n_iter == 0:
            self.coef = np.zeros(n_features + self.fit_intercept)
            return
        if self.fit_intercept:
            model = lamina.Lasso(lam=self.lmbd / self.X.shape[0], fit_intercept=True,
                                 tol=1e-14, max_iter=n_iter).fit(self.X, self.y)
            self.coef = np.r_[model.coef_, model.intercept_]
        else:
            result = lamina.solve(self.X, self.y, "l1", lam=self.lmbd, tol=1e-14, max_iter=n_iter)
            self.coef = result.x

    def get_next(self, previous):
        """One more outer iteration per point, as the skglm and celer solvers do."""
        return previous + 1

    def get_result(self):
        return dict(beta=self.coef)
