"""The ``lamina`` command.

    lamina invert [--out DIR] [--problem deconvolution|interpolation] [--rule RULE] ...
        L0/L1/L2 study with λ chosen by a rule, against the oracle → HTML report
    lamina invert --signal FILE [--mask FILE] (also lamina sense --signal)
        your own trace or image (.npy, miniSEED, image file) recovered from its observed samples
        by lamina.inverse.reconstruct, against interpolation baselines → HTML report
    lamina sense [--out DIR] [--methods bp irls] [--ensemble gaussian] [--full] ...
        compressed sensing: phase diagram with the Donoho–Tanner curve, a sparse recovery
        and ObsPy's example seismogram from a share of its samples → HTML report
    lamina nn [--task digits] [--methods ...] [--seeds 3] [--storage URL] [--workers N] [--resume]
        network study: the same model trained with every λ strategy, stored as it runs → report
    lamina linear [--task diabetes] [--methods ...] [--seeds 5] [--storage URL] ...
        linear study: λ per feature group vs one λ and scikit-learn's tuned models → report
    lamina report [--storage URL] [--study NAME] [--screenshot]
        the HTML page of a stored study (SQLite file or PostgreSQL)

Exit codes: 0 success, 1 the job failed (message on stderr), 2 bad command-line usage.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys

from lamina._files import write_atomically


def _invert(args) -> int:
    import numpy as np
    from tqdm.auto import tqdm

    from lamina.inverse import deconvolution
    from lamina.inverse.study import deconvolution_study
    from lamina.report import figure_html, table_html, write_report
    from lamina.report.inverse_figures import convergence_figure, lambda_curves_figure, trace_figure
    from lamina.studies.commands import output_folder

    out = output_folder(args.out)  # an unusable --out fails before the work
    if args.signal:  # a user's file: the same reconstruction as ``lamina sense --signal``
        from lamina.inverse.signal_file import run_cli
        return run_cli(args)
    if args.mask:
        raise ValueError("--mask marks the observed samples of --signal FILE; give --signal too")
    if args.problem == "interpolation":
        from lamina.inverse import interpolation

        problem = interpolation(n_traces=args.traces, n_time=args.samples, keep=args.keep, transform=args.transform,
                                snr_db=args.snr, dt=args.dt, peak_frequency=args.peak_frequency, seed=args.seed)
    else:
        problem = deconvolution(n_samples=args.samples, peak_frequency=args.peak_frequency, dt=args.dt,
                                n_spikes=args.spikes, snr_db=args.snr, seed=args.seed)
    bar = tqdm(total=len(args.penalties) * args.lams, desc="λ paths", unit="solve", disable=args.quiet)
    curves = deconvolution_study(problem, penalties=args.penalties, n_lams=args.lams,
                                 progress=lambda _name, _k: bar.update(), rule=args.rule)
    bar.close()
    rows = [curve.summary() for curve in curves]
    if args.problem == "interpolation":
        from lamina.inverse import filled_snr

        for row, curve in zip(rows, curves):
            row["filled_snr_db"] = filled_snr(problem, curve.coefs[curve.chosen])
    # the numbers before the figures: a figure that fails must not lose the computed paths
    write_atomically(out / "results.json", json.dumps(_json_safe({"problem": vars(args) | {"sigma": problem.sigma},
                                                                  "results": rows}), indent=2, default=str))
    target = float(np.sqrt(problem.b.shape[0]) * problem.sigma)
    if args.problem == "interpolation":
        from lamina.report.inverse_figures import gather_figure

        model_figure = ("Gathers", figure_html(
            gather_figure(problem, {c.penalty.upper(): c.coefs[c.chosen] for c in curves}),
            f"Full, observed and interpolated gathers at the {args.rule} λ", out / "gathers.png"))
        intro = (f"Interpolation of {len(problem.meta['missing'])} of {args.traces} traces missing at random "
                 f"({args.samples} samples each, SNR {args.snr:g} dB), sparsity in the {args.transform} domain. "
                 f"Objective ½‖R S x − b‖² + λ R(x), R ∈ {{L0, L1, L2}}; errors on the full gather.")
        title = "lamina — trace interpolation"
    else:
        model_figure = ("Recovered reflectivity", figure_html(
            trace_figure(problem, curves), f"True spikes (grey) and recoveries at the {args.rule} λ",
            out / "traces.png"))
        intro = (f"Sparse-spike deconvolution of a {args.samples}-sample trace: Ricker wavelet "
                 f"{args.peak_frequency:g} Hz, dt = {args.dt * 1000:g} ms, {args.spikes} reflectors, "
                 f"SNR {args.snr:g} dB. Objective ½‖Ax − b‖² + λ R(x), R ∈ {{L0, L1, L2}}.")
        title = "lamina — sparse-spike deconvolution"
    sections = [
        ("Results", table_html(rows, f"λ by the {args.rule} rule (σ known where it needs it) and the oracle λ "
                                     f"(truth); error_ratio = error at the rule's λ / oracle error")),
        model_figure,
        ("Error and residual along λ", figure_html(lambda_curves_figure(curves, target),
                                                   "Relative error (blue), residual (orange) and the two picks",
                                                   out / "lambda_curves.png")),
        ("Convergence", figure_html(convergence_figure(curves),
                                    "Stopping criterion of each solver at the chosen λ", out / "convergence.png")),
    ]
    report = write_report(out / "report.html", title, sections, intro)
    if args.json:
        print(json.dumps(_json_safe(rows), indent=2, allow_nan=False))
    elif not args.quiet:
        _print_table(rows)
        print(f"\nreport: {report.resolve()}")
    return 0


def _sense(args) -> int:
    from lamina.studies.commands import output_folder

    out = output_folder(args.out)  # an unusable --out fails before the work
    if args.signal:  # a user's file: lamina.inverse.reconstruct against interpolation baselines
        from lamina.inverse.signal_file import run_cli
        return run_cli(args)
    if args.mask:
        raise ValueError("--mask marks the observed samples of --signal FILE; give --signal too")
    import numpy as np
    from tqdm.auto import tqdm

    from lamina.inverse import compressed_sensing, donoho_tanner_weak, fit, phase_diagram, recover
    from lamina.inverse.sensing import seismogram_recovery
    from lamina.report import figure_html, table_html, write_report
    from lamina.report.inverse_figures import rule_curves_figure, signal_figure
    from lamina.report.phase_figures import phase_figure

    n = 400 if args.full else args.n
    trials = 20 if args.full else args.trials
    deltas = np.linspace(0.1, 0.9, 9 if args.full else args.deltas)
    rhos = np.linspace(0.05, 0.95, 19 if args.full else args.rhos)
    bar = tqdm(total=len(args.methods) * deltas.size * rhos.size, desc="phase diagram", unit="cell",
               disable=args.quiet)
    diagrams = [phase_diagram(method, args.ensemble, n=n, deltas=deltas, rhos=rhos, n_trials=trials,
                              seed=args.seed, progress=bar.update) for method in args.methods]
    bar.close()
    phase_rows = []
    for diagram in diagrams:
        for row in diagram.summary():
            phase_rows.append({"method": diagram.method, **row})
    # one noisy compressed-sensing problem with automatic λ, one noiseless recovery
    problem = compressed_sensing(n=args.signal_length, m=args.signal_length // 4, k=args.signal_length // 25,
                                 measurement=args.measurement, basis=args.basis, snr_db=args.snr, seed=args.seed)
    fits = {rule: fit(problem.A, problem.b, "l1", tuner=rule, sigma=problem.sigma, n_lams=30)
            for rule in ("discrepancy", "gcv", "sure", "cv", "lcurve")}
    noiseless = compressed_sensing(n=args.signal_length, m=args.signal_length // 4, k=args.signal_length // 25,
                                   measurement=args.measurement, basis=args.basis, seed=args.seed)
    recovered = recover(noiseless.A, noiseless.b)
    cs_rows = [{"case": f"L1, λ by {rule}", "relative_error": problem.relative_error(res.x), "lam": float(res.lam[0]),
                "nonzeros": int(np.count_nonzero(res.x))} for rule, res in fits.items()]
    cs_rows.append({"case": f"noiseless, recover ({recovered.method})",
                    "relative_error": noiseless.relative_error(recovered.x), "lam": 0.0,
                    "nonzeros": int(np.count_nonzero(recovered.x))})
    real = seismogram_recovery(keep=args.keep, basis="dct", n_samples=1024, seed=args.seed)
    real_fit = fit(real.A, real.b, "l1", tuner="gcv", n_lams=25)
    cs_rows.append({"case": f"ObsPy seismogram, {args.keep:.0%} of samples, DCT, λ by gcv",
                    "relative_error": real.relative_error(real_fit.x), "lam": float(real_fit.lam[0]),
                    "nonzeros": int(np.count_nonzero(real_fit.x))})
    sections = [
        ("Phase transition", table_html(phase_rows, "ρ of 50 % success per δ against the Donoho–Tanner weak threshold")
         + figure_html(phase_figure(diagrams), "Empirical success probability; dashed: Donoho–Tanner L1 curve",
                       out / "phase.png")),
        ("Sparse recovery", table_html(cs_rows, f"{args.measurement} measurements, {args.basis} basis, "
                                                f"n = {args.signal_length}; relative error of the signal")),
        ("λ rules", figure_html(rule_curves_figure({r: f.curve for r, f in fits.items()}),
                                "Score of each rule along the λ path and its pick", out / "rule_curves.png")),
        ("Recovered signals", figure_html(signal_figure(problem, {r: fits[r].x for r in ("gcv", "cv")}),
                                          "True signal (grey) and recoveries", out / "signals.png")),
        ("Real data", figure_html(signal_figure(real, {"L1 (gcv)": real_fit.x}, window=(200, 700)),
                                  "ObsPy example seismogram: kept samples and recovery", out / "seismogram.png")),
    ]
    intro = (f"Compressed sensing with lamina: methods {', '.join(args.methods)} on {args.ensemble} matrices "
             f"(n = {n}, {trials} trials per cell). Donoho–Tanner ρ_W(0.5) = {float(donoho_tanner_weak(0.5)):.4f}.")
    report = write_report(out / "report.html", "lamina — compressed sensing", sections, intro)
    results = {"phase": phase_rows, "recovery": cs_rows}
    write_atomically(out / "results.json", json.dumps(_json_safe(results), indent=2, default=float))
    if args.json:
        print(json.dumps(_json_safe(results), indent=2, default=float, allow_nan=False))
    elif not args.quiet:
        _print_table(phase_rows)
        print()
        _print_table(cs_rows)
        print(f"\nreport: {report.resolve()}")
    return 0


def _json_safe(value):
    from lamina.report.study_report import json_safe
    return json_safe(value)


def _print_table(rows):
    columns = list(rows[0])
    cells = [[f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def build_parser() -> argparse.ArgumentParser:
    from lamina.studies.commands import positive_int
    parser = argparse.ArgumentParser(prog="lamina", description="Regularization with a λ per group.")
    sub = parser.add_subparsers(dest="command", required=True)
    invert = sub.add_parser("invert", help="sparse-spike deconvolution study (L0/L1/L2) with an HTML report")
    invert.add_argument("--out", default="out/invert", help="output folder (default: out/invert)")
    invert.add_argument("--problem", default=None, choices=["deconvolution", "interpolation"],
                        help="synthetic problem (default deconvolution); not with --signal")
    invert.add_argument("--rule", default="discrepancy", choices=["discrepancy", "gcv", "sure", "cv", "lcurve"],
                        help="λ-choosing rule (default discrepancy, σ known)")
    invert.add_argument("--samples", type=positive_int, default=None,
                        help="trace length (default 4000; 256 for interpolation)")
    invert.add_argument("--traces", type=positive_int, default=64, help="traces of the interpolation gather")
    invert.add_argument("--keep", type=float, default=None,
                        help="share of traces kept (interpolation, default 0.6); with --signal and no --mask, "
                             "the share of samples observed at random (default 0.5)")
    invert.add_argument("--transform", default="fk", choices=["fk", "dct", "wavelet"],
                        help="sparsifying transform (interpolation)")
    invert.add_argument("--peak-frequency", type=float, default=20.0, help="Ricker peak frequency, Hz")
    invert.add_argument("--dt", type=float, default=0.004, help="sampling interval, s")
    invert.add_argument("--spikes", type=positive_int, default=60, help="number of reflectors")
    invert.add_argument("--snr", type=float, default=20.0, help="data SNR in dB")
    invert.add_argument("--seed", type=int, default=0)
    invert.add_argument("--lams", type=positive_int, default=25, help="λ values per penalty path")
    invert.add_argument("--penalties", nargs="+", default=["l1", "l0", "l2"], choices=["l0", "l1", "l2"])
    invert.add_argument("--signal", help="your own signal (.npy, .mseed, image): reconstruct it from --mask, "
                                         "as lamina sense --signal does")
    invert.add_argument("--mask", help="boolean .npy of the signal's shape, True = observed (default: random --keep)")
    invert.add_argument("--quiet", action="store_true", help="no progress bar or table")
    invert.add_argument("--json", action="store_true", help="print the results as JSON")
    invert.set_defaults(run=_invert)

    sense = sub.add_parser("sense", help="compressed sensing: phase diagram (Donoho–Tanner) and recoveries")
    sense.add_argument("--out", default="out/sense", help="output folder (default: out/sense)")
    sense.add_argument("--methods", nargs="+", default=["bp", "irls"], choices=["bp", "irls", "irl1", "omp"])
    sense.add_argument("--ensemble", default="gaussian", choices=["gaussian", "bernoulli", "partial_dct"])
    sense.add_argument("--n", type=positive_int, default=60, help="signal length of the phase diagram (default 60)")
    sense.add_argument("--trials", type=positive_int, default=4, help="problems per cell (default 4)")
    sense.add_argument("--deltas", type=positive_int, default=5, help="δ grid points (default 5)")
    sense.add_argument("--rhos", type=positive_int, default=10, help="ρ grid points (default 10)")
    sense.add_argument("--full", action="store_true", help="n = 400, 9×19 grid, 20 trials (long)")
    sense.add_argument("--signal-length", type=positive_int, default=400, help="n of the recovery examples")
    sense.add_argument("--measurement", default="partial_dct",
                       choices=["gaussian", "partial_dct", "partial_fourier", "random_samples"])
    sense.add_argument("--basis", default="wavelet", choices=["identity", "dct", "fourier", "wavelet"])
    sense.add_argument("--snr", type=float, default=25.0, help="SNR of the noisy recovery example, dB")
    sense.add_argument("--keep", type=float, default=0.5, help="share of seismogram samples kept")
    sense.add_argument("--seed", type=int, default=0)
    sense.add_argument("--signal", help="your own signal (.npy, .mseed, image): reconstruct it from --mask")
    sense.add_argument("--mask", help="boolean .npy of the signal's shape, True = observed (default: random --keep)")
    sense.add_argument("--quiet", action="store_true", help="no progress bar or table")
    sense.add_argument("--json", action="store_true", help="print the results as JSON")
    sense.set_defaults(run=_sense)

    from lamina.studies.commands import add_linear_parser, add_nn_parser, add_trees_parser
    from lamina.studies.report_command import add_report_parser
    if importlib.util.find_spec("torch") is not None:
        add_nn_parser(sub)
    else:
        nn = sub.add_parser("nn", help="network study (needs the torch extra: pip install 'lamina[torch]')")
        nn.set_defaults(run=_torch_missing)
    add_linear_parser(sub)
    add_trees_parser(sub)
    add_report_parser(sub)
    return parser


#: ``lamina invert`` options of the synthetic problem alone (refused beside --signal)
_SYNTHETIC_OPTIONS = ("rule", "samples", "traces", "transform", "peak_frequency", "dt", "spikes", "snr", "lams",
                      "penalties")


def _invert_defaults(parser: argparse.ArgumentParser, args) -> None:
    """``lamina invert``'s defaults that depend on the kind of run (a synthetic problem, or
    ``--signal``), and the synthetic problem's options refused beside ``--signal``."""
    if args.signal:
        if args.problem is not None:
            parser.error("--problem sets up a synthetic problem; --signal reconstructs your file: give one of them")
        defaults = vars(parser.parse_args(["invert"]))
        given = [f"--{name.replace('_', '-')}" for name in _SYNTHETIC_OPTIONS if getattr(args, name) != defaults[name]]
        if given:
            parser.error(f"{', '.join(given)} set up the synthetic problem, not used with --signal "
                         "(reconstruct chooses its models and λ from your samples)")
    args.problem = args.problem or "deconvolution"
    if args.samples is None:
        args.samples = 256 if args.problem == "interpolation" else 4000
    if args.keep is None:
        args.keep = 0.5 if args.signal else 0.6


def _torch_missing(args) -> int:
    raise ValueError("lamina nn needs PyTorch: pip install 'lamina[torch]'")


def _expected_errors() -> tuple[type, ...]:
    """Errors a user's input or environment can cause: told in one line, without traceback."""
    errors = [ValueError, TypeError, FloatingPointError, OSError, ImportError, TimeoutError]
    if "sqlalchemy" in sys.modules:  # storage errors (locked, read-only, server down)
        errors.append(sys.modules["sqlalchemy"].exc.SQLAlchemyError)
    if "optuna" in sys.modules:
        errors.append(sys.modules["optuna"].exceptions.OptunaError)
    return tuple(errors)


def _one_line(error: BaseException, argv_secrets: list[str]) -> str:
    from lamina.studies.storage import describe_database_error

    cause = error
    while cause is not None and not hasattr(cause, "orig"):  # Optuna wraps database errors
        cause = cause.__cause__ or cause.__context__
    text = describe_database_error(cause) if cause is not None else str(error).strip()
    text = text.splitlines()[0] if text else type(error).__name__
    for secret in argv_secrets:
        text = text.replace(secret, "***")
    return text


def _secrets(args) -> list[str]:
    """Passwords in --storage URLs (never echoed in an error message)."""
    from lamina.studies.storage import redact

    url = str(getattr(args, "storage", None) or "")
    if redact(url) == url:
        return []
    password = url.partition("://")[2].rpartition("@")[0].partition(":")[2]
    return [password] if password else []


def main(argv=None) -> int:
    """Run the command; exit 0 on success, 1 when the job failed (one line on stderr), 2 on
    bad usage (argparse). Set LAMINA_TRACEBACK=1 to see the traceback of an error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "invert":
        _invert_defaults(parser, args)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print(f"lamina {args.command}: interrupted (a stored study resumes with --resume)", file=sys.stderr)
        return 130
    except Exception as error:
        if os.environ.get("LAMINA_TRACEBACK") == "1":
            raise
        expected = isinstance(error, _expected_errors())
        prefix = "" if expected else f"unexpected {type(error).__name__} (a bug: please report it): "
        print(f"lamina {args.command}: error: {prefix}{_one_line(error, _secrets(args))}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
