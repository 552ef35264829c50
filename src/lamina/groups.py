"""Groups: a partition of the coefficient vector, one λ per part.

A :class:`Groups` object maps each of the ``n_features`` coefficients to exactly one of
``n_groups`` groups. Penalties and solvers receive λ as one value per group and use the
partition to expand it to one value per coefficient.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Sequence

import numpy as np

from lamina._validation import check_positive_int


@dataclass(frozen=True)
class Groups:
    """A partition of ``n_features`` coefficients into ``n_groups`` groups.

    Parameters
    ----------
    labels : ndarray of int, shape (n_features,)
        Group index (``0 .. n_groups-1``) of every coefficient.
    names : tuple of str, length n_groups
        A readable name per group (used in tables, plots and reports).

    Notes
    -----
    Build one with :meth:`from_labels`, :meth:`from_indices`, :meth:`contiguous`,
    :meth:`single` or :meth:`singletons`; the constructor itself only checks consistency.
    ``ptr`` and ``order`` give a CSR-like layout: the coefficients of group ``g`` are
    ``order[ptr[g]:ptr[g+1]]``, which is what the compiled solvers loop over.

    Examples
    --------
    >>> g = Groups.from_labels(["a", "a", "b", "c", "b"])
    >>> g.n_groups, g.sizes.tolist()
    (3, [2, 2, 1])
    >>> g.expand([1.0, 2.0, 3.0]).tolist()
    [1.0, 1.0, 2.0, 3.0, 2.0]
    """

    labels: np.ndarray
    names: tuple
    order: np.ndarray = field(init=False, repr=False, compare=False)
    ptr: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise TypeError("labels must be integers 0..n_groups-1; use Groups.from_labels for names")
        n_groups = len(self.names)
        if labels.min() < 0 or labels.max() >= n_groups:
            raise ValueError(f"labels must lie in 0..{n_groups - 1}, got range {labels.min()}..{labels.max()}")
        sizes = np.bincount(labels, minlength=n_groups)
        if np.any(sizes == 0):
            empty = [self.names[g] for g in np.flatnonzero(sizes == 0)[:5]]
            raise ValueError(f"every group must hold at least one coefficient; empty group(s): {empty}")
        labels = labels.astype(np.int64)
        labels.setflags(write=False)
        order = np.argsort(labels, kind="stable").astype(np.int64)
        ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "names", tuple(str(name) for name in self.names))
        object.__setattr__(self, "order", order)
        object.__setattr__(self, "ptr", ptr)

    # ----------------------------------------------------------------- builders
    @classmethod
    def from_labels(cls, labels: Sequence[Hashable]) -> "Groups":
        """One group per distinct label, in order of first appearance."""
        given, labels = labels, np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError(f"groups labels must be a non-empty 1-D sequence, got shape {labels.shape}")
        if labels.dtype.kind in "US" and not hasattr(given, "dtype"):
            # numpy turns [1, "1"] into strings: two distinct labels would become one group
            others = sorted({type(v).__name__ for v in given if not isinstance(v, (str, bytes))})
            if others:
                raise TypeError(f"groups labels must be of one sortable kind (all ints, or all strings), got "
                                f"str mixed with {others}")
        try:
            unique, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        except TypeError:
            raise TypeError(f"groups labels must be of one sortable kind (all ints, or all strings), got "
                            f"{sorted({type(v).__name__ for v in labels.tolist()})}") from None
        rank = np.empty(len(unique), dtype=np.int64)
        rank[np.argsort(first, kind="stable")] = np.arange(len(unique))
        names = tuple(str(unique[i]) for i in np.argsort(first, kind="stable"))
        return cls(rank[inverse.ravel()], names)

    @classmethod
    def from_indices(cls, indices: Sequence[Sequence[int]], n_features: int,
                     names: Sequence[str] | None = None) -> "Groups":
        """Groups given as index arrays that must partition ``range(n_features)``."""
        n_features = check_positive_int(n_features, "n_features")
        labels = np.full(n_features, -1, dtype=np.int64)
        for g, index in enumerate(indices):
            index = np.asarray(index)
            if index.ndim != 1:
                raise ValueError(f"groups[{g}] must be a 1-D array of indices, got shape {index.shape}")
            if index.size == 0:
                raise ValueError(f"groups[{g}] is empty; every group needs at least one index")
            if not np.issubdtype(index.dtype, np.integer):
                raise TypeError(f"groups[{g}] must hold integer indices, got dtype {index.dtype}")
            if index.min() < 0 or index.max() >= n_features:
                raise ValueError(
                    f"groups[{g}] has index out of range 0..{n_features - 1}: "
                    f"{index[(index < 0) | (index >= n_features)][:5].tolist()}"
                )
            if np.any(labels[index] >= 0) or len(np.unique(index)) != index.size:
                raise ValueError(f"groups[{g}] repeats an index already in a group; groups must not overlap")
            labels[index] = g
        if np.any(labels < 0):
            missing = np.flatnonzero(labels < 0)
            raise ValueError(f"coefficients {missing[:10].tolist()} belong to no group; groups must cover all")
        return cls(labels, _names(names, len(indices)))

    @classmethod
    def contiguous(cls, sizes: Sequence[int], names: Sequence[str] | None = None) -> "Groups":
        """Consecutive blocks of the given sizes (positive integers; 2.5, True or -1 are refused)."""
        if _ndim(sizes) != 1:
            raise TypeError(f"sizes must be a 1-D sequence of positive integers, got {sizes!r:.80}")
        if len(sizes) == 0:
            raise ValueError("sizes must hold at least one group size, got an empty sequence")
        sizes = [check_positive_int(size, f"sizes[{g}]") for g, size in enumerate(sizes)]
        labels = np.repeat(np.arange(len(sizes)), sizes)
        return cls(labels, _names(names, len(sizes)))

    @classmethod
    def single(cls, n_features: int) -> "Groups":
        """One group holding every coefficient (the usual single λ)."""
        n_features = check_positive_int(n_features, "n_features")
        return cls(np.zeros(n_features, dtype=np.int64), ("all",))

    @classmethod
    def singletons(cls, n_features: int) -> "Groups":
        """One group per coefficient (a λ per coefficient)."""
        n_features = check_positive_int(n_features, "n_features")
        return cls(np.arange(n_features), tuple(str(j) for j in range(n_features)))

    # ----------------------------------------------------------------- queries
    @property
    def n_features(self) -> int:
        return int(self.labels.shape[0])

    @property
    def n_groups(self) -> int:
        return len(self.names)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.ptr)

    def indices(self, g: int) -> np.ndarray:
        """Coefficient indices of group ``g``."""
        if not 0 <= int(g) < self.n_groups:
            raise IndexError(f"group index {g} out of range: {self.n_groups} groups")
        return self.order[self.ptr[g]:self.ptr[g + 1]]

    def __eq__(self, other) -> bool:
        """The same partition with the same names."""
        if not isinstance(other, Groups):
            return NotImplemented
        return np.array_equal(self.labels, other.labels) and tuple(self.names) == tuple(other.names)

    def __hash__(self) -> int:
        return hash((self.labels.tobytes(), tuple(self.names)))

    def expand(self, per_group) -> np.ndarray:
        """Per-group values → per-coefficient values, shape (n_features,)."""
        per_group = np.asarray(per_group, dtype=np.float64)
        if per_group.shape != (self.n_groups,):
            raise ValueError(f"expected one value per group ({self.n_groups}), got shape {per_group.shape}")
        return per_group[self.labels]

    def sum(self, per_coefficient) -> np.ndarray:
        """Sum per-coefficient values within each group, shape (n_groups,)."""
        return np.bincount(self.labels, weights=np.asarray(per_coefficient, dtype=np.float64),
                           minlength=self.n_groups)

    def norms(self, x) -> np.ndarray:
        """Euclidean norm of each group's block of ``x``, shape (n_groups,)."""
        return np.sqrt(self.sum(np.asarray(x) ** 2))


def _ndim(value) -> int:
    """np.ndim, or -1 for ragged nesting."""
    try:
        return int(np.ndim(value))
    except ValueError:
        return -1


def _names(names, n_groups: int) -> tuple:
    """The given group names, checked to be one per group, or g0, g1, …"""
    if names is None:
        return tuple(f"g{g}" for g in range(n_groups))
    if isinstance(names, str):
        raise TypeError(f"names must be a sequence of one name per group, got the string {names!r}")
    names = tuple(names)
    if len(names) != n_groups:
        raise ValueError(f"names must have one entry per group ({n_groups}), got {len(names)}")
    return names


def as_groups(groups, n_features: int, n_lam: int | None = None) -> Groups:
    """Normalize the ``groups`` argument of public functions.

    ``None`` means one group when λ is scalar and one group per coefficient when λ has
    ``n_features`` entries; a 1-D array of length ``n_features`` is read as labels; a list of
    index arrays as a partition; a :class:`Groups` is checked against ``n_features``.
    """
    if groups is None:
        if n_lam is None or n_lam == 1:
            return Groups.single(n_features)
        if n_lam == n_features:
            return Groups.singletons(n_features)
        raise ValueError(
            f"lam has {n_lam} values but groups is None; pass groups, or one λ "
            f"(scalar) or one λ per coefficient ({n_features})"
        )
    if isinstance(groups, Groups):
        result = groups
    elif isinstance(groups, (list, tuple)) and len(groups) > 0 and np.ndim(groups[0]) == 1:
        result = Groups.from_indices(groups, n_features)
    elif isinstance(groups, str):
        raise ValueError(f"groups must be a Groups, a label per coefficient ({n_features}) or a list of index "
                         f"arrays; got the string {groups!r} (column names or patterns go in a dict "
                         "{group: names}, with X a DataFrame)")
    else:
        labels = np.asarray(groups)
        if labels.ndim != 1 or labels.shape[0] != n_features:
            raise ValueError(
                f"groups must be a Groups, a label per coefficient ({n_features}) or a list of "
                f"index arrays; got shape {labels.shape}"
            )
        result = Groups.from_labels(groups if isinstance(groups, (list, tuple)) else labels)   # a list: its types
    if result.n_features != n_features:
        raise ValueError(f"groups cover {result.n_features} coefficients but the problem has {n_features}")
    repeated = sorted({name for name in result.names if result.names.count(name) > 1})
    if repeated:   # λ per group is reported by name: two groups of one name would collapse into one
        raise ValueError(f"groups: names must be distinct (λ is reported per name), got {repeated[:3]} more than once")
    return result
