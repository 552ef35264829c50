"""Studies persist in an Optuna storage, resume after a kill, and never run a cell twice."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest

from lamina.studies import Cell, StudyExistsError, run_study, storage_spec, study_rows

TESTS = pathlib.Path(__file__).resolve().parent


def make_cells(log_dir, n, **extra):
    return [Cell(f"c{i}", {"key": f"c{i}", "lam": 0.1 * (i + 1), "seed": i, "log_dir": str(log_dir), **extra})
            for i in range(n)]


def runs_per_cell(log_dir):
    return {p.stem: len(p.read_text().split()) for p in pathlib.Path(log_dir).glob("*.runs")}


def test_sqlite_study_runs_every_cell_once_and_records_trajectories(tmp_path):
    spec = storage_spec(None, tmp_path / "study.db")
    assert spec.url.startswith("sqlite:///")
    rows = run_study("s", make_cells(tmp_path, 4), "study_cells:ridge_cell", spec)
    assert [r["cell"] for r in rows] == ["c0", "c1", "c2", "c3"]
    assert all(r["state"] == "COMPLETE" and r["metrics"]["objective"] > 0 for r in rows)
    assert rows[1]["trajectory"] == [{"step": s, "lambdas": {"all": 0.2 * (s + 1)}} for s in range(3)]
    assert runs_per_cell(tmp_path) == {f"c{i}": 1 for i in range(4)}


def test_existing_study_needs_resume_and_resume_reruns_nothing_finished(tmp_path):
    spec = storage_spec(tmp_path / "study.db", "unused")
    cells = make_cells(tmp_path, 3)
    run_study("s", cells, "study_cells:ridge_cell", spec)
    with pytest.raises(StudyExistsError, match="--resume"):
        run_study("s", cells, "study_cells:ridge_cell", spec)
    rows = run_study("s", cells, "study_cells:ridge_cell", spec, resume=True)
    assert len(rows) == 3
    assert runs_per_cell(tmp_path) == {"c0": 1, "c1": 1, "c2": 1}


def test_failing_cell_is_recorded_not_retried(tmp_path):
    spec = storage_spec(tmp_path / "study.db", "unused")
    rows = run_study("s", make_cells(tmp_path, 2), "study_cells:failing_cell", spec)
    assert [r["state"] for r in rows] == ["FAIL", "FAIL"]
    assert "is broken" in rows[0]["error"]


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="storage must be"):
        storage_spec("redis://host/0", "unused")
    with pytest.raises(ValueError, match="unique keys"):
        run_study("s", [Cell("a", {}), Cell("a", {})], "study_cells:ridge_cell",
                  storage_spec(tmp_path / "x.db", "unused"))
    with pytest.raises(ValueError, match="module:function"):
        run_study("s", [Cell("a", {})], "no_colon", storage_spec(tmp_path / "y.db", "unused"))
    with pytest.raises(ValueError, match="workers"):
        run_study("s", [Cell("a", {})], "study_cells:ridge_cell", storage_spec(tmp_path / "z.db", "unused"),
                  workers=0)


WORKER_SCRIPT = """
import sys
from lamina.studies import run_study, storage_spec, Cell
from test_studies import make_cells
spec = storage_spec(sys.argv[1], "unused", heartbeat_interval=1, grace_period=3)
run_study("killed", make_cells(sys.argv[2], 4), "study_cells:ridge_cell", spec)
"""


def test_killed_study_resumes_and_loses_no_finished_cell(tmp_path):
    """Kill the worker while c2 runs: c0, c1 stay done; resume runs c2 and c3 only."""
    db = tmp_path / "study.db"
    (tmp_path / "hang-c2").touch()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    worker = subprocess.Popen([sys.executable, "-c", WORKER_SCRIPT, str(db), str(tmp_path)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "c2.runs").exists():
            assert worker.poll() is None, "worker ended before reaching c2"
            assert time.monotonic() < deadline, "worker never reached c2"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    (tmp_path / "hang-c2").unlink()
    spec = storage_spec(db, "unused", heartbeat_interval=1, grace_period=3)
    assert {r["cell"] for r in study_rows("killed", spec)} == {"c0", "c1"}
    rows = run_study("killed", make_cells(tmp_path, 4), "study_cells:ridge_cell", spec, resume=True)
    assert [r["cell"] for r in rows] == ["c0", "c1", "c2", "c3"]
    assert all(r["state"] == "COMPLETE" for r in rows)
    # c2 ran twice (killed once), every other cell exactly once
    assert runs_per_cell(tmp_path) == {"c0": 1, "c1": 1, "c2": 2, "c3": 1}


def test_two_workers_on_sqlite_share_the_cells(tmp_path):
    spec = storage_spec(tmp_path / "study.db", "unused")
    rows = run_study("s", make_cells(tmp_path, 6, sleep=0.2), "study_cells:ridge_cell", spec, workers=2)
    assert len(rows) == 6 and all(r["state"] == "COMPLETE" for r in rows)
    assert runs_per_cell(tmp_path) == {f"c{i}": 1 for i in range(6)}
    assert len({r["metrics"]["pid"] for r in rows}) == 2


def test_progress_reports_every_cell_once_while_worker_processes_run(tmp_path):
    """With several workers the cells finish in other processes; the caller still hears of each
    one, once, while the study runs (not only at the end).

    Cell c0 hangs until the caller has heard of some other cell: if progress came only at the
    end, c0 would be released by the watchdog instead (after 60 s) and the test fails."""
    spec = storage_spec(tmp_path / "study.db", "unused")
    gate = tmp_path / "hang-c0"
    gate.touch()
    seen, released_by = [], []

    def progress(cell, metrics):
        seen.append((cell, metrics.get("objective")))
        if gate.exists() and cell != "c0":
            released_by.append("progress")
            gate.unlink()

    def watchdog():
        deadline = time.monotonic() + 60
        while gate.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if gate.exists():
            released_by.append("watchdog")
            gate.unlink()

    threading.Thread(target=watchdog, daemon=True).start()
    rows = run_study("p", make_cells(tmp_path, 8, sleep=0.1), "study_cells:ridge_cell", spec, workers=2,
                     progress=progress)
    assert released_by == ["progress"], "no cell was reported while c0 was still running"
    assert sorted(cell for cell, _ in seen) == sorted(r["cell"] for r in rows) == [f"c{i}" for i in range(8)]
    assert all(value is not None for _, value in seen)


def test_two_worker_processes_on_postgresql_run_each_cell_once(postgres_url, tmp_path):
    spec = storage_spec(postgres_url, "unused")
    cells = make_cells(tmp_path, 8, sleep=0.2)
    rows = run_study("pg-study", cells, "study_cells:ridge_cell", spec, workers=2)
    assert [r["cell"] for r in rows] == [f"c{i}" for i in range(8)]
    assert all(r["state"] == "COMPLETE" for r in rows)
    assert runs_per_cell(tmp_path) == {f"c{i}": 1 for i in range(8)}
    assert len({r["metrics"]["pid"] for r in rows}) == 2, "both workers should have taken cells"
    # a second machine joining later finds nothing left to do
    assert len(run_study("pg-study", cells, "study_cells:ridge_cell", spec, resume=True)) == 8
    assert runs_per_cell(tmp_path) == {f"c{i}": 1 for i in range(8)}


def test_report_command_builds_the_page_of_a_stored_study(tmp_path, capsys):
    from lamina.studies.report_command import add_report_parser
    import argparse
    spec = storage_spec(tmp_path / "study.db", "unused")
    run_study("s", make_cells(tmp_path, 3), "study_cells:ridge_cell", spec)
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "--storage", str(tmp_path / "study.db"), "--out", str(tmp_path / "r"), "--json"])
    assert args.run(args) == 0
    table = json.loads(capsys.readouterr().out)
    assert len(table) == 3 and (tmp_path / "r" / "report.html").exists()
    missing = parser.parse_args(["report", "--storage", str(tmp_path / "nope.db")])
    with pytest.raises(ValueError, match="--storage"):
        missing.run(missing)


def test_a_stored_summary_outside_lamina_is_not_imported(monkeypatch):
    """`lamina report` reads how to summarize a study from its database; a name outside lamina's
    study modules is ignored (the shared verdict is used), so a database cannot make it run code."""
    from lamina.studies import report_command
    called = []
    monkeypatch.setattr(report_command, "resolve_callable", lambda name: called.append(name) or (lambda rows: None))
    assert report_command.summary([], {"summarize": "os:system", "unit": "layer"}, "NLL") == (None, (), None)
    assert called == []
    report_command.summary([], {"summarize": "lamina.studies.nn_sparsity:summarize"}, "NLL")
    assert called == ["lamina.studies.nn_sparsity:summarize"]
