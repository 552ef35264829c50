"""Weight decay per parameter type in an AdamW-trained character transformer (issue 15, part 2).

Setting (nothing downloaded): the first ``--chars`` characters of the Python reference topics
(``pydoc_data.topics``), split by contiguous blocks (every 10th of 100 blocks is validation);
a pre-LN character transformer (``--d-model`` 64, ``--layers`` 2, 4 heads, context 64,
untied head); AdamW, betas (0.9, 0.95), lr 3e-3, 50-step warm-up then cosine to 0.1×,
``--steps`` steps of 32 windows, gradient clipping at 1 — the same recipe and the same
batches (per seed) for every strategy. Strategies (``lamina.torch.lm.strategies``):

* ``none`` — no decay;
* ``nanogpt`` — one λ on every matrix (none on embeddings, norms, biases) from the grid
  {0.01, 0.1, 1.0}, picked on the validation perplexity (mean over seeds): the "best uniform λ",
  3 runs; note that picking on the reported validation text favours this baseline;
* ``timescale`` — ``nanogpt`` with λ = 1/Σ_t η_t (Wang & Aitchison's EMA timescale = the run), 1 run;
* ``alphadecay`` / ``awd`` — per-matrix decays around the best grid λ (1 run + the grid's 3);
* ``lamina`` — the held-out per-type tuner (``HeldoutDecayTuner``), its cost counted.

Reported: validation perplexity (mean ± s.e. over seeds), paired Δ% vs the best grid λ
(per seed, then mean ± s.e.), cost in training runs.

Usage: ``python benchmarks/bench_transformer.py [--seeds 3] [--steps 600] [--json out.json]``;
``--only lamina nanogpt --grid 0.01`` runs just those rows (every run is deterministic given its seed).
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

GRID = (0.01, 0.1, 1.0)


def _mean_se(values):
    values = np.asarray(values, dtype=float)
    se = values.std(ddof=1) / math.sqrt(values.size) if values.size > 1 else float("nan")
    return float(values.mean()), float(se)


def main(argv=None, log=print) -> str:
    """Run the rows the arguments name; return the markdown table (also logged with the per-run lines)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed … first-seed + seeds − 1")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--chars", type=int, default=120_000)
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--val-every", type=int, default=10, help="every n-th of 100 blocks is validation")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the recipe")
    parser.add_argument("--json", default=None, help="write every run here as it finishes")
    parser.add_argument("--only", nargs="+", default=None, choices=("none", "timescale", "lamina", "nanogpt",
                                                                      "alphadecay", "awd"),
                        help="run only these rows (the rest are deterministic given the seed: reuse them)")
    parser.add_argument("--grid", nargs="+", type=float, default=list(GRID), help="nanogpt's λ grid")
    parser.add_argument("--lamina-option", nargs="+", default=[], metavar="KEY=VALUE",
                        help="HeldoutDecayTuner options for the lamina row (numbers or names), e.g. z=inf temperature=off")
    args = parser.parse_args(argv)

    import torch
    torch.set_num_threads(1)
    from lamina.torch.lm import CharTransformer, LMConfig, LMRecipe, load_corpus, run_strategy

    corpus = load_corpus(val_every=args.val_every, max_chars=args.chars)
    config = LMConfig(corpus.vocab_size, context=64, d_model=args.d_model, n_layers=args.layers, n_heads=4)
    recipe = LMRecipe(steps=args.steps, lr=args.lr, warmup=50, batch_size=32)
    n_params = sum(p.numel() for p in CharTransformer(config).parameters())
    log(f"corpus: {corpus.train.numel()} train / {corpus.val.numel()} validation characters, vocab "
          f"{corpus.vocab_size}; model {n_params} parameters; {args.steps} steps × 32 × 64 characters", flush=True)
    runs: list[dict] = []

    def record(name, seed, run, cost):
        row = {"strategy": name, "seed": seed, "val_ppl": run.val_ppl, "train_loss": run.train_loss,
               "runs": cost, "seconds": run.seconds, "lambdas": run.info.get("lambdas", {}),
               "info": {k: v for k, v in run.info.items() if k != "lambdas"}}
        runs.append(row)
        log(f"{name:16s} seed {seed}  val ppl {run.val_ppl:.4f}  runs {cost:.3g}  {run.seconds:.0f} s  "
              f"λ {json.dumps({k: round(v, 4) for k, v in row['lambdas'].items()})}"
              + (f"  switched at {run.info['switched_at']}" if "switched_at" in run.info else "")
              + (f"  head log c* {run.info['log_temperatures']}" if run.info.get("log_temperatures") else ""),
              flush=True)
        if args.json:
            with open(args.json, "w") as handle:
                json.dump(runs, handle, indent=1)

    grid = tuple(args.grid)
    tuner_options = {}
    for item in args.lamina_option:
        key, _, value = item.partition("=")
        try:
            tuner_options[key] = int(value) if value.isdigit() else float(value)
        except ValueError:   # a name, e.g. temperature=off
            tuner_options[key] = value
    only = set(args.only or ("none", "timescale", "lamina", "nanogpt", "alphadecay", "awd"))
    if {"alphadecay", "awd"} & only and "nanogpt" not in only:
        parser.error("--only: alphadecay/awd need nanogpt's grid (their base λ)")
    started = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for strategy in ("none", "timescale", "lamina"):
            if strategy in only:
                run = run_strategy(strategy, corpus, config, recipe, seed, tuner_options=tuner_options)
                record(strategy, seed, run, run.runs)
        for lam in grid if "nanogpt" in only else ():
            record(f"nanogpt λ={lam:g}", seed, run_strategy("nanogpt", corpus, config, recipe, seed, lam=lam), 1.0)
    grid_means = {lam: np.mean([r["val_ppl"] for r in runs if r["strategy"] == f"nanogpt λ={lam:g}"])
                  for lam in (grid if "nanogpt" in only else ())}
    best = min(grid_means, key=grid_means.get) if grid_means else None
    if best is not None:
        log(f"best grid λ (mean validation perplexity): {best:g}", flush=True)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for strategy in ("alphadecay", "awd"):
            if strategy in only:
                run = run_strategy(strategy, corpus, config, recipe, seed, lam=best)
                record(strategy, seed, run, run.runs + len(grid))
    total = time.perf_counter() - started

    reference = {r["seed"]: r["val_ppl"] for r in runs if best is not None and r["strategy"] == f"nanogpt λ={best:g}"}
    names = list(dict.fromkeys(r["strategy"] for r in runs))
    label = f"best grid λ={best:g}" if best is not None else "— (no grid run)"
    lines = [f"## Weight decay per parameter type, character transformer ({args.chars} characters, every "
             f"{args.val_every}th block validation, {args.seeds} seeds, {args.steps} steps)", "",
             f"| strategy | val ppl (mean ± s.e.) | Δ% vs {label} (paired) | runs |", "|---|---|---|---|"]
    for name in names:
        rows = [r for r in runs if r["strategy"] == name]
        ppl, se = _mean_se([r["val_ppl"] for r in rows])
        delta = _mean_se([100 * (r["val_ppl"] / reference[r["seed"]] - 1) for r in rows] if reference else [math.nan])
        cost = np.mean([r["runs"] for r in rows]) + (len(grid) - 1 if name.startswith("nanogpt") else 0)
        lines.append(f"| {name} | {ppl:.4f} ± {se:.4f} | {delta[0]:+.2f} ± {delta[1]:.2f} | {cost:.3g} |")
    lines += ["", f"wall time {total:.0f} s"]
    table = "\n".join(lines) + "\n"
    log("\n" + table)
    return table


def report(quick: bool = False) -> str:
    """The ``make bench`` entry point: every strategy on 20,000 characters with every 5th block
    validation (setting C′ of benchmarks/RESULTS.md, where the split between types matters), 3 seeds;
    ``quick``: one seed, 60 steps."""
    return main(["--chars", "20000", "--val-every", "5"] + (["--seeds", "1", "--steps", "60"] if quick else []),
                log=lambda *args, **kwargs: None)


if __name__ == "__main__":
    main()
