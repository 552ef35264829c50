"""``lamina report``: the HTML page of a study stored in SQLite or PostgreSQL.

Kept apart from :mod:`lamina.cli` so that every study command shares it: ``add_report_parser``
registers the sub-command, ``run_report`` executes it.
"""
from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np
import optuna

from lamina.report.study_report import results_table, write_study_report
from lamina.studies.runner import study_rows
from lamina.studies.storage import redact, storage_spec


def add_report_parser(sub) -> argparse.ArgumentParser:
    report = sub.add_parser("report", help="build the HTML report of a stored study")
    report.add_argument("--storage", default=None,
                        help="study storage: a SQLite file path or a sqlite:/// or postgresql:// URL "
                             "(default: out/study.db)")
    report.add_argument("--study", default=None, help="study name (default: the only study in the storage)")
    report.add_argument("--out", default=None, help="output folder (default: out/report-<study>)")
    report.add_argument("--metric", default="objective", help="label of the decisive metric in the table")
    report.add_argument("--screenshot", action="store_true",
                        help="also render the page in headless Chromium and save screenshot.png")
    report.add_argument("--json", action="store_true", help="print the results table as JSON")
    report.set_defaults(run=run_report)
    return report


def _only_study(spec) -> str:
    names = [s.study_name for s in optuna.get_all_study_summaries(spec.open())]
    if len(names) != 1:
        raise ValueError(f"--study is needed: {redact(spec.url)} holds {len(names)} studies {names[:10]}")
    return names[0]


def run_report(args) -> int:
    spec = storage_spec(args.storage, "out/study.db")
    if spec.is_sqlite and not pathlib.Path(spec.url.removeprefix("sqlite:///")).exists():
        raise ValueError(f"--storage: no SQLite file at {spec.url.removeprefix('sqlite:///')}")
    name = args.study or _only_study(spec)
    rows = study_rows(name, spec)
    if not rows:
        raise ValueError(f"study {name!r} in {redact(spec.url)} has no finished cells yet")
    out = pathlib.Path(args.out or f"out/report-{name}")
    page = write_study_report(out / "report.html", f"lamina study — {name}", rows,
                              metric_label=args.metric, figure_dir=out / "figures",
                              intro=f"{len(rows)} finished cells from {redact(spec.url)}.")
    if args.screenshot:
        from lamina.report.browser import check_rendered
        check_rendered(page, screenshot=out / "screenshot.png")
    table = results_table(rows, args.metric)
    print(json.dumps(table, indent=1) if args.json else f"report: {page.resolve()}")
    return 0


# ----------------------------------------------------------------------------- lamina nn
def add_nn_parser(sub) -> argparse.ArgumentParser:
    from lamina.studies.nn import DEFAULT_STRATEGIES, STRATEGIES
    nn = sub.add_parser("nn", help="network study: every λ strategy, several seeds, stored, reported")
    nn.add_argument("--task", default="digits",
                    help="digits (default), diabetes, a .npz file (X_train, y_train, X_test, y_test) "
                         "or module:function returning (model, train, test, likelihood)")
    nn.add_argument("--methods", nargs="+", default=list(DEFAULT_STRATEGIES), choices=sorted(STRATEGIES),
                    metavar="METHOD", help=f"strategies to compare (default: {' '.join(DEFAULT_STRATEGIES)}; "
                                           f"all: {' '.join(sorted(STRATEGIES))})")
    nn.add_argument("--seeds", type=int, default=3, help="seeds per strategy (default 3)")
    nn.add_argument("--epochs", type=int, default=300)
    nn.add_argument("--lr", type=float, default=3e-3)
    nn.add_argument("--batch-size", type=int, default=128)
    nn.add_argument("--hidden", type=int, nargs="+", default=[256, 256], help="MLP widths (digits, .npz)")
    nn.add_argument("--cv-grid", type=int, default=5, help="δ values of the CV baseline (default 5)")
    nn.add_argument("--cv-folds", type=int, default=3, help="folds of the CV baseline (default 3)")
    nn.add_argument("--optuna-trials", type=int, default=10, help="trials of the Optuna baseline (default 10)")
    _add_study_options(nn, "nn")
    nn.set_defaults(run=run_nn)
    return nn


def _add_study_options(parser, kind: str) -> None:
    parser.add_argument("--storage", default=None,
                        help="SQLite file or sqlite:///… / postgresql://user@host/db URL "
                             "(default: OUT/study.db)")
    parser.add_argument("--study", default=None, help=f"study name (default: {kind}-TASK)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    parser.add_argument("--backend", default=None,
                        help="joblib backend for the workers (loky; dask or ray once registered)")
    parser.add_argument("--resume", action="store_true",
                        help="continue a stored study: finished cells are kept, lost ones rerun")
    parser.add_argument("--out", default=f"out/{kind}", help=f"output folder (default: out/{kind})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table")
    parser.add_argument("--json", action="store_true", help="print the results table as JSON")


def _print_rows(table: list[dict]) -> None:
    columns = list(table[0])
    widths = [max(len(c), *(len(str(row.get(c, ""))) for row in table)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in table:
        print("  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths)))


def run_study_command(args, *, kind: str, cells, run_cell: str, metric: str, intro: str) -> int:
    """Shared tail of the study commands: run (with progress), report, print."""
    from tqdm.auto import tqdm

    from lamina.studies.runner import run_study

    out = pathlib.Path(args.out)
    spec = storage_spec(args.storage, out / "study.db")
    name = args.study or f"{kind}-{pathlib.Path(str(args.task)).stem.replace(':', '-')}"
    bar = None if args.quiet or args.json else tqdm(total=len(cells), desc=f"lamina {kind}", unit="cell")

    def progress(cell, metrics):
        if bar is not None:
            bar.update(1)
            bar.set_postfix_str(f"{cell}: {metric}={metrics.get('objective', float('nan')):.4g}")

    try:
        rows = run_study(name, cells, run_cell, spec, workers=args.workers, resume=args.resume,
                         backend=args.backend, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    page = write_study_report(out / "report.html", f"lamina {kind} — {name}", rows, metric_label=metric,
                              figure_dir=out / "figures", intro=intro)
    table = results_table(rows, metric)
    failed = [r for r in rows if r["state"] == "FAIL"]
    if args.json:
        print(json.dumps({"study": name, "storage": redact(spec.url), "report": str(page.resolve()),
                          "results": table, "failed": [{"cell": r["cell"], "error": r["error"]} for r in failed]},
                         indent=1))
    elif not args.quiet:
        _print_rows(table)
        for row in failed:
            print(f"failed: {row['cell']}: {row['error']}")
        print(f"\nreport: {page.resolve()}\nstudy: {name} in {redact(spec.url)}")
    return 1 if failed else 0


def run_nn(args) -> int:
    from lamina.studies.nn import study_cells

    if args.seeds < 1 or args.epochs < 1:
        raise ValueError("--seeds and --epochs must be >= 1")
    if args.task.endswith(".npz") and not pathlib.Path(args.task).exists():
        raise ValueError(f"--task: no file {args.task}")
    if args.task not in ("digits", "diabetes") and not args.task.endswith(".npz") and ":" not in args.task:
        raise ValueError(f"--task must be digits, diabetes, a .npz file or module:function; got {args.task!r}")
    options = {"cv": {"grid": [float(v) for v in np.logspace(-2, 2, args.cv_grid)], "folds": args.cv_folds},
               "optuna": {"n_trials": args.optuna_trials}}
    cells = study_cells(args.task, args.methods, args.seeds, epochs=args.epochs, lr=args.lr,
                        batch_size=args.batch_size, hidden=args.hidden, options=options)
    intro = (f"Task {args.task}: the same network trained with each strategy for choosing a prior "
             f"precision δ per layer (loss = mean NLL + 1/(2N) Σ_g δ_g‖W_g‖²), Adam, {args.epochs} epochs, "
             f"lr {args.lr}, batch {args.batch_size}, {args.seeds} seeds. Lower test NLL is better; "
             "compute counts full trainings (fits) and seconds.")
    return run_study_command(args, kind="nn", cells=cells, run_cell="lamina.studies.nn:run_cell",
                             metric="NLL", intro=intro)


# ----------------------------------------------------------------------------- lamina linear
def add_linear_parser(sub) -> argparse.ArgumentParser:
    from lamina.studies.linear import DEFAULT_STRATEGIES, STRATEGIES
    linear = sub.add_parser("linear", help="linear study: λ per feature group vs one λ, several splits")
    linear.add_argument("--task", default="diabetes",
                        help="diabetes (default), synthetic, a .npz file (X, y, groups) or module:function")
    linear.add_argument("--methods", nargs="+", default=list(DEFAULT_STRATEGIES), choices=sorted(STRATEGIES),
                        metavar="METHOD", help=f"strategies (default: {' '.join(DEFAULT_STRATEGIES)}; "
                                               f"all: {' '.join(sorted(STRATEGIES))})")
    linear.add_argument("--seeds", type=int, default=5, help="train/test splits (default 5)")
    _add_study_options(linear, "linear")
    linear.set_defaults(run=run_linear)
    return linear


def run_linear(args) -> int:
    from lamina.studies.linear import study_cells

    if args.seeds < 1:
        raise ValueError("--seeds must be >= 1")
    if args.task.endswith(".npz") and not pathlib.Path(args.task).exists():
        raise ValueError(f"--task: no file {args.task}")
    intro = (f"Task {args.task}: held-out MSE of linear models whose λ per feature group is tuned "
             f"(lamina) against one λ and scikit-learn's tuned baselines, over {args.seeds} splits.")
    return run_study_command(args, kind="linear", cells=study_cells(args.task, args.methods, args.seeds),
                             run_cell="lamina.studies.linear:run_cell", metric="MSE", intro=intro)
