"""Issue 13 before/after: the linear hypergradient tuner (multi-start + re-entry probes) on the
generic core. The hypergradient rows of ``bench_linear_tuning.py`` (same problems, same data),
plus the CV loss, fits and solver epochs each tuner spent, so that two trees can be compared:

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_hypergradient_core.py [--quick] [--splits N]

Rows: ``Lasso(lam="auto")`` (the default: path + evidence starts, probes), the hypergradient
from the path start only, on one hold-out split, and ``Ridge(tuner="hypergradient")``;
``--splits N`` adds the default on N random 70/30 diabetes splits (mean test MSE).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_linear_tuning import diabetes, problems, warm_up  # noqa: E402


def rows(problem):
    import lamina
    g = problem.groups
    made = {
        "Lasso auto (default)": lambda: lamina.Lasso(groups=g, lam="auto"),
        "Lasso hypergradient, path start only": lambda: lamina.Lasso(
            groups=g, lam="auto", tuner=lamina.HypergradientTuner(starts=("path",))),
        "Lasso hypergradient hold-out": lambda: lamina.Lasso(groups=g, lam="auto",
                                                             tuner=lamina.HypergradientTuner(cv=1)),
    }
    if problem.X.shape[1] <= 2000:
        made["Ridge hypergradient"] = lambda: lamina.Ridge(groups=g, lam="auto", tuner="hypergradient")
    out = {}
    for name, make in made.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            model = make().fit(problem.X, problem.y)
            seconds = time.perf_counter() - start
        t = model.tuning_
        out[name] = {"test_mse": float(np.mean((model.predict(problem.X_test) - problem.y_test) ** 2)),
                     "cv_score": float(t.info["cv_score"]), "fits": float(t.compute.fits),
                     "epochs": int(t.compute.epochs), "seconds": round(seconds, 2),
                     "nonzeros": int(np.count_nonzero(model.coef_))}
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--splits", type=int, default=0)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        warm_up()
        result = {p.name: rows(p) for p in problems(args.quick)}
        if args.splits:
            import lamina
            mses = []
            for seed in range(args.splits):
                p = diabetes(seed)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = lamina.Lasso(groups=p.groups, lam="auto").fit(p.X, p.y)
                mses.append(float(np.mean((model.predict(p.X_test) - p.y_test) ** 2)))
            result[f"diabetes default, {args.splits} splits"] = {"mean_test_mse": float(np.mean(mses)),
                                                                  "per_split": mses}
    print(json.dumps(result, indent=1))
