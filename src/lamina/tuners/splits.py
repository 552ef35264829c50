"""The fold splitter of every family: scikit-learn's ``check_cv`` behind one function.

``cv`` is an int or anything :func:`sklearn.model_selection.check_cv` accepts (a splitter such
as KFold, GroupKFold, TimeSeriesSplit, or an iterable of (train, validation) index pairs):

* an int K ≥ 2 is a shuffled K-fold: scikit-learn's ``KFold(K)`` on the permutation of the rows
  drawn by ``numpy.random.default_rng(seed)`` (fold k holds out positions
  [k·n/K, (k+1)·n/K) of it; the first n mod K folds one row more), so a seed gives the same
  folds in every family and on every platform;
* an int 1 is one hold-out split: the last ``val_share`` of that permutation (rounded);
* anything else goes through ``check_cv`` (``classifier=True`` makes an int-free check_cv pick
  stratified folds), and ``cv_groups`` reaches the splitter's ``split``.

``cv_groups`` given to folds that ignore them — an int, (train, validation) pairs, or a splitter
that scikit-learn says ignores them (its "groups parameter is ignored" warning) — is refused
with a ValueError: grouped labels mean "keep each group on one side", and folds that mix them
would choose λ on leaked validation data. (scikit-learn only warns; here the tuning result
would be silently wrong, so it is an error.)

>>> [v.tolist() for _, v in kfold_indices(7, 3, seed=0)]
[[2, 3, 4], [5, 6], [0, 1]]
"""
from __future__ import annotations

import warnings

import numpy as np


#: what scikit-learn's splitters that take no groups (KFold, ShuffleSplit, TimeSeriesSplit …) warn
#: when given some
_GROUPS_IGNORED = "groups parameter is ignored"


def groups_ignored_message(folds: str) -> str:
    """The error for ``cv_groups`` given to folds that would not use them (``folds`` names them)."""
    return (f"cv_groups was given, but {folds} does not use sample groups: its folds would put samples "
            "of one group on both sides of a split, so cv_groups is refused rather than silently ignored; "
            "pass a splitter that takes groups as cv= (GroupKFold, LeaveOneGroupOut, GroupShuffleSplit, "
            "StratifiedGroupKFold …), or drop cv_groups")


class TooFewSamples(ValueError):
    """Fewer rows than ``n_folds`` folds need (``needed``); estimators tell it in their own terms."""

    def __init__(self, n_folds: int, needed: int, n: int):
        super().__init__(f"cv={n_folds} needs at least {needed} samples, got {n}")
        self.n_folds, self.needed, self.n = n_folds, needed, n


def _check_int(cv, name: str = "cv") -> int:
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 1:
        raise ValueError(f"{name} must be an integer >= 1 (1 = one hold-out split) or a scikit-learn "
                         f"splitter, got {cv!r}")
    return int(cv)


def kfold_indices(n: int, n_folds: int, seed: int = 0, *, val_share: float = 0.2,
                  min_rows: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) index pairs, sorted, of a shuffled K-fold (module docstring);
    ``n_folds=1`` holds out ``val_share`` of the rows. ``min_rows`` (default max(2K, 5)): fewer
    rows are refused (K-fold with one row per fold is allowed by passing ``min_rows=K``)."""
    from sklearn.model_selection import KFold

    n_folds = _check_int(n_folds)
    needed = max(2 * n_folds, 5) if min_rows is None else int(min_rows)
    if n < needed:
        raise TooFewSamples(n_folds, needed, n)
    order = np.random.default_rng(seed).permutation(n)
    if n_folds == 1:
        cut = n - max(1, int(round(val_share * n)))
        return [(np.sort(order[:cut]), np.sort(order[cut:]))]
    return [(np.sort(order[train]), np.sort(order[val])) for train, val in KFold(n_folds).split(order)]


def cv_splits(X, y, cv, seed: int = 0, cv_groups=None, classifier: bool = False, *, val_share: float = 0.2,
              min_rows: int | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, validation) index pairs of ``cv`` over the rows of X (module docstring):
    an int is :func:`kfold_indices`, anything else goes through scikit-learn's ``check_cv``;
    ``cv_groups`` (one label per sample) reaches ``split`` (GroupKFold and friends need it)."""
    n = X.shape[0]
    if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
        if cv_groups is not None:
            raise ValueError(groups_ignored_message(f"cv={cv!r} (a shuffled K-fold, also the default when cv "
                                                    "is not given)"))
        return kfold_indices(n, cv, seed, val_share=val_share, min_rows=min_rows)
    from sklearn.model_selection import check_cv
    try:
        splitter = check_cv(cv, y, classifier=classifier)
    except (TypeError, ValueError) as error:
        raise ValueError(f"cv must be an int, a scikit-learn splitter or an iterable of "
                         f"(train, validation) index pairs; got {cv!r} ({error})") from None
    if cv_groups is not None and type(splitter).__name__ == "_CVIterableWrapper":
        raise ValueError(groups_ignored_message("cv given as (train, validation) pairs"))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            splits = [(np.asarray(train), np.asarray(val)) for train, val in splitter.split(X, y, cv_groups)]
    except ValueError as error:
        raise ValueError(f"cv={cv!r} could not split the data: {error} (splitters that need sample "
                         "groups, such as GroupKFold, take them from fit(..., cv_groups=labels))") from None
    for record in caught:
        if cv_groups is not None and _GROUPS_IGNORED in str(record.message):
            raise ValueError(groups_ignored_message(f"cv={cv!r}"))
        warnings.warn(record.message, record.category, stacklevel=2)   # the splitter's other warnings, as they were
    if not splits or any(train.size == 0 or val.size == 0 for train, val in splits):
        raise ValueError(f"cv={cv!r} gave an empty training or validation split")
    return splits
