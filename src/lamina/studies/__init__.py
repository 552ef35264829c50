"""Studies: a fixed set of cells run by any number of workers through an Optuna storage."""
from lamina.studies.runner import (Cell, Recorder, StudyExistsError, open_study, run_study, run_worker,
                                   study_rows)
from lamina.studies.storage import StorageSpec, redact, storage_spec

__all__ = ["Cell", "Recorder", "StorageSpec", "StudyExistsError", "open_study", "redact", "run_study",
           "run_worker", "storage_spec", "study_rows"]
