"""The band of the POCS interpolation baseline, on the signals of bench_signals.py.

Band-limited POCS (Papoulis–Gerchberg) keeps the frequencies |f| ≤ β·p·f_N (1-D; √(β p) per axis
in 2-D), p the kept share of the samples. β = 1 — the band a regular grid of that density resolves
— leaves as many unknowns as observed samples on an irregular mask, and the iteration does not
converge; this script measures β ∈ {1, 0.7, 0.5, 0.35} beside linear and cubic interpolation and
the thresholded POCS of Abma & Kabir (2006), on the seismograms, photographs and gathers and the
masks of bench_signals.py (2 masks per share). It prints the mean SNR of the unobserved samples
(dB) per method, the best baseline as bench_signals.py had it (β = 1) and the best of all.

Usage: ``OMP_NUM_THREADS=1 python benchmarks/bench_pocs_band.py`` (≈ 1 min).
"""
from __future__ import annotations

import pathlib
import sys
import warnings

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_signals as signals  # noqa: E402

from lamina.inverse.baselines import cubic_interpolation, linear_interpolation, pocs_interpolation  # noqa: E402

FACTORS = (1.0, 0.7, 0.5, 0.35)


def estimates(truth, mask) -> dict:
    share = float(mask.mean())
    out = {"linear": linear_interpolation(truth[mask], mask), "cubic": cubic_interpolation(truth[mask], mask),
           "POCS thr.": pocs_interpolation(truth[mask], mask, threshold=True)}
    for factor in FACTORS:
        band = factor * share if mask.ndim == 1 else np.sqrt(factor * share)
        out[f"β={factor:g}"] = pocs_interpolation(truth[mask], mask, band=band)
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    sources = {"seismogram": (signals.seismograms, False), "image": (signals.images, False),
               "gather": (signals.gathers, True)}
    header = None
    for family, (load, traces) in sources.items():
        for name, truth in load(False):
            for keep in signals.KEEPS:
                scores: dict[str, list[float]] = {}
                for seed in range(2):
                    mask = signals.sample_mask(truth.shape, keep, np.random.default_rng(seed), traces)
                    for method, estimate in estimates(truth, mask).items():
                        scores.setdefault(method, []).append(signals.snr_db(estimate, truth, ~mask))
                row = {method: float(np.mean(values)) for method, values in scores.items()}
                if header is None:
                    header = ["family", "signal", "kept", *row, "best (β = 1)", "best of all"]
                    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
                old = max(row[m] for m in ("linear", "cubic", "POCS thr.", "β=1"))
                print(f"| {family} | {name} | {keep:.0%} | " + " | ".join(f"{v:.1f}" for v in row.values())
                      + f" | {old:.1f} | {max(row.values()):.1f} |", flush=True)


if __name__ == "__main__":
    main()
