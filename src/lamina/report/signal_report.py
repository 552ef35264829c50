"""The page of ``lamina sense --signal``: a user's trace or image recovered from its observed samples.

Sections: a verdict sentence (lamina against the best interpolation baseline, and the λ per
group against one λ); the SNR table; the mixture (weight and held-out error of every candidate
model); the recovery against the best baseline; the held-out error of every model along its λ
grid; and, when the spectral prior is in the mixture, its λ per frequency (λ_k = t/p_k from the
estimated spectrum p), the picture of what "a λ per group" does there.
"""
from __future__ import annotations

import pathlib
from dataclasses import replace

import numpy as np

from lamina.report.html import figure_html, table_html, write_report
from lamina.report.inverse_figures import _pyplot


def best_baseline(snr: dict) -> str | None:
    """The interpolation baseline of highest SNR (every entry but "lamina"), or None."""
    baselines = [name for name in snr if name != "lamina"]
    return max(baselines, key=snr.get) if baselines else None


def verdict(snr: dict, one_lambda: float | None) -> str:
    """One sentence: lamina against the best baseline and, when measured, against one λ."""
    best = best_baseline(snr)
    if "lamina" not in snr or best is None:
        return ("No unobserved sample with a known, non-zero value (or too few observed samples for the "
                "baselines): there is nothing to compare.")
    if np.isinf(snr["lamina"]):
        return (f"lamina recovers the unobserved samples exactly; the best interpolation baseline "
                f"({best}) reaches {snr[best]:.1f} dB.")
    gap = snr["lamina"] - snr[best]
    text = (f"lamina recovers the unobserved samples at {snr['lamina']:.1f} dB, "
            f"{abs(gap):.1f} dB {'above' if gap >= 0 else 'below'} the best interpolation baseline "
            f"({best}, {snr[best]:.1f} dB).")
    if one_lambda is not None:
        gain = snr["lamina"] - one_lambda
        text += (f" With one λ for every coefficient of each model (the spectral prior then is white noise) "
                 f"it reaches {one_lambda:.1f} dB: "
                 + ("the λ per group helped" if gain >= 0.5 else "the λ per group hurt" if gain <= -0.5
                    else "the λ per group made no difference beyond 0.5 dB")
                 + f" ({gain:+.1f} dB).")
    return text


def _averaging(info: dict) -> str:
    if info.get("line_axis") is not None:
        return "whole lines held out, averaged plainly"
    return "importance-weighted" if info.get("weighting") == "gaps" else "plain average"


def _regular_mask_note(info: dict) -> str:
    """What the choice did about a regular mask (:mod:`lamina.inverse.regular`), or ""."""
    notes = []
    if info.get("regular_step"):
        notes.append(f"Every observed {'line' if info.get('line_axis') is not None else 'sample'} lies on a grid "
                     f"of step {info['regular_step']}: the sparse frames were ruled out, since on a grid an atom "
                     "and its aliases explain the observed samples equally well.")
    if info.get("nearer_than_held_out"):
        notes.append("Every unobserved sample is nearer to the data than any held-out sample: the held-out "
                     "errors score a coarser problem than the real one and the choice tends to smooth too much; "
                     "on exact (noise-free) samples of a trace, dictionary='spectral', lam=1e-6 was better on "
                     "clean seismograms (benchmarks/RESULTS.md, issue 18, \"Regular masks\").")
    return "".join(f"<p class='note'>{note}</p>" for note in notes)


def recovery_figure(data, mask, estimates: dict):
    """1-D: the trace, its observed samples and each recovery with its error; 2-D: images."""
    plt = _pyplot()
    if data.ndim == 1:
        t = np.arange(data.size)
        fig, axes = plt.subplots(len(estimates) + 1, 1, figsize=(10, 1.9 * (len(estimates) + 1)), sharex=True)
        axes[0].plot(t, data, color="0.6", lw=0.8, label="signal (unobserved samples are the truth)")
        axes[0].plot(t[mask], data[mask], ".", color="C1", ms=2.5, label=f"observed ({mask.mean():.0%})")
        axes[0].legend(fontsize=7, loc="upper right")
        for ax, (name, x) in zip(axes[1:], estimates.items()):
            ax.plot(t, data, color="0.8", lw=1.6)
            ax.plot(t, x, color="C3", lw=0.8)
            ax.plot(t[~mask], (x - data)[~mask], color="C0", lw=0.6, alpha=0.8)
            ax.set_ylabel(name, fontsize=8)
        axes[-1].set_xlabel("sample (blue: error on the unobserved samples)")
    else:
        panels = {"signal": data, "observed": np.where(mask, data, np.nan), **estimates}
        fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
        low, high = np.nanpercentile(data, [1, 99])
        for ax, (name, image) in zip(axes, panels.items()):
            ax.imshow(image, cmap="gray", vmin=low, vmax=high)
            ax.set_title(name, fontsize=9)
            ax.axis("off")
    fig.tight_layout()
    return fig


def curves_figure(curves: dict):
    """Held-out relative error of every candidate model along its λ grid (log–log)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for name, curve in curves.items():
        lam, error = np.asarray(curve["lam"], float), np.asarray(curve["error"], float)
        x = lam / lam.max() if lam.size > 1 else np.ones(1)
        ax.loglog(x, error, ".-", lw=0.8, label=name)
    ax.set_xlabel("λ / largest λ of the model's grid")
    ax.set_ylabel("held-out relative error")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def spectral_figure(data, mask, info: dict, t: float):
    """The spectral prior's estimated spectrum p_k (from all observed samples) and its λ per
    frequency λ_k = t/p_k; images: averaged over rings of radial frequency, and beside it
    log₁₀ λ_k over the (k_row, k_col) plane, where the spectrum's directions show (it is estimated
    per sector of direction)."""
    from lamina.inverse.samples import pad_samples
    from lamina.inverse.spectral import SpectralPrior, frequency_index, prior_variance

    shape = tuple(info["padded_shape"])   # the model's own shape: reconstruct pads with unobserved samples
    padded_mask, values = pad_samples(mask, (data[mask] - info["offset"]) / info["scale"], shape)
    power = SpectralPrior(shape).spectrum(padded_mask, values)
    ring = np.rint(frequency_index(shape)).astype(int).ravel()
    p = np.bincount(ring, power.ravel()) / np.maximum(np.bincount(ring), 1)
    k = np.arange(p.size) / (2.0 * max(shape))   # DCT index k ↔ k / (2n) cycles per sample
    plt = _pyplot()
    if data.ndim == 2:
        fig, (ax, plane) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1.6, 1]})
        shown = plane.imshow(np.log10(t / prior_variance(power)).reshape(shape), origin="lower", cmap="magma",
                             aspect="auto")
        plane.set_xlabel("k_col (DCT index)")
        plane.set_ylabel("k_row (DCT index)")
        plane.set_title("log₁₀ λ_k over the frequency plane", fontsize=9)
        fig.colorbar(shown, ax=plane)
    else:
        fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.semilogy(k, p, color="C0", lw=0.9, label="estimated power p_k")
    ax.set_xlabel("frequency (cycles per sample)" + (", radial" if data.ndim == 2 else ""))
    ax.set_ylabel("power p_k", color="C0")
    twin = ax.twinx()
    twin.semilogy(k, t / prior_variance(p), color="C3", lw=0.9)
    twin.set_ylabel(f"λ_k = t / p_k (t = {t:.2g})", color="C3")
    fig.tight_layout()
    return fig


def write_signal_report(folder, signal: str, data, mask, result, estimates: dict, snr: dict,
                        one_lambda: float | None) -> pathlib.Path:
    """``report.html`` in ``folder`` (module docstring); returns its path."""
    folder = pathlib.Path(folder)
    if np.ndim(mask) == 2 and min(np.shape(mask)) == 1:   # one row or column: reconstructed (and drawn) as a trace
        data, mask = np.ravel(data), np.ravel(mask)
        result = replace(result, x=np.ravel(result.x))
        estimates = {name: np.ravel(estimate) for name, estimate in estimates.items()}
    rows = [{"method": name, "SNR of the unobserved samples (dB)": value} for name, value in snr.items()]
    if one_lambda is not None:
        rows.append({"method": "lamina one λ", "SNR of the unobserved samples (dB)": one_lambda})
    mixture = [{"model": name, "weight": result.weights.get(name, 0.0), "held-out relative error": error}
               for name, error in sorted(result.scores.items(), key=lambda item: item[1])]
    shown = {"lamina": result.x}
    best = best_baseline(snr)
    if best is not None:
        shown[best] = estimates[best]
    sections = [("Recovery of the unobserved samples", table_html(rows)),
                ("The mixture: every candidate model at its best λ", table_html(mixture) + (
                    "<p class='note'>Held-out relative error: Σ (x̂ − v)² / Σ v² over the held-out observed "
                    f"samples ({_averaging(result.info)}); the weights are the stacking weights.</p>"
                    + _regular_mask_note(result.info))),
                ("Recovery", figure_html(recovery_figure(data, mask, shown), "lamina and the best baseline",
                                         folder / "recovery.png"))]
    if result.info.get("curves"):   # absent when nothing was tuned (every sample observed, a constant)
        sections.append(("Held-out error along each model's λ grid",
                         figure_html(curves_figure(result.info["curves"]), "cross-validation curves",
                                     folder / "curves.png")))
    if result.weights.get("spectral", 0.0) > 0:
        curve = result.info["curves"]["spectral"]
        t = float(np.asarray(curve["lam"])[int(np.argmin(curve["error"]))])
        sections.append(("A λ per frequency: the spectral prior",
                         figure_html(spectral_figure(data, mask, result.info, t),
                                     "spectrum estimated from the observed samples and the λ per frequency",
                                     folder / "spectral.png")))
    title = f"lamina: {pathlib.Path(signal).name} from {int(mask.sum())} of {mask.size} samples"
    return write_report(folder / "report.html", title, sections, intro=verdict(snr, one_lambda))
