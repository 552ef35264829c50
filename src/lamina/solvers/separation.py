"""Whether the unpenalized coefficients alone separate the classes of a logistic fit.

The loss Σ_i s_i [logsumexp(z_i) − z_{i,y_i}] decreases along a direction V of the coefficients
(shape (p, K), Z = AV) exactly when V weakly separates the classes: every margin
m_ik = (AV)_{i,y_i} − (AV)_{i,k} ≥ 0 (k ≠ y_i, s_i > 0) and one of them > 0. When such a V uses
only unpenalized coefficients (weights 0, λ = 0), the penalty does not grow along it either: the
objective decreases forever, it has no minimizer, and a solver returns ever larger coefficients
with vanishing gradients — which its stopping rule (a gradient, a violation) can read as converged.

:func:`free_columns_separate` decides it by one linear program over the free columns A_F:
maximize Σ m_ik subject to 0 ≤ m_ik ≤ 1; the optimum is 0 without such a direction and at least 1
with one (scale V until its largest margin is 1), so the test has no tolerance to tune. Binary
fits are the case K = 2.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog

from lamina.solvers.base import ConvergenceWarning
from lamina.solvers.free_coefficients import dense_columns
from lamina.solvers.multinomial_gap import free_features

#: the largest linear program tried: n(K − 1) margins × |F|·K coefficients (entries of its
#: constraint matrix); above it the check is skipped
MAX_LP_ENTRIES = 5_000_000


class SeparationWarning(ConvergenceWarning):
    """The unpenalized features separate the classes: the fit has no finite optimum."""


def unpenalized_columns(A, penalty, lam, groups, n_classes: int, intercept: bool) -> np.ndarray | None:
    """The columns of A whose coefficients the penalty leaves all free, other than the intercept's
    (which alone cannot separate two classes that are both present), dense; None where there are
    none or the penalty cannot say."""
    found = free_features(penalty, lam, groups, n_classes)
    if found is None:
        return None
    features = found[0]
    if intercept:
        features = features[features != A.shape[1] - 1]
        features = np.append(features, A.shape[1] - 1) if features.size else features
    return dense_columns(A, features) if features.size else None


def free_columns_separate(columns, codes, n_classes: int, sample_weight=None) -> bool:
    """Whether some V over ``columns`` (n × |F|) weakly separates the classes ``codes`` (module
    docstring); False where the linear program is larger than :data:`MAX_LP_ENTRIES` or fails."""
    codes = np.asarray(codes, dtype=np.int64)
    keep = np.ones(codes.size, bool) if sample_weight is None else np.asarray(sample_weight) > 0
    columns, codes = np.asarray(columns, dtype=np.float64)[keep], codes[keep]
    n, n_free = columns.shape
    if n == 0 or n * (n_classes - 1) * n_free * n_classes > MAX_LP_ENTRIES:
        return False
    norms = np.linalg.norm(columns, axis=0)
    columns = columns / np.where(norms > 0, norms, 1.0)
    margins = _margin_matrix(columns, codes, n_classes)
    bounds = sp.vstack([-margins, margins]).tocsr()
    rhs = np.concatenate([np.zeros(margins.shape[0]), np.ones(margins.shape[0])])
    cost = -np.asarray(margins.sum(axis=0)).ravel()
    solution = linprog(cost, A_ub=bounds, b_ub=rhs, bounds=(None, None), method="highs")
    return bool(solution.status == 0 and -solution.fun >= 0.5)


def _margin_matrix(columns, codes, n_classes: int):
    """Rows m_ik as linear functions of vec(V) (V of shape (|F|, K), C order), one per sample i and
    class k ≠ y_i: a_i ⊗ (e_{y_i} − e_k)."""
    n, n_free = columns.shape
    sample, other = np.repeat(np.arange(n), n_classes), np.tile(np.arange(n_classes), n)
    keep = other != codes[sample]   # (i, k), k ≠ y_i, in the order of i then k
    sample, other = sample[keep], other[keep]
    signs = np.zeros((sample.size, n_classes))
    signs[np.arange(sample.size), codes[sample]] = 1.0
    signs[np.arange(sample.size), other] = -1.0
    return sp.csr_matrix((columns[sample][:, :, None] * signs[:, None, :]).reshape(sample.size, n_free * n_classes))


def separation_message(n_features: int, intercept: bool) -> str:
    """The warning's text: ``n_features`` unpenalized features (the intercept not counted)."""
    return (f"the unpenalized features ({n_features} with weight 0 or λ = 0{', with the intercept' if intercept else ''}) "
            "separate the classes: the objective decreases without end along them, so no finite optimum exists and the "
            "coefficients returned grow with max_iter and tol (result_.converged is False); penalize those "
            "features (a weight > 0) or drop them")
