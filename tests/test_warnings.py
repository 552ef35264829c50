"""Warnings name the user's line, whatever the call chain inside lamina (lamina._warnings)."""
import warnings

import numpy as np
import pytest

from lamina._warnings import warn
from lamina.inverse import reconstruct


def _record(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return caught


def test_a_warning_from_reconstruct_names_this_file_through_either_entry():
    """Three observed samples: interpolated with a warning, raised deep inside reconstruct; the
    same warning reached through a window of a large image (another chain of lamina calls)."""
    mask = np.zeros(64, bool)
    mask[[3, 30, 60]] = True
    caught = _record(lambda: reconstruct(np.arange(64.0), mask))
    assert [w.filename for w in caught if "observed sample" in str(w.message)] == [__file__]
    image_mask = np.zeros((80, 80), bool)
    image_mask[[1, 40, 45, 78], [2, 39, 44, 77]] = True
    caught = _record(lambda: reconstruct(np.ones((80, 80)), image_mask, select_window=32))
    assert [w.filename for w in caught if "observed sample" in str(w.message)] == [__file__]


def test_warn_outside_lamina_names_the_caller():
    with pytest.warns(RuntimeWarning, match="called from a test") as caught:
        warn("called from a test", RuntimeWarning)
    assert caught[0].filename == __file__
