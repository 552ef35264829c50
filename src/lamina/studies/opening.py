"""Creating, reopening and repairing a stored study.

A study is created once with all its cells enqueued (one WAITING trial per cell). Creation
is race-free: of two processes creating the same new study, Optuna lets exactly one create
it; the other finds it existing. Reopening (``resume``) checks that every cell is asked for
with the settings it was stored with, enqueues cells that a process killed while creating
the study never enqueued (storing the cell list if it died before that), and enqueues again
cells that were lost (their worker died) or failed (so that a fixed task or environment can be retried). While a study runs, a lost
cell is enqueued again by :func:`retry_lost_cell`, the workers' Optuna stale-trial callback.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from lamina._context import quiet_optuna
from lamina.studies.storage import StorageSpec, redact

CELL_ATTR = "cell"
PARAMS_ATTR = "params"
METRICS_ATTR = "metrics"
ERROR_ATTR = "error"
CELLS_ATTR = "cells"
REPORT_ATTR = "report"   # how the command that created the study reports it (lamina report reads it)


class StudyExistsError(ValueError):
    """The study is already in the storage and ``resume`` was not asked for."""


class SettingsMismatchError(ValueError):
    """``resume`` was asked with settings that differ from those the study was created with."""


@dataclass(frozen=True)
class Cell:
    """One unit of work: a unique ``key`` and JSON-serializable ``params``.

    ``params`` must hold every setting that changes the cell's result: a resumed study
    compares them with the stored ones and refuses to mix results of different settings.
    """

    key: str
    params: Mapping

    def __post_init__(self):
        if not isinstance(self.key, str) or not self.key:
            raise ValueError(f"cell key must be a non-empty string, got {self.key!r}")
        json.dumps(dict(self.params))  # fail early, naming nothing stored yet


def jsonable(value):
    return json.loads(json.dumps(value, default=float))


def repeated_keys(keys: list[str]) -> list[str]:
    """The keys that occur more than once, sorted."""
    seen, repeated = set(), set()
    for key in keys:
        (repeated if key in seen else seen).add(key)
    return sorted(repeated)


def open_study(name: str, cells: Iterable[Cell], spec: StorageSpec, *, resume: bool,
               report: dict | None = None) -> optuna.Study:
    """Create the study and enqueue its cells, or, with ``resume``, reopen and repair it;
    ``report`` (JSON values: the metric, the verdict's unit …) is stored for ``lamina report``
    when the study is created (a resume keeps the creator's, and writes nothing before its
    cells are checked).

    Without ``resume`` an existing study raises :class:`StudyExistsError`, unless none of its
    cells completed and none is waiting or running: such a study (every cell failed, e.g. a
    broken task) is replaced. With ``resume``, failed and lost cells are enqueued again;
    ``ValueError`` when the cells are unknown to the study, :class:`SettingsMismatchError`
    when a cell's settings differ from the stored ones.
    """
    cells = list(cells)
    keys = [cell.key for cell in cells]
    repeated = repeated_keys(keys)
    if repeated:
        raise ValueError(f"cells must have unique keys, got {repeated[:3]} more than once")
    storage = spec.open()
    study, created = _create_or_load(name, storage)
    if not created and not resume:
        if not _replaceable(study):
            raise StudyExistsError(f"study {name!r} already exists in {redact(spec.url)}; "
                                   "resume it (--resume) or choose another name/storage")
        optuna.delete_study(study_name=name, storage=storage)
        study, created = _create_or_load(name, storage)
    if created:
        if report is not None:
            study.set_user_attr(REPORT_ATTR, jsonable(report))
        study.set_user_attr(CELLS_ATTR, keys)
        for cell in cells:
            enqueue(study, cell)
        return study
    check_cells(study, cells)
    if CELLS_ATTR not in study.user_attrs:   # its creator was killed before it stored them
        study.set_user_attr(CELLS_ATTR, keys)
    if report is not None and REPORT_ATTR not in study.user_attrs:   # a study stored before lamina kept it
        study.set_user_attr(REPORT_ATTR, jsonable(report))
    requeue(study, cells, retry_failed=True)
    return study


def _create_or_load(name: str, storage) -> tuple[optuna.Study, bool]:
    try:
        with quiet_optuna():
            return optuna.create_study(study_name=name, storage=storage, direction="minimize"), True
    except optuna.exceptions.DuplicatedStudyError:
        return optuna.load_study(study_name=name, storage=storage), False


def _replaceable(study: optuna.Study) -> bool:
    """Every trial failed (after failing those of dead workers): none completed, none waits or
    runs. A study without trials is not replaceable: another process may be creating it."""
    fail_stale(study)
    trials = study.get_trials(deepcopy=False)
    return bool(trials) and all(t.state == TrialState.FAIL for t in trials)


def fail_stale(study: optuna.Study) -> None:
    """Optuna's own clean-up: trials whose heartbeat is older than the grace period → FAIL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def enqueue(study: optuna.Study, cell: Cell) -> None:
    study.enqueue_trial({}, user_attrs={CELL_ATTR: cell.key, PARAMS_ATTR: jsonable(dict(cell.params))})


def retry_lost_cell(study: optuna.Study, lost: optuna.trial.FrozenTrial) -> None:
    """``heartbeat_stale_trial_callback`` of the workers' storage: enqueue the lost trial's cell again.

    Called by :func:`optuna.storages.fail_stale_trials` for each trial it failed. Like
    Optuna's ``RetryHeartbeatStaleTrialCallback`` (``RetryFailedTrialCallback`` before 4.9) it
    adds a WAITING trial whose system attributes ``failed_trial`` / ``retry_history`` name the
    lost run (so that callback's ``retried_trial_number`` and ``retry_history`` read them), but
    the new trial carries only the cell and its settings: Optuna's callback copies *every* user
    attribute of the lost trial — the ``step:`` trajectory it recorded, and metrics or an error
    written just before its worker died — and Optuna cannot delete a user attribute, so the
    re-run's row would show steps it never ran. A trial without a cell (see
    ``runner._Worker.ask``) is not retried, nor a cell that completed or waits already.
    """
    key = lost.user_attrs.get(CELL_ATTR)
    if key is None:
        return
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.WAITING)):
        if trial.user_attrs.get(CELL_ATTR) == key:
            return
    history = [*lost.system_attrs.get("retry_history", []), lost.number]
    study.add_trial(optuna.trial.create_trial(
        state=TrialState.WAITING,
        user_attrs={CELL_ATTR: key, PARAMS_ATTR: lost.user_attrs.get(PARAMS_ATTR, {})},
        system_attrs={"fixed_params": {}, "failed_trial": lost.system_attrs.get("failed_trial", lost.number),
                      "retry_history": history}))


def trials_by_cell(study: optuna.Study) -> dict[str, list]:
    by_cell: dict[str, list] = {}
    for trial in study.get_trials(deepcopy=False):
        if CELL_ATTR in trial.user_attrs:
            by_cell.setdefault(trial.user_attrs[CELL_ATTR], []).append(trial)
    return by_cell


def check_cells(study: optuna.Study, cells: list[Cell]) -> None:
    """Refuse cells the study was not created with, or stored with other settings."""
    keys = [cell.key for cell in cells]
    known = set(study.user_attrs.get(CELLS_ATTR, []))
    if known and set(keys) - known:
        raise ValueError(f"study {study.study_name!r} was created with other cells; unknown now: "
                         f"{sorted(set(keys) - known)[:5]}")
    stored = {key: trials[0].user_attrs.get(PARAMS_ATTR, {}) for key, trials in trials_by_cell(study).items()}
    differences: dict[str, tuple] = {}
    for cell in cells:
        if cell.key in stored:
            for setting, (before, now) in _differences(stored[cell.key], jsonable(dict(cell.params))).items():
                differences.setdefault(setting, (before, now))
    if differences:
        listed = "; ".join(f"{k}: stored {_short(b)}, now {_short(n)}" for k, (b, n) in sorted(differences.items()))
        raise SettingsMismatchError(
            f"study {study.study_name!r} was run with other settings ({listed}); its results would not "
            "match: resume with the stored settings, or start a new study (another --study name or --storage)")


def _differences(stored: Mapping, now: Mapping) -> dict[str, tuple]:
    return {key: (stored.get(key), now.get(key)) for key in sorted(set(stored) | set(now))
            if stored.get(key) != now.get(key)}


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def requeue(study: optuna.Study, cells: list[Cell] | None = None, *, retry_failed: bool) -> int:
    """Enqueue every cell that has no complete, waiting or running trial; returns how many.

    Trials of dead workers are failed first (their heartbeat went stale). A cell whose last
    run raised is enqueued again only with ``retry_failed``; ``cells`` adds cells that were
    never enqueued (their creator was killed first).
    """
    fail_stale(study)
    by_cell = trials_by_cell(study)
    params = {key: trials[-1].user_attrs.get(PARAMS_ATTR, {}) for key, trials in by_cell.items()}
    for cell in cells or ():
        by_cell.setdefault(cell.key, [])
        params[cell.key] = dict(cell.params)
    requeued = 0
    for key, trials in by_cell.items():
        if any(t.state in (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING) for t in trials):
            continue
        if not retry_failed and any(ERROR_ATTR in t.user_attrs for t in trials):
            continue  # the cell itself raised: running it again in this run would raise again
        enqueue(study, Cell(key, params[key]))
        requeued += 1
    return requeued
