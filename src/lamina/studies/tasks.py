"""Loading a study's task from the user: a ``.npz`` file or a ``module:function``.

``.npz`` files are read with ``allow_pickle=False``: loading data never runs code. A
``module:function`` task imports the module and calls the function — that runs the user's
code, with the user's rights, in every worker.
"""
from __future__ import annotations

import hashlib
import importlib
import pathlib

import numpy as np


class TaskError(ValueError):
    """``--task`` names something that cannot be loaded as a task (the message says why)."""


def user_function(task: str, *, check_only: bool = False):
    """The function named by ``"module:function"`` (imported: this runs the module's code);
    with ``check_only``, only the spelling is checked and nothing is imported."""
    module, sep, name = task.partition(":")
    if not sep or not module or not name or ":" in name:
        raise TaskError(f"--task must be a known name, a .npz file or 'module:function'; got {task!r}")
    if check_only:
        return None
    try:
        imported = importlib.import_module(module)
    except ImportError as error:
        raise TaskError(f"--task {task}: cannot import {module!r} ({error})") from None
    except Exception as error:
        raise TaskError(f"--task {task}: importing {module!r} raised {type(error).__name__}: {error}") from None
    function = getattr(imported, name, None)
    if not callable(function):
        raise TaskError(f"--task {task}: module {module!r} has no function {name!r}")
    return function


def npz_arrays(path: pathlib.Path) -> dict:
    """The arrays of a task file, loaded without pickle (a .npz cannot run code on load)."""
    if not path.is_file():
        raise TaskError(f"--task: no file {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except Exception as error:  # not a zip, truncated, object arrays (pickle refused) …
        raise TaskError(f"--task {path}: not a readable .npz file ({type(error).__name__}: {error})") from None


def task_identity(task: str) -> dict:
    """What identifies a task's data beyond its name: the SHA-256 of a ``.npz`` file's bytes
    (so that a resumed study notices a changed file); empty for other tasks."""
    path = pathlib.Path(task)
    if str(task).endswith(".npz") and path.is_file():
        return {"task_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    return {}
