"""Fits whose objective is tiny: its error at the default tol (logistic regression on nearly separable
data; the lasso and the elastic net close to interpolation).

At a small λ a logistic fit on separable (or nearly so) data drives the training loss toward 0: the
objective is tiny, while a stopping criterion in units of the gradient at 0 (‖∇F(0)‖∞) stays
large against it. This benchmark fits ``lamina.LogisticRegression(lam, penalty)`` at its default
``tol`` (1e-6) and reports the relative error of its objective,

    (P(default) − P*) / P*,   P* the objective of the same fit at tol = 1e-13,

with the seconds of the default fit (best of 3, one thread). Data: scikit-learn's wine (class 0
against the rest; and its three classes), breast_cancer (standardized and as shipped), iris
(class 2 against the rest; three classes), digits (0 against 1; the first 300 images of 0–3),
a sparse random design (400 × 1000, 1 % nonzeros, three classes), λ ∈ {1e-7, 1e-5, 1e-3}, L1 and
L2. Rows whose relative error exceeds the default tol are what the
criterion must prevent. λ ∈ {1, 10} add the other end: a few coefficients survive, on unscaled
columns (breast_cancer as shipped) where the Newton subproblems' gap target once met the warm start
and the fit warned needlessly ("converged" says no).

The same for ``lamina.Lasso`` and ``lamina.ElasticNetModel`` (ρ = 0.5) where p > n and λ is small, so
that the fit nearly interpolates and the objective is a small part of ½‖y‖²/n, the unit of
scikit-learn's duality-gap criterion: Gaussian designs 50 × 300 and 100 × 1000 (p > n) and 200 × 50,
y from 5 columns plus noise 0.1, seeds 0–2, λ ∈ {1e-2, 1e-3, 1e-4}; the reference is the same fit at
tol = 1e-13 (coordinate descent's outer iterations raised to 5000). The same designs and λ (times n:
the operator convention ½‖Ax − b‖² + λR(x)) through ``lamina.solve`` on the design wrapped as a
``scipy.sparse.linalg.LinearOperator``, which runs FISTA (the default solver of operators, which
stopped at a gap of tol · ½‖b‖² until 5 December 2026); the reference is coordinate descent on the
explicit design at tol = 1e-13.

Usage: ``python benchmarks/bench_separable.py [--quick]`` (quick: λ ∈ {1e-7, 10}, resp. 1e-4, only) or through
``benchmarks/run.py``.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy.special import logsumexp

TIGHT_TOL = 1e-13


def datasets() -> dict:
    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
    from sklearn.preprocessing import StandardScaler
    standard = lambda X: StandardScaler().fit_transform(X)  # noqa: E731
    wine_X, wine_y = load_wine(return_X_y=True)
    cancer_X, cancer_y = load_breast_cancer(return_X_y=True)
    iris_X, iris_y = load_iris(return_X_y=True)
    digits_X, digits_y = load_digits(return_X_y=True)
    return {
        "wine, class 0 vs rest (std.)": (standard(wine_X), (wine_y == 0).astype(int)),
        "breast_cancer (std.)": (standard(cancer_X), cancer_y),
        "breast_cancer (as shipped)": (cancer_X, cancer_y),
        "iris, class 2 vs rest (std.)": (standard(iris_X), (iris_y == 2).astype(int)),
        "digits 0 vs 1": (digits_X[digits_y < 2] / 16, digits_y[digits_y < 2]),
        "wine, 3 classes (std.)": (standard(wine_X), wine_y),
        "iris, 3 classes (std.)": (standard(iris_X), iris_y),
        "digits 0–3, 300 images": (digits_X[digits_y < 4][:300] / 16, digits_y[digits_y < 4][:300]),
        "sparse 400 × 1000, 3 classes": sparse_classes(),
    }


def sparse_classes():
    """A sparse design (1 % nonzeros) whose labels follow a linear model with little noise."""
    import scipy.sparse as sp
    rng = np.random.default_rng(0)
    X = sp.random(400, 1000, density=0.01, random_state=0, format="csr")
    return X, np.argmax(X @ rng.standard_normal((1000, 3)) + 0.1 * rng.gumbel(size=(400, 3)), axis=1)


def objective(model, X, y, lam: float, penalty: str) -> float:
    """The estimator's objective: mean log-loss + λ R(W), R = ‖W‖₁ or ½‖W‖²."""
    W = model.coef_
    if W.ndim == 1:
        z = X @ W + model.intercept_
        loss = np.mean(np.logaddexp(0.0, z) - y * z)
    else:
        Z = X @ W.T + model.intercept_
        loss = np.mean(logsumexp(Z, axis=1) - Z[np.arange(len(y)), y])
    return float(loss + lam * (np.abs(W).sum() if penalty == "l1" else 0.5 * np.sum(W * W)))


def default_against_tight(model, objective_of, tight_max_iter: int) -> dict:
    """Fit ``model()`` (default tol) three times and ``model(tol=TIGHT_TOL, max_iter=tight_max_iter)`` once;
    the default fit's relative error of ``objective_of(fit)`` against the tight one, its best
    seconds, whether it converged without a warning, and the fit itself."""
    seconds = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            started = time.perf_counter()
            default = model()
            seconds.append(time.perf_counter() - started)
        reference = objective_of(model(tol=TIGHT_TOL, max_iter=tight_max_iter))
    warned = any("tol=1e-06" in str(w.message) for w in caught)
    return {"error": (objective_of(default) - reference) / reference, "seconds": min(seconds),
            "converged": bool(default.result_.converged) and not warned, "fit": default, "reference": reference}


def measure(X, y, lam: float, penalty: str) -> dict:
    from lamina import LogisticRegression
    row = default_against_tight(lambda **options: LogisticRegression(lam=lam, penalty=penalty, **options).fit(X, y),
                                lambda fit: objective(fit, X, y, lam, penalty), tight_max_iter=1000)
    return {**row, "steps": int(row["fit"].n_iter_)}


def least_squares_designs() -> dict:
    """Gaussian designs (two with p > n) and y from 5 of their columns plus noise 0.1, seeds 0–2."""
    designs = {}
    for n, p in ((50, 300), (100, 1000), (200, 50)):
        for seed in range(3):
            rng = np.random.default_rng(seed)
            X = rng.standard_normal((n, p))
            designs[f"{n} × {p}, seed {seed}"] = (X, X[:, :5] @ rng.standard_normal(5) + 0.1 * rng.standard_normal(n))
    return designs


def least_squares_objective(model, X, y, lam: float, l1_ratio: float) -> float:
    """1/(2n)‖y − Xw − w₀‖² + λ(ρ‖w‖₁ + (1 − ρ)/2 ‖w‖²)."""
    w = model.coef_
    residual = y - X @ w - model.intercept_
    return float(residual @ residual / (2 * len(y)) + lam * (l1_ratio * np.abs(w).sum() + 0.5 * (1 - l1_ratio) * w @ w))


def measure_least_squares(X, y, lam: float, l1_ratio: float) -> dict:
    from lamina import ElasticNetModel, Lasso

    def model(**options):
        if l1_ratio == 1.0:
            return Lasso(lam=lam, **options).fit(X, y)
        return ElasticNetModel(lam=lam, l1_ratio=l1_ratio, **options).fit(X, y)
    row = default_against_tight(model, lambda fit: least_squares_objective(fit, X, y, lam, l1_ratio),
                                tight_max_iter=5000)
    return {**row, "share": row["reference"] / (0.5 * np.var(y))}


def least_squares_table(quick: bool) -> tuple[list[str], float]:
    header = "| design | model | λ | objective / ½ var(y) | relative error of the objective | seconds | converged |"
    return _designs_table(header, measure_least_squares, ("lasso", "elastic net 0.5"), quick)


def _designs_table(header: str, measure, labels, quick: bool) -> tuple[list[str], float]:
    """(markdown rows, largest error) of ``measure(X, y, lam, l1_ratio)`` over the least-squares
    designs, ρ ∈ {1, 0.5} (named ``labels``) and λ ∈ {1e-2, 1e-3, 1e-4} (``quick``: 1e-4)."""
    lams = [1e-4] if quick else [1e-2, 1e-3, 1e-4]
    lines, worst = [header, "|---|---|---|---|---|---|---|"], 0.0
    for name, (X, y) in least_squares_designs().items():
        for label, l1_ratio in zip(labels, (1.0, 0.5)):
            for lam in lams:
                row = measure(X, y, lam, l1_ratio)
                worst = max(worst, row["error"])
                lines.append(f"| {name} | {label} | {lam:.0e} | {row['share']:.1e} | {row['error']:.1e} | "
                             f"{row['seconds']:.3f} | {'yes' if row['converged'] else '**no**'} |")
    return lines, worst


def measure_operator(X, y, lam: float, l1_ratio: float) -> dict:
    """FISTA on ``aslinearoperator(X)`` at the default tol (best of 3 seconds) against coordinate
    descent on X at tol 1e-13; λ in the operator convention is n·lam."""
    import lamina
    from scipy.sparse.linalg import aslinearoperator
    penalty = lamina.L1() if l1_ratio == 1.0 else lamina.ElasticNet(l1_ratio)
    seconds = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            started = time.perf_counter()
            fit = lamina.solve(aslinearoperator(X), y, penalty, len(y) * lam, solver="fista")
            seconds.append(time.perf_counter() - started)
        reference = lamina.solve(X, y, penalty, len(y) * lam, solver="cd", tol=TIGHT_TOL, max_iter=5000)
    warned = any("tol=1e-06" in str(w.message) for w in caught)
    return {"error": (fit.objective - reference.objective) / reference.objective, "seconds": min(seconds),
            "converged": bool(fit.converged) and not warned, "share": reference.objective / (0.5 * y @ y)}


def operator_table(quick: bool) -> tuple[list[str], float]:
    header = ("| design (as an operator) | penalty | λ / n | objective / ½‖y‖² | relative error of the objective | "
              "seconds | converged |")
    return _designs_table(header, measure_operator, ("L1", "elastic net 0.5"), quick)


def run(quick: bool = False) -> str:
    from threadpoolctl import threadpool_limits
    lams = [1e-7, 10.0] if quick else [1e-7, 1e-5, 1e-3, 1.0, 10.0]
    lines = ["| data | penalty | λ | relative error of the objective | Newton steps | seconds | converged |",
             "|---|---|---|---|---|---|---|"]
    worst = 0.0
    with threadpool_limits(1):
        for name, (X, y) in datasets().items():
            for penalty in ("l1", "l2"):
                for lam in lams:
                    row = measure(X, y, lam, penalty)
                    worst = max(worst, row["error"])
                    lines.append(f"| {name} | {penalty} | {lam:.0e} | {row['error']:.1e} | {row['steps']} | "
                                 f"{row['seconds']:.3f} | {'yes' if row['converged'] else '**no**'} |")
        lines.append("")
        lines.append(_verdict("logistic regression", worst))
        squares, worst = least_squares_table(quick)
        operators, worst_operator = operator_table(quick)
    return "\n".join(lines + ["", *squares, "", _verdict("lasso and elastic net", worst),
                              "", *operators, "", _verdict("FISTA on operators", worst_operator)])


def _verdict(what: str, worst: float) -> str:
    return (f"{what}: largest relative error at the default tol (1e-6) **{worst:.1e}** — "
            + ("within the tolerance on every row." if worst <= 1e-6 else "**above the tolerance.**"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    print(run(parser.parse_args().quick))
