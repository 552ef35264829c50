"""Phase transition of sparse recovery on Gaussian matrices: lamina against spgl1 and OMP.

At δ = m/n ∈ {0.25, 0.5} the success rate (‖x̂ − x‖ ≤ 10⁻³‖x‖, N(0, 1) amplitudes on a
random support, new matrix and signal per trial) is measured on a ρ = k/m grid and the
50 %-success ρ interpolated. Methods: lamina's basis pursuit (ADMM, ``recover(method="bp")``),
lamina's IRLS (ℓ_p, p = 0.5, ε-continuation; the default of ``recover``), lamina's reweighted
basis pursuit (``irl1``, quick run only: 7 BP solves per trial), lamina's OMP, and spgl1's
basis pursuit (``spg_bp``, default tolerances). The Donoho–Tanner weak threshold ρ_W(δ) is the
asymptotic L1 reference. Also draws the full (δ, ρ) diagram of BP and IRLS on a coarse grid
(benchmarks/out/phase_diagram.png).

Usage: ``python benchmarks/bench_phase.py [--quick]`` (quick: n = 100, 6 trials).
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time
import warnings

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent / "out"


def spgl1_bp(A, b):
    import spgl1

    return spgl1.spg_bp(A, b, verbosity=0)[0]


def success_curve(method, n: int, delta: float, rhos, n_trials: int, seed: int):
    """Success rate per ρ and mean seconds per trial."""
    from lamina.inverse.phase import run_trial, sensing_matrix, sparse_vector

    rng = np.random.default_rng(seed)
    m = int(round(delta * n))
    rates, seconds = [], []
    for rho in rhos:
        k = max(1, int(round(rho * m)))
        hits = 0
        for _ in range(n_trials):
            A = sensing_matrix("gaussian", m, n, rng)
            x = sparse_vector(n, k, rng)
            started = time.perf_counter()
            x_hat = spgl1_bp(A, A @ x) if method == "spgl1" else run_trial(method, A, x)
            seconds.append(time.perf_counter() - started)
            hits += np.linalg.norm(x_hat - x) <= 1e-3 * np.linalg.norm(x)
        rates.append(hits / n_trials)
    return np.array(rates), float(np.mean(seconds))


def run(quick: bool = False) -> str:
    from threadpoolctl import threadpool_limits

    from lamina.inverse import donoho_tanner_weak, phase_diagram
    from lamina.inverse.phase import transition_rho
    from lamina.report.phase_figures import phase_figure

    warnings.filterwarnings("ignore")
    OUT.mkdir(exist_ok=True)
    n = 100 if quick else 400
    n_trials = 6 if quick else 20
    rhos = np.round(np.arange(0.15, 0.76, 0.05 if quick else 0.025), 4)
    methods = ["bp", "spgl1", "omp", "irls"] + (["irl1"] if quick else [])
    lines = ["## Phase transition, Gaussian matrices", "",
             f"n = {n}, {n_trials} trials per ρ, success ‖x̂ − x‖ ≤ 1e-3 ‖x‖; ρ grid {rhos[0]}…{rhos[-1]} "
             f"step {rhos[1] - rhos[0]:.3f}; ρ₅₀ = 50 %-success ρ (linear interpolation).", "",
             "| δ | Donoho–Tanner ρ_W | method | ρ₅₀ | ρ₅₀ / ρ_W | time per trial |", "|---|---|---|---|---|---|"]
    with threadpool_limits(1):
        for delta in (0.5, 0.25):
            theory = float(donoho_tanner_weak(delta))
            for index, method in enumerate(methods):
                print(f"δ = {delta}: {method}", file=sys.stderr, flush=True)
                rates, seconds = success_curve(method, n, delta, rhos, n_trials, seed=index)
                rho50 = transition_rho(rhos, rates)
                lines.append(f"| {delta} | {theory:.4f} | {method} | {rho50:.3f} | {rho50 / theory:.2f} | "
                             f"{seconds * 1e3:.0f} ms |")
        diagrams = [phase_diagram(method, "gaussian", n=60 if quick else 100, deltas=np.linspace(0.1, 0.9, 9),
                                  rhos=np.linspace(0.05, 0.95, 19), n_trials=4 if quick else 10, seed=7)
                    for method in ("bp", "irls")]
    fig = phase_figure(diagrams)
    fig.savefig(OUT / "phase_diagram.png", dpi=110, bbox_inches="tight")
    lines += ["", f"Names: bp = lamina basis pursuit (ADMM + support polish), irls = lamina ℓ_0.5 IRLS "
              f"(default of lamina.inverse.recover), irl1 = lamina reweighted BP, omp = lamina OMP, spgl1 = "
              f"spgl1.spg_bp. {'quick' if quick else 'full'} run; BLAS on one thread; figure: "
              "benchmarks/out/phase_diagram.png."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(run(quick=parser.parse_args().quick))
