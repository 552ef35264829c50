"""``lamina report``: the HTML page of a study stored in SQLite or PostgreSQL.

Kept apart from :mod:`lamina.cli` so that every study command shares it: ``add_report_parser``
registers the sub-command, ``run_report`` executes it.
"""
from __future__ import annotations

import argparse
import json
import pathlib

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
