"""Regular masks: every 2nd, 3rd or 4th sample of a trace kept, with and without noise.

Random masks leave some observed samples next to each other, so the held-out samples of
`lamina.inverse.reconstruct`'s cross-validation include some as near to the data as the
unobserved ones. A regular mask does not: every held-out sample sits in a gap at least twice as
wide as the real ones (``info["nearer_than_held_out"]``, and a ``RegularMaskWarning``). This
benchmark measures what that costs and what the warning's advice — the spectral prior at its
interpolating limit, ``dictionary="spectral", lam=1e-6`` — gives instead, on clean traces and
with white noise of 10 % and 30 % of the trace's RMS added to the observed samples (scored
against the clean trace).

Signals: the seven seismograms of ``bench_signals`` and, with ``--validation``, its validation
seismograms; with ``--gathers``, its two PyLops gathers (32 traces × 128 samples) with every
``step``-th trace kept (lamina's default and the interpolants only: the spectral prior is not
offered on masks of whole traces). Masks: every ``step``-th sample (trace) from the first. Score: SNR (dB) of the unobserved
samples; the table gives each method minus the better of linear and cubic-spline interpolation
of the same (noisy) samples, averaged over the traces, with the worst trace in brackets.

Usage: ``python benchmarks/bench_regular_masks.py [--validation | --gathers] [--quick]``.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

STEPS = (2, 3, 4)
NOISES = (0.0, 0.1, 0.3)


def methods(gathers: bool = False) -> dict:
    from lamina.inverse import reconstruct
    from lamina.inverse.baselines import cubic_interpolation, linear_interpolation

    out = {"linear": linear_interpolation, "cubic": cubic_interpolation,
           "lamina default": lambda v, m: reconstruct(v, m).x}
    if not gathers:
        out["spectral, lam=1e-6"] = lambda v, m: reconstruct(v, m, dictionary="spectral", lam=1e-6).x
    return out


def run(quick: bool = False, validation: bool = False, gathers: bool = False,
        log=lambda line: print(line, flush=True)) -> list:
    from bench_signals import gathers as load_gathers
    from bench_signals import seismograms, snr_db, validation_seismograms

    signals = (load_gathers(quick) if gathers else validation_seismograms() if validation else seismograms(quick))
    rng = np.random.default_rng(3)
    rows = []
    for name, truth in signals:
        rms = float(np.sqrt(np.mean(truth ** 2)))
        for noise in NOISES[:1] if quick else NOISES:
            noisy = truth + noise * rms * rng.standard_normal(truth.shape)
            for step in STEPS:
                mask = np.zeros(truth.shape, bool)
                mask[::step] = True
                row = {"signal": name, "noise": noise, "step": step}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for method, function in methods(gathers).items():
                        started = time.perf_counter()
                        row[method] = snr_db(np.asarray(function(noisy[mask], mask)), truth, ~mask)
                        row[method + " s"] = time.perf_counter() - started
                rows.append(row)
                log(f"{name:40s} noise {noise:.0%} every {step}: " +
                    " ".join(f"{m} {row[m]:.2f}" for m in methods(gathers)))
    return rows


def table(rows, command: str) -> str:
    compared = [m for m in ("lamina default", "spectral, lam=1e-6") if rows and m in rows[0]]
    lines = [f"    {command}", "",
             "| noise | kept | signals | " + " | ".join(f"{m} − best interpolant" for m in compared) + " |",
             "|---|---|---|" + "---|" * len(compared)]
    for noise in NOISES:
        for step in STEPS:
            group = [r for r in rows if r["noise"] == noise and r["step"] == step]
            if not group:
                continue
            cells = []
            for method in compared:
                gain = np.array([r[method] - max(r["linear"], r["cubic"]) for r in group])
                cells.append(f"{gain.mean():+.2f} (worst {gain.min():+.2f}; ≥ −0.5 dB on {int(np.sum(gain >= -0.5))})")
            lines.append(f"| {noise:.0%} | every {step} | {len(group)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report(quick: bool = False, validation: bool = False, gathers: bool = False) -> str:
    command = ("OMP_NUM_THREADS=1 python benchmarks/bench_regular_masks.py" + (" --validation" if validation else "")
               + (" --gathers" if gathers else ""))
    return table(run(quick, validation, gathers), command)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="three traces, clean only")
    parser.add_argument("--validation", action="store_true", help="bench_signals' validation seismograms")
    parser.add_argument("--gathers", action="store_true", help="bench_signals' gathers, every step-th trace kept")
    args = parser.parse_args(argv)
    print(report(args.quick, args.validation, args.gathers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
