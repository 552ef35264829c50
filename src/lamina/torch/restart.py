"""Continuing a run on a larger training set: a fresh optimizer (its learning rate optionally re-warmed).

The default network tuner (:mod:`lamina.torch.heldout`) trains on 70 % of the data while it
calibrates δ, then, when fine-tuning toward a prior mean or choosing among competing calibrations
(``refit=False``; elsewhere it retrains from the initial weights), continues the same weights on
all of it. The optimizer's state should not
come along. Adam's step is m̂/√v̂ with v an exponential average of g² over 1/(1−β₂) = 1,000
steps; at the merge v describes the gradients of samples the network has already fitted, while
the held-out samples joining the run were never fitted. Measured at the merge (benchmark
recipe, seeds 0–2; per tensor Σ mean-minibatch g² / Σ v, median over tensors): 0.01–0.6 on the
fitted 70 %, 33–316 on the held-out 30 %, **3–17 on all the data** the continued run trains on.
For a coordinate whose gradient settles at g₁ with g₁² = q·v₀,

    m_k ≈ (1 − β₁^k) g₁,   v_k ≈ β₂^k v₀ + (1 − β₂^k) g₁²,
    m_k/√v_k ≈ 2.0, 2.7, 2.3, 1.7   (q = 10)   or   4.6, 4.8, 3.1, 1.9   (q = 100)
    at k = 10, 30, 100, 300,

against 1 for Adam in a steady state: for a few hundred steps the coordinates move 2–5× further
than Adam's usual step of about lr. On the digits LayerNorm residual MLP (q ≈ 10–17) that threw
the continued run into a loss spike (training objective 0.16 → 3.3 in the two epochs after the
merge) and cost test NLL (0.197 against 0.153 for one δ by 5-fold CV; benchmarks/RESULTS.md,
Issue 14); the tanh and ReLU MLPs (q ≈ 3–17) took it with a bump.

So the continued run starts a fresh optimizer of the recipe's class: its first steps are
Adam's bias-corrected ones, of size about lr, as at the start of any run. Measured on the
benchmark's settings (benchmarks/RESULTS.md, Issue 14, "The merge"): the residual net 0.197 →
0.152, digits-tanh 0.125 → 0.122 (−0.006 ± 0.001 on six more seeds), the other settings within
−0.007 … +0.002.

A fresh Adam's first steps move every coordinate by about lr at once — a kick for a network
already half trained — so the learning rate can also be *re-warmed* linearly from lr/T to lr
over the first T steps (``fraction`` > 0; continued pre-training re-warms a language model's
learning rate on new data the same way: Gupta et al. 2023, "Continual pre-training of large
language models: how to (re)warm your model?"), with
:class:`torch.optim.lr_scheduler.LinearLR`. Over a fifteenth of the continued run it was no
better on the benchmark's settings (residual 0.155, the others 0.001–0.005 worse), so the
default tuner does not re-warm (``rewarm=0``).
"""
from __future__ import annotations

import torch

from lamina.torch.fit import make_optimizer

class LinearWarmup:
    """Callback for :func:`lamina.torch.fit.fit`: lr_k = lr·(k + 1)/T for the first T optimizer
    steps k = 0, 1, …, then lr (a :class:`torch.optim.lr_scheduler.LinearLR` stepped after every
    optimizer step).

    Examples
    --------
    >>> opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    >>> warm = LinearWarmup(opt, 4)
    >>> lrs = []
    >>> for _ in range(6):   # as fit calls it: forward, on_forward, backward, step
    ...     warm.on_forward(None, None); lrs.append(opt.param_groups[0]["lr"]); opt.step()
    >>> lrs
    [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    """

    def __init__(self, optimizer: torch.optim.Optimizer, steps: int):
        steps = int(steps)
        if steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        self.steps = steps
        self.scheduler = (torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=1.0 / steps, end_factor=1.0,
                                                            total_iters=steps - 1) if steps > 1 else None)
        self._seen = 0

    def on_forward(self, output, target) -> None:
        """Called by ``fit`` after each forward pass, i.e. after the previous batch's step: the
        first call precedes any step and is skipped; later ones advance the schedule."""
        self._seen += 1
        if self.scheduler is not None and 1 < self._seen <= self.steps:
            self.scheduler.step()

    def state_dict(self) -> dict:
        """The steps seen and the scheduler's state: :func:`~lamina.torch.fit.fit` checkpoints it, so
        that a resumed run continues the warm-up where it stopped (a fresh scheduler on the restored
        rate would restart it, and LinearLR's relative updates then overshoot ``lr``)."""
        return {"seen": self._seen, "scheduler": None if self.scheduler is None else self.scheduler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self._seen = int(state["seen"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])


def restart(optimizer: str, param_groups: list[dict], lr: float, steps: int,
            fraction: float = 0.0) -> tuple[torch.optim.Optimizer, LinearWarmup]:
    """A fresh optimizer of class ``optimizer`` on ``param_groups`` and the callback that re-warms
    its learning rate over round(``fraction``·``steps``) steps (``steps``: the optimizer steps the
    continued run will take; ``fraction`` = 0: no warm-up, the callback does nothing).

    Examples
    --------
    >>> p = torch.nn.Parameter(torch.zeros(3))
    >>> opt, warm = restart("adam", [{"params": [p]}], 0.01, steps=150, fraction=1 / 15)
    >>> opt.state == {}, warm.steps, opt.param_groups[0]["lr"]
    (True, 10, 0.001)
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction!r}")
    opt = make_optimizer(optimizer, param_groups, lr)
    return opt, LinearWarmup(opt, max(1, round(fraction * int(steps))))
