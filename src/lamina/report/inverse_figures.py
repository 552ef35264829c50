"""Figures of the inverse-problem studies (matplotlib, Agg backend)."""
from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def trace_window(n: int, window: tuple[int, int] | None = None, length: int = 400) -> tuple[int, int]:
    """The samples shown: ``window`` clipped to [0, n), or ``length`` samples (all of a shorter
    trace) starting at a quarter of the trace, moved back to end within it."""
    if window is not None:
        start, stop = max(0, int(window[0])), min(n, int(window[1]))
        if stop > start:
            return start, stop
    length = min(length, n)
    start = max(0, min(n // 4, n - length))
    return start, start + length


def trace_figure(problem, curves, window: tuple[int, int] | None = None):
    """True reflectivity, data and each penalty's recovery at its chosen λ."""
    plt = _pyplot()
    start, stop = trace_window(problem.x_true.shape[0], window)
    dt = problem.meta.get("dt", 1.0)
    t = np.arange(start, stop) * dt
    fig, axes = plt.subplots(len(curves) + 2, 1, figsize=(10, 1.6 * (len(curves) + 2)), sharex=True)
    data = problem.b[start:stop] if problem.b.shape[0] == problem.x_true.shape[0] else np.full(t.size, np.nan)
    axes[0].plot(t, data, color="0.3", lw=0.8)
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
    """Relative error and residual norm against λ, the rule's and the oracle's picks marked."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(4 * len(curves), 3.3))
    for ax, curve in zip(np.atleast_1d(axes), curves):
        ax.loglog(curve.lams, curve.errors, "C0.-", label="relative error")
        ax.set_xlabel(f"λ ({curve.penalty.upper()})")
        ax.axvline(curve.lams[curve.chosen], color="C3", ls="--", label=getattr(curve, "rule", "discrepancy"))
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


def gather_figure(problem, estimates: dict, clip: float = 0.8):
    """Full gather, observed gather (missing traces blank) and each interpolated gather.

    ``estimates`` maps a label to coefficients x (the model is ``problem.model(x)``); the filled
    traces' SNR is printed on each panel.
    """
    from lamina.inverse.problems import filled_snr

    plt = _pyplot()
    shape = problem.meta["shape"]
    truth = problem.model_true.reshape(shape)
    observed = np.zeros(shape)
    observed[problem.meta["kept"]] = truth[problem.meta["kept"]]
    panels = [("true gather", truth, None), ("observed", observed, None)]
    panels += [(label, problem.model(x).reshape(shape), filled_snr(problem, x)) for label, x in estimates.items()]
    vmax = clip * float(np.max(np.abs(truth)))
    dt = problem.meta.get("dt", 1.0)
    fig, axes = plt.subplots(1, len(panels), figsize=(2.8 * len(panels), 4.2), sharey=True)
    for ax, (label, image, snr) in zip(np.atleast_1d(axes), panels):
        ax.imshow(image.T, aspect="auto", cmap="gray", vmin=-vmax, vmax=vmax,
                  extent=(0, shape[0], shape[1] * dt, 0))
        ax.set_title(label if snr is None else f"{label}\nfilled SNR {snr:.1f} dB", fontsize=9)
        ax.set_xlabel("trace")
    np.atleast_1d(axes)[0].set_ylabel("time (s)")
    fig.tight_layout()
    return fig


def rule_curves_figure(curves: dict):
    """Each rule's score along the λ grid, its pick marked; ``curves`` maps rule → FitResult.curve."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 3.0))
    for ax, (rule, curve) in zip(np.atleast_1d(axes), curves.items()):
        lam, score = np.asarray(curve["lam"]), np.asarray(curve["score"], float)
        finite = np.isfinite(score)
        ax.semilogx(lam[finite], score[finite], "C0.-", ms=3)
        ax.axvline(lam[curve["index"]], color="C3", ls="--")
        ax.set_title(rule, fontsize=9)
        ax.set_xlabel("λ")
    fig.tight_layout()
    return fig


def signal_figure(problem, estimates: dict, window: tuple[int, int] | None = None):
    """True signal, kept samples and each recovery (1D compressed sensing / real trace)."""
    plt = _pyplot()
    truth = problem.model_true
    start, stop = window or (0, truth.size)
    t = np.arange(start, stop) * problem.meta.get("dt", 1.0)
    fig, axes = plt.subplots(len(estimates) + 1, 1, figsize=(10, 1.8 * (len(estimates) + 1)), sharex=True)
    axes = np.atleast_1d(axes)
    axes[0].plot(t, truth[start:stop], color="k", lw=0.8, label="true")
    kept = problem.meta.get("kept")
    if kept is not None:
        kept = kept[(kept >= start) & (kept < stop)]
        axes[0].plot(kept * problem.meta.get("dt", 1.0), truth[kept], ".", color="C1", ms=2, label="measured")
    axes[0].legend(fontsize=7, loc="upper right")
    for ax, (label, x) in zip(axes[1:], estimates.items()):
        estimate = problem.model(x)
        ax.plot(t, truth[start:stop], color="0.75", lw=1.5)
        ax.plot(t, estimate[start:stop], color="C3", lw=0.8)
        ax.set_ylabel(label, fontsize=8)
        ax.text(0.99, 0.85, f"rel. error {problem.relative_error(x):.3f}", transform=ax.transAxes,
                ha="right", fontsize=8)
    axes[-1].set_xlabel("time (s)")
    fig.tight_layout()
    return fig
