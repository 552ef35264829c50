"""``lamina report``: the HTML report of a stored study, as the command that ran it wrote it — the
same metric, verdict sentence and extra sections, read from the settings that command stored with
the study (:func:`lamina.studies.runner.report_settings`)."""
from __future__ import annotations

import argparse
import json
import pathlib

import optuna

from lamina.report.study_report import json_safe, results_summary, write_study_report
from lamina.studies.runner import expected_cells, report_settings, resolve_callable, study_rows
from lamina.studies.storage import redact, storage_spec


def add_report_parser(sub) -> argparse.ArgumentParser:
    report = sub.add_parser("report", help="build the HTML report of a stored study")
    report.add_argument("--storage", default=None,
                        help="study storage: a SQLite file path or a sqlite:/// or postgresql:// URL "
                             "(default: out/study.db)")
    report.add_argument("--study", default=None, help="study name (default: the only study in the storage)")
    report.add_argument("--out", default=None, help="output folder (default: out/report-<study>)")
    report.add_argument("--metric", default=None,
                        help="label of the decisive metric in the table (default: the one the study was run with)")
    report.add_argument("--screenshot", action="store_true",
                        help="also render the page in headless Chromium and save screenshot.png")
    report.add_argument("--json", action="store_true",
                        help="print the results as JSON: per method and metric {\"mean\": …, \"std\": …} as numbers")
    report.set_defaults(run=run_report)
    return report


def _only_study(spec) -> str:
    names = [s.study_name for s in optuna.get_all_study_summaries(spec.open())]
    if not names:
        raise ValueError(f"--storage: {redact(spec.url)} holds no study (run one with lamina nn, linear or trees)")
    if len(names) != 1:
        raise ValueError(f"--study is needed: {redact(spec.url)} holds {len(names)} studies {names[:10]}")
    return names[0]


def run_report(args) -> int:
    from lamina.studies.commands import output_folder
    out = None if args.out is None else output_folder(args.out)   # checked before the study is read
    if args.storage is None and not pathlib.Path("out/study.db").is_file():
        raise ValueError("--storage: no study database at out/study.db (the default); name one with --storage")
    spec = storage_spec(args.storage or "out/study.db", "unused")
    if spec.is_sqlite and not spec.path.is_file():
        raise ValueError(f"--storage: no SQLite file at {spec.path}")
    name = args.study or _only_study(spec)
    rows, expected = study_rows(name, spec), expected_cells(name, spec)
    if not rows:
        raise ValueError(f"study {name!r} in {redact(spec.url)} has no finished cells yet")
    out = out or output_folder(f"out/report-{name}")
    settings = report_settings(name, spec) or _settings_of_older_study(rows)
    metric = args.metric or settings.get("metric") or "objective"
    sentence, sections, _ = summary(rows, settings, metric)
    intro = " ".join(part for part in (sentence, settings.get("intro"), f"Cells from {redact(spec.url)}.") if part)
    title = f"lamina {settings.get('kind') or 'study'} — {name}"   # as the command that ran it titled it
    page = write_study_report(out / "report.html", title, rows, metric_label=metric,
                              figure_dir=out / "figures", expected=expected, intro=intro, extra_sections=sections,
                              evaluated_on=settings.get("evaluated_on", "test"))
    if args.screenshot:
        from lamina.report.browser import check_rendered
        check_rendered(page, screenshot=out / "screenshot.png")
    if args.json:
        print(json.dumps(json_safe(results_summary(rows, metric)), indent=1, allow_nan=False))
    else:
        print(f"report: {page.resolve()}")
    return 0


def _settings_of_older_study(rows: list[dict]) -> dict:
    """Report settings of a study stored before they were kept with it: a sparsity study is
    told by its task; anything else gets the plain table."""
    from lamina.studies.nn_sparsity import is_sparsity_task
    if is_sparsity_task((rows[0].get("params") or {}).get("task", "")):
        return {"summarize": "lamina.studies.nn_sparsity:summarize"}
    return {}


def summary(rows: list[dict], settings: dict, metric: str):
    """(verdict sentence, extra report sections, table rows or None) of a study's rows: its own
    ``summarize`` where the command gave one — one of lamina's study modules only: a stored study
    names it, and reading a database must not import whatever module it names — else the shared
    verdict with the settings' unit."""
    from lamina.report.verdict import verdict
    if str(settings.get("summarize") or "").startswith("lamina.studies."):
        return resolve_callable(settings["summarize"])(rows)
    if settings.get("unit"):
        return verdict(rows, metric, settings["unit"]), (), None
    return None, (), None
