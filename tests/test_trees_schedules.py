"""λ per boosting round on real xgboost and LightGBM: the schedule is really applied."""
import json

import numpy as np
import pytest

from lamina.trees import lambda_schedule, lightgbm_callback, xgboost_callback

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")


def _data(n=300, p=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.3 * rng.standard_normal(n)
    return X, y


XGB_PARAMS = {"tree_method": "exact", "max_depth": 3, "eta": 0.3, "base_score": 0.0, "nthread": 1}
LGB_PARAMS = {"objective": "regression", "num_leaves": 8, "learning_rate": 0.3, "min_data_in_leaf": 5,
              "verbose": -1, "num_threads": 1, "deterministic": True, "boost_from_average": False}


def test_rules():
    assert np.allclose(lambda_schedule("constant", 2.0, n_rounds=4), 2.0)
    assert np.allclose(lambda_schedule("growing", 1.0, n_rounds=3, factor=4.0), [1, 2, 4])
    assert np.allclose(lambda_schedule("decaying", 1.0, n_rounds=3, factor=4.0), [1, 0.5, 0.25])
    assert np.allclose(lambda_schedule([1.0, 3.0]), [1, 3])


@pytest.mark.parametrize("args, match", [
    (("linear", 1.0, 5), "rule must be one of 'constant', 'growing', 'decaying'"),
    (([1.0, -1.0], 1.0, None), "negative"),
    (([1.0, 2.0], 1.0, 3), "has 2 values but n_rounds is 3"),
    (("growing", -1.0, 3), "lam must be"),
    (("growing", 1.0, None), "n_rounds is needed"),
])
def test_bad_schedules_name_the_argument(args, match):
    with pytest.raises(ValueError, match=match):
        lambda_schedule(*args)


def test_xgboost_schedule_equals_round_by_round_by_hand():
    X, y = _data()
    data = xgb.DMatrix(X, y)
    lams = lambda_schedule("growing", 0.5, n_rounds=6, factor=50.0)
    seen = []

    class Spy(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log):
            seen.append(float(json.loads(model.save_config())["learner"]["gradient_booster"]
                              ["tree_train_param"]["lambda"]))
            return False

    callback = xgboost_callback(lams)
    scheduled = xgb.train(XGB_PARAMS, data, 6, callbacks=[callback, Spy()])
    assert np.allclose(seen, lams, rtol=1e-6) and np.allclose(callback.applied, lams)

    by_hand = xgb.Booster(XGB_PARAMS, [data])
    for t, lam in enumerate(lams):
        by_hand.set_param("lambda", lam)
        by_hand.update(data, t)
    assert np.array_equal(scheduled.predict(data), by_hand.predict(data))

    constant = xgb.train({**XGB_PARAMS, "lambda": 0.5}, data, 6)
    assert not np.allclose(scheduled.predict(data), constant.predict(data))
    first = xgb.train({**XGB_PARAMS, "lambda": 0.5}, data, 1)            # round 0 had λ = 0.5
    assert np.array_equal(scheduled.predict(data, iteration_range=(0, 1)), first.predict(data))


def test_xgboost_sklearn_api_and_length_error():
    X, y = _data()
    lams = lambda_schedule("decaying", 10.0, n_rounds=5)
    model = xgb.XGBRegressor(n_estimators=5, callbacks=[xgboost_callback(lams)], **{
        "tree_method": "exact", "max_depth": 3, "learning_rate": 0.3, "base_score": 0.0, "n_jobs": 1}).fit(X, y)
    by_hand = xgb.train(XGB_PARAMS, xgb.DMatrix(X, y), 5, callbacks=[xgboost_callback(lams)])
    assert np.allclose(model.predict(X), by_hand.predict(xgb.DMatrix(X)), atol=1e-6)
    with pytest.raises(ValueError, match="has 5 rounds but training reached round 5"):
        xgb.train(XGB_PARAMS, xgb.DMatrix(X, y), 6, callbacks=[xgboost_callback(lams)])


def _round_by_round(params, data, lams):
    booster = None
    for lam in lams:
        booster = xgb.train({**params, "lambda": float(lam)}, data, 1, xgb_model=booster)
    return booster


def test_xgboost_schedule_wins_over_the_users_reg_lambda():
    # xgboost keeps "reg_lambda" as its own setting: a callback setting only "lambda" was ignored
    X, y = _data()
    data = xgb.DMatrix(X, y)
    lams = np.array([0.0, 100.0, 1.0, 1000.0])
    reference = _round_by_round(XGB_PARAMS, data, lams).predict(data)
    constant = xgb.train({**XGB_PARAMS, "reg_lambda": 5.0}, data, 4).predict(data)
    assert not np.allclose(reference, constant, atol=1e-3)
    for key in ("lambda", "reg_lambda"):
        scheduled = xgb.train({**XGB_PARAMS, key: 5.0}, data, 4, callbacks=[xgboost_callback(lams)])
        assert np.allclose(scheduled.predict(data), reference, atol=1e-6), key
    model = xgb.XGBRegressor(n_estimators=4, reg_lambda=5.0, callbacks=[xgboost_callback(lams)], **{
        "tree_method": "exact", "max_depth": 3, "learning_rate": 0.3, "base_score": 0.0, "n_jobs": 1}).fit(X, y)
    assert np.allclose(model.predict(X), reference, atol=1e-6)


def test_lightgbm_schedule_equals_round_by_round_by_hand():
    X, y = _data()
    lams = lambda_schedule([0.0, 100.0, 0.0, 100.0])
    callback = lightgbm_callback(lams)
    scheduled = lgb.train(LGB_PARAMS, lgb.Dataset(X, y), 4, callbacks=[callback])
    assert callback.applied == list(lams)

    by_hand = lgb.Booster({**LGB_PARAMS, "lambda_l2": 0.0}, lgb.Dataset(X, y))
    for lam in lams:
        by_hand.reset_parameter({"lambda_l2": lam})
        by_hand.update()
    assert np.allclose(scheduled.predict(X), by_hand.predict(X), atol=1e-12)

    constant = lgb.train({**LGB_PARAMS, "lambda_l2": 0.0}, lgb.Dataset(X, y), 4)
    assert np.allclose(scheduled.predict(X, num_iteration=1), constant.predict(X, num_iteration=1))
    assert not np.allclose(scheduled.predict(X), constant.predict(X))
    # round 0 of a schedule starting high differs from the constant model: the first round is scheduled too
    high = lgb.train(LGB_PARAMS, lgb.Dataset(X, y), 4, callbacks=[lightgbm_callback([100.0, 0, 0, 0])])
    assert not np.allclose(high.predict(X, num_iteration=1), constant.predict(X, num_iteration=1))


def test_lightgbm_length_error():
    X, y = _data()
    with pytest.raises(ValueError, match="schedule has 3 rounds but LightGBM trains 4"):
        lgb.train(LGB_PARAMS, lgb.Dataset(X, y), 4, callbacks=[lightgbm_callback([1.0, 2.0, 3.0])])


def test_import_lamina_stays_light():
    import subprocess
    import sys
    code = ("import sys, lamina; import lamina.trees; "
            "print(any(m.split('.')[0] in ('xgboost', 'lightgbm') for m in sys.modules), "
            "'lamina.trees' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", "import sys, lamina; print('lamina.trees' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False"]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True"]          # lamina.trees itself imports neither xgboost nor LightGBM
