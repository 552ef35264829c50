"""Penalties with one strength per parameter group, inside PyTorch training.

Conventions (DESIGN.md), N the number of training samples:

* L2 (coupled): loss = mean task loss + 1/(2N) Σ_g δ_g ‖W_g − μ_g‖², δ_g the Gaussian prior
  precision and μ_g its mean (0 unless ``prior_mean`` gives one: L2-SP when μ_g are the
  pretrained weights); the equivalent PyTorch ``weight_decay`` of group g is δ_g / N
  (decoupled mode puts it in the optimizer's param groups: identical to the coupled term for
  SGD and Adam, decoupled decay for AdamW; a group with a prior mean instead gets the
  decoupled step W ← W − η δ_g/N (W − μ_g) from :meth:`Regularizer.prox_step`, since PyTorch's
  weight decay only pulls toward 0);
* L1: mean task loss + 1/N Σ_g λ_g ‖W_g‖₁, applied by soft thresholding at η λ_g / N after
  each optimizer step (η the step's learning rate);
* L0: mean task loss + 1/N Σ_g λ_g ‖W_g‖₀, applied by hard thresholding at √(2 η λ_g / N).

With Adam or AdamW the thresholds are taken in the optimizer's own metric (``prox_metric="auto"``,
the default): weight i is soft-thresholded at η λ_g / (N d_i) and hard-thresholded at
√(2 η λ_g / (N d_i)), d_i = √v̂_i + ε the diagonal of Adam's preconditioner (v̂ its bias-corrected
second moment). That is the proximal step of the penalty in the metric Adam steps in, w⁺ =
argmin_w ⟨ĝ, w⟩ + (1/2η) Σ_i d_i (w_i − w_i⁰)² + λ_g/N ‖w‖ (Yun, Lozano & Yang 2021, ProxGen).
Its fixed points satisfy the penalty's optimality conditions in gradient units (a zero weight
stays zero while |∂L/∂w_i| ≤ λ_g/N, a survivor has ∂L/∂w_i = −λ_g/N sign w_i), while a Euclidean
threshold under Adam's normalized steps (of size ≈ η whatever the gradient's scale) keeps only
weights whose gradient has a consistent sign: at a high target sparsity that equilibrium needs
an underfit network, and on short runs the network collapsed to chance before the masked
fine-tuning (digits MLP 64-256-256-10, 30 epochs, 95 % sparsity: test accuracy 0.22 with the
Euclidean L1 step against 0.84; benchmarks/RESULTS.md, issue 15). For SGD both metrics coincide.

λ is always a vector here (one value per regularized group), stored as a tensor on the
parameters' device so that updating it needs no host round-trip.
"""
from __future__ import annotations

from enum import Enum
from typing import Mapping

import numpy as np
import torch
from torch import nn

from lamina._validation import parse_choice
from lamina._warnings import warn
from lamina.torch.groups import ParamGroup, discover_groups
from lamina.torch.optimizer_state import adam_metric, reads_free, step_rates


class Penalty(str, Enum):
    L2 = "l2"
    L1 = "l1"
    L0 = "l0"

    @classmethod
    def parse(cls, value) -> "Penalty":
        return parse_choice(cls, value, "penalty")


class Mode(str, Enum):
    COUPLED = "coupled"
    DECOUPLED = "decoupled"

    @classmethod
    def parse(cls, value) -> "Mode":
        return parse_choice(cls, value, "mode")


def soft_threshold(w: torch.Tensor, threshold) -> torch.Tensor:
    """prox of t‖·‖₁: sign(w) max(|w| − t, 0).

    Examples
    --------
    >>> soft_threshold(torch.tensor([-2.0, 0.5, 3.0]), 1.0).tolist()
    [-1.0, 0.0, 2.0]
    """
    return torch.sign(w) * torch.clamp(w.abs() - threshold, min=0.0)


def hard_threshold(w: torch.Tensor, threshold) -> torch.Tensor:
    """prox of t‖·‖₀: w · 1{|w| > √(2t)}.

    Examples
    --------
    >>> hard_threshold(torch.tensor([-2.0, 0.5, 3.0]), 1.0).tolist()
    [-2.0, 0.0, 3.0]
    """
    return w * (w.abs() > torch.sqrt(2.0 * torch.as_tensor(threshold, dtype=w.dtype))).to(w.dtype)


def check_deltas(values, names: list[str], argument: str = "deltas") -> np.ndarray:
    """One finite, non-negative strength per group, from a scalar, a sequence or a dict."""
    if isinstance(values, Mapping):
        unknown = set(values) - set(names)
        if unknown:
            raise ValueError(f"{argument} names unknown group(s) {sorted(unknown)}; groups are {names}")
        missing = [n for n in names if n not in values]
        if missing:
            raise ValueError(f"{argument} misses group(s) {missing}")
        values = [values[n] for n in names]
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        array = np.full(len(names), float(array))
    if array.shape != (len(names),):
        raise ValueError(f"{argument} must be a scalar or one value per regularized group "
                         f"({len(names)}), got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{argument} must be finite and non-negative, got {array.tolist()}")
    return array


class Regularizer:
    """One penalty strength per parameter group of a model.

    Parameters
    ----------
    model : nn.Module or list of ParamGroup
        The network (groups discovered with :func:`discover_groups`) or groups made by hand.
    n_data : int
        N, the number of training samples (δ_g enters as δ_g / N).
    deltas : float, sequence or dict
        Strength per regularized group (δ_g for L2, λ_g for L1/L0).
    penalty : {"l2", "l1", "l0"}
    mode : {"coupled", "decoupled"}
        For L2: a term added to the loss (:meth:`penalty`), or weight decay in the optimizer's
        param groups (:meth:`param_groups`, :meth:`sync_optimizer`). L1/L0 always act by a
        proximal step (:meth:`prox_step`).
    by, regularize_bias, regularize_norm
        Passed to :func:`discover_groups` when ``model`` is a module.
    prior_mean : mapping of parameter name → Tensor, optional
        μ of the L2 penalty δ_g ‖W_g − μ_g‖², e.g. the pretrained ``state_dict`` (entries for
        parameters that are not regularized, buffers and missing names are ignored; a
        regularized parameter without an entry is pulled toward 0). L2 only.
    prox_metric : {"auto", "euclidean"}
        L1/L0: the metric of the proximal step. "auto" thresholds in the optimizer's own metric
        when it keeps Adam's second moments (Adam, AdamW), Euclidean otherwise (SGD);
        "euclidean" always at η λ_g / N (module docstring).

    Examples
    --------
    >>> net = nn.Linear(3, 1)
    >>> reg = Regularizer(net, n_data=10, deltas=2.0)
    >>> reg.lambdas
    {'weight': 2.0}
    >>> with torch.no_grad():
    ...     _ = net.weight.fill_(1.0)
    >>> round(reg.penalty().item(), 6)   # 2 · 3 / (2 · 10)
    0.3
    """

    def __init__(self, model, n_data: int, deltas=1.0, *, penalty="l2", mode="coupled", by=None,
                 regularize_bias: bool = False, regularize_norm: bool = False, prior_mean=None,
                 prox_metric: str = "auto"):
        if prox_metric not in PROX_METRICS:
            raise ValueError(f"prox_metric must be one of {list(PROX_METRICS)}, got {prox_metric!r}")
        self.prox_metric = prox_metric
        if isinstance(model, nn.Module):
            self.groups = discover_groups(model, by, regularize_bias=regularize_bias,
                                          regularize_norm=regularize_norm)
        else:
            self.groups = list(model)
        if isinstance(n_data, bool) or not isinstance(n_data, (int, np.integer)) or n_data < 1:
            raise ValueError(f"n_data must be a positive integer (training set size), got {n_data!r}")
        self.n_data = int(n_data)
        self.penalty_kind = Penalty.parse(penalty)
        self.mode = Mode.parse(mode)
        self.reg_groups = [g for g in self.groups if g.regularized]
        self.names = [g.name for g in self.reg_groups]
        device = self.reg_groups[0].params[0].device
        # float64 for a float64 model (its penalty and weight_decay δ_g/N to double precision), else float32
        dtype = torch.float64 if self.reg_groups[0].params[0].dtype == torch.float64 else torch.float32
        self.delta = torch.as_tensor(check_deltas(deltas, self.names), dtype=dtype, device=device)
        self.means = resolve_prior_mean(self.reg_groups, prior_mean)
        if any(m is not None for ms in self.means for m in ms) and self.penalty_kind is not Penalty.L2:
            raise ValueError(f"prior_mean works with penalty='l2' only, got penalty={self.penalty_kind.value!r}")
        self._mean_decoupled = [self.mode is Mode.DECOUPLED and any(m is not None for m in ms)
                                for ms in self.means]

    # ----------------------------------------------------------------- strengths
    @property
    def lambdas(self) -> dict[str, float]:
        """Strength per regularized group name (host floats; synchronizes)."""
        return dict(zip(self.names, self.delta.detach().cpu().double().tolist()))

    def set_deltas(self, values, optimizer=None) -> None:
        """Replace the strengths: a tensor (kept on device, no host copy), array, scalar or dict."""
        if isinstance(values, torch.Tensor) and values.shape == self.delta.shape:
            self.delta.copy_(values.detach())
        else:
            self.delta.copy_(torch.as_tensor(check_deltas(values, self.names), dtype=self.delta.dtype))
        if optimizer is not None:
            self.sync_optimizer(optimizer)

    # ----------------------------------------------------------------- L2
    @property
    def has_prior_mean(self) -> bool:
        """Whether some group is pulled toward a nonzero prior mean."""
        return any(m is not None for ms in self.means for m in ms)

    def offsets(self) -> list[list[torch.Tensor]]:
        """W − μ_g for every parameter of each regularized group (W where there is no mean)."""
        return [[p if mu is None else p - mu for p, mu in zip(g.params, means)]
                for g, means in zip(self.reg_groups, self.means)]

    def sq_distances(self) -> torch.Tensor:
        """‖W_g − μ_g‖² per regularized group (‖W_g‖² where there is no mean), a 1-D tensor."""
        return torch.stack([sum(d.pow(2).sum() for d in group) for group in self.offsets()])

    def penalty(self) -> torch.Tensor:
        """Coupled L2 term 1/(2N) Σ_g δ_g ‖W_g − μ_g‖² (zero in decoupled mode and for L1/L0)."""
        if self.penalty_kind is not Penalty.L2 or self.mode is Mode.DECOUPLED:
            return torch.zeros((), device=self.delta.device)
        return self.l2_term()

    def l2_term(self) -> torch.Tensor:
        """1/(2N) Σ_g δ_g ‖W_g − μ_g‖² in either mode: coupled training reaches its stationary point, as does
        weight_decay δ_g/N in SGD or Adam (added to the gradient); AdamW's, and decoupled steps toward μ_g, do not."""
        norms = self.sq_distances()
        return 0.5 * torch.dot(self.delta.to(norms.dtype), norms) / self.n_data

    @torch.no_grad()
    def add_gradient(self) -> torch.Tensor:
        """The coupled L2 term without autograd: add its gradient δ_g/N (W − μ_g) to the
        ``.grad`` of every trainable regularized weight; return :meth:`penalty`'s value, detached.

        :func:`~lamina.torch.fit.fit` calls it after ``backward`` of the task loss: the step of
        ``loss + penalty()`` without the penalty's graph (a quarter of each step on a small MLP).
        Zero in decoupled mode and for L1/L0. δ is read on the host only when it changed."""
        if self.penalty_kind is not Penalty.L2 or self.mode is Mode.DECOUPLED:
            return torch.zeros((), device=self.delta.device)
        cached = getattr(self, "_coef_source", None)   # (the δ tensor itself, its version when read)
        if cached is None or cached[0] is not self.delta or cached[1] != self.delta._version:
            coefs = (self.delta.detach().double().cpu().numpy() / self.n_data).tolist()
            self._coefs = [coef for g, coef in zip(self.reg_groups, coefs) for _ in g.params]   # per parameter
            self._coef_tensor = torch.tensor(self._coefs, device=self.delta.device, dtype=self.delta.dtype)
            self._coef_source = (self.delta, self.delta._version)
        params = [p for g in self.reg_groups for p in g.params]
        diffs = [d for group in self.offsets() for d in group]
        scaled = torch._foreach_mul(diffs, self._coefs)
        moved = [(p, step) for p, step in zip(params, scaled) if p.requires_grad]   # frozen: left alone
        if moved and all(p.grad is not None and not p.grad.is_sparse for p, _ in moved):   # none: BitFit
            torch._foreach_add_([p.grad for p, _ in moved], [step for _, step in moved])
        else:   # a weight the loss did not reach (the penalty's gradient alone), or a sparse one
            for p, step in moved:   # (an Embedding(sparse=True): the sum is dense, as autograd's)
                p.grad = step if p.grad is None else step.add_(p.grad) if p.grad.is_sparse else p.grad.add_(step)
        norms = torch.stack(torch._foreach_norm(diffs)).to(self._coef_tensor.dtype)
        return 0.5 * torch.dot(norms * norms, self._coef_tensor)

    @property
    def needs_step(self) -> bool:
        """Whether :meth:`prox_step` must follow each optimizer step (L1/L0, or decoupled L2
        toward a prior mean)."""
        return self.penalty_kind is not Penalty.L2 or any(self._mean_decoupled)

    @property
    def free_params(self) -> list[torch.Tensor]:
        """The unregularized parameters (biases, normalization scales: a flat prior)."""
        return [p for g in self.groups if not g.regularized for p in g.params]

    def param_groups(self, **options) -> list[dict]:
        """Optimizer param groups: one per regularized group with weight_decay = δ_g / N (L2,
        decoupled mode; 0 otherwise), one for every unregularized parameter (weight_decay 0).
        ``options`` (lr, betas …) are copied into each."""
        decay = self._optimizer_decay()
        out = [{"params": list(g.params), "weight_decay": d, "name": g.name, **options}
               for g, d in zip(self.reg_groups, decay)]
        rest = self.free_params
        if rest:
            out.append({"params": rest, "weight_decay": 0.0, "name": "unregularized", **options})
        return out

    def sync_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Write the current δ_g / N into the optimizer's param groups (decoupled L2 only)."""
        if self.penalty_kind is not Penalty.L2 or self.mode is not Mode.DECOUPLED:
            return
        decay = dict(zip(self.names, self._optimizer_decay()))
        for group in optimizer.param_groups:
            if group.get("name") in decay:
                group["weight_decay"] = decay[group["name"]]

    def _optimizer_decay(self) -> list[float]:
        """weight_decay per regularized group: δ_g / N in decoupled L2 mode, except for groups
        with a prior mean (their step is :meth:`prox_step`'s), 0 otherwise."""
        decay = (self.delta.cpu().double().numpy() / self.n_data).tolist()
        if self.penalty_kind is not Penalty.L2 or self.mode is not Mode.DECOUPLED:
            return [0.0] * len(decay)
        return [0.0 if own else d for d, own in zip(decay, self._mean_decoupled)]

    # ----------------------------------------------------------------- L1 / L0
    @torch.no_grad()
    def prox_step(self, lr: float, optimizer=None) -> None:
        """Step after an optimizer step with learning rate ``lr``: L1 soft, L0 hard thresholding
        at η λ_g / N — divided elementwise by Adam's d = √v̂ + ε when ``optimizer`` keeps second
        moments and ``prox_metric="auto"`` (module docstring); decoupled L2 toward a prior mean,
        W ← W − η δ_g/N (W − μ_g); else no-op. With ``optimizer``, η is the learning rate its
        param groups hold now (the one that took the step: a scheduler's, a warm-up's, or an
        optimizer built with another rate than ``lr``), per parameter where the groups differ."""
        lr, own_rate = step_rates(lr, optimizer)
        if self.penalty_kind is Penalty.L2:
            if any(self._mean_decoupled):
                rates = (self.delta * (lr / self.n_data)).tolist()
                for g, means, own, rate in zip(self.reg_groups, self.means, self._mean_decoupled, rates):
                    for p, mu in zip(g.params, means) if own else ():
                        r = rate if own_rate is None else rate * own_rate.get(id(p), lr) / lr
                        p.sub_(r * (p - mu) if mu is not None else r * p)
            return
        l1, scale = self.penalty_kind is Penalty.L1, lr / self.n_data
        thresholds = [v * scale for v in self.delta.tolist()] if reads_free(self.delta) else (self.delta * scale).unbind()
        moment = self._metric(optimizer)
        scaled = []                               # (p, v, ε √c, t √c) of the params Adam preconditions, c = 1 − β₂ᵗ
        for g, group_t in zip(self.reg_groups, thresholds):
            group_t = group_t if isinstance(group_t, float) else group_t.to(g.params[0].dtype)
            for p in g.params:
                t = group_t if own_rate is None else group_t * (own_rate.get(id(p), lr) / lr)
                pieces = moment(p) if moment is not None else None
                if pieces is None:
                    p.copy_(soft_threshold(p, t) if l1 else hard_threshold(p, t))
                else:
                    second, root, eps = pieces[0], pieces[1] ** 0.5, pieces[2]
                    scaled.append((p, second, eps * root, t * root))
        if scaled:   # all at once (torch._foreach_*, as torch.optim does): a few calls per step, not per tensor
            ps, seconds, eps_roots, t_roots = (list(column) for column in zip(*scaled))
            d = torch._foreach_sqrt(seconds)
            torch._foreach_add_(d, eps_roots)     # √c · d, d = √v̂ + ε = √(v/c) + ε
            if l1:                                # p − clip(p, ±τ) = sign(p) max(|p| − τ, 0), τ = t/d = t√c/(√c d)
                torch._foreach_reciprocal_(d)
                torch._foreach_mul_(d, t_roots)
                clipped = torch._foreach_minimum(ps, d)
                torch._foreach_neg_(d)
                torch._foreach_maximum_(clipped, d)
                torch._foreach_sub_(ps, clipped)
            else:                                 # keep |p| > √(2t/d), i.e. √c d p² > 2 t √c
                torch._foreach_mul_(d, torch._foreach_mul(ps, ps))
                for p, dp2, t_root in zip(ps, d, t_roots):
                    p.mul_(dp2 > 2.0 * t_root)

    def _metric(self, optimizer):
        """:func:`~lamina.torch.optimizer_state.adam_metric` of ``optimizer`` (built once per optimizer), or None."""
        if optimizer is None or self.prox_metric != "auto":
            return None
        cached = getattr(self, "_metric_cache", None)
        if cached is None or cached[0] is not optimizer or cached[1] != len(optimizer.param_groups):
            self._metric_cache = cached = (optimizer, len(optimizer.param_groups), adam_metric(optimizer))
        return cached[2]

    @torch.no_grad()
    def sparsity(self) -> dict[str, float]:
        """Fraction of exact zeros per regularized group."""
        return {g.name: float(sum(int((p == 0).sum()) for p in g.params) / g.numel) for g in self.reg_groups}

    def state_dict(self) -> dict:
        return {"delta": self.delta.detach().cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.delta.copy_(state["delta"].to(self.delta.device))


PROX_METRICS = ("auto", "euclidean")


def resolve_prior_mean(groups: list[ParamGroup], prior_mean) -> list[tuple]:
    """Per regularized group, the prior mean of each of its tensors (None: pulled toward 0).

    ``prior_mean`` maps qualified parameter names to tensors (a ``state_dict`` works): entries
    for other names are ignored. An entry whose shape differs from its parameter's belongs to a
    replaced layer (the pretrained network's head where the new one has another number of
    classes): it is left out with a warning, and that parameter is pulled toward 0 — unless no
    entry matches at all, which is an error.
    """
    if prior_mean is None:
        return [tuple(None for _ in g.params) for g in groups]
    if not isinstance(prior_mean, Mapping):
        raise TypeError("prior_mean must be a mapping of parameter name → tensor (e.g. a state_dict), "
                        f"got {type(prior_mean).__name__}")
    out, used, replaced = [], 0, []
    for g in groups:
        means = []
        for name, p in zip(g.param_names, g.params):
            if name not in prior_mean:
                means.append(None)
                continue
            mu = torch.as_tensor(prior_mean[name]).detach().to(device=p.device, dtype=p.dtype)
            if mu.shape != p.shape:
                replaced.append(f"prior_mean[{name!r}] has shape {tuple(mu.shape)} but the parameter has "
                                f"shape {tuple(p.shape)}")
                means.append(None)
                continue
            if not torch.isfinite(mu).all():
                raise ValueError(f"prior_mean[{name!r}] holds non-finite values")
            means.append(mu.clone())
            used += 1
        out.append(tuple(means))
    if replaced and used == 0:
        raise ValueError(f"{replaced[0]}: no entry of prior_mean fits the model")
    if replaced:
        warn("; ".join(replaced) + ": treated as replaced layers (e.g. a new head) and pulled toward 0",
             UserWarning)
    if prior_mean and used == 0:
        raise ValueError("prior_mean matches no regularized parameter of the model; its keys must be "
                         f"parameter names such as {[n for g in groups for n in g.param_names][:3]}")
    return out
