"""Boosted trees with a λ per boosting round (on real xgboost and LightGBM) and per tree depth.

* :mod:`lamina.trees.schedules` — λ per round: :func:`lambda_schedule` and the callbacks
  :func:`xgboost_callback` / :func:`lightgbm_callback` for your usual ``xgb.train`` /
  ``XGBRegressor`` / ``lgb.train`` call.
* :mod:`lamina.trees.gbm` — :class:`BoostedTreesRegressor` / :class:`BoostedTreesClassifier`, a
  numba histogram gradient-boosting model whose leaves at depth k get their own λ_k (neither
  xgboost nor LightGBM has that); with one λ its trees are xgboost's.
* :mod:`lamina.trees.rules` — λ per depth from one λ (uniform, growing, node_count).
* :mod:`lamina.trees.tuning` — K-fold CV of one λ, Optuna over the vector, and the hypergradient
  with the tree structure fixed (:mod:`lamina.trees.replay`); each returns a TuneResult.

xgboost and LightGBM are imported only by the functions that use them (``pip install
lamina[trees]``); ``import lamina`` imports nothing of this package.
"""
from lamina.trees.gbm import BoostedTreesClassifier, BoostedTreesRegressor
from lamina.trees.rules import DepthRule, depth_lambdas
from lamina.trees.schedules import (LightGBMLambdaSchedule, Rule, lambda_schedule, lightgbm_callback,
                                    xgboost_callback)
from lamina.trees.tuning import GridCVTuner, HypergradientTuner, OptunaTuner, TreeTuner, make_tuner

__all__ = ["BoostedTreesClassifier", "BoostedTreesRegressor", "DepthRule", "GridCVTuner", "HypergradientTuner",
           "LightGBMLambdaSchedule", "OptunaTuner", "Rule", "TreeTuner", "depth_lambdas", "lambda_schedule",
           "lightgbm_callback", "make_tuner", "xgboost_callback"]
