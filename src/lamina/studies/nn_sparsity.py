"""The sparsity study behind ``lamina nn --task sparsity-…``: λ per layer against the pruning allocations.

At an overall sparsity ρ (fraction of exact zeros among the regularized weights; biases and
normalization parameters stay dense), every method trains the same model with the same recipe
— Adam, E epochs, lr, batch size — split into (1 − f) E epochs of training and f E epochs of
masked fine-tuning (f = ``FINETUNE`` = 0.2; fresh optimizer, pruned weights held at exact 0):

* ``uniform``, ``global``, ``ERK``, ``LAMP`` — dense training, one-shot magnitude pruning with
  that allocation (:mod:`lamina.torch.pruning`), fine-tuning. The dense run of a seed is shared
  by these cells within a worker process (memoized) and its time is counted in each;
* ``one-lambda`` — ``lamina.torch.tune(penalty="l1", target_sparsity=ρ, allocate=False)``: the
  sparsity tuner with one λ for every layer (only the overall scale is controlled);
* ``lamina-l1``, ``lamina-l0`` — the same tuner with one λ per layer (L1 / L0).

Each (method, ρ, seed) is one cell of a stored study (:mod:`lamina.studies.runner`): resumable
after a kill, spread over workers. A cell's ``objective`` is the test error 1 − accuracy (lower
is better); it also stores the accuracy, the sparsity reached overall and per layer, the λ per
layer (lamina's methods) and the seconds.

Tasks (data shipped with scikit-learn, :mod:`lamina.studies.shipped`)
---------------------------------------------------------------------
``sparsity-digits-mlp``: 500 training digits, MLP 64-(hidden)-10 (``--hidden``, default 256 256);
``sparsity-digits-cnn``: the BatchNorm CNN on the digits as 8×8 images;
``sparsity-cancer-mlp``: breast_cancer, 400 training rows, MLP 30-(hidden)-2.
"""
from __future__ import annotations

import copy
import math
import time
from collections import OrderedDict

import numpy as np

TASKS = ("sparsity-digits-mlp", "sparsity-digits-cnn", "sparsity-cancer-mlp")
ALLOCATIONS = ("uniform", "global", "ERK", "LAMP")   # lamina.torch.pruning.ALLOCATIONS (torch not imported here)
TUNED = {"one-lambda": {"penalty": "l1", "allocate": False},
         "lamina-l1": {"penalty": "l1"},
         "lamina-l0": {"penalty": "l0"}}
METHODS = ALLOCATIONS + tuple(TUNED)
DEFAULT_SPARSITIES = (0.9, 0.95, 0.98)
FINETUNE = 0.2
_DENSE_CACHE: OrderedDict = OrderedDict()
_DENSE_CACHE_SIZE = 2
_WARMED: set = set()   # (task, hidden) whose one-off costs this process has paid (:func:`_warm_up`)


def is_sparsity_task(task) -> bool:
    """Whether ``--task`` names a sparsity study (``sparsity-…``), which ``run_nn`` hands to this module."""
    return str(task).startswith("sparsity-")


def check_sparsity_task(task: str) -> None:
    """A ValueError naming ``--task`` unless ``task`` is one of :data:`TASKS`."""
    if task not in TASKS:
        raise ValueError(f"--task: unknown sparsity task {task!r}; choose from {list(TASKS)}")


def load(task: str, seed: int, hidden=(256, 256), device: str = "cpu"):
    """(model, (X_train, y_train), (X_test, y_test)) of ``task`` for ``seed`` (model from the seed, on
    ``device``; the data stay on the host and move with each batch)."""
    import torch

    from lamina.studies.shipped import DigitsCNN, cancer_split, digits_split, relu_mlp
    check_sparsity_task(task)
    Xtr, ytr, Xte, yte = (cancer_split if task == "sparsity-cancer-mlp" else digits_split)(seed)
    torch.manual_seed(seed)
    if task == "sparsity-digits-cnn":
        model = DigitsCNN()
    else:
        model = relu_mlp([Xtr.shape[1], *hidden, int(max(ytr.max(), yte.max())) + 1])
    return model.to(device), (Xtr, ytr), (Xte, yte)


def _dense(task, seed, hidden, epochs, lr, batch_size, device: str = "cpu"):
    """State dict and seconds of the dense run of a seed, memoized per process (2 entries)."""
    from lamina.torch import fit
    key = (task, seed, tuple(hidden), epochs, lr, batch_size, device)
    if key not in _DENSE_CACHE:
        model, train, _ = load(task, seed, hidden, device)
        started = time.perf_counter()
        fit(model, train, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed)
        _DENSE_CACHE[key] = (copy.deepcopy(model.state_dict()), time.perf_counter() - started)
        while len(_DENSE_CACHE) > _DENSE_CACHE_SIZE:
            _DENSE_CACHE.popitem(last=False)
    _DENSE_CACHE.move_to_end(key)
    return _DENSE_CACHE[key]


def _warm_up(task: str, hidden, device: str = "cpu") -> None:
    """A fit, a tune and a pruning of ``task``'s network on 32 samples, once per process and
    network: a fresh worker's first cell otherwise pays one-off costs (imports, the allocator, first
    kernels) that its time ratio counts — an allocation cell took 1.05 s as a worker's first and
    0.31 s as its second, and lamina's "time × allocations" read 0.02 on small runs."""
    from lamina.torch import fit, tune
    from lamina.torch.pruning import prune_and_finetune
    if (task, tuple(hidden), device) in _WARMED:
        return
    model, (X, y), _ = load(task, 0, hidden, device)
    few = (X[:32], y[:32])
    fit(model, few, epochs=2, batch_size=16)
    prune_and_finetune(model, few, "global", 0.5, epochs=1, batch_size=16)
    tune(load(task, 0, hidden, device)[0], few, target_sparsity=0.5, penalty="l1", epochs=4, batch_size=16)
    _WARMED.add((task, tuple(hidden), device))


def run_method(task: str, method: str, sparsity: float, seed: int, *, epochs: int = 300, lr: float = 3e-3,
               batch_size: int = 128, hidden=(256, 256), prox_metric: str = "auto", device: str = "cpu") -> dict:
    """Train ``method`` on ``task`` to ``sparsity`` (module docs) and return its test metrics:
    ``accuracy``, ``objective`` = 1 − accuracy, ``sparsity`` reached, ``per_layer`` sparsity,
    ``lambdas`` (λ per layer; {} for the magnitude allocations), ``seconds``, ``fits`` = 1.
    ``prox_metric`` is passed to the λ methods (:func:`lamina.torch.tune`); ``device``: where every
    network trains."""
    from lamina.torch import evaluate, tune
    from lamina.torch.pruning import layer_sparsity, overall_sparsity, prune_and_finetune
    from lamina.torch.sparsity_checks import check_target_sparsity
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if check_target_sparsity(sparsity) == 0.0:
        raise ValueError("sparsity must lie in (0, 1) for the sparsity study (0 trains every method densely)")
    tail = int(round(FINETUNE * epochs))
    _warm_up(task, hidden, device)
    model, train, test = load(task, seed, hidden, device)
    lambdas, trajectory = {}, []
    if method in ALLOCATIONS:
        state, seconds = _dense(task, seed, tuple(hidden), epochs - tail, lr, batch_size, device)
        model.load_state_dict(state)
        out = prune_and_finetune(model, train, method, sparsity, epochs=tail, lr=lr, batch_size=batch_size, seed=seed)
        seconds += out.seconds if out is not None else 0.0
    else:
        result = tune(model, train, target_sparsity=sparsity, epochs=epochs, lr=lr, batch_size=batch_size,
                      seed=seed, finetune_fraction=FINETUNE, prox_metric=prox_metric, **TUNED[method])
        lambdas, trajectory, seconds = dict(result.lambdas), list(result.trajectory), result.seconds
    accuracy = float(evaluate(model, test)["accuracy"])
    return {"objective": 1.0 - accuracy, "accuracy": accuracy, "sparsity": overall_sparsity(model),
            "per_layer": layer_sparsity(model), "lambdas": {k: float(v) for k, v in lambdas.items()},
            "seconds": float(seconds), "fits": 1.0, "trajectory": trajectory}


def _as_tensor(array):
    """``array`` as a torch tensor (the identifiability probe runs on tensors)."""
    import torch
    return torch.as_tensor(array)


def run_cell(params: dict, recorder) -> dict:
    """One (method, ρ, seed) cell of the study; λ per layer recorded along training (≤ 50 steps).
    The cell also stores the model's identifiability finding (:func:`lamina.torch.identifiability`):
    along a rescaling symmetry an L1 penalty λ_g c‖W_g‖₁ + λ_h ‖W_h‖₁ / c depends on λ_g λ_h only,
    as L2's does on δ_g δ_h, and the zeros do not move — so where only the product of the λ is
    identified (a ReLU chain), a λ per layer cannot beat one λ at the optimum."""
    from lamina.studies.nn import Task, _identifiability
    device = params.get("device", "cpu")
    model, train, test = load(params["task"], params["seed"], tuple(params["hidden"]), device)
    finding = _identifiability(Task(model, tuple(_as_tensor(a) for a in train), test, "classification"))
    metrics = run_method(params["task"], params["strategy"], params["sparsity"], params["seed"],
                         epochs=params["epochs"], lr=params["lr"], batch_size=params["batch_size"],
                         hidden=tuple(params["hidden"]), device=device)
    metrics["identifiability"] = finding
    trajectory = metrics.pop("trajectory")
    stride = max(1, math.ceil(len(trajectory) / 50))
    for step in range(0, len(trajectory), stride):
        recorder.log(step, lambdas=trajectory[step])
    return metrics


def method_label(method: str, sparsity: float) -> str:
    """The row label of a (method, ρ) in the generic study table, e.g. ``"LAMP @ 95%"``."""
    return f"{method} @ {100 * sparsity:g}%"


def study_cells(task: str, methods, sparsities, seeds: int, *, epochs: int, lr: float, batch_size: int,
                hidden=(256, 256), device=None):
    """One cell per (method, ρ, seed); seed-major so that a worker reuses each dense run; ``device``:
    where they train (None: the CPU)."""
    from lamina.studies.nn import device_param
    from lamina.studies.runner import Cell
    check_sparsity_task(task)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"--methods: unknown {unknown} for a sparsity task; choose from {list(METHODS)}")
    for rho in sparsities:
        if not (isinstance(rho, (int, float)) and 0.0 < rho < 1.0):
            raise ValueError(f"--sparsities must lie in (0, 1), got {rho!r}")
    if int(round(FINETUNE * epochs)) < 1:
        raise ValueError(f"--epochs must be >= 3 for a sparsity task (the last {FINETUNE:.0%} fine-tune "
                         f"with the mask), got {epochs}")
    return [Cell(f"{method}/sparsity={rho:g}/seed={seed}",
                 {"task": task, "strategy": method, "method": method_label(method, rho), "sparsity": float(rho),
                  "seed": seed, "epochs": epochs, "lr": lr, "batch_size": batch_size, "hidden": list(hidden),
                  "finetune_fraction": FINETUNE, **device_param(device)})
            for seed in range(seeds) for rho in sparsities for method in methods]


def accuracy_table(rows: list[dict]) -> list[dict]:
    """Rows of the study's table, as text: one per method, a column per target sparsity with
    the test accuracy mean ± s.e. over seeds (the sparsity reached in brackets), and the time
    over the magnitude allocations' of the same (ρ, seed) ("time × allocations", over the cells
    whose allocations finished; seconds when the study has no allocation). ``rows`` are
    :func:`lamina.studies.study_rows` rows."""
    done = [r for r in rows if r.get("state", "COMPLETE") == "COMPLETE"]
    sparsities = sorted({r["params"]["sparsity"] for r in done})
    reference: dict = {}
    for r in done:
        if r["params"]["strategy"] in ALLOCATIONS:
            reference.setdefault((r["params"]["sparsity"], r["params"]["seed"]), []).append(r["metrics"]["seconds"])
    table = []
    for method in [m for m in METHODS if any(r["params"]["strategy"] == m for r in done)]:
        entry, ratios = {"method": method}, []
        for rho in sparsities:
            cells = [r for r in done if r["params"]["strategy"] == method and r["params"]["sparsity"] == rho]
            acc = np.array([c["metrics"]["accuracy"] for c in cells], dtype=np.float64)
            text = "—"
            if acc.size:
                spread = f" ± {acc.std(ddof=1) / math.sqrt(acc.size):.3f}" if acc.size > 1 else ""
                text = f"{acc.mean():.3f}{spread} ({np.mean([c['metrics']['sparsity'] for c in cells]):.3f})"
            entry[f"acc @ {100 * rho:g}%"] = text
            for c in cells:   # a ratio where the allocations of that (ρ, seed) ran; seconds where none did
                ref = reference.get((rho, c["params"]["seed"]))
                if ref or not reference:
                    ratios.append(c["metrics"]["seconds"] / (np.mean(ref) if ref else 1.0))
        entry["time × allocations" if reference else "seconds"] = f"{np.mean(ratios):.2f}" if ratios else "—"
        entry["seeds"] = len({c["params"]["seed"] for c in done if c["params"]["strategy"] == method})
        table.append(entry)
    return table


def summarize(rows: list[dict]):
    """(verdict sentence, extra report sections, CLI table) of a sparsity study."""
    from lamina.report.html import table_html
    from lamina.report.verdict import sparsity_verdict
    table = accuracy_table(rows) if any(r.get("state") == "COMPLETE" for r in rows) else []
    sections = [("Accuracy at each target sparsity", table_html(
        table, caption="test accuracy, mean ± s.e. over seeds (sparsity reached); time over the magnitude "
                       "allocations' (dense run + fine-tuning) of the same sparsity and seed"))] if table else []
    return sparsity_verdict(rows, "error"), sections, table


def run_sparsity_study(args) -> int:
    """``lamina nn --task sparsity-…``: build the cells from the parsed arguments and run them."""
    from lamina.studies.commands import run_study_command
    check_sparsity_task(args.task)
    methods = args.methods or list(METHODS)
    sparsities = list(args.sparsities or DEFAULT_SPARSITIES)
    cells = study_cells(args.task, methods, sparsities, args.seeds, epochs=args.epochs, lr=args.lr,
                        batch_size=args.batch_size, hidden=args.hidden, device=args.device)
    intro = (f"Task {args.task}: test accuracy at overall sparsities {', '.join(f'{100 * r:g}%' for r in sparsities)} "
             f"(exact zeros among the weight tensors) — magnitude pruning with the uniform, global, ERK and LAMP "
             f"allocations after dense training, against lamina's sparsity tuner with one λ or one λ per layer. "
             f"Every method: Adam, {args.epochs} epochs (the last {FINETUNE:.0%} masked fine-tuning), lr {args.lr}, "
             f"batch {args.batch_size}, {args.seeds} seeds. The objective is the test error 1 − accuracy.")
    return run_study_command(args, kind="nn", cells=cells, run_cell="lamina.studies.nn_sparsity:run_cell",
                             metric="error", intro=intro, summarize=summarize)
