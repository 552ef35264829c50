"""Numerical detection of scale-invariant parameter groups (weights followed by normalization).

A group W_g is *scale-invariant* when the network's training-mode output does not change
when the group is multiplied by a positive constant: f(c·W_g) = f(W_g) for all c > 0. This
holds for a weight followed by BatchNorm (batch statistics), LayerNorm, GroupNorm or
InstanceNorm over the dimensions it feeds, and for the direction parameter v of weight
normalization W = g·v/‖v‖. It is a property of the architecture, not of the weights, so one
test on one training batch at the start of training is enough.

Test: with U a random direction rescaled to ‖U‖ = (c − 1)‖W_g‖ (a perturbation as large as
the scaling), compare

    r_g = ‖f(c·W_g) − f(W_g)‖ / ‖f(W_g + U) − f(W_g)‖.

For a group that is not invariant, scaling moves the output about as much as a random
perturbation of the same size (r_g of order 1; for a ReLU layer without normalization the
logits double). For an invariant group only the normalization's ε moves it
(r_g ≈ ε / Var, about 1e-4). The group is flagged when r_g < ``tol`` (default 1e-2) and the
reference change is measurable (a group that does not influence the output at all — an
all-zero or unused weight — is not flagged: the test says nothing about it).

Side-effect free: the forward passes use :func:`torch.func.functional_call` with cloned
buffers (BatchNorm's running statistics are not touched), under ``torch.no_grad`` and with
the RNG forked and reseeded before every pass (dropout draws the same mask each time, and
the caller's random stream is unchanged).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from lamina._context import seeded_global_rng
from lamina.torch.groups import ParamGroup
from lamina.torch.modes import in_mode


def _leaves(out) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for v in out.values() for t in _leaves(v)]
    if isinstance(out, (list, tuple)):
        return [t for v in out for t in _leaves(v)]
    return []


def has_tied_tensors(model: nn.Module) -> bool:
    """Whether one parameter or buffer is registered under two names (a tied weight)."""
    return any(len(list(named(remove_duplicate=False))) != len(list(named()))
               for named in (model.named_parameters, model.named_buffers))


def call_with(model: nn.Module, state: dict, args, kwargs=None, *, tied: bool | None = None):
    """``model(*args, **kwargs)`` with the tensors of ``state`` in place of the model's
    (:func:`torch.func.functional_call`), a tensor shared by several modules replaced in each of them
    (``tied``: whether the model shares any, :func:`has_tied_tensors`; computed when None).

    Shared tensors are untied here (:func:`_tied_state`), not by ``functional_call(tie_weights=True)``:
    where one *module* is registered under two names (``nn.Sequential(l, act, l)``) that swaps its
    tensor twice and restores the replacement, leaving the probe's tensors in the model (torch 2.13)."""
    tied = has_tied_tensors(model) if tied is None else tied
    return functional_call(model, _tied_state(model, state) if tied else state, args, kwargs, tie_weights=False)


def _tied_state(model: nn.Module, state: dict) -> dict:
    """``state`` keyed by one name per tensor slot (module, attribute), with every other slot that holds the
    same tensor as a replaced one given the same replacement: a module registered under several names is one
    slot (its first name, as ``named_parameters`` lists it), a tensor assigned to two modules is two."""
    slot_of, first_path, paths_of_tensor = {}, {}, {}
    for prefix, module in model.named_modules(remove_duplicate=False):
        for attr, tensor in itertools.chain(module._parameters.items(), module._buffers.items()):
            if tensor is None:
                continue
            path, slot = f"{prefix}.{attr}" if prefix else attr, (id(module), attr)
            slot_of[path] = slot
            if slot not in first_path:
                first_path[slot] = path
                paths_of_tensor.setdefault(id(tensor), []).append(path)
    tensor_at = {path: key for key, paths in paths_of_tensor.items() for path in paths}
    untied = {}
    for name, value in state.items():
        path = first_path.get(slot_of.get(name), name)
        for alias in paths_of_tensor.get(tensor_at.get(path), [path]):
            untied.setdefault(alias, value)
        untied[path] = value
    return untied


@torch.no_grad()
def inputs_of(model: nn.Module, module: nn.Module, args, state: dict | None = None) -> tuple:
    """(``model(*args)`` in eval mode, the list of the first inputs ``module`` received on that
    pass), through a forward pre-hook; with ``state``, its tensors in place of the model's
    (:func:`call_with`)."""
    captured = []
    handle = module.register_forward_pre_hook(lambda _, inputs: captured.append(inputs[0].detach()))
    try:
        with in_mode(model, training=False):
            output = model(*args) if state is None else call_with(model, state, args)
    finally:
        handle.remove()
    return output, captured


def _flat(out, centered: bool = False) -> torch.Tensor:
    leaves = [t.detach().double() for t in _leaves(out) if t.is_floating_point()]
    if not leaves:
        raise TypeError("the model's output holds no floating-point tensor")
    if centered:   # the part that varies over the batch (first dimension)
        leaves = [t - t.mean(0) if t.ndim >= 1 and t.shape[0] > 1 else torch.zeros_like(t) for t in leaves]
    return torch.cat([t.reshape(-1) for t in leaves])


@torch.no_grad()
def scale_invariance_ratios(model: nn.Module, groups: list[ParamGroup], args, kwargs=None, *,
                            factor: float = 2.0, seed: int = 0) -> dict[str, float]:
    """r_g = ‖f(c·W_g) − f(W_g)‖ / ‖f(W_g + U) − f(W_g)‖ for every group (see the module doc).

    ``args``/``kwargs`` are one batch of model inputs; the model is run in its current mode
    (call in train mode: the training objective's normalization uses batch statistics).
    Returns ``nan`` for a group whose reference change is not measurable (zero or unused
    weights) or whose tensors are not parameters of ``model``.
    """
    kwargs = kwargs or {}
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    name_of = {id(p): n for n, p in params.items()}
    device = next(iter(params.values())).device
    devices = [device] if device.type == "cuda" else []
    tied = has_tied_tensors(model)

    def run(overrides: dict) -> torch.Tensor:
        state = {**params, **{n: b.clone() for n, b in buffers.items()}, **overrides}
        # the model's generator only: torch.manual_seed also reseeds every GPU's (a CPU model's
        # probe had reset them for the caller, outside the fork below)
        with seeded_global_rng(seed, device):
            return _flat(call_with(model, state, args, kwargs, tied=tied))

    ratios = {}
    with torch.random.fork_rng(devices=devices):
        base = run({})
        scale = float(base.norm())
        for g in groups:
            names = [name_of.get(id(p)) for p in g.params]
            norm = math.sqrt(float(g.sq_norm()))
            if None in names or norm == 0.0:
                ratios[g.name] = float("nan")
                continue
            scaled = run({n: params[n] * factor for n in names})
            generator = torch.Generator(device=device).manual_seed(seed + 1)
            noise = [torch.randn(params[n].shape, generator=generator, device=device, dtype=params[n].dtype)
                     for n in names]
            noise_norm = math.sqrt(sum(float(u.pow(2).sum()) for u in noise))
            step = (factor - 1.0) * norm / max(noise_norm, 1e-30)
            perturbed = run({n: params[n] + step * u for n, u in zip(names, noise)})
            d_scale, d_ref = float((scaled - base).norm()), float((perturbed - base).norm())
            measurable = d_ref > 1e-6 * scale and d_ref > 1e-30
            ratios[g.name] = d_scale / d_ref if measurable else float("nan")
    return ratios


def scale_invariant_groups(model: nn.Module, groups: list[ParamGroup], args, kwargs=None, *,
                           tol: float = 1e-2, **options) -> list[str]:
    """Names of the groups whose scaling leaves the training-mode output unchanged (r_g < tol).

    Examples
    --------
    >>> torch.manual_seed(0) is not None
    True
    >>> from lamina.torch.groups import discover_groups
    >>> net = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    >>> groups = [g for g in discover_groups(net) if g.regularized]
    >>> scale_invariant_groups(net, groups, (torch.randn(16, 3),))
    ['0.weight']
    """
    ratios = scale_invariance_ratios(model, groups, args, kwargs, **options)
    return [name for name, r in ratios.items() if r < tol]


EXAMPLE_ROWS = 64   # rows of the training inputs the structural probes run on


def example_rows(X):
    """The first rows of ``X`` (a tensor, array, list or DataFrame) that the structural probes
    (identifiability, scale invariance, readouts) run on: up to ``EXAMPLE_ROWS`` = 64 — at least 2
    where there are, which batch normalization needs in training mode."""
    return X[: max(2, min(EXAMPLE_ROWS, len(X)))]


def example_inputs(model, example) -> tuple:
    """The probe's inputs: ``example`` (arrays made tensors, floating ones cast to the model's dtype
    and device), or 16 standard-normal rows shaped for the first Linear/Conv/normalization layer."""
    param = next(model.parameters(), None)
    if example is not None:
        items = tuple(example) if isinstance(example, (tuple, list)) else (example,)
        return tuple(_as_input(item, param) for item in items)
    first = next((m for m in model.modules() if any(True for _ in m.parameters(recurse=False))), None)
    if isinstance(first, nn.Linear):
        shape = (16, first.in_features)
    elif isinstance(first, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        shape = (16, first.in_channels) + (8,) * (first.weight.ndim - 2)
    elif isinstance(first, nn.LayerNorm):
        shape = (16, *first.normalized_shape)
    elif isinstance(first, nn.BatchNorm1d):
        shape = (16, first.num_features)
    else:
        raise ValueError("example: cannot infer an input shape for this model (its first layer is not "
                         "Linear/Conv/LayerNorm/BatchNorm1d); pass example=one batch of inputs")
    generator = torch.Generator().manual_seed(0)
    return (torch.randn(shape, generator=generator, dtype=param.dtype).to(param.device),)


def _as_input(item, param):
    if isinstance(item, np.ndarray):
        item = torch.from_numpy(item)
    if isinstance(item, torch.Tensor) and param is not None:
        dtype = param.dtype if item.is_floating_point() else item.dtype   # token ids stay integers
        item = item.to(device=param.device, dtype=dtype)
    return item


class SymmetryProbe:
    """r = ‖f(S(W)) − f(W)‖ / ‖f(W + U) − f(W)‖ for S scaling some tensors by c, others by 1/c."""

    def __init__(self, model, args, *, tol, factor, seed):
        self.model, self.args, self.tol, self.factor, self.seed = model, args, tol, factor, seed
        self.params = dict(model.named_parameters())
        self.buffers = dict(model.named_buffers())
        self.tied = has_tied_tensors(model)
        self._noises = {}
        self.device = next(iter(self.params.values())).device if self.params else torch.device("cpu")
        try:
            self.base, output = self._counting_uses()
            self.base_centered = _flat(output, centered=True)
        except (RuntimeError, ValueError, TypeError, IndexError) as error:
            raise ValueError(f"example: the model could not run on it ({type(error).__name__}: {error}); "
                             "pass example=one batch of the model's inputs (≥ 2 rows with BatchNorm)") from error
        if self.base.numel() == 0:
            raise ValueError("example: the model's output on it is empty (an empty batch?), so no symmetry "
                             "can be tested; pass example=one batch with rows")
        self.scale = float(self.base.norm())

    def _counting_uses(self):
        """The base run, counting on the way how many times it calls the module(s) holding each
        parameter (``uses``): a weight tied and applied twice along a chain scales the output by c²
        when it is scaled by c, so the move that undoes it needs 1/c² (see :meth:`power`); and
        recording the order of the module calls (``calls``, for :meth:`downstream`)."""
        self.uses = dict.fromkeys(self.params, 0)
        self.calls = {}   # module name → the positions of its calls in the forward pass
        owners = {id(p): n for n, p in self.params.items()}
        position = itertools.count()

        def count(name, module):
            self.calls.setdefault(name, []).append(next(position))
            for p in module.parameters(recurse=False):
                if id(p) in owners:
                    self.uses[owners[id(p)]] += 1
        handles = [m.register_forward_pre_hook(lambda module, inputs, name=name: count(name, module))
                   for name, m in self.model.named_modules()]
        try:
            return self._run({})
        finally:
            for handle in handles:
                handle.remove()

    def downstream(self, tensors: list, of: list) -> bool:
        """Whether the modules owning ``tensors`` are all first called after the last call of every
        module owning ``of`` in the forward pass (False where one of them is never called)."""
        firsts, lasts = ([self.calls.get(n.rpartition(".")[0]) for n in names] for names in (tensors, of))
        if not firsts or not lasts or None in firsts or None in lasts:
            return False
        return min(c[0] for c in firsts) > max(c[-1] for c in lasts)

    def power(self, up: list, down: list) -> tuple[int, int]:
        """(a, b) of the candidate move ``up`` × c^a, ``down`` / c^b that undoes the scaling: a = the
        uses of ``down``, b = those of ``up`` (the most of their tensors'), divided by their gcd; (1, 1)
        unless a weight is applied more than once."""
        a, b = (max([self.uses.get(n, 1) for n in names] + [1]) for names in (down, up))
        return a // math.gcd(a, b), b // math.gcd(a, b)

    @torch.no_grad()
    def _run(self, overrides):
        """(the flattened output, the output) with ``overrides`` applied."""
        # the moved tensors only (the rest stay the model's own) and cloned buffers (BatchNorm's
        # running statistics untouched); with the noise drawn once per tensor (:meth:`_noise`) the
        # probe of a small MLP takes 13-15 % less time than when every tensor was swapped in
        state = {**{n: b.clone() for n, b in self.buffers.items()}, **overrides}
        # the same random draws (dropout) in every run; seeding only the generator the model uses
        # (torch.manual_seed also queues a seed for every uninitialized accelerator, formatting a
        # stack trace each time: half this probe's time on a small network)
        with seeded_global_rng(self.seed, self.device):
            out = call_with(self.model, state, self.args, tied=self.tied)
        return _flat(out), out

    def _noise(self, name: str):
        """(U, ‖U‖): one standard-normal direction per tensor, drawn once (seeded by ``seed`` and the
        tensor's position) and reused by every test that moves the tensor."""
        if name not in self._noises:
            generator = torch.Generator().manual_seed(self.seed + 1 + list(self.params).index(name))
            value = self.params[name]
            noise = torch.randn(value.shape, generator=generator, dtype=value.dtype).to(value.device)
            self._noises[name] = noise, float(noise.norm())
        return self._noises[name]

    @torch.no_grad()
    def is_symmetric(self, up: list, down: list, power: tuple = (1, 1)) -> bool:
        """Whether scaling ``up`` by c^a and ``down`` by 1/c^b, (a, b) = ``power``, keeps the output."""
        c = self.factor
        moved = {n: self.params[n] * c ** power[0] for n in up} | {n: self.params[n] / c ** power[1] for n in down}
        sym, sym_output = self._run(moved)
        d_sym = float((sym - self.base).norm())
        perturbed = {}
        for n, value in moved.items():
            noise, noise_norm = self._noise(n)
            size = float((value - self.params[n]).norm())
            perturbed[n] = self.params[n] + noise * (size / max(noise_norm, 1e-30))
        ref, ref_output = self._run(perturbed)
        d_ref = float((ref - self.base).norm())
        if not (d_ref > 1e-6 * self.scale and d_ref > 1e-30):
            return False                       # the tensors do not reach the output: no finding
        if d_sym / d_ref >= self.tol:
            return False
        # the same on the part of the output that varies over the batch: where the input's signal has
        # faded (a deep network at its initialization) the output is nearly constant, and a move that
        # keeps the constant (scaling every bias) passes the first test without being a symmetry
        d_ref = float((_flat(ref_output, centered=True) - self.base_centered).norm())
        return not d_ref > 1e-6 * self.scale or \
            float((_flat(sym_output, centered=True) - self.base_centered).norm()) / d_ref < self.tol
