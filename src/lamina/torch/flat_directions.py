"""The flat directions of log δ from a model's rescaling symmetries: linear algebra for
:func:`lamina.torch.identifiability` (which finds the symmetries).

A symmetry found by the probe is a move of the log-scales of some tensors (+a for the tensors
scaled by c^a, −b for those scaled by 1/c^b; a = b = 1 but where a weight is applied twice). A
direction v of log δ (one coordinate per regularized group) is flat when the log-scale move it
makes — v_g on every tensor of group g, ``P v`` with P the group-to-tensor incidence matrix —
lies in the span of the moves.
"""
from __future__ import annotations

import numpy as np


def flat_directions(reg, moves, fixed) -> tuple[np.ndarray, np.ndarray]:
    """(flat, identified): orthonormal bases in log δ of the regularized groups ``reg``. A move
    that touches a fixed tensor (frozen, or pulled to a prior mean) is none; one that shrinks
    regularized tensors only (the others it moves unregularized) drives their penalty to 0, so
    each of them is flat; any other is flat as it is."""
    tensors = [n for g in reg for n in g.param_names]
    index = {n: i for i, n in enumerate(tensors)}
    rows = []
    for up, down, *power in moves:   # (up, down) or (up, down, (a, b))
        if set(up) & fixed or set(down) & fixed:
            continue
        a, b = power[0] if power else (1, 1)
        row = np.zeros(len(tensors))
        for n, sign in [(n, float(a)) for n in up] + [(n, -float(b)) for n in down]:
            if n in index:
                row[index[n]] = sign
        if not row.any():
            continue
        if (row >= 0).all() or (row <= 0).all():
            rows.extend(np.eye(len(tensors))[row != 0])
        else:
            rows.append(row)
    groups_to_tensors = np.zeros((len(tensors), len(reg)))
    for j, g in enumerate(reg):
        for n in g.param_names:
            groups_to_tensors[index[n], j] = 1.0
    return _flat_groups(np.array(rows).reshape(-1, len(tensors)), groups_to_tensors)


def _flat_groups(rows, groups_to_tensors):
    """Orthonormal bases of {v : P v ∈ span(rows)} (P = ``groups_to_tensors``) and of its complement."""
    n = groups_to_tensors.shape[1]
    basis, _ = split_space(rows, rows.shape[1])
    off = groups_to_tensors - basis.T @ (basis @ groups_to_tensors)
    identified, flat = split_space(off, n)
    return flat, identified


def split_space(rows, n):
    """Orthonormal bases of span(rows) and of its orthogonal complement in ℝⁿ."""
    if rows.shape[0] == 0:
        return np.zeros((0, n)), np.eye(n)
    _, s, vt = np.linalg.svd(rows)
    rank = int(np.sum(s > 1e-10 * max(1.0, s[0])))
    return vt[:rank], vt[rank:]


def chains(pairs) -> list[tuple]:
    """Connected components of the pair graph, members in first-seen order."""
    parent = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    order = []
    for g, h in pairs:
        for n in (g, h):
            if n not in order:
                order.append(n)
        parent[root(g)] = root(h)
    components: dict = {}
    for n in order:
        components.setdefault(root(n), []).append(n)
    return [tuple(c) for c in components.values()]
