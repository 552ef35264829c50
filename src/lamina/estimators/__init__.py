"""scikit-learn estimators with a λ per group of features.

Objective (scikit-learn's convention, n samples):
    1/(2n) ‖y − Xw − w₀‖² + Σ_g λ_g R(w_g)
which is n⁻¹ times the operator form ½‖Xw − y‖² + Σ_g (n λ_g) R(w_g) that
:func:`lamina.solve` minimizes. ``lam`` is a scalar or one value per group (None: a
scale-aware default, 1 % of λ_max); ``groups`` a label per feature, a list of index arrays, a
:class:`~lamina.Groups` or, for a pandas DataFrame, ``{name: column names or patterns}``;
``weights`` the penalty factors per feature (0 = unpenalized), glmnet's ``penalty.factor``.
``fit`` takes ``sample_weight`` (integer weights = repeated rows).

``lam="auto"`` tunes one λ per group first (``tuner=``: "evidence", "hypergradient", "cv",
"optuna", see :mod:`lamina.tuners.linear`, the generic "grid", "search", "descent" of
:mod:`lamina.tuners.search`, or any tuner object — ``lamina.tuners.available("linear")``;
``cv=`` an int or any scikit-learn splitter), then
fits on all the data; ``lam_`` holds the λ per group, ``tuning_`` the tuner's
:class:`~lamina.tuners.TuneResult` and ``explain()`` a per-group table (λ, effective degrees of
freedom, switched-off flag, held-out curve; ``explain(as_frame=True)``: a DataFrame).

Every estimator passes scikit-learn's ``check_estimator`` with its default parameters. With
``lam="auto"`` the two sample-weight equivalence checks (integer weights against repeated rows)
fail for Ridge and LogisticRegression: repeated rows change the cross-validation folds, hence the
λ chosen — as for scikit-learn's own cross-validated estimators.
"""
from lamina.estimators.linear import ElasticNetModel, GroupLasso, Lasso, Ridge
from lamina.estimators.logistic import LogisticRegression

__all__ = ["Lasso", "ElasticNetModel", "Ridge", "GroupLasso", "LogisticRegression"]
