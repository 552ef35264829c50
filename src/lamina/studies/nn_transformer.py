"""The transformer study behind ``lamina nn --task transformer-char``: a decay per parameter type?

Every strategy of :mod:`lamina.torch.lm.strategies` trains the same character transformer
(the Python reference topics, ``pydoc_data``) with the same AdamW recipe and the same batches
per seed; each (strategy, seed) is one stored cell of a study (:mod:`lamina.studies.runner`),
so the study resumes after a kill and spreads over workers like the other ``lamina nn`` studies.
The objective is the validation perplexity; ``lambdas`` are the decays of the groups a strategy
regularizes, so the verdict (:func:`lamina.report.verdict.verdict`) counts ``nanogpt-*`` and
``timescale`` (one λ on every matrix) as *one λ* and ``alphadecay``, ``awd`` and ``lamina`` as
*a λ per parameter type*, and leaves ``none`` out.

In a study every cell is independent: the AlphaDecay and AWD cells use ``--decay`` (default
0.1, nanoGPT's default) as their base λ instead of the best grid λ the benchmark gives them.
"""
from __future__ import annotations

import argparse
import math

from lamina.studies.tasks import TaskError

TASKS = ("transformer-char",)
# cell name → (strategy of lamina.torch.lm, fixed λ or None)
STRATEGIES = {"none": ("none", None), "nanogpt-0.01": ("nanogpt", 0.01), "nanogpt-0.1": ("nanogpt", 0.1),
              "nanogpt-1": ("nanogpt", 1.0), "timescale": ("timescale", None), "alphadecay": ("alphadecay", None),
              "awd": ("awd", None), "lamina": ("lamina", None)}
DEFAULT_STRATEGIES = tuple(STRATEGIES)


def add_options(parser: argparse.ArgumentParser) -> None:
    """The ``--task transformer-char`` options of ``lamina nn``."""
    from lamina.studies.commands import positive_float, positive_int

    group = parser.add_argument_group("--task transformer-char (character transformer, AdamW decay per type)")
    group.add_argument("--steps", type=positive_int, default=600, help="AdamW steps per run (default 600)")
    group.add_argument("--chars", type=positive_int, default=120_000,
                       help="characters of the Python reference topics used (default 120000; 10 %% validation)")
    group.add_argument("--d-model", type=positive_int, default=64, help="transformer width (default 64; 4 heads, 1 if not a multiple of 4)")
    group.add_argument("--layers", type=positive_int, default=2, help="transformer blocks (default 2)")
    group.add_argument("--context", type=positive_int, default=64, help="context in characters (default 64)")
    group.add_argument("--lm-batch-size", type=positive_int, default=32, help="windows per step (default 32)")
    group.add_argument("--decay", type=positive_float, default=0.1,
                       help="base λ of the alphadecay and awd cells (default 0.1)")


def _setting(params: dict):
    from lamina.torch.lm import LMConfig, LMRecipe, load_corpus

    corpus = load_corpus(max_chars=params["chars"])
    config = LMConfig(corpus.vocab_size, context=params["context"], d_model=params["d_model"],
                      n_layers=params["layers"], n_heads=4 if params["d_model"] % 4 == 0 else 1)
    recipe = LMRecipe(steps=params["steps"], lr=params["lr"], warmup=min(50, params["steps"] // 10),
                      batch_size=params["batch_size"])
    return corpus, config, recipe


def run_cell(params: dict, recorder) -> dict:
    """One (strategy, seed): train, record the decays along the run, return validation perplexity."""
    from lamina.torch.lm import run_strategy

    name = params["strategy"]
    if name not in STRATEGIES:
        raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {name!r}")
    strategy, lam = STRATEGIES[name]
    corpus, config, recipe = _setting(params)
    run = run_strategy(strategy, corpus, config, recipe, params["seed"], lam=lam if lam is not None else params["decay"],
                       device=params.get("device", "cpu"))
    regularized = set(run.info["lambdas"])
    for point in run.trajectory:
        recorder.log(point["step"], lambdas={k: v for k, v in point["decays"].items() if k in regularized},
                     train_loss=point["loss"])
    epochs = recipe.steps * recipe.batch_size * config.context / corpus.train.numel()
    out = {"objective": run.val_ppl, "val_nll": math.log(run.val_ppl), "train_loss": run.train_loss,
           "seconds": run.seconds, "fits": run.runs, "epochs": run.runs * epochs,
           "lambdas": {k: float(v) for k, v in run.info["lambdas"].items()},
           "decays": {k: float(v) for k, v in run.decays.items()}}
    if "shadow_decays" in run.info:   # lamina: the head's copies, their held-out losses, the one kept
        out["shadow"] = {"decays": run.info["shadow_decays"], "heldout": run.info["shadow_heldout"],
                         "choice": run.info["shadow_choice"]}
    return out


def study_cells(task: str, strategies, seeds: int, *, steps: int, lr: float, batch_size: int, chars: int,
                d_model: int, layers: int, context: int, decay: float, device=None):
    """The cells of a transformer study: one per (strategy, seed); ``device``: where they train (None: the CPU)."""
    from lamina.studies.nn import device_param
    from lamina.studies.runner import Cell

    if task not in TASKS:
        raise TaskError(f"--task: unknown transformer task {task!r}; choose from {list(TASKS)}")
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"--methods: unknown {unknown} for --task {task}; choose from {list(STRATEGIES)}")
    if chars < 20_000:
        raise ValueError(f"--chars must be >= 20000 (the validation tenth must hold whole windows), got {chars}")
    shortest = _shortest_text(chars, heldout="lamina" in strategies)
    if shortest <= context + 1:
        raise ValueError(f"--context {context}: a window needs more than context + 1 = {context + 1} characters, and "
                         f"with --chars {chars} the shortest text a run scores has {shortest} (the validation tenth"
                         f"{', and lamina’s held-out part of the training text' if 'lamina' in strategies else ''}); "
                         "lower --context or raise --chars")
    return [Cell(f"{strategy}/seed={seed}",
                 {"task": task, "strategy": strategy, "method": strategy, "seed": seed, "steps": steps, "lr": lr,
                  "batch_size": batch_size, "chars": chars, "d_model": d_model, "layers": layers,
                  "context": context, "decay": decay, **device_param(device)})
            for strategy in strategies for seed in range(seeds)]


def _shortest_text(chars: int, heldout: bool) -> int:
    """Characters of the validation text of a ``chars`` corpus, or of lamina's held-out part of the
    training text where ``heldout`` and shorter: each must hold a window of context + 1."""
    from lamina.torch.lm import load_corpus
    from lamina.torch.lm.tuner import heldout_split
    corpus = load_corpus(max_chars=chars)
    return min([corpus.val.numel()] + ([heldout_split(corpus.train)[1].numel()] if heldout else []))


def _characters(chars: int) -> int:
    """Characters a ``--chars`` corpus holds (all the text there is, where that is fewer)."""
    from lamina.torch.lm import load_corpus
    corpus = load_corpus(max_chars=chars)
    return corpus.train.numel() + corpus.val.numel()


def run_transformer(args) -> int:
    """``lamina nn --task transformer-…``: the study, its report and the verdict sentence."""
    from lamina.studies.commands import run_study_command

    methods = list(DEFAULT_STRATEGIES) if args.methods is None else list(args.methods)
    cells = study_cells(args.task, methods, args.seeds, steps=args.steps, lr=args.lr, batch_size=args.lm_batch_size,
                        chars=args.chars, d_model=args.d_model, layers=args.layers, context=args.context,
                        decay=args.decay, device=args.device)
    intro = (f"Task {args.task}: a pre-LN character transformer (width {args.d_model}, {args.layers} blocks, "
             f"context {args.context}) on the first {_characters(args.chars)} characters of the Python reference topics, "
             f"trained with AdamW ({args.steps} steps of {args.lm_batch_size} windows, lr {args.lr}, warm-up then "
             f"cosine), {args.seeds} seeds, by each strategy for the decoupled weight decay per parameter type. "
             "Lower validation perplexity is better; compute counts training runs (fits).")
    return run_study_command(args, kind="nn", cells=cells, run_cell="lamina.studies.nn_transformer:run_cell",
                             metric="perplexity", intro=intro, unit="parameter type", evaluated_on="validation",
                             summarize=summarize)


def summarize(rows: list[dict]):
    """(verdict sentence, extra report sections, CLI table) of a transformer study: the shared
    verdict and table, and the figure of lamina's head copies on held-out text."""
    import matplotlib.pyplot as plt

    from lamina.report.html import figure_html
    from lamina.report.lm_figures import shadow_figure
    from lamina.report.verdict import verdict
    sections, figure = [], shadow_figure(rows)
    if figure is not None:
        sections.append(("The head's decay, measured on held-out text", figure_html(
            figure, "lamina: held-out loss of each copy of the head (decay λ) at every tuner update, minus the "
                    "least-decayed copy's; the thick line is the copy kept at the merge, which replaces the head")))
        plt.close(figure)
    return verdict(rows, "perplexity", "parameter type"), sections, None
