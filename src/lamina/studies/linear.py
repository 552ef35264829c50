"""The linear-model study behind ``lamina linear``: a λ per feature group against one λ.

Each (strategy, seed) is one stored cell (see :mod:`lamina.studies.runner`); the seed draws
the train/test split (and, for the synthetic task, the data). Metric: held-out MSE; on
synthetic data also the F1 score of the recovered support.

Tasks
-----
``"diabetes"`` (default): scikit-learn's diabetes data, 10 features in three groups —
demographics (age, sex), body (bmi, bp), blood serum (s1 … s6) — 300 rows to fit, the rest held out.
``"synthetic"``: grouped-sparse design, 8 groups of 25 correlated features with different
scales and signal strengths (two groups carry no signal), n = 300.
``"path/to/file.npz"``: arrays ``X``, ``y`` and ``groups`` (a label per feature).
``"package.module:function"``: a function of ``seed`` returning ``(X, y, groups)``.
"""
from __future__ import annotations

import pathlib
import time
from dataclasses import dataclass

import numpy as np

from lamina.studies.tasks import TaskError, npz_arrays, task_identity, user_function

# name → (estimator family, tuner). "sklearn-*" are the scikit-learn baselines.
STRATEGIES = {
    "lasso-auto": ("lasso", "auto"), "lasso-evidence": ("lasso", "evidence"),
    "lasso-hypergradient": ("lasso", "hypergradient"), "lasso-cv": ("lasso", "cv"),
    "lasso-optuna": ("lasso", "optuna"),
    "ridge-auto": ("ridge", "auto"), "ridge-evidence": ("ridge", "evidence"),
    "ridge-hypergradient": ("ridge", "hypergradient"), "ridge-cv": ("ridge", "cv"),
    "sklearn-lassocv": ("sklearn", "LassoCV"), "sklearn-elasticnetcv": ("sklearn", "ElasticNetCV"),
    "sklearn-ard": ("sklearn", "ARDRegression"), "sklearn-ridgecv": ("sklearn", "RidgeCV"),
}
DEFAULT_STRATEGIES = ("lasso-auto", "ridge-auto", "lasso-cv", "sklearn-lassocv", "sklearn-ridgecv", "sklearn-ard")
DIABETES_GROUPS = np.array(["demographics"] * 2 + ["body"] * 2 + ["serum"] * 6)


@dataclass
class LinearTask:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    groups: np.ndarray
    support: np.ndarray | None = None


def synthetic(seed: int, n: int = 400, n_groups: int = 8, size: int = 25, rho: float = 0.5):
    """(X, y, groups, support): AR(1)-correlated features; group scales 0.3…3; two groups null."""
    rng = np.random.default_rng(seed)
    p = n_groups * size
    X = np.empty((n, p))
    X[:, 0] = rng.standard_normal(n)
    for j in range(1, p):
        X[:, j] = rho * X[:, j - 1] + np.sqrt(1 - rho ** 2) * rng.standard_normal(n)
    scales = np.repeat(np.geomspace(0.3, 3.0, n_groups)[rng.permutation(n_groups)], size)
    X *= scales
    w = np.zeros(p)
    strengths = np.array([2.0, 1.0, 0.5, 0.25, 1.5, 0.75, 0.0, 0.0])[:n_groups]
    for g, strength in enumerate(strengths):
        active = g * size + rng.choice(size, 5, replace=False)
        w[active] = strength * rng.choice([-1, 1], 5) / scales[active]
    signal = X @ w
    y = signal + rng.standard_normal(n) * np.std(signal) / 2.0
    return X, y, np.repeat([f"g{g}" for g in range(n_groups)], size), w != 0


def load_task(task: str, seed: int) -> LinearTask:
    """Train/held-out split of ``task`` for ``seed`` (see module doc)."""
    support = None
    if task == "diabetes":
        from sklearn.datasets import load_diabetes
        X, y = load_diabetes(return_X_y=True)
        groups, n_train = DIABETES_GROUPS, 300
    elif task == "synthetic":
        X, y, groups, support = synthetic(seed)
        n_train = 300
    elif task.endswith(".npz"):
        X, y, groups = _npz_linear(pathlib.Path(task))
        n_train = int(0.7 * len(y))
    else:
        function = user_function(task)
        try:
            X, y, groups = (np.asarray(a) for a in function(seed))
        except Exception as error:
            raise TaskError(f"--task {task}: the function must return (X, y, groups); "
                            f"{type(error).__name__}: {error}") from None
        n_train = int(0.7 * len(y))
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[:n_train], order[n_train:]
    return LinearTask(X[train], y[train], X[test], y[test], np.asarray(groups), support)


def _npz_linear(path: pathlib.Path):
    data = npz_arrays(path)
    missing = {"X", "y", "groups"} - set(data)
    if missing:
        raise TaskError(f"--task {path}: lacks arrays {sorted(missing)}")
    X, y, groups = data["X"], data["y"], data["groups"]
    if X.ndim != 2 or y.ndim != 1 or groups.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[1] != groups.shape[0] \
            or y.shape[0] < 4:
        raise TaskError(f"--task {path}: need X (n, p), y (n,) and groups (p,) with n >= 4; got shapes "
                        f"{X.shape}, {y.shape}, {groups.shape}")
    X, y = (_real_numbers(path, name, array) for name, array in (("X", X), ("y", y)))
    return X, y, groups


def _real_numbers(path: pathlib.Path, name: str, array: np.ndarray) -> np.ndarray:
    """``array`` as floats: booleans and integers are numbers the estimators take."""
    if array.dtype.kind not in "biuf":
        raise TaskError(f"--task {path}: {name} must be numeric (booleans, integers or real numbers), "
                        f"got dtype {array.dtype}")
    array = array.astype(float)
    if not np.all(np.isfinite(array)):
        raise TaskError(f"--task {path}: {name} must hold finite numbers (no NaN or inf)")
    return array


def _sklearn_model(name: str):
    from sklearn import linear_model
    return {"LassoCV": lambda: linear_model.LassoCV(cv=5, n_jobs=1),
            "ElasticNetCV": lambda: linear_model.ElasticNetCV(cv=5, l1_ratio=[0.2, 0.5, 0.8, 0.95]),
            "ARDRegression": lambda: linear_model.ARDRegression(),
            "RidgeCV": lambda: linear_model.RidgeCV(alphas=np.logspace(-4, 4, 30))}[name]()


def _sklearn_lambdas(model, groups: np.ndarray) -> dict[str, float]:
    """What a scikit-learn baseline tuned, per group, in its own convention (so that the verdict
    counts it): one ``alpha_`` for every group (LassoCV, ElasticNetCV, RidgeCV: one λ), ARD's
    per-coefficient precisions ``lambda_`` averaged geometrically within each group (a λ per
    coefficient: per group)."""
    names = list(dict.fromkeys(groups.tolist()))
    if not hasattr(model, "lambda_"):      # (ARD's alpha_ is its noise precision, not a penalty)
        return dict.fromkeys(names, float(model.alpha_))
    precisions = np.asarray(model.lambda_, dtype=np.float64)
    return {name: float(np.exp(np.mean(np.log(precisions[groups == name])))) for name in names}


def _f1(estimated: np.ndarray, truth: np.ndarray) -> float:
    found = np.abs(estimated) > 1e-10
    tp = np.sum(found & truth)
    return float(2 * tp / max(np.sum(found) + np.sum(truth), 1))


def run_cell(params: dict, recorder) -> dict:
    """Fit one strategy on one split; held-out MSE, F1 (synthetic), λ per group."""
    import lamina
    from lamina.report.study_report import storable_curve

    strategy = params["strategy"]
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
    family, tuner = STRATEGIES[strategy]
    task = load_task(params["task"], params["seed"])
    started = time.perf_counter()
    if family == "sklearn":
        model = _sklearn_model(tuner).fit(task.X_train, task.y_train)
        lambdas = _sklearn_lambdas(model, task.groups)
    else:
        estimator = lamina.Lasso if family == "lasso" else lamina.Ridge
        model = estimator(groups=task.groups, lam="auto", tuner=tuner).fit(task.X_train, task.y_train)
        names = list(dict.fromkeys(task.groups.tolist()))
        lambdas = dict(zip(names, np.atleast_1d(model.lam_).tolist()))
        tuning = getattr(model, "tuning_", None)
        for step, lam in enumerate(getattr(tuning, "trajectory", []) or []):
            recorder.log(step, lambdas=lam)
    seconds = time.perf_counter() - started
    residual = model.predict(task.X_test) - task.y_test
    metrics = {"objective": float(np.mean(residual ** 2)), "seconds": seconds, "lambdas": lambdas,
               "curve": storable_curve(getattr(getattr(model, "tuning_", None), "curve", None))}
    if task.support is not None:
        metrics["f1"] = _f1(model.coef_, task.support)
    return metrics


def study_cells(task: str, strategies, seeds: int):
    """The cells of a linear study: one per (strategy, seed)."""
    from lamina.studies.runner import Cell

    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"--methods: unknown {unknown}; choose from {sorted(STRATEGIES)}")
    identity = task_identity(task)
    return [Cell(f"{strategy}/seed={seed}",
                 {"task": task, **identity, "strategy": strategy, "method": strategy, "seed": seed})
            for strategy in strategies for seed in range(seeds)]


def check_task(task: str) -> None:
    """Load a data task once so that a bad one fails before any cell is stored;
    ``module:function`` tasks are loaded by the cells only (their code runs there)."""
    if task in ("diabetes", "synthetic") or str(task).endswith(".npz"):
        load_task(task, 0)
    else:
        user_function(task, check_only=True)
