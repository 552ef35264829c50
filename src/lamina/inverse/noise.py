"""Noise level σ of b = A x + e, e ~ N(0, σ² I), estimated from the data.

:func:`estimate_sigma` (what the rules use when σ is not given) takes the smaller of two
estimates, each of which errs mainly upwards (besides its sampling noise):

* the residual of a cross-validated fit, σ̂² = ‖b − A x̂_cv‖² / (m − df̂) — too large when the
  fit misses part of the signal (E‖b − Ax̂‖² = E‖A(x̂ − x)‖² + (m − 2 df) σ²; a least-squares
  fit on df columns has risk df σ², a shrinkage fit can have less, so σ̂ can also err a little
  low: soft thresholding pure noise at 2σ has risk 0.0115 σ² per coordinate for df 0.0455);
* the median absolute deviation of the finest wavelet scale of b, :func:`estimate_noise`
  (Donoho & Johnstone 1994) — too large only when b is not smooth at the sampling scale (on
  random Gaussian measurements 10–19× too large): by Anderson's inequality, adding a signal to
  symmetric unimodal noise can only make each |coefficient| stochastically larger.

The residual alone holds on smooth and non-smooth b (deconvolution traces, compressed
sensing); the wavelet MAD rescues overcomplete transforms (f-k interpolation) where the
cross-validated fit spends every degree of freedom on noise. Where both are accurate, the
smaller of two noisy estimates is biased low by their sampling noise: −2 % on a smooth
deconvolution with m = 256 (σ̂/σ 0.976 ± 0.007 over 60 draws against 0.997 and 1.019 for the
two alone; benchmarks/RESULTS.md, "Inverse problems' λ grids: a review").
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lamina._validation import check_finite_array, check_positive_int
from lamina._warnings import warn
from lamina.inverse.dof import column_classes, ridge_dof_with_free_columns, support_dof
from lamina.inverse.candidates import is_l2, prepare
from lamina.inverse.tunable import KFoldCV
from lamina.penalties import L1, Penalty

# median |N(0, 1)| = Φ⁻¹(3/4)
_MAD_TO_SIGMA = 0.6744897501960817
#: The residual must keep at least this many degrees of freedom, m − df, for σ̂ to be trusted
#: (relative standard error 1/√(2(m − df)) ≈ 16 %), and at least m/4 to be read at all.
MIN_RESIDUAL_DOF = 20


class NoiseEstimateWarning(UserWarning):
    """σ estimated from the data is unreliable; the message says why. Pass ``sigma=`` if known."""


@dataclass
class NoiseEstimate:
    """σ̂ estimated from the data, and what it was computed from.

    Attributes
    ----------
    sigma : float
        The estimate.
    method : {"cv residual", "wavelet MAD"}
        Which of the two estimates was the smaller (see the module docstring).
    n_rows : int
        m, the number of measurements.
    residual, dof : float
        ‖b − A x̂‖ and df̂ of the cross-validated fit (NaN when there was none); df̂ is the number
        of nonzeros for L1, tr A(AᵀA + C)⁻¹Aᵀ for L2.
    penalty : str or None
        The penalty of that fit (L1 stands in for L0, see :func:`residual_penalties`).
    index : int
        Position of its λ on the decreasing grid (0 = the largest, x ≈ 0).
    candidates : dict
        Both estimates: {"cv residual": σ̂ or None, "wavelet MAD": σ̂}.
    problems : list of str
        Why the estimate is unreliable; empty when it is not.
    """

    sigma: float
    method: str
    n_rows: int
    residual: float = float("nan")
    dof: float = float("nan")
    penalty: str | None = None
    index: int = -1
    candidates: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)

    @property
    def reliable(self) -> bool:
        return not self.problems

    @property
    def source(self) -> str:
        """One line for reports: how σ̂ was obtained."""
        if self.method == "wavelet MAD":
            return "estimated (wavelet MAD of b: median |finest-scale coefficient| / 0.6745)"
        return (f"estimated (residual of a cross-validated {self.penalty} fit: "
                f"σ̂² = ‖b − Ax̂‖²/(m − df), m = {self.n_rows}, df = {self.dof:.1f})")


def residual_penalties(penalty: Penalty) -> list:
    """Penalties of the σ-estimating fits, in order of preference: the problem's own — except
    L1 (same factors) for L0, whose df by support size ignores the search over supports and
    would make σ̂ too small — then, for L2, L1 as a fallback (a ridge fit of a sparse x on an
    underdetermined A takes nearly every degree of freedom and leaves no residual to read)."""
    if not penalty.convex:
        return [penalty.convex_surrogate()]
    return [penalty, L1(weights=penalty.weights)] if is_l2(penalty) else [penalty]


def sigma_from_residual(residual: float, dof: float, n_rows: int, *, penalty: str = "l1",
                        index: int = 1) -> NoiseEstimate:
    """σ̂² = ‖r‖² / (m − df), with the checks that make it trustworthy.

    Parameters
    ----------
    residual : float
        ‖b − A x̂‖ of a fit x̂ with ``dof`` degrees of freedom.
    dof : float
    n_rows : int
        m.
    penalty : str
        Recorded in the answer.
    index : int
        Position of the fit's λ on a decreasing grid; 0 (the largest λ, x̂ ≈ 0) means the fit
        found no signal, so σ̂ measures ‖b‖ itself, an upper bound.

    Returns
    -------
    NoiseEstimate
        ``problems`` lists what makes it unreliable (fewer than :data:`MIN_RESIDUAL_DOF`
        residual degrees of freedom; no signal found).

    Notes
    -----
    E‖b − A x̂‖² ≈ (m − df) σ² for a fit with df degrees of freedom that has captured the
    signal (exact for least squares; for the lasso with df = rank of the active columns,
    :func:`lamina.inverse.dof.support_dof`, see Reid, Tibshirani & Friedman 2016, who recommend
    λ by cross-validation). The relative standard error of σ̂ is about 1/√(2(m − df)). df ≥ m
    leaves no residual to measure σ with: a ValueError.

    Examples
    --------
    >>> round(sigma_from_residual(3.0, dof=10, n_rows=910).sigma, 3)
    0.1
    """
    room = n_rows - dof
    if room < 1 or residual <= 0:
        raise ValueError(f"sigma cannot be estimated from the data: the cross-validated fit uses df = {dof:.1f} "
                         f"of the m = {n_rows} measurements and leaves residual {residual:.3g}; pass sigma=")
    problems = []
    if room < MIN_RESIDUAL_DOF:
        problems.append(f"the fit uses df = {dof:.1f} of m = {n_rows} measurements, leaving too few "
                        f"(m − df = {room:.1f} < {MIN_RESIDUAL_DOF}) to measure the noise")
    if index == 0:
        problems.append("the fit at the largest λ (x ≈ 0) was the one to read: no signal was found, "
                        "so σ̂ measures ‖b‖ itself")
    sigma = float(residual / np.sqrt(room))
    return NoiseEstimate(sigma=sigma, method="cv residual", n_rows=int(n_rows), residual=float(residual),
                         dof=float(dof), penalty=penalty, index=int(index), problems=problems)


def warn_unreliable(estimate: NoiseEstimate) -> None:
    """A :class:`NoiseEstimateWarning` that names why ``estimate`` is unreliable."""
    warn(f"unreliable noise estimate σ̂ = {estimate.sigma:.3g} ({estimate.method}): "
         + "; ".join(estimate.problems) + ". Pass sigma= if it is known.",
         NoiseEstimateWarning)


def estimate_sigma(A, b, penalty="l1", groups=None, *, direction=None, n_folds: int = 5, seed: int = 0,
                   n_lams: int = 20, tol: float = 1e-6, solver=None, warn: bool = True) -> NoiseEstimate:
    """σ̂ = min(residual of a K-fold cross-validated fit, wavelet MAD of b).

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix, LinearOperator or PyLops operator, shape (m, n)
    b : ndarray, shape (m,)
    penalty : {"l1", "l0", "l2"} or Penalty
        The problem's penalty; the fit uses it (L1 in place of L0, and L1 again when the L2 fit
        is unreliable; see :func:`residual_penalties`).
    groups, direction
        As in :func:`lamina.inverse.fit` (the fit runs along λ = t·direction).
    n_folds, seed, n_lams, tol, solver
        The cross-validation (:class:`~lamina.inverse.rules.KFoldCV`) and its grid.
    warn : bool
        Warn (:class:`NoiseEstimateWarning`) when the estimate is unreliable.

    Returns
    -------
    NoiseEstimate
        ``.sigma`` and what it was computed from.

    Notes
    -----
    Cross-validation picks the λ that predicts held-out measurements best, so x̂_cv captures
    the signal without fitting much of the noise; what is left in b − A x̂_cv is noise spread
    over the m − df̂ directions the fit did not use: σ̂² = ‖b − A x̂_cv‖²/(m − df̂)
    (:func:`sigma_from_residual`). When the CV choice keeps fewer than m/4 residual degrees of
    freedom, σ̂ is read at the smallest λ of the path that keeps m/4 (more bias: an upper
    bound, flagged). The residual estimates and the wavelet MAD of b only err upwards (module
    docstring); the smallest is returned, taken over the reliable residual estimates and the
    MAD when one is reliable. When none is (too few residual degrees of freedom, no signal
    found, CV choice moved, or no residual left at all), the answer is warned: the MAD, valid
    only for b smooth at the sampling scale, cannot be confirmed. It costs K + 1 paths of
    ``n_lams`` points per fit (two fits for L2) and one wavelet transform.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((200, 300))
    >>> x = np.zeros(300); x[:10] = 2.0
    >>> b = A @ x + 0.3 * rng.standard_normal(200)
    >>> round(estimate_sigma(A, b).sigma, 2)
    0.31
    """
    A, b, penalty, groups, direction = prepare(A, b, penalty, groups, direction)
    n_folds = min(n_folds, A.shape[0])
    if n_folds < 2:
        raise ValueError(f"sigma cannot be estimated from {A.shape[0]} measurement(s); pass sigma=")
    estimates, reasons = [], []
    for fit_penalty in residual_penalties(penalty):
        try:
            estimates.append(cv_residual_estimate(A, b, fit_penalty, groups, direction, n_folds=n_folds, seed=seed,
                                                  n_lams=n_lams, tol=tol,
                                                  solver=solver if fit_penalty is penalty else None))
        except ValueError as error:  # the fit took (nearly) every degree of freedom
            reasons.append(str(error).split(": ", 1)[-1].split("; pass")[0])
    result = smallest_estimate(estimates, estimate_noise(b), A.shape[0], reasons)
    if result.problems and warn:
        warn_unreliable(result)
    return result


def smallest_estimate(estimates: list, mad: float, n_rows: int, reasons=()) -> NoiseEstimate:
    """The smallest of the residual estimates and the wavelet MAD (all err upwards only), over
    the reliable residual estimates and the MAD when there is a reliable one, over all of them
    (with their problems) when there is none."""
    reliable = [e for e in estimates if e.reliable]
    pool = reliable or estimates
    candidates = {"cv residual": min((e.sigma for e in pool), default=None), "wavelet MAD": mad}
    best = min(pool, key=lambda e: e.sigma, default=None)
    if best is not None and best.sigma <= mad:
        best.candidates = candidates
        return best
    problems = []
    if not reliable:
        why = "; ".join([p for e in estimates for p in e.problems] + list(reasons))
        problems.append(f"the wavelet MAD of b is valid only for b smooth at the sampling scale, and the "
                        f"residual of a cross-validated fit cannot confirm it ({why})")
    return NoiseEstimate(sigma=mad, method="wavelet MAD", n_rows=n_rows, candidates=candidates, problems=problems)


def cv_residual_estimate(A, b, penalty: Penalty, groups, direction, *, n_folds: int = 5, seed: int = 0,
                         n_lams: int = 20, tol: float = 1e-6, solver=None) -> NoiseEstimate:
    """σ̂ of one K-fold cross-validated fit with ``penalty`` (validated arguments, no warning):
    at the CV choice, or at the smallest λ before it that keeps m/4 residual degrees of freedom."""
    cv = KFoldCV(n_folds=n_folds, seed=seed).tune(A, b, penalty, groups=groups, direction=direction,
                                                  n_lams=n_lams, tol=tol, solver=solver)
    path, m = cv.info["candidates"], A.shape[0]
    chosen = cv.curve["index"]
    if is_l2(penalty):
        per_coef = groups.expand(direction) * penalty.factors(groups.n_features)
        dof = ridge_dof_with_free_columns(A, path.multipliers[:chosen + 1], per_coef)
    else:
        dof = support_dof(path.coefs[:chosen + 1], column_classes(A), m)
    roomy = np.flatnonzero(m - dof >= max(1.0, m / 4))
    index = int(roomy[-1]) if roomy.size else chosen
    estimate = sigma_from_residual(float(path.residual_norms[index]), float(dof[index]), m,
                                   penalty=penalty.name, index=index)
    if index != chosen:
        estimate.problems.append(f"the cross-validated fit kept only m − df = {m - dof[chosen]:.0f} residual "
                                 f"degrees of freedom; σ̂ read at a larger λ is an upper bound")
    return estimate


def estimate_noise(b, wavelet: str = "sym8", trace_length: int | None = None) -> float:
    """σ̂ = median(|d₁|) / 0.6745, d₁ the finest-scale wavelet coefficients of ``b``.

    Parameters
    ----------
    b : ndarray, shape (m,)
        Data; white Gaussian noise on a signal that is smooth at the sampling scale (seismic
        traces, images row by row).
    wavelet : str
        PyWavelets orthogonal wavelet name; the default's long filter (16 taps) separates
        noise from band-limited signal better than short ones (on a 20 Hz Ricker trace at
        4 ms: 2 % error against 19 % with db4).
    trace_length : int, optional
        When ``b`` stacks several traces, their common length (≥ 2, dividing len(b)): the
        wavelet transform runs along each trace so that jumps between traces do not count as noise.

    Notes
    -----
    Donoho & Johnstone (1994): for an orthogonal wavelet the finest detail coefficients of
    white noise are N(0, σ²) and those of a smooth signal are nearly zero, and the median is
    insensitive to the few that are not. Data that are not smooth at the sampling scale (e.g.
    random Gaussian measurements of compressed sensing) make σ̂ an over-estimate, many times
    the true σ: use :func:`estimate_sigma` there (the rules do).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.linspace(0, 1, 4096)
    >>> b = np.sin(6 * np.pi * t) + 0.1 * rng.standard_normal(t.size)
    >>> round(estimate_noise(b), 2)
    0.1
    """
    import pywt

    b = check_finite_array(b, "b", ndim=1)
    if b.shape[0] < 2:
        raise ValueError(f"b must hold at least 2 samples to estimate the noise from, got {b.shape[0]}")
    if trace_length is not None:
        trace_length = check_positive_int(trace_length, "trace_length", minimum=2)
        if b.shape[0] % trace_length:
            raise ValueError(f"trace_length {trace_length} does not divide len(b) = {b.shape[0]}")
    rows = b.reshape(-1, trace_length) if trace_length else b[None, :]
    details = np.concatenate([pywt.dwt(row, wavelet, mode="periodization")[1] for row in rows])
    return float(np.median(np.abs(details)) / _MAD_TO_SIGMA)
