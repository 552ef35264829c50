"""What an optimizer step did, read from the optimizer: the learning rate that took it and the
diagonal metric of Adam's preconditioner — the pieces :meth:`lamina.torch.penalty.Regularizer.prox_step`
needs to apply a penalty's proximal step in the geometry of the step just taken."""
from __future__ import annotations

import torch


def reads_free(tensor: torch.Tensor) -> bool:
    """Whether reading ``tensor`` on the host costs nothing (it lives on the CPU): code run at every
    step then computes with Python floats, cheaper there than 0-d tensor ops; on an accelerator it
    stays on the device, without a synchronization per step."""
    return tensor.device.type == "cpu"


def step_rates(lr, optimizer) -> tuple[float, dict | None]:
    """(η, None) with the rate every param group of ``optimizer`` holds now (``lr`` without an
    optimizer), or (``lr``, {id(parameter): its group's rate}) where the groups differ."""
    if optimizer is None:
        return float(lr), None
    rates = {float(group["lr"]) for group in optimizer.param_groups}
    if len(rates) == 1:
        return rates.pop(), None
    lr = float(lr) if float(lr) > 0 else max(rates)
    return lr, {id(p): float(group["lr"]) for group in optimizer.param_groups for p in group["params"]}


def adam_metric(optimizer: torch.optim.Optimizer):
    """A function p → (v, 1 − β₂ᵗ, ε), the pieces of d_p = √(v / (1 − β₂ᵗ)) + ε, the diagonal of
    Adam's (AdamW's) preconditioner for p (v the second moment, AMSGrad's running maximum where
    it is on; t the step count), or None when ``optimizer`` keeps no second moment for p (SGD;
    before the first step)."""
    groups = {id(p): group for group in optimizer.param_groups for p in group["params"]}

    def metric(p):
        state, group = optimizer.state.get(p, {}), groups.get(id(p))
        if group is None or "exp_avg_sq" not in state or "betas" not in group:
            return None
        second = state["max_exp_avg_sq"] if group.get("amsgrad") and "max_exp_avg_sq" in state else state["exp_avg_sq"]
        return second, 1.0 - group["betas"][1] ** float(state["step"]), float(group["eps"])
    return metric
