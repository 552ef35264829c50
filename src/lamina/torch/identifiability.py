"""Which directions of log δ the data can pin down: the rescaling symmetries of a network.

The network objective is mean task loss + 1/(2N) Σ_g δ_g ‖W_g − μ_g‖² (μ_g = 0 unless a
prior mean is given). A *rescaling symmetry* is a map W → S_c(W) that leaves the network's
function unchanged for every c > 0. Along one, the data term is constant and only the
penalty moves, so the optimum over the symmetry depends on δ only through a combination of
them — the other combinations are not identified by the data. Three cases, tested
numerically on one batch (a property of the architecture, not of the weights):

1. **Homogeneous pair** g → h: scaling g's weight *and bias* by c and h's weight by 1/c
   leaves f unchanged (Linear/Conv → ReLU/LeakyReLU/MaxPool/identity → Linear/Conv, also
   inside a residual branch). The penalty δ_g c²‖W_g‖² + δ_h ‖W_h‖²/c² has its minimum over c
   at 2 √(δ_g δ_h) ‖W_g‖‖W_h‖: only δ_g δ_h is identified, and log δ may move freely along
   e_g − e_h. A chain of L layers leaves only Π_l δ_l (the sum of log δ) identified. A weight
   tied and applied k times along the chain (one module called twice) scales f by c^k: the move
   is then g × c^a, h / c^b with a k_g = b k_h, and only δ_g^b δ_h^a is identified.
2. **Scale-invariant group** g (a weight followed by BatchNorm/LayerNorm/GroupNorm):
   f(cW_g) = f(W_g), so the penalty can always shrink W_g at no cost in fit; δ_g acts only
   through the effective learning rate, never through the optimum: e_g is flat.
3. **Absorbed group** h: an *unregularized* tensor ahead of it (a normalization layer's
   affine scale, a bias-only path) can take its scale, f unchanged, so ‖W_h‖ → 0 at no
   cost whatever δ_h is: e_h is flat.

What breaks a symmetry, so that the split between the groups matters: a prior mean
μ ≠ 0 on either group (‖cW − μ‖² is not homogeneous: fine-tuning, L2-SP), a frozen nonzero
tensor it would have to move (``requires_grad`` False: training cannot follow the rescaling),
a skip connection around the pair, a non-homogeneous activation (tanh, GELU, sigmoid,
softmax). The tests below see all of them: the first two through the penalty and the trainable
set, the others through the function. A regularized bias that the scaling moves breaks the
pair alone (δ_g/δ_h is identified), not the symmetry: log δ stays free along e_g + e_bias − e_h.

The flat directions are found per tensor and mapped to the groups: a group that merges
several tensors (``by``) moves all their log-scales together, so a chain W₀ → W₁ → W₂ with
W₀, W₁ in one group leaves only δ_{01}² δ_2 identified (flat along e_{01} − 2 e_2).

Test of one candidate symmetry S: with U a random perturbation of the same tensors and the
same size, r = ‖f(S(W)) − f(W)‖ / ‖f(W + U) − f(W)‖; symmetric when r < ``tol`` (1e-2 by
default; a broken one gives r of order 1, a true one rounding error or normalization ε).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch import nn

from lamina.torch.flat_directions import chains, flat_directions
from lamina.torch.groups import ParamGroup, discover_groups
from lamina.torch.invariance import SymmetryProbe, example_inputs
from lamina.torch.modes import in_mode
from lamina.torch.penalty import resolve_prior_mean


@dataclass
class Identifiability:
    """The rescaling symmetries among a model's regularized groups.

    Attributes
    ----------
    groups : list of str
        Regularized group names, the coordinates of log δ.
    pairs : list of (str, str)
        Homogeneous pairs g → h (only δ_g δ_h identified).
    chains : list of tuple of str
        Connected components of the pairs: only the product of δ along each is identified.
    scale_invariant : list of str
        Groups whose scale the function ignores (δ acts through the learning rate only).
    absorbed : dict[str, str]
        Group → the unregularized group that can take its scale (several, ending in
        "(together)", where only all of them can: a residual stream of normalized branches), or
        the scale-invariant group that can, ending in "(scale-invariant)".
    broken : list of (str, str, str)
        (g, h, reason) for pairs whose function symmetry the penalty or a frozen tensor breaks
        (prior mean, regularized bias, frozen nonzero bias or normalization scale).
    flat : ndarray, shape (n_flat, n_groups)
        Orthonormal basis of the directions of log δ the data cannot pin down.
    identified : ndarray, shape (n_groups − n_flat, n_groups)
        Orthonormal basis of its complement: the directions worth tuning.
    powers : dict[(str, str), (int, int)]
        (a, b) of the pairs whose move is g × c^a, h / c^b with a tied weight (a module applied
        more than once along the chain); the other pairs have (1, 1).
    """

    groups: list
    pairs: list = field(default_factory=list)
    chains: list = field(default_factory=list)
    scale_invariant: list = field(default_factory=list)
    absorbed: dict = field(default_factory=dict)
    broken: list = field(default_factory=list)
    flat: np.ndarray = None
    identified: np.ndarray = None
    powers: dict = field(default_factory=dict)

    @property
    def n_identified(self) -> int:
        """How many combinations of log δ the data can pin down."""
        return int(self.identified.shape[0])

    @property
    def split_identified(self) -> bool:
        """True when more than one combination is identified, so a λ per group can differ
        from one λ for all at the optimum (the split between groups matters)."""
        return self.n_identified > 1

    def findings(self) -> list[str]:
        """One plain sentence per finding."""
        lines = []
        for chain in self.chains:
            names = ", ".join(chain)
            tied = any(set(pair) <= set(chain) for pair in self.powers)   # a weight applied more than once
            lines.append(f"only {'a product of powers' if tied else 'the product'} of the {len(chain)} δ of {names} "
                         f"is identified (ReLU-type rescaling symmetry{', a weight applied more than once' * tied}): "
                         "their split cannot matter at the optimum")
        for name in self.scale_invariant:
            lines.append(f"δ of {name} is not identified: a normalization layer removes its scale, "
                         "so δ acts only through the effective learning rate")
        for name, by in self.absorbed.items():
            if by.endswith(" (scale-invariant)"):
                lines.append(f"δ of {name} is not identified: {by[:-len(' (scale-invariant)')]} can take its "
                             "scale, and a normalization layer removes that one's")
                continue
            lines.append(f"δ of {name} is not identified: the unregularized {by} can take its scale")
        for g, h, reason in self.broken:
            what = (f"{g} would be scale-invariant" if g == h else f"{g} and {h} would be a rescaling pair")
            if reason.startswith("the regularized "):
                lines.append(f"{what}, but the rescaling also scales {reason}: the ratio of their δ is "
                             f"identified, yet log δ stays flat along the move of {g} and "
                             f"{reason[len('the regularized '):]} against {h}")
                continue
            lines.append(f"{what}, but {reason} breaks it: its δ is identified")
        if not lines:
            lines.append("no rescaling symmetry: every δ is identified on its own")
        return lines

    def verdict(self) -> str:
        """One sentence: can a λ per group help on this model?"""
        n = len(self.groups)
        if self.n_identified == 0:
            return (f"no combination of the {n} δ is identified at the optimum: unregularized scales "
                    "(normalization) can take the penalty, so δ acts only through the training "
                    "dynamics (effective learning rate)")
        if self.n_identified == 1 and n > 1:
            return (f"only one combination of the {n} δ is identified: one λ for all is as good as "
                    "a λ per layer at the optimum; per-layer cannot help here")
        if self.n_identified == n:
            return f"all {n} δ are identified: the split between groups can matter"
        return (f"{self.n_identified} of {n} directions of log δ are identified: "
                "a λ per group can help only along those")

    def __str__(self) -> str:
        return self.verdict() + "\n" + "\n".join("- " + line for line in self.findings())


def identifiability(model: nn.Module, by=None, *, example=None, prior_mean=None,
                    regularize_bias: bool = False, regularize_norm: bool = False,
                    tol: float = 1e-2, factor: float = 2.0, seed: int = 0) -> Identifiability:
    """Find the rescaling symmetries among the regularized groups of ``model``.

    Parameters
    ----------
    model : nn.Module
        Any module; run in training mode on ``example`` (its state is left as it was).
    by : None, "module_type" or dict
        Grouping, as in :func:`lamina.torch.discover_groups`.
    example : Tensor or tuple of Tensors, optional
        One batch of inputs (≥ 2 rows for BatchNorm). Default: 16 standard-normal rows shaped
        for the first Linear/Conv layer (spatial size 8 for convolutions).
    prior_mean : mapping of parameter name → Tensor, optional
        The prior means μ of the penalty ‖W − μ‖²; a group with a nonzero mean breaks every
        symmetry it is part of.
    regularize_bias, regularize_norm : bool
        As in :func:`discover_groups`: penalized biases/normalization parameters break the
        symmetries that scale them.
    tol, factor, seed
        Threshold on the ratio r (module doc) in (0, 1), the test's scaling factor c (> 0, ≠ 1),
        and its seed.

    Returns
    -------
    Identifiability

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> found = identifiability(net)
    >>> found.chains, found.n_identified
    ([('0.weight', '2.weight', '4.weight')], 1)
    >>> identifiability(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))).n_identified
    2
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_probe_options(tol, factor, seed)
    groups = discover_groups(model, by, regularize_bias=regularize_bias, regularize_norm=regularize_norm)
    reg = [g for g in groups if g.regularized]
    tensor_groups = groups if by is None else \
        discover_groups(model, None, regularize_bias=regularize_bias, regularize_norm=regularize_norm)
    args = example_inputs(model, example)
    names = {id(p): n for n, p in model.named_parameters()}
    penalized = {names[id(p)] for g in reg for p in g.params if id(p) in names}
    frozen = _frozen_nonzero(model)   # tensors training cannot rescale: they break a symmetry as a penalty does
    mean_tensors = _tensors_with_mean(reg, prior_mean)
    with_mean = {g.name for g in reg if set(g.param_names) & mean_tensors}
    with in_mode(model, training=True):
        probe = SymmetryProbe(model, args, tol=tol, factor=factor, seed=seed)
        order = [name for name, _ in model.named_modules()]
        pairs, invariant, absorbed, broken, moves, powers = _search(probe, model, groups, names, order, penalized,
                                                                    with_mean, frozen)
        if tensor_groups is not groups:   # merged groups: the symmetries of their tensors, one by one
            moves = _search(probe, model, tensor_groups, names, order, penalized, mean_tensors, frozen)[-2]
    absorbed = {h: g for h, g in absorbed.items() if h not in with_mean}
    flat, identified = flat_directions(reg, moves, frozen | mean_tensors)
    return Identifiability([g.name for g in reg], pairs, chains(pairs), list(invariant), dict(absorbed), broken,
                           flat, identified, {pair: powers[pair] for pair in pairs if pair in powers})


def _search(probe, model, groups, names, order, penalized, with_mean, frozen):
    """(pairs, invariant, absorbed, broken, moves, powers): the findings among ``groups``, every
    symmetry found as (tensors scaled by c^a, tensors scaled by 1/c^b, (a, b)), and the (a, b) of
    the pairs other than (1, 1) (a tied weight)."""
    reg = [g for g in groups if g.regularized]
    invariant, broken, moves = _scale_invariant(probe, model, reg, names, penalized, with_mean, frozen)
    pairs, absorbed, powers = [], {}, {}
    for h in reg:
        down = [names[id(p)] for p in h.params]
        if h.name in invariant:   # a group ahead whose scale h can take is as free as h: W → ReLU → W_h → Norm
            for g in reg:   # (an all-zero g passes trivially: h's move is invisible, g's is none)
                skip = g is h or g.name in invariant or not any(bool(p.detach().abs().max() > 0) for p in g.params) \
                    or _cannot_lead(probe, g, h, names)
                found = None if skip else _pair_symmetry(probe, model, g, h, names, order)
                if found is not None:
                    scaled = found[0]
                    moves.append((scaled, down, found[1]))
                    if not _breaker(g, h, scaled, penalized, with_mean, frozen):
                        absorbed.setdefault(g.name, f"{h.name} (scale-invariant)")
            continue
        for g in groups:
            if g is h or g.name in invariant or _cannot_lead(probe, g, h, names, offsets=True):
                continue
            found = _pair_symmetry(probe, model, g, h, names, order)
            if found is None:
                continue
            scaled = found[0]
            moves.append((scaled, down, found[1]))
            if found[1] != (1, 1):
                powers[(g.name, h.name)] = found[1]
            if not g.regularized:
                if not set(scaled) & (penalized | frozen):
                    absorbed.setdefault(h.name, g.name)
                continue
            reason = _breaker(g, h, scaled, penalized, with_mean, frozen)
            (broken.append((g.name, h.name, reason)) if reason else pairs.append((g.name, h.name)))
        if h.name not in absorbed:
            together = _absorbed_together(probe, model, groups, h, names, order, penalized | frozen)
            if together:
                absorbed[h.name] = together
                moves.append(([], down))
    return pairs, invariant, absorbed, broken, moves, powers


def _scale_invariant(probe, model, reg, names, penalized, with_mean, frozen):
    """(invariant group names, broken findings, moves): f(c·W_g) = f(W_g), alone or with g's bias."""
    invariant, broken, moves = [], [], []
    for g in reg:
        own = [names[id(p)] for p in g.params]
        with_bias = _scaled_with_bias(model, g, names)
        if probe.is_symmetric(own, []):
            scaled = own
        elif len(with_bias) > len(own) and probe.is_symmetric(with_bias, []):
            scaled = with_bias
        else:
            continue
        moves.append((scaled, []))
        reason = _breaker(g, g, scaled, penalized, with_mean, frozen)
        (broken.append((g.name, g.name, reason)) if reason else invariant.append(g.name))
    return invariant, broken, moves


def _pair_symmetry(probe, model, g, h, names, order):
    """(the tensors scaled by c^a, (a, b)) of a rescaling symmetry g → h (h's weight by 1/c^b), or None.

    Tried: g's tensors with its bias; then also the biases of the modules registered between
    g's and h's (a ReLU chain with a residual stream keeps its symmetry when every bias along
    the stream scales too). Registration order stands in for the forward order: a symmetry it
    misses is reported as identified, never the reverse, since every flat claim is tested.
    (a, b) is (1, 1), then, where g or h is applied more than once in one forward pass (a tied
    weight), the powers that undo it (:meth:`SymmetryProbe.power`): c^k for k uses in a chain.
    """
    down = [names[id(p)] for p in h.params]
    scaled = _scaled_with_bias(model, g, names)
    between = _biases_between(model, g, h, names, order)
    for power in dict.fromkeys([(1, 1), probe.power([names[id(p)] for p in g.params], down)]):
        if probe.is_symmetric(scaled, down, power):
            return scaled, power
        if between and probe.is_symmetric(scaled + between, down, power):
            return scaled + between, power
    return None


def _cannot_lead(probe, g, h, names, *, offsets: bool = False) -> bool:
    """Whether g cannot be the scaled-up side of a symmetry with h, so that its test is skipped: g
    runs after h in the forward pass (the move, reversed, is h's pair with g, tested from h's side,
    where h's bias scales with it); with ``offsets``, also where g holds only biases of modules
    whose weights it leaves (for an h that is not scale-invariant: an offset scaled while its
    weight is not is undone by no weight downstream). A symmetry skipped would be reported as
    identified, never the reverse."""
    tensors = [names[id(p)] for p in g.params]
    if probe.downstream(tensors, [names[id(p)] for p in h.params]):
        return True
    if not offsets:
        return False
    known = set(names.values())
    weights = [_sibling(n, "weight") for n in tensors]
    return all(n.rpartition(".")[2] == "bias" and w in known and w not in tensors for n, w in zip(tensors, weights))


def _absorbed_together(probe, model, groups, h, names, order, fixed) -> str | None:
    """The unregularized groups registered before h (with their biases) when, scaled together by c,
    they take h's scale — a residual stream whose every branch ends in a normalization layer — or
    None. No one of them can alone: the stream adds them up."""
    position = {name: i for i, name in enumerate(order)}
    start = min(position.get(n.rpartition(".")[0], -1) for n in h.param_names)
    ahead = [g for g in groups if not g.regularized
             and max(position.get(n.rpartition(".")[0], -1) for n in g.param_names) < start]
    scaled = list(dict.fromkeys(n for g in ahead for n in _scaled_with_bias(model, g, names)))
    if len(ahead) < 2 or set(scaled) & fixed or not probe.is_symmetric(scaled, [names[id(p)] for p in h.params]):
        return None
    return ", ".join(g.name for g in ahead) + " (together)"


def _biases_between(model, g, h, names, order) -> list[str]:
    position = {name: i for i, name in enumerate(order)}
    first = max(position.get(n.rpartition(".")[0], -1) for n in g.param_names)
    last = min(position.get(n.rpartition(".")[0], -1) for n in h.param_names)
    biases = []
    for name, param in model.named_parameters():
        owner, _, local = name.rpartition(".")
        if local == "bias" and first < position.get(owner, -1) < last:
            biases.append(name)
    return biases


def _scaled_with_bias(model, group: ParamGroup, names) -> list[str]:
    """The group's tensors plus the biases of the modules that own them (scaled together)."""
    scaled = [names[id(p)] for p in group.params]
    all_params = dict(model.named_parameters())
    for name in list(scaled):
        bias = _sibling(name, "bias")
        if bias in all_params and bias not in scaled and not name.endswith("bias"):
            scaled.append(bias)
    return scaled


def _sibling(name: str, local: str) -> str:
    """The parameter ``local`` of the module that owns the parameter ``name`` ("0.weight" → "0.bias")."""
    owner = name.rpartition(".")[0]
    return f"{owner}.{local}" if owner else local


def _breaker(g, h, scaled, penalized, with_mean, frozen) -> str | None:
    """Why the penalty, or the trainable set, is not invariant under the pair's rescaling (None when
    it is): a prior mean, a regularized tensor the scaling moves, or a frozen nonzero one it would
    have to move (training cannot follow the symmetry there)."""
    for name in (g.name, h.name):
        if name in with_mean:
            return f"the prior mean of {name}"
    own = g.param_names + h.param_names
    extra = [n for n in scaled if n in penalized and n not in own]
    if extra and g is not h:   # scale-invariant with a regularized bias: both shrink at no cost
        return f"the regularized {extra[0]}"
    stuck = [n for n in scaled if n in frozen]
    if stuck:
        return f"the frozen {stuck[0]}"
    return None


def _frozen_nonzero(model) -> set:
    """Names of the parameters training cannot move (``requires_grad`` False) that a rescaling
    would change (nonzero)."""
    return {n for n, p in model.named_parameters() if not p.requires_grad and bool(p.detach().abs().max() > 0)}


def _tensors_with_mean(groups, prior_mean) -> set:
    """Names of the tensors pulled toward a nonzero prior mean (matched and checked as the
    penalty matches them: :func:`lamina.torch.penalty.resolve_prior_mean`)."""
    means = resolve_prior_mean(groups, prior_mean)
    return {n for g, ms in zip(groups, means) for n, m in zip(g.param_names, ms)
            if m is not None and bool(m.abs().max() > 0)}


def _check_probe_options(tol, factor, seed) -> None:
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < 1:
        raise ValueError(f"tol must be a number in (0, 1) (the largest ratio r that counts as a symmetry), got {tol!r}")
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not (0 < factor < float("inf")) \
            or factor == 1:
        raise ValueError(f"factor must be a finite number > 0 other than 1 (the rescaling tested), got {factor!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be a whole number, got {seed!r}")
