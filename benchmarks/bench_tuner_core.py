"""Issue 13 before/after: the network tuners now on the generic core, on the digits MLP.

Run it on two checkouts (before and after a change to the tuner core) and compare the output:
the same fits in the same order give the same λ, test NLL and fit count.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_tuner_core.py

Digits (scikit-learn), 500 training images / 1297 test, MLP 64-256-256-10, Adam lr 3e-3,
batch 128, 40 epochs, seed 0; cv: 13 δ × 5 folds; optuna: 12 trials, pruning every 10 epochs.
Older trees spell the keyword ``method=``; the script uses whichever the installed lamina has.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_tuner_core.py evidence

runs the online evidence instead (the one MacKay step of lamina/tuners/evidence.py): the same
digits MLP, 300 epochs, seed 0, K-FAC, K-FAC on the identified directions (``per_direction``),
diagonal GGN, and a Gaussian-likelihood fit of the one-hot labels (the noise step).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_tuner_core.py evidence_search

compares the generic EvidenceSearch with the linear evidence tuner (diabetes, ridge, 5 groups
of 2 features) and, on 10 random two-group L2 inverse problems (100 × 60; group 0: 30 large
coefficients, group 1: 30 small ones; σ = 0.5), tuner="evidence" with "gcv" (one λ).
"""
import sys, json, inspect, time, numpy as np, torch, warnings
warnings.simplefilter("ignore")
torch.set_num_threads(1)
import lamina.torch as lt
from sklearn.datasets import load_digits
X, y = load_digits(return_X_y=True)
order = np.random.default_rng(0).permutation(len(y))
Xtr, ytr = (X[order[:500]] / 16).astype(np.float32), y[order[:500]]
Xte, yte = (X[order[500:]] / 16).astype(np.float32), y[order[500:]]
key = "tuner" if "tuner" in inspect.signature(lt.tune).parameters else "method"
out = {}
if sys.argv[1:] == ["evidence"]:
    onehot = np.eye(10, dtype=np.float32)
    for label, opts in (("kfac", {"structure": "kfac"}), ("kfac_directions", {"structure": "kfac", "per_direction": True}),
                        ("diag", {"structure": "diag"}), ("gaussian_kfac", {"structure": "kfac", "likelihood": "regression"})):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
        gauss = opts.get("likelihood") == "regression"
        train, test = ((Xtr, onehot[ytr]), (Xte, onehot[yte])) if gauss else ((Xtr, ytr), (Xte, yte))
        t = time.perf_counter()
        r = lt.tune(net, train, epochs=300, lr=3e-3, batch_size=128, seed=0, **{key: "evidence"}, **opts)
        out[label] = {"lambdas": r.lambdas, "test_nll": lt.evaluate(r.model, test, "regression" if gauss else "classification")["nll"],
                      "noise_precision": r.info.get("noise_precision"), "seconds": time.perf_counter() - t}
    print(json.dumps(out, indent=1))
    sys.exit()
if sys.argv[1:] == ["evidence_search"]:
    import lamina
    from lamina.inverse import fit as inverse_fit
    from sklearn.datasets import load_diabetes
    Xd, yd = load_diabetes(return_X_y=True)
    labels = np.repeat(np.arange(5), 2)
    for name in ("evidence", "evidence_search"):
        m = lamina.Ridge(lam="auto", tuner=name, groups=labels).fit(Xd, yd)
        out[f"diabetes {name}"] = {"lam": np.round(m.lam_, 10).tolist(), "posteriors": m.tuning_.compute.fits,
                                   "iterations": len(m.tuning_.trajectory)}
    errors = {"evidence": [], "gcv": []}
    for seed in range(10):
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((100, 60))
        x = np.r_[2.0 * rng.standard_normal(30), 0.1 * rng.standard_normal(30)]
        b = A @ x + 0.5 * rng.standard_normal(100)
        for rule in errors:
            r = inverse_fit(A, b, "l2", tuner=rule, groups=np.repeat([0, 1], 30))
            errors[rule].append(float(np.linalg.norm(r.x - x) / np.linalg.norm(x)))
    out["inverse relative error (mean of 10)"] = {k: round(float(np.mean(v)), 5) for k, v in errors.items()}
    out["inverse evidence better on"] = int(np.sum(np.array(errors["evidence"]) < np.array(errors["gcv"])))
    print(json.dumps(out, indent=1))
    sys.exit()
for name, opts in (("cv", {"folds": 5}), ("optuna", {"n_trials": 12, "prune_every": 10})):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    t = time.perf_counter()
    r = lt.tune(net, (Xtr, ytr), epochs=40, lr=3e-3, batch_size=128, seed=0, **{key: name}, **opts)
    out[name] = {"lambdas": r.lambdas, "test_nll": lt.evaluate(r.model, (Xte, yte))["nll"], "fits": r.compute.fits,
                 "seconds": time.perf_counter() - t}
print(json.dumps(out, indent=1))
