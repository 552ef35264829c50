"""Counted work of lamina's CD and FISTA on fixed problems, for before/after comparisons.

Prints, per problem, iterations, CD epochs or products with A/Aᵀ, and the objective: the work
done, which — unlike times on a shared machine — compares exactly between two trees.
Problems: the quick problems of ``bench_lasso`` (CD, L1, tol 1e-4 and 1e-8); a 400×400
Gaussian-blur convolution and a 200×600 Gaussian matrix as scipy LinearOperators (FISTA for L1
and elastic net, ISTA for L0; λ = 0.1 and 0.01 × ‖Aᵀb‖∞, tol 1e-8).

Usage: ``PYTHONPATH=<tree>/src python benchmarks/solver_counts.py`` from a tree's root.
"""
from __future__ import annotations

import pathlib
import sys
import warnings

import numpy as np
from scipy.sparse.linalg import aslinearoperator

import lamina

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from bench_lasso import problems  # noqa: E402


def operator_problems():
    rng = np.random.default_rng(0)
    n, kernel = 400, np.exp(-0.5 * (np.arange(-15, 16) / 4.0) ** 2)
    blur = sum(np.diag(np.full(n - abs(k - 15), w), k - 15) for k, w in enumerate(kernel))
    spikes = np.zeros(n)
    spikes[rng.choice(n, 12, replace=False)] = rng.standard_normal(12) * 3
    gauss = rng.standard_normal((200, 600))
    yield "deconvolution 400x400", blur, blur @ spikes + 0.05 * rng.standard_normal(n)
    truth = np.r_[rng.standard_normal(10), np.zeros(590)]
    yield "gaussian 200x600", gauss, gauss @ truth + 0.1 * rng.standard_normal(200)


def main() -> None:
    for problem in problems(True):
        for tol in (1e-4, 1e-8):
            r = lamina.solve(problem.X, problem.y, "l1", problem.lam, tol=tol)
            print(f"CD {problem.name} tol={tol:g}: outer={r.n_iter} epochs={r.info.get('n_epochs')} "
                  f"objective={r.objective:.12g}")
    for name, A, b in operator_problems():
        top = float(np.max(np.abs(A.T @ b)))
        for penalty in ("l1", "elasticnet", "l0"):
            for fraction in (0.1, 0.01):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = lamina.solve(aslinearoperator(A), b, penalty, fraction * top, tol=1e-8,
                                     solver="ista" if penalty == "l0" else "fista")
                print(f"{r.solver} {name} {penalty} λmax×{fraction:g}: iterations={r.n_iter} "
                      f"products={r.info['n_products']} objective={r.objective:.12g} converged={r.converged}")


if __name__ == "__main__":
    main()
