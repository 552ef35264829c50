"""Boosted trees: does a λ per boosting round (xgboost) or per tree depth (lamina.trees) beat one λ?

Data (nothing downloaded): scikit-learn's bundled diabetes (442 × 10, regression), breast_cancer
(569 × 30, binary) and wine (178 × 13, 3 classes), and generated ``make_friedman1`` (2,000 × 10,
noise 1) and ``make_classification`` (2,000 × 20, 6 informative, 5 % flipped labels). Each seed
draws a 70/30 split (stratified for classes); regression targets are standardized with the
training mean and std, so the test MSE is in units of the target's variance. Test loss: MSE
(regression) or log-loss (classification).

Every model: 100 rounds (``--quick``: 50), max_depth 4, learning rate 0.1, min_child_weight 1,
256 bins, one thread. Tuning budget: 13 settings × 5-fold CV for each method:

* xgboost ``hist``, one λ: ``xgb.cv`` (its documented CV, stratified for classes) over 13 λ in
  10⁻²…10³, refit on the training set;
* xgboost, λ per round: the same grid for the first round's λ, schedules growing ×30 and
  decaying ×30 over the rounds (:func:`lamina.trees.lambda_schedule`), through ``xgb.cv`` with the
  callback; "chosen by CV" takes the rule with the lower CV loss (26 settings);
* LightGBM, one λ: ``lgb.cv`` over the same 13 ``lambda_l2`` (num_leaves 16, max_depth 4,
  min_sum_hessian_in_leaf 1, min_data_in_leaf 1, so the trees have xgboost's capacity);
* lamina.trees GBM, one λ (``GridCVTuner``, 13) — the same model as xgboost's;
* lamina.trees GBM, λ per depth: growing ×2 rule (``GridCVTuner(rule="growing")``, 13), Optuna TPE
  over the 4 λ (13 trials), hypergradient (5-point single-λ start + 8 descent evaluations);
  "chosen by CV" takes the one of the three with the lowest CV loss (39 settings).

Paired differences over seeds with their standard error, against xgboost's one λ and against
lamina's one λ (the same trees and folds, so only the λ per depth differs); a difference is a tie
unless it exceeds the two-sided 95 % t quantile (4.30 for 3 seeds) times its standard error.
``--json FILE`` also writes every per-seed number. A second part times one fit at 10⁵ × 20 (friedman1, 100 rounds, depth
6, learning rate 0.1) against xgboost ``hist`` with ``nthread=1``, alternating, 5 times.

Usage: ``python benchmarks/bench_trees.py [--quick] [--seeds 3] [--no-timing] [--json FILE]
[--problems diabetes ...]``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

GRID = np.geomspace(1e-2, 1e3, 13)
MAX_DEPTH, LEARNING_RATE, FOLDS = 4, 0.1, 5


@dataclass
class Problem:
    name: str
    kind: str                 # "regression", "binary", "multiclass"
    X: np.ndarray
    y: np.ndarray


def problems(quick: bool) -> list[Problem]:
    from sklearn.datasets import (load_breast_cancer, load_diabetes, load_wine, make_classification,
                                  make_friedman1)
    out = [Problem("diabetes", "regression", *load_diabetes(return_X_y=True)),
           Problem("breast_cancer", "binary", *load_breast_cancer(return_X_y=True))]
    if quick:
        return out
    X, y = make_friedman1(2000, n_features=10, noise=1.0, random_state=0)
    out.append(Problem("friedman1", "regression", X, y))
    X, y = make_classification(2000, n_features=20, n_informative=6, flip_y=0.05, random_state=0)
    out.append(Problem("classification", "binary", X, y))
    out.append(Problem("wine", "multiclass", *load_wine(return_X_y=True)))
    return out


def split(problem: Problem, seed: int):
    from sklearn.model_selection import train_test_split
    stratify = None if problem.kind == "regression" else problem.y
    X, X_test, y, y_test = train_test_split(problem.X, problem.y, test_size=0.3, random_state=seed,
                                            stratify=stratify)
    if problem.kind == "regression":
        mean, std = y.mean(), y.std()
        y, y_test = (y - mean) / std, (y_test - mean) / std
    return X, y, X_test, y_test


def test_loss(kind: str, y_test, prediction) -> float:
    """MSE of predictions, or log-loss of probabilities ((n,) positive class or (n, K))."""
    if kind == "regression":
        return float(np.mean((prediction - y_test) ** 2))
    p = np.clip(prediction, 1e-15, 1 - 1e-15)
    if kind == "binary":
        return float(-np.mean(y_test * np.log(p) + (1 - y_test) * np.log(1 - p)))
    return float(-np.mean(np.log(p[np.arange(y_test.shape[0]), y_test.astype(int)])))


# --- xgboost ---------------------------------------------------------------------------------

def _xgb_params(kind: str, n_classes: int) -> dict:
    params = {"tree_method": "hist", "max_depth": MAX_DEPTH, "eta": LEARNING_RATE, "min_child_weight": 1,
              "max_bin": 256, "nthread": 1, "verbosity": 0}
    if kind == "binary":
        params.update(objective="binary:logistic", eval_metric="logloss")
    elif kind == "multiclass":
        params.update(objective="multi:softprob", num_class=n_classes, eval_metric="mlogloss")
    else:
        params.update(objective="reg:squarederror", eval_metric="rmse")
    return params


def xgb_tuned(X, y, X_test, kind, n_rounds, seed, rule=None):
    """(test prediction, CV loss, fits): λ (first round's λ for a schedule) by xgb.cv over GRID."""
    import xgboost as xgb

    from lamina.trees import lambda_schedule, xgboost_callback
    params = _xgb_params(kind, int(np.max(y)) + 1)
    data = xgb.DMatrix(X, y)
    metric = f"test-{params['eval_metric']}-mean"

    def callbacks(lam):
        if rule is None:
            return []
        return [xgboost_callback(lambda_schedule(rule, lam, n_rounds=n_rounds, factor=30.0))]

    scores = []
    for lam in GRID:
        history = xgb.cv({**params, "lambda": lam}, data, n_rounds, nfold=FOLDS, seed=seed,
                         stratified=kind != "regression", callbacks=callbacks(lam))
        score = float(history[metric].iloc[-1])
        scores.append(score ** 2 if kind == "regression" else score)
    best = GRID[int(np.argmin(scores))]
    booster = xgb.train({**params, "lambda": best}, data, n_rounds, callbacks=callbacks(best))
    return booster.predict(xgb.DMatrix(X_test)), float(min(scores)), len(GRID) * FOLDS + 1


def lgb_tuned(X, y, X_test, kind, n_rounds, seed):
    """(test prediction, CV loss, fits): LightGBM's lambda_l2 by lgb.cv over GRID."""
    import lightgbm as lgb
    params = {"num_leaves": 2 ** MAX_DEPTH, "max_depth": MAX_DEPTH, "learning_rate": LEARNING_RATE,
              "min_sum_hessian_in_leaf": 1.0, "min_data_in_leaf": 1, "max_bin": 255, "num_threads": 1,
              "verbose": -1, "deterministic": True, "seed": seed}
    if kind == "binary":
        params.update(objective="binary", metric="binary_logloss")
    elif kind == "multiclass":
        params.update(objective="multiclass", num_class=int(np.max(y)) + 1, metric="multi_logloss")
    else:
        params.update(objective="regression", metric="l2")
    scores = []
    for lam in GRID:
        history = lgb.cv({**params, "lambda_l2": lam}, lgb.Dataset(X, y), n_rounds, nfold=FOLDS,
                         stratified=kind != "regression", seed=seed)
        scores.append(float(history[f"valid {params['metric']}-mean"][-1]))
    best = GRID[int(np.argmin(scores))]
    booster = lgb.train({**params, "lambda_l2": best}, lgb.Dataset(X, y), n_rounds)
    return booster.predict(X_test), float(min(scores)), len(GRID) * FOLDS + 1


# --- lamina.trees --------------------------------------------------------------------------------

def lamina_tuned(X, y, X_test, kind, n_rounds, seed, tuner):
    """(test prediction, CV loss, fits) of lamina.trees with ``lam="auto"`` and the given tuner."""
    from lamina.trees import BoostedTreesClassifier, BoostedTreesRegressor
    cls = BoostedTreesRegressor if kind == "regression" else BoostedTreesClassifier
    model = cls(n_estimators=n_rounds, max_depth=MAX_DEPTH, learning_rate=LEARNING_RATE, lam="auto", tuner=tuner,
                random_state=seed).fit(X, y)
    prediction = model.predict(X_test) if kind == "regression" else model.predict_proba(X_test)
    if kind == "binary":
        prediction = prediction[:, 1]
    return prediction, float(model.tuning_.info["cv_score"]), model.tuning_.compute.fits + 1, model.lam_


def methods(seed: int) -> dict:
    from lamina.trees import GridCVTuner, HypergradientTuner, OptunaTuner
    return {
        "lamina one λ (CV, 13)": GridCVTuner(cv=FOLDS, n_lams=13, seed=seed),
        "lamina per depth: growing ×2 (CV, 13)": GridCVTuner(cv=FOLDS, n_lams=13, rule="growing", factor=2.0,
                                                             seed=seed),
        "lamina per depth: Optuna (13 trials)": OptunaTuner(n_trials=13, cv=FOLDS, seed=seed),
        "lamina per depth: hypergradient (5 + 8)": HypergradientTuner(cv=FOLDS, n_start=5, max_evals=8, seed=seed),
    }


PER_DEPTH = ["lamina per depth: growing ×2 (CV, 13)", "lamina per depth: Optuna (13 trials)",
             "lamina per depth: hypergradient (5 + 8)"]
PER_ROUND = ["xgboost per round: growing ×30 (xgb.cv, 13)", "xgboost per round: decaying ×30 (xgb.cv, 13)"]
REFERENCE = "xgboost one λ (xgb.cv, 13)"
SAME_MODEL = "lamina one λ (CV, 13)"


def measure(problem: Problem, seed: int, n_rounds: int) -> dict:
    """{method: (test loss, CV loss, fits, seconds)} on one split."""
    X, y, X_test, y_test = split(problem, seed)
    rows = {}
    for name, rule in ((REFERENCE, None), (PER_ROUND[0], "growing"), (PER_ROUND[1], "decaying")):
        started = time.perf_counter()
        prediction, cv, fits = xgb_tuned(X, y, X_test, problem.kind, n_rounds, seed, rule)
        rows[name] = (test_loss(problem.kind, y_test, prediction), cv, fits, time.perf_counter() - started)
    started = time.perf_counter()
    prediction, cv, fits = lgb_tuned(X, y, X_test, problem.kind, n_rounds, seed)
    rows["LightGBM one λ (lgb.cv, 13)"] = (test_loss(problem.kind, y_test, prediction), cv, fits,
                                          time.perf_counter() - started)
    for name, tuner in methods(seed).items():
        started = time.perf_counter()
        prediction, cv, fits, lam = lamina_tuned(X, y, X_test, problem.kind, n_rounds, seed, tuner)
        rows[name] = (test_loss(problem.kind, y_test, prediction), cv, fits, time.perf_counter() - started)
    for label, names in (("xgboost per round, chosen by CV (26)", PER_ROUND),
                         ("lamina per depth, chosen by CV (39)", PER_DEPTH)):
        chosen = min(names, key=lambda k: rows[k][1])
        rows[label] = (rows[chosen][0], rows[chosen][1], sum(rows[k][2] for k in names),
                       sum(rows[k][3] for k in names))
    return rows


def _paired(values, reference):
    """'mean ± s.e.' of the paired differences and the verdict: a tie unless |mean| exceeds the
    two-sided 95 % t quantile (n − 1 degrees of freedom) times the standard error."""
    from scipy.stats import t as student
    difference = np.asarray(values) - np.asarray(reference)
    if difference.shape[0] < 2:
        return f"{difference.mean():+.4f}", "— (one seed)"
    error = difference.std(ddof=1) / np.sqrt(difference.shape[0])
    limit = student.ppf(0.975, difference.shape[0] - 1) * error
    verdict = "tie" if abs(difference.mean()) <= limit else "better" if difference.mean() < 0 else "worse"
    return f"{difference.mean():+.4f} ± {error:.4f}", verdict


def _table(problem: Problem, per_seed: list[dict]) -> list[str]:
    n_seeds = len(per_seed)
    loss_name = "MSE (standardized y)" if problem.kind == "regression" else "log-loss"
    lines = [f"### {problem.name} ({problem.X.shape[0]} × {problem.X.shape[1]}, {problem.kind}), test {loss_name}, "
             f"{n_seeds} seed(s)", "",
             f"| method | test loss (mean ± sd) | − {REFERENCE} (± s.e.) | verdict | − {SAME_MODEL} (± s.e.) | verdict "
             "| fits | seconds |",
             "|---|---|---|---|---|---|---|---|"]
    reference = [rows[REFERENCE][0] for rows in per_seed]
    same_model = [rows[SAME_MODEL][0] for rows in per_seed]
    for name in per_seed[0]:
        values = np.array([rows[name][0] for rows in per_seed])
        fits = np.mean([rows[name][2] for rows in per_seed])
        seconds = np.mean([rows[name][3] for rows in per_seed])
        cells = []
        for base_name, base in ((REFERENCE, reference), (SAME_MODEL, same_model)):
            cells += ["—", "reference"] if name == base_name else list(_paired(values, base))
        lines.append(f"| {name} | {values.mean():.4f} ± {values.std():.4f} | {' | '.join(cells)} | {fits:.0f} | "
                     f"{seconds:.1f} |")
    return lines + [""]


def timing(n: int = 100_000, p: int = 20, repeats: int = 5) -> list[str]:
    """One fit of lamina.trees vs xgboost hist (nthread=1) at n × p, alternating."""
    import xgboost as xgb
    from sklearn.datasets import make_friedman1

    from lamina.trees import BoostedTreesRegressor
    X, y = make_friedman1(n, n_features=p, noise=1.0, random_state=0)
    X_test, y_test = make_friedman1(20_000, n_features=p, noise=1.0, random_state=1)
    BoostedTreesRegressor(n_estimators=2, max_depth=6).fit(X[:1000], y[:1000])          # compile / load cache
    ours, theirs, mse = [], [], {}
    for _ in range(repeats):
        started = time.perf_counter()
        model = BoostedTreesRegressor(n_estimators=100, max_depth=6, learning_rate=0.1, lam=1.0).fit(X, y)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        booster = xgb.XGBRegressor(n_estimators=100, max_depth=6, learning_rate=0.1, reg_lambda=1.0, tree_method="hist",
                                   max_bin=256, n_jobs=1).fit(X, y)
        theirs.append(time.perf_counter() - started)
    mse["lamina"] = np.mean((model.predict(X_test) - y_test) ** 2)
    mse["xgboost"] = np.mean((booster.predict(X_test) - y_test) ** 2)
    ratios = np.array(ours) / np.array(theirs)
    ratio = np.median(ratios)
    load = os.getloadavg()
    return [f"### Training time at {n:,} × {p} (friedman1, 100 rounds, depth 6, η 0.1, λ 1, 256 bins, one thread)", "",
            "| | lamina.trees | xgboost hist (nthread=1) |", "|---|---|---|",
            f"| seconds per fit (median of {repeats}, alternating) | {np.median(ours):.2f} | {np.median(theirs):.2f} |",
            f"| test MSE (20,000 rows, noise variance 1) | {mse['lamina']:.4f} | {mse['xgboost']:.4f} |", "",
            f"Time ratio lamina / xgboost: median of the {repeats} paired ratios **{ratio:.2f}**, ratio of the medians "
            f"{np.median(ours) / np.median(theirs):.2f} (paired ratios {', '.join(f'{r:.2f}' for r in ratios)}); load average during "
            f"the run {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores.", ""]


def run(quick: bool = False, seeds: int = 3, with_timing: bool = True, json_path: str | None = None,
        only: list[str] | None = None) -> str:
    """Markdown tables of every problem (or those named in ``only``) and the timing; per-seed
    numbers to ``json_path`` when given."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    n_rounds = 50 if quick else 100
    lines = ["## Boosted trees: λ per round and per depth against one λ (issue #19)", "",
             f"{n_rounds} rounds, max_depth {MAX_DEPTH}, η {LEARNING_RATE}; tuning by {FOLDS}-fold CV; "
             "'fits' counts full boosted fits (CV folds included, plus the refit); seconds are wall time.", ""]
    raw = {}
    for problem in problems(quick):
        if only and problem.name not in only:
            continue
        per_seed = [measure(problem, seed, n_rounds) for seed in range(seeds)]
        raw[problem.name] = per_seed
        lines += _table(problem, per_seed)
        print("\n".join(_table(problem, per_seed)), file=sys.stderr, flush=True)      # progress
    if with_timing:
        lines += timing(n=20_000 if quick else 100_000)
    if json_path:
        import json
        with open(json_path, "w", encoding="utf-8") as handle:
            json.dump(raw, handle, indent=1)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="diabetes and breast_cancer, 50 rounds, timing at 2·10⁴")
    parser.add_argument("--seeds", type=int, default=None, help="splits per problem (default 3; --quick 1)")
    parser.add_argument("--no-timing", action="store_true", help="skip the 10⁵ × 20 timing")
    parser.add_argument("--json", default=None, help="also write the per-seed numbers to this file")
    parser.add_argument("--problems", nargs="+", default=None, help="only these problems (e.g. diabetes)")
    arguments = parser.parse_args()
    started = time.perf_counter()
    seeds = arguments.seeds if arguments.seeds is not None else (1 if arguments.quick else 3)
    print(run(quick=arguments.quick, seeds=seeds, with_timing=not arguments.no_timing, json_path=arguments.json,
              only=arguments.problems))
    print(f"_{time.perf_counter() - started:.0f} s in all_")
