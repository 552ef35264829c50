"""benchopt integration: lamina's solver file and the timing read-out of bench_benchopt.

benchopt itself is a benchmark-only dependency; the solver file is exercised here through a
minimal stand-in for its two imports (``BaseSolver``, ``safe_import_context``), which is all
the file uses of it, so the suite checks what the benchmark will run without installing it.
"""
import contextlib
import importlib.util
import pathlib
import sys
import types

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Lasso as SkLasso

BENCH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def solver_class(monkeypatch):
    fake = types.ModuleType("benchopt")
    fake.BaseSolver = type("BaseSolver", (), {})
    fake.safe_import_context = contextlib.nullcontext
    monkeypatch.setitem(sys.modules, "benchopt", fake)
    return _load(BENCH / "benchopt" / "lamina_solver.py", "lamina_benchopt_solver").Solver


def _objective(X, y, lmbd, beta, fit_intercept):
    coef, intercept = (beta[:-1], beta[-1]) if fit_intercept else (beta, 0.0)
    r = y - X @ coef - intercept
    return 0.5 * r @ r + lmbd * np.abs(coef).sum()


@pytest.mark.parametrize("fit_intercept", [False, True])
def test_solver_file_reaches_the_benchmark_optimum(solver_class, lasso_problem, fit_intercept):
    X, y = lasso_problem
    y = y + 3.0
    lmbd = 0.05 * np.abs(X.T @ (y - y.mean() * fit_intercept)).max()
    solver = solver_class()
    solver.set_objective(X, y, lmbd, fit_intercept)
    values = []
    for n_iter in (0, 1, 2, 30):
        solver.run(n_iter)
        beta = solver.get_result()["beta"]
        assert beta.shape == (X.shape[1] + fit_intercept,)
        values.append(_objective(X, y, lmbd, beta, fit_intercept))
    assert values[0] == pytest.approx(_objective(X, y, lmbd, np.zeros(X.shape[1] + fit_intercept),
                                                 fit_intercept))
    assert values[1] < values[0] and values[-1] <= values[2] + 1e-9
    reference = SkLasso(alpha=lmbd / X.shape[0], fit_intercept=fit_intercept, tol=1e-12,
                        max_iter=100_000).fit(X, y)
    beta_ref = np.r_[reference.coef_, reference.intercept_] if fit_intercept else reference.coef_
    best = _objective(X, y, lmbd, beta_ref, fit_intercept)
    assert (values[-1] - best) / best < 1e-8
    assert solver.get_next(4) == 5


def test_time_to_target_takes_the_first_point_below_target():
    bench = _load(BENCH / "bench_benchopt.py", "bench_benchopt_module")
    keys = dict(p_dataset_n_features=5000, p_dataset_rho=0.6, p_obj_reg=0.01, p_obj_fit_intercept=False)
    rows = []
    # lamina: reaches 1e-6 at stop_val 2 (t = 0.2 and 0.4 over two repetitions → median 0.3)
    for rep, t in ((0, 0.2), (1, 0.4)):
        rows += [dict(keys, solver_name="lamina", idx_rep=rep, stop_val=s, time=t * s / 2, objective_value=v)
                 for s, v in ((1, 2.0), (2, 1.0 + 5e-7), (3, 1.0))]
    # solver b: only its last point is below target
    rows += [dict(keys, solver_name="b", idx_rep=0, stop_val=s, time=s, objective_value=v)
             for s, v in ((1, 1.5), (2, 1.0 + 1e-3), (3, 1.0 + 1e-7))]
    times = bench.time_to_target(pd.DataFrame(rows), 1e-6)
    row = times.iloc[0]
    assert row["lamina"] == pytest.approx(0.3) and row["b"] == pytest.approx(3.0)
    table = bench.markdown(times, "versions", "benchopt run …", 1e-6)
    assert "| 5000 | 0.6 | 0.01 | False | 300.0 | 3000.0 | 10.00 |" in table


def test_without_a_checkout_it_says_how_to_get_one(monkeypatch, tmp_path):
    bench = _load(BENCH / "bench_benchopt.py", "bench_benchopt_module")
    monkeypatch.setenv("BENCHOPT_LASSO", str(tmp_path))      # no objective.py there
    assert "git clone" in bench.run(quick=True)
    assert bench.main(["--quick"]) == 2
