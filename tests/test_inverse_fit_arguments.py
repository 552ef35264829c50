"""lamina.inverse.fit's arguments: λ per coefficient, tuner objects, multipliers as given."""
import numpy as np
import pytest

import lamina
from lamina.inverse import fit
from lamina.inverse.rules import GCV


def _problem():
    rng = np.random.default_rng(12)
    A = rng.standard_normal((40, 30))
    x = np.zeros(30)
    x[:4] = 3.0
    return A, A @ x + 0.1 * rng.standard_normal(40)


def test_one_lambda_per_coefficient_without_groups_is_what_solve_computes():
    """A λ per coefficient with groups=None was refused ("one value per group (1)") while
    lamina.solve took it: each coefficient is its own group, in both."""
    A, b = _problem()
    lam = np.linspace(0.5, 3.0, A.shape[1])
    result = fit(A, b, "l1", lam=lam, tol=1e-10)
    np.testing.assert_allclose(result.lam, lam)
    np.testing.assert_allclose(result.x, lamina.solve(A, b, "l1", lam, tol=1e-10).x, rtol=1e-12, atol=1e-12)


def test_an_estimator_tuner_is_refused_naming_tuner_and_the_call_it_needs():
    """lamina.GridCVTuner (the estimators' tuner, tune(X, y, spec)) reached fit's call
    tune(A, b, penalty, groups=...) and failed with a raw TypeError."""
    A, b = _problem()
    with pytest.raises(ValueError, match=r"tuner must be .*GridCVTuner.*tuner='cv'"):
        fit(A, b, "l1", tuner=lamina.GridCVTuner(), n_lams=5)


def test_rule_objects_and_problem_tuners_are_still_taken():
    A, b = _problem()
    assert fit(A, b, "l1", tuner=GCV(), n_lams=5).rule == "gcv"
    assert np.all(np.isfinite(fit(A, b, "l1", tuner=lamina.tuners.search.GridSearch(n_values=3), n_lams=5).x))


@pytest.mark.parametrize("tuner", ["cv", "gcv"])
@pytest.mark.parametrize("multipliers", [[1.0, -0.5], [1.0, np.nan]])
def test_bad_multipliers_are_quoted_as_given(tuner, multipliers):
    """The error showed the values each fold passes on (0.8 × the user's under 5-fold CV: [0.8,
    -0.4]), or sorted ([nan, 1.0]), or blamed lam ("lam contains NaN")."""
    A, b = _problem()
    with pytest.raises(ValueError, match=r"multipliers must be .*got \[1\.0, (-0\.5|nan)\]$"):
        fit(A, b, "l1", tuner=tuner, multipliers=multipliers)
