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


def test_the_grid_tuner_searches_the_multipliers_given():
    """Old behaviour: tuner="grid" dropped multipliers= and searched its own 40 values of t."""
    A, b = _problem()
    multipliers = [0.3, 3.0, 1.0, 10.0, 0.1]
    result = fit(A, b, "l1", tuner="grid", multipliers=multipliers, tol=1e-10)
    np.testing.assert_allclose(result.curve["lam"], sorted(multipliers, reverse=True))
    same_folds = fit(A, b, "l1", tuner="cv", multipliers=multipliers, tol=1e-10)   # the rule on the same grid
    np.testing.assert_allclose(result.lam, same_folds.lam)
    np.testing.assert_allclose(result.x, lamina.solve(A, b, "l1", result.lam, tol=1e-10).x, atol=1e-8)
    given = lamina.tuners.search.GridSearch()
    assert fit(A, b, "l1", tuner=given, multipliers=multipliers).curve["lam"] == sorted(multipliers, reverse=True)
    assert given.grid is None                                            # the user's object unchanged


def test_the_grid_tuner_takes_n_lams_where_it_has_no_size_of_its_own():
    """Old behaviour: tuner="grid" searched 40 values of t whatever n_lams said."""
    A, b = _problem()
    assert len(fit(A, b, "l1", tuner="grid", n_lams=7).curve["lam"]) == 7
    assert len(fit(A, b, "l1", tuner=lamina.tuners.search.GridSearch(n_values=4), n_lams=7).curve["lam"]) == 4


@pytest.mark.parametrize("tuner", ["descent", "evidence", "grid_with_its_own", "grid_with_its_size"])
def test_multipliers_a_tuner_cannot_search_are_refused_by_name(tuner):
    """Old behaviour: the tuner ran on its own λ range and multipliers= went nowhere, unsaid."""
    A, b = _problem()
    if tuner == "grid_with_its_own":
        tuner, match = lamina.tuners.search.GridSearch(grid=[1.0, 0.1]), "multipliers= and the GridSearch's own grid="
    elif tuner == "grid_with_its_size":
        tuner, match = lamina.tuners.search.GridSearch(n_values=3), "multipliers= and the GridSearch's own n_values="
    else:
        match = f"multipliers= .*tuner '{tuner}' searches λ without a grid of t"
    with pytest.raises(ValueError, match=match):
        fit(A, b, "l2" if tuner == "evidence" else "l1", tuner=tuner, multipliers=[1.0, 0.1])
