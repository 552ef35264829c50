"""Automatic λ on inverse problems: deconvolution and trace interpolation, L0 / L1 / L2.

For each problem and penalty one warm-started path is solved on a fine grid; the oracle λ is
the grid point with the least error against the truth (relative error of the reflectivity;
of the full gather for interpolation). Each rule of ``lamina.inverse.fit`` picks its λ from
the same path (discrepancy and SURE get the true σ; GCV, CV and the L-curve need none; "SURE
σ̂" uses the MAD estimate); "ratio" = error at the rule's λ / oracle error. The same problems
are then solved by PyLops' own solvers — FISTA (at lamina's default-rule λ, 300 iterations,
its default step from ARPACK), OMP and SPGL1 (both stopping at ‖r‖ ≤ √m σ, σ known), IRLS
(model-space, 20 outer iterations, for the L1 problem) — with error and time.

Usage: ``python benchmarks/bench_inverse.py [--quick]``. Figures go to benchmarks/out/.
"""
from __future__ import annotations

import argparse
import logging
import pathlib
import sys
import time
import warnings

import numpy as np

OUT = pathlib.Path(__file__).resolve().parent / "out"
RULES = ["discrepancy", "gcv", "sure", "sure σ̂", "cv", "lcurve"]


def problems(quick: bool):
    from lamina.inverse import deconvolution, interpolation

    n = 2000 if quick else 4000
    return [
        (f"deconvolution n={n}, 20 dB", deconvolution(n_samples=n, n_spikes=n // 60, snr_db=20.0, seed=0)),
        ("interpolation 64×256, 60 % kept, f-k", interpolation(n_traces=64, n_time=256, keep=0.6, transform="fk",
                                                              snr_db=30.0, seed=1)),
    ]


def rule_choices(problem, penalty: str, n_lams: int, with_cv: bool = True):
    """Errors along one path and the index each rule picks (CV: its own K paths)."""
    from lamina.inverse import estimate_noise, fit
    from lamina.inverse.rules import (GCV, SURE, Discrepancy, LCurve, compute_candidates,
                                      default_multipliers, prepare)

    A, b, pen, groups, d = prepare(problem.A, problem.b, penalty, None, None)
    multipliers = default_multipliers(A, b, pen, groups, d, n_lams)
    started = time.perf_counter()
    candidates = compute_candidates(A, b, pen, groups, d, multipliers)
    path_seconds = time.perf_counter() - started
    errors = np.array([problem.relative_error(x) for x in candidates.coefs])
    sigma_hat = estimate_noise(b, trace_length=problem.meta.get("shape", (0, None))[-1]
                               if problem.meta.get("kind") == "interpolation" else None)
    picks = {
        "discrepancy": Discrepancy(problem.sigma).select(candidates, problem.sigma)[0],
        "gcv": GCV().select(candidates, None)[0],
        "sure": SURE(problem.sigma).select(candidates, problem.sigma)[0],
        "sure σ̂": SURE(sigma_hat).select(candidates, sigma_hat)[0],
        "lcurve": LCurve().select(candidates, None)[0],
    }
    cv_seconds = float("nan")
    if with_cv:
        started = time.perf_counter()
        cv = fit(problem.A, problem.b, penalty, tuner="cv", multipliers=multipliers)
        cv_seconds = time.perf_counter() - started
        picks["cv"] = cv.curve["index"]
    return multipliers, candidates, errors, picks, path_seconds, cv_seconds, sigma_hat


def pylops_rows(problem, lam_l1: float):
    import pylops

    A, b, sigma = pylops.aslinearoperator(problem.A), problem.b, problem.sigma
    m = b.shape[0]
    rows = []

    def timed(name, run):
        print(f"  {name}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        x = run()
        rows.append((name, problem.relative_error(x), time.perf_counter() - started))

    # PyLops FISTA minimizes ½‖Ax − b‖² + eps‖x‖₁ · ½ … (eps multiplies the L1 term inside its
    # threshold eps·α/2): eps = 2λ gives lamina's objective (as in bench_operators.py)
    timed("PyLops FISTA (300 it., λ of lamina's CV)",
          lambda: pylops.optimization.sparsity.fista(A, b, niter=300, eps=2.0 * lam_l1, tol=0.0)[0])
    timed("PyLops OMP (‖r‖ ≤ √m σ, ≤ 300 atoms)",
          lambda: pylops.optimization.sparsity.omp(A, b, niter_outer=min(m // 4, 300), sigma=np.sqrt(m) * sigma)[0])
    timed("PyLops IRLS (model, 20 outer)",
          lambda: pylops.optimization.sparsity.irls(A, b, nouter=20, kind="model")[0])
    timed("PyLops SPGL1 (BPDN, ‖r‖ ≤ √m σ)",
          lambda: pylops.optimization.sparsity.spgl1(A, b, sigma=np.sqrt(m) * sigma, iter_lim=1000)[0])
    return rows


def figures(problem, label, curves_for_plot, best: dict):
    """λ curves with every rule's pick; recovered traces or gathers at the CV λ."""
    from lamina.report.inverse_figures import _pyplot, gather_figure

    plt = _pyplot()
    slug = "deconvolution" if problem.meta["kind"] == "deconvolution" else "interpolation"
    fig, axes = plt.subplots(1, len(curves_for_plot), figsize=(4.2 * len(curves_for_plot), 3.2))
    for ax, (penalty, multipliers, errors, picks) in zip(np.atleast_1d(axes), curves_for_plot):
        ax.loglog(multipliers, errors, "k.-", ms=3, label="error vs truth")
        for k, (rule, index) in enumerate(picks.items()):
            ax.axvline(multipliers[index], color=f"C{k}", ls="--", lw=1, label=rule)
        ax.set_title(f"{penalty.upper()} — {label}", fontsize=8)
        ax.set_xlabel("λ")
    np.atleast_1d(axes)[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(OUT / f"inverse_{slug}_lambda_curves.png", dpi=110)
    plt.close(fig)
    if slug == "interpolation":
        fig = gather_figure(problem, best)
        fig.savefig(OUT / "inverse_interpolation_gathers.png", dpi=110)
    else:
        fig, axes = plt.subplots(len(best) + 1, 1, figsize=(10, 1.6 * (len(best) + 1)), sharex=True)
        window = slice(problem.x_true.size // 4, problem.x_true.size // 4 + 400)
        t = np.arange(problem.x_true.size)[window] * problem.meta["dt"]
        axes[0].plot(t, problem.b[window], color="0.3", lw=0.8)
        axes[0].set_ylabel("data")
        for ax, (name, x) in zip(axes[1:], best.items()):
            ax.vlines(t, 0, problem.x_true[window], color="0.75", lw=2.5)
            ax.vlines(t, 0, x[window], color="C3", lw=1)
            ax.set_ylabel(name, fontsize=8)
        axes[-1].set_xlabel("time (s)")
        fig.tight_layout()
        fig.savefig(OUT / "inverse_deconvolution_traces.png", dpi=110)
    plt.close(fig)



def run(quick: bool = False) -> str:
    from threadpoolctl import threadpool_limits

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    OUT.mkdir(exist_ok=True)
    n_lams = 30 if quick else 50
    lines = ["## Inverse problems: automatic λ against the oracle λ", "",
             f"One path of {n_lams} λ per penalty (oracle = least error on that grid, using the truth); "
             "each cell: relative error at the rule's λ (ratio to the oracle error). "
             "Interpolation errors are on the full gather, with the SNR of the filled traces.", "",
             "| problem | penalty | oracle | " + " | ".join(RULES) + " | path time | CV time |",
             "|---|---|---|" + "---|" * len(RULES) + "---|---|"]
    peer_lines = ["", "### Same problems, PyLops solvers", "",
                  "| problem | method | relative error | ratio to lamina L1 (CV) | filled SNR | time |", "|---|---|---|---|---|---|"]
    with threadpool_limits(1):
        for label, problem in problems(quick):
            from lamina.inverse import filled_snr

            plot, best = [], {}
            lam_l1, lamina_l1_error, lamina_l1_seconds, lamina_l1_x = None, None, None, None
            for penalty in ("l1", "l0", "l2"):
                print(f"{label}: {penalty}", file=sys.stderr, flush=True)
                # L0 on interpolation: 6,144 unknowns, 10 cold reweighted lassos per λ — CV's 5 more
                # paths would take most of an hour, so that cell is left out
                with_cv = not (penalty == "l0" and problem.meta["kind"] == "interpolation")
                multipliers, candidates, errors, picks, path_s, cv_s, sigma_hat = rule_choices(
                    problem, penalty, n_lams // 2 if not with_cv else n_lams, with_cv)
                oracle = errors.min()
                cells = [f"{errors[picks[r]]:.4f} ({errors[picks[r]] / oracle:.2f})" if r in picks else "not run"
                         for r in RULES]
                lines.append(f"| {label} | {penalty.upper()} | {oracle:.4f} | " + " | ".join(cells)
                             + f" | {path_s:.1f} s | {cv_s:.1f} s |".replace("nan s", "–"))
                plot.append((penalty, multipliers, errors, picks))
                pick = picks.get("cv", picks["gcv"])
                best[f"{penalty.upper()} ({'cv' if 'cv' in picks else 'gcv'})"] = candidates.coefs[pick]
                if penalty == "l1":
                    lam_l1 = float(multipliers[picks["cv"]])
                    lamina_l1_x = candidates.coefs[picks["cv"]]
                    lamina_l1_error, lamina_l1_seconds = errors[picks["cv"]], cv_s
            figures(problem, label, plot, best)
            is_interp = problem.meta["kind"] == "interpolation"
            snr = f"{filled_snr(problem, lamina_l1_x):.1f} dB" if is_interp else "–"
            peer_lines.append(f"| {label} | lamina L1, λ by CV (path + 5 folds) | {lamina_l1_error:.4f} | 1 | {snr} | "
                              f"{lamina_l1_seconds:.1f} s |")
            for name, error, seconds in pylops_rows(problem, lam_l1):
                peer_snr = "–"
                peer_lines.append(f"| {label} | {name} | {error:.4f} | {error / lamina_l1_error:.2f} | {peer_snr} | "
                                  f"{seconds:.1f} s |")
            lines.append(f"| {label} | σ true / σ̂ (MAD) | {problem.sigma:.4g} / {sigma_hat:.4g} |" + " |" * (len(RULES) + 2))
    lines += peer_lines
    lines += ["", f"{'quick' if quick else 'full'} run; BLAS on one thread; figures: "
              "benchmarks/out/inverse_*.png."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print(run(quick=parser.parse_args().quick))
