"""Issue 13: the inverse ``per_group="hypergradient"`` (the generic HypergradientSearch from the
single-λ choice, one hold-out split) on random two-group L1 problems; run on two trees to compare.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_inverse_pergroup.py [--problems 24]

Problem s (seed s): A 90 × 120 Gaussian, columns split in two groups of 60; group 0 "dense"
(20 nonzeros ~ N(0, 0.5²)), group 1 "sparse" (3 nonzeros ±3); b = Ax + 0.5 ε. Reports the mean
relative error ‖x̂ − x‖/‖x‖ with one λ (the default rule) and with a λ per group, the paired
difference and the mean fits.
"""
import argparse
import json
import warnings

import numpy as np

import lamina.inverse as inv


def problem(seed):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((90, 120))
    x = np.zeros(120)
    x[rng.choice(60, 20, replace=False)] = 0.5 * rng.standard_normal(20)
    x[60 + rng.choice(60, 3, replace=False)] = 3.0 * rng.choice([-1.0, 1.0], 3)
    return A, A @ x + 0.5 * rng.standard_normal(90), x, np.repeat([0, 1], 60)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--problems", type=int, default=24)
    args = parser.parse_args()
    single, pergroup, fits = [], [], []
    for seed in range(args.problems):
        A, b, x, groups = problem(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one = inv.fit(A, b, "l1", groups=groups)
            per = inv.fit(A, b, "l1", groups=groups, per_group="hypergradient")
        single.append(float(np.linalg.norm(one.x - x) / np.linalg.norm(x)))
        pergroup.append(float(np.linalg.norm(per.x - x) / np.linalg.norm(x)))
        fits.append(float(per.tune.compute.fits))
    d = np.array(pergroup) - np.array(single)
    print(json.dumps({"single": float(np.mean(single)), "per_group": float(np.mean(pergroup)),
                      "paired_per_group_minus_single": [float(d.mean()), float(d.std(ddof=1) / np.sqrt(len(d)))],
                      "fits": float(np.mean(fits)), "per_problem": pergroup}, indent=1))
