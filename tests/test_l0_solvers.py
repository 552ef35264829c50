"""L0 solvers (IHT, NIHT, OMP, reweighted L1) against independent references: scikit-learn's
OMP, exact recovery of sparse vectors, fixed points of the prox-gradient map, monotonicity."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.linalg import aslinearoperator
from sklearn.linear_model import OrthogonalMatchingPursuit

import lamina
from lamina import L0, ConvergenceWarning, Groups
from lamina.solvers.iht import iterative_hard_thresholding, normalized_iht
from lamina.solvers.irl1 import reweighted_l1
from lamina.solvers.omp import least_squares_on_support, omp, orthogonal_matching_pursuit

FORMS = {"dense": lambda A: A, "sparse": sp.csc_matrix, "operator": aslinearoperator}


def sparse_problem(seed, n_rows=128, n_features=256, n_nonzero=10, noise=0.0):
    """Gaussian A with N(0, 1/m) entries, k-sparse x with magnitudes ≥ 0.5, b = Ax (+ noise)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n_rows, n_features)) / np.sqrt(n_rows)
    x = np.zeros(n_features)
    support = rng.choice(n_features, n_nonzero, replace=False)
    x[support] = rng.choice([-1.0, 1.0], n_nonzero) * (0.5 + rng.random(n_nonzero))
    b = A @ x + noise * rng.standard_normal(n_rows)
    return A, b, x


def l0_objective(A, b, x, t):
    r = A @ x - b
    return 0.5 * r @ r + np.sum(t * (x != 0))


def single(lam, n):
    return np.array([lam]), Groups.single(n)


# ----------------------------------------------------------------------------- OMP
@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), shape=st.sampled_from([(30, 50), (60, 40), (40, 40)]),
       k=st.integers(1, 15))
def test_omp_matches_sklearn(seed, shape, k):
    rng = np.random.default_rng(seed)
    A, b = rng.standard_normal(shape), rng.standard_normal(shape[0])
    reference = OrthogonalMatchingPursuit(n_nonzero_coefs=k, fit_intercept=False).fit(A, b).coef_
    result = omp(A, b, k)
    assert result.converged and np.count_nonzero(result.x) == k
    np.testing.assert_allclose(result.x, reference, atol=1e-10)
    # the penalized path with a negligible λ, cut at k atoms (so: unconverged), ends there too
    lam, groups = single(1e-14, shape[1])
    with pytest.warns(ConvergenceWarning, match="orthogonal_matching_pursuit"):
        penalized = orthogonal_matching_pursuit(aslinearoperator(A), b, L0(), lam, groups, max_iter=k)
    np.testing.assert_allclose(penalized.x, reference, atol=1e-10)


def test_omp_sparse_matrix_equals_dense():
    A, b, _ = sparse_problem(1, 60, 90, 5, noise=0.1)
    A[np.abs(A) < 0.1] = 0.0
    dense, csc = omp(A, b, 12), omp(sp.csc_matrix(A), b, 12)
    np.testing.assert_allclose(csc.x, dense.x, atol=1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_omp_recovers_sparse_vector(form):
    A, b, x = sparse_problem(0)
    constrained = omp(FORMS[form](A), b)  # stops on the residual, not on a given sparsity
    np.testing.assert_allclose(constrained.x, x, atol=1e-10)
    assert constrained.n_iter == 10
    lam, groups = single(1e-6, A.shape[1])
    penalized = orthogonal_matching_pursuit(FORMS[form](A), b, L0(), lam, groups)
    np.testing.assert_allclose(penalized.x, x, atol=1e-10)
    assert penalized.converged and penalized.n_iter == 10


def test_penalized_omp_returns_best_iterate_of_the_path():
    A, b, _ = sparse_problem(2, 80, 120, 12, noise=0.3)
    t = 0.05
    lam, groups = single(t, A.shape[1])
    result = orthogonal_matching_pursuit(A, b, L0(), lam, groups)
    # independent path: constrained OMP with k atoms, k = 0 .. 80 (= min(m, n))
    path = [0.5 * b @ b] + [l0_objective(A, b, omp(A, b, k).x, t) for k in range(1, 81)]
    best = int(np.argmin(path))
    assert np.count_nonzero(result.x) == best
    np.testing.assert_allclose(result.x, omp(A, b, best).x, atol=1e-10)
    assert np.isclose(result.objective, path[best])
    np.testing.assert_allclose(result.history.objective, path[:len(result.history.objective)])
    # it stopped early, at the first k where every later iterate (penalty ≥ t(k + 1)) is
    # provably no better than the best so far — in particular before ½‖r_k‖² < t
    n_atoms = len(result.history.objective) - 1
    assert result.info["stop_reason"] == "tolerance" and n_atoms < 80
    assert min(path[:n_atoms + 1]) <= t * (n_atoms + 1) + 1e-12 * b @ b
    assert min(path[:n_atoms]) > t * n_atoms + 1e-12 * b @ b
    assert all(path[k] - t * k >= t for k in range(n_atoms))


def test_penalized_omp_unpenalized_columns_are_always_selected():
    A, b, _ = sparse_problem(3, 60, 100, 5)
    weights = np.ones(100)
    weights[[7, 42]] = 0.0
    lam, groups = single(0.5 * np.max(np.abs(A.T @ b)) ** 2, 100)  # large: nothing else pays off
    result = orthogonal_matching_pursuit(A, b, L0(weights=weights), lam, groups)
    np.testing.assert_allclose(result.x, least_squares_on_support(A, b, [7, 42]), atol=1e-12)


def test_omp_warm_start_seeds_support():
    A, b, x = sparse_problem(4)
    lam, groups = single(1e-6, A.shape[1])
    seed_support = np.flatnonzero(x)[:3]
    x0 = np.zeros(A.shape[1])
    x0[seed_support] = 1.0
    result = orthogonal_matching_pursuit(A, b, L0(), lam, groups, x0=x0)
    assert result.info["n_seeded"] == 3
    np.testing.assert_allclose(result.x, x, atol=1e-10)


# ----------------------------------------------------------------------------- IHT
def prox_gradient_map(A, b, x, lipschitz, lam, groups):
    grad = A.T @ (A @ x - b)
    return L0().prox(x - grad / lipschitz, lam, groups, 1.0 / lipschitz)


@pytest.mark.parametrize("polish", [True, False])
@pytest.mark.parametrize("form", FORMS)
def test_iht_fixed_point_and_monotone(form, polish):
    A, b, _ = sparse_problem(5, noise=0.05)
    lam, groups = single(0.02, A.shape[1])
    result = iterative_hard_thresholding(FORMS[form](A), b, L0(), lam, groups, tol=1e-10,
                                         max_iter=20_000, polish=polish)
    assert result.converged
    x, lipschitz = result.x, result.info["lipschitz"]
    mapped = prox_gradient_map(A, b, x, lipschitz, lam, groups)
    np.testing.assert_array_equal(mapped != 0, x != 0)
    np.testing.assert_allclose(mapped, x, rtol=1e-8, atol=1e-10)
    # stationarity: zero gradient on the support, |grad| ≤ √(2 t L) off it
    grad = A.T @ (A @ x - b)
    on = x != 0
    assert np.max(np.abs(grad[on])) <= 1e-6 * np.max(np.abs(A.T @ b))
    assert np.all(np.abs(grad[~on]) <= np.sqrt(2 * 0.02 * lipschitz) * (1 + 1e-12))
    history = np.array(result.history.objective)
    assert np.all(np.diff(history) <= 1e-12 * history[:-1])
    assert np.isclose(result.objective, l0_objective(A, b, x, 0.02))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), lam=st.floats(1e-3, 1.0), n_groups=st.sampled_from([1, 3]))
def test_iht_monotone_fixed_point_random(seed, lam, n_groups):
    rng = np.random.default_rng(seed)
    A, b = rng.standard_normal((20, 30)), rng.standard_normal(20)
    groups = Groups.contiguous([10] * 3) if n_groups == 3 else Groups.single(30)
    lam = lam * (1.0 + rng.random(n_groups))
    result = iterative_hard_thresholding(A, b, L0(), lam, groups, tol=1e-12, max_iter=50_000)
    mapped = prox_gradient_map(A, b, result.x, result.info["lipschitz"], lam, groups)
    np.testing.assert_allclose(mapped, result.x, rtol=1e-8, atol=1e-10)
    history = np.array(result.history.objective)
    assert np.all(np.diff(history) <= 1e-12 * history[:-1])


def test_iht_huge_lambda_gives_zero():
    A, b, _ = sparse_problem(6)
    lam_max = L0().lam_max(A.T @ b, Groups.single(256))
    result = iterative_hard_thresholding(A, b, L0(), np.array([2 * lam_max]), Groups.single(256))
    assert not np.any(result.x) and result.converged


def test_iht_stops_with_warning_when_budget_runs_out():
    A, b, _ = sparse_problem(7, noise=0.05)
    lam, groups = single(0.02, A.shape[1])
    with pytest.warns(ConvergenceWarning, match="iterative_hard_thresholding"):
        result = iterative_hard_thresholding(A, b, L0(), lam, groups, max_iter=2)
    assert not result.converged and result.n_iter == 2


# ----------------------------------------------------------------------------- NIHT
@pytest.mark.parametrize("form", FORMS)
def test_niht_recovers_sparse_vector(form):
    A, b, x = sparse_problem(8)
    result = normalized_iht(FORMS[form](A), b, 10, tol=1e-12)
    assert result.converged
    np.testing.assert_allclose(result.x, x, atol=1e-9)
    residuals = np.array(result.history.objective)
    assert np.all(np.diff(residuals) <= 1e-12 * residuals[:-1])


def test_niht_noisy_keeps_sparsity_and_is_stationary():
    A, b, _ = sparse_problem(9, noise=0.1)
    result = normalized_iht(A, b, 15, tol=1e-10, max_iter=5000)
    support = result.x != 0
    assert np.count_nonzero(support) <= 15
    # a fixed point is least squares on its support
    np.testing.assert_allclose(result.x, least_squares_on_support(A, b, support), atol=1e-7)
    residuals = np.array(result.history.objective)
    assert np.all(np.diff(residuals) <= 1e-12 * residuals[:-1])


def test_niht_warm_start_is_thresholded():
    A, b, x = sparse_problem(10)
    result = normalized_iht(A, b, 10, x0=x + 1e-3, tol=1e-12)
    np.testing.assert_allclose(result.x, x, atol=1e-9)


# ----------------------------------------------------------------------------- IRL1
@pytest.mark.parametrize("form", FORMS)
def test_irl1_recovers_sparse_vector(form):
    A, b, x = sparse_problem(11)
    t = 0.5 * (1e-3 * np.max(np.abs(A.T @ b))) ** 2  # L1 weight at zero = 1e-3 ‖Aᵀb‖∞
    lam, groups = single(t, A.shape[1])
    result = reweighted_l1(FORMS[form](A), b, L0(), lam, groups)
    assert result.converged and result.info["debiased"]
    np.testing.assert_allclose(result.x, x, atol=1e-10)


def test_irl1_surrogate_decreases_and_debiasing_helps():
    A, b, _ = sparse_problem(12, noise=0.05)
    t = 0.01
    lam, groups = single(t, A.shape[1])
    biased = reweighted_l1(A, b, L0(), lam, groups, debias=False, inner_tol=1e-12,
                           eps=0.05, max_iter=30, tol=1e-8)
    surrogate = np.array(biased.info["surrogate"])
    assert np.all(np.diff(surrogate) <= 1e-9 * surrogate[:-1])
    # each iterate solves its weighted lasso: KKT with weights √(2t) ε / (|x_prev| + ε)
    debiased = reweighted_l1(A, b, L0(), lam, groups, inner_tol=1e-12, eps=0.05, max_iter=30)
    np.testing.assert_array_equal(debiased.x != 0, biased.x != 0)
    on = debiased.x != 0
    assert np.max(np.abs(A[:, on].T @ (A @ debiased.x - b))) <= 1e-10
    assert debiased.objective <= l0_objective(A, b, biased.x, t)
    assert np.isclose(debiased.objective, l0_objective(A, b, debiased.x, t))


def test_irl1_first_iteration_is_lasso_with_matching_threshold():
    """One reweighting from 0 is the lasso with λ₁ = √(2t) ‖a_j‖ per column."""
    A, b, _ = sparse_problem(13, noise=0.05)
    t = 0.02
    lam, groups = single(t, A.shape[1])
    with pytest.warns(ConvergenceWarning):
        first = reweighted_l1(A, b, L0(), lam, groups, max_iter=1, debias=False, inner_tol=1e-12)
    weights = np.sqrt(2 * t) * np.linalg.norm(A, axis=0)
    lasso = lamina.solve(A, b, lamina.L1(weights=weights), 1.0, tol=1e-12)
    np.testing.assert_allclose(first.x, lasso.x, atol=1e-8)


def test_irl1_does_not_depend_on_the_columns_scale_and_never_ends_above_zero():
    """The L0 problem ½‖Ax − b‖² + λ‖x‖₀ with columns scaled by D is the same problem in Dx: the
    default solver gives x/D (its L1 weights were √(2λ) whatever the columns' norms: on a 30 × 10
    Gaussian design it kept 6 coefficients, objective 26.7 against 15.9 at x = 0 and 13.8 at the
    optimum). On random designs it never ends above x = 0's objective."""
    rng = np.random.default_rng(6)
    A, b, lam = rng.standard_normal((30, 10)), rng.standard_normal(30), 3.0
    x = lamina.solve(A, b, "l0", lam).x
    assert l0_objective(A, b, x, lam) == pytest.approx(13.834603769570036)      # brute force over supports
    scale = rng.uniform(0.1, 10.0, 10)
    np.testing.assert_allclose(lamina.solve(A * scale, b, "l0", lam).x * scale, x, atol=1e-8)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        A, b = rng.standard_normal((20, 8)) * rng.uniform(0.2, 5.0, 8), rng.standard_normal(20)
        result = lamina.solve(A, b, "l0", float(rng.uniform(0.1, 10.0)))
        assert result.objective <= 0.5 * b @ b + 1e-12


# ----------------------------------------------------------------------------- dispatcher
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("solver,name", [("iht", "iterative_hard_thresholding"),
                                         ("omp", "orthogonal_matching_pursuit"),
                                         ("irl1", "reweighted_l1")])
def test_solve_dispatches_l0_solvers(solver, name, form):
    A, b, x = sparse_problem(14, noise=0.01)
    result = lamina.solve(FORMS[form](A), b, "l0", 0.005, solver=solver)
    assert result.solver == name and result.converged
    np.testing.assert_array_equal(result.x != 0, x != 0)
    assert np.isclose(result.objective, l0_objective(A, b, result.x, 0.005))
    # per-group λ and x0 travel through solve
    groups = Groups.contiguous([128, 128])
    warm = lamina.solve(A, b, "l0", [0.005, 0.005], groups=groups, solver=solver, x0=result.x,
                        max_iter=500 if solver != "irl1" else 10)
    np.testing.assert_allclose(warm.x, result.x, atol=1e-6)


def test_solve_default_l0_solver_is_reweighted_l1():
    A, b, _ = sparse_problem(15, noise=0.01)
    assert lamina.solve(A, b, "l0", 0.005).solver == lamina.solve(A, b, "l0", 0.005, solver="irl1").solver


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad,error,match", [(0, ValueError, "sparsity"), (257, ValueError, "sparsity"),
                                             (2.5, TypeError, "sparsity"), (True, TypeError, "sparsity"),
                                             (-3, ValueError, "sparsity")])
def test_bad_sparsity_raises(bad, error, match):
    A, b, _ = sparse_problem(16)
    with pytest.raises(error, match=match):
        omp(A, b, bad)
    with pytest.raises(error, match=match):
        normalized_iht(A, b, bad)


def test_bad_arguments_raise():
    A, b, _ = sparse_problem(17)
    lam, groups = single(0.01, A.shape[1])
    with pytest.raises(ValueError, match="step"):
        iterative_hard_thresholding(A, b, L0(), lam, groups, step=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        iterative_hard_thresholding(A, b, L0(), lam, groups, max_iter=0)
    with pytest.raises(ValueError, match="eps"):
        reweighted_l1(A, b, L0(), lam, groups, eps=0.0)
    with pytest.raises(ValueError, match="inner_tol"):
        reweighted_l1(A, b, L0(), lam, groups, inner_tol=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        orthogonal_matching_pursuit(A, b, L0(), lam, groups, max_iter=0)
    with pytest.raises(ValueError, match="margin"):
        normalized_iht(A, b, 5, margin=1.5)
    with pytest.raises(ValueError, match="shrink"):
        normalized_iht(A, b, 5, shrink=1.0)
    with pytest.raises(ValueError, match="rows"):
        omp(A, b[:-1], 5)
    with pytest.raises(ValueError, match="x0"):
        normalized_iht(A, b, 5, x0=np.zeros(3))
    with pytest.raises(ValueError, match="tol"):
        omp(A, b, 5, tol=0.0)
    with pytest.raises(ValueError, match="does not handle"):
        lamina.solve(A, b, "l1", 0.1, solver="omp")
    with pytest.raises(TypeError, match="step"):
        lamina.solve(A, b, "l0", 0.1, solver="iht", options={"step": "big"})


def test_callback_stops_and_warns():
    A, b, _ = sparse_problem(18)
    seen = []

    def stop_at_three(iteration, x, objective, criterion):
        seen.append(iteration)
        return iteration >= 3

    with pytest.warns(ConvergenceWarning):
        result = omp(A, b, 10, callback=stop_at_three)
    assert np.count_nonzero(result.x) == 3 and seen == [0, 1, 2, 3]
    with pytest.warns(ConvergenceWarning):
        normalized_iht(A, b, 10, callback=stop_at_three)


def test_least_squares_on_support_remembers_an_operators_columns():
    """Reweighted L1 debiases on nearly the same support at every iteration; on an operator each
    column cost one product with A every time (183,752 products in one `lamina invert --rule cv`)."""
    from scipy.sparse.linalg import LinearOperator

    rng = np.random.default_rng(0)
    M = rng.standard_normal((40, 30))
    calls = []
    counted = LinearOperator(M.shape, matvec=lambda v: calls.append(1) or M @ v, rmatvec=lambda r: M.T @ r,
                             dtype=float)
    b = rng.standard_normal(40)
    columns = {}
    first = least_squares_on_support(counted, b, [2, 5, 9], columns=columns)
    assert len(calls) == 3 and sorted(columns) == [2, 5, 9]
    again = least_squares_on_support(counted, b, [2, 5, 9, 11], columns=columns)
    assert len(calls) == 4                                   # only column 11 was new
    np.testing.assert_allclose(first, least_squares_on_support(M, b, [2, 5, 9]), atol=1e-12)
    np.testing.assert_allclose(again, least_squares_on_support(M, b, [2, 5, 9, 11]), atol=1e-12)
    beyond = {}
    least_squares_on_support(counted, b, list(range(6)), max_columns=5, columns=beyond)   # LSQR: no columns
    assert beyond == {}


def test_path_groups_scaling_and_options_name_what_is_wrong():
    """Messages that used to mislead (a NaN b read as 'no finite λ_max') or came from numpy."""
    from lamina import Groups, scale_weights
    rng = np.random.default_rng(5)
    A, b = rng.standard_normal((40, 15)), rng.standard_normal(40)
    for bad_b, match in ((np.r_[np.nan, b[1:]], r"b contains 1 NaN or inf value"),
                         (b[:10], "A has 40 rows but b has 10 entries")):
        with pytest.raises(ValueError, match=match):
            lamina.regularization_path(A, bad_b, "l1", n_lams=3)
    with pytest.raises(TypeError, match="b"):          # complex: refused, not cut to its real part
        lamina.regularization_path(A, b + 1j, "l1", n_lams=3)
    with pytest.raises(ValueError, match="λ_max is 0 here"):
        lamina.regularization_path(A, np.zeros(40), "l1", n_lams=3)
    for multipliers in (1.0, [], [1.0, -1.0]):
        with pytest.raises(ValueError, match="multipliers must be a non-empty 1-D sequence"):
            lamina.regularization_path(A, b, "l1", multipliers=multipliers)
    groups = Groups.contiguous([2, 3])
    assert groups == Groups.contiguous([2, 3]) and hash(groups) == hash(Groups.contiguous([2, 3]))
    assert groups != Groups.contiguous([3, 2])
    with pytest.raises(IndexError, match="group index -1 out of range"):
        groups.indices(-1)
    with pytest.raises(TypeError, match="one sortable kind"):
        Groups.from_labels([None, None, 1])
    with pytest.raises(ValueError, match="eps"):
        scale_weights("inverse_norm", groups, reference=np.ones(5), eps=0)
    with pytest.raises(TypeError, match=r"options: \['tol'\] are arguments of solve itself"):
        lamina.solve(A, b, "l1", 1.0, options={"tol": 1e-3})


def test_l0_with_an_unpenalized_coefficient_never_ends_below_its_fit_alone():
    """The guard against ending worse than x = 0 (lamina.solve, and IRL1's best iterate) compared
    with x = 0 even where a coefficient is free: OMP from a warm start returned x = 0 at
    objective 88.8 where fitting the free coefficient alone gives 0.113; IRL1 on an operator
    returned x = 0 on some problems. Both compare with the free coefficients' fit now."""
    rng = np.random.default_rng(1)
    A = rng.normal(size=(20, 6))
    b = 3 * A[:, 0] + 0.1 * rng.normal(size=20)
    weights = np.ones(6)
    weights[0] = 0.0
    free_fit = least_squares_on_support(A, b, weights == 0)
    at_free = 0.5 * np.sum((A @ free_fit - b) ** 2)
    for solver in ("omp", "iht", "irl1"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = lamina.solve(A, b, L0(weights), 30.0, solver=solver, x0=np.ones(6))
        assert fit.objective <= at_free + 1e-9 and fit.x[0] != 0, solver
    for seed in range(40):
        rng = np.random.default_rng(seed)
        A = rng.normal(size=(15, 5)) * rng.uniform(0.3, 3, 5)
        b = A @ (rng.normal(size=5) * (rng.random(5) < 0.5)) + 0.3 * rng.normal(size=15)
        weights = np.ones(5)
        weights[0] = 0.0
        lam = rng.uniform(0.01, 0.5) * np.max((A.T @ b) ** 2 / np.sum(A * A, 0))
        fit = lamina.solve(aslinearoperator(A), b, L0(weights), lam, solver="irl1")
        free_fit = least_squares_on_support(A, b, weights == 0)
        assert fit.objective <= 0.5 * np.sum((A @ free_fit - b) ** 2) + 1e-9, seed


def test_l0_optimality_sees_the_gradient_of_a_free_coefficient_at_zero():
    """subdiff_distance called a zero coefficient stationary wherever it was 0, also where its
    weight (or λ_g) is 0 and the penalty is smooth: check_solution accepted x = 0 for
    min ½‖x − b‖² + [x₁≠0] + [x₂≠0] with b = (5, 0, 0)."""
    from lamina.testing import check_solution
    groups = Groups.from_labels([0, 0, 1])
    grad = np.array([5.0, 5.0, 5.0])
    np.testing.assert_array_equal(L0([0.0, 1.0, 1.0]).subdiff_distance(np.zeros(3), grad, np.array([1.0, 1.0]), groups),
                                  [5.0, 0.0, 0.0])
    np.testing.assert_array_equal(L0().subdiff_distance(np.zeros(3), grad, np.array([1.0, 0.0]), groups), [0.0, 0.0, 5.0])
    with pytest.raises(AssertionError, match="not optimal"):
        check_solution(np.eye(3), np.array([5.0, 0.0, 0.0]), np.zeros(3), L0([0.0, 1.0, 1.0]), np.array([1.0]),
                       Groups.single(3))


def test_irl1_on_an_operator_gives_the_explicit_matrixs_answer_at_any_scale():
    """An operator's columns were taken as unit-norm: ``solve(MatrixMult(A), b, "l0")`` kept 51 nonzeros
    (objective 256) where the explicit A kept 8 (52.5), and the answer moved with A's scale."""
    import pylops   # a dependency of lamina
    rng = np.random.default_rng(0)
    A = rng.standard_normal((100, 200))
    x = np.zeros(200)
    x[:8] = 3.0
    b = A @ x + 0.5 * rng.standard_normal(100)
    explicit = lamina.solve(A, b, "l0", 5.0).x
    for scale in (1.0, 10.0):
        operator = lamina.solve(pylops.MatrixMult(scale * A), scale * b, "l0", 5.0 * scale ** 2).x
        np.testing.assert_allclose(operator, explicit, atol=1e-8)
