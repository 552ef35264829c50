"""pandas helpers of the estimators: groups given by column names or patterns, tables.

A mapping ``{group name: columns}`` partitions the columns of a DataFrame; each value is a
column name, an ``fnmatch`` pattern (``"s*"``, ``"lag_?"``, ``"[ab]*"``) or a list of them.
Every column must end in exactly one group — a column named exactly wins over patterns of
other groups; a column matched by no group, or by two, is an error naming it (an explicit
partition, no silent catch-all group), and so is a name or pattern that matches no column.
"""
from __future__ import annotations

from fnmatch import fnmatchcase

import numpy as np

from lamina.groups import Groups


def groups_from_patterns(mapping: dict, feature_names) -> Groups:
    """:class:`Groups` over ``feature_names`` from ``{group: name, pattern or list of them}``.

    A column named exactly belongs to that group, whatever patterns of other groups match it
    (``"sex"`` below, though ``"s*"`` matches it too); the remaining columns go to the group
    whose pattern matches them. Errors: a column named exactly twice or matched by the
    patterns of two groups, a column matched by none, a name or pattern that matches nothing.

    Examples
    --------
    >>> g = groups_from_patterns({"demographics": ["age", "sex"], "serum": "s*"}, ["age", "sex", "s1", "s2"])
    >>> g.names, g.labels.tolist()
    (('demographics', 'serum'), [0, 0, 1, 1])
    """
    names = [str(name) for name in feature_names]
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError("groups: give a non-empty mapping {group name: column names or patterns}")
    entries = []
    for g, (group, patterns) in enumerate(mapping.items()):
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        if not patterns or not all(isinstance(p, str) for p in patterns):
            raise TypeError(f"groups[{group!r}] must be a column name, a pattern or a list of them; "
                            f"got {mapping[group]!r}")
        for pattern in patterns:
            # a column's own name is that column, even with [, * or ? in it (patsy's "x[0]")
            matched = [pattern] if pattern in names else [c for c in names if fnmatchcase(c, pattern)]
            if not matched:
                raise ValueError(f"groups[{group!r}]: {pattern!r} matches no column of X "
                                 f"(columns: {names[:10]}{' …' if len(names) > 10 else ''})")
            entries.append((g, pattern, matched))
    owner = {}
    for exact in (True, False):
        claimed = dict(owner)
        for g, pattern, matched in entries:
            if (pattern in names) != exact:
                continue
            for column in matched:
                if column in claimed and not exact:
                    continue                       # named exactly elsewhere: the name wins
                if owner.get(column, g) != g:
                    first = list(mapping)[owner[column]]
                    raise ValueError(f"groups: column {column!r} is matched by group {first!r} and by "
                                     f"group {list(mapping)[g]!r}; each column must belong to one group")
                owner[column] = g
    missing = [c for c in names if c not in owner]
    if missing:
        raise ValueError(f"groups: column(s) {missing[:10]} match no group; add them to a group "
                         "(e.g. {'other': [...]}): every column needs a λ")
    return Groups(np.array([owner[c] for c in names]), tuple(str(k) for k in mapping))


def uses_column_names(groups) -> bool:
    """Whether ``groups`` is a mapping of column names/patterns (needs X as a DataFrame)."""
    return isinstance(groups, dict)


def explain_frame(table: dict):
    """The per-group part of :meth:`explain`'s dict as a pandas DataFrame indexed by group;
    the tuning story (tuner, cv_score, curve, compute) goes to ``frame.attrs``."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("explain(as_frame=True) needs pandas; pip install pandas") from None
    columns = ["lam", "dof", "n_nonzero", "norm", "switched_off"]
    frame = pd.DataFrame({k: table[k] for k in columns}, index=pd.Index(table["group"], name="group"))
    frame.attrs = {k: v for k, v in table.items() if k not in columns and k != "group"}
    return frame
