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
