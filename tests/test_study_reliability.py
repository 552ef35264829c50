"""Studies under faults and bad inputs (issue 16): no hang, no silent wrong result, one-line errors."""
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from lamina.cli import main
from lamina.studies import Cell, StudyExistsError, open_study, run_study, storage_spec, study_rows

TESTS = pathlib.Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
       "OMP_NUM_THREADS": "1"}
TINY = ["--task", "nn_tasks:tiny", "--methods", "none", "--seeds", "1", "--epochs", "2", "--hidden", "4"]


def ridge_cells(log_dir, n):
    return [Cell(f"c{i}", {"key": f"c{i}", "lam": 0.1 * (i + 1), "seed": i, "log_dir": str(log_dir)})
            for i in range(n)]


def cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``lamina ARGV`` run in this process."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def error_lines(err):
    return [line for line in err.splitlines() if "error" in line]


# ----------------------------------------------------------------------------- liveness
RESUME_SCRIPT = """
import sys
from lamina.studies import run_study, storage_spec
from test_study_reliability import ridge_cells
spec = storage_spec(sys.argv[1], "unused", heartbeat_interval=1, grace_period=2)
rows = run_study("s", ridge_cells(sys.argv[2], 3), "study_cells:ridge_cell", spec, resume=True)
print(len(rows), sorted(r["state"] for r in rows))
"""


def claim_by_hand(spec, study, index=0, heartbeat=False):
    """Claim the study's ``index``-th trial as a worker would, then "die" (no further beat)."""
    storage = spec.open()
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name),
                                                              study.trials[index].number)
    if heartbeat:
        storage.record_heartbeat(trial_id)
    assert storage.set_trial_state_values(trial_id, state=TrialState.RUNNING)


def test_claimed_cell_without_heartbeat_goes_stale_and_resume_finishes(tmp_path):
    """A worker killed between claiming a cell and its first heartbeat leaves a RUNNING trial
    with no heartbeat: the resume must not wait for it forever."""
    db = tmp_path / "study.db"
    spec = storage_spec(db, "unused", heartbeat_interval=1, grace_period=2)
    claim_by_hand(spec, open_study("s", ridge_cells(tmp_path, 3), spec, resume=False))
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", RESUME_SCRIPT, str(db), str(tmp_path)], env=ENV,
                          capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "3" and "FAIL" not in done.stdout
    assert time.monotonic() - started < 60
    assert [len((tmp_path / f"c{i}.runs").read_text().split()) for i in range(3)] == [1, 1, 1]


def test_wait_is_bounded_and_the_report_tells_the_missing_cell(tmp_path, capsys):
    """A cell RUNNING with a live heartbeat elsewhere: a worker waits at most max_wait_s, and
    the report of the study then says that a cell is missing instead of showing fewer seeds."""
    from lamina.studies import StudyWaitError
    db = tmp_path / "study.db"
    spec = storage_spec(db, "unused", heartbeat_interval=1, grace_period=30)
    claim_by_hand(spec, open_study("s", ridge_cells(tmp_path, 3), spec, resume=False), heartbeat=True)
    with pytest.raises(StudyWaitError, match=r"waited 2 s for 1 cell\(s\) running on other workers \(c0\)"):
        run_study("s", ridge_cells(tmp_path, 3), "study_cells:ridge_cell", spec, resume=True, max_wait_s=2)
    code, _, err = cli(capsys, "report", "--storage", str(db), "--out", str(tmp_path / "r"))
    page = (tmp_path / "r" / "report.html").read_text()
    assert code == 0 and "Incomplete study" in page and "2 of 3 cells completed" in page and "c0" in page


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # retry_history is experimental
def test_lost_cell_is_retried_by_the_stale_trial_callback_with_a_clean_trajectory(tmp_path):
    """A worker dies mid-cell after recording a step: Optuna's fail_stale_trials fails its trial
    and the storage's callback enqueues the cell again — with Optuna's retry lineage, without
    the dead run's recorded step (RetryHeartbeatStaleTrialCallback would copy it)."""
    spec = storage_spec(tmp_path / "study.db", "unused", heartbeat_interval=1, grace_period=2)
    study = open_study("s", ridge_cells(tmp_path, 2), spec, resume=False)
    claim_by_hand(spec, study, heartbeat=True)
    storage = spec.open()
    lost = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name("s"), 0)
    storage.set_trial_user_attr(lost, "step:0000099", {"lambdas": {"all": -1.0}})
    rows = run_study("s", ridge_cells(tmp_path, 2), "study_cells:ridge_cell", spec, resume=True)
    assert [(r["cell"], r["state"]) for r in rows] == [("c0", "COMPLETE"), ("c1", "COMPLETE")]
    assert [step["step"] for step in rows[0]["trajectory"]] == [0, 1, 2]
    trials = optuna.load_study(study_name="s", storage=spec.open()).trials
    retry = [t for t in trials if t.user_attrs.get("cell") == "c0" and t.state == TrialState.COMPLETE]
    assert len(retry) == 1 and [t.state for t in trials[:2]] == [TrialState.FAIL, TrialState.COMPLETE]
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history(retry[0]) == [0]
    assert optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(retry[0]) == 0
    assert [len((tmp_path / f"c{i}.runs").read_text().split()) for i in range(2)] == [1, 1]


def test_ask_after_a_racing_worker_took_the_cell_leaves_no_row(tmp_path):
    """Without a claim lock (PostgreSQL) another worker can take the waiting cell between the
    check and ask(), which then creates a trial of its own: it is failed at once, marked, and
    neither run, retried nor shown as a row."""
    from lamina.studies.opening import retry_lost_cell
    from lamina.studies.runner import NO_CELL_ATTR, _Worker
    spec = storage_spec(tmp_path / "study.db", "unused")
    open_study("s", ridge_cells(tmp_path, 1), spec, resume=False)
    worker, racer = _Worker("s", spec), _Worker("s", spec)
    taken, ask = [], worker.study.ask

    def racing_ask(*args, **kwargs):
        with pytest.warns(UserWarning, match="optimize"):
            taken.append(racer.study.ask())
        return ask(*args, **kwargs)

    worker.study.ask = racing_ask
    assert worker.ask() is None
    assert [t.user_attrs["cell"] for t in taken] == ["c0"]
    stray = worker.study.trials[1]
    assert stray.state == TrialState.FAIL and stray.user_attrs == {NO_CELL_ATTR: True}
    retry_lost_cell(worker.study, stray)
    assert len(worker.study.trials) == 2 and study_rows("s", spec) == []


RACE_SCRIPT = """
import sys
from lamina.studies import run_study, storage_spec, StudyExistsError
from test_study_reliability import ridge_cells
spec = storage_spec(sys.argv[1], "unused")
try:
    rows = run_study("s", ridge_cells(sys.argv[2], 3), "study_cells:ridge_cell", spec, resume=sys.argv[3] == "1")
    print("ran", len(rows))
except StudyExistsError:
    print("exists")
"""


@pytest.mark.parametrize("resume", [False, True])
def test_two_processes_creating_one_new_study(tmp_path, resume):
    """Started together on a new SQLite file: no IntegrityError; without --resume one runs it and
    the other is told it exists; with --resume both work; every cell runs exactly once."""
    for attempt in range(1 if resume else 2):
        folder = tmp_path / f"a{attempt}"
        folder.mkdir()
        argv = [sys.executable, "-c", RACE_SCRIPT, str(folder / "s.db"), str(folder), "1" if resume else "0"]
        procs = [subprocess.Popen(argv, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outputs = [p.communicate(timeout=120) for p in procs]
        for proc, (out, err) in zip(procs, outputs):
            assert proc.returncode == 0 and "Error" not in err, err
        results = sorted(out.strip() for out, _ in outputs)
        assert results == (["ran 3", "ran 3"] if resume else ["exists", "ran 3"])
        assert {p.stem: len(p.read_text().split()) for p in folder.glob("*.runs")} == {"c0": 1, "c1": 1, "c2": 1}


# ----------------------------------------------------------------------------- failures
def test_every_cell_failing_tells_the_cause_and_the_fixed_rerun_proceeds(tmp_path, capsys, monkeypatch):
    out = ["--out", str(tmp_path), "--study", "s"]
    for quiet in (["--quiet"], []):
        code, stdout, err = cli(capsys, "nn", "--task", "nn_tasks:broken_forward", *TINY[2:], *out, *quiet)
        assert code == 1 and "IndexError" not in err + stdout
        assert "1 of 1 cells failed" in err and "none: ValueError: train: the network's forward pass failed" in err
        assert "RuntimeError: forward of the <b>broken</b> model" in err
    # a corrected task: the failed study (no completed cell) is replaced, no "already exists"
    code, stdout, err = cli(capsys, "nn", *TINY, *out)
    assert code == 0 and "error" not in err and "already exists" not in err
    # a fixed environment: --resume runs the failed cells again
    monkeypatch.setenv("LAMINA_TEST_BREAK", "1")
    flaky = ["--task", "nn_tasks:flaky", *TINY[2:], "--out", str(tmp_path), "--study", "f"]
    assert cli(capsys, "nn", *flaky)[0] == 1
    monkeypatch.delenv("LAMINA_TEST_BREAK")
    code, stdout, err = cli(capsys, "nn", *flaky, "--resume", "--json")
    assert code == 0 and '"failed": []' in stdout


def test_resume_with_other_settings_is_refused_naming_them(tmp_path, capsys):
    out = ["--out", str(tmp_path)]
    assert cli(capsys, "nn", *TINY, *out)[0] == 0
    changed = ["--task", "nn_tasks:tiny", "--methods", "none", "--seeds", "1", "--epochs", "3",
               "--hidden", "5", "--lr", "0.01"]
    code, stdout, err = cli(capsys, "nn", *changed, *out, "--resume")
    assert code == 1 and len(error_lines(err)) == 1
    assert "epochs: stored 2, now 3" in err and "hidden: stored [4], now [5]" in err and "lr: stored 0.003, now 0.01" in err
    code, _, err = cli(capsys, "nn", *TINY, *out, "--resume")  # the same settings resume
    assert code == 0, err


def test_resume_notices_a_changed_npz_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30)
    data = tmp_path / "data.npz"
    np.savez(data, X_train=X[:20], y_train=y[:20], X_test=X[20:], y_test=y[20:])
    argv = ["nn", "--task", str(data), *TINY[2:], "--out", str(tmp_path)]
    assert cli(capsys, *argv)[0] == 0
    np.savez(data, X_train=X[:20] + 1, y_train=y[:20], X_test=X[20:], y_test=y[20:])
    code, _, err = cli(capsys, *argv, "--resume")
    assert code == 1 and "task_sha256: stored" in err


def test_resume_progress_bar_starts_at_the_cells_done(tmp_path, capsys):
    argv = ["nn", "--task", "nn_tasks:tiny", "--methods", "none", "uniform", "--seeds", "1", "--epochs", "1",
            "--hidden", "4", "--out", str(tmp_path)]
    assert cli(capsys, *argv)[0] == 0
    code, _, err = cli(capsys, *argv, "--resume")
    assert code == 0 and "2/2" in err and "0/2" not in err


def test_divergence_is_an_error_with_its_reason(tmp_path, capsys):
    from lamina.torch import DivergenceError, fit
    model, train, _, _ = __import__("nn_tasks").tiny(0)
    with pytest.raises(DivergenceError, match="training diverged: the loss rose from .* lower lr"):
        fit(model, train, lr=1e12, epochs=3, batch_size=8)
    code, stdout, err = cli(capsys, "nn", "--task", "nn_tasks:tiny", "--methods", "none", "uniform", "--seeds",
                            "1", "--epochs", "3", "--hidden", "8", "--lr", "1e9", "--out", str(tmp_path), "--json")
    assert code == 1 and "2 of 2 cells failed" in err
    assert "none: DivergenceError: training diverged" in err and "uniform: DivergenceError" in err
    rows = study_rows("nn-nn_tasks-tiny", storage_spec(tmp_path / "study.db", "unused"))
    assert [r["state"] for r in rows] == ["FAIL", "FAIL"]  # the study went on after the first


# ----------------------------------------------------------------------------- I/O
def read_only_folder(tmp_path):
    """A folder this process cannot write (root writes anywhere: then a folder under /proc)."""
    if os.geteuid() == 0:
        return pathlib.Path("/proc/self/lamina-read-only")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


def test_storage_and_output_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cases = {
        "read-only --out": ["nn", *TINY, "--out", str(read_only_folder(tmp_path) / "out")],
        "not a database": ["nn", *TINY, "--out", "o1", "--storage", str(tmp_path / "junk.db")],
        "URL with one slash": ["nn", *TINY, "--out", "o2", "--storage", "sqlite:/bad"],
        "missing folder": ["nn", *TINY, "--out", "o3", "--storage", str(tmp_path / "nope" / "deeper" / "s.db")],
    }
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    for case, argv in cases.items():
        code, stdout, err = cli(capsys, *argv)
        assert code == 1 and len(error_lines(err)) == 1 and err.startswith("lamina nn: error:"), (case, err)
        assert "unexpected" not in err, (case, err)
    assert not (tmp_path / "sqlite:").exists() and not (tmp_path / "nope").exists()
    # a wrong --study name, then a read-only database on resume
    assert cli(capsys, "nn", *TINY, "--out", "ok")[0] == 0
    code, _, err = cli(capsys, "report", "--storage", "ok/study.db", "--study", "typo", "--out", "r")
    assert code == 1 and "no study 'typo'" in err and "nn-nn_tasks-tiny" in err and len(err.splitlines()) == 1
    flaky = ["nn", "--task", "nn_tasks:flaky", *TINY[2:], "--out", "ok"]
    monkeypatch.setenv("LAMINA_TEST_BREAK", "1")
    assert cli(capsys, *flaky)[0] == 1  # a failed cell, which a resume runs again: it must write
    monkeypatch.delenv("LAMINA_TEST_BREAK")
    read_only = f"sqlite:///file:{tmp_path / 'ok' / 'study.db'}?mode=ro&uri=true"
    code, _, err = cli(capsys, *flaky, "--storage", read_only, "--resume")
    assert code == 1 and "attempt to write a readonly database" in err and len(error_lines(err)) == 1, err


def test_bad_numbers_are_usage_errors(tmp_path, capsys):
    for option, value in (("--lr", "-1"), ("--lr", "nan"), ("--epochs", "0"), ("--seeds", "-2"),
                          ("--hidden", "0"), ("--workers", "0"), ("--max-wait", "-5")):
        code, _, err = cli(capsys, "nn", *TINY, "--out", str(tmp_path), option, value)
        assert code == 2 and f"argument {option}" in err, (option, err)
    assert not (tmp_path / "study.db").exists()


def test_nan_filled_npz_fails_before_any_cell(tmp_path, capsys):
    X = np.full((20, 3), np.nan)
    np.savez(tmp_path / "nan.npz", X_train=X, y_train=np.zeros(20), X_test=X, y_test=np.zeros(20))
    code, _, err = cli(capsys, "nn", "--task", str(tmp_path / "nan.npz"), "--out", str(tmp_path / "o"))
    assert code == 1 and "X_train contains NaN or inf" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o" / "study.db").exists()


def test_existing_study_with_a_completed_cell_still_needs_resume(tmp_path):
    spec = storage_spec(tmp_path / "s.db", "unused")
    run_study("s", ridge_cells(tmp_path, 2), "study_cells:ridge_cell", spec)
    with pytest.raises(StudyExistsError, match="--resume"):
        run_study("s", ridge_cells(tmp_path, 2), "study_cells:ridge_cell", spec)
    assert len(optuna.load_study(study_name="s", storage=spec.open()).trials) == 2


# ----------------------------------------------------------------------------- --json (issue 17)
def strict_json(text):
    def refuse(constant):
        raise AssertionError(f"{constant} literal in JSON output")
    return json.loads(text, parse_constant=refuse)


def test_json_prints_numbers_with_mean_and_std_and_no_nan(tmp_path, capsys):
    argv = ["nn", "--task", "nn_tasks:tiny", "--methods", "none", "uniform", "--seeds", "2", "--epochs", "2",
            "--hidden", "4", "--out", str(tmp_path), "--json"]
    code, out, _ = cli(capsys, *argv)
    results = strict_json(out)["results"]
    assert code == 0 and {row["method"] for row in results} == {"none", "uniform"}
    nll = results[0]["NLL"]
    assert isinstance(nll["mean"], float) and isinstance(nll["std"], float) and results[0]["seeds"] == 2
    code, out, _ = cli(capsys, "report", "--storage", str(tmp_path / "study.db"), "--json", "--out", str(tmp_path / "r"))
    assert code == 0 and strict_json(out)[0]["NLL"]["mean"] == nll["mean"]   # the study's own metric name
    from lamina.report.study_report import json_safe, results_summary
    rows = [{"cell": "a", "params": {"method": "m"}, "state": "COMPLETE", "metrics": {"objective": float("nan"), "x": 1.0}}]
    summary = json_safe(results_summary(rows))
    assert summary == [{"method": "m", "seeds": 0, "not_finite": 1, "objective": None, "x": {"mean": 1.0, "std": None}}]
    assert json.dumps(summary, allow_nan=False)


def _cells(tmp_path, extra):
    """Four ridge cells; ``extra[i]`` adds to cell i's params."""
    return [Cell(f"c{i}", {"key": f"c{i}", "lam": 0.1 * (i + 1), "seed": i, "log_dir": str(tmp_path),
                           **extra.get(i, {})}) for i in range(4)]


def _runs(tmp_path):
    return {path.stem: len(path.read_text().split()) for path in tmp_path.glob("*.runs")}


def test_an_idle_pool_worker_leaves_its_busy_sibling_alone(tmp_path):
    """--workers 2, a 4 s cell and --max-wait 1: the idle worker had raised StudyWaitError, joblib
    terminated the busy worker mid-cell, and every --resume did the same. It now returns, and
    the busy worker finishes its cell (each cell run once)."""
    spec = storage_spec(tmp_path / "study.db", "unused", heartbeat_interval=1, grace_period=3)
    rows = run_study("s", _cells(tmp_path, {0: {"sleep": 4.0}}), "study_cells:ridge_cell", spec, workers=2,
                     max_wait_s=1)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 4
    assert _runs(tmp_path) == {"c0": 1, "c1": 1, "c2": 1, "c3": 1}


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_worker_process_that_dies_does_not_end_the_study(tmp_path):
    """A worker SIGKILLed mid-cell (out of memory, say) broke the joblib pool: the study stopped
    with "unexpected TerminatedWorkerError" and 6 of 8 cells waiting. The pool starts again and
    the lost cell runs again once its heartbeat is stale: every cell completes."""
    spec = storage_spec(tmp_path / "study.db", "unused", heartbeat_interval=1, grace_period=2)
    with pytest.warns(RuntimeWarning, match="a worker process died"):
        rows = run_study("s", _cells(tmp_path, {1: {"die": True}}), "study_cells:dying_cell", spec, workers=2)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 4 and (tmp_path / "died").exists()


def test_a_resume_keeps_the_report_settings_of_the_study_it_resumes(tmp_path):
    """A refused resume (other settings, or another command's study) had already stored its own
    report settings, so `lamina report` described settings never run ("Adam, 7 epochs" for cells
    run with 5; an nn study reported in MSE per feature group)."""
    from lamina.studies.opening import REPORT_ATTR, SettingsMismatchError
    spec = storage_spec(tmp_path / "study.db", "unused")
    open_study("s", ridge_cells(tmp_path, 2), spec, resume=False, report={"intro": "as created"})
    changed = [Cell(c.key, {**c.params, "lam": 9.0}) for c in ridge_cells(tmp_path, 2)]
    with pytest.raises(SettingsMismatchError):
        open_study("s", changed, spec, resume=True, report={"intro": "refused"})
    study = open_study("s", ridge_cells(tmp_path, 2), spec, resume=True, report={"intro": "resumed"})
    assert study.user_attrs[REPORT_ATTR] == {"intro": "as created"}


@pytest.mark.parametrize("folder", ["q?d", "p%20d"])
def test_a_storage_path_names_the_file_the_study_is_stored_in(tmp_path, folder):
    """A path is not a URL: a ``?`` (SQLAlchemy's query) or ``%20`` (decoded) in it stored the study
    in another file (``q``) or failed (no folder ``p d``)."""
    (tmp_path / folder).mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    path = tmp_path / folder / "study.db"
    spec = storage_spec(path, "unused")
    assert spec.path == path
    rows = run_study("s", ridge_cells(logs, 1), "study_cells:ridge_cell", spec)
    assert [row["state"] for row in rows] == ["COMPLETE"]
    assert path.is_file() and sorted(p.name for p in tmp_path.iterdir()) == sorted([folder, "logs"])


def test_a_resume_stores_the_cells_of_a_study_whose_creator_died_before_storing_them(tmp_path):
    """Killed between creating the study and storing its cell list: the resume ran the cells but
    never stored the list, so ``lamina report`` listed no missing cell and other cells were accepted."""
    from lamina.studies import expected_cells
    spec = storage_spec(tmp_path / "study.db", "unused")
    optuna.create_study(study_name="s", storage=spec.open(), direction="minimize")   # the creator dies here
    cells = ridge_cells(tmp_path, 2)
    run_study("s", cells, "study_cells:ridge_cell", spec, resume=True)
    assert expected_cells("s", spec) == ["c0", "c1"]
    with pytest.raises(ValueError, match="other cells"):
        open_study("s", ridge_cells(tmp_path, 3), spec, resume=True)


def test_a_claim_lock_held_elsewhere_is_waited_for_a_bounded_time(tmp_path, monkeypatch):
    """The SQLite claim lock was taken with a blocking flock: a process suspended while holding it
    (Ctrl-Z) left every other worker waiting for ever."""
    import fcntl
    import threading

    from lamina.studies import storage
    monkeypatch.setattr(storage, "CLAIM_WAIT_S", 1, raising=False)
    spec = storage_spec(tmp_path / "study.db", "unused")
    outcome = []

    def claim():
        try:
            with spec.claim_lock():
                outcome.append("claimed")
        except storage.StorageError as error:
            outcome.append(str(error))

    with open(f"{spec.path}.lock", "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)   # the suspended process
        thread = threading.Thread(target=claim, daemon=True)
        thread.start()
        thread.join(timeout=10)
        waited_for_ever = thread.is_alive()
    thread.join(timeout=10)
    assert not waited_for_ever and "held" in outcome[0]
    with spec.claim_lock():   # free again: taken at once
        pass


def test_a_locked_sqlite_file_is_waited_for_a_bounded_time_in_all(tmp_path, monkeypatch):
    """Each of the 40 retries of the WAL switch waited SQLite's 60 s busy timeout: a file locked by
    another process (here a rollback-journal file under an exclusive lock) held the command 40 minutes."""
    import sqlite3
    import threading

    from lamina.studies import storage
    monkeypatch.setattr(storage, "LOCKED_WAIT_S", 2, raising=False)
    path = tmp_path / "study.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    outcome = []

    def open_it():
        try:
            storage_spec(path, "unused").open()
            outcome.append("opened")
        except storage.StorageError as error:
            outcome.append(str(error))

    thread = threading.Thread(target=open_it, daemon=True)
    began = time.monotonic()
    thread.start()
    thread.join(timeout=20)
    waited = time.monotonic() - began
    holder.rollback()
    holder.close()
    assert waited < 20 and "locked" in outcome[0]


@pytest.mark.parametrize("folder", ["a %41 b", "q?d %41"])
def test_a_sqlite_uri_url_names_the_file_the_study_is_stored_in(tmp_path, folder):
    """SQLite's URI form (``sqlite:///file:…?uri=true``) of a path quoted as ``sqlite_url`` quotes
    it: SQLAlchemy decoded the ``%xx`` escapes and SQLite decoded them again, so a folder ``a %41 b``
    was opened as ``a A b`` (and a ``?`` left after the first decoding cut the name): the study went
    to another file than the one lamina checked and locked (``spec.path``)."""
    from lamina.studies.storage import sqlite_url
    (tmp_path / folder).mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    path = tmp_path / folder / "study.db"
    url = sqlite_url(path).replace("sqlite:///", "sqlite:///file:", 1) + "?mode=rwc&uri=true"
    spec = storage_spec(url, "unused")
    assert spec.path == path
    rows = run_study("s", ridge_cells(logs, 1), "study_cells:ridge_cell", spec)
    assert [row["state"] for row in rows] == ["COMPLETE"]
    assert path.is_file() and sorted(p.name for p in tmp_path.iterdir()) == sorted([folder, "logs"])
    assert len(optuna.load_study(study_name="s", storage=sqlite_url(path)).trials) == 1   # in that very file


INTERRUPT_SCRIPT = """
import signal
import sys
# a SIGINT ignored by the shell that started the suite (a background job: nohup … &) is inherited;
# the run under test is one a user can interrupt
signal.signal(signal.SIGINT, signal.default_int_handler)
from lamina.studies import run_study, storage_spec
from test_study_reliability import ridge_cells
spec = storage_spec(sys.argv[1], "unused", heartbeat_interval=1, grace_period=2)
try:
    run_study("s", ridge_cells(sys.argv[2], 4), "study_cells:ridge_cell", spec, workers=2)
except KeyboardInterrupt:
    raise SystemExit(130)
"""


def _running(pid: int) -> bool:
    """The process exists and is no zombie (an exited worker not reaped yet counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not pathlib.Path("/proc/self/stat").exists(), reason="reads process states in /proc")
def test_sigint_to_the_parent_of_a_worker_pool_stops_its_workers_and_a_resume_finishes(tmp_path):
    """A SIGINT sent to the parent of a --workers 2 pool alone (``kill -INT``, a job scheduler)
    interrupted its main thread only: the pool ran on in a side thread, its workers went on taking
    cells, and the command hung until the whole study was done. The workers now stop with it,
    and a resume runs the two interrupted cells again (nothing lost)."""
    import signal
    for key in ("c0", "c1"):
        (tmp_path / f"hang-{key}").write_text("")   # both workers stay inside a cell until interrupted
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPT_SCRIPT, str(tmp_path / "study.db"), str(tmp_path)],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"{key}.runs").exists() for key in ("c0", "c1")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1].decode()[-2000:]
            time.sleep(0.05)
        time.sleep(0.2)
        workers = [int((tmp_path / f"{key}.runs").read_text().split()[0]) for key in ("c0", "c1")]
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError("the interrupted run still ran 30 s after SIGINT (a hang)") from None
        assert code == 130, proc.communicate()[1].decode()[-2000:]
        deadline = time.monotonic() + 10
        while any(map(_running, workers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(_running, workers)), "worker processes outlived the interrupted run"
    finally:
        os.killpg(proc.pid, signal.SIGKILL) if proc.poll() is None else None
        for key in ("c0", "c1"):
            (tmp_path / f"hang-{key}").unlink()
    spec = storage_spec(tmp_path / "study.db", "unused", heartbeat_interval=1, grace_period=2)
    states = sorted(t.state.name for t in optuna.load_study(study_name="s", storage=spec.open()).trials)
    assert states == ["RUNNING", "RUNNING", "WAITING", "WAITING"]   # no cell taken after the interrupt
    rows = run_study("s", ridge_cells(tmp_path, 4), "study_cells:ridge_cell", spec, resume=True)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 4
    assert _runs(tmp_path) == {"c0": 2, "c1": 2, "c2": 1, "c3": 1}
