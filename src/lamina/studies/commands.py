"""The study sub-commands ``lamina nn``, ``lamina linear`` and ``lamina trees`` (``lamina report``:
:mod:`lamina.studies.report_command`).

Kept apart from :mod:`lamina.cli` so that every study command shares the storage options,
the run-and-report tail and the way failures are told: every failed cell's error is stored
in the study and shown in the report; the first error of each method goes to stderr (also
with ``--quiet`` or ``--json``) and the command exits 1 when any cell failed or is missing.
"""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys

import numpy as np

from lamina.report.study_report import json_safe, results_summary, results_table, write_study_report
from lamina.studies.report_command import summary
from lamina.studies.runner import DEFAULT_MAX_WAIT_S, study_rows
from lamina.studies.storage import DEFAULT_GRACE_S, DEFAULT_HEARTBEAT_S, redact, storage_spec

RESUME_HELP = ("continue a stored study: finished cells are kept, cells lost with a dead worker and "
               "cells that failed run again; the settings (epochs, lr, widths, …) must be those the study "
               "was created with, else the resume is refused naming the settings that differ. Without "
               "--resume an existing study is an error, unless none of its cells completed: such a study "
               "(e.g. every cell failed on a broken task) is replaced")
TASK_CODE_NOTE = ("module:function imports that module and calls the function in every worker: it runs "
                  "your code with your rights, so name only code you trust")


# ----------------------------------------------------------------------------- argument types
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


MAX_SEEDS = 10_000


def seed_count(text: str) -> int:
    """``--seeds``: every seed is one stored cell per method, and all the cells are listed before
    any runs (10⁹ seeds filled the memory); 10000 splits is far more than a comparison needs."""
    value = positive_int(text)
    if value > MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS} (each seed is a stored cell per method, listed "
                                         f"before any runs: more is beyond what a study stores), got {text!r}")
    return value


def torch_device(text: str) -> str:
    """``--device``: a device torch knows and this machine has — checked by making a tensor there,
    so that a study on a missing GPU fails before any cell runs, naming the option."""
    import torch

    try:
        device = torch.device(text)
    except (RuntimeError, ValueError) as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a torch device (cpu, cuda, cuda:1, mps, …): {error}") from None
    if device.type == "meta":
        raise argparse.ArgumentTypeError("'meta' tensors hold no values: nothing can be trained there")
    try:
        torch.zeros(1, device=device)
    except Exception as error:   # AssertionError without CUDA support, RuntimeError for a missing index
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise argparse.ArgumentTypeError(f"{text!r}: torch cannot use that device on this machine ({reason})") from None
    return str(device)


def output_folder(text) -> pathlib.Path:
    """The ``--out`` folder, created before the study is opened or anything runs, so that an unusable
    one fails first and by name; an empty value (it would write into the current folder) is refused."""
    if not str(text).strip():
        raise ValueError("--out is empty: name an output folder (--out . for the current folder)")
    out = pathlib.Path(text)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {text}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"--out {text}: cannot create the folder ({error.strerror or error})") from None
    return out


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else positive_float(text)


# ----------------------------------------------------------------------------- shared options
def _add_study_options(parser, kind: str) -> None:
    parser.add_argument("--storage", default=None,
                        help="SQLite file or sqlite:///… / postgresql://user@host/db URL "
                             "(default: OUT/study.db); its folder must exist")
    parser.add_argument("--study", default=None, help=f"study name (default: {kind}-TASK)")
    parser.add_argument("--workers", type=positive_int, default=1, help="worker processes on this machine")
    parser.add_argument("--backend", default=None, choices=["loky", "dask", "ray"],
                        help="where the --workers run: this machine's processes (loky, default), an existing "
                             "Dask cluster (with --scheduler) or Ray cluster (with --address); the storage must "
                             "be one every worker reaches (PostgreSQL for other machines)")
    parser.add_argument("--scheduler", default=None,
                        help="--backend dask: the scheduler's address (tcp://HOST:8786) or scheduler file (.json)")
    parser.add_argument("--address", default=None, help="--backend ray: the cluster's address (HOST:6379, or auto)")
    parser.add_argument("--resume", action="store_true", help=RESUME_HELP)
    parser.add_argument("--out", default=f"out/{kind}", help=f"output folder (default: out/{kind})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or table (errors still go to stderr)")
    parser.add_argument("--json", action="store_true",
                        help="print the results as JSON: per method and metric {\"mean\": …, \"std\": …} as numbers "
                             "(null where undefined, never NaN), plus the failed and missing cells")
    parser.add_argument("--max-wait", type=non_negative_float, default=DEFAULT_MAX_WAIT_S,
                        help="seconds a worker with nothing left to run waits for cells running on other "
                             f"workers before giving up (exit 1) — reset whenever a cell finishes "
                             f"(default {DEFAULT_MAX_WAIT_S:g})")
    parser.add_argument("--heartbeat-interval", type=positive_int, default=DEFAULT_HEARTBEAT_S,
                        help=f"seconds between a running cell's heartbeats (default {DEFAULT_HEARTBEAT_S})")
    parser.add_argument("--grace-period", type=positive_int, default=DEFAULT_GRACE_S,
                        help="seconds without heartbeat after which a running cell counts as lost (its "
                             f"worker died) and runs again (default {DEFAULT_GRACE_S})")


def _print_rows(table: list[dict]) -> None:
    columns = list(table[0])
    widths = [max(len(c), *(len(str(row.get(c, ""))) for row in table)) for c in columns]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in table:
        print("  ".join(str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths)))


def _finished_before(name: str, spec, keys: list[str]) -> int:
    """Cells of ``keys`` already complete in a stored study (0 when there is none yet)."""
    try:
        return sum(row["state"] == "COMPLETE" and row["cell"] in keys for row in study_rows(name, spec))
    except ValueError:
        return 0


def _tell_problems(kind: str, failed: list[dict], missing: list[str], total: int) -> None:
    """First error of each method (and the missing cells) on stderr."""
    if failed:
        first: dict[str, str] = {}
        for row in failed:
            first.setdefault(str(row["params"].get("method", row["cell"])), str(row["error"]).splitlines()[0])
        print(f"lamina {kind}: error: {len(failed)} of {total} cells failed; first error of each method:",
              file=sys.stderr)
        for method, error in first.items():
            print(f"  {method}: {error}", file=sys.stderr)
    if missing:
        print(f"lamina {kind}: error: {len(missing)} of {total} cells did not finish ({', '.join(missing[:5])}"
              f"{' …' if len(missing) > 5 else ''}); run again with --resume", file=sys.stderr)


def run_study_command(args, *, kind: str, cells, run_cell: str, metric: str, intro: str, summarize=None,
                      unit: str | None = None, evaluated_on: str = "test") -> int:
    """Shared tail of the study commands: run (with progress), report, print; exit code.
    ``summarize(rows) -> (verdict sentence, extra report sections, table rows)`` replaces the
    verdict and the per-method table of a study whose cells are not (method, seed) alone;
    ``unit`` names what gets its own λ in the verdict (default: by ``kind``); ``evaluated_on``
    the data the metric is measured on (the report's labels)."""
    from tqdm.auto import tqdm

    from lamina.studies.cluster import cluster_backend
    from lamina.studies.opening import repeated_keys
    from lamina.studies.runner import run_study

    keys = [cell.key for cell in cells]
    repeated = repeated_keys(keys)
    if repeated:   # before the storage is opened: no empty study is left behind
        raise ValueError(f"the same cell twice: {', '.join(repeated[:3])} — a value repeated in --methods or "
                         "another list option (--sparsities: values equal to 6 digits count as one)")
    out = output_folder(args.out)  # before the storage is opened and any cell runs
    spec = storage_spec(args.storage, out / "study.db", heartbeat_interval=args.heartbeat_interval,
                        grace_period=args.grace_period)
    name = args.study or f"{kind}-{pathlib.Path(str(args.task)).stem.replace(':', '-')}"
    settings = {"kind": kind, "metric": metric, "evaluated_on": evaluated_on, "intro": intro,
                "unit": unit or {"nn": "layer", "linear": "feature group"}.get(kind, "depth or round"),
                "summarize": None if summarize is None else f"{summarize.__module__}:{summarize.__name__}"}
    spec.open()  # a bad storage fails here, before any progress bar
    bar = None
    if not (args.quiet or args.json):
        done = _finished_before(name, spec, keys) if args.resume else 0
        bar = tqdm(total=len(cells), initial=done, desc=f"lamina {kind}", unit="cell")

    def progress(cell, metrics):
        if bar is not None:
            bar.update(1)
            objective = metrics.get("objective")
            bar.set_postfix_str(f"{cell}: {metric}={objective:.4g}" if isinstance(objective, (int, float))
                                else f"{cell}: failed")

    try:
        with cluster_backend(args.backend, scheduler=args.scheduler, address=args.address) as backend:
            rows = run_study(name, cells, run_cell, spec, workers=args.workers, resume=args.resume,
                             backend=backend, progress=progress, max_wait_s=args.max_wait, report=settings)
    finally:
        if bar is not None:
            bar.close()
    rows = [row for row in rows if row["cell"] in keys]
    sentence, sections, table = summary(rows, settings, metric)
    page = write_study_report(out / "report.html", f"lamina {kind} — {name}", rows, metric_label=metric,
                              figure_dir=out / "figures", intro=f"{sentence} {intro}" if sentence else intro,
                              expected=keys, extra_sections=sections, evaluated_on=evaluated_on)
    return _tell_outcome(args, kind, name, spec, page, rows, keys, metric, sentence, table)


def _tell_outcome(args, kind, name, spec, page, rows, keys, metric, sentence=None, table=None) -> int:
    """Table or JSON on stdout, failed and missing cells on stderr; the exit code."""
    failed = [r for r in rows if r["state"] == "FAIL"]
    missing = sorted(set(keys) - {r["cell"] for r in rows})
    if args.json:
        print(json.dumps(json_safe({"study": name, "storage": redact(spec.url), "report": str(page.resolve()),
                                    "results": results_summary(rows, metric),
                                    "failed": [{"cell": r["cell"], "error": r["error"]} for r in failed],
                                    "missing": missing, "verdict": sentence}), indent=1, allow_nan=False))
    elif not args.quiet:
        table = table or results_table(rows, metric)
        if table:
            _print_rows(table)
        if sentence:
            print(f"\n{sentence}")
        print(f"\nreport: {page.resolve()}\nstudy: {name} in {redact(spec.url)}")
    _tell_problems(kind, failed, missing, len(keys))
    return 1 if failed or missing else 0


# ----------------------------------------------------------------------------- lamina nn
def add_nn_parser(sub) -> argparse.ArgumentParser:
    from lamina.studies import nn_transformer
    from lamina.studies.nn import DEFAULT_STRATEGIES, STRATEGIES
    nn = sub.add_parser("nn", help="network study: every λ strategy, several seeds, stored, reported",
                        description="Network study: the same model trained with every λ strategy, several "
                                    f"seeds, each (strategy, seed) a stored cell. --resume: {RESUME_HELP}. "
                                    f"--task {TASK_CODE_NOTE}.")
    from lamina.studies.nn_sparsity import DEFAULT_SPARSITIES, METHODS as SPARSITY_METHODS, TASKS as SPARSITY_TASKS
    nn.add_argument("--task", default="digits",
                    help=f"digits (default), diabetes, digits-transfer (a backbone pretrained on the digits 0-4 "
                         "fine-tuned on 10 images per class of 5-9, pulled toward its pretrained weights), "
                         "digits-finetune (the same, pretrained on half of the images of all ten digits and "
                         "fine-tuned on 10 per class of the other half: features that transfer), "
                         f"{', '.join(SPARSITY_TASKS)} (accuracy at each target "
                         "sparsity: magnitude-pruning allocations against lamina's L1/L0 tuner, see --sparsities), "
                         "transformer-char (AdamW decay per parameter type), "
                         "a .npz file (X_train, y_train, X_test, y_test; loaded "
                         "without pickle) or module:function returning (model, train, test, likelihood) — "
                         + TASK_CODE_NOTE)
    nn.add_argument("--methods", nargs="+", default=None,
                    choices=sorted({*STRATEGIES, *SPARSITY_METHODS, *nn_transformer.STRATEGIES}),
                    metavar="METHOD", help=f"strategies to compare (default: {' '.join(DEFAULT_STRATEGIES)}; "
                                           f"all: {' '.join(sorted(STRATEGIES))}; sparsity tasks: "
                                           f"{' '.join(SPARSITY_METHODS)}; transformer-char: "
                                           f"{' '.join(nn_transformer.STRATEGIES)}; all by default for those)")
    nn.add_argument("--sparsities", type=float, nargs="+", default=list(DEFAULT_SPARSITIES),
                    help="sparsity tasks: target fractions of zero weights, each in (0, 1) (default 0.9 0.95 0.98)")
    nn.add_argument("--seeds", type=seed_count, default=3, help="seeds per strategy (default 3)")
    nn.add_argument("--epochs", type=positive_int, default=300)
    nn.add_argument("--lr", type=positive_float, default=3e-3,
                    help="learning rate (default 3e-3); a run whose loss diverges fails with the reason")
    nn.add_argument("--batch-size", type=positive_int, default=128)
    nn.add_argument("--hidden", type=positive_int, nargs="+", default=[256, 256], help="MLP widths (digits, .npz)")
    nn.add_argument("--threads", type=positive_int, default=1,
                    help="torch threads per worker (default 1: with --workers W the study uses W cores; more "
                         "threads than free cores, e.g. beside another busy process, slow every cell down)")
    nn.add_argument("--device", type=torch_device, default=None,
                    help="where every cell trains: cpu (default), cuda, cuda:1, mps, … (the data stays on the host "
                         "and moves with the model; one worker per GPU is the usual choice)")
    nn.add_argument("--cv-grid", type=positive_int, default=5, help="δ values of the CV baseline (default 5)")
    nn.add_argument("--cv-folds", type=positive_int, default=3, help="folds of the CV baseline (default 3)")
    nn.add_argument("--optuna-trials", type=positive_int, default=10, help="trials of the Optuna baseline (default 10)")
    nn_transformer.add_options(nn)
    _add_study_options(nn, "nn")
    nn.set_defaults(run=run_nn)
    return nn


def run_nn(args) -> int:
    from lamina.studies.nn import DEFAULT_STRATEGIES, TRANSFER_TASKS, check_task, study_cells
    from lamina.studies.nn_sparsity import is_sparsity_task, run_sparsity_study

    if is_sparsity_task(args.task):
        return run_sparsity_study(args)
    if str(args.task).startswith("transformer-"):
        from lamina.studies.nn_transformer import run_transformer
        return run_transformer(args)
    args.methods = args.methods or list(DEFAULT_STRATEGIES)
    if args.seeds < 1 or args.epochs < 1:
        raise ValueError("--seeds and --epochs must be >= 1")
    if args.cv_folds < 2:
        raise ValueError(f"--cv-folds must be >= 2, got {args.cv_folds}")
    limit_threads(args.threads)
    check_task(args.task, args.hidden)
    options = {"cv": {"grid": [float(v) for v in np.logspace(-2, 2, args.cv_grid)], "folds": args.cv_folds},
               "optuna": {"n_trials": args.optuna_trials}}
    cells = study_cells(args.task, args.methods, args.seeds, epochs=args.epochs, lr=args.lr,
                        batch_size=args.batch_size, hidden=args.hidden, options=options, device=args.device)
    intro = (f"Task {args.task}: the same network trained with each strategy for choosing a prior "
             f"precision δ per layer (loss = mean NLL + 1/(2N) Σ_g δ_g‖W_g‖²), Adam, {args.epochs} epochs, "
             f"lr {args.lr}, batch {args.batch_size}, {args.seeds} seeds. Lower test NLL is better; "
             "compute counts full trainings (fits) and seconds.")
    if args.task in TRANSFER_TASKS:
        intro += (" Fine-tuning: the backbone is pulled toward its pretrained weights μ (‖W_g − μ_g‖² in the "
                  "penalty), the new head toward 0.")
    return run_study_command(args, kind="nn", cells=cells, run_cell="lamina.studies.nn:run_cell",
                             metric="NLL", intro=intro)


def limit_threads(threads: int) -> None:
    """``threads`` torch (OpenMP/MKL) threads in this process and in the local worker
    processes it starts: torch's default is one per core, so W workers beside each other, or
    one beside another busy process, would run more threads than cores and every cell would
    wait on the others (a 2 s cell took 76 s that way). Workers of a Dask or Ray cluster keep
    their own settings."""
    import os

    import torch
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)  # inherited by the loky worker processes
    torch.set_num_threads(threads)


# ----------------------------------------------------------------------------- lamina linear
def add_linear_parser(sub) -> argparse.ArgumentParser:
    from lamina.studies.linear import DEFAULT_STRATEGIES, STRATEGIES
    linear = sub.add_parser("linear", help="linear study: λ per feature group vs one λ, several splits",
                            description="Linear study: λ per feature group against one λ and scikit-learn's "
                                        f"tuned models. --resume: {RESUME_HELP}. --task {TASK_CODE_NOTE}.")
    linear.add_argument("--task", default="diabetes",
                        help="diabetes (default), synthetic, a .npz file (X, y, groups; loaded without pickle) "
                             "or module:function returning (X, y, groups) — " + TASK_CODE_NOTE)
    linear.add_argument("--methods", nargs="+", default=list(DEFAULT_STRATEGIES), choices=sorted(STRATEGIES),
                        metavar="METHOD", help=f"strategies (default: {' '.join(DEFAULT_STRATEGIES)}; "
                                               f"all: {' '.join(sorted(STRATEGIES))})")
    linear.add_argument("--seeds", type=seed_count, default=5, help="train/test splits (default 5)")
    _add_study_options(linear, "linear")
    linear.set_defaults(run=run_linear)
    return linear


def run_linear(args) -> int:
    from lamina.studies.linear import check_task, study_cells

    if args.seeds < 1:
        raise ValueError("--seeds must be >= 1")
    check_task(args.task)
    intro = (f"Task {args.task}: held-out MSE of linear models whose λ per feature group is tuned "
             f"(lamina) against one λ and scikit-learn's tuned baselines, over {args.seeds} splits.")
    return run_study_command(args, kind="linear", cells=study_cells(args.task, args.methods, args.seeds),
                             run_cell="lamina.studies.linear:run_cell", metric="MSE", intro=intro)


# ----------------------------------------------------------------------------- lamina trees
def add_trees_parser(sub) -> argparse.ArgumentParser:
    from lamina.studies.trees import DEFAULT_STRATEGIES, STRATEGIES, TASKS
    trees = sub.add_parser("trees", help="boosted-trees study: λ per depth or per round vs one λ (xgboost, LightGBM)",
                           description="Boosted-trees study: a λ per tree depth (lamina's GBM) or per boosting "
                                       "round (xgboost) against one λ tuned for xgboost and LightGBM, at the same "
                                       f"tuning budget (13 settings × 5-fold CV). --resume: {RESUME_HELP}.")
    trees.add_argument("--task", default="diabetes", choices=TASKS, help="data set (default diabetes)")
    trees.add_argument("--methods", nargs="+", default=list(DEFAULT_STRATEGIES), choices=STRATEGIES,
                       metavar="METHOD", help=f"strategies (default: {' '.join(DEFAULT_STRATEGIES)}; "
                                              f"all: {' '.join(STRATEGIES)})")
    trees.add_argument("--seeds", type=seed_count, default=3, help="train/test splits (default 3)")
    trees.add_argument("--rounds", type=positive_int, default=100, help="boosting rounds (default 100)")
    _add_study_options(trees, "trees")
    trees.set_defaults(run=run_trees)
    return trees


def run_trees(args) -> int:
    from lamina.studies.trees import study_cells

    metric = "MSE" if args.task in ("diabetes", "friedman1") else "log-loss"
    intro = (f"Task {args.task}: test {metric} of boosted trees whose λ is one value (xgboost, LightGBM, "
             f"lamina), one per tree depth (lamina) or one per boosting round (xgboost), over {args.seeds} "
             f"splits; every tuner gets 13 settings × 5-fold CV.")
    return run_study_command(args, kind="trees", cells=study_cells(args.task, args.methods, args.seeds, args.rounds),
                             run_cell="lamina.studies.trees:run_cell", metric=metric, intro=intro)
