"""Solvers stop where rounding, not the tolerance, limits their progress (they never spin to max_iter)."""
import warnings

import numpy as np
import pytest
from scipy.special import expit
from sklearn.datasets import load_breast_cancer

from lamina.groups import Groups
from lamina.penalties import L1
from lamina.solvers.cd import MAX_STALLS, coordinate_descent
from lamina.solvers.logistic import logistic_regression


def _newton_subproblem_near_optimum():
    """The penalized least-squares step of proximal Newton for L1 logistic regression on the
    unscaled breast_cancer features (condition number ≈ 4e5 after the Hessian weights), taken at
    the optimum: its duality gap floors at rounding near 1e-11 (a single ulp of the objective at best),
    far above tol = 1e-18."""
    X, y = load_breast_cancer(return_X_y=True)
    A = np.hstack([X, np.ones((len(y), 1))])
    x = logistic_regression(A, y.astype(float), L1(), np.array([0.5, 0.0]), Groups.contiguous([30, 1]),
                            tol=1e-9, intercept=True).x
    z = A @ x
    prob = expit(z)
    h = np.maximum(prob * (1 - prob), 1e-10)
    v = h / h.sum()
    response = z - (prob - y) / h
    design = (X - v @ X) * np.sqrt(h)[:, None]
    target = np.sqrt(h) * (response - v @ response)
    return design, target, x[:-1]


@pytest.mark.parametrize("face_steps", [True, False])
def test_coordinate_descent_stops_when_epoch_budgets_no_longer_lower_the_gap(face_steps, monkeypatch):
    """With face-Newton steps, two of them that no longer lower the objective end an inner solve
    early; without them (faces too large), whole epoch budgets do."""
    import lamina.solvers.cd as cd
    if not face_steps:
        monkeypatch.setattr(cd, "face_newton_step", lambda *args: None)
    design, target, x0 = _newton_subproblem_near_optimum()
    lam, groups = np.array([0.5]), Groups.single(design.shape[1])
    # (tol 1e-18, below one ulp of the objective ≈ 175: with tol 1e-15 one lucky gap of 5.7e-14 — a
    # single ulp — certified it in a fresh install of 8 December 2026, numpy 2.4.6; the floor is near 1e-11)
    with pytest.warns(Warning, match="tol"):
        stuck = coordinate_descent(design, target, L1(), lam, groups, x0=x0, tol=1e-18, max_iter=60, max_epochs=2000)
    assert not stuck.converged
    assert stuck.n_iter < 60
    if face_steps:
        assert stuck.info["n_epochs"] < 2000
    else:
        assert stuck.info["n_epochs"] >= MAX_STALLS * 2000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loose = coordinate_descent(design, target, L1(), lam, groups, x0=x0, tol=1e-10)
    assert stuck.history.objective[-1] <= loose.history.objective[-1] * (1 + 1e-12)


def test_binary_newton_stops_when_no_step_lowers_the_objective(monkeypatch):
    """Where rounding leaves the Armijo search no decrease, further Newton steps repeat the same
    subproblem: the solver stops (as the multinomial one does) instead of running to max_iter."""
    import lamina.solvers.logistic as logistic

    def no_decrease(x, z, objective, *args):
        return x, z, objective, False

    monkeypatch.setattr(logistic, "armijo_backtrack", no_decrease)
    X, y = load_breast_cancer(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = logistic_regression(X[:, :3], y.astype(float), L1(), np.array([0.5]), Groups.single(3), max_iter=50)
    assert result.n_iter == 1 and not result.converged


@pytest.mark.parametrize("data", ["breast_cancer", "wine"])
def test_newton_sharpens_its_subproblems_on_an_unscaled_column(data):
    """A subproblem's duality gap sees a coordinate's violation v as v²/(2‖B_j‖²): on breast_cancer's
    unscaled "worst area" column (‖B_j‖² ≈ 10⁸) the gap target met the warm start, the Newton step
    never moved and L1 at λ = 10 warned with the relative violation stuck at 4e-4 (wine, three
    classes, the same on its proline column). After a step that does not lower the objective every
    later subproblem is solved closer; the KKT conditions then hold to the tolerance."""
    from sklearn.datasets import load_wine

    from lamina import ConvergenceWarning, LogisticRegression
    X, y = (load_breast_cancer if data == "breast_cancer" else load_wine)(return_X_y=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = LogisticRegression(lam=10.0, penalty="l1").fit(X, y)
    assert not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert model.result_.converged and model.result_.criterion <= 1e-6
