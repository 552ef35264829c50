"""Noiseless recovery (basis pursuit, IRLS, reweighted L1) and phase transitions."""
import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.sparse.linalg import aslinearoperator
from scipy.special import erfinv

from lamina.inverse import basis_pursuit, donoho_tanner_weak, irls, phase_diagram, recover
from lamina.inverse.phase import sensing_matrix, transition_rho
from lamina.inverse.recover import reweighted_basis_pursuit


def _linprog_bp(A, b, weights=None):
    """min Σ w|x| s.t. Ax = b as an LP (HiGHS): x = u − v, u, v ≥ 0."""
    n = A.shape[1]
    w = np.ones(n) if weights is None else weights
    lp = linprog(np.concatenate([w, w]), A_eq=np.hstack([A, -A]), b_eq=b, bounds=(0, None), method="highs")
    assert lp.status == 0
    return lp.x[:n] - lp.x[n:]


@pytest.mark.parametrize("k", [10, 30])  # below and above the L1 transition for m = 50, n = 100
def test_basis_pursuit_matches_linprog(k):
    rng = np.random.default_rng(k)
    A = rng.standard_normal((50, 100)) / np.sqrt(50)
    x = np.zeros(100)
    x[rng.choice(100, k, replace=False)] = rng.standard_normal(k)
    b = A @ x
    reference = _linprog_bp(A, b)
    result = basis_pursuit(A, b)
    # ADMM converges slowly on the vertex solutions above the transition: after its 5000
    # iterations (k = 30) x is within 0.1 % of the vertex, ‖Ax − b‖/‖b‖ 1.4e-5 (5e-5 and 0.5 %
    # with the absolute residual balancing before 5 December), the L1 value within 1.3e-6
    assert np.abs(result.x).sum() == pytest.approx(np.abs(reference).sum(), rel=2e-6)
    assert result.residual < 1e-4
    # below the transition the polished answer is exact; above it x only to ~1 %
    atol = (1e-8 if k == 10 else 1e-2) * np.max(np.abs(reference))
    np.testing.assert_allclose(result.x, reference, atol=atol)
    success = np.linalg.norm(reference - x) < 1e-6 * np.linalg.norm(x)
    assert success == (k == 10)  # the LP itself fails above the transition: so must we


def test_weighted_basis_pursuit_on_an_operator_matches_linprog():
    rng = np.random.default_rng(7)
    A = rng.standard_normal((40, 90))
    b = A @ np.where(rng.random(90) < 0.3, rng.standard_normal(90), 0.0)
    weights = rng.uniform(0.5, 2.0, 90)
    reference = _linprog_bp(A, b, weights)
    result = basis_pursuit(aslinearoperator(A), b, weights)
    assert np.dot(weights, np.abs(result.x)) == pytest.approx(np.dot(weights, np.abs(reference)), rel=1e-5)


def test_nonconvex_methods_recover_beyond_the_l1_threshold():
    rng = np.random.default_rng(0)
    m, n, k = 60, 120, 27  # ρ = 0.45 > ρ_W(0.5) = 0.386
    hits = {"bp": 0, "irls": 0, "irl1": 0}
    for _ in range(6):
        A = rng.standard_normal((m, n)) / np.sqrt(m)
        x = np.zeros(n)
        x[rng.choice(n, k, replace=False)] = rng.standard_normal(k)
        for method in hits:
            hits[method] += np.linalg.norm(recover(A, A @ x, method=method).x - x) < 1e-4 * np.linalg.norm(x)
    assert hits["irls"] >= 5 and hits["irl1"] >= 4
    assert hits["bp"] < hits["irls"]


def test_recover_defaults_errors_and_operators():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((30, 80))
    x = np.zeros(80)
    x[[1, 20, 50]] = [1.0, -1.0, 2.0]
    assert recover(A, A @ x).method == "irls"
    np.testing.assert_allclose(recover(aslinearoperator(A), A @ x).x, x, atol=1e-8)
    np.testing.assert_allclose(recover(A, A @ x, method="omp").x, x, atol=1e-8)
    np.testing.assert_allclose(reweighted_basis_pursuit(A, A @ x).x, x, atol=1e-8)
    with pytest.raises(ValueError, match="method must be one of"):
        recover(A, A @ x, method="lasso")
    with pytest.raises(ValueError, match="rows but b has"):
        recover(A, np.ones(5))
    with pytest.raises(ValueError, match="p must lie"):
        irls(A, A @ x, p=2.0)
    with pytest.raises(ValueError, match="weights"):
        basis_pursuit(A, A @ x, weights=-np.ones(80))


# ---------------------------------------------------------------------------- phase transition
def _stojnic_weak_threshold(delta):
    """Independent form of the weak threshold (Stojnic 2009): β = k/n solves
    (1 − β) √(2/π) exp(−ε²)/δ − √2 ε = 0 with ε = erfinv((1 − δ)/(1 − β)); ρ = β/δ."""
    from scipy.optimize import brentq

    def equation(beta):
        eps = erfinv((1 - delta) / (1 - beta))
        return (1 - beta) * np.sqrt(2 / np.pi) * np.exp(-eps ** 2) / delta - np.sqrt(2) * eps

    return brentq(equation, 1e-9, delta - 1e-9) / delta


def test_donoho_tanner_curve_against_an_independent_formula_and_known_points():
    deltas = np.array([0.05, 0.1, 0.25, 0.5, 0.75, 0.9])
    ours = donoho_tanner_weak(deltas)
    np.testing.assert_allclose(ours, [_stojnic_weak_threshold(d) for d in deltas], rtol=1e-6)
    assert ours[3] == pytest.approx(0.3857, abs=5e-4)  # ρ_W(1/2)
    assert np.all(np.diff(ours) > 0) and donoho_tanner_weak(1.0) == 1.0
    with pytest.raises(ValueError, match="delta"):
        donoho_tanner_weak(0.0)


def test_transition_rho_interpolates_the_half_crossing():
    assert transition_rho([0.1, 0.2, 0.3], [1.0, 0.75, 0.25]) == pytest.approx(0.25)
    assert np.isnan(transition_rho([0.1, 0.2], [0.2, 0.0]))
    assert transition_rho([0.1, 0.2], [1.0, 1.0]) == 0.2


def test_sensing_matrices_have_unit_norm_columns_on_average():
    rng = np.random.default_rng(0)
    for ensemble in ("gaussian", "bernoulli", "partial_dct"):
        A = sensing_matrix(ensemble, 64, 128, rng)
        assert A.shape == (64, 128)
        assert np.mean(np.sum(A ** 2, axis=0)) == pytest.approx(1.0, rel=0.1)
    with pytest.raises(ValueError, match="ensemble must be one of"):
        sensing_matrix("fourier", 4, 8, rng)


def test_small_phase_diagram_is_monotone_and_brackets_the_theory():
    diagram = phase_diagram("bp", n=60, deltas=[0.5], rhos=[0.15, 0.3, 0.5, 0.7], n_trials=8, seed=1)
    row = diagram.success[0]
    assert row[0] == 1.0 and row[-1] == 0.0
    assert np.all(np.diff(row) <= 0.25)
    assert 0.2 < diagram.transition()[0] < 0.6
    assert diagram.summary()[0]["rho_donoho_tanner"] == pytest.approx(0.3857, abs=5e-4)


@pytest.mark.slow
def test_basis_pursuit_transition_close_to_donoho_tanner_at_n_200():
    rhos = np.linspace(0.25, 0.5, 6)
    diagram = phase_diagram("bp", n=200, deltas=[0.5], rhos=rhos, n_trials=12, seed=0)
    assert abs(diagram.transition()[0] - 0.3857) < 0.06


def test_basis_pursuit_is_scale_equivariant():
    """ρ was rebalanced on the raw residuals, ‖x − z‖ ∝ the data's scale and ρ‖Δz‖ not: at |b| ~
    1e6 ρ doubled every 10 iterations, ADMM ran its 5000 and ended up to 33 % off the minimizer
    (5 of 8 problems). Balanced on the relative residuals, c·b gives c·x in as many iterations
    as b, and x is the linear program's minimizer."""
    from scipy.optimize import linprog
    from lamina.inverse.recover import basis_pursuit
    for seed in range(3):
        rng = np.random.default_rng(seed)
        A = rng.standard_normal((30, 80))
        x = np.zeros(80)
        x[rng.choice(80, 6, replace=False)] = rng.standard_normal(6)
        b = A @ x
        lp = linprog(np.ones(160), A_eq=np.hstack([A, -A]), b_eq=b, bounds=(0, None), method="highs")
        exact = lp.x[:80] - lp.x[80:]
        reference = basis_pursuit(A, b)
        np.testing.assert_allclose(reference.x, exact, atol=1e-7 * np.abs(exact).max())
        for c in (1e-12, 1e6):
            scaled = basis_pursuit(A, c * b)
            assert scaled.n_iter == reference.n_iter
            np.testing.assert_allclose(scaled.x, c * reference.x, rtol=0, atol=1e-8 * c * np.abs(exact).max())


def test_sensing_matrix_names_bad_sizes():
    """m = 0 gave an empty 0 × n matrix (columns of norm 0, not 1), m < 0 numpy's "negative
    dimensions" and m > n for partial_dct numpy's "Cannot take a larger sample than population"."""
    from lamina.inverse.phase import sensing_matrix

    for ensemble in ("gaussian", "bernoulli", "partial_dct"):
        for m in (0, -1):
            with pytest.raises(ValueError, match="m must be >= 1"):
                sensing_matrix(ensemble, m, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"m must be <= n \(10\)"):
        sensing_matrix("partial_dct", 12, 10, np.random.default_rng(0))
    assert sensing_matrix("gaussian", 12, 10, np.random.default_rng(0)).shape == (12, 10)


def test_omp_on_one_measurement_takes_one_atom_by_default():
    A = np.array([[2.0, 0.5, -1.0]])
    rec = recover(A, np.array([4.0]), "omp")
    assert np.allclose(A @ rec.x, [4.0]) and np.count_nonzero(rec.x) == 1
