"""Oracle for issue 15, part 2: is there a decay per parameter type worth 2 % at all?

Same model and recipe as ``bench_transformer.py`` (width ``--d-model``, 2 blocks, 600 AdamW steps),
on the first ``--chars`` characters with every ``--val-every``-th of 100 blocks as validation
(a larger validation share than the benchmark's 1 in 10 when ``--val-every`` < 10).

Rows (validation perplexity, every one picked on the validation text: an *upper bound* on what
any tuner of the split can gain here):

1. the uniform grid — the nanoGPT convention, λ on every matrix, 0 on embeddings/norms/biases,
   λ ∈ ``--grid`` ({0.01, 0.1, 0.3, 1, 3}), 3 seeds; the best λ* by mean validation perplexity;
2. structured splits around λ*, 3 seeds: embedding decayed at λ* too; head ×4 and ÷4; MLP ×4
   and attention ×4 (the rest at λ*);
3. Optuna TPE over log λ per type group (embedding, attention, MLP, head; each in
   [``--low``, ``--high``]), ``--trials`` trials on seed 0 (the uniform-grid points enqueued as its
   first trials), then the ``--top`` best trials rerun on the other seeds and the best by its mean
   over all seeds kept.

Reported: paired Δ% (per seed, vs λ*'s run of the same seed) mean ± s.e. for every row.

Usage: ``OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/oracle_transformer.py --chars 20000
--val-every 5 --json oracle.json``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from bench_transformer import _mean_se   # mean and standard error over seeds

GROUPS = {"embedding": ("embedding",), "attn": ("attn.",), "mlp": ("mlp.",), "head": ("head",)}


def expand(model_types, group_decays: dict) -> dict:
    """Decay per parameter type from a decay per group (norms and biases 0)."""
    out = {}
    for key in model_types:
        out[key] = 0.0
        for group, prefixes in GROUPS.items():
            if any(key == p or (p.endswith(".") and key.startswith(p)) for p in prefixes):
                out[key] = float(group_decays.get(group, 0.0))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--val-every", type=int, default=5)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed … first-seed + seeds − 1")
    parser.add_argument("--grid", nargs="+", type=float, default=[0.01, 0.1, 0.3, 1.0, 3.0])
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--low", type=float, default=1e-3)
    parser.add_argument("--high", type=float, default=10.0)
    parser.add_argument("--structured", nargs="*", default=None,
                        help="structured splits to run (default all; names as in the table, e.g. 'head ×4')")
    parser.add_argument("--fixed", nargs=4, type=float, default=None, metavar=("EMB", "ATTN", "MLP", "HEAD"),
                        help="run only this split (decays of embedding, attention, MLP, head), no grid or search")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.fixed is not None and min(args.fixed) < 0:
        parser.error(f"--fixed: decays must be >= 0, got {args.fixed}")

    import optuna
    import torch
    torch.set_num_threads(1)
    from lamina.torch.lm import CharTransformer, LMConfig, LMRecipe, load_corpus, make_adamw, param_types, train_lm

    corpus = load_corpus(val_every=args.val_every, max_chars=args.chars)
    config = LMConfig(corpus.vocab_size, context=64, d_model=args.d_model, n_layers=2, n_heads=4)
    recipe = LMRecipe(steps=args.steps, lr=3e-3, warmup=50, batch_size=32)
    types = list(param_types(CharTransformer(config)))
    print(f"corpus {corpus.train.numel()} train / {corpus.val.numel()} validation characters; types {types}", flush=True)
    rows, cache, started = [], {}, time.perf_counter()

    def run(name, groups, seed):
        key = (tuple(sorted((k, round(v, 12)) for k, v in groups.items())), seed)
        if key not in cache:
            torch.manual_seed(seed)
            model = CharTransformer(config, seed=seed)
            optimizer = make_adamw(model, expand(types, groups), recipe.lr, betas=(0.9, 0.95))
            cache[key] = train_lm(model, corpus.train, corpus.val, optimizer, recipe, seed=seed).val_ppl
        rows.append({"row": name, "seed": seed, "groups": groups, "val_ppl": cache[key]})
        print(f"{name:28s} seed {seed} val ppl {cache[key]:.4f}  {json.dumps({k: round(v, 4) for k, v in groups.items()})}"
              f"  [{time.perf_counter() - started:.0f} s]", flush=True)
        if args.json:
            with open(args.json, "w") as handle:
                json.dump({"args": vars(args), "rows": rows}, handle, indent=1)
        return cache[key]

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.fixed is not None:
        split = dict(zip(("embedding", "attn", "mlp", "head"), args.fixed))
        for seed in seeds:
            run("fixed " + "/".join(f"{v:g}" for v in args.fixed), split, seed)
        return
    uniform = lambda lam: {"embedding": 0.0, "attn": lam, "mlp": lam, "head": lam}   # noqa: E731
    for lam in args.grid:
        for seed in seeds:
            run(f"uniform λ={lam:g}", uniform(lam), seed)
    means = {lam: np.mean([r["val_ppl"] for r in rows if r["row"] == f"uniform λ={lam:g}"]) for lam in args.grid}
    best = min(means, key=means.get)
    print(f"best uniform λ* = {best:g}", flush=True)
    structured = {"embedding λ* too": {**uniform(best), "embedding": best},
                  "head ×4": {**uniform(best), "head": 4 * best}, "head ÷4": {**uniform(best), "head": best / 4},
                  "MLP ×4": {**uniform(best), "mlp": 4 * best}, "attention ×4": {**uniform(best), "attn": 4 * best}}
    unknown = sorted(set(args.structured or ()) - set(structured))
    if unknown:
        parser.error(f"--structured: unknown {unknown}; choose from {list(structured)}")
    for name, groups in structured.items():
        if args.structured is not None and name not in args.structured:
            continue
        for seed in seeds:
            run(name, groups, seed)

    def objective(trial):
        groups = {g: trial.suggest_float(g, args.low, args.high, log=True) for g in GROUPS}
        return run(f"tpe trial {trial.number}", groups, 0)

    ranked = []
    if args.trials >= 1:
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0), direction="minimize")
        for lam in args.grid:   # TPE starts from the uniform grid (embedding at the lower bound ≈ 0)
            study.enqueue_trial({"embedding": args.low, "attn": lam, "mlp": lam, "head": lam})
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study.optimize(objective, n_trials=args.trials)
        ranked = sorted((t for t in study.trials if t.value is not None), key=lambda t: t.value)[:args.top]
    for i, trial in enumerate(ranked):
        for seed in seeds:
            run(f"tpe top {i + 1} (trial {trial.number})", dict(trial.params), seed)

    reference = {r["seed"]: r["val_ppl"] for r in rows if r["row"] == f"uniform λ={best:g}"}
    print(f"\n| row | val ppl (mean ± s.e.) | Δ% vs uniform λ*={best:g} (paired) | decays |\n|---|---|---|---|")
    names = [n for n in dict.fromkeys(r["row"] for r in rows) if not n.startswith("tpe trial")]
    for name in names:
        sel = [r for r in rows if r["row"] == name]
        ppl, delta = _mean_se([r["val_ppl"] for r in sel]), _mean_se(
            [100 * (r["val_ppl"] / reference[r["seed"]] - 1) for r in sel])
        groups = ", ".join(f"{k} {v:.3g}" for k, v in sel[0]["groups"].items())
        print(f"| {name} | {ppl[0]:.4f} ± {ppl[1]:.4f} | {delta[0]:+.2f} ± {delta[1]:.2f} | {groups} |")
    print(f"\nwall time {time.perf_counter() - started:.0f} s (timed under load)")


if __name__ == "__main__":
    main()
