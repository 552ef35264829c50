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
