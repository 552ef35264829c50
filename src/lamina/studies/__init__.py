"""Studies: a fixed set of cells run by any number of workers through an Optuna storage.

The names below are imported on first use (PEP 562), so that the modules of this package that need
neither Optuna nor SQLAlchemy — :mod:`lamina.studies.shipped`'s data and networks — import where
those are not installed (a GPU machine's image: ``benchmarks/bench_gpu.py``, ``tests/test_gpu.py``).
"""
import importlib

_EXPORTS = {"Cell": "opening", "SettingsMismatchError": "opening", "StudyExistsError": "opening",
            "open_study": "opening", "Recorder": "runner", "StudyWaitError": "runner", "expected_cells": "runner",
            "run_study": "runner", "run_worker": "runner", "study_rows": "runner", "StorageError": "storage",
            "StorageSpec": "storage", "redact": "storage", "storage_spec": "storage"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
