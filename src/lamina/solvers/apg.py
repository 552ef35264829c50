"""Accelerated proximal gradient (FISTA) with adaptive restart, for linear operators.

Solves min_x ½‖Ax − b‖² + Σ_g λ_g R(x_g) for any penalty with a prox, using only products
with A and Aᵀ — one of each per iteration: Az and the residuals are kept as combinations of
the stored products Ax, so the descent test of back-tracking costs nothing extra.

Step size: 1/L, L starting from a few power iterations (a lower bound on ‖A‖²) and adapting
to the curvature actually met: f is quadratic, so the descent condition
f(x⁺) ≤ f(z) + ∇f(z)ᵀ(x⁺ − z) + L/2 ‖x⁺ − z‖² reads ‖A(x⁺ − z)‖² ≤ L‖x⁺ − z‖², and
A(x⁺ − z) is a difference of stored residuals. L shrinks by 10 % before every iteration and,
when the test fails, becomes 1.3 × the curvature met (one extra product). Steps thus follow
the local curvature of the iterates, often well below ‖A‖² (band-limited operators such as
convolutions), instead of the worst case an exact eigenvalue solve gives — for thousands
of products fewer. Momentum restarts when it points uphill, (z − x⁺)ᵀ(x⁺ − x) > 0
(O'Donoghue & Candès 2015).

Support polishing (elastic net, L1, L2): once the signs of x stayed the same for three
iterations, the smooth problem of that support and those signs,
min_u ½‖A_S u − b‖² + Σ_{j∈S} (a_j s_j u_j + c_j u_j²/2), is solved by conjugate gradients
(one AᵀA product per CG step), in the manner of feature-sign search (Lee et al. 2007) and
FPC_AS (Wen et al. 2010): x moves towards the face minimizer and stops where a first
coefficient would change sign, which leaves the face; the coefficients that violate
optimality (|Aᵀ(b − Ax)|_j > a_j) enter with their sign; repeat. Along each move the objective
equals a convex quadratic that does not increase, and the polished point is kept only if its
objective — from fresh products — did not increase. Proximal gradient identifies the support
in a few dozen iterations; CG then converges far faster than FISTA on the face.

Stopping: duality gap ≤ tol · ½‖b‖², checked every ``check_every`` iterations and after each
polishing (one extra Aᵀ product), for convex penalties. The gap treats unpenalized
coefficients as optimal, so while the gain of one gradient step on them, ‖g_U‖²/(2L),
exceeds the threshold, that gain is the criterion. L0: relative change ‖x⁺ − x‖ ≤ tol ‖x⁺‖.
"""
from __future__ import annotations

import numpy as np

from lamina.groups import Groups
from lamina.operators import matvec, rmatvec, squared_norm_estimate
from lamina.penalties import Penalty
from lamina.penalties.elastic_net import elastic_net_prox
from lamina.solvers.base import Monitor, SolveResult, duality_gap

_TINY = np.finfo(float).tiny


def _separable_prox(penalty: Penalty, lam, groups: Groups):
    """A fast ``prox(u, step)`` for penalties R = Σ a|x| + c x²/2 (``separable_l1_l2``: strengths
    computed once), else the penalty's own prox; and those per-coefficient (a, c) when available."""
    if penalty.supports("separable_l1_l2"):
        l1, l2 = penalty.separable_l1_l2(lam, groups)
        return (lambda u, step: elastic_net_prox(u, l1, l2, step)), (l1, l2)

    def prox(u, step):
        return penalty.prox(u, lam, groups, step)

    return prox, None


# Step-size adaptation: L shrinks by _SHRINK before every iteration and, when the descent test
# fails, becomes _GROW times the curvature ‖A(x⁺ − z)‖²/‖x⁺ − z‖² actually met.
_SHRINK, _GROW = 0.9, 1.3
# Polishing: start once the signs of x stayed the same for _POLISH_WINDOW iterations; CG stops
# when the face gradient fell by _CG_RTOL; at most _MAX_DROPS sign changes per polishing;
# coefficients whose violation exceeds _ADD_FRACTION of the largest one enter together.
_POLISH_WINDOW, _CG_RTOL, _MAX_DROPS, _ADD_FRACTION = 3, 1e-3, 5, 0.5


def _unpenalized(penalty: Penalty, lam, groups: Groups):
    """Indices of coefficients with a zero threshold (free), or None when there are none."""
    thresholds = penalty.thresholds(lam, groups)
    if not penalty.separable:
        thresholds = groups.expand(thresholds)
    free = np.flatnonzero(thresholds == 0)
    return free if free.size else None


def _face_cg(A, support, residual, l2_s, max_cg: int, stop: float, x_s, signs):
    """CG on H d = residual, H = A_SᵀA_S + diag(c_S), from d = 0, until ‖residual‖² ≤ stop or
    until x_s + d leaves the orthant of ``signs`` (zero entries: unconstrained).

    Returns (d, A d on the rows, AᵀA d on every coefficient, CG steps)."""
    rr = float(np.dot(residual, residual))
    direction = residual.copy()
    d = np.zeros(support.size)
    Ad = np.zeros(A.shape[0])
    AtAd = np.zeros(A.shape[1])
    full = np.zeros(A.shape[1])
    steps = 0
    while steps < max_cg and rr > stop:
        full[support] = direction
        A_dir = matvec(A, full)
        AtA_dir = rmatvec(A, A_dir)
        H_dir = AtA_dir[support] + l2_s * direction
        steps += 1
        curvature = float(np.dot(direction, H_dir))
        if not curvature > 1e-14 * float(np.dot(direction, direction)) * max(float(np.max(np.abs(H_dir))), _TINY):
            break
        alpha = rr / curvature
        d += alpha * direction
        Ad += alpha * A_dir
        AtAd += alpha * AtA_dir
        if np.any(signs * (x_s + d) < 0):
            break
        residual = residual - alpha * H_dir
        rr_new = float(np.dot(residual, residual))
        direction *= rr_new / rr
        direction += residual
        rr = rr_new
    return d, Ad, AtAd, steps


def _polish(A, x, Ax, corr, l1, l2, max_cg: int, max_rounds: int = 30):
    """Feature-sign search from x: minimize the quadratic of the current support and signs
    by CG, move towards its minimizer up to the first sign change and drop that coefficient;
    once a face is solved, add the coefficients that violate optimality (|corrⱼ| > aⱼ) with
    the sign of corrⱼ, and repeat. ``corr`` = Aᵀ(b − Ax) is kept up to date from the CG
    products. Returns (x_new, Ax_new, products used), or None when nothing moved.
    """
    x, Ax, corr = x.copy(), Ax.copy(), corr.copy()
    signs_full = np.sign(x)
    banned = np.zeros(x.shape[0], dtype=bool)
    products, budget, moved_any, stop, drops_left = 0, max_cg, False, None, _MAX_DROPS
    for _ in range(max_rounds):
        support = np.flatnonzero(signs_full)
        if support.size == 0 or budget <= 0:
            break
        x_s = x[support]
        signs = signs_full[support]
        signed = l1[support] > 0
        l2_s = l2[support]
        # minus the gradient of the face quadratic at x
        residual = corr[support] - l1[support] * signs - l2_s * x_s
        if stop is None:  # one absolute target for every face of this polishing
            stop = _CG_RTOL ** 2 * float(np.dot(residual, residual))
        d, Ad, AtAd, steps = _face_cg(A, support, residual, l2_s, budget, stop, x_s,
                                      np.where(signed, signs, 0.0))
        products += 2 * steps
        budget -= steps
        moved = x_s + d
        crossing = signed & (signs * moved < 0)
        t, first = 1.0, None
        if np.any(crossing):
            ratios = -x_s[crossing] / d[crossing]
            t = float(np.min(ratios))
            first = np.flatnonzero(crossing)[np.argmin(ratios)]
            moved = x_s + t * d
            moved[first] = 0.0
        if t > 0 and np.any(d):
            x[support] = moved
            Ax += t * Ad
            corr -= t * AtAd
            moved_any = True
        if first is not None:
            signs_full[support[first]] = 0.0
            banned[support[first]] = t == 0.0  # it would leave again at once
            drops_left -= 1
            if drops_left < 0:
                break
            continue
        violation = np.abs(corr) - l1
        violation[(signs_full != 0) | banned] = 0.0
        worst = float(np.max(violation))
        if worst <= 0.0:
            break
        entering = violation > _ADD_FRACTION * worst
        signs_full[entering] = np.sign(corr[entering])
    return (x, Ax, products) if moved_any else None


def proximal_gradient(A, b, penalty: Penalty, lam, groups: Groups, *, x0=None, tol: float = 1e-6,
                      max_iter: int = 10_000, step: float | None = None, accelerate: bool = True,
                      restart: bool = True, check_every: int = 10, power_iterations: int = 5,
                      polish: bool = True, max_cg: int = 500, callback=None) -> SolveResult:
    """FISTA with adaptive restart, adaptive step and support polishing; see the module docstring.

    Parameters
    ----------
    A : ndarray, sparse matrix or LinearOperator, shape (n_rows, n_features)
    b : ndarray, shape (n_rows,)
    penalty : Penalty
    lam : ndarray, shape (n_groups,)
    groups : Groups
    x0 : ndarray, optional
        Warm start.
    tol : float
        Relative duality gap (convex) or relative change (L0) to stop at.
    max_iter : int
        Budget of proximal-gradient iterations.
    step : float, optional
        Fixed step 1/L (no adaptation); by default L starts from a power iteration and adapts.
    accelerate, restart : bool
        FISTA momentum and its adaptive restart (both off = ISTA).
    check_every : int
        Iterations between duality-gap evaluations (one Aᵀ product each).
    power_iterations : int
        Power-iteration budget of the first estimate of L.
    polish : bool
        Support polishing by conjugate gradients (elastic net, L1, L2; ignored otherwise).
    max_cg : int
        CG steps per polishing.
    callback : callable, optional
        ``callback(iteration, x, objective, criterion)``; returning True stops.

    Notes
    -----
    ``info`` of the result holds ``lipschitz`` (last L), ``n_restarts``, ``n_polish``
    (polishings kept) and ``n_products`` (products with A or Aᵀ, power iteration included).
    """
    n_products = 0
    if step is None:
        lipschitz, n_products = squared_norm_estimate(A, n_iter=power_iterations)
        lipschitz = max(lipschitz, _TINY)
        n_products *= 2
        floor = 1e-6 * lipschitz
    else:
        lipschitz = 1.0 / step
    prox, face = _separable_prox(penalty, lam, groups)
    convex = penalty.convex
    polish = polish and convex and face is not None
    x = np.zeros(A.shape[1]) if x0 is None else np.array(x0, dtype=np.float64)
    residual = (matvec(A, x) if np.any(x) else np.zeros(A.shape[0])) - b   # Ax − b
    z, residual_z, t = x, residual, 1.0     # extrapolated point and Az − b
    threshold = tol * max(0.5 * float(np.dot(b, b)), _TINY)
    name = "fista" if accelerate else "ista"
    monitor = Monitor(name, tol, "duality_gap" if convex else "relative_change", callback)
    free = _unpenalized(penalty, lam, groups) if convex else None
    iteration, n_restarts, n_polish, last_signs, stable = 0, 0, 0, None, 0
    for iteration in range(1, max_iter + 1):
        grad = rmatvec(A, residual_z)
        if step is None:
            lipschitz = max(_SHRINK * lipschitz, floor)
        while True:
            x_new = prox(z - grad / lipschitz, 1.0 / lipschitz)
            residual_new = matvec(A, x_new) - b
            n_products += 2
            if step is not None:
                break
            # f is quadratic: the descent condition is ‖A(x⁺ − z)‖² ≤ L ‖x⁺ − z‖²
            diff = x_new - z
            diff_sq = float(np.dot(diff, diff))
            A_diff = residual_new - residual_z
            curvature_sq = float(np.dot(A_diff, A_diff))
            if diff_sq == 0.0 or curvature_sq <= lipschitz * diff_sq * (1.0 + 1e-10) or not np.isfinite(curvature_sq):
                break  # descent holds (non-finite values stop at the next check)
            lipschitz = _GROW * curvature_sq / diff_sq
            n_products -= 1  # the gradient at z is reused
        step_x = x_new - x
        if accelerate and restart and t > 1.0 and np.dot(z - x_new, step_x) > 0:
            t, n_restarts = 1.0, n_restarts + 1
            z, residual_z = x_new, residual_new
        elif accelerate:
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_new
            z = x_new + beta * step_x
            residual_z = residual_new + beta * (residual_new - residual)
            t = t_new
        else:
            z, residual_z = x_new, residual_new
        x, residual = x_new, residual_new
        ready = False
        if polish:
            signs = np.sign(x)
            stable = stable + 1 if last_signs is not None and np.array_equal(signs, last_signs) else 0
            last_signs = signs
            ready = stable >= _POLISH_WINDOW
        if iteration % check_every and iteration != max_iter and not ready:
            continue
        objective = 0.5 * float(np.dot(residual, residual)) + penalty.value(x, lam, groups)
        if not convex:
            criterion = float(np.linalg.norm(step_x)) / max(float(np.linalg.norm(x)), _TINY)
            if monitor.record(iteration, x, objective, criterion, tol):
                break
            continue
        corr = rmatvec(A, -residual)
        n_products += 1
        criterion = duality_gap(penalty, lam, groups, b, -residual, corr, objective)
        if ready and criterion > threshold:
            stable = 0
            polished = _polish(A, x, residual + b, corr, face[0], face[1], max_cg)
            if polished is not None:
                x_p, _, used = polished
                # fresh products at the new point: the gap below owes nothing to CG's recurrences
                residual_p = matvec(A, x_p) - b
                n_products += used + 1
                objective_p = 0.5 * float(np.dot(residual_p, residual_p)) + penalty.value(x_p, lam, groups)
                if objective_p <= objective:
                    n_polish += 1
                    x, residual, objective = x_p, residual_p, objective_p
                    z, residual_z, t = x, residual, 1.0
                    corr = rmatvec(A, -residual)
                    n_products += 1
                    criterion = duality_gap(penalty, lam, groups, b, -residual, corr, objective)
                    last_signs = np.sign(x)
        if free is not None and criterion <= threshold:
            # the gap treats unpenalized coefficients as optimal; one gradient step on them
            # alone would gain ‖g_U‖²/(2L), so x is not within the threshold while that exceeds it
            gain = float(np.dot(corr[free], corr[free])) / (2.0 * lipschitz)
            criterion = max(criterion, gain) if gain > threshold else criterion
        if monitor.record(iteration, x, objective, criterion, threshold):
            break
    return monitor.result(x, iteration, lam=lam, lipschitz=lipschitz, n_restarts=n_restarts,
                          n_products=n_products, n_polish=n_polish)
