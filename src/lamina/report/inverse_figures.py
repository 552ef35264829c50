"""Figures of the inverse-problem studies (matplotlib, Agg backend)."""
from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def trace_figure(problem, curves, window: tuple[int, int] | None = None):
    """True reflectivity, data and each penalty's recovery at its discrepancy λ."""
    plt = _pyplot()
    n = problem.x_true.shape[0]
    start, stop = window or (n // 4, n // 4 + min(400, n))
    dt = problem.meta.get("dt", 1.0)
    t = np.arange(start, stop) * dt
    fig, axes = plt.subplots(len(curves) + 2, 1, figsize=(10, 1.6 * (len(curves) + 2)), sharex=True)
    axes[0].plot(t, problem.b[start:stop], color="0.3", lw=0.8)
    axes[0].set_ylabel("data")
    axes[1].vlines(t, 0, problem.x_true[start:stop], color="k", lw=1.2)
    axes[1].set_ylabel("true")
    for ax, curve in zip(axes[2:], curves):
        x = curve.coefs[curve.chosen]
        ax.vlines(t, 0, problem.x_true[start:stop], color="0.8", lw=2.5)
        ax.vlines(t, 0, x[start:stop], color="C3", lw=1.0)
        ax.set_ylabel(curve.penalty.upper())
        ax.text(0.99, 0.85, f"rel. error {curve.errors[curve.chosen]:.3f}", transform=ax.transAxes,
                ha="right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    return fig


def lambda_curves_figure(curves, target_residual: float):
    """Relative error and residual norm against λ, discrepancy and oracle picks marked."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.3))
    for ax, curve in zip(np.atleast_1d(axes), curves):
        ax.loglog(curve.lams, curve.errors, "C0.-", label="relative error")
        ax.set_xlabel(f"λ ({curve.penalty.upper()})")
        ax.axvline(curve.lams[curve.chosen], color="C3", ls="--", label="discrepancy")
        ax.axvline(curve.lams[curve.oracle], color="C2", ls=":", label="oracle")
        twin = ax.twinx()
        twin.loglog(curve.lams, curve.residuals, "C1", alpha=0.6)
        twin.axhline(target_residual, color="C1", lw=0.6, ls="--")
        twin.set_ylabel("‖Ax − b‖", color="C1")
        ax.legend(fontsize=7, loc="upper center")
    fig.tight_layout()
    return fig


def convergence_figure(curves):
    """Stopping criterion per recorded iteration at each penalty's chosen λ."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.3))
    for curve in curves:
        values = np.maximum(curve.history["criterion"], 1e-300)
        ax.semilogy(np.arange(1, len(values) + 1), values,
                    label=f"{curve.penalty.upper()} ({curve.solver}: {curve.history['criterion_name']})")
    ax.set_xlabel("recorded iteration")
    ax.set_ylabel("stopping criterion")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
