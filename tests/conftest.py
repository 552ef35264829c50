import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def toeplitz_design(n, p, rho, rng):
    """Gaussian design with Toeplitz correlation ρ^|i−j| between features."""
    from scipy.linalg import toeplitz
    cov_sqrt = np.linalg.cholesky(toeplitz(rho ** np.arange(p)))
    return rng.standard_normal((n, p)) @ cov_sqrt.T


@pytest.fixture
def lasso_problem(rng):
    n, p = 60, 150
    X = toeplitz_design(n, p, 0.5, rng)
    w = np.zeros(p)
    w[rng.choice(p, 8, replace=False)] = rng.standard_normal(8) * 3
    y = X @ w + 0.1 * rng.standard_normal(n)
    return X, y
