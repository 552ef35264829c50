"""The ``lamina`` command.

    lamina invert [--out DIR] [--samples N] [--snr DB] ...   deconvolution study → HTML report

Exit codes: 0 success, 1 the job failed (message on stderr), 2 bad command-line usage.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import sys


def _invert(args) -> int:
    import numpy as np
    from tqdm.auto import tqdm

    from lamina.inverse import deconvolution
    from lamina.inverse.study import deconvolution_study
    from lamina.report import figure_html, table_html, write_report
    from lamina.report.inverse_figures import convergence_figure, lambda_curves_figure, trace_figure

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problem = deconvolution(n_samples=args.samples, peak_frequency=args.peak_frequency, dt=args.dt,
                            n_spikes=args.spikes, snr_db=args.snr, seed=args.seed)
    bar = tqdm(total=len(args.penalties) * args.lams, desc="λ paths", unit="solve", disable=args.quiet)
    curves = deconvolution_study(problem, penalties=args.penalties, n_lams=args.lams,
                                 progress=lambda _name, _k: bar.update())
    bar.close()
    rows = [curve.summary() for curve in curves]
    target = float(np.sqrt(problem.b.shape[0]) * problem.sigma)
    sections = [
        ("Results", table_html(rows, "λ by the discrepancy principle (σ known) and the oracle λ (truth)")),
        ("Recovered reflectivity", figure_html(trace_figure(problem, curves),
                                               "True spikes (grey) and recoveries at the discrepancy λ",
                                               out / "traces.png")),
        ("Error and residual along λ", figure_html(lambda_curves_figure(curves, target),
                                                   "Relative error (blue), residual (orange) and the two picks",
                                                   out / "lambda_curves.png")),
        ("Convergence", figure_html(convergence_figure(curves),
                                    "Stopping criterion of each solver at the chosen λ", out / "convergence.png")),
    ]
    intro = (f"Sparse-spike deconvolution of a {args.samples}-sample trace: Ricker wavelet "
             f"{args.peak_frequency:g} Hz, dt = {args.dt * 1000:g} ms, {args.spikes} reflectors, "
             f"SNR {args.snr:g} dB. Objective ½‖Ax − b‖² + λ R(x), R ∈ {{L0, L1, L2}}.")
    report = write_report(out / "report.html", "lamina — sparse-spike deconvolution", sections, intro)
    (out / "results.json").write_text(json.dumps({"problem": vars(args) | {"sigma": problem.sigma},
                                                  "results": rows}, indent=2, default=str))
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not args.quiet:
        _print_table(rows)
        print(f"\nreport: {report.resolve()}")
    return 0


def _print_table(rows):
    columns = list(rows[0])
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lamina", description="Regularization with a λ per group.")
    sub = parser.add_subparsers(dest="command", required=True)
    invert = sub.add_parser("invert", help="sparse-spike deconvolution study (L0/L1/L2) with an HTML report")
    invert.add_argument("--out", default="out/invert", help="output folder (default: out/invert)")
    invert.add_argument("--samples", type=int, default=4000, help="trace length (default 4000)")
    invert.add_argument("--peak-frequency", type=float, default=20.0, help="Ricker peak frequency, Hz")
    invert.add_argument("--dt", type=float, default=0.004, help="sampling interval, s")
    invert.add_argument("--spikes", type=int, default=60, help="number of reflectors")
    invert.add_argument("--snr", type=float, default=20.0, help="data SNR in dB")
    invert.add_argument("--seed", type=int, default=0)
    invert.add_argument("--lams", type=int, default=25, help="λ values per penalty path")
    invert.add_argument("--penalties", nargs="+", default=["l1", "l0", "l2"], choices=["l0", "l1", "l2"])
    invert.add_argument("--quiet", action="store_true", help="no progress bar or table")
    invert.add_argument("--json", action="store_true", help="print the results as JSON")
    invert.set_defaults(run=_invert)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, FloatingPointError) as error:
        print(f"lamina {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
