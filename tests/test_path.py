import numpy as np
import pytest
from sklearn.linear_model import lasso_path

import lamina
from lamina import Groups, regularization_path, scale_weights


def test_path_matches_sklearn_lasso_path(lasso_problem):
    X, y = lasso_problem
    n = X.shape[0]
    path = regularization_path(X, y, "l1", n_lams=8, eps=1e-2, tol=1e-12)
    alphas, coefs, _ = lasso_path(X, y, alphas=path.multipliers / n, tol=1e-12, max_iter=100_000)
    np.testing.assert_allclose(path.coefs, coefs.T, atol=1e-6)
    assert np.all(path.coefs[0] == 0)  # the grid starts at λ_max
    assert np.count_nonzero(path.coefs[-1]) > 0


@pytest.mark.parametrize("sparse", [False, True])
def test_l0_t_max_refits_the_free_coefficients(rng, sparse):
    # with a free (weight 0) column correlated with b, t_max was read from Aᵀb: 140 against 0.43
    import scipy.sparse as sp
    from lamina import L0
    A = rng.standard_normal((30, 8))
    A[:, 1] += 2 * A[:, 0]
    b = 3 * A[:, 0] + rng.standard_normal(30)
    weights = np.ones(8)
    weights[0] = 0
    projector = np.eye(30) - np.outer(A[:, 0], A[:, 0]) / (A[:, 0] @ A[:, 0])
    r = projector @ b
    expected = max((A[:, j] @ r) ** 2 / (2 * np.sum((projector @ A[:, j]) ** 2)) for j in range(1, 8))
    path = regularization_path(sp.csr_matrix(A) if sparse else A, b, L0(weights=weights), n_lams=3)
    assert np.isclose(path.multipliers[0], expected, rtol=1e-10)
    assert np.count_nonzero(path.coefs[0][1:]) == 0


def test_path_with_group_direction(lasso_problem):
    X, y = lasso_problem
    groups = Groups.contiguous([50, 50, 50])
    direction = scale_weights("sqrt_size", groups)
    path = regularization_path(X, y, "group_l1", groups=groups, direction=direction, n_lams=6)
    assert path.lams.shape == (6, 3)
    assert np.allclose(path.lams[:, 1] / path.lams[:, 0], direction[1] / direction[0])
    assert np.all(np.diff([np.count_nonzero(c) for c in path.coefs]) >= 0)


def test_path_errors(lasso_problem):
    X, y = lasso_problem
    with pytest.raises(ValueError, match="direction"):
        regularization_path(X, y, "l1", groups=Groups.contiguous([75, 75]), direction=[1.0, -1.0])
    with pytest.raises(ValueError, match="eps"):
        lamina.lam_grid(1.0, 5, eps=2.0)
    with pytest.raises(ValueError, match="no finite"):
        regularization_path(X, y, "l2")


def test_nonconvex_path_points_start_cold(lasso_problem):
    X, y = lasso_problem
    path = regularization_path(X, y, "l0", n_lams=4, eps=1e-2)
    for t, result in zip(path.multipliers, path.results):
        alone = lamina.solve(X, y, "l0", t)
        np.testing.assert_allclose(result.x, alone.x)


def test_t_max_refits_the_unpenalized_coefficients():
    """With a coefficient left unpenalized, x = 0 on the penalized ones becomes optimal where Aᵀr
    vanishes at the least-squares fit of the free ones — not where Aᵀb does (1.3 here, not 0.8)."""
    A = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    b = np.array([0.0, 1.0, -0.8])
    path = regularization_path(A, b, lamina.L1(weights=[0, 1]), n_lams=3, tol=1e-12)
    assert path.multipliers[0] == pytest.approx(1.3)
    assert path.coefs[0, 1] == pytest.approx(0.0, abs=1e-12) and path.coefs[1, 1] != 0.0
    free_only = regularization_path(A, np.array([0.0, 1.0, 0.0]), lamina.L1(weights=[0, 1]), n_lams=3)
    assert free_only.multipliers[0] == pytest.approx(0.5)   # Aᵀb's penalized entry is 0, yet λ < 0.5 moves it


def test_l0_t_max_accounts_for_column_norms():
    """One atom pays for itself below (a_jᵀb)² / (2‖a_j‖²): on columns of norm ≈ 0.5 the grid started
    below that (two atoms at its first point); on unit-variance columns it started n times too high."""
    rng = np.random.default_rng(0)
    for scale in (0.1, 1.0):
        A = scale * rng.standard_normal((30, 8))
        b = A[:, :2] @ np.array([3.0, -2.0]) / scale + 0.01 * rng.standard_normal(30)
        path = regularization_path(A, b, "l0", n_lams=4, eps=0.3)
        counts = np.count_nonzero(path.coefs, axis=1)
        assert counts[0] == 0 and counts[1] > 0


@pytest.mark.parametrize("direction", [[1.0, 2.0], [[1.0, 2.0, 3.0]], "1"])
def test_a_bad_direction_is_reported_as_direction(lasso_problem, direction):
    X, y = lasso_problem
    with pytest.raises((ValueError, TypeError), match="direction"):
        regularization_path(X, y, "l1", direction=direction, n_lams=3)


def test_a_scalar_direction_is_one_group(lasso_problem):
    X, y = lasso_problem
    path = regularization_path(X, y, "l1", direction=2.0, n_lams=3)
    assert path.lams.shape == (3, 1)
