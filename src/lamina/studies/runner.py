"""Run a study — a fixed set of cells (method × seed × setting) — through an Optuna storage.

Each cell becomes one Optuna trial, enqueued when the study is created. Workers (processes
on this machine through joblib, or ``lamina … --resume`` started on other machines against
the same PostgreSQL URL) pop waiting trials; the storage's atomic state change
WAITING → RUNNING guarantees that two workers never run the same cell. A cell's metrics and
every step of its tuner's trajectory are written to the storage as they happen, so a study
killed at any point loses only the cells that were running, and ``resume=True`` runs exactly
those again (after their heartbeat has gone stale).

A cell function has the signature ``run_cell(params: dict, recorder: Recorder) -> dict``:
``params`` are the cell's JSON parameters, the returned dict its JSON metrics (one of them,
``objective``, is the trial value; ``nan`` if absent).
"""
from __future__ import annotations

import importlib
import json
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import joblib
import optuna
from optuna.trial import TrialState

from lamina.studies.storage import StorageSpec, redact

CELL_ATTR = "cell"
PARAMS_ATTR = "params"
METRICS_ATTR = "metrics"
ERROR_ATTR = "error"
STEP_PREFIX = "step:"

optuna.logging.set_verbosity(optuna.logging.WARNING)


class StudyExistsError(ValueError):
    """The study is already in the storage and ``resume`` was not asked for."""


@dataclass(frozen=True)
class Cell:
    """One unit of work: a unique ``key`` and JSON-serializable ``params``."""

    key: str
    params: Mapping

    def __post_init__(self):
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"cell key must be a non-empty string, got {self.key!r}")
        json.dumps(dict(self.params))  # fail early, naming nothing stored yet


class Recorder:
    """Writes a running cell's progress to the storage as it happens."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int):
        self._storage, self._trial_id = storage, trial_id

    def log(self, step: int, **values) -> None:
        """Store ``values`` (JSON: e.g. ``lambdas={...}``, ``val_loss=...``) for ``step``."""
        self._storage.set_trial_user_attr(self._trial_id, f"{STEP_PREFIX}{int(step):07d}",
                                          _jsonable(values))


def _jsonable(value):
    return json.loads(json.dumps(value, default=float))


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


# ----------------------------------------------------------------------------- study set-up
def open_study(name: str, cells: Iterable[Cell], spec: StorageSpec, *, resume: bool) -> optuna.Study:
    """Create the study and enqueue its cells, or, with ``resume``, reopen it.

    Raises :class:`StudyExistsError` when the study exists and ``resume`` is False, and
    ``ValueError`` when it is resumed with cells it was not created with.
    """
    cells = list(cells)
    keys = [cell.key for cell in cells]
    if len(set(keys)) != len(keys):
        raise ValueError("cells must have unique keys")
    storage = spec.open()
    exists = name in {s.study_name for s in optuna.get_all_study_summaries(storage)}
    if exists and not resume:
        raise StudyExistsError(f"study {name!r} already exists in {redact(spec.url)}; "
                               "resume it (--resume) or choose another name/storage")
    study = optuna.create_study(study_name=name, storage=storage, direction="minimize",
                                load_if_exists=True)
    if not exists:
        study.set_user_attr("cells", keys)
        for cell in cells:
            _enqueue(study, cell)
        return study
    known = set(study.user_attrs.get("cells", []))
    if known and set(keys) - known:
        raise ValueError(f"study {name!r} was created with other cells; unknown now: "
                         f"{sorted(set(keys) - known)[:5]}")
    return study


def _enqueue(study: optuna.Study, cell: Cell) -> None:
    study.enqueue_trial({}, user_attrs={CELL_ATTR: cell.key, PARAMS_ATTR: dict(cell.params)})


def _requeue_lost_cells(study: optuna.Study) -> int:
    """Fail trials whose heartbeat is stale, then enqueue again every cell that has no
    complete, waiting or running trial and did not fail by raising. Returns how many."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    by_cell: dict[str, list] = {}
    for trial in study.get_trials(deepcopy=False):
        if CELL_ATTR in trial.user_attrs:
            by_cell.setdefault(trial.user_attrs[CELL_ATTR], []).append(trial)
    requeued = 0
    for key, trials in by_cell.items():
        states = {t.state for t in trials}
        if states & {TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING}:
            continue
        if any(ERROR_ATTR in t.user_attrs for t in trials):
            continue  # the cell itself raised: running it again would raise again
        _enqueue(study, Cell(key, trials[-1].user_attrs[PARAMS_ATTR]))
        requeued += 1
    return requeued


# ----------------------------------------------------------------------------- workers
def _pop_waiting_trial(study: optuna.Study) -> int | None:
    """Atomically claim one WAITING trial (WAITING → RUNNING); None when there is none."""
    storage = study._storage
    for trial in storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.WAITING,)):
        try:
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.RUNNING):
                return trial._trial_id
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


class _Heartbeat:
    """Beats for one running trial from a daemon thread until stopped."""

    def __init__(self, storage, trial_id: int, interval: float):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(storage, trial_id, interval), daemon=True)

    def _beat(self, storage, trial_id, interval):
        while not self._stop.is_set():
            storage.record_heartbeat(trial_id)
            self._stop.wait(interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _unfinished(study: optuna.Study) -> bool:
    states = [t.state for t in study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))]
    return bool(states)


def run_worker(name: str, spec: StorageSpec, run_cell: Callable | str, *, poll_s: float = 1.0,
               progress: Callable[[str, dict], None] | None = None) -> int:
    """Run cells of study ``name`` until none is waiting or running; returns how many it ran.

    Cells that raise are stored as FAIL with the error text and not retried.
    """
    function = resolve_callable(run_cell)
    storage = spec.open()
    study = optuna.load_study(study_name=name, storage=storage)
    done = 0
    while True:
        trial_id = _pop_waiting_trial(study)
        if trial_id is None:
            _requeue_lost_cells(study)
            if not _unfinished(study):
                return done
            time.sleep(poll_s)
            continue
        _run_one(study, storage, trial_id, function, spec.heartbeat_interval)
        done += 1
        if progress is not None:
            attrs = storage.get_trial_user_attrs(trial_id)
            progress(attrs.get(CELL_ATTR, "?"), attrs.get(METRICS_ATTR, {}))


def _run_one(study, storage, trial_id: int, function: Callable, heartbeat_s: float) -> None:
    attrs = storage.get_trial_user_attrs(trial_id)
    with _Heartbeat(storage, trial_id, heartbeat_s):
        try:
            metrics = function(dict(attrs[PARAMS_ATTR]), Recorder(storage, trial_id))
        except BaseException as error:
            storage.set_trial_user_attr(trial_id, ERROR_ATTR, f"{type(error).__name__}: {error}")
            storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
            if not isinstance(error, Exception):
                raise  # KeyboardInterrupt / SystemExit: stop the worker too
            return
    metrics = _jsonable(dict(metrics or {}))
    storage.set_trial_user_attr(trial_id, METRICS_ATTR, metrics)
    objective = metrics.get("objective", math.nan)
    value = float(objective) if objective is not None and math.isfinite(float(objective)) else None
    if value is None:
        storage.set_trial_state_values(trial_id, state=TrialState.COMPLETE, values=[math.inf])
    else:
        storage.set_trial_state_values(trial_id, state=TrialState.COMPLETE, values=[value])


def run_study(name: str, cells: Iterable[Cell], run_cell: Callable | str, spec: StorageSpec, *,
              workers: int = 1, resume: bool = False, backend: str | None = None,
              progress: Callable[[str, dict], None] | None = None) -> list[dict]:
    """Create (or resume) study ``name`` and run all its cells with ``workers`` workers.

    ``backend`` is a joblib backend name for the worker processes: the default "loky" runs them
    on this machine; after registering a cluster backend (``dask.distributed``'s
    ``Client()`` registers "dask"; ``ray.util.joblib.register_ray()`` registers "ray") the
    same call runs them there. Returns :func:`study_rows`.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    open_study(name, cells, spec, resume=resume)
    if resume:
        _requeue_lost_cells(optuna.load_study(study_name=name, storage=spec.open()))
    if workers == 1:
        run_worker(name, spec, run_cell, progress=progress)
    else:
        joblib.Parallel(n_jobs=workers, backend=backend or "loky")(
            joblib.delayed(run_worker)(name, spec, run_cell) for _ in range(workers))
    return study_rows(name, spec)


# ----------------------------------------------------------------------------- results
def study_rows(name: str, spec: StorageSpec) -> list[dict]:
    """One dict per finished cell: ``cell``, ``params``, ``metrics``, ``trajectory``
    (the recorded steps in order), ``state`` and, for failed cells, ``error``."""
    study = optuna.load_study(study_name=name, storage=spec.open())
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        attrs = trial.user_attrs
        if CELL_ATTR not in attrs or (trial.state == TrialState.FAIL and ERROR_ATTR not in attrs):
            continue  # lost to a dead worker and run again: not a result
        steps = sorted((k, v) for k, v in attrs.items() if k.startswith(STEP_PREFIX))
        rows.append({"cell": attrs[CELL_ATTR], "params": attrs[PARAMS_ATTR],
                     "metrics": attrs.get(METRICS_ATTR, {}), "state": trial.state.name,
                     "error": attrs.get(ERROR_ATTR),
                     "trajectory": [{"step": int(k[len(STEP_PREFIX):]), **v} for k, v in steps],
                     "seconds": (trial.duration.total_seconds() if trial.duration else None)})
    return sorted(rows, key=lambda row: row["cell"])
