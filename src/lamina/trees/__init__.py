"""Boosted trees with a λ per boosting round (on real xgboost and LightGBM) and per tree depth.

* :mod:`lamina.trees.schedules` — λ per round: :func:`lambda_schedule` and the callbacks
  :func:`xgboost_callback` / :func:`lightgbm_callback` for your usual ``xgb.train`` /
  ``XGBRegressor`` / ``lgb.train`` call.

xgboost and LightGBM are imported only by the functions that use them (``pip install
lamina[trees]``); ``import lamina`` imports nothing of this package.
"""
from lamina.trees.schedules import (LightGBMLambdaSchedule, Rule, lambda_schedule, lightgbm_callback,
                                    xgboost_callback)

__all__ = ["LightGBMLambdaSchedule", "Rule", "lambda_schedule", "lightgbm_callback", "xgboost_callback"]
