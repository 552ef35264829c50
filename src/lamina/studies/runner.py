"""Running the cells of a stored study: workers take waiting cells with Optuna's ask/tell.

A worker ``study.ask()``s for the next enqueued cell (WAITING → RUNNING, atomic in the
database), runs it while a thread records its heartbeat, and ``study.tell()``s the outcome.
Liveness is Optuna's own heartbeat machinery (``RDBStorage(heartbeat_interval, grace_period,
heartbeat_stale_trial_callback)`` and :func:`optuna.storages.fail_stale_trials`):

* a worker records a heartbeat on the waiting trial that ``ask`` will take *before* asking,
  then beats every ``heartbeat_interval`` seconds while the cell runs; so a worker killed at
  any moment leaves a RUNNING trial whose heartbeat goes stale; a RUNNING trial with no
  heartbeat at all (``ask`` took another trial after a racing worker took the first, and the
  worker died at once; or an older lamina wrote it) is given one heartbeat by the first worker
  that sees it, so it too goes stale;
* stale trials are failed after ``grace_period`` seconds and their cells enqueued again by the
  storage's stale-trial callback (:func:`lamina.studies.opening.retry_lost_cell`; Optuna's
  ``RetryHeartbeatStaleTrialCallback`` copies the lost run's recorded steps into the retry,
  see there); :func:`lamina.studies.opening.requeue` re-enqueues a cell whose callback never
  ran (its caller died between failing the trial and enqueueing it);
* two trials of one cell (enqueued twice by racing processes) never both run: the later one
  is dropped when asked for;
* a worker with nothing left to ask for waits for cells running elsewhere at most
  ``max_wait_s`` seconds without any cell finishing, then raises :class:`StudyWaitError`; the
  workers of one ``--workers N`` pool return instead (a raise would make joblib terminate the
  pool's busy workers mid-cell), and the pool's caller raises if cells still run elsewhere;
* a pool whose worker process died (killed, out of memory) is started again, at most
  ``MAX_POOL_RESTARTS`` times: its lost cells go stale and run again in the new pool.

What stays below Optuna's study API, and why:

* ``StorageSpec.claim_lock`` around ``ask``: SQLite has no row locks, so two processes could
  move the same WAITING trial to RUNNING; the lock also makes "a cell is waiting, so ``ask``
  takes it" hold, where ``ask`` would otherwise create a new, cell-less trial;
* ``storage.get_trial_id_from_study_id_trial_number`` and ``storage.record_heartbeat``: the
  heartbeat is kept per trial id, which no public ``Trial`` attribute gives, and Optuna's
  heartbeat thread (``optuna.storages._heartbeat``) is private and is started by
  ``Study.optimize`` only — which would also create a new trial whenever no cell waits.
"""
from __future__ import annotations

import concurrent.futures
import importlib
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterable

import joblib
import optuna
from optuna.trial import TrialState

from lamina._context import quiet_optuna
from lamina._warnings import warn
from lamina.studies.opening import (CELL_ATTR, CELLS_ATTR, ERROR_ATTR, METRICS_ATTR, PARAMS_ATTR, REPORT_ATTR, Cell,
                                    StudyExistsError, jsonable, open_study, requeue, retry_lost_cell)
from lamina.studies.storage import StorageSpec, redact

STEP_PREFIX = "step:"
SUPERSEDED_ATTR = "superseded"
NO_CELL_ATTR = "no_cell"
DEFAULT_MAX_WAIT_S = 3600.0
#: times a ``--workers N`` pool is started again after one of its processes died
MAX_POOL_RESTARTS = 3

__all__ = ["Cell", "Recorder", "StudyExistsError", "StudyWaitError", "StudyWorkerError", "open_study", "run_study",
           "run_worker", "study_rows", "expected_cells"]


class StudyWaitError(TimeoutError):
    """Cells kept running on other workers (live heartbeats) for longer than the wait allowed."""


class StudyWorkerError(ChildProcessError):
    """Worker processes of a ``--workers N`` pool kept dying (more than ``MAX_POOL_RESTARTS`` times)."""


class Recorder:
    """Writes a running cell's progress to its trial as it happens."""

    def __init__(self, trial: optuna.Trial):
        self._trial = trial

    def log(self, step: int, **values) -> None:
        """Store ``values`` (JSON: e.g. ``lambdas={...}``, ``val_loss=...``) for ``step``."""
        self._trial.set_user_attr(f"{STEP_PREFIX}{int(step):07d}", jsonable(values))


def resolve_callable(run_cell: Callable | str) -> Callable:
    """``run_cell`` itself, or the function named by ``"package.module:function"``."""
    if callable(run_cell):
        return run_cell
    module, sep, name = str(run_cell).partition(":")
    if not sep or not module or not name:
        raise ValueError(f"run_cell must be a callable or 'module:function', got {run_cell!r}")
    function = getattr(importlib.import_module(module), name, None)
    if not callable(function):
        raise ValueError(f"run_cell {run_cell!r}: {module} has no function {name!r}")
    return function


# ----------------------------------------------------------------------------- asking
class _Worker:
    """One worker's handle on a study: its storage (which retries lost cells), and the trials
    it gave a heartbeat."""

    def __init__(self, name: str, spec: StorageSpec):
        self.spec = spec
        self.storage = spec.open(stale_trial_callback=retry_lost_cell)
        try:
            self.study = optuna.load_study(study_name=name, storage=self.storage)
        except KeyError:
            raise ValueError(f"study {name!r} is not in {redact(spec.url)}") from None
        self.study_id = self.storage.get_study_id_from_name(name)
        self.touched: set[int] = set()

    def trial_id(self, trial) -> int:
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)

    def ask(self) -> optuna.Trial | None:
        """The next waiting cell's trial, asked for and beating; None when no cell waits."""
        while True:
            with self.spec.claim_lock():
                waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
                if not waiting:
                    return None
                # ask() takes the first waiting trial: it beats before it runs, so a worker
                # killed right after ask() leaves a trial that goes stale
                self.storage.record_heartbeat(self.trial_id(waiting[0]))
                with warnings.catch_warnings(action="ignore", category=UserWarning):   # "heartbeat … optimize"
                    trial = self.study.ask()
            if trial.number != waiting[0].number:
                self.storage.record_heartbeat(self.trial_id(trial))
            if CELL_ATTR not in trial.user_attrs:
                # the waiting cell was taken by a racing worker (no claim lock on PostgreSQL),
                # so ask() created a trial of its own: closed at once, never a cell's row
                trial.set_user_attr(NO_CELL_ATTR, True)
                self.study.tell(trial, state=TrialState.FAIL)
            elif self._superseded(trial):
                trial.set_user_attr(SUPERSEDED_ATTR, True)
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                return trial

    def _superseded(self, asked: optuna.Trial) -> bool:
        """Another trial of the same cell completed, or runs and was enqueued earlier."""
        key = asked.user_attrs[CELL_ATTR]
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
            if trial.user_attrs.get(CELL_ATTR) == key and trial.number != asked.number and (
                    trial.state == TrialState.COMPLETE or trial.number < asked.number):
                return True
        return False

    def running_elsewhere(self) -> list[str]:
        """Fail dead workers' trials (the storage's callback enqueues their cells again);
        the cells still waiting or running.

        A RUNNING trial never seen before gets one heartbeat, so that a trial without any
        (its worker died between ask and first beat) goes stale after the grace period.
        """
        requeue(self.study, retry_failed=False)  # fail_stale_trials, then cells whose callback never ran
        unfinished = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
        for trial in unfinished:
            if trial.state == TrialState.RUNNING and trial.number not in self.touched:
                self.touched.add(trial.number)
                self.storage.record_heartbeat(self.trial_id(trial))
        return [t.user_attrs.get(CELL_ATTR, "?") for t in unfinished]


class _Heartbeat:
    """Beats for one running trial from a daemon thread until stopped."""

    def __init__(self, storage, trial_id: int, interval: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(storage, trial_id, interval), daemon=True)

    def _beat(self, storage, trial_id, interval):
        while not self._stop.wait(interval):
            try:
                storage.record_heartbeat(trial_id)
            except Exception:  # a lost connection shows as a stale trial, run again elsewhere
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


# ----------------------------------------------------------------------------- workers
def run_worker(name: str, spec: StorageSpec, run_cell: Callable | str, *, poll_s: float = 1.0,
               progress: Callable[[str, dict], None] | None = None,
               max_wait_s: float = DEFAULT_MAX_WAIT_S, give_up: str = "raise") -> int:
    """Run cells of study ``name`` until none is waiting or running; returns how many it ran.

    Cells that raise are stored as FAIL with the error text and not retried in this run.
    With nothing to ask for, the worker waits for cells running on other workers; after
    ``max_wait_s`` seconds without any cell finishing it raises :class:`StudyWaitError`
    (``give_up="return"``: returns, leaving the verdict to the caller).
    """
    function = resolve_callable(run_cell)
    worker = _Worker(name, spec)
    done, waiting_since, unfinished_before = 0, None, None
    while True:
        trial = worker.ask()
        if trial is None:
            unfinished = worker.running_elsewhere()
            if not unfinished:
                return done
            if unfinished != unfinished_before:
                waiting_since, unfinished_before = time.monotonic(), unfinished
            elif time.monotonic() - waiting_since > max_wait_s:
                if give_up == "return":
                    return done
                raise _wait_error(name, max_wait_s, unfinished)
            time.sleep(poll_s)
            continue
        waiting_since = unfinished_before = None
        key, metrics = _run_one(worker, trial, function)
        done += 1
        if progress is not None and key is not None:
            progress(key, metrics)


def _wait_error(name: str, max_wait_s: float, unfinished: list[str]) -> StudyWaitError:
    return StudyWaitError(f"study {name!r}: waited {max_wait_s:g} s for {len(unfinished)} cell(s) running on other "
                          f"workers ({', '.join(sorted(unfinished)[:5])}); their workers still beat — rerun with "
                          "--resume later to collect them")


def _run_one(worker: _Worker, trial: optuna.Trial, function: Callable) -> tuple[str | None, dict]:
    """Run one asked trial and tell its outcome; returns (cell, metrics), cell None when
    another worker failed the trial meanwhile (its heartbeat was late: the trial counts as
    lost, not as a result, and its cell was enqueued again)."""
    key, study = trial.user_attrs[CELL_ATTR], worker.study
    try:
        with _Heartbeat(worker.storage, worker.trial_id(trial), worker.spec.heartbeat_interval):
            try:
                metrics = jsonable(dict(function(dict(trial.user_attrs[PARAMS_ATTR]), Recorder(trial)) or {}))
            except optuna.exceptions.UpdateFinishedTrialError:
                raise
            except Exception as error:
                trial.set_user_attr(ERROR_ATTR, _error_text(error))
                return _told(study, trial, key, {}, state=TrialState.FAIL)
        trial.set_user_attr(METRICS_ATTR, metrics)
        objective = metrics.get("objective", math.nan)
        value = float(objective) if isinstance(objective, (int, float)) and math.isfinite(objective) else math.inf
        return _told(study, trial, key, metrics, values=value)
    except optuna.exceptions.UpdateFinishedTrialError:
        return None, {}


def _told(study, trial, key, metrics, **outcome) -> tuple[str | None, dict]:
    """``study.tell`` (quietly); (None, {}) when the trial was already finished by another worker."""
    with quiet_optuna():
        told = study.tell(trial, skip_if_finished=True, **outcome)
    expected = outcome.get("state", TrialState.COMPLETE)
    return (key, metrics) if told.state == expected else (None, {})


def _error_text(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text if len(text) <= 2000 else text[:1997] + "..."


def run_study(name: str, cells: Iterable[Cell], run_cell: Callable | str, spec: StorageSpec, *,
              workers: int = 1, resume: bool = False, backend: str | None = None,
              progress: Callable[[str, dict], None] | None = None,
              max_wait_s: float = DEFAULT_MAX_WAIT_S, report: dict | None = None) -> list[dict]:
    """Create (or resume) study ``name`` and run all its cells with ``workers`` workers.

    ``backend`` is a joblib backend name for the worker processes: the default "loky" runs them
    on this machine; "dask" (with a ``distributed.Client`` connected) or "ray" (after
    ``ray.init`` and ``ray.util.joblib.register_ray()``) runs them on that cluster — see
    :func:`lamina.studies.cluster.cluster_backend`. With ``resume``, failed and lost cells run again (see
    :func:`lamina.studies.open_study`; ``report`` is stored with the study for ``lamina report``).
    Returns :func:`study_rows`.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    open_study(name, cells, spec, resume=resume, report=report)
    if workers == 1 and backend in (None, "loky"):
        run_worker(name, spec, run_cell, progress=progress, max_wait_s=max_wait_s)
    else:
        _run_workers(name, spec, run_cell, workers, backend, progress, max_wait_s)
    return study_rows(name, spec)


def _run_workers(name, spec, run_cell, workers: int, backend, progress, max_wait_s: float,
                 poll_s: float = 0.5) -> None:
    """``workers`` worker processes (joblib) while a thread reports, every ``poll_s`` seconds, the
    cells they finished (read back from the storage) to ``progress``. The pool runs in this thread,
    so that a Ctrl-C (raised in the main thread only) reaches joblib, which kills the workers: their
    cells go stale and run again with ``--resume``. In a side thread, the pool had kept running (and
    taking cells) after the interrupt: the command hung until the whole study was done."""
    reported = {row["cell"] for row in study_rows(name, spec)} if progress is not None else set()
    stop, failure = threading.Event(), []
    reporter = threading.Thread(target=_report_until, args=(stop, failure, name, spec, progress, reported, poll_s),
                                name="lamina-progress", daemon=True)
    if progress is not None:
        reporter.start()
    try:
        _run_pool(name, spec, run_cell, workers, backend, max_wait_s)
    finally:
        stop.set()
        if reporter.is_alive():
            reporter.join()
    if failure:
        raise failure[0]
    if progress is not None:
        _report_new(name, spec, progress, reported)   # the cells finished since the last poll


def _run_pool(name, spec, run_cell, workers: int, backend, max_wait_s: float) -> None:
    """The joblib pool of ``run_worker``s, started again after a worker process died."""
    for restart in range(MAX_POOL_RESTARTS + 1):
        try:
            with joblib.parallel_config(backend=backend or "loky"):  # registers "dask"/"ray" on demand
                joblib.Parallel(n_jobs=workers)(
                    joblib.delayed(run_worker)(name, spec, run_cell, max_wait_s=max_wait_s, give_up="return")
                    for _ in range(workers))
            break
        except concurrent.futures.BrokenExecutor as error:   # a worker process died
            if restart == MAX_POOL_RESTARTS:
                raise StudyWorkerError(f"study {name!r}: a worker process died {restart + 1} times "
                                       f"({error}); rerun with --resume to run the cells left") from error
            warn(f"study {name!r}: a worker process died ({type(error).__name__}); starting the "
                 "workers again (the cells it ran are run again)", RuntimeWarning)
    unfinished = _Worker(name, spec).running_elsewhere()
    if unfinished:   # running in processes outside this pool, for longer than max_wait_s
        raise _wait_error(name, max_wait_s, unfinished)


def _report_until(stop, failure: list, name, spec, progress, reported: set, poll_s: float) -> None:
    """Report finished cells every ``poll_s`` s until ``stop`` is set; an error goes to ``failure``."""
    try:
        while not stop.wait(poll_s):
            _report_new(name, spec, progress, reported)
    except Exception as error:
        failure.append(error)


def _report_new(name, spec, progress, reported: set) -> None:
    """Call ``progress(cell, metrics)`` once for every finished cell not reported yet."""
    for row in study_rows(name, spec):
        if row["cell"] not in reported and row["state"] in ("COMPLETE", "FAIL"):
            reported.add(row["cell"])
            progress(row["cell"], row.get("metrics") or {})


# ----------------------------------------------------------------------------- results
def _load(name: str, spec: StorageSpec) -> optuna.Study:
    storage = spec.open()
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise ValueError(f"--study: no study {name!r} in {redact(spec.url)} (it holds {names[:10]})") from None


def study_rows(name: str, spec: StorageSpec) -> list[dict]:
    """One dict per finished cell: ``cell``, ``params``, ``metrics``, ``trajectory``
    (the recorded steps in order), ``state`` and, for failed cells, ``error``.

    A cell run more than once (lost, then run again; failed, then retried) gives one row:
    its completed run, else its last failure. Cells never finished give no row (see
    :func:`expected_cells`)."""
    chosen: dict[str, object] = {}
    for trial in _load(name, spec).get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        attrs = trial.user_attrs
        if CELL_ATTR not in attrs or (trial.state == TrialState.FAIL and ERROR_ATTR not in attrs):
            continue  # lost to a dead worker and run again: not a result
        previous = chosen.get(attrs[CELL_ATTR])
        if previous is None or (previous.state == TrialState.FAIL and
                                (trial.state == TrialState.COMPLETE or trial.number > previous.number)):
            chosen[attrs[CELL_ATTR]] = trial
    return [_row(chosen[key]) for key in sorted(chosen)]


def _row(trial) -> dict:
    attrs = trial.user_attrs
    steps = sorted((k, v) for k, v in attrs.items() if k.startswith(STEP_PREFIX))
    return {"cell": attrs[CELL_ATTR], "params": attrs[PARAMS_ATTR], "metrics": attrs.get(METRICS_ATTR, {}),
            "state": trial.state.name, "error": attrs.get(ERROR_ATTR),
            "trajectory": [{"step": int(k[len(STEP_PREFIX):]), **v} for k, v in steps],
            "seconds": (trial.duration.total_seconds() if trial.duration else None)}


def expected_cells(name: str, spec: StorageSpec) -> list[str]:
    """The keys of every cell the study was created with (finished or not)."""
    return list(_load(name, spec).user_attrs.get(CELLS_ATTR, []))


def report_settings(name: str, spec: StorageSpec) -> dict:
    """How the command that created the study reports it (``{}`` for studies stored before
    lamina kept it): ``metric``, ``unit``, ``evaluated_on``, ``summarize`` ("module:function"
    or None), ``kind``, ``intro``."""
    return dict(_load(name, spec).user_attrs.get(REPORT_ATTR, {}))
