"""The conformance checks must catch broken pieces (otherwise they prove nothing)."""
import numpy as np
import pytest

from lamina import L1, Groups
from lamina.testing import check_penalty, check_solution, dottest
from scipy.sparse.linalg import LinearOperator


class WrongProxL1(L1):
    def prox(self, x, lam, groups, step):  # forgets the step
        return np.sign(x) * np.maximum(np.abs(x) - self.thresholds(lam, groups), 0.0)


def test_check_penalty_catches_a_wrong_prox():
    with pytest.raises(AssertionError, match="prox"):
        check_penalty(WrongProxL1(), Groups.single(4), np.array([1.0]), step=0.3)


def test_check_solution_catches_a_suboptimal_point(lasso_problem):
    X, y = lasso_problem
    groups = Groups.single(X.shape[1])
    with pytest.raises(AssertionError, match="not optimal"):
        check_solution(X, y, np.zeros(X.shape[1]), L1(), np.array([1.0]), groups)


def test_dottest_catches_a_wrong_adjoint():
    A = np.arange(6.0).reshape(2, 3)
    bad = LinearOperator((2, 3), matvec=lambda v: A @ v, rmatvec=lambda r: A.T @ r * 1.01)
    with pytest.raises(ValueError, match="fails the dot test"):
        dottest(bad)
    good = LinearOperator((2, 3), matvec=lambda v: A @ v, rmatvec=lambda r: A.T @ r)
    assert dottest(good) < 1e-12


def test_dottest_is_pylops_dot_test_seeded_and_leaves_the_global_random_state_alone(monkeypatch):
    """lamina's dottest runs pylops.utils.dottest (seeded), reports the mismatch it saw, and
    NumPy's global generator is where it was before the test."""
    import pylops.utils
    A = np.arange(6.0).reshape(2, 3)
    good = LinearOperator((2, 3), matvec=lambda v: A @ v, rmatvec=lambda r: A.T @ r)
    calls = []
    real = pylops.utils.dottest
    monkeypatch.setattr(pylops.utils, "dottest", lambda *a, **k: calls.append(k) or real(*a, **k))
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    assert dottest(good, n_trials=3, seed=5) < 1e-12 and len(calls) == 3
    assert np.random.rand() == expected_next
    assert dottest(good, seed=5) == dottest(good, seed=5)
    nan = LinearOperator((2, 3), matvec=lambda v: np.full(2, np.nan), rmatvec=lambda r: A.T @ r)
    with pytest.raises(ValueError, match="NaN or inf"):
        dottest(nan)
