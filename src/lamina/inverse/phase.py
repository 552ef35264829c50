"""Phase transitions of sparse recovery: the Donoho–Tanner curve and empirical diagrams.

For an m×n sensing matrix and a k-sparse x, δ = m/n is the undersampling and ρ = k/m the
sparsity. Basis pursuit on Gaussian matrices recovers x with probability → 1 below the weak
threshold ρ_W(δ) and → 0 above it as n → ∞ (Donoho 2006; Donoho & Tanner 2009).

ρ_W is computed here from its Gaussian-integral form (Donoho, Maleki & Montanari 2009, the
minimax threshold of soft thresholding, shown equal to the cross-polytope weak threshold):

    ρ_W(δ) = max_{z ≥ 0} [1 − (2/δ) g(z)] / [1 + z² − 2 g(z)],
    g(z) = (1 + z²) Φ(−z) − z φ(z),

φ, Φ the standard normal density and distribution function. The tests check it against an
independent form (Stojnic 2009). ρ_W(0.5) = 0.3857.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from lamina._validation import check_positive_float, check_positive_int, parse_choice


def _weak_threshold_one(delta: float) -> float:
    def negative_ratio(z):
        g = (1.0 + z * z) * norm.cdf(-z) - z * norm.pdf(z)
        return -(1.0 - 2.0 / delta * g) / (1.0 + z * z - 2.0 * g)

    best = minimize_scalar(negative_ratio, bounds=(0.0, 12.0), method="bounded", options={"xatol": 1e-12})
    return float(max(-best.fun, 0.0))


def donoho_tanner_weak(delta) -> np.ndarray:
    """Weak threshold ρ_W(δ) of L1 recovery (cross-polytope), for δ in (0, 1].

    Examples
    --------
    >>> round(float(donoho_tanner_weak(0.5)), 4)
    0.3857
    """
    delta = np.asarray(delta, dtype=float)
    if np.any((delta <= 0) | (delta > 1)):
        raise ValueError("delta must lie in (0, 1]")
    flat = np.array([1.0 if d == 1.0 else _weak_threshold_one(float(d)) for d in delta.ravel()])
    return flat.reshape(delta.shape)


class Ensemble(str, Enum):
    """Random sensing matrices of the phase diagram."""

    GAUSSIAN = "gaussian"          # i.i.d. N(0, 1/m)
    BERNOULLI = "bernoulli"        # i.i.d. ±1/√m
    PARTIAL_DCT = "partial_dct"    # m random rows of the orthonormal n-point DCT-II


def sensing_matrix(ensemble, m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """An m×n matrix of the ensemble (explicit; columns of roughly unit norm)."""
    ensemble = parse_choice(Ensemble, ensemble, "ensemble")
    m, n = check_positive_int(m, "m"), check_positive_int(n, "n")
    if ensemble is Ensemble.PARTIAL_DCT and m > n:
        raise ValueError(f"m must be <= n ({n}) for partial_dct (m distinct rows of the DCT), got {m}")
    if ensemble is Ensemble.GAUSSIAN:
        return rng.standard_normal((m, n)) / np.sqrt(m)
    if ensemble is Ensemble.BERNOULLI:
        return rng.choice([-1.0, 1.0], (m, n)) / np.sqrt(m)
    from scipy.fft import dct

    rows = np.sort(rng.choice(n, m, replace=False))
    return dct(np.eye(n), norm="ortho", axis=0)[rows] * np.sqrt(n / m)


def sparse_vector(n: int, k: int, rng: np.random.Generator, amplitudes: str = "normal") -> np.ndarray:
    """k-sparse vector, random support, N(0, 1) amplitudes ("normal") or random signs ("sign")."""
    x = np.zeros(n)
    support = rng.choice(n, k, replace=False)
    if amplitudes == "normal":
        x[support] = rng.standard_normal(k)
    elif amplitudes == "sign":
        x[support] = rng.choice([-1.0, 1.0], k)
    else:
        raise ValueError(f"amplitudes must be 'normal' or 'sign'; got {amplitudes!r}")
    return x


@dataclass
class PhaseDiagram:
    """Empirical success probability over a (δ, ρ) grid.

    Attributes
    ----------
    deltas, rhos : ndarray
        Grid axes (δ = m/n, ρ = k/m).
    success : ndarray, shape (len(deltas), len(rhos))
        Share of trials with ‖x̂ − x‖ ≤ success_tol ‖x‖.
    """

    method: str
    ensemble: str
    n: int
    deltas: np.ndarray
    rhos: np.ndarray
    success: np.ndarray
    n_trials: int
    success_tol: float
    seconds: float
    info: dict = field(default_factory=dict)

    def transition(self) -> np.ndarray:
        """ρ of 50 % success for each δ (see :func:`transition_rho`)."""
        return np.array([transition_rho(self.rhos, row) for row in self.success])

    def summary(self) -> list[dict]:
        theory = donoho_tanner_weak(self.deltas)
        return [{"delta": float(d), "rho_50": float(r), "rho_donoho_tanner": float(t)}
                for d, r, t in zip(self.deltas, self.transition(), theory)]


def transition_rho(rhos, success) -> float:
    """ρ at which the success rate crosses 1/2, by linear interpolation between the last grid
    point at or above 1/2 and the next one (NaN if it never reaches 1/2; the last ρ if it never
    drops below).

    Examples
    --------
    >>> round(transition_rho([0.1, 0.2, 0.3, 0.4], [1.0, 0.9, 0.3, 0.0]), 4)
    0.2667
    """
    rhos, success = np.asarray(rhos, float), np.asarray(success, float)
    above = np.flatnonzero(success >= 0.5)
    if above.size == 0:
        return float("nan")
    last = int(above[-1])
    if last == rhos.size - 1:
        return float(rhos[-1])
    s0, s1 = success[last], success[last + 1]
    return float(rhos[last] + (s0 - 0.5) / (s0 - s1) * (rhos[last + 1] - rhos[last]))


def run_trial(method: str, A: np.ndarray, x: np.ndarray, options: dict | None = None) -> np.ndarray:
    """x̂ from b = Ax with a recovery method of :func:`lamina.inverse.recover.recover`."""
    from lamina.inverse.recover import recover

    options = dict(options or {})
    if method == "omp":
        options.setdefault("sparsity", min(A.shape))
    return recover(A, A @ x, method=method, **options).x


def phase_diagram(method: str = "bp", ensemble: str = "gaussian", n: int = 100, deltas=None, rhos=None,
                  n_trials: int = 10, seed: int = 0, success_tol: float = 1e-3, amplitudes: str = "normal",
                  options: dict | None = None, progress=None) -> PhaseDiagram:
    """Success probability of ``method`` over a (δ, ρ) grid, ``n_trials`` problems per cell.

    Parameters
    ----------
    method : {"bp", "irls", "irl1", "omp"}
        Recovery method (see :mod:`lamina.inverse.recover`).
    ensemble : {"gaussian", "bernoulli", "partial_dct"}
    n : int
        Signal length.
    deltas, rhos : array, optional
        Grid (default δ ∈ {0.1, …, 0.9}, ρ ∈ {0.05, …, 0.95}, coarse).
    n_trials : int
        Problems per cell (new matrix and signal each).
    success_tol : float
        Success: ‖x̂ − x‖ ≤ success_tol ‖x‖.
    progress : callable, optional
        ``progress()`` after each cell (e.g. a tqdm ``update``).

    Notes
    -----
    BLAS runs on one thread here: the matrices are small and threads only contend.

    Examples
    --------
    >>> pd = phase_diagram("bp", n=40, deltas=[0.5], rhos=[0.1, 0.9], n_trials=2)
    >>> pd.success.tolist()
    [[1.0, 0.0]]
    """
    from threadpoolctl import threadpool_limits

    n = check_positive_int(n, "n", minimum=4)
    n_trials = check_positive_int(n_trials, "n_trials")
    check_positive_float(success_tol, "success_tol")
    parse_choice(Ensemble, ensemble, "ensemble")
    deltas = np.linspace(0.1, 0.9, 9) if deltas is None else np.asarray(deltas, float)
    rhos = np.linspace(0.05, 0.95, 19) if rhos is None else np.asarray(rhos, float)
    if np.any((deltas <= 0) | (deltas > 1)) or np.any((rhos <= 0) | (rhos > 1)):
        raise ValueError("deltas and rhos must lie in (0, 1]")
    rng = np.random.default_rng(seed)
    success = np.zeros((deltas.size, rhos.size))
    started = time.perf_counter()
    with threadpool_limits(1):
        for i, delta in enumerate(deltas):
            m = max(1, int(round(delta * n)))
            for j, rho in enumerate(rhos):
                k = max(1, int(round(rho * m)))
                hits = 0
                for _ in range(n_trials):
                    A = sensing_matrix(ensemble, m, n, rng)
                    x = sparse_vector(n, k, rng, amplitudes)
                    x_hat = run_trial(method, A, x, options)
                    hits += np.linalg.norm(x_hat - x) <= success_tol * np.linalg.norm(x)
                success[i, j] = hits / n_trials
                if progress is not None:
                    progress()
    return PhaseDiagram(method=method, ensemble=str(Ensemble(ensemble).value), n=n, deltas=deltas, rhos=rhos,
                        success=success, n_trials=n_trials, success_tol=success_tol,
                        seconds=time.perf_counter() - started, info={"amplitudes": amplitudes, "seed": seed})
