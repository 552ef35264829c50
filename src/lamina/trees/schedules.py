"""λ per boosting round on real xgboost and LightGBM, through their callback APIs.

xgboost and LightGBM have one L2 strength (``reg_lambda`` / ``lambda_l2``) for every leaf of
every tree. Both let a callback change parameters between rounds, so a λ per round runs on the
real libraries: build a schedule, pass its callback to your usual training call.

Round t (0-based, T rounds) of a rule with base λ and ``factor`` c > 0 gets

* ``"constant"``: λ_t = λ;
* ``"growing"``:  λ_t = λ · c^(t/(T−1))   (from λ to c·λ over the rounds);
* ``"decaying"``: λ_t = λ · c^(−t/(T−1))  (from λ to λ/c);

or an explicit vector of T values. λ is xgboost's ``lambda`` and LightGBM's ``lambda_l2``: the
L2 penalty ½ λ Σ_j w_j² on the leaf weights of each new tree, so a leaf weight is −G/(H + λ_t)
(G, H the sums of gradients and hessians in the leaf).

Example
-------
>>> import numpy as np
>>> lambda_schedule("growing", 1.0, n_rounds=3, factor=100.0)
array([  1.,  10., 100.])
"""
from __future__ import annotations

from enum import Enum

import numpy as np

from lamina._validation import check_positive_float, check_positive_int, parse_choice


class Rule(str, Enum):
    """Rules of a λ schedule over boosting rounds."""

    CONSTANT = "constant"
    GROWING = "growing"
    DECAYING = "decaying"


def lambda_schedule(rule, lam: float = 1.0, n_rounds: int | None = None, factor: float = 10.0) -> np.ndarray:
    """λ for each boosting round.

    Parameters
    ----------
    rule : {"constant", "growing", "decaying"} or array (n_rounds,)
        A rule (see the module docstring) or the explicit λ of every round.
    lam : float
        Base λ ≥ 0 (the first round's λ for "growing" and "decaying").
    n_rounds : int
        Number of boosting rounds T; for an explicit vector, its length must equal it (when given).
    factor : float
        c > 0: the last round gets c·λ ("growing") or λ/c ("decaying").

    Returns
    -------
    lam_t : ndarray (n_rounds,)
    """
    if not isinstance(rule, str):
        values = np.asarray(rule, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"rule must be a rule name or a 1-d vector of λ per round, got shape {values.shape}")
        if n_rounds is not None and values.size != n_rounds:
            raise ValueError(f"rule: the λ vector has {values.size} values but n_rounds is {n_rounds}")
        _check_values(values, "rule")
        return values
    rule = parse_choice(Rule, rule, "rule")
    if n_rounds is None:
        raise ValueError(f"n_rounds is needed for the rule {rule.value!r}")
    n_rounds = check_positive_int(n_rounds, "n_rounds")
    lam = check_positive_float(lam, "lam", strict=False)
    factor = check_positive_float(factor, "factor")
    if rule is Rule.CONSTANT or n_rounds == 1:
        return np.full(n_rounds, lam)
    exponent = np.arange(n_rounds) / (n_rounds - 1)
    sign = 1.0 if rule is Rule.GROWING else -1.0
    return lam * factor ** (sign * exponent)


def _check_values(values: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or inf; expected finite λ >= 0")
    if np.any(values < 0):
        bad = np.flatnonzero(values < 0)
        raise ValueError(f"{name} must be >= 0, got negative λ at round(s) {bad.tolist()[:10]}")


def _value_at(values: np.ndarray, round_index: int) -> float:
    if not 0 <= round_index < values.size:
        raise ValueError(f"the λ schedule has {values.size} rounds but training reached round {round_index}; "
                         "build it with n_rounds equal to the number of boosting rounds")
    return float(values[round_index])


def xgboost_callback(schedule):
    """An ``xgboost.callback.TrainingCallback`` setting ``lambda`` (and its alias ``reg_lambda``)
    before every round.

    Parameters
    ----------
    schedule : array (n_rounds,)
        λ per round, e.g. from :func:`lambda_schedule`.

    Returns
    -------
    callback : xgboost.callback.TrainingCallback
        Pass it in ``xgb.train(..., callbacks=[callback])`` or
        ``XGBRegressor(callbacks=[callback])``. Round t sets both ``lambda`` and ``reg_lambda``
        to λ_t: xgboost keeps the two names as separate settings, and one the user gave
        (``reg_lambda`` in ``XGBRegressor``) would otherwise win over the scheduled one.
        ``callback.applied`` lists the λ set, round by round (reset at each training start).
    """
    import xgboost

    values = lambda_schedule(schedule)

    class LambdaScheduleCallback(xgboost.callback.TrainingCallback):
        """Sets xgboost's ``lambda`` to λ_t before round t (see :func:`xgboost_callback`)."""

        def __init__(self):
            super().__init__()
            self.values, self.applied = values, []

        def before_training(self, model):
            self.applied = []
            return model

        def before_iteration(self, model, epoch, evals_log) -> bool:
            value = _value_at(self.values, epoch)
            model.set_param({"lambda": value, "reg_lambda": value})
            self.applied.append(value)
            return False

    return LambdaScheduleCallback()


class LightGBMLambdaSchedule:
    """A LightGBM callback setting ``lambda_l2`` to λ_t before round t.

    Pass it in ``lgb.train(..., callbacks=[callback])`` or ``LGBMRegressor().fit(...,
    callbacks=[callback])``; it calls ``booster.reset_parameter({"lambda_l2": λ_t})`` before each
    round (as ``lgb.reset_parameter`` does, but from the first round on and with a length check).
    ``applied`` lists the λ set, round by round.

    Parameters
    ----------
    schedule : array (n_rounds,)
        λ per round, e.g. from :func:`lambda_schedule`; its length must equal ``num_boost_round``.
    """

    order = 10
    before_iteration = True

    def __init__(self, schedule):
        self.values = lambda_schedule(schedule)
        self.applied = []

    def __call__(self, env) -> None:
        n_rounds = env.end_iteration - env.begin_iteration
        if n_rounds != self.values.size:
            raise ValueError(f"schedule has {self.values.size} rounds but LightGBM trains {n_rounds}")
        round_index = env.iteration - env.begin_iteration
        if round_index == 0:
            self.applied = []
        value = _value_at(self.values, round_index)
        boosters = getattr(env.model, "boosters", [env.model])       # lgb.cv trains a CVBooster
        for booster in boosters:
            booster.reset_parameter({"lambda_l2": value})
        env.params["lambda_l2"] = value
        self.applied.append(value)


def lightgbm_callback(schedule) -> LightGBMLambdaSchedule:
    """The LightGBM callback of a λ schedule (see :class:`LightGBMLambdaSchedule`)."""
    return LightGBMLambdaSchedule(schedule)
