"""The network study behind ``lamina nn``: does a δ per layer help, and at what compute?

Every strategy trains the same model with the same recipe (Adam, epochs, lr, batch size) on
the same split, for several seeds; each (strategy, seed) is one cell of a study stored in an
Optuna storage (see :mod:`lamina.studies.runner`), so the study resumes after a kill and
spreads over workers.

Tasks
-----
``"digits"`` (default): scikit-learn's bundled 8×8 digits, 500 training images, the other
1297 as test set, MLP 64-256-256-10 — the benchmark of DESIGN.md.
``"diabetes"``: scikit-learn's diabetes regression (Gaussian likelihood, noise learned), 300
training rows, MLP 10-64-64-1.
``"digits-transfer"``: fine-tuning (:mod:`lamina.studies.transfer`): a 64-256-256 ReLU backbone
pretrained on the digits 0–4, a new head, 10 training images per class of the digits 5–9, the
other 5–9 images as test set. Every strategy pulls the backbone toward its pretrained weights
(``prior_mean``, L2-SP: 1/(2N) Σ_g δ_g ‖W_g − μ_g‖²) and the head toward 0, which makes every
layer's δ identifiable (``--hidden`` does not apply). ``"digits-finetune"``: the same with a
backbone pretrained on a random half of the images of all ten digits and 10 training images per
class from the other half — features that transfer.
``"path/to/file.npz"``: arrays ``X_train, y_train, X_test, y_test`` (and optional
``likelihood``: "classification" or "regression"), an MLP with ``hidden`` widths.
``"package.module:function"``: a function of ``seed`` returning
``(model, (X_train, y_train), (X_test, y_test), likelihood)`` — any ``nn.Module``.
"""
from __future__ import annotations

import pathlib
from dataclasses import dataclass

import numpy as np

from lamina.studies.tasks import TaskError, npz_arrays, task_identity, user_function
from lamina.studies.transfer import TASKS as TRANSFER_TASKS

# name → (tune method, tune options). Budgets of the baselines are options of the study.
STRATEGIES = {
    "none": ("none", {}),
    "uniform": ("fixed", {"rule": "uniform"}),
    "per_element": ("fixed", {"rule": "per_element"}),
    "sqrt_numel": ("fixed", {"rule": "sqrt_numel"}),
    "fan_in": ("fixed", {"rule": "fan_in"}),
    "inverse_norm": ("fixed", {"rule": "inverse_norm"}),
    "alpha_hill": ("fixed", {"rule": "alpha_hill"}),
    "awd": ("fixed", {"rule": "awd"}),
    "heldout": ("heldout", {}),
    "evidence": ("evidence", {}),
    "hypergradient": ("hypergradient", {}),
    "cv": ("cv", {}),
    "optuna": ("optuna", {}),
}
DEFAULT_STRATEGIES = ("none", "uniform", "fan_in", "heldout", "evidence", "hypergradient", "cv", "optuna")


BUILTIN_TASKS = ("digits", "diabetes", *TRANSFER_TASKS)


@dataclass
class Task:
    model: object
    train: tuple
    test: tuple
    likelihood: str
    prior_mean: dict | None = None  # parameter name → tensor, passed to every strategy (L2-SP)


def _standardize(X_train, X_test):
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0
    return (X_train - mean) / std, (X_test - mean) / std


def _mlp(sizes: list[int]):
    from torch import nn
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(fan_in, fan_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def _split(X, y, n_train: int, seed: int):
    order = np.random.default_rng(seed).permutation(len(y))
    return (X[order[:n_train]], y[order[:n_train]]), (X[order[n_train:]], y[order[n_train:]])


def load_task(task: str, seed: int, hidden=(256, 256), n_train: int | None = None) -> Task:
    """Build the model and the train/test split of ``task`` for ``seed`` (see module doc).

    Raises :class:`TaskError` naming the task for anything wrong with it (missing or corrupt
    file, arrays of the wrong kind, a module or function that is missing, raises or returns
    something else than ``(model, train, test, likelihood)``). A ``module:function`` task
    imports and runs that code.
    """
    import torch

    torch.manual_seed(seed)
    if task in TRANSFER_TASKS:
        from lamina.studies.transfer import pretrained_backbone, transfer_data, transfer_model
        X_tr, y_tr, X_te, y_te = transfer_data(seed, task)
        model = transfer_model(task)  # the new head from the generator seeded above
        return Task(model, (torch.as_tensor(X_tr), torch.as_tensor(y_tr)),
                    (torch.as_tensor(X_te), torch.as_tensor(y_te)), "classification",
                    prior_mean=pretrained_backbone(task))
    if task in ("digits", "diabetes"):
        from sklearn import datasets
        loader = datasets.load_digits if task == "digits" else datasets.load_diabetes
        X, y = loader(return_X_y=True)
        (X_tr, y_tr), (X_te, y_te) = _split(X.astype(np.float32), y, n_train or (500 if task == "digits" else 300), seed)
        if task == "digits":
            X_tr, X_te = X_tr / 16.0, X_te / 16.0
            likelihood, out, y_tr, y_te = "classification", 10, y_tr.astype(np.int64), y_te.astype(np.int64)
            widths = list(hidden)
        else:
            X_tr, X_te = _standardize(X_tr, X_te)
            mean, std = y_tr.mean(), y_tr.std()
            y_tr, y_te = ((y_tr - mean) / std).astype(np.float32), ((y_te - mean) / std).astype(np.float32)
            likelihood, out, widths = "regression", 1, [64, 64] if tuple(hidden) == (256, 256) else list(hidden)
        model = _mlp([X_tr.shape[1], *widths, out])
        return Task(model, (torch.as_tensor(X_tr), torch.as_tensor(y_tr)),
                    (torch.as_tensor(X_te), torch.as_tensor(y_te)), likelihood)
    if str(task).endswith(".npz"):
        return _npz_task(pathlib.Path(task), hidden)
    return _user_task(str(task), seed)


def _user_task(task: str, seed: int) -> Task:
    function = user_function(task)
    try:
        returned = function(seed)
    except Exception as error:
        raise TaskError(f"--task {task}: the function raised {type(error).__name__}: {error}") from None
    if not isinstance(returned, (tuple, list)) or len(returned) != 4:
        raise TaskError(f"--task {task}: the function must return (model, (X_train, y_train), "
                        f"(X_test, y_test), likelihood); it returned {type(returned).__name__}")
    model, train, test, likelihood = returned
    for argument, pair in (("train", train), ("test", test)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TaskError(f"--task {task}: {argument} must be a pair (X, y); got {type(pair).__name__}")
    if likelihood not in ("classification", "regression"):
        raise TaskError(f"--task {task}: likelihood must be 'classification' or 'regression'; got {likelihood!r}")
    return Task(model, tuple(train), tuple(test), likelihood)


def _checked_npz(path: pathlib.Path) -> tuple:
    data = npz_arrays(path)
    missing = {"X_train", "y_train", "X_test", "y_test"} - set(data)
    if missing:
        raise TaskError(f"--task {path}: lacks arrays {sorted(missing)}")
    likelihood = str(data["likelihood"]) if "likelihood" in data else (
        "classification" if np.issubdtype(data["y_train"].dtype, np.integer) else "regression")
    if likelihood not in ("classification", "regression"):
        raise TaskError(f"--task {path}: likelihood must be 'classification' or 'regression'; got {likelihood!r}")
    arrays = []
    for X_name, y_name in (("X_train", "y_train"), ("X_test", "y_test")):
        X, y = data[X_name], data[y_name]
        if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0] or X.shape[0] == 0 or X.shape[1] == 0:
            raise TaskError(f"--task {path}: {X_name} must be (n, p) and {y_name} (n,) with n, p >= 1; "
                            f"got shapes {X.shape} and {y.shape}")
        for name, array in ((X_name, X), (y_name, y)):
            if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
                raise TaskError(f"--task {path}: {name} must hold real numbers; got dtype {array.dtype}")
            if not np.all(np.isfinite(array)):
                raise TaskError(f"--task {path}: {name} contains NaN or inf")
        arrays += [X, y]
    if arrays[0].shape[1] != arrays[2].shape[1]:
        raise TaskError(f"--task {path}: X_train has {arrays[0].shape[1]} columns but X_test {arrays[2].shape[1]}")
    if likelihood == "classification":
        labels = np.concatenate([arrays[1], arrays[3]])
        if np.any(labels < 0) or np.any(labels != np.round(labels)) or labels.max() > 100_000:
            raise TaskError(f"--task {path}: classification labels must be integers 0 … K-1")
    return (*arrays, likelihood)


def _npz_task(path: pathlib.Path, hidden) -> Task:
    import torch
    X_tr, y_tr, X_te, y_te, likelihood = _checked_npz(path)
    X_tr, X_te = _standardize(X_tr.astype(np.float32), X_te.astype(np.float32))
    if likelihood == "classification":
        y_tr, y_te = y_tr.astype(np.int64), y_te.astype(np.int64)
        out = int(max(y_tr.max(), y_te.max())) + 1
    else:
        y_tr, y_te, out = y_tr.astype(np.float32), y_te.astype(np.float32), 1
    model = _mlp([X_tr.shape[1], *hidden, out])
    return Task(model, (torch.as_tensor(X_tr), torch.as_tensor(y_tr)),
                (torch.as_tensor(X_te), torch.as_tensor(y_te)), likelihood)


def check_task(task: str, hidden=(256, 256)) -> None:
    """Load a data task once (seed 0) so that a bad one fails before any cell is stored;
    ``module:function`` tasks are loaded by the cells only (their code runs there)."""
    if task in BUILTIN_TASKS or str(task).endswith(".npz"):
        load_task(task, 0, tuple(hidden))
    else:
        user_function(task, check_only=True)


def run_cell(params: dict, recorder) -> dict:
    """One (strategy, seed): tune + train, then test metrics; the δ trajectory is recorded."""
    from lamina.report.study_report import storable_curve
    from lamina.torch import evaluate, tune

    strategy = params["strategy"]
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {sorted(STRATEGIES)}, got {strategy!r}")
    method, options = STRATEGIES[strategy]
    options = {**options, **params.get("options", {}).get(strategy, {})}
    task = on_device(load_task(params["task"], params["seed"], tuple(params.get("hidden", (256, 256)))),
                     params.get("device", "cpu"))
    finding = _identifiability(task)
    transfer = _transfer(task)
    if task.prior_mean is not None:
        options = {"prior_mean": task.prior_mean, **options}
    result = tune(task.model, task.train, likelihood=task.likelihood, tuner=method,
                  epochs=params["epochs"], lr=params["lr"], batch_size=params["batch_size"],
                  seed=params["seed"], **options)
    for step, lambdas in enumerate(result.trajectory):
        recorder.log(step, lambdas=lambdas)
    metrics = evaluate(result.model, task.test, task.likelihood)
    return {"objective": metrics.pop("nll"), **metrics, "seconds": result.seconds,
            "fits": result.compute.fits, "epochs": result.compute.epochs,
            "lambdas": {k: float(v) for k, v in result.lambdas.items()},
            "curve": storable_curve(result.curve), "identifiability": finding,
            **({"transfer": transfer} if transfer else {})}


def on_device(task: Task, device: str) -> Task:
    """``task`` with its model and prior mean on ``device`` (``lamina nn --device``); the data stay on
    the host: :func:`lamina.torch.tune` and :func:`lamina.torch.evaluate` move each batch to the model."""
    if device == "cpu":
        return task
    task.model.to(device)
    if task.prior_mean is not None:
        task.prior_mean = {name: value.to(device) for name, value in task.prior_mean.items()}
    return task


def device_param(device) -> dict:
    """The cells' ``device`` setting: absent on the CPU (the studies stored before the option resume
    unchanged), else stored, so that a study is not resumed on another kind of device unnoticed."""
    return {} if device in (None, "cpu") else {"device": str(device)}


def _identifiability(task: Task) -> str:
    """The model's identifiability verdict (one sentence), found on a batch of its training data."""
    from lamina.torch import identifiability

    X = task.train[0]
    try:
        return identifiability(task.model, example=X[: max(2, min(64, len(X)))], prior_mean=task.prior_mean).verdict()
    except Exception as error:  # a user's model the probe cannot run: say so, keep the cell
        return f"not determined ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"


def _transfer(task: Task) -> str | None:
    """With a prior mean: whether the pretrained features transfer to this seed's training data
    (:func:`lamina.torch.transferability.check_transfer`'s verdict), else None."""
    from lamina.torch.likelihoods import make_likelihood
    from lamina.torch.transferability import check_transfer

    if task.prior_mean is None:
        return None
    try:
        check = check_transfer(task.model, task.prior_mean, task.train, make_likelihood(task.likelihood))
    except Exception:  # a user's model the check cannot run on: nothing to say, keep the cell
        return None
    return None if check is None else check.verdict


def study_cells(task: str, strategies, seeds: int, *, epochs: int, lr: float, batch_size: int,
                hidden=(256, 256), options: dict | None = None, device=None):
    """The cells of a network study: one per (strategy, seed); ``device``: where they train (None: the CPU)."""
    from lamina.studies.runner import Cell

    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValueError(f"--methods: unknown {unknown}; choose from {sorted(STRATEGIES)}")
    identity = task_identity(task)
    return [Cell(f"{strategy}/seed={seed}",
                 {"task": task, **identity, "strategy": strategy, "method": strategy, "seed": seed, "epochs": epochs,
                  "lr": lr, "batch_size": batch_size, "hidden": list(hidden), "options": options or {},
                  **device_param(device)})
            for strategy in strategies for seed in range(seeds)]
