"""Unpenalized coefficients (penalty factor 0) and FISTA's stopping certificate.

30 random least-squares problems (n = 12–31, p = 5–13, column scales 0.3–3, one to three
coefficients with penalty factor 0), L1, elastic net (ρ = 0.5) and L2 at λ = U(0.05, 1)·‖Aᵀb‖∞,
solved by ``fista`` and ``ista`` on the matrix and on ``aslinearoperator`` of it at tol = 1e-6.
Printed per (penalty, solver): the largest (P − P*)/P* among the runs that report
``converged=True``, in units of tol (P* from coordinate descent at tol = 1e-13). A certificate
that bounds P − P* keeps every value ≤ 1. Then least squares (λ = 0, every coefficient free)
by ``ista``.

Usage: ``python benchmarks/bench_free_coefficients.py`` (also in ``make bench``).
"""
from __future__ import annotations

import warnings

import numpy as np

TOL = 1e-6


def problems(n_problems: int = 30):
    """(A, b, penalty factors) of the random problems, seeds 0 … n_problems − 1."""
    for seed in range(n_problems):
        rng = np.random.default_rng(seed)
        n, p = 12 + seed % 20, 5 + seed % 9
        A = rng.standard_normal((n, p)) * rng.uniform(0.3, 3.0, p)
        b = rng.standard_normal(n)
        weights = np.ones(p)
        weights[rng.choice(p, 1 + seed % 3, replace=False)] = 0.0
        yield rng, A, b, weights


def worst_excess() -> dict:
    import lamina
    from scipy.sparse.linalg import aslinearoperator
    worst = {}
    for rng, A, b, weights in problems():
        penalties = {"L1": lamina.L1(weights=weights), "elastic net": lamina.ElasticNet(0.5, weights=weights),
                     "L2": lamina.L2(weights=weights)}
        for name, penalty in penalties.items():
            lam = rng.uniform(0.05, 1.0) * np.abs(A.T @ b).max()
            reference = lamina.solve(A, b, penalty, lam, solver="cd", tol=1e-13).objective
            for solver in ("fista", "ista"):
                for matrix in (A, aslinearoperator(A)):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        fit = lamina.solve(matrix, b, penalty, lam, solver=solver, tol=TOL)
                    if fit.converged:
                        excess = (fit.objective - reference) / reference / TOL
                        worst[name, solver] = max(worst.get((name, solver), 0.0), excess)
    return worst


def least_squares_excess() -> float:
    import lamina
    A, b = np.random.default_rng(0).standard_normal((30, 10)), np.random.default_rng(1).standard_normal(30)
    optimum = 0.5 * np.sum((A @ np.linalg.lstsq(A, b, rcond=None)[0] - b) ** 2)
    return (lamina.solve(A, b, "l1", 0.0, solver="ista", tol=TOL).objective - optimum) / optimum


def run(quick: bool = False) -> str:
    """The table (``quick`` changes nothing: the whole run takes a few seconds)."""
    lines = ["| penalty | solver | largest (P − P*)/P* of a converged run, × tol |", "|---|---|---|"]
    lines += [f"| {name} | {solver} | {value:.2f} |" for (name, solver), value in worst_excess().items()]
    return "\n".join(lines + ["", f"least squares (λ = 0) by ista: (P − P*)/P* = {least_squares_excess():.1e}"])


if __name__ == "__main__":
    print(run())
