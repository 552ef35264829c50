"""numba kernels of the histogram tree learner: binning helpers, histograms, split search,
depthwise growth of one tree, pruning, prediction. Compiled once and cached on disk (``cache=True``).

Node arrays of a tree (length ``2**(max_depth+1) − 1`` at most, node 0 the root): ``feature``
(−1 at a leaf), ``bin`` (left when the feature's bin ≤ bin), ``next_bin`` (the first bin above
``bin`` holding rows of the node: the threshold lies between the two), ``left``/``right`` (child ids, −1 at
a leaf), ``value`` (leaf output: learning rate × weight), ``depth``, ``gain`` (the split's loss
change Δ, xgboost's ``loss_chg``; 0 at a leaf), ``cover`` (Σh).

Histograms hold three channels per (feature, bin): Σg, Σh and the number of rows.
"""
from __future__ import annotations

import numpy as np
from numba import njit

#: smallest loss change Δ a split must exceed (xgboost's kRtEps)
MIN_GAIN = 1e-6
#: relative margin by which a split must beat an earlier one (gains equal up to rounding tie)
TIE = 1e-10
#: most float64 entries the histograms of one level may hold (256 MB); deeper, wider levels build
#: each node's histogram in one scratch buffer instead of subtracting from the parent's
HIST_BUDGET = 32 * 1024 * 1024
#: channels of a histogram: Σg, Σh, rows
CHANNELS = 3


@njit(cache=True, nogil=True)
def build_histogram(Xb, g, h, rows, start, stop, hist):
    """hist[f, b] = (Σ g, Σ h, count) over rows[start:stop] whose feature f falls in bin b."""
    hist[:] = 0.0
    n_features = Xb.shape[1]
    for k in range(start, stop):
        i = rows[k]
        gi = g[i]
        hi = h[i]
        for f in range(n_features):
            b = Xb[i, f]
            hist[f, b, 0] += gi
            hist[f, b, 1] += hi
            hist[f, b, 2] += 1.0


@njit(cache=True, nogil=True)
def leaf_value(G, H, lam, eta):
    """−η G/(H + λ), and 0 where H + λ is 0 (an empty node at λ = 0; xgboost's rule)."""
    denominator = H + lam
    return -eta * G / denominator if denominator > 0.0 else 0.0


@njit(cache=True, nogil=True)
def best_split(hist, n_bins, G, H, N, lam_parent, lam_child, min_child_weight):
    """(Δ, feature, bin, G_left, H_left) of the best split of a node of N rows, feature −1 when none.

    Δ = G_L²/(H_L+λ_c) + G_R²/(H_R+λ_c) − G²/(H+λ_p) (twice the objective's decrease before the
    leaf cost γ, xgboost's ``loss_chg``) must exceed 10⁻⁶ (``MIN_GAIN``); both children need at
    least one row and H ≥ min_child_weight, H > 0 (xgboost's rule: with λ = 0 and min_child_weight
    = 0 an empty child's G²/(H + λ) is 0/0). The row count matters where H_R = H − H_L is rounding
    noise of an empty child: with a smaller λ_c than λ_p such a split would have Δ > 0. Ties go to
    the lower feature, then the lower bin (as xgboost). Two candidates that cut the node's rows
    the same way (two features, or empty bins) have equal gains up to rounding, so a later
    candidate must win by a relative 10⁻¹⁰ (``TIE``).
    """
    parent = G * G / (H + lam_parent) if H + lam_parent > 0.0 else 0.0
    best_gain, best_feature, best_bin, best_GL, best_HL = MIN_GAIN, -1, -1, 0.0, 0.0
    for f in range(hist.shape[0]):
        GL = 0.0
        HL = 0.0
        NL = 0.0
        for b in range(n_bins[f] - 1):
            GL += hist[f, b, 0]
            HL += hist[f, b, 1]
            NL += hist[f, b, 2]
            HR = H - HL
            if NL < 1.0 or HL < min_child_weight or HL <= 0.0:
                continue
            if N - NL < 1.0 or HR < min_child_weight or HR <= 0.0:
                break
            GR = G - GL
            gain = GL * GL / (HL + lam_child) + GR * GR / (HR + lam_child) - parent
            if gain > best_gain * (1.0 + TIE):
                best_gain, best_feature, best_bin, best_GL, best_HL = gain, f, b, GL, HL
    return best_gain, best_feature, best_bin, best_GL, best_HL


@njit(cache=True, nogil=True)
def next_nonempty_bin(hist, n_bins, feature, split_bin):
    """First bin above ``split_bin`` of ``feature`` holding rows (bounded by the last bin)."""
    above = split_bin + 1
    while above < n_bins[feature] - 1 and hist[feature, above, 2] <= 0.0:
        above += 1
    return above


@njit(cache=True, nogil=True)
def partition(Xb, rows, start, stop, feature, split_bin, buffer):
    """Reorder rows[start:stop] so that rows with bin ≤ split_bin come first (stable); returns
    the first index of the right child."""
    n_left = start
    n_right = 0
    for k in range(start, stop):
        i = rows[k]
        if Xb[i, feature] <= split_bin:
            rows[n_left] = i
            n_left += 1
        else:
            buffer[n_right] = i
            n_right += 1
    for k in range(n_right):
        rows[n_left + k] = buffer[k]
    return n_left


@njit(cache=True, nogil=True)
def prune(gamma, n_nodes, feature, split_bin, next_bin, left, right, gain):
    """xgboost's pruner: bottom-up, a split whose two children are leaves and whose loss change
    Δ < γ becomes a leaf (its value, −η G/(H + λ_d) at its depth d, is already stored); its
    parent is then tried in turn. Children have larger ids than their parent, so one pass over
    the nodes in decreasing id order prunes as xgboost's repeated upward tries do."""
    for node in range(n_nodes - 1, -1, -1):
        a = left[node]
        if a >= 0 and left[a] < 0 and left[right[node]] < 0 and gain[node] < gamma:
            feature[node], split_bin[node], next_bin[node], left[node], right[node] = -1, -1, -1, -1, -1
            gain[node] = 0.0


@njit(cache=True, nogil=True)
def compact(n_nodes, feature, split_bin, next_bin, left, right, value, depth, gain, cover):
    """Drop the nodes below pruned splits; the kept ones keep their order (children after their
    parent, siblings side by side) with ids renumbered. Returns the number of nodes kept."""
    new_id = np.full(n_nodes, -1, dtype=np.int64)
    new_id[0] = 0
    kept = 1
    for node in range(n_nodes):                      # parents come before their children
        if new_id[node] >= 0 and left[node] >= 0:
            new_id[left[node]], new_id[right[node]] = kept, kept + 1
            kept += 2
    for node in range(n_nodes):                      # new_id[node] ≤ node: a forward in-place copy
        j = new_id[node]
        if j < 0:
            continue
        feature[j], split_bin[j], next_bin[j] = feature[node], split_bin[node], next_bin[node]
        value[j], depth[j], gain[j], cover[j] = value[node], depth[node], gain[node], cover[node]
        a, b = left[node], right[node]
        left[j] = new_id[a] if a >= 0 else -1
        right[j] = new_id[b] if b >= 0 else -1
    return kept


@njit(cache=True, nogil=True)
def add_leaves(rows, node_start, node_stop, left, right, value, n_nodes, F):
    """F[i] += value of the leaf holding row i (nodes below a leaf are never reached)."""
    reached = np.zeros(n_nodes, dtype=np.bool_)
    reached[0] = True
    for node in range(n_nodes):
        if not reached[node]:
            continue
        if left[node] >= 0:
            reached[left[node]] = True
            reached[right[node]] = True
            continue
        for j in range(node_start[node], node_stop[node]):
            F[rows[j]] += value[node]


@njit(cache=True, nogil=True)
def grow_tree(Xb, g, h, n_bins, lam_depth, gamma, min_child_weight, max_depth, eta, F,
              feature, split_bin, next_bin, left, right, value, depth, gain, cover, hist_budget=HIST_BUDGET):
    """Grow one tree depthwise on binned data, prune it, and add its output to F (training predictions).

    ``lam_depth[k]`` is the λ of a leaf at depth k (k = 0 … max_depth; the root-only tree uses
    ``lam_depth[0]``); a leaf's value is −η G/(H + λ_k). Nodes split whenever a split has Δ > 0
    (:func:`best_split`); then :func:`prune` undoes, bottom-up, the splits with Δ < γ (xgboost's
    ``gamma`` = ``min_split_loss``, exact method). A level's children get their histograms
    by building the smaller child's and subtracting it from the parent's, while they fit in
    ``hist_budget`` float64 entries; past that, each node's histogram is built from its rows in
    one scratch buffer (same trees, up to twice the histogram work on those levels). Returns
    the number of nodes.
    """
    n, n_features = Xb.shape
    n_hist_bins = 0
    for f in range(n_features):
        n_hist_bins = max(n_hist_bins, n_bins[f])
    rows = np.arange(n).astype(np.int32)
    buffer = np.empty(n, dtype=np.int32)
    node_start = np.empty(value.shape[0], dtype=np.int64)
    node_stop = np.empty(value.shape[0], dtype=np.int64)
    node_G = np.empty(value.shape[0])
    node_H = np.empty(value.shape[0])
    G = 0.0
    H = 0.0
    for i in range(n):
        G += g[i]
        H += h[i]
    node_start[0], node_stop[0], node_G[0], node_H[0] = 0, n, G, H
    depth[0] = 0
    level = np.zeros(1, dtype=np.int64)                      # node ids of the current level
    hists = np.empty((1, n_features, n_hist_bins, CHANNELS))
    build_histogram(Xb, g, h, rows, 0, n, hists[0])
    direct = False                       # True once levels build each node's histogram in hists[0]
    n_nodes = 1
    for d in range(max_depth + 1):
        children = np.empty(2 * level.shape[0], dtype=np.int64)
        n_children = 0
        for k in range(level.shape[0]):
            node = level[k]
            G, H = node_G[node], node_H[node]
            cover[node] = H
            feature[node], left[node], right[node], gain[node] = -1, -1, -1, 0.0
            split_bin[node], next_bin[node] = -1, -1
            value[node] = leaf_value(G, H, lam_depth[d], eta)
            found, b, best, GL, HL = -1, -1, 0.0, 0.0, 0.0
            slot = 0 if direct else k
            if d < max_depth:
                if direct:
                    build_histogram(Xb, g, h, rows, node_start[node], node_stop[node], hists[0])
                best, found, b, GL, HL = best_split(hists[slot], n_bins, G, H, node_stop[node] - node_start[node],
                                                    lam_depth[d], lam_depth[d + 1], min_child_weight)
            if found < 0:
                continue
            mid = partition(Xb, rows, node_start[node], node_stop[node], found, b, buffer)
            feature[node], split_bin[node], gain[node] = found, b, best
            next_bin[node] = next_nonempty_bin(hists[slot], n_bins, found, b)
            left[node], right[node] = n_nodes, n_nodes + 1
            for child, s, e, Gc, Hc in ((n_nodes, node_start[node], mid, GL, HL),
                                        (n_nodes + 1, mid, node_stop[node], G - GL, H - HL)):
                node_start[child], node_stop[child], node_G[child], node_H[child] = s, e, Gc, Hc
                depth[child] = d + 1
                children[n_children] = child
                n_children += 1
            n_nodes += 2
        if n_children == 0 or d == max_depth:
            break
        parents = level
        level = children[:n_children]
        if d + 1 == max_depth or direct:     # only leaves next, or histograms built node by node
            continue
        if n_children * n_features * n_hist_bins * CHANNELS > hist_budget:
            direct = True
            continue
        # children's histograms: build the smaller child's, subtract it from the parent's
        new_hists = np.empty((n_children, n_features, n_hist_bins, CHANNELS))
        parent_slot = 0
        for k in range(0, n_children, 2):
            a, b2 = children[k], children[k + 1]
            while left[parents[parent_slot]] != a:
                parent_slot += 1
            small, large = (k, k + 1) if node_stop[a] - node_start[a] <= node_stop[b2] - node_start[b2] else (k + 1, k)
            small_node = children[small]
            build_histogram(Xb, g, h, rows, node_start[small_node], node_stop[small_node], new_hists[small])
            new_hists[large] = hists[parent_slot] - new_hists[small]
        hists = new_hists
    if gamma > 0.0:
        prune(gamma, n_nodes, feature, split_bin, next_bin, left, right, gain)
    add_leaves(rows, node_start, node_stop, left, right, value, n_nodes, F)
    return compact(n_nodes, feature, split_bin, next_bin, left, right, value, depth, gain, cover)


@njit(cache=True, nogil=True, inline="always")
def _leaf(X, i, base, feature, threshold, left, right):
    """Node id (local to the tree starting at ``base``) of the leaf row i reaches.
    A row goes left when x[feature] < threshold (xgboost's rule)."""
    node = 0
    while left[base + node] >= 0:
        if X[i, feature[base + node]] < threshold[base + node]:
            node = left[base + node]
        else:
            node = right[base + node]
    return node


@njit(cache=True, nogil=True)
def apply_trees(X, feature, threshold, left, right, offsets):
    """Leaf reached by each row in each tree: (n, n_trees) node ids local to each tree."""
    n_trees = offsets.shape[0] - 1
    leaves = np.empty((X.shape[0], n_trees), dtype=np.int32)
    for i in range(X.shape[0]):
        for t in range(n_trees):
            leaves[i, t] = _leaf(X, i, offsets[t], feature, threshold, left, right)
    return leaves


@njit(cache=True, nogil=True)
def predict_trees(X, feature, threshold, left, right, value, offsets, tree_class, out):
    """out[i, tree_class[t]] += value of the leaf row i reaches in tree t."""
    n_trees = offsets.shape[0] - 1
    for i in range(X.shape[0]):
        for t in range(n_trees):
            base = offsets[t]
            out[i, tree_class[t]] += value[base + _leaf(X, i, base, feature, threshold, left, right)]
