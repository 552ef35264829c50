"""Hypergradient of a held-out loss w.r.t. log δ_g by implicit differentiation.

Training objective (mean scale, N training samples): L(θ, δ) = mean task loss
+ 1/(2N) Σ_g δ_g ‖W_g − μ_g‖² (μ_g the prior mean, 0 unless given). At a stationary point θ*(δ),
∇_θ L = 0, and for a held-out loss V:

    dV/d log δ_g = −(δ_g / N) ⟨W_g − μ_g, [H⁻¹ ∇_θ V]_g⟩,    H = ∇²_θ L(θ*, δ),

because ∂(∇_θ L)/∂ log δ_g = δ_g (W_g − μ_g) / N on group g (zero elsewhere). q = H⁻¹ ∇_θ V is
approximated by conjugate gradient or by a truncated Neumann series
q ≈ α Σ_{k<K} (I − αH)^k ∇_θ V, both from Hessian–vector products (double backward) on a
training minibatch — no Hessian is ever formed.
"""
from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import nn

from lamina._warnings import warn
from lamina.torch.fit import as_tensors, fit, model_device, model_dtype
from lamina.torch.modes import in_mode
from lamina.torch.penalty import Regularizer
from lamina.torch.result import NetTuneResult
from lamina.torch.rules import make_rule
from lamina.tuners.base import Compute


def _twice_differentiable():
    """Attention through ``scaled_dot_product_attention`` in its math kernel: the fused CPU/CUDA
    kernels (flash, memory-efficient) have no double backward, which the Hessian products need
    ("derivative for aten::_scaled_dot_product_flash_attention_for_cpu_backward is not
    implemented" on nn.TransformerEncoder)."""
    try:
        from torch.nn.attention import SDPBackend, sdpa_kernel
    except ImportError:   # torch < 2.3
        return contextlib.nullcontext()
    return sdpa_kernel([SDPBackend.MATH])


def _flat(tensors):
    return torch.cat([t.reshape(-1) for t in tensors])


def _split(vector, params):
    out, offset = [], 0
    for p in params:
        out.append(vector[offset:offset + p.numel()].view_as(p))
        offset += p.numel()
    return out


def hypergradient(model: nn.Module, regularizer: Regularizer, likelihood, train_batch, val_batch, *,
                  solver: str = "cg", n_iter: int = 20, damping: float = 0.0, alpha: float | None = None
                  ) -> torch.Tensor:
    """dV/d log δ_g for every regularized group, at the current weights (tensor, on device).

    Parameters
    ----------
    model, regularizer, likelihood
        The network, its :class:`Regularizer` (coupled L2), and the likelihood object.
    train_batch, val_batch : (X, y)
        Data for the Hessian (training objective) and for the held-out loss V (mean NLL).
    solver : {"cg", "neumann"}
        How H⁻¹∇V is approximated; ``n_iter`` CG iterations or Neumann terms.
    damping : float
        Added to H (H + damping·I), for non-convex problems.
    alpha : float, optional
        Neumann step (default 1 / the largest eigenvalue estimated by 10 power iterations).
    """
    if solver not in ("cg", "neumann"):
        raise ValueError(f"solver must be 'cg' or 'neumann'; got {solver!r}")
    params = [p for p in model.parameters() if p.requires_grad]
    device = model_device(model)
    X, y = as_tensors(train_batch, likelihood, device, "train_batch", model_dtype(model))
    Xv, yv = as_tensors(val_batch, likelihood, device, "val_batch", model_dtype(model))
    # V in eval mode (as the held-out data are scored); the training loss in the model's own mode,
    # with its buffers (BatchNorm's running statistics) put back: this call must not train them
    buffers = [b.detach().clone() for b in model.buffers()]
    with in_mode(model, training=False):
        val_grad = _flat(torch.autograd.grad(likelihood.nll(model(Xv), yv), params)).detach()
    # the L2 term in either mode: ``penalty()`` is 0 in decoupled mode, whose training (weight
    # decay δ/N) reaches the same stationary point, so H needs δ/N there as well
    with _twice_differentiable():
        loss = likelihood.loss(model(X), y) + regularizer.l2_term()
    grad = _flat(torch.autograd.grad(loss, params, create_graph=True))

    def hvp(v):
        out = _flat(torch.autograd.grad(grad, params, grad_outputs=v, retain_graph=True))
        return out + damping * v

    q = _cg(hvp, val_grad, n_iter) if solver == "cg" else _neumann(hvp, val_grad, n_iter, alpha)
    with torch.no_grad():   # after the Hessian products, whose graph holds the buffers' versions
        for buffer, saved in zip(model.buffers(), buffers):
            buffer.copy_(saved)
    q_parts = dict(zip(map(id, params), _split(q, params)))
    result = []
    for g, offsets, d in zip(regularizer.reg_groups, regularizer.offsets(), regularizer.delta):
        # ∂²L/∂w∂δ_g = (w_g − μ_g)/N: the distance to the prior mean, not the weights
        inner = sum((o.detach() * q_parts[id(p)]).sum() for p, o in zip(g.params, offsets)
                    if id(p) in q_parts)   # a frozen weight does not move with δ
        result.append(-d * inner / regularizer.n_data)
    return torch.stack(result)


def _cg(hvp, b, n_iter, tol=1e-10):
    x = torch.zeros_like(b)
    r = b.clone()
    p = r.clone()
    rs = r.dot(r)
    for _ in range(n_iter):
        hp = hvp(p)
        curvature = p.dot(hp)
        if curvature <= 0:
            break
        step = rs / curvature
        x = x + step * p
        r = r - step * hp
        rs_new = r.dot(r)
        if rs_new <= tol * b.dot(b):
            break
        p = r + (rs_new / rs) * p
        rs = rs_new
    return x


def _neumann(hvp, b, n_iter, alpha=None):
    if alpha is None:
        v = b / b.norm().clamp_min(1e-30)
        top = torch.ones((), device=b.device)
        for _ in range(10):
            hv = hvp(v)
            top = hv.norm()
            v = hv / top.clamp_min(1e-30)
        alpha = 1.0 / float(top.clamp_min(1e-12))
    term = b.clone()
    total = b.clone()
    for _ in range(n_iter):
        term = term - alpha * hvp(term)
        total = total + term
    return alpha * total


class OnlineHypergradient:
    """Callback: every ``update_every`` epochs (after ``burn_in``), one hypergradient step on
    θ_g = log δ_g with Adam-style normalization (step ``lr_hyper``), on a training minibatch of
    ``hessian_batch`` samples and the whole held-out set."""

    def __init__(self, model, regularizer, likelihood, train, val, *, update_every: int = 10, burn_in: int = 20,
                 lr_hyper: float = 0.2, n_iter: int = 5, solver: str = "neumann", hessian_batch: int = 128,
                 seed: int = 0):
        self.model, self.regularizer, self.likelihood = model, regularizer, likelihood
        self.train, self.val = train, val
        self.update_every, self.burn_in, self.lr_hyper = update_every, burn_in, lr_hyper
        self.n_iter, self.solver, self.hessian_batch = n_iter, solver, hessian_batch
        self._m = torch.zeros_like(regularizer.delta)
        self._v = torch.zeros_like(regularizer.delta)
        self._t = 0
        self.generator = torch.Generator(device=train[0].device)
        self.generator.manual_seed(seed)
        self.n_updates = 0

    def on_epoch_end(self, epoch, optimizer):
        if epoch + 1 < self.burn_in or (epoch + 1 - self.burn_in) % self.update_every:
            return False
        X, y = self.train
        index = torch.randperm(X.shape[0], generator=self.generator, device=X.device)[:self.hessian_batch]
        grad = hypergradient(self.model, self.regularizer, self.likelihood, (X[index], y[index]), self.val,
                             solver=self.solver, n_iter=self.n_iter, damping=1e-3)
        self._t += 1
        self._m.mul_(0.9).add_(grad, alpha=0.1)
        self._v.mul_(0.999).add_(grad * grad, alpha=0.001)
        m_hat = self._m / (1 - 0.9 ** self._t)
        v_hat = self._v / (1 - 0.999 ** self._t)
        log_delta = self.regularizer.delta.clamp_min(1e-8).log() - self.lr_hyper * m_hat / (v_hat.sqrt() + 1e-12)
        self.regularizer.set_deltas(log_delta.clamp(math.log(1e-6), math.log(1e6)).exp(), optimizer)
        self.n_updates += 1
        return True


def split_train(train, likelihood, device, val_fraction: float, seed: int, dtype=None, fold: int = 0):
    """Shuffle ``(X, y)`` (with ``seed``) and split off a held-out part of ``val_fraction``.

    ``fold`` k takes the k-th block of that size of the same shuffle, so folds 0, 1, … of one
    seed hold out disjoint samples (needs (fold + 1)·val_fraction ≤ 1)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    X, y = as_tensors(train, likelihood, device, "train", dtype)
    generator = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(X.shape[0], generator=generator).to(X.device)
    n_val = max(1, int(round(val_fraction * X.shape[0])))
    if n_val >= X.shape[0]:
        raise ValueError(f"need at least 2 training samples to hold some out, got {X.shape[0]}")
    if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or fold < 0:
        raise ValueError(f"fold must be a whole number ≥ 0, got {fold!r}")
    if (int(fold) + 1) * n_val > X.shape[0]:
        raise ValueError(f"fold {fold} of held-out parts of {n_val} samples needs more than the "
                         f"{X.shape[0]} training samples")
    lo, hi = int(fold) * n_val, (int(fold) + 1) * n_val
    held, kept = perm[lo:hi], torch.cat([perm[:lo], perm[hi:]])   # both in shuffled order
    return (X[kept], y[kept]), (X[held], y[held])


def tune_hypergradient(model, train, likelihood, recipe, *, val=None, val_fraction: float = 0.2, by=None,
                       delta: float = 1.0, rule="uniform", mode="coupled", prior_mean=None, progress=False,
                       **options):
    """Online hypergradient tuning on a held-out split (or ``val``); trains on the rest.
    ``burn_in`` and ``update_every`` (options of :class:`OnlineHypergradient`) default to a
    fifteenth and a thirtieth of the epochs (20 and 10 of 300), so that a short run is tuned too;
    a run that made no update warns."""
    device = model_device(model)
    if val is None:
        fit_data, val_data = split_train(train, likelihood, device, val_fraction, recipe.seed, model_dtype(model))
    else:
        fit_data = as_tensors(train, likelihood, device, "train", model_dtype(model))
        val_data = as_tensors(val, likelihood, device, "val", model_dtype(model))
    n_data = int(fit_data[0].shape[0])
    reg = Regularizer(model, n_data, delta, mode=mode, by=by, prior_mean=prior_mean)
    weights, _ = make_rule(rule, reg.reg_groups)
    reg.set_deltas(delta * np.asarray(weights))
    # the same shares of the run at any length: 20 burn-in epochs and a step every 10 of 300
    options.setdefault("burn_in", max(1, round(recipe.epochs / 15)))
    options.setdefault("update_every", max(1, round(recipe.epochs / 30)))
    tuner = OnlineHypergradient(model, reg, likelihood, fit_data, val_data, seed=recipe.seed, **options)
    out = fit(model, fit_data, likelihood=likelihood, epochs=recipe.epochs, lr=recipe.lr,
              batch_size=recipe.batch_size, seed=recipe.seed, optimizer=recipe.optimizer, regularizer=reg,
              callbacks=[tuner], progress=progress)
    if tuner.n_updates == 0:
        warn(f"the hypergradient tuner made no update: burn_in={tuner.burn_in} exceeds "
             f"epochs={recipe.epochs}; δ is the rule's start, not tuned", RuntimeWarning)
    return NetTuneResult("hypergradient", reg.lambdas, model, out.history.get("lambdas", []),
                         Compute(fits=1.0, epochs=float(out.epochs), seconds=out.seconds),
                         info={"n_updates": tuner.n_updates, "n_train": n_data,
                               "n_val": int(val_data[0].shape[0])},
                         history=out.history)
