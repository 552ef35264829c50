"""Accelerated proximal gradient (FISTA) with adaptive restart, for linear operators.

Solves min_x F(x) + Σ_g λ_g R(x_g) for any penalty with a prox and any datafit F(x) = f(Ax)
of :mod:`lamina.datafits` (least squares ½‖Ax − b‖² by default), using only products with A
and Aᵀ — one of each per iteration: Az is kept as a combination of the stored products Ax, so
the descent test of back-tracking costs nothing extra.

Step size: 1/L, L starting from a few power iterations (a lower bound on ‖A‖², times f's
curvature) and adapting to the curvature actually met: the descent condition
F(x⁺) ≤ F(z) + ∇F(z)ᵀ(x⁺ − z) + L/2 ‖x⁺ − z‖² reads 2 D_f(Ax⁺, Az) ≤ L‖x⁺ − z‖², D_f the
Bregman distance of f, from stored products; for least squares 2 D_f = ‖A(x⁺ − z)‖², a
difference of stored residuals. L shrinks by 10 % before every iteration and,
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

Stopping: duality gap ≤ tol · min(½‖b‖², P) (P the objective, never below the gap's rounding
resolution: :func:`lamina.solvers.base.gap_threshold`, as coordinate descent), checked every
``check_every`` iterations and after each polishing (one extra Aᵀ product), for convex penalties.
Unpenalized coefficients F enter the dual point refitted: θ = r − A_F A_F⁺ r
(:func:`lamina.solvers.free_coefficients.free_projection`: up to 64 on an operator, more on a
matrix while the pseudo-inverse stays cheap), so the gap bounds P(x) − P*; beyond that the gap
treats them as optimal, and while the gain of one gradient step on them, ‖g_U‖²/(2L), exceeds
the threshold, that gain is the criterion. L0: relative change ‖x⁺ − x‖ ≤ tol ‖x⁺‖.
"""
from __future__ import annotations

import numpy as np

from lamina.groups import Groups
from lamina.datafits import Datafit, Quadratic
from lamina.operators import matvec, rmatvec
from lamina.penalties import Penalty
from lamina.penalties.elastic_net import elastic_net_prox
from lamina.solvers.base import Monitor, SolveResult, duality_gap, gap_threshold
from lamina.solvers.free_coefficients import free_projection

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
                      polish: bool = True, max_cg: int = 500, callback=None,
                      datafit: Datafit | None = None) -> SolveResult:
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
        Duality gap relative to min(½‖b‖², objective) (convex, least squares), relative violation
        (other datafits) or relative change (L0) to stop at.
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
    datafit : Datafit, optional
        F(x) = f(Ax) in place of ½‖Ax − b‖² (:mod:`lamina.datafits`; ``Quadratic(A, b)`` by
        default), on the same A. The descent test reads f's Bregman distance
        f(Ax⁺) − f(Az) − ∇f(Az)ᵀA(x⁺ − z) ≤ L/2 ‖x⁺ − z‖² from the stored products. Least
        squares stops on the duality gap and may polish; other datafits stop on the largest
        distance of −∇F(x) to ∂R, relative to ‖∇F(0)‖∞ (``relative_violation``).

    Notes
    -----
    ``info`` of the result holds ``lipschitz`` (last L), ``n_restarts``, ``n_polish``
    (polishings kept) and ``n_products`` (products with A or Aᵀ, power iteration included).
    """
    n_products = 0
    datafit = Quadratic(A, b, check_input=False) if datafit is None else datafit   # solve() validated A, b
    if datafit.A.shape != A.shape:
        raise ValueError(f"datafit must be built on A (shape {A.shape}); got one on shape {datafit.A.shape}")
    if step is None:
        lipschitz, n_products = datafit.lipschitz_estimate(power_iterations)
        lipschitz = max(lipschitz, _TINY)
        floor = 1e-6 * lipschitz
    else:
        lipschitz = 1.0 / step
    prox, face = _separable_prox(penalty, lam, groups)
    convex = penalty.convex
    quadratic = datafit.quadratic
    polish = polish and convex and quadratic and face is not None
    x = np.zeros(datafit.n_features) if x0 is None else np.array(x0, dtype=np.float64)
    zero_fit = (A.shape[0],) if datafit.n_outputs == 1 else (A.shape[0], datafit.n_outputs)
    fit = datafit.predict(x) if np.any(x) else np.zeros(zero_fit)   # Ax
    z, fit_z, t = x, fit, 1.0     # extrapolated point and Az
    if quadratic:
        half_norm_b = 0.5 * float(np.dot(b, b))
        threshold = gap_threshold(tol, half_norm_b, half_norm_b)
    else:  # relative violation: ‖∇F(0)‖∞ is the scale of λ_max
        grad0 = datafit.backproject(datafit.raw_gradient(np.zeros(zero_fit)))
        scale = max(float(np.max(np.abs(grad0), initial=0.0)), _TINY)
        threshold, n_products = tol, n_products + 1
    name = "fista" if accelerate else "ista"
    criterion_name = ("duality_gap" if quadratic else "relative_violation") if convex else "relative_change"
    monitor = Monitor(name, tol, criterion_name, callback)
    free = _unpenalized(penalty, lam, groups) if convex else None
    profile = free_projection(A, penalty, lam, groups) if convex and quadratic else None
    if profile is not None:   # the gap is then a bound with free coefficients too: no gain rule
        free, n_products = None, n_products + profile.n_products

    def gap(fit, corr, objective):
        residual = b - fit
        if profile is not None:
            residual, corr = profile(residual, corr)
        return duality_gap(penalty, lam, groups, b, residual, corr, objective)
    iteration, n_restarts, n_polish, last_signs, stable = 0, 0, 0, None, 0
    for iteration in range(1, max_iter + 1):
        grad = datafit.backproject(datafit.raw_gradient(fit_z))
        if step is None:
            lipschitz = max(_SHRINK * lipschitz, floor)
        while True:
            x_new = prox(z - grad / lipschitz, 1.0 / lipschitz)
            fit_new = datafit.predict(x_new)
            n_products += 2
            if step is not None:
                break
            # descent condition f(Ax⁺) ≤ f(Az) + ∇f(Az)ᵀA(x⁺ − z) + L/2 ‖x⁺ − z‖²; for least
            # squares the left minus the first two terms is ½‖A(x⁺ − z)‖², exactly
            diff = x_new - z
            diff_sq = float(np.dot(diff, diff))
            curvature_sq = 2.0 * datafit.bregman(fit_new, fit_z)
            if diff_sq == 0.0 or curvature_sq <= lipschitz * diff_sq * (1.0 + 1e-10) or not np.isfinite(curvature_sq):
                break  # descent holds (non-finite values stop at the next check)
            lipschitz = _GROW * curvature_sq / diff_sq
            n_products -= 1  # the gradient at z is reused
        step_x = x_new - x
        if accelerate and restart and t > 1.0 and np.dot(z - x_new, step_x) > 0:
            t, n_restarts = 1.0, n_restarts + 1
            z, fit_z = x_new, fit_new
        elif accelerate:
            t_new = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_new
            z = x_new + beta * step_x
            fit_z = fit_new + beta * (fit_new - fit)      # A is linear: Az from stored products
            t = t_new
        else:
            z, fit_z = x_new, fit_new
        x, fit = x_new, fit_new
        ready = False
        if polish:
            signs = np.sign(x)
            stable = stable + 1 if last_signs is not None and np.array_equal(signs, last_signs) else 0
            last_signs = signs
            ready = stable >= _POLISH_WINDOW
        if iteration % check_every and iteration != max_iter and not ready:
            continue
        objective = datafit.value_at(fit) + penalty.value(x, lam, groups)
        if not convex:
            criterion = float(np.linalg.norm(step_x)) / max(float(np.linalg.norm(x)), _TINY)
            if monitor.record(iteration, x, objective, criterion, tol):
                break
            continue
        corr = datafit.backproject(-datafit.raw_gradient(fit))     # −∇F(x); Aᵀ(b − Ax) for least squares
        n_products += 1
        if not quadratic:
            violation = penalty.subdiff_distance(x, -corr, lam, groups)
            criterion = float(np.max(violation, initial=0.0)) / scale
        else:
            criterion = gap(fit, corr, objective)
            threshold = gap_threshold(tol, objective, half_norm_b)
        if ready and criterion > threshold:
            stable = 0
            polished = _polish(A, x, fit, corr, face[0], face[1], max_cg)
            if polished is not None:
                x_p, _, used = polished
                # fresh products at the new point: the gap below owes nothing to CG's recurrences
                fit_p = datafit.predict(x_p)
                n_products += used + 1
                objective_p = datafit.value_at(fit_p) + penalty.value(x_p, lam, groups)
                if objective_p <= objective:
                    n_polish += 1
                    x, fit, objective = x_p, fit_p, objective_p
                    z, fit_z, t = x, fit, 1.0
                    corr = datafit.backproject(-datafit.raw_gradient(fit))
                    n_products += 1
                    criterion = gap(fit, corr, objective)
                    threshold = gap_threshold(tol, objective, half_norm_b)
                    last_signs = np.sign(x)
        if quadratic and free is not None and criterion <= threshold:
            # more free coefficients than free_projection refits (or a penalty that cannot name
            # them): the gap treats them as optimal; one gradient step on them alone would gain
            # ‖g_U‖²/(2L), so x is not within the threshold while that exceeds it (a necessary
            # condition, not a bound)
            gain = float(np.dot(corr[free], corr[free])) / (2.0 * lipschitz)
            criterion = max(criterion, gain) if gain > threshold else criterion
        if monitor.record(iteration, x, objective, criterion, threshold):
            break
    return monitor.result(x, iteration, lam=lam, lipschitz=lipschitz, n_restarts=n_restarts,
                          n_products=n_products, n_polish=n_polish)
