"""Online empirical Bayes: MacKay's evidence fixed point per group, during one training run.

With the network objective N·(mean task loss) + ½ Σ_g δ_g ‖W_g‖² (negative log posterior up
to constants), the Laplace approximation of the evidence is stationary in δ_g when

    δ_g = γ_g / ‖w_g‖²,    γ_g = Σ_i h_i / (h_i + δ_g),

h_i the eigenvalues of the group's block of the generalized Gauss–Newton matrix
H = Σ_n J_nᵀ Λ_n J_n (sum over the N training samples; Λ the output Hessian of the NLL).
γ_g counts the group's well-determined parameters (MacKay 1992). For a Gaussian likelihood
the noise precision follows β = (N·D − Σ_g γ_g − P_free) / Σ_n ‖y_n − f_n‖², P_free the number of
trainable parameters without a prior (biases, normalization scales: each fully determined, γ = 1).

Curvature comes almost for free: on every ``curvature_every``-th step the sampled output
gradient v (E[v vᵀ] = Λ, see :mod:`lamina.torch.likelihoods`) is back-propagated through the
graph of the forward pass the training step has built anyway — one backward pass without
weight gradients, no Jacobians of the full output. For ``nn.Linear`` weights, forward hooks
give each sample's layer input a_n and back-propagated g_n, hence

* ``kfac``: H_g ≈ N · E[a aᵀ] ⊗ E[g gᵀ], eigenvalues N·α_i·β_j from two small eigh;
* ``diag``: h = N · E[(g²)(a²)ᵀ];

any other group (convolution, embedding, recurrent, normalization …) uses the diagonal from
the batch gradient of the sampled loss, (Σ_n g_n)², whose cross terms vanish in expectation
because E[v] = 0. All estimates are exponential moving averages on the device; δ_g is updated
every ``update_every`` epochs after ``burn_in`` epochs (a few eigendecompositions).

Scale-invariant groups (weights followed by normalization)
----------------------------------------------------------
If the training-mode output satisfies f(c·W_g) = f(W_g) for every c > 0 — a convolution or
linear weight followed by BatchNorm, LayerNorm or GroupNorm, the direction v of weight
normalization — the likelihood depends on W_g only through W_g / ‖W_g‖, and

* the exact evidence does not depend on δ_g at all: under the isotropic prior N(0, δ_g⁻¹ I)
  the direction W_g/‖W_g‖ is uniform on the sphere whatever δ_g, so
  p(D | δ) = ∫ p(D | W) N(W; 0, δ⁻¹I) dW is flat in δ_g — δ_g is not identifiable;
* the MAP does not exist: the penalty shrinks ‖W_g‖ towards 0 at no cost in fit, and the
  curvature scales as h_i ∝ 1/‖W_g‖² (the radial direction has h = 0). The Laplace fixed
  point only fixes κ_g = δ_g‖W_g‖² (κ = Σ c_i/(c_i + κ) with h_i = c_i/‖W_g‖²), so
  δ_g = γ_g/‖W_g‖² chases ‖W_g‖ as the decay shrinks it: a larger δ_g shrinks W_g, which
  raises δ_g again. In practice δ_g runs away (10⁴–10⁵ on a BatchNorm CNN) and the effective
  learning rate η/‖W_g‖² with it, and the fit is ruined.

So these groups are detected numerically once, on the first training batch (see
:mod:`lamina.torch.invariance`: outputs unchanged, relative to a random perturbation of the
same size, when the group is scaled by 2), and their δ_g is *held* at its initial (rule)
value: empirical Bayes has nothing to say about it, and there it only sets the effective
step size of the direction. The names, ratios and reason appear in :func:`lamina.torch.tune.evidence_info`
(``"scale_invariant"``, ``"scale_invariance_ratio"``, ``"scale_invariant_reason"``).
Their γ_g (computed at the held δ_g) still counts in the noise update.

The curvature (:class:`~lamina.torch.curvature.GGNCurvature`, γ of a spectrum) lives in
:mod:`lamina.torch.curvature`; the MacKay step, its projection on identified directions, the
damping and the noise step are :mod:`lamina.tuners.evidence`'s (written once for every
family; numpy on the host — G numbers per step); this module holds the online loop that
feeds them.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lamina.torch.curvature import _EMA, GGNCurvature, laplace_log_evidence
from lamina.torch.invariance import scale_invariance_ratios
from lamina.torch.likelihoods import Gaussian
from lamina.torch.penalty import Mode, Penalty, Regularizer
from lamina.tuners.evidence import clip_factor, mackay_precision, noise_precision, project_log_step


def _host(tensor: torch.Tensor) -> np.ndarray:
    """A tensor as a float64 numpy array on the host (the evidence step is numpy)."""
    return tensor.detach().double().cpu().numpy()


class OnlineEvidence:
    """MacKay's evidence updates of δ_g (and β) inside any training loop.

    Use in a loop of your own::

        evidence = OnlineEvidence(model, reg, likelihood)
        for epoch in range(epochs):
            for x, y in batches:
                out = model(x)
                loss = likelihood.loss(out, y) + reg.penalty()
                evidence.on_forward(out, y)          # before backward: curvature, residuals
                opt.zero_grad(); loss.backward(); opt.step()
            evidence.on_epoch_end(epoch, opt)        # δ_g ← γ_g / ‖w_g‖² when due

    Parameters
    ----------
    model : nn.Module
    regularizer : Regularizer
        Its δ tensor is updated in place (L2 penalty, coupled or decoupled).
    likelihood : Classification or Gaussian
    structure : {"kfac", "diag"}
    curvature_every : int
        Accumulate curvature on every k-th step (bounded overhead: one extra backward pass
        without weight gradients every k steps).
    update_every, burn_in : int
        Update δ every ``update_every`` epochs, starting after ``burn_in`` epochs.
    decay : float
        Factor of the exponential moving averages (curvature, residuals) per curvature step: they
        average over about 1/(1 − decay) steps (``lamina.torch.tune`` sets it to the steps between
        two updates, so that the curvature is that of the weights since the last update, as
        laplace-torch's fresh fit at each update).
    inner_iterations : int
        Fixed-point iterations of δ ← γ(δ)/‖w‖² at the current weights per update.
    max_factor : float
        Largest change of δ_g (and β) per update, as a factor (damping).
    update_noise : bool
        For a Gaussian likelihood, also update the noise precision β.
    scale_invariant : "auto", sequence of group names, or None
        Groups whose δ is held at its initial value because the evidence does not depend on
        it (see the module doc). ``"auto"`` (default) detects them on the first training
        batch seen by ``on_forward`` (train mode, grad enabled); a sequence names them;
        ``None`` or ``()`` updates every group (the plain fixed point, which runs away on
        scale-invariant groups).
    invariance_tol : float
        Flag a group when scaling it by 2 moves the output less than ``invariance_tol`` times
        a random perturbation of the same size does.
    keep_best : bool
        After every update record the Laplace log evidence at the new δ
        (:func:`~lamina.torch.curvature.laplace_log_evidence`, the data fit summed over the epoch's minibatches) and keep
        a copy of the weights, δ and β while it is the highest seen; :meth:`restore_best` loads
        them (``lamina.torch.tune`` does at the end). This is the model selection of laplace-torch's
        ``marglik_training`` (Immer et al. 2021, Algorithm 1): late in training the fit of a
        small network wanders (digits MLP, test NLL 0.18–0.26 between epochs 200 and 300 at
        nearly the same δ), and the evidence ranks those weights. ``False``: the last weights.
    final_epoch : int, optional
        The last epoch (0-based; ``tune`` passes it): with ``keep_best`` the final weights' evidence at
        their δ is recorded there too, so that the epochs after the last update are not dropped.
    count_free : bool
        Count every trainable flat-prior parameter (biases, norm scales) as one degree of freedom
        in the noise, β = (N·D − Σγ − P_free)/RSS, and −½ P_free log β in the recorded evidence:
        exact for a linear model with centred inputs. Off by default: a hidden layer's inputs
        are never centred, so a bias's direction lies largely in the span of its weights', whose
        γ count it already; counted twice, β came out far too small (ReLU MLPs with learned noise,
        test NLL: diabetes 1.067 → 1.103, Friedman #1 0.254 → 0.439; benchmarks/RESULTS.md).
    directions : array (k, n_groups), optional
        An orthonormal basis D of the directions of log δ the data identify (e.g.
        :func:`lamina.torch.identifiability`'s ``identified``). Each fixed-point step in log δ,
        u_g = log(γ_g / ‖w_g‖²) − log δ_g, is projected on them, δ ← δ ⊙ exp(DᵀD u): along a
        rescaling symmetry (a ReLU chain) the evidence is flat up to its Laplace approximation,
        and the unprojected fixed point drifts along it (digits MLP: first-layer δ ≈ 3,000,
        the others ≈ 0.5); projected, the split between the groups stays the rule's.
    """

    REASON = ("training-mode output unchanged when the group is scaled by 2 (weight followed by a "
              "normalization layer): the evidence does not depend on its δ and δ = γ/‖w‖² runs away "
              "as the decay shrinks ‖w‖, so δ is held at its initial value")

    def __init__(self, model: nn.Module, regularizer: Regularizer, likelihood, *, structure="kfac",
                 curvature_every: int = 1, update_every: int = 5, burn_in: int = 10,
                 inner_iterations: int = 5, max_factor: float = 10.0, decay: float = 0.95,
                 update_noise: bool = True, generator: torch.Generator | None = None,
                 scale_invariant="auto", invariance_tol: float = 1e-2, directions=None,
                 keep_best: bool = False, count_free: bool = False, final_epoch: int | None = None):
        if regularizer.penalty_kind is not Penalty.L2:
            raise ValueError("the evidence tuner needs an L2 regularizer (penalty='l2')")
        for name, value in (("curvature_every", curvature_every), ("update_every", update_every)):
            if int(value) < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.regularizer = regularizer
        self.likelihood = likelihood
        self.projector = None
        if directions is not None:
            basis = torch.as_tensor(np.asarray(directions, dtype=np.float64), device=regularizer.delta.device)
            if basis.ndim != 2 or basis.shape[1] != len(regularizer.names):
                raise ValueError(f"directions must be a (k, {len(regularizer.names)}) basis over the regularized "
                                 f"groups, got shape {tuple(basis.shape)}")
            self.projector = (basis.T @ basis).cpu().numpy()
        self.curvature = GGNCurvature(model, regularizer.reg_groups, structure, decay)
        # flat-prior (unregularized) trainable parameters counted in the noise's degrees of freedom
        self.n_free = sum(p.numel() for p in regularizer.free_params if p.requires_grad) if count_free else 0
        self.keep_best = bool(keep_best)
        self.final_epoch = None if final_epoch is None else int(final_epoch)
        self.log_evidence: list[tuple[int, float]] = []  # (epoch, log p(D | δ)) after each update
        self.best: dict | None = None
        self._fit_sum = None  # Σ over the epoch's samples of the NLL (classification) or of ‖y − f‖²
        self._fit_count = 0
        self._epoch = -1
        self.curvature_every, self.update_every, self.burn_in = int(curvature_every), int(update_every), int(burn_in)
        self.inner_iterations, self.max_factor = int(inner_iterations), float(max_factor)
        self.update_noise = update_noise and isinstance(likelihood, Gaussian)
        self.generator = generator
        self._step = 0
        self._outputs = 1
        self._residual = _EMA(decay)
        self.gamma: torch.Tensor | None = None
        self.n_updates = 0
        self.model = model
        self.invariance_tol = float(invariance_tol)
        self.invariance_ratios: dict[str, float] = {}
        self._input = None
        self._capture_handle = None
        if isinstance(scale_invariant, str):
            if scale_invariant != "auto":
                raise ValueError(f"scale_invariant must be 'auto', a sequence of group names or None; "
                                 f"got {scale_invariant!r}")
            self.scale_invariant: list[str] | None = None  # decided on the first training batch
            self._capture_handle = model.register_forward_pre_hook(self._capture, with_kwargs=True)
        else:
            names = list(scale_invariant or ())
            unknown = set(names) - set(regularizer.names)
            if unknown:
                raise ValueError(f"scale_invariant names unknown group(s) {sorted(unknown)}; "
                                 f"groups are {regularizer.names}")
            self.scale_invariant = names

    def _capture(self, module, args, kwargs):
        if self._input is None and module.training and torch.is_grad_enabled():
            detach = lambda x: x.detach() if isinstance(x, torch.Tensor) else x  # noqa: E731
            self._input = (tuple(detach(a) for a in args), {k: detach(v) for k, v in kwargs.items()})

    def _detect(self) -> None:
        """Flag the scale-invariant groups on the captured first training batch (once)."""
        self._capture_handle.remove()
        self._capture_handle = None
        args, kwargs = self._input
        self._input = None
        groups = self.regularizer.reg_groups
        self.invariance_ratios = scale_invariance_ratios(self.model, groups, args, kwargs)
        self.scale_invariant = [g.name for g in groups if self.invariance_ratios[g.name] < self.invariance_tol]

    def on_forward(self, output: torch.Tensor, target: torch.Tensor) -> None:
        """Call after the forward pass and before ``backward`` (the graph must be alive)."""
        self._on_forward(output, target)
        if self.scale_invariant is None and self._input is not None:
            self._detect()  # after the curvature pass: its extra forwards clear the hooks' captures

    def _on_forward(self, output: torch.Tensor, target: torch.Tensor) -> None:
        residual_sq = self.likelihood.residual_sq(output, target)   # None unless Gaussian
        self._accumulate_fit(output, target, residual_sq)
        self._outputs = output[0].numel()   # outputs per sample (a sequence's positions too): the NLL's
        if self.update_noise:               # normalizer needs them at a fixed β as well
            self._residual.update(residual_sq / output.shape[0])
        if self._step % self.curvature_every == 0 and output.requires_grad:
            v = self.likelihood.sample_output_grad(output, self.generator)
            if isinstance(self.likelihood, Gaussian):  # the GGN at unit noise precision; × β at use
                v = v / self.likelihood.precision.sqrt().to(v.dtype)
            self.curvature.accumulate(output, v)
        else:
            self.curvature._clear()
        self._step += 1

    def due(self, epoch: int) -> bool:
        return epoch + 1 >= self.burn_in and (epoch + 1 - self.burn_in) % self.update_every == 0

    @torch.no_grad()
    def update(self, optimizer=None) -> torch.Tensor:
        """One evidence update at the current weights; returns γ per group (device tensor)."""
        reg = self.regularizer
        n_data = reg.n_data
        device = reg.delta.device
        norms = _host(reg.sq_distances())
        old = np.maximum(_host(reg.delta), 1e-12)
        delta = old.copy()
        unit = self.curvature.spectra(n_data)
        spectra = self._at_precision(unit)
        for _ in range(self.inner_iterations):
            gamma = _host(self.curvature.gammas(torch.as_tensor(delta, device=device), n_data, spectra))
            # δ ← max(γ / max(‖w − μ‖², 1e-12), 1e-8), along the identified directions only if given
            target = mackay_precision(gamma, norms, norm_floor=1e-12, floor=1e-8)
            delta = project_log_step(delta, target, self.projector)
        delta = clip_factor(delta, old, self.max_factor)
        held = self._held_mask()
        # a group frozen since the regularizer was built is not inferred: with no curvature
        # (h = 0) the fixed point γ/‖w‖² = 0 sent its δ down by max_factor per update (to the
        # 1e-8 floor; unfrozen later, it was unregularized), so its δ is held too
        keep = np.array([not any(p.requires_grad for p in g.params) for g in reg.reg_groups])
        if held is not None:
            keep |= held.cpu().numpy()
        if keep.any():
            delta = np.where(keep, _host(reg.delta), delta)
        delta = torch.as_tensor(delta, device=device)
        self.gamma = self.curvature.gammas(delta, n_data, spectra).double()
        reg.set_deltas(delta.to(reg.delta.dtype), optimizer if reg.mode is Mode.DECOUPLED else None)
        if self.update_noise and self._residual.get() is not None:
            self._update_noise(self.gamma)
        self.n_updates += 1
        self._record_evidence(self._at_precision(unit), _host(delta), norms, optimizer)
        return self.gamma

    def _at_precision(self, spectra: list[torch.Tensor]) -> list[torch.Tensor]:
        """The GGN of a Gaussian likelihood is β JᵀJ: its curvature is accumulated at β = 1 and
        scaled by the current β here, so that a changed β is seen at once (not through the lag of
        the moving average); other likelihoods as they are."""
        if not isinstance(self.likelihood, Gaussian):
            return spectra
        beta = self.likelihood.precision.detach()
        return [h * beta.to(h.dtype) for h in spectra]

    def _held_mask(self) -> torch.Tensor | None:
        if not self.scale_invariant:
            return None
        held = set(self.scale_invariant)
        return torch.tensor([n in held for n in self.regularizer.names], device=self.regularizer.delta.device)

    def _update_noise(self, gamma: torch.Tensor) -> None:
        lik = self.likelihood
        sse = _host(self._residual.get()) * self.regularizer.n_data
        n_out = self.regularizer.n_data * self._n_outputs()
        beta = noise_precision(n_out, _host(gamma).sum() + self.n_free, sse, min_dof_share=0.1, rss_floor=1e-12)
        beta = clip_factor(beta, _host(lik.precision), self.max_factor)
        lik.log_precision.copy_(torch.as_tensor(np.log(beta)).to(lik.log_precision))

    def _n_outputs(self) -> int:
        return self._outputs

    def on_epoch_end(self, epoch: int, optimizer=None) -> bool:
        """Update δ when ``epoch`` (0-based) is due; returns whether it did. After an update the
        Laplace log evidence at the new δ is recorded, and with ``keep_best`` the weights, δ and
        β are kept while it is the best seen."""
        self._epoch = epoch
        done = False
        if self.due(epoch) and self.curvature.ready():
            self.update(optimizer)
            done = True
        elif self.keep_best and epoch == self.final_epoch and self.log_evidence and self.curvature.ready():
            reg = self.regularizer   # the final weights' evidence at their δ (``final_epoch``)
            self._record_evidence(self._at_precision(self.curvature.spectra(reg.n_data)), _host(reg.delta),
                                  _host(reg.sq_distances()), optimizer)
        self._fit_sum, self._fit_count = None, 0
        return done

    # ------------------------------------------------------------------ log evidence
    @torch.no_grad()
    def _accumulate_fit(self, output: torch.Tensor, target: torch.Tensor, residual_sq) -> None:
        """Sum the epoch's data fit on the device: the NLL (classification) or ‖y − f‖²
        (Gaussian, ``residual_sq`` of the batch: the NLL is formed at the updated β)."""
        if isinstance(self.likelihood, Gaussian):
            value = residual_sq
        else:
            value = self.likelihood.nll(output.detach(), target) * output.shape[0]
        self._fit_sum = value if self._fit_sum is None else self._fit_sum + value
        self._fit_count += output.shape[0]

    def _data_nll(self) -> float | None:
        """−log p(D | w) scaled to N samples, from the epoch's minibatches (the weights move
        during the epoch: an estimate at the current weights that costs no extra pass)."""
        if self._fit_sum is None or self._fit_count == 0:
            return None
        n_data = self.regularizer.n_data
        mean = float(self._fit_sum) / self._fit_count
        if isinstance(self.likelihood, Gaussian):
            log_beta = float(self.likelihood.log_precision)
            return n_data * (0.5 * np.exp(log_beta) * mean + 0.5 * self._outputs * (np.log(2 * np.pi) - log_beta))
        return n_data * mean

    def _record_evidence(self, spectra, delta: np.ndarray, norms: np.ndarray, optimizer) -> None:
        nll = self._data_nll()
        if nll is None:
            return
        value = laplace_log_evidence(nll, delta, norms, [_host(h) for h in spectra])
        if isinstance(self.likelihood, Gaussian):
            # the flat-prior parameters' block of the Hessian is β times their GGN: −½ log det holds
            # −½ P_free log β, a term in β (records at different β are compared by keep_best)
            value -= 0.5 * self.n_free * float(self.likelihood.log_precision)
        self.log_evidence.append((self._epoch, value))
        if self.keep_best and (self.best is None or value > self.best["log_evidence"]):
            lik = self.likelihood
            self.best = {"log_evidence": value, "epoch": self._epoch,
                         "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
                         "delta": self.regularizer.delta.detach().clone(),
                         "log_precision": lik.log_precision.detach().clone() if isinstance(lik, Gaussian) else None}

    @torch.no_grad()
    def restore_best(self, optimizer=None) -> bool:
        """Load the weights, δ and β of the update with the highest log evidence (``keep_best``);
        returns whether there was one."""
        if self.best is None:
            return False
        self.model.load_state_dict(self.best["model"])
        reg = self.regularizer
        reg.set_deltas(self.best["delta"], optimizer if reg.mode is Mode.DECOUPLED else None)
        if self.best["log_precision"] is not None:
            self.likelihood.log_precision.copy_(self.best["log_precision"])
        return True

    def remove(self) -> None:
        self.curvature.remove()
        if self._capture_handle is not None:
            self._capture_handle.remove()
            self._capture_handle = None
        self._input = None

