"""Warnings attributed to the user's code.

``warnings.warn(..., stacklevel=k)`` names the line k frames up, which is the user's call only
for the one call chain the author had in mind: the same warning reached through another entry
point (a study, a window of a large image, a scikit-learn meta-estimator) would name a line
inside lamina, and a filter on the user's module would miss it. :func:`warn` names the first
frame outside this package instead (what ``skip_file_prefixes`` does from Python 3.12 on, and
pandas' ``find_stack_level``).
"""
from __future__ import annotations

import inspect
import os
import warnings

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _inside_lamina(frame) -> bool:
    return os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` attributed to the first caller outside lamina."""
    frame, level = inspect.currentframe().f_back, 2   # level 2: the lamina function calling warn
    while frame is not None and _inside_lamina(frame):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
