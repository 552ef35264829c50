"""One sentence per study: did a λ per group beat one λ for all, beyond the seed-to-seed noise?

A cell counts as *one λ* when every group got the same λ (rules and tuners alike: the
``heldout`` tuner on a ReLU chain is one λ, on a tanh network it is not), as *per group* when
its λ differ by more than 1 %, and is left out when all its λ are 0 (no regularization).
The best method of each kind (lowest mean metric) are compared on the seeds both ran: the
mean paired difference ± its standard error, called a difference only beyond the two-sided
95 % Student quantile times that error (12.7 s.e. for 2 seeds, 4.3 for 3, 2.1 for 20), and
what each cost in fits. The identifiability
finding of the model (``lamina.torch.identifiability``), when the cells recorded one, says
whether the data could have told the layers apart at all; with a prior mean, whether its
pretrained features transfer (``lamina.torch.transferability``) says which split to expect.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import t as student_t


def _kind(lambdas: dict) -> str | None:
    values = np.array([float(v) for v in lambdas.values()]) if lambdas else np.array([])
    if values.size == 0 or not np.all(np.isfinite(values)) or np.all(values == 0):
        return None
    return "one" if values.max() <= 1.01 * values.min() else "per_group"


def _by_method(rows: list[dict]) -> dict:
    """method → {"kinds", "values": {seed: metric}, "fits": [...], "non_finite": count},
    completed cells only; a cell whose metric is NaN or infinite (a diverged fit) is counted in
    ``non_finite``, not in ``values``."""
    methods: dict = {}
    for row in rows:
        metrics, params = row.get("metrics") or {}, row.get("params") or {}
        value = metrics.get("objective")
        if row.get("state") != "COMPLETE":
            continue
        method = params.get("strategy") or params.get("method") or row["cell"].split("/")[0]
        entry = methods.setdefault(method, {"kinds": set(), "values": {}, "fits": [], "non_finite": 0})
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            entry["non_finite"] += 1
            continue
        entry["kinds"].add(_kind(metrics.get("lambdas") or {}))
        entry["values"][params.get("seed", row["cell"])] = float(value)
        entry["fits"].append(float(metrics.get("fits", float("nan"))))
    return methods


def paired(a: dict, b: dict) -> tuple[float, float, int, int | None]:
    """Mean and standard error of a − b over the seeds both ran, their number, and the sign
    called: −1 (a lower), +1 (b lower), 0 (within the 95 % Student bound), None (< 2 seeds)."""
    seeds = sorted(set(a) & set(b), key=str)
    diff = np.array([a[s] - b[s] for s in seeds], dtype=np.float64)
    se = diff.std(ddof=1) / math.sqrt(diff.size) if diff.size > 1 else float("nan")
    mean = float(diff.mean()) if diff.size else float("nan")
    bound = float(student_t.ppf(0.975, diff.size - 1)) * se if diff.size > 1 else float("nan")
    if not math.isfinite(bound):
        return mean, se, int(diff.size), None
    return mean, se, int(diff.size), (-1 if mean < -bound else 1 if mean > bound else 0)


def _spread(se: float) -> str:
    """" ± s.e." of a paired difference, or nothing where one seed leaves it undefined."""
    return f" ± {se:.2g}" if math.isfinite(se) else ""


def _delta(metric: str, mean: float, se: float, digits: int = 4, between: str = " = ") -> str:
    """"Δ NLL = -0.1 ± 0.02", or "no seed in common" where the two methods share no seed (the
    difference is undefined then: the sentence must not show NaN)."""
    if not math.isfinite(mean):
        return "no seed in common"
    return f"Δ {metric}{between}{mean:+.{digits}g}{_spread(se)}"


def verdict(rows: list[dict], metric: str = "objective", unit: str = "layer") -> str | None:
    """The sentence (None when the study has no one-λ method or no per-group method); ``unit``
    names the groups ("layer", "feature group", "depth or round")."""
    methods = _by_method(rows)
    best = {}
    for kind in ("one", "per_group"):
        candidates = {m: e for m, e in methods.items() if e["kinds"] == {kind}}
        if candidates:
            best[kind] = min(candidates, key=lambda m: np.mean(list(candidates[m]["values"].values())))
    if len(best) < 2:
        return None
    one, per = methods[best["one"]], methods[best["per_group"]]
    mean, se, n, sign = paired(per["values"], one["values"])
    outcome = {None: "too few shared seeds to tell", -1: f"a λ per {unit} helped",
               1: "one λ for all was better", 0: f"a λ per {unit} did not help beyond the seed-to-seed noise"}[sign]
    text = (f"Verdict: {outcome} — best per-{unit} method {best['per_group']!r} vs best one-λ method "
            f"{best['one']!r}: {_delta(metric, mean, se)} (paired over {n} seeds; "
            f"lower is better){_costs(per['fits'], one['fits'])}.{_left_out(methods)}{_mixed(methods, unit)}")
    findings = {str((row.get("metrics") or {}).get("identifiability")) for row in rows
                if (row.get("metrics") or {}).get("identifiability")}
    if len(findings) == 1:
        text += f" Identifiability: {findings.pop()}."
    return text + _transfer_finding(rows)


def _transfer_finding(rows: list[dict]) -> str:
    """" Pretrained features: …" where the cells recorded whether the prior mean's features transfer
    (``lamina.torch.transferability``), one verdict per seed."""
    verdicts = {(r.get("params") or {}).get("seed", r.get("cell")): (r.get("metrics") or {}).get("transfer")
                for r in rows if (r.get("metrics") or {}).get("transfer")}
    if not verdicts:
        return ""
    counts = {v: list(verdicts.values()).count(v) for v in ("transfer", "no transfer", "undecided")}
    said = ", ".join(f"{label} on {counts[v]} of {len(verdicts)} seeds" for v, label in
                     (("transfer", "transfer"), ("no transfer", "do not transfer"), ("undecided", "undecided"))
                     if counts[v])
    return (f" Pretrained features (a ridge readout of them against the raw inputs' and the untrained "
            f"body's, leave-one-out): {said}.")


def _left_out(methods: dict) -> str:
    """A sentence naming the methods with cells whose metric was NaN or infinite (a diverged
    fit): left out of the means and the pairing, as failed cells are, but said."""
    dropped = [f"{m!r} on {e['non_finite']} of {e['non_finite'] + len(e['values'])} seeds"
               for m, e in sorted(methods.items()) if e["non_finite"]]
    return f" Not finite, left out of the means and the pairing: {', '.join(dropped)}." if dropped else ""


def _mixed(methods: dict, unit: str) -> str:
    """A sentence naming the methods left out of both kinds because their cells are not all of one
    kind (one λ on some seeds, a λ per group or no λ on others): silently dropped, the best method
    of a study could go unmentioned."""
    mixed = [repr(m) for m, e in sorted(methods.items()) if len(e["kinds"]) > 1]
    return (f" Left out, one λ on some seeds and not on others (a λ per {unit}, or none): "
            f"{', '.join(mixed)}." if mixed else "")


def _costs(per_fits, one_fits) -> str:
    """", at 1.3 vs 1 fits" where the cells recorded their cost in fits (linear studies do not)."""
    if not (np.isfinite(per_fits).any() and np.isfinite(one_fits).any()):
        return ""
    return f", at {np.nanmean(per_fits):.3g} vs {np.nanmean(one_fits):.3g} fits"


_CALLED = {None: "too few shared seeds to tell", -1: "helped", 1: "was worse", 0: "no difference beyond the noise"}


def sparsity_verdict(rows: list[dict], metric: str = "error") -> str | None:
    """One sentence for a sparsity study (cells with ``params["sparsity"]``): at each target
    sparsity, the best method with a λ per layer against the best with one λ for every layer,
    and against the best allocation without λ (magnitude pruning: cells whose ``lambdas`` are
    empty), paired over seeds as in :func:`verdict`; then the model's identifiability finding
    when the cells recorded one (along a rescaling symmetry the L1 penalty λ_g c‖W_g‖₁ +
    λ_h‖W_h‖₁/c depends on λ_g λ_h only, as L2's does on δ_g δ_h). None when no target has a
    per-layer method and something to compare it with."""
    parts, seeds = [], set()
    for rho in sorted({float((r.get("params") or {}).get("sparsity", "nan")) for r in rows}):
        if not math.isfinite(rho):
            continue
        methods = _by_method([r for r in rows if (r.get("params") or {}).get("sparsity") == rho])

        def best(kind):
            candidates = [m for m, e in methods.items() if e["kinds"] == {kind}]
            return min(candidates, key=lambda m: np.mean(list(methods[m]["values"].values())), default=None)

        per = best("per_group")
        if per is None:
            continue
        said = []
        for other, name in ((best("one"), "one λ"), (best(None), "the best allocation")):
            if other is not None:
                mean, se, n, sign = paired(methods[per]["values"], methods[other]["values"])
                seeds.add(n)
                if abs(mean) < 1e-12:       # equal errors, up to rounding: shown as +0, so not called
                    mean, sign = 0.0, (None if sign is None else 0)
                said.append(f"vs {name} ({other!r}) {_CALLED[sign]}, {_delta(metric, mean, se, 3, ' ')}")
        if said:
            parts.append(f"at {100 * rho:g}% a λ per layer ({per!r}) " + "; ".join(said))
    if not parts:
        return None
    counted = "/".join(str(n) for n in sorted(seeds))
    text = (f"Verdict (paired over {counted} seeds, lower {metric} is better, a difference called beyond the "
            "95 % Student bound): " + ". ".join(parts) + ".")
    findings = {str((row.get("metrics") or {}).get("identifiability")) for row in rows
                if (row.get("metrics") or {}).get("identifiability")}
    if len(findings) == 1:
        text += (" Identifiability (the rescaling symmetries bind the L1 λ as they bind the L2 δ; the L0 count "
                 f"is scale-free): {findings.pop()}.")
    return text
