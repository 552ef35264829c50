"""Input checks shared by every public entry point.

Each check raises ``ValueError``/``TypeError`` naming the argument and what was expected,
so that bad input fails at the boundary instead of deep inside a solver.
"""
from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp


def _all_finite(array: np.ndarray) -> bool:
    """True when every entry is finite, in one pass and without a boolean temporary.

    A NaN or inf anywhere makes the sum NaN or inf; a finite sum therefore proves the array
    finite. Only when the sum is not finite (bad entries, or an overflowing sum of huge
    values) does the exact, allocating test run.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(array)):
            return True
    return bool(np.all(np.isfinite(array)))


def parse_choice(enum, value, name: str):
    """``enum(value)``, or a ValueError naming the argument and listing the accepted values.

    >>> from lamina.api import Solver
    >>> parse_choice(Solver, "cd", "solver").value
    'cd'
    """
    try:
        return enum(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in enum)
        raise ValueError(f"{name} must be one of {choices}; got {value!r}") from None


def check_real_dtype(value, name: str) -> None:
    """Refuse complex data (casting to float would drop the imaginary part without a word)."""
    dtype = getattr(value, "dtype", None)
    try:
        complex_data = dtype is not None and np.dtype(dtype).kind == "c"
    except TypeError:  # a dtype numpy does not know (torch tensors)
        complex_data = bool(getattr(value, "is_complex", lambda: False)())
    if complex_data:
        raise TypeError(f"{name} holds complex numbers; complex data is not supported "
                        f"(stack the real and imaginary parts as real unknowns instead)")


def check_finite_array(value, name: str, ndim: int | None = None) -> np.ndarray:
    """Return ``value`` as a float64 ndarray, refusing complex data, NaN/inf and wrong dimensionality."""
    if sp.issparse(value):
        if ndim is not None and ndim != 2:
            raise TypeError(f"{name} must be a dense {ndim}-dimensional array, got a scipy.sparse matrix "
                            f"of shape {value.shape} (convert it with .toarray().ravel())")
        check_real_dtype(value, name)
        data = value.data
        if not _all_finite(data):
            raise ValueError(f"{name} contains NaN or inf values; expected finite numbers")
        return value
    if not hasattr(value, "dtype"):
        try:
            value = np.asarray(value)
        except (TypeError, ValueError) as error:
            raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}") from error
    check_real_dtype(value, name)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__}") from error
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {array.shape}")
    if not _all_finite(array):
        n_bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} contains {n_bad} NaN or inf value(s); expected finite numbers")
    return array


def check_bool(value, name: str) -> bool:
    """Return ``value`` as bool, refusing anything but True or False (``"no"`` would read as True)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_positive_int(value, name: str, minimum: int = 1) -> int:
    """Return ``value`` as int, refusing non-integers and values below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_positive_float(value, name: str, strict: bool = True) -> float:
    """Return ``value`` as float, refusing NaN/inf and non-positive (or negative) values."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or (value <= 0 if strict else value < 0):
        expected = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be finite and {expected}, got {value}")
    return value


def check_lam_values(lam, name: str = "lam") -> np.ndarray:
    """λ as a 0-d or 1-d float array of real numbers, before its length is known.

    Refuses what is not a number or a sequence of numbers — None, strings (even "0.1"),
    dicts, booleans, complex values — with one message naming the argument.

    >>> check_lam_values([0.5, 1]).tolist()
    [0.5, 1.0]
    """
    message = f"{name} must be a non-negative number or one per group (got {lam!r:.80})"
    if lam is None or isinstance(lam, (str, bytes, bool, dict)):
        raise TypeError(message)
    try:
        raw = np.asarray(lam)
    except (TypeError, ValueError):
        raise TypeError(message) from None
    if raw.dtype.kind not in "iuf":
        raise TypeError(message)
    return raw.astype(np.float64)


def check_lam(lam, n_groups: int, name: str = "lam") -> np.ndarray:
    """Return λ as an array of one non-negative finite value per group.

    A scalar is broadcast to every group; an array must have exactly ``n_groups`` entries.
    """
    lam_array = check_lam_values(lam, name)
    if lam_array.ndim == 0:
        lam_array = np.full(n_groups, float(lam_array))
    if lam_array.ndim != 1 or lam_array.shape[0] != n_groups:
        raise ValueError(
            f"{name} must be a scalar or have one value per group ({n_groups}), "
            f"got shape {np.shape(lam)}"
        )
    if not np.all(np.isfinite(lam_array)):
        raise ValueError(f"{name} contains NaN or inf; expected finite values >= 0")
    if np.any(lam_array < 0):
        bad = np.flatnonzero(lam_array < 0)
        raise ValueError(f"{name} must be >= 0, got negative value(s) at group(s) {bad.tolist()[:10]}")
    return lam_array


def check_multipliers(multipliers, name: str = "multipliers") -> np.ndarray:
    """The grid of multipliers t (λ = t·direction) as a non-empty 1-D float array of finite values
    ≥ 0; the error quotes the values as given (before any sorting or rescaling by a fold's share).

    >>> check_multipliers([2, 0.5]).tolist()
    [2.0, 0.5]
    """
    message = f"{name} must be a non-empty 1-D sequence of finite values >= 0, got {multipliers!r:.200}"
    try:
        values = np.asarray(multipliers, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(message)
    return values


def check_weights(weights, size: int, name: str = "weights") -> np.ndarray:
    """Return penalty factors: ``size`` finite values >= 0 (0 means unpenalized)."""
    if weights is None:
        return np.ones(size)
    weights = check_finite_array(weights, name, ndim=1)
    if weights.shape[0] != size:
        raise ValueError(f"{name} must have {size} entries, got {weights.shape[0]}")
    if np.any(weights < 0):
        raise ValueError(f"{name} must be >= 0 (0 = unpenalized), got a negative entry")
    return weights


def check_sample_weight(sample_weight, n_samples: int, name: str = "sample_weight") -> np.ndarray | None:
    """Return sample weights as ``n_samples`` finite values >= 0 with a positive sum (a copy),
    or None when none were given."""
    if sample_weight is None:
        return None
    weight = np.array(sample_weight, dtype=np.float64) if not np.isscalar(sample_weight) else (
        np.full(n_samples, float(sample_weight)))
    if weight.ndim != 1 or weight.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape ({n_samples},), one weight per sample; got {weight.shape}")
    if not _all_finite(weight):
        raise ValueError(f"{name} contains NaN or inf; expected finite weights >= 0")
    if np.any(weight < 0):
        raise ValueError(f"{name} must be >= 0, got a negative weight")
    if not np.any(weight > 0):
        raise ValueError(f"{name} is zero everywhere; at least one sample needs a positive weight")
    return weight
