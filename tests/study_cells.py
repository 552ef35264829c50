"""Cell functions for the study tests (importable by worker processes as ``study_cells:…``)."""
import os
import pathlib
import time

import numpy as np


def ridge_cell(params, recorder):
    """A real, small piece of work: ridge on a fixed problem at λ = params['lam'].

    Appends one line to ``<log_dir>/<key>.runs`` per execution, so tests can count how often
    each cell ran; hangs while ``<log_dir>/hang-<key>`` exists (to be killed mid-cell).
    """
    log_dir = pathlib.Path(params["log_dir"])
    key = params["key"]
    with open(log_dir / f"{key}.runs", "a") as handle:
        handle.write(f"{os.getpid()}\n")
    while (log_dir / f"hang-{key}").exists():
        time.sleep(0.05)
    rng = np.random.default_rng(params["seed"])
    X = rng.standard_normal((40, 10))
    y = X @ rng.standard_normal(10) + 0.1 * rng.standard_normal(40)
    lam = params["lam"]
    for step in range(3):
        recorder.log(step, lambdas={"all": lam * (step + 1)})
    w = np.linalg.solve(X.T @ X + lam * np.eye(10), X.T @ y)
    time.sleep(params.get("sleep", 0.0))
    return {"objective": float(np.mean((X @ w - y) ** 2)), "pid": os.getpid()}


def failing_cell(params, recorder):
    raise RuntimeError(f"cell {params['key']} is broken")


def dying_cell(params, recorder):
    """``ridge_cell``, except that the first run of the cell whose params hold ``die`` kills its own
    worker process (SIGKILL, as the out-of-memory killer would); the file ``<log_dir>/died`` marks it."""
    import signal
    mark = pathlib.Path(params["log_dir"]) / "died"
    if params.get("die") and not mark.exists():
        mark.write_text("once")
        os.kill(os.getpid(), signal.SIGKILL)
    return ridge_cell(params, recorder)
