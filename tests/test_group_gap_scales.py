"""Group-L1 duality gaps certify the optimum on columns whose norms span twelve orders of magnitude."""
import warnings

import numpy as np
from scipy.optimize import brentq

import lamina
from lamina.groups import Groups
from lamina.penalties import GroupL1
from lamina.solvers.cd import coordinate_descent

SCALES = np.array([1e-6, 1.0, 1e6, 1e3, 1e-3])


def _scaled_problem():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((200, 5)) * SCALES
    y = X @ (1.0 / SCALES) + 0.1 * rng.standard_normal(200)
    return X, y


def _closed_form(Xc, yc, t):
    """One group: w(μ) = (XᵀX/n + μI)⁻¹ Xᵀy/n with μ‖w(μ)‖ = t."""
    n = len(yc)
    gram, corr = Xc.T @ Xc / n, Xc.T @ yc / n
    coef = lambda mu: np.linalg.solve(gram + mu * np.eye(gram.shape[0]), corr)
    mu = brentq(lambda mu: mu * np.linalg.norm(coef(mu)) - t, 1e-30, 1e10, xtol=1e-300, rtol=1e-15)
    return coef(mu)


def test_group_lasso_on_wildly_scaled_features_is_certified_converged():
    """The old gap took its dual point from y − Xw alone: a 2e-16 error in the 1e-6 coefficient of
    the column of norm 1.5e7 moved that column's correlation by 0.05, and the gap stayed at 8e-3
    (a ConvergenceWarning advising max_iter) while the objective equalled the closed form."""
    X, y = _scaled_problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error", lamina.ConvergenceWarning)
        model = lamina.GroupLasso(lam=1e-3).fit(X, y)
    assert model.result_.converged
    Xc, yc = X - X.mean(0), y - y.mean()
    t = 1e-3 * np.sqrt(5)
    objective = lambda w: np.sum((yc - Xc @ w) ** 2) / (2 * len(y)) + t * np.linalg.norm(w)
    assert objective(model.coef_) - objective(_closed_form(Xc, yc, t)) <= 1e-12 * objective(model.coef_)


def test_an_unconverged_group_lasso_iterate_is_still_reported_unconverged():
    """The second dual point is only another bound: the gap read after one epoch of coordinate
    descent on correlated, wildly scaled columns stays above that iterate's distance to the optimum."""
    rng = np.random.default_rng(0)
    common = rng.standard_normal((200, 1))
    X = (rng.standard_normal((200, 6)) + 3 * common) * np.r_[SCALES, 1.0]
    y = X @ (1.0 / np.r_[SCALES, 1.0]) + rng.standard_normal(200)
    lam, groups = np.array([20.0, 20.0, 20.0]), Groups.contiguous([2, 2, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        early = coordinate_descent(X, y, GroupL1(), lam, groups, max_iter=1, max_epochs=1)
        optimum = coordinate_descent(X, y, GroupL1(), lam, groups, tol=1e-12).objective
    assert not early.converged
    assert early.dual_gap >= early.objective - optimum > 1e-3 * optimum
