"""Studies: a fixed set of cells run by any number of workers through an Optuna storage."""
from lamina.studies.opening import Cell, SettingsMismatchError, StudyExistsError, open_study
from lamina.studies.runner import Recorder, StudyWaitError, expected_cells, run_study, run_worker, study_rows
from lamina.studies.storage import StorageError, StorageSpec, redact, storage_spec

__all__ = ["Cell", "Recorder", "SettingsMismatchError", "StorageError", "StorageSpec", "StudyExistsError",
           "StudyWaitError", "expected_cells", "open_study", "redact", "run_study", "run_worker",
           "storage_spec", "study_rows"]
