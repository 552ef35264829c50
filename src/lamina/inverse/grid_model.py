"""A candidate model of :func:`lamina.inverse.reconstruct` with its λ grid.

A smoothness prior (:mod:`lamina.inverse.smoothing`) runs on :func:`smoothing_grid`, the spectral
prior (:mod:`lamina.inverse.spectral`) on :func:`spectral_grid`; a sparse
frame (:mod:`lamina.inverse.dictionaries`, :mod:`lamina.inverse.fk`) on λ = t · d with t on a
decreasing grid from 0.3 t_max and d the Laplace-prior direction of :func:`group_direction`
(from a pilot cubic smoothing spline of the training samples), solved along the grid by the
warm-started FISTA path of :func:`l1_path`.
"""
from __future__ import annotations

import hashlib

import numpy as np

from lamina.inverse.frame_l1 import group_direction, l1_path
from lamina.inverse.smoothing import SmoothnessPrior, smoothing_grid
from lamina.inverse.spectral import SpectralPrior, spectral_grid


PILOT_LAM = 1e-7   # the pilot of a frame's λ direction: the cubic smoothing spline at this λ


class PilotCache:
    """The pilot estimate of each set of training samples, solved once for all the frames that ask
    for it (every frame of a call sees the same folds; on a 512² image each pilot is a sparse LU)."""

    def __init__(self):
        self._pilots = {}

    def __call__(self, mask, values) -> np.ndarray:
        mask, values = np.asarray(mask, bool), np.asarray(values, float)
        key = (mask.shape, hashlib.sha1(mask.tobytes() + values.tobytes()).digest())
        if key not in self._pilots:
            self._pilots[key] = SmoothnessPrior(mask.shape, 2).solve(mask, values, [PILOT_LAM])[0]
        return self._pilots[key]


class GridModel:
    """A candidate with its λ grid: ``estimates(train_mask, values, share)`` along the grid.
    ``pilots``: a :class:`PilotCache` shared by the models of one call (None: a cache of its own)."""

    def __init__(self, model, values, mask, n_lams, per_group, lam, max_iter, warm_refit: bool = False,
                 pilots: PilotCache | None = None):
        self.model, self.per_group, self.max_iter, self.warm_refit = model, per_group, max_iter, warm_refit
        # the Gaussian (L2) priors, solved along their grid by ``model.solve``; the rest are sparse frames
        self.is_smooth = isinstance(model, (SmoothnessPrior, SpectralPrior))
        self.pilots = pilots if pilots is not None else PilotCache()
        self.fixed = None
        if lam is not None:
            lam = np.atleast_1d(np.asarray(lam, dtype=float))
            n_groups = 1 if self.is_smooth else model.n_groups
            if lam.size not in (1, n_groups) or np.any(lam < 0) or not np.all(np.isfinite(lam)):
                raise ValueError(f"lam must be one value >= 0 or {n_groups} (one per group of {model.name})")
            self.fixed = np.broadcast_to(lam, (n_groups,)).copy()
        # the λ direction on all observed samples (``mask``): what lams and refit use
        self.direction = None if self.is_smooth else self._direction(mask, values)
        if self.fixed is not None:
            self.grid = np.array([1.0])
        elif isinstance(model, SpectralPrior):
            self.grid = spectral_grid(n_lams)
        elif self.is_smooth:
            self.grid = smoothing_grid(n_lams)
        else:
            d = self.direction
            t_max = float(np.max(np.abs(model.analysis(np.where(mask, values, 0.0))) / d[model.labels]))
            self.grid = t_max * np.geomspace(0.3, 1e-5, max(n_lams * 2 // 3, 2))

    def _direction(self, mask, values):
        if self.fixed is not None:
            return self.fixed
        if not self.per_group:
            return np.ones(self.model.n_groups)
        return group_direction(self.model, self.pilots(mask, values))

    def lams(self, index):
        """λ per group at grid point ``index`` (on all observed samples)."""
        if self.is_smooth:
            return self.fixed if self.fixed is not None else np.array([self.grid[index]])
        return self.grid[index] * self.direction

    def estimates(self, mask, values, share: float = 1.0) -> list:
        if self.is_smooth:
            return self.model.solve(mask, values, self.grid if self.fixed is None else self.fixed)
        d = self._direction(mask, values)
        thresholds = [t * share * d[self.model.labels] for t in self.grid]
        if self.fixed is not None:
            thresholds = [share * self.fixed[self.model.labels]]
        return l1_path(self.model, mask, values, thresholds, max_iter=self.max_iter)

    def refit(self, index, mask, values) -> np.ndarray:
        """The estimate at grid point ``index`` on all observed samples (``mask``, ``values``: the
        ones the model was built on); a sparse model by FISTA
        with 4× the iterations of a CV point, from zero at the chosen λ or, with ``warm_refit``
        (masks missing whole lines), along its grid down to ``index`` warm-started as in
        :meth:`estimates`. From zero at a small λ the missing traces of a gather stay near zero
        (f-k frame, linear-event gather, 70 % of the traces kept: 0.0 dB cold, 27.3 dB warm). On
        masks of scattered samples the two disagree both ways (the ℓ1 synthesis minimizer need
        not be unique on the unobserved samples, and FISTA stops at a relative step of 10⁻⁴):
        the warm path cost the default 0.03 dB on the benchmark's seismograms and 2.4 dB on one
        validation trace, so the cold start stays there (benchmarks/RESULTS.md, issue 18)."""
        if self.is_smooth:
            return self.model.solve(mask, values, self.lams(index))[0]
        labels = self.model.labels
        if self.fixed is not None or not self.warm_refit:
            return l1_path(self.model, mask, values, [self.lams(index)[labels]],
                           max_iter=4 * self.max_iter)[0]
        thresholds = [t * self.direction[labels] for t in self.grid[:index + 1]]
        budgets = [self.max_iter] * (len(thresholds) - 1) + [4 * self.max_iter]
        return l1_path(self.model, mask, values, thresholds, max_iter=budgets)[-1]

    def refit_mixture(self, weights: dict, mask, values) -> np.ndarray:
        """Σ_k w_k · :meth:`refit` (k) over ``weights`` ({grid index k: w_k}): a Gaussian prior
        solves its grid points in one call (the spectral prior then estimates its spectrum once,
        not once per point), a sparse frame refits each."""
        indices = list(weights)
        if self.is_smooth:
            estimates = self.model.solve(mask, values, np.concatenate([self.lams(k) for k in indices]))
        else:
            estimates = [self.refit(k, mask, values) for k in indices]
        return sum(weights[k] * x for k, x in zip(indices, estimates))


def weights_by_model(mixture: dict) -> dict:
    """{(model, grid point): weight} → {model: {grid point: weight}}, the form
    :meth:`GridModel.refit_mixture` takes."""
    grouped: dict = {}
    for (model, point), weight in mixture.items():
        grouped.setdefault(model, {})[point] = weight
    return grouped


def mixture_estimate(models, mixture, full_mask, full_values) -> np.ndarray:
    """Σ w x_m(k): for every (model m, grid index k) of ``mixture`` ({(m, k): w}), ``models[m]``
    refitted on all observed samples at its grid point k (:meth:`GridModel.refit_mixture`: a
    model's grid points in one call)."""
    estimate = np.zeros(full_mask.shape)
    for i, weights in weights_by_model(mixture).items():
        estimate += models[i].refit_mixture(weights, full_mask, full_values)
    return estimate
