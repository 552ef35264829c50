"""Whether the unpenalized features separate the classes of a logistic training set — the final
fit's and the tuners' folds'.

Where the coefficients left free by the penalty (weight 0 or λ_g = 0; the intercept alone is
not enough) weakly separate the classes, the objective decreases without end along them and has
no finite minimizer (:mod:`lamina.solvers.separation`, one linear program). The estimator checks
its final fit (:func:`separating_features`); a fold's training rows can be separable where the
whole data are not (fewer rows, the same free features), and then that fold's fits — hence its
held-out losses and the λ chosen from them — are those of a problem without a solution.
:func:`warn_if_folds_separate` checks every fold once, where the folds are made, and says so in
one warning ("in k of K folds …"), not one per fold or per fit.

The folds are checked for every λ > 0 at once: their free coefficients are those of weight 0
(λ = 1 for every group); a λ_g = 0 visited by a tuner is not checked. Classes absent from a
fold's training rows are left out of its check (an intercept alone sends their scores to −∞,
which is the fold's lack of a class, not a separation by the free features).
"""
from __future__ import annotations

import numpy as np

from lamina._warnings import warn
from lamina.solvers.separation import SeparationWarning, free_columns_separate, unpenalized_columns
from lamina.tuners.linear_data import Loss, TrainingSet


def separating_features(train: TrainingSet, lam, *, present_only: bool = False) -> int:
    """How many unpenalized features (the intercept not counted) separate the classes of
    ``train`` at λ (:mod:`lamina.solvers.separation`); 0 where they do not, or none are free.
    ``present_only``: the classes absent from the training rows left out (module docstring)."""
    columns = unpenalized_columns(train.A, train.penalty, train.full_lam(lam), train.groups, train.n_classes,
                                  train.augmented)
    if columns is None:
        return 0
    codes, n_classes = train.b, max(2, train.n_classes)
    if present_only:
        codes, n_classes = _present_classes(codes, train.sample_weight)
        if n_classes < 2:
            return 0
    if not free_columns_separate(columns, codes, n_classes, train.sample_weight):
        return 0
    return columns.shape[1] - int(train.augmented)


def _present_classes(codes, sample_weight) -> tuple[np.ndarray, int]:
    """(the codes renumbered 0 … K′−1 over the K′ classes of the rows of weight > 0, K′); a row of
    weight 0 gets some code in that range (the separation check drops it)."""
    kept = np.ones(codes.size, bool) if sample_weight is None else np.asarray(sample_weight) > 0
    present = np.unique(codes[kept])
    return np.minimum(np.searchsorted(present, codes), max(present.size - 1, 0)), present.size


def warn_if_folds_separate(folds) -> int:
    """The number k of ``folds`` (:class:`~lamina.tuners.linear_data.Fold`) whose training rows
    the unpenalized features separate, with one :class:`~lamina.solvers.separation.SeparationWarning`
    where k > 0; squared-loss folds are not checked (0)."""
    if not folds or folds[0].train.spec.loss is Loss.SQUARED:
        return 0
    counts = [separating_features(fold.train, np.ones(fold.train.spec.groups.n_groups), present_only=True)
              for fold in folds]
    separated = sum(count > 0 for count in counts)
    if separated:
        warn(f"in {separated} of {len(folds)} cross-validation folds the unpenalized features ({max(counts)} with "
             "weight 0) separate the classes of the training rows: those folds' fits have no finite optimum "
             "(their coefficients grow with max_iter and tol), so their held-out losses, and the λ chosen from "
             "them, are unreliable; penalize those features (a weight > 0), drop them, or use fewer folds",
             SeparationWarning)
    return separated
