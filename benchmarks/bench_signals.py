"""Recovering real signals from irregular samples: lamina.inverse.reconstruct against interpolation.

Signals (all offline): real seismograms shipped with ObsPy (its example, three channels, and
miniSEED waveforms of its installed test data), demeaned and cut to ``N_SAMPLES`` samples around
the largest amplitude; photographs bundled with scikit-image (grey, 4×4 block means, a central
crop) with random pixel loss; synthetic gathers from ``pylops.utils.seismicevents`` (linear and
parabolic events) with missing traces. For each, 30 %, 50 % and 70 % of the samples (pixels,
traces) are kept at random, a few masks each; the score is the SNR of the recovered unobserved
samples, 10 log₁₀(‖x_miss‖² / ‖x̂_miss − x_miss‖²) in dB, averaged over the masks.

Methods: linear and cubic-spline interpolation (SciPy), band-limited POCS (300 iterations,
band = half the average sampling's Nyquist, see bench_pocs_band.py), POCS with a decreasing threshold on the Fourier
amplitudes (Abma & Kabir 2006, 300 iterations), lamina's ``reconstruct`` with one λ for every
coefficient of each model (``per_group=False``; the spectral prior then is white noise), and
lamina's default (a λ per wavelet level / band, a λ per frequency from the estimated spectrum); and, to isolate the λ per group, the cycle-spun db4 wavelet frame alone with one λ
and with a λ per level (``dictionary="wavelet:db4"``). Nothing else is given to lamina: it chooses model and λ from the observed samples.

``--validation`` runs signals the benchmark does not use — other miniSEED files of ObsPy's test
data (cut around the largest amplitude and, for long records, a window at a fifth of the record),
six other scikit-image photographs — with other masks (seeds 10, 11 for traces, 10 for images),
comparing lamina's default with its plain (unweighted) cross-validation and with linear and
cubic interpolation: a check that a change to the default is not tuned to the benchmark's data.

Usage: ``python benchmarks/bench_signals.py [--quick | --validation] [--default-only]``; prints a markdown table
(and writes it to benchmarks/out/signals.md, or signals_validation.md).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import time
import warnings

import numpy as np

from lamina.inverse.sensing import peak_window

OUT = pathlib.Path(__file__).resolve().parent / "out"
KEEPS = (0.3, 0.5, 0.7)
N_SAMPLES = 512
IMAGE_SIDE = 64
WAVEFORMS = [  # (file under obspy/io/mseed/tests/data, trace index)
    ("1T_MONN_00_EDH.mseed", 0), ("BW.BGLD.__.EHE.D.2008.001.first_10_records", 0),
    ("WUQ.XJ.HHN.D.2008.285.first_record", 0), ("dataquality-m.mseed", 0),
]
IMAGES = ["camera", "moon", "coins"]
VALIDATION_WAVEFORMS = ["CH.BALST..LHE.D.2025.314", "SRO_encoding.mseed", "steim2.mseed", "fullseed.mseed",
                        "BW.UH3.__.EHZ.D.2010.171.first_record", "RJOB.BW.EHZ.D.300806.0000.fullseed",
                        "timingquality.mseed"]
VALIDATION_IMAGES = ["astronaut", "brick", "grass", "text", "chelsea", "clock"]


def seismograms(quick: bool):
    import obspy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example = obspy.read()
        out = [(f"ObsPy example {tr.stats.channel}", peak_window(tr.data, N_SAMPLES)) for tr in example[:1 if quick else 3]]
        folder = pathlib.Path(obspy.__file__).parent / "io" / "mseed" / "tests" / "data"
        for name, index in WAVEFORMS[:2 if quick else None]:
            trace = obspy.read(str(folder / name))[index]
            out.append((f"{trace.id} ({trace.stats.sampling_rate:g} Hz)", peak_window(trace.data, N_SAMPLES)))
    return out


def validation_seismograms():
    """First trace of each VALIDATION_WAVEFORMS file, cut around its largest amplitude, and for
    records longer than 3·N_SAMPLES also the window starting at a fifth of the record."""
    import obspy

    folder = pathlib.Path(obspy.__file__).parent / "io" / "mseed" / "tests" / "data"
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in VALIDATION_WAVEFORMS:
            trace = obspy.read(str(folder / name))[0]
            data = trace.data.astype(np.float64)
            if data.size > 3 * N_SAMPLES:
                window = data[data.size // 5: data.size // 5 + N_SAMPLES]
                window = window - window.mean()
                out.append((f"{trace.id} early", window / np.max(np.abs(window))))
            out.append((trace.id, peak_window(data, N_SAMPLES)))
    return out


def images(quick: bool, names=None):
    from skimage import data

    out = []
    for name in names or IMAGES[:2 if quick else None]:
        image = np.asarray(getattr(data, name)(), dtype=np.float64)
        if image.ndim == 3:
            image = image.mean(axis=2)
        rows, cols = (s // 4 * 4 for s in image.shape)
        small = image[:rows, :cols].reshape(rows // 4, 4, cols // 4, 4).mean(axis=(1, 3))
        # the central IMAGE_SIDE × IMAGE_SIDE crop (a whole side where it is shorter: "text" is 43 × 112)
        r0, c0 = (max(0, (side - IMAGE_SIDE) // 2) for side in small.shape)
        out.append((f"skimage {name}", small[r0:r0 + IMAGE_SIDE, c0:c0 + IMAGE_SIDE] / 255.0))
    return out


def gathers(quick: bool):
    from pylops.utils.seismicevents import linear2d, makeaxis, parabolic2d
    from pylops.utils.wavelets import ricker

    par = {"ox": -160.0, "dx": 10.0, "nx": 32, "ot": 0.0, "dt": 0.004, "nt": 128}
    t, _, x, _ = makeaxis(par)
    wav = ricker(t[:41], f0=20)[0]
    _, linear = linear2d(x, t, 1500.0, [0.1, 0.25, 0.35], [10.0, -20.0, 5.0], [1.0, -0.6, 0.5], wav)
    _, parabolic = parabolic2d(x, t, [0.12, 0.3], [0.0, 0.0002], [2e-6, 4e-6], [1.0, -0.7], wav)
    out = [("pylops linear events (32 traces)", linear), ("pylops parabolic events (32 traces)", parabolic)]
    return out[:1] if quick else out


def sample_mask(shape, keep, rng, traces: bool):
    if traces:  # whole traces (rows) kept or lost
        rows = np.zeros(shape[0], bool)
        rows[rng.choice(shape[0], max(2, int(round(keep * shape[0]))), replace=False)] = True
        return np.repeat(rows[:, None], shape[1], axis=1)
    mask = np.zeros(int(np.prod(shape)), bool)
    mask[rng.choice(mask.size, int(round(keep * mask.size)), replace=False)] = True
    return mask.reshape(shape)


def snr_db(estimate, truth, missing):
    error = np.sum((estimate[missing] - truth[missing]) ** 2)
    return float(10 * np.log10(np.sum(truth[missing] ** 2) / max(error, 1e-300)))


SKIPPABLE = ("lamina one λ", "lamina plain CV", "db4 one λ", "db4 λ/level")   # outside the goals' "do not regress" numbers


def methods(skip=()):
    from lamina.inverse import reconstruct
    from lamina.inverse.baselines import cubic_interpolation, linear_interpolation, pocs_interpolation

    all_methods = {
        "linear": linear_interpolation,
        "cubic": cubic_interpolation,
        "POCS": pocs_interpolation,
        "POCS thr.": lambda v, m: pocs_interpolation(v, m, threshold=True),
        "db4 one λ": lambda v, m: reconstruct(v, m, dictionary="wavelet:db4", per_group=False).x,
        "db4 λ/level": lambda v, m: reconstruct(v, m, dictionary="wavelet:db4").x,
        "lamina one λ": lambda v, m: reconstruct(v, m, per_group=False).x,
        "lamina": lambda v, m: reconstruct(v, m),   # the Reconstruction: its mixture weights are reported
    }
    return {name: f for name, f in all_methods.items() if name not in skip}


FAMILIES = ("seismogram", "image", "gather")
EXTRA_FAMILIES = ("test-signal",)   # run when named with --families only (not part of the goals' rows)


def test_signals(quick: bool):
    """Donoho & Johnstone's test signals on N_SAMPLES points, noiseless: blocks, bumps, heavisine and
    doppler (Donoho & Johnstone 1994, the textbook signals of per-level wavelet shrinkage) — settings
    invented for the check (benchmarks/RESULTS.md, issue 18, 7 December 2026)."""
    t = (np.arange(N_SAMPLES) + 0.5) / N_SAMPLES
    jumps = np.array([.1, .13, .15, .23, .25, .40, .44, .65, .76, .78, .81])
    heights = np.array([4, -5, 3, -4, 5, -4.2, 2.1, 4.3, -3.1, 2.1, -4.2])
    widths = np.array([.005, .005, .006, .01, .01, .03, .01, .01, .005, .008, .005])
    out = [("blocks", (heights * (1 + np.sign(t[:, None] - jumps)) / 2).sum(1)),
           ("bumps", (np.array([4, 5, 3, 4, 5, 4.2, 2.1, 4.3, 3.1, 5.1, 4.2])
                      * (1 + np.abs(t[:, None] - jumps) / widths) ** -4).sum(1)),
           ("heavisine", 4 * np.sin(4 * np.pi * t) - np.sign(t - .3) - np.sign(.72 - t)),
           ("doppler", np.sqrt(t * (1 - t)) * np.sin(2 * np.pi * 1.05 / (t + .05)))]
    return out[:2] if quick else out


def run(quick: bool, log=lambda line: print(line, flush=True), skip=(), families=FAMILIES):
    n_masks = 1 if quick else 2
    rows = []
    sources = {"seismogram": (seismograms, False), "image": (images, False), "gather": (gathers, True),
               "test-signal": (test_signals, False)}
    for family in families:
        load, traces = sources[family]
        signals = load(quick)
        for name, truth in signals:
            for keep in KEEPS:
                scores, sparse = {}, []
                for seed in range(n_masks):
                    mask = sample_mask(truth.shape, keep, np.random.default_rng(seed), traces)
                    for method, function in methods(skip).items():
                        started = time.perf_counter()
                        estimate = function(truth[mask], mask)
                        seconds = time.perf_counter() - started
                        if method == "lamina":  # mixture weight of the models with a λ per group
                            sparse.append(sum(w for n, w in estimate.weights.items() if not n.startswith("spline")))
                        estimate = np.asarray(estimate)
                        scores.setdefault(method, []).append((snr_db(estimate, truth, ~mask), seconds))
                row = {"family": family, "signal": name, "keep": keep,
                       **{m: float(np.mean([s for s, _ in v])) for m, v in scores.items()},
                       "seconds": float(np.mean([t for _, t in scores["lamina"]])), "sparse": float(np.mean(sparse))}
                rows.append(row)
                log(f"{family:10s} {name:40s} {keep:.0%} " + " ".join(f"{m} {row[m]:.1f}" for m in scores))
    return rows


def report(quick: bool = False) -> str:
    """The markdown table of a whole run (the ``make bench`` entry point)."""
    return table(run(quick, log=lambda line: None),
                 "python benchmarks/bench_signals.py" + (" --quick" if quick else ""))


def _get(row, name):
    return row.get(name, float("nan"))


def table(rows, command: str) -> str:
    names = list(methods())
    baselines = ["linear", "cubic", "POCS", "POCS thr."]
    lines = ["## Signals from irregular samples: SNR (dB) of the unobserved samples", "",
             f"Command: `{command}` (OMP_NUM_THREADS=1). Mean over the masks; 'best interp.' is the best of "
             "linear, cubic and both POCS for that row; Δ = lamina − best interp.; 'λ/level gain' = lamina − lamina one λ; "
             "'db4 gain' = db4 λ/level − db4 one λ; 'λ/group w.' = the default's mixture weight on its models "
             "with a λ per group (the frames and the spectral prior; the rest is on the smoothness priors).",
             "", "| family | signal | kept | " + " | ".join(names) + " | best interp. | Δ | λ/level gain | db4 gain | lamina s | λ/group w. |",
             "|---|---|---|" + "---|" * (len(names) + 6)]
    for row in rows:
        best = max(row[b] for b in baselines)
        lines.append(f"| {row['family']} | {row['signal']} | {row['keep']:.0%} | "
                     + " | ".join(f"{_get(row, n):.1f}" for n in names)
                     + f" | {best:.1f} | {row['lamina'] - best:+.1f} | {row['lamina'] - _get(row, 'lamina one λ'):+.1f} | "
                     f"{_get(row, 'db4 λ/level') - _get(row, 'db4 one λ'):+.1f} | {row['seconds']:.1f} | {row['sparse']:.2f} |")
    lines += ["", "| family | rows | mean Δ vs best interp. | rows with Δ ≥ −0.5 dB | mean λ/level gain | mean db4 gain "
              "| mean λ/group w. |", "|---|---|---|---|---|---|---|"]
    for family in dict.fromkeys(r["family"] for r in rows):
        group = [r for r in rows if r["family"] == family]
        deltas = [r["lamina"] - max(r[b] for b in baselines) for r in group]
        gains = [r["lamina"] - _get(r, "lamina one λ") for r in group]
        db4 = [_get(r, "db4 λ/level") - _get(r, "db4 one λ") for r in group]
        lines.append(f"| {family} | {len(group)} | {np.mean(deltas):+.2f} dB | {sum(d >= -0.5 for d in deltas)}/{len(group)} "
                     f"| {np.mean(gains):+.2f} dB | {np.mean(db4):+.2f} dB | {np.mean([r['sparse'] for r in group]):.2f} |")
    return "\n".join(lines) + "\n"


def validation(log=lambda line: print(line, flush=True), skip=(), families=FAMILIES) -> str:
    """The ``--validation`` table: default (importance-weighted CV) against plain CV and against one λ for every
    coefficient of each model (``per_group=False``: goal (c) of issue 18 on signals the benchmark does not use)."""
    from lamina.inverse import reconstruct
    from lamina.inverse.baselines import cubic_interpolation, linear_interpolation

    compared = {"linear": linear_interpolation, "cubic": cubic_interpolation,
                "lamina plain CV": lambda v, m: reconstruct(v, m, weighting="uniform").x,
                "lamina one λ": lambda v, m: reconstruct(v, m, per_group=False).x,
                "lamina": lambda v, m: reconstruct(v, m).x}
    compared = {name: f for name, f in compared.items() if name not in skip}
    rows = []
    sources = {"seismogram": (validation_seismograms, (10, 11)),
               "image": (lambda: images(False, VALIDATION_IMAGES), (10,))}
    for family in (f for f in families if f in sources):
        signals, seeds = sources[family][0](), sources[family][1]
        for name, truth in signals:
            for keep in KEEPS:
                for seed in seeds:
                    mask = sample_mask(truth.shape, keep, np.random.default_rng(seed), False)
                    row = {"family": family, "signal": name, "keep": keep, "seed": seed,
                           **{m: snr_db(f(truth[mask], mask), truth, ~mask) for m, f in compared.items()}}
                    row.setdefault("lamina plain CV", float("nan"))
                    row.setdefault("lamina one λ", float("nan"))
                    rows.append(row)
                    log(f"{family:10s} {name:28s} {keep:.0%} seed {seed} " + " ".join(f"{m} {row[m]:.2f}" for m in compared))
    lines = ["## Validation signals (not in the benchmark): SNR (dB) of the unobserved samples", "",
             "Command: `python benchmarks/bench_signals.py --validation` (OMP_NUM_THREADS=1). One row per mask; "
             "Δ = method − best of linear and cubic; 'λ/level gain' = lamina − lamina one λ.", "",
             "| family | signal | kept | seed | linear | cubic | lamina plain CV | lamina one λ | lamina | Δ plain CV | Δ lamina "
             "| λ/level gain |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        best = max(r["linear"], r["cubic"])
        lines.append(f"| {r['family']} | {r['signal']} | {r['keep']:.0%} | {r['seed']} | {r['linear']:.1f} | {r['cubic']:.1f} | "
                     f"{r['lamina plain CV']:.1f} | {r['lamina one λ']:.1f} | {r['lamina']:.1f} | {r['lamina plain CV'] - best:+.1f} | "
                     f"{r['lamina'] - best:+.1f} | {r['lamina'] - r['lamina one λ']:+.1f} |")
    lines += ["", "| family | masks | method | mean Δ | masks with Δ ≥ −0.5 dB | worst Δ |", "|---|---|---|---|---|---|"]
    for family in dict.fromkeys(r["family"] for r in rows):
        group = [r for r in rows if r["family"] == family]
        for method in ("lamina plain CV", "lamina"):
            deltas = np.array([r[method] - max(r["linear"], r["cubic"]) for r in group])
            if np.isnan(deltas).all():   # a skipped method
                continue
            lines.append(f"| {family} | {len(group)} | {method} | {deltas.mean():+.2f} dB | {int(np.sum(deltas >= -0.5))}/{len(group)} "
                         f"| {deltas.min():+.2f} dB |")
    lines += ["", "| family | masks | mean λ/level gain ± s.e. | masks with gain ≥ 1 dB | masks where one λ is better |",
              "|---|---|---|---|---|"]
    for family in dict.fromkeys(r["family"] for r in rows):
        gains = np.array([r["lamina"] - r["lamina one λ"] for r in rows if r["family"] == family])
        if np.isnan(gains).all():
            continue
        se = gains.std(ddof=1) / np.sqrt(gains.size) if gains.size > 1 else 0.0
        lines.append(f"| {family} | {gains.size} | {gains.mean():+.2f} ± {se:.2f} dB "
                     f"| {int(np.sum(gains >= 1))} | {int(np.sum(gains < 0))} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer signals, one mask each")
    parser.add_argument("--validation", action="store_true", help="signals and masks the benchmark does not use")
    parser.add_argument("--default-only", action="store_true",
                        help="skip the comparisons outside the goals' numbers (lamina one λ, the db4 columns; in "
                             "--validation, lamina plain CV): about half the time, for a check of a change to the "
                             "default; those columns read nan")
    parser.add_argument("--families", nargs="+", choices=FAMILIES + EXTRA_FAMILIES, default=list(FAMILIES),
                        help="the kinds of signal to run (default: " + ", ".join(FAMILIES) + "; --validation has no "
                             "gathers; test-signal, Donoho & Johnstone's noiseless test signals, only when named)")
    args = parser.parse_args()
    skip = SKIPPABLE if args.default_only else ()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if args.validation:
        text = validation(skip=skip, families=args.families)
        OUT.mkdir(exist_ok=True)
        (OUT / "signals_validation.md").write_text(text)
        print(text)
        raise SystemExit(0)
    result = run(args.quick, skip=skip, families=args.families)
    command = "python benchmarks/bench_signals.py" + (" --quick" if args.quick else "")
    if list(args.families) != list(FAMILIES):
        command += " --families " + " ".join(args.families)
    text = table(result, command)
    OUT.mkdir(exist_ok=True)
    (OUT / "signals.md").write_text(text)
    print(text)
