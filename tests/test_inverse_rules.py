"""λ rules of lamina.inverse: each checked where the right answer is known."""
import numpy as np
import pytest
from scipy.sparse.linalg import aslinearoperator

from lamina import solve
from lamina.inverse import DEFAULT_RULE, estimate_noise, fit
from lamina.inverse._linops import ridge_dof, row_subset
from lamina.inverse.pergroup import SURECoordinate, hypergradient
from lamina.inverse.rules import (compute_candidates, discrepancy_choice, gcv_scores, lcurve_corner,
                                  menger_curvature, prepare, sure_scores)
from lamina.groups import Groups
from lamina.penalties import L1, L2


def _ridge_closed_form(A, b, lams):
    """Residual norms and df of ridge from the SVD (independent of lamina's solvers)."""
    U, s, _ = np.linalg.svd(A, full_matrices=False)
    Utb = U.T @ b
    outside = b - U @ Utb
    residuals, dofs = [], []
    for lam in lams:
        shrink = lam / (s ** 2 + lam)
        residuals.append(np.sqrt(np.sum((shrink * Utb) ** 2) + np.sum(outside ** 2)))
        dofs.append(np.sum(s ** 2 / (s ** 2 + lam)))
    return np.array(residuals), np.array(dofs)


@pytest.fixture
def ridge_problem():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((70, 40)) @ np.diag(np.geomspace(1, 1e-3, 40))
    x = rng.standard_normal(40)
    sigma = 0.05
    b = A @ x + sigma * rng.standard_normal(70)
    return A, b, sigma, np.geomspace(10, 1e-7, 30)


def test_ridge_candidates_match_closed_form(ridge_problem):
    A, b, sigma, lams = ridge_problem
    A_, b_, penalty, groups, d = prepare(A, b, "l2", None, None)
    cands = compute_candidates(A_, b_, penalty, groups, d, lams, tol=1e-10)
    residuals, dofs = _ridge_closed_form(A, b, lams)
    np.testing.assert_allclose(cands.residual_norms, residuals, rtol=1e-6)
    np.testing.assert_allclose(cands.dof, dofs, rtol=1e-8)


def test_gcv_and_discrepancy_on_ridge_pick_the_closed_form_choice(ridge_problem):
    A, b, sigma, lams = ridge_problem
    residuals, dofs = _ridge_closed_form(A, b, lams)
    m = A.shape[0]
    expected_gcv = int(np.argmin(m * residuals ** 2 / (m - dofs) ** 2))
    expected_discrepancy = int(np.flatnonzero(residuals <= np.sqrt(m) * sigma)[0])
    res_gcv = fit(A, b, "l2", tuner="gcv", multipliers=lams, tol=1e-10)
    res_disc = fit(A, b, "l2", tuner="discrepancy", sigma=sigma, multipliers=lams, tol=1e-10)
    assert res_gcv.curve["index"] == expected_gcv
    assert res_disc.curve["index"] == expected_discrepancy
    assert res_gcv.lam[0] == pytest.approx(lams[expected_gcv])
    assert 0 < expected_gcv < len(lams) - 1  # an interior minimum: the test can fail


def test_sure_is_unbiased_for_the_lasso_prediction_risk():
    """E[SURE(λ)] = E‖A(x̂ − x)‖² with df = |support| (Zou, Hastie & Tibshirani 2007)."""
    rng = np.random.default_rng(0)
    m, n, sigma = 80, 50, 0.5
    A = rng.standard_normal((m, n))
    x = np.zeros(n)
    x[:8] = rng.standard_normal(8) * 2
    lam = 4.0
    sure, risk, dofs = [], [], []
    for _ in range(300):
        b = A @ x + sigma * rng.standard_normal(m)
        x_hat = solve(A, b, "l1", lam, tol=1e-10).x
        residual = np.linalg.norm(A @ x_hat - b)
        sure.append(sure_scores([residual], [np.count_nonzero(x_hat)], m, sigma)[0])
        risk.append(np.sum((A @ (x_hat - x)) ** 2))
        dofs.append(np.count_nonzero(x_hat))
    sure, risk, dofs = np.array(sure), np.array(risk), np.array(dofs)
    standard_error = np.std(sure - risk) / np.sqrt(len(sure))
    assert abs(sure.mean() - risk.mean()) < 3 * standard_error
    # the same test detects a biased variant (df left out): it has the power to fail
    biased = sure - 2 * sigma ** 2 * dofs
    assert abs(biased.mean() - risk.mean()) > 3 * standard_error


def test_lcurve_corner_of_a_hyperbola():
    """(ξ − a)(η − c) = k has its largest curvature at ξ − a = η − c = √k."""
    v = np.linspace(3, -3, 61)  # from large residual to large norm, as along a decreasing λ
    a, c, k = 0.5, -1.0, 0.04
    xi, eta = a + np.sqrt(k) * np.exp(v), c + np.sqrt(k) * np.exp(-v)
    index, kappa = lcurve_corner(np.exp(xi), np.exp(eta))
    assert index == 30 and v[index] == pytest.approx(0.0)
    assert np.nanargmin(kappa) != index  # the sign convention matters
    circle = menger_curvature(np.cos(np.linspace(0, -np.pi / 2, 7)), np.sin(np.linspace(0, -np.pi / 2, 7)))
    np.testing.assert_allclose(circle[1:-1], 1.0)  # clockwise unit circle: κ = +1


def test_discrepancy_gcv_edge_cases():
    assert discrepancy_choice(np.array([5.0, 3.0, 1.0]), 4, 0.1)[0] == 2  # none below: last
    scores = gcv_scores([1.0, 1.0], [3, 10], 10)
    assert np.isinf(scores[1]) and scores[0] == pytest.approx(10 / 49)


def test_cv_scores_equal_a_manual_k_fold_loop():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((40, 30))
    x = np.zeros(30)
    x[:4] = [2.0, -1.5, 1.0, 3.0]
    b = A @ x + 0.3 * rng.standard_normal(40)
    lams = np.geomspace(20, 0.1, 8)
    result = fit(A, b, "l1", tuner="cv", multipliers=lams, n_folds=4, seed=5, tol=1e-10)
    folds = np.array_split(np.random.default_rng(5).permutation(40), 4)
    manual = np.zeros(lams.size)
    for fold in folds:
        train = np.setdiff1d(np.arange(40), fold)
        for i, lam in enumerate(lams):
            x_hat = solve(A[train], b[train], "l1", lam * train.size / 40, tol=1e-10).x
            manual[i] += np.sum((A[fold] @ x_hat - b[fold]) ** 2)
    np.testing.assert_allclose(result.curve["score"], manual / 40, rtol=1e-5)
    assert result.curve["index"] == int(np.argmin(manual))
    np.testing.assert_allclose(result.x, solve(A, b, "l1", lams[result.curve["index"]], tol=1e-10).x, atol=1e-6)


@pytest.mark.parametrize("rule", ["discrepancy", "gcv", "sure", "cv", "lcurve"])
def test_every_rule_recovers_a_sparse_model(rule):
    rng = np.random.default_rng(2)
    A = rng.standard_normal((100, 150))
    x = np.zeros(150)
    x[rng.choice(150, 8, replace=False)] = rng.choice([-1, 1], 8) * rng.uniform(1, 3, 8)
    b = A @ x + 0.2 * rng.standard_normal(100)
    res = fit(A, b, "l1", tuner=rule, sigma=0.2, n_lams=25)
    assert np.linalg.norm(res.x - x) / np.linalg.norm(x) < 0.15
    assert res.curve["lam"].shape == res.curve["score"].shape == (25,)
    assert res.rule == rule and res.lam.shape == (1,)
    assert res.tune.compute.fits >= 25


def _leading_spikes(seed, m, n, k, amplitude, noise):
    """(A, x, b): Gaussian A (m × n), x with its first k entries at ``amplitude``, b = Ax + noise."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    x = np.zeros(n)
    x[:k] = amplitude
    return A, x, A @ x + noise * rng.standard_normal(m)


def test_fit_default_rule_and_fixed_lambda():
    A, x, b = _leading_spikes(4, 60, 80, 5, 2.0, 0.1)
    res = fit(A, b)
    assert res.rule == DEFAULT_RULE.value
    assert set(np.flatnonzero(np.abs(res.x) > 0.5)) == set(range(5))
    fixed = fit(A, b, "l1", lam=2.0)
    assert fixed.curve is None and fixed.lam.tolist() == [2.0]
    np.testing.assert_allclose(fixed.x, solve(A, b, "l1", 2.0).x)


def test_fit_on_an_operator_with_estimated_sigma():
    A, x, b = _leading_spikes(5, 200, 120, 6, 3.0, 0.3)
    res = fit(aslinearoperator(A), b, "l1", tuner="sure", n_lams=15)
    assert res.sigma > 0 and res.info["sigma_source"].startswith("estimated")
    assert np.linalg.norm(res.x - x) / np.linalg.norm(x) < 0.1


def test_fit_bad_input_names_the_argument():
    A, b = np.ones((5, 3)), np.ones(5)
    with pytest.raises(ValueError, match="tuner must be one of"):
        fit(A, b, tuner="aic")
    with pytest.raises(ValueError, match="sigma"):
        fit(A, b, tuner="sure", sigma=0.0)
    with pytest.raises(ValueError, match="sigma"):
        fit(A, b, tuner="sure", sigma=-1.0)
    with pytest.raises(ValueError, match="lam must be >= 0"):
        fit(A, b, lam=-1.0)
    with pytest.raises(ValueError, match="lam must be 'auto'"):
        fit(A, b, lam="best")
    with pytest.raises(ValueError, match="rows but b has"):
        fit(A, np.ones(4))
    with pytest.raises(ValueError, match="tuner applies only"):
        fit(A, b, lam=1.0, tuner="gcv")
    with pytest.raises(ValueError, match="penalty must be 'l0', 'l1' or 'l2'"):
        fit(A, b, penalty="group_l1")
    with pytest.raises(ValueError, match="n_folds"):
        fit(A, b, tuner="cv", n_folds=10)
    with pytest.raises(ValueError, match="per_group"):
        fit(A, b, per_group="evidence")


@pytest.mark.parametrize("penalty", ["l1", "l0"])
def test_fit_with_zero_data_returns_zero_with_a_warning(penalty):
    A = np.random.default_rng(0).standard_normal((30, 50))
    with pytest.warns(UserWarning, match="Aᵀb is zero"):
        res = fit(A, np.zeros(30), penalty)
    assert res.x.shape == (50,) and not np.any(res.x) and res.info["lam_not_chosen"]


@pytest.mark.parametrize("m", [2, 3, 4])
def test_fit_default_folds_on_fewer_than_five_rows_is_one_row_per_fold(m):
    rng = np.random.default_rng(m)
    res = fit(rng.standard_normal((m, 20)), rng.standard_normal(m), "l1")
    assert res.info["n_folds"] == m and np.all(np.isfinite(res.x))


def test_fit_on_one_row_says_cross_validation_needs_two():
    with pytest.raises(ValueError, match="1 row: cross-validation needs at least 2"):
        fit(np.ones((1, 4)), np.ones(1), "l1")


def test_estimate_noise_from_the_finest_scale():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 8192)
    signal = np.sin(2 * np.pi * 5 * t) + 0.5 * np.cos(2 * np.pi * 13 * t)
    for sigma in (0.01, 0.3):
        assert estimate_noise(signal + sigma * rng.standard_normal(t.size)) == pytest.approx(sigma, rel=0.05)
    two_traces = np.concatenate([signal[:4096], 5 + signal[:4096]]) + 0.1 * rng.standard_normal(8192)
    assert estimate_noise(two_traces, trace_length=4096) == pytest.approx(0.1, rel=0.05)


def test_stochastic_ridge_dof_matches_the_svd():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((150, 100)) @ np.diag(np.geomspace(1, 1e-2, 100))
    t = np.geomspace(1, 1e-4, 6)
    d = rng.uniform(0.5, 2, 100)
    exact = ridge_dof(A, t, d)
    estimate = ridge_dof(aslinearoperator(A), t, d, n_probes=200)  # Hutchinson s.e. ≈ 1.5 %
    np.testing.assert_allclose(estimate, exact, rtol=0.06)


def test_row_subset_operator_is_consistent():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((10, 6))
    rows = np.array([1, 4, 7])
    op = row_subset(aslinearoperator(A), rows)
    v, r = rng.standard_normal(6), rng.standard_normal(3)
    np.testing.assert_allclose(op.matvec(v), A[rows] @ v)
    np.testing.assert_allclose(op.rmatvec(r), A[rows].T @ r)


# ---------------------------------------------------------------------------- per group
def _soft_sure(y, lam, sigma):
    """SureShrink risk of soft thresholding y at lam (Donoho & Johnstone 1995)."""
    return np.sum(np.minimum(y ** 2, lam ** 2)) - y.size * sigma ** 2 + 2 * sigma ** 2 * np.sum(np.abs(y) > lam)


def test_per_group_sure_finds_sureshrink_thresholds_for_an_orthogonal_operator():
    from scipy.stats import ortho_group

    rng = np.random.default_rng(0)
    n, sigma = 60, 0.5
    Q = ortho_group.rvs(n, random_state=1)
    groups = Groups.contiguous([20, 20, 20])
    x = np.concatenate([rng.standard_normal(20) * 4, np.where(rng.random(20) < 0.2, 3.0, 0.0), np.zeros(20)])
    b = Q @ x + sigma * rng.standard_normal(n)
    factors = np.geomspace(1 / 8, 8, 25)
    tuner = SURECoordinate(sigma=sigma, factors=factors, n_sweeps=1)
    start = np.ones(3)
    result = tuner.tune(Q, b, L1(), groups, start, tol=1e-12)
    y = Q.T @ b
    for g in range(3):
        part = y[groups.indices(g)]
        best = factors[int(np.argmin([_soft_sure(part, lam, sigma) for lam in factors]))]
        assert result.lambda_vector[g] == pytest.approx(best)
    assert len(result.trajectory) == 4 and result.curve["score"][-1] <= result.curve["score"][0]


def test_hypergradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((80, 40))
    x = np.zeros(40)
    x[:10] = rng.standard_normal(10) * 2
    b = A @ x + 0.3 * rng.standard_normal(80)
    groups = Groups.contiguous([20, 20])
    train, val = np.arange(60), np.arange(60, 80)
    for penalty, lam in ((L1(), np.array([3.0, 8.0])), (L2(), np.array([2.0, 30.0]))):
        def loss(lam_vec):
            x_hat = solve(A[train], b[train], penalty, lam_vec, groups, tol=1e-13).x
            return 0.5 * np.sum((A[val] @ x_hat - b[val]) ** 2), x_hat

        value, x_hat = loss(lam)
        got_value, grad = hypergradient(A[train], A[val], b[val], x_hat, penalty, lam, groups)
        assert got_value == pytest.approx(value)
        for g in range(2):
            step = np.zeros(2)
            step[g] = 1e-5 * lam[g]
            numeric = (loss(lam + step)[0] - loss(lam - step)[0]) / (2 * step[g])
            assert grad[g] == pytest.approx(numeric, rel=1e-3, abs=1e-8)


def test_per_group_hypergradient_beats_one_lambda_on_held_out_data():
    rng = np.random.default_rng(1)
    n = 120
    A = rng.standard_normal((90, n))
    x = np.zeros(n)
    x[:40] = rng.standard_normal(40)          # dense group: wants a small λ
    x[40 + rng.choice(80, 3, replace=False)] = 4.0  # sparse group: wants a large λ
    b = A @ x + 0.5 * rng.standard_normal(90)
    groups = Groups.contiguous([40, 80])
    single = fit(A, b, "l1", tuner="cv", groups=groups, n_lams=20)
    per = fit(A, b, "l1", tuner="cv", groups=groups, n_lams=20, per_group="hypergradient")
    assert per.lam[0] < per.lam[1]
    assert per.curve["per_group_score"][-1] < per.curve["per_group_score"][0]
    assert np.linalg.norm(per.x - x) < np.linalg.norm(single.x - x)


def test_per_group_hypergradient_stops_at_the_lambda_floor_on_an_underdetermined_operator():
    """Noise-free data in one group pull its λ towards 0; the descent must stop at the floor
    (min_ratio × the largest starting λ) instead of driving the inner solves to basis pursuit."""
    from lamina.inverse.pergroup import Hypergradient
    from lamina.penalties import L1
    rng = np.random.default_rng(3)
    n = 200
    A = rng.standard_normal((60, n)) / np.sqrt(60)
    x = np.zeros(n)
    x[:8] = rng.standard_normal(8)
    b = A @ x
    groups = Groups.contiguous([100, 100])
    start = np.array([0.05, 0.05])
    tuner = Hypergradient(max_iter=40, min_ratio=1e-2)
    result = tuner.tune(aslinearoperator(A), b, L1(), groups, start)
    lam = np.array(list(result.lambdas.values()))
    assert np.all(lam >= 1e-2 * start.max() * (1 - 1e-12))
    assert lam[0] < start[0]
    with pytest.raises(ValueError, match="min_ratio"):
        Hypergradient(min_ratio=0.0)


@pytest.mark.parametrize("penalty_name", ["l1", "l2"])
def test_hypergradient_at_a_group_with_zero_lambda_is_its_right_derivative(penalty_name):
    """∂C/∂λ_g at λ_g = 0 is not 0 (it was returned as 0: ∇R divided by λ_g, with 0 where λ_g = 0)."""
    from lamina.penalties import L1, L2
    penalty = L1() if penalty_name == "l1" else L2()
    rng = np.random.default_rng(2)
    A = rng.standard_normal((120, 40))
    b = A @ rng.standard_normal(40) + 0.5 * rng.standard_normal(120)
    train, val = np.arange(90), np.arange(90, 120)
    groups = Groups.contiguous([20, 20])
    lam = np.array([0.0, 5.0])

    def held_out(lams):
        x = solve(A[train], b[train], penalty, lams, groups, tol=1e-10).x
        r = A[val] @ x - b[val]
        return 0.5 * r @ r

    x = solve(A[train], b[train], penalty, lam, groups, tol=1e-10).x
    _, grad = hypergradient(A[train], A[val], b[val], x, penalty, lam, groups)
    # one-sided differences (λ ≥ 0), their O(h) error removed by Richardson extrapolation
    h, at_zero = 1e-2, held_out(lam)
    step = lambda size: (held_out(lam + [size, 0.0]) - at_zero) / size
    right = 2.0 * step(h / 2) - step(h)
    assert abs(right) > 1e-2
    assert grad[0] == pytest.approx(right, rel=1e-4)


def test_fit_refuses_an_overflowing_a_and_a_bad_per_group_up_front():
    """Found by a sweep: A scaled by 1e150 ended in numba's LinAlgError inside coordinate descent,
    by 1e160 in minutes of work returning x = 0; ``per_group="bogus"`` was refused only after the
    whole λ choice had run."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 40))
    b = A[:, :5].sum(axis=1) + 0.1 * rng.standard_normal(60)
    for scale in (1e150, 1e160):
        with pytest.raises(ValueError, match="A's entries are too large"):
            fit(scale * A, b, "l1")
    assert np.all(np.isfinite(fit(1e100 * A, b, "l1", n_lams=8).x))
    with pytest.raises(ValueError, match="per_group must be None, 'hypergradient' or 'sure'; got 'bogus'"):
        fit(A, b, "l1", per_group="bogus", tuner=_NeverTunes())


class _NeverTunes:
    """A tuner that fails the test if the λ choice runs."""

    def tune(self, *args, **kwargs):
        raise AssertionError("the λ choice ran before per_group was checked")


def test_multipliers_in_any_order_give_the_decreasing_path():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((50, 30))
    b = A[:, :4].sum(axis=1) + 0.1 * rng.standard_normal(50)
    grid = np.geomspace(1e-3, 1.0, 12)
    increasing, decreasing = fit(A, b, "l1", multipliers=grid), fit(A, b, "l1", multipliers=grid[::-1])
    np.testing.assert_array_equal(increasing.x, decreasing.x)
    assert increasing.lam == pytest.approx(decreasing.lam)


def test_an_operator_that_returns_complex_values_is_refused_by_name():
    """A LinearOperator declaring float64 whose matvec returns complex values passed the dot test
    (its imaginary part dropped with a ComplexWarning) and FISTA ended in NaN."""
    from scipy.sparse.linalg import LinearOperator

    M = np.random.default_rng(0).standard_normal((30, 20))
    A = LinearOperator((30, 20), matvec=lambda x: (M @ x) * (1 + 1j), rmatvec=lambda y: M.T @ y, dtype=float)
    with pytest.raises(ValueError, match="A's matvec returned complex values .*check_adjoint=False"):
        fit(A, np.ones(30), "l1")


# ---------------------------------------------------------------- the λ grid (a review's defects)
def _sparse_problem(m=100, p=80, seed=0):
    rng = np.random.default_rng(seed)
    G = rng.standard_normal((m, p))
    x = np.zeros(p)
    x[:5] = 3.0
    return G, x, G @ x + rng.standard_normal(m)


def test_default_grid_starts_where_the_penalized_part_vanishes_with_an_unpenalized_intercept():
    """An unpenalized intercept of 1000: the grid took t_max from Aᵀb (2.4e4, 56 × too high) and
    GCV and CV picked its last point; t_max is now max |a_jᵀ(b − fitted intercept)|, and both
    choose inside the grid."""
    from lamina.inverse.candidates import default_multipliers
    G, x, b = _sparse_problem()
    A, b = np.column_stack([np.ones(len(b)), G]), b + 1000.0
    penalty = L1(weights=np.r_[0.0, np.ones(G.shape[1])])
    residual = b - b.mean()
    t_max = np.max(np.abs(G.T @ residual))
    A_, b_, penalty_, groups, direction = prepare(A, b, penalty, None, None)
    grid = default_multipliers(A_, b_, penalty_, groups, direction, 20)
    assert grid[0] == pytest.approx(0.95 * t_max, rel=1e-9)
    for tuner in ("gcv", "cv"):
        result = fit(A, b, penalty, tuner=tuner, sigma=1.0, n_lams=20)
        assert 0 < result.curve["index"] < 19
        assert np.linalg.norm(result.x[1:] - x) < 0.5


def test_default_grids_follow_the_scale_of_the_columns_and_of_the_penalty_factors():
    """½‖Ax − b‖² + λ‖x‖₀ is the same problem for cA (x → x/c): the L0 grid now divides by the
    column norms (A × 20 had a grid wholly above the one-atom break-even λ and returned x = 0);
    ridge with penalty factors c·w is ridge with λ/c: the L2 grid now scales by them (factors
    × 0.001 had both rules at the grid's top)."""
    from lamina.inverse.candidates import default_multipliers
    G, x, b = _sparse_problem()
    grids = {}
    for c in (1.0, 0.05, 20.0):
        A_, b_, penalty, groups, direction = prepare(c * G, b, "l0", None, None)
        grids[c] = default_multipliers(A_, b_, penalty, groups, direction, 20)
    np.testing.assert_allclose(grids[0.05], grids[1.0], rtol=1e-9)
    np.testing.assert_allclose(grids[20.0], grids[1.0], rtol=1e-9)
    assert np.count_nonzero(fit(20.0 * G, b, "l0", tuner="cv", n_lams=20).x) > 0
    for c in (1e-3, 1e3):
        scaled = default_multipliers(*prepare(G, b, L2(weights=c * np.ones(G.shape[1])), None, None), 20)
        plain = default_multipliers(*prepare(G, b, L2(weights=np.ones(G.shape[1])), None, None), 20)
        np.testing.assert_allclose(c * scaled, plain, rtol=1e-9)


def test_split_path_answers_in_the_order_of_the_rows_it_was_given():
    """The path runs in decreasing λ; the held-out losses of an increasing grid came back in the
    path's order, so GridSearch(grid=increasing) paired every λ with another λ's loss."""
    from lamina.inverse.tunable import OperatorProblem
    from lamina.tuners.search import GridSearch
    rng = np.random.default_rng(0)
    A = rng.standard_normal((80, 120))
    x = np.zeros(120)
    x[:6] = 3.0
    b = A @ x + 0.5 * rng.standard_normal(80)
    problem = OperatorProblem(A, b, "l1")
    grid = problem.default_grid(12)[::-1]          # increasing
    split = problem.splits(5)[0]
    path = problem.split_path(grid[:, None], split)
    one_by_one = np.array([OperatorProblem(A, b, "l1").split_loss(np.array([t]), split) for t in grid])
    np.testing.assert_allclose(path, one_by_one, rtol=1e-3)
    chosen = [fit(A, b, "l1", tuner=GridSearch(grid=g.copy(), cv=5)).lam[0] for g in (grid, grid[::-1])]
    assert chosen[0] == pytest.approx(chosen[1])


def test_sure_and_discrepancy_estimate_sigma_with_the_folds_they_are_given():
    from lamina.inverse.noise import estimate_sigma
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 90))
    x = np.zeros(90)
    x[:5] = 3.0
    b = A @ x + rng.standard_normal(60)
    expected = estimate_sigma(A, b, "l1", n_folds=3, seed=7, warn=False).sigma
    assert expected != pytest.approx(estimate_sigma(A, b, "l1", warn=False).sigma)
    for tuner in ("sure", "discrepancy"):
        assert fit(A, b, "l1", tuner=tuner, n_folds=3, seed=7).sigma == pytest.approx(expected)


def test_row_subset_adjoint_with_a_row_taken_twice():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((10, 6))
    rows = np.array([0, 3, 3, 7, 7, 7])
    subset = row_subset(aslinearoperator(A), rows)
    x, y = rng.standard_normal(6), rng.standard_normal(6)
    assert np.dot(subset.matvec(x), y) == pytest.approx(np.dot(x, subset.rmatvec(y)))
    np.testing.assert_allclose(subset.rmatvec(y), A[rows].T @ y)


def test_per_group_sure_names_a_non_finite_start_or_factor():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 10))
    b = A[:, 0] + 0.1 * rng.standard_normal(30)
    groups = Groups.contiguous([5, 5])
    for start in (np.array([np.nan, 1.0]), np.array([np.inf, 1.0]), np.array([1.0])):
        with pytest.raises(ValueError, match="start"):   # was the solver's "lam contains NaN or inf"
            SURECoordinate(sigma=0.1).tune(A, b, L1(), groups, start)
    with pytest.raises(ValueError, match="factors"):       # was accepted, then failed in the solver
        SURECoordinate(sigma=0.1, factors=[0.5, np.nan, 2.0])


def test_run_penalty_labels_each_point_with_its_lambda_whatever_the_grid_order():
    from lamina.inverse import deconvolution
    from lamina.inverse.study import run_penalty
    problem = deconvolution(n_samples=120, n_spikes=6, seed=0)
    grid = np.geomspace(1e-3, 1.0, 6)
    increasing, decreasing = run_penalty(problem, "l1", lams=grid), run_penalty(problem, "l1", lams=grid[::-1])
    np.testing.assert_allclose(increasing.lams, decreasing.lams)
    np.testing.assert_allclose(increasing.errors, decreasing.errors)
    assert increasing.summary()["lam_auto"] == decreasing.summary()["lam_auto"]


@pytest.mark.parametrize("argument", [{"tuner": "gcv"}, {"per_group": "sure"}, {"direction": [5.0]},
                                      {"multipliers": [1.0, 0.1]}])
def test_tuning_arguments_at_a_fixed_lambda_are_refused(argument):
    """At lam=1.0 nothing is tuned: per_group, direction and multipliers were ignored silently (tuner= refused)."""
    rng = np.random.default_rng(0)
    A, b = rng.standard_normal((30, 10)), rng.standard_normal(30)
    with pytest.raises(ValueError, match=f"{next(iter(argument))} applies only with lam='auto'"):
        fit(A, b, "l1", lam=1.0, **argument)
