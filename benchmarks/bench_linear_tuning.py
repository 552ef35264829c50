"""Tuning a λ per feature group: lamina's tuners against LassoCV, ElasticNetCV, ARD, RidgeCV.

Problems (same data for every method, one run):

* grouped-sparse synthetic designs, p = 100, 1,000 and 10,000: G groups of equal size whose
  features are AR(1)-correlated inside the group (ρ = 0.5) and scaled by a group factor
  (0.3 … 3); a third of the groups carry strong coefficients, a third weak ones, a third none;
  5% of the coefficients of an active group are nonzero; noise at SNR 3. A test set of 2,000
  rows from the same distribution gives the held-out MSE.
* scikit-learn's diabetes data (442 × 10), groups demographics (age, sex), body (bmi, bp) and
  serum (s1–s6), plus each feature's square and the pairwise products inside a group as
  further groups; a fixed 70/30 split (seed 0).

Methods: lamina ``Lasso(lam="auto")`` (the default tuner: hypergradient descents from the
best single λ and, where one evidence iteration is cheap, from the evidence λ, with re-entry
probes for groups switched off in every fold), its tuners one
by one (hypergradient from the path start only, hypergradient on one 80/20 hold-out split,
evidence, single-λ CV, Optuna TPE 50 trials —
capped at OPTUNA_TIMEOUT seconds when p > 2,000, the trials done are reported),
``Ridge(lam="auto")`` (evidence) and the ridge hypergradient; scikit-learn LassoCV,
ElasticNetCV (l1_ratio 0.5), ARDRegression, RidgeCV (efficient LOO over 13 α). ARD costs
O(n²p) per fixed-point iteration when p > n, lamina's evidence O(n³) (per-group kernels); both
are skipped at p = 10,000. BLAS runs on one thread for every method (threadpoolctl): on this shared
2-core machine two OpenBLAS threads made small factorizations up to 100× slower.
All CV methods use 5 folds, one process (n_jobs=None). F1 compares the nonzeros of the fitted
coefficients with those of the truth (synthetic problems only; ridge-type fits are dense).

Usage: ``python benchmarks/bench_linear_tuning.py [--quick]`` or through ``benchmarks/run.py``.
"""
from __future__ import annotations

import argparse
import re
import time
import warnings
from dataclasses import dataclass

import numpy as np


OPTUNA_TIMEOUT = 180.0   # seconds of Optuna trials on problems with p > 2,000


@dataclass
class Problem:
    name: str
    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    groups: np.ndarray
    truth: np.ndarray | None


def _grouped_design(n, n_groups, size, scales, rng, rho=0.5):
    X = np.empty((n, n_groups * size))
    innovation = np.sqrt(1 - rho * rho)
    for g in range(n_groups):
        block = np.empty((n, size))
        block[:, 0] = rng.standard_normal(n)
        for j in range(1, size):
            block[:, j] = rho * block[:, j - 1] + innovation * rng.standard_normal(n)
        X[:, g * size:(g + 1) * size] = block * scales[g]
    return X


def synthetic(n, p, n_groups, seed, n_test=2000) -> Problem:
    rng = np.random.default_rng(seed)
    size = p // n_groups
    scales = np.geomspace(0.3, 3.0, n_groups)[rng.permutation(n_groups)]
    kind = np.arange(n_groups) % 3                       # 0 strong, 1 weak, 2 none
    w = np.zeros(p)
    for g in range(n_groups):
        if kind[g] == 2:
            continue
        k = max(1, int(0.05 * size))
        idx = g * size + rng.choice(size, k, replace=False)
        w[idx] = (1.0 if kind[g] == 0 else 0.2) * rng.choice([-1.0, 1.0], k) / scales[g]
    X = _grouped_design(n, n_groups, size, scales, rng)
    X_test = _grouped_design(n_test, n_groups, size, scales, rng)
    signal = X @ w
    sigma = np.std(signal) / 3.0
    y = signal + sigma * rng.standard_normal(n)
    y_test = X_test @ w + sigma * rng.standard_normal(n_test)
    return Problem(f"synthetic n={n} p={p} G={n_groups}", X, y, X_test, y_test,
                   np.repeat(np.arange(n_groups), size), w)


def diabetes(split_seed: int = 0) -> Problem:
    from sklearn.datasets import load_diabetes
    data = load_diabetes()
    X, y, names = data.data, data.target, list(data.feature_names)
    families = {"demographics": ["age", "sex"], "body": ["bmi", "bp"],
                "serum": ["s1", "s2", "s3", "s4", "s5", "s6"]}
    columns, labels = [], []
    for family, members in families.items():
        idx = [names.index(m) for m in members]
        columns += [X[:, i] for i in idx]
        labels += [family] * len(idx)
        for a in range(len(idx)):                         # squares and products within the family
            for b in range(a, len(idx)):
                if family == "demographics" and a == b == 1:
                    continue                              # sex² is sex up to scale
                columns.append(X[:, idx[a]] * X[:, idx[b]])
                labels.append(family + "²")
    Z = np.column_stack(columns)
    rng = np.random.default_rng(split_seed)
    order = rng.permutation(Z.shape[0])
    cut = int(0.7 * Z.shape[0])
    train, test = order[:cut], order[cut:]
    return Problem(f"diabetes {cut}×{Z.shape[1]} G=6", Z[train], y[train], Z[test], y[test],
                   np.array(labels), None)


def problems(quick: bool) -> list[Problem]:
    if quick:
        return [synthetic(200, 100, 10, 1), synthetic(300, 1000, 20, 2), diabetes()]
    return [synthetic(200, 100, 10, 1), synthetic(300, 1000, 20, 2), synthetic(1000, 10_000, 20, 3),
            diabetes()]


# ----------------------------------------------------------------------------- methods
def methods(problem: Problem, quick: bool) -> dict:
    import lamina
    from sklearn.linear_model import ARDRegression, ElasticNetCV, LassoCV, RidgeCV
    g = problem.groups
    p = problem.X.shape[1]
    small = p <= 2000
    optuna_budget = None if small else OPTUNA_TIMEOUT
    out = {
        "lamina Lasso auto (default)": lambda: lamina.Lasso(groups=g, lam="auto"),
        "lamina Lasso hypergradient, path start only": lambda: lamina.Lasso(
            groups=g, lam="auto", tuner=lamina.HypergradientTuner(starts=("path",))),
        "lamina Lasso hypergradient hold-out": lambda: lamina.Lasso(
            groups=g, lam="auto", tuner=lamina.HypergradientTuner(cv=1)),
        "lamina Lasso single-λ CV": lambda: lamina.Lasso(groups=g, lam="auto", tuner="cv"),
        "lamina Lasso Optuna TPE 50": lambda: lamina.Lasso(
            groups=g, lam="auto", tuner=lamina.OptunaTuner(50, timeout=optuna_budget)),
        "sklearn LassoCV": lambda: LassoCV(cv=5, random_state=0),
        "sklearn ElasticNetCV": lambda: ElasticNetCV(cv=5, l1_ratio=0.5, random_state=0),
        "sklearn RidgeCV": lambda: RidgeCV(alphas=np.logspace(-6, 6, 13)),
    }
    if small:   # O(n²p) per fixed-point iteration when p > n: skipped at p = 10,000
        out["lamina Lasso evidence"] = lambda: lamina.Lasso(groups=g, lam="auto", tuner="evidence")
        out["lamina Ridge auto (evidence)"] = lambda: lamina.Ridge(groups=g, lam="auto")
        out["lamina Ridge hypergradient"] = lambda: lamina.Ridge(groups=g, lam="auto", tuner="hypergradient")
        out["sklearn ARDRegression"] = lambda: ARDRegression()
    return out


def f1(truth, coef) -> float:
    if truth is None:
        return float("nan")
    true, found = truth != 0, coef != 0
    tp = np.sum(true & found)
    return 2 * tp / max(np.sum(true) + np.sum(found), 1)


def measure(problem: Problem, quick: bool) -> list[dict]:
    rows = []
    for name, make in methods(problem, quick).items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model = make().fit(problem.X, problem.y)
            seconds = time.perf_counter() - start
        mse = float(np.mean((model.predict(problem.X_test) - problem.y_test) ** 2))
        tuning = getattr(model, "tuning_", None)
        if tuning is not None and "n_trials" in tuning.info:
            name = f"{name} ({tuning.info['n_trials']} trials done)"
        rows.append({"method": name, "mse": mse, "f1": f1(problem.truth, np.ravel(model.coef_)),
                     "seconds": seconds, "nnz": int(np.count_nonzero(model.coef_))})
    return rows


def warm_up() -> None:
    """Compile lamina's numba kernels before anything is timed."""
    import lamina
    small = synthetic(60, 20, 4, 0, n_test=10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lamina.Lasso(groups=small.groups, lam="auto").fit(small.X, small.y)
        lamina.GroupLasso(groups=small.groups, lam=0.1).fit(small.X, small.y)


def is_baseline(method: str) -> bool:
    """The goal's baselines: scikit-learn's estimators, lamina's single-λ CV, Optuna TPE."""
    return method.startswith("sklearn") or method == "lamina Lasso single-λ CV" or "Optuna" in method


def _table(problem: Problem, rows: list[dict]) -> list[str]:
    lasso_cv = next(r for r in rows if r["method"] == "sklearn LassoCV")
    baselines = [r for r in rows if is_baseline(r["method"])]
    best = min(baselines, key=lambda r: r["mse"])
    default = rows[0]
    lines = [f"### {problem.name}", "",
             "| method | test MSE | MSE / best baseline | F1 | nonzeros | time (s) | time / LassoCV |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        f1_text = "–" if np.isnan(r["f1"]) else f"{r['f1']:.2f}"
        lines.append(f"| {r['method']} | {r['mse']:.4g} | {r['mse'] / best['mse']:.3f} | {f1_text} | "
                     f"{r['nnz']} | {r['seconds']:.2f} | {r['seconds'] / lasso_cv['seconds']:.3f} |")
    met = default["mse"] <= best["mse"]
    lines += ["", f"Best baseline: {best['method']} (MSE {best['mse']:.4g}). Default tuner: MSE ratio "
              f"{default['mse'] / best['mse']:.3f} ({'≤' if met else '>'} 1: goal "
              f"{'met' if met else 'missed'}), time ratio to LassoCV {default['seconds'] / lasso_cv['seconds']:.3f}.", ""]
    return lines


def run(quick: bool = False) -> str:
    """Markdown tables: held-out MSE, support F1 and wall time per method and problem."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return _run(quick)


def _run(quick: bool) -> str:
    warm_up()
    lines = ["## Tuning a λ per feature group (issue #7)", "",
             "Same data for every method in one run; 5-fold CV everywhere, n_jobs=None; times in s.",
             "Baselines for the goal: scikit-learn's CV/ARD estimators, lamina's single-λ CV and "
             "Optuna TPE (50 trials) over the per-group λ.", ""]
    for problem in problems(quick):
        lines += _table(problem, measure(problem, quick))
    return "\n".join(lines) + "\n"


def diabetes_splits(n_splits: int) -> str:
    """Mean ± std of the held-out MSE per method over ``n_splits`` random 70/30 splits of the
    diabetes problem (split seeds 0 … n_splits − 1), the mean paired difference to the
    default with its standard error, and how often the default is at least as good."""
    from threadpoolctl import threadpool_limits
    per_method: dict[str, list[float]] = {}
    with threadpool_limits(limits=1, user_api="blas"):
        warm_up()
        for seed in range(n_splits):
            for row in measure(diabetes(seed), quick=True):
                name = re.sub(r" \(\d+ trials done\)$", "", row["method"])
                per_method.setdefault(name, []).append(row["mse"])
    default = np.array(per_method["lamina Lasso auto (default)"])
    lines = [f"### diabetes, {n_splits} random 70/30 splits", "",
             "| method | mean test MSE | std | mean MSE / default's | paired difference to the default (± s.e.) "
             "| splits where the default is ≤ |",
             "|---|---|---|---|---|---|"]
    for name, values in sorted(per_method.items(), key=lambda kv: np.mean(kv[1])):
        values = np.array(values)
        difference = values - default
        error = difference.std(ddof=1) / np.sqrt(n_splits) if n_splits > 1 else float("nan")
        lines.append(f"| {name} | {values.mean():.0f} | {values.std():.0f} | {values.mean() / default.mean():.3f} | "
                     f"{difference.mean():+.0f} ± {error:.0f} | {int(np.sum(default <= values))}/{n_splits} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="p ≤ 1,000 and diabetes only")
    parser.add_argument("--diabetes-splits", type=int, default=0,
                        help="instead: the diabetes problem over this many random splits")
    started = time.perf_counter()
    arguments = parser.parse_args()
    print(diabetes_splits(arguments.diabetes_splits) if arguments.diabetes_splits else run(quick=arguments.quick))
    print(f"_{time.perf_counter() - started:.0f} s in all_")
