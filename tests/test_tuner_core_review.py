"""The generic tuner core (lamina.tuners.search and the problems it tunes): defects found by a review."""
import warnings

import numpy as np
import pytest

from lamina.groups import Groups
from lamina.inverse import fit
from lamina.inverse.tunable import OperatorProblem
from lamina.penalties import make_penalty
from lamina.tuners.linear_data import LinearSpec, Loss
from lamina.tuners.linear_problem import LinearProblem
from lamina.tuners.search import GridSearch, HypergradientSearch


def test_inverse_l2_descent_reaches_the_bottom_of_the_grid_it_scanned():
    """The bounds of an L2 operator problem stopped three decades above the default grid's bottom:
    the descent clipped the scan's best λ (1.1e-4, CV 1.6e-6) up to 0.11 and returned a CV error
    36× worse than a point it had scored."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 10))
    b = A @ rng.standard_normal(10) + 1e-3 * rng.standard_normal(60)
    groups = np.repeat([0, 1], 5)
    problem = OperatorProblem(A, b, "l2", groups, tol=1e-12)
    assert np.all(problem.bounds()[0] <= problem.default_grid(40)[-1] * (1 + 1e-12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = GridSearch(cv=5).tune_problem(OperatorProblem(A, b, "l2", groups, tol=1e-12))
        descent = HypergradientSearch(cv=5).tune_problem(OperatorProblem(A, b, "l2", groups, tol=1e-12))
    assert descent.info["cv_score"] <= grid.info["cv_score"] * (1 + 1e-6)


def test_a_floor_above_a_groups_own_bound_is_clipped_to_it():
    """min_ratio × the largest upper bound could exceed a group's own upper bound (direction
    1e-4 on one group): scipy raised "An upper bound is less than the corresponding lower bound"."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((50, 12))
    x = np.zeros(12)
    x[:3], x[8] = 1.0, 0.5
    b = A @ x + 0.3 * rng.standard_normal(50)
    result = fit(A, b, "l1", groups=np.repeat([0, 1, 2], 4), direction=[1.0, 1.0, 1e-4], lam="auto",
                 per_group="hypergradient")
    assert np.all(np.isfinite(result.lam)) and result.lam.shape == (3,)


def test_starts_that_are_all_one_lambda_search_from_the_paths_best_point():
    """Every start one λ for all ("a point of the path, searched") left no run: min() of an empty
    sequence, after the whole scan had been paid for."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 4)) * np.array([1, 2, 0.5, 1.0])
    y = X @ rng.standard_normal(4) + 2.0 * rng.standard_normal(40)
    spec = LinearSpec(make_penalty("l2"), Groups(np.array([0, 0, 1, 1]), ("g0", "g1")), fit_intercept=False,
                      loss=Loss.SQUARED, tol=1e-10)
    result = HypergradientSearch(cv=5, starts=(("mine", np.array([0.5, 0.5])),)).tune_problem(LinearProblem(X, y, spec))
    assert result.info["chosen_start"] == "path" and np.all(result.lambda_vector > 0)


def test_network_cross_validation_weighs_folds_by_their_held_out_samples():
    """GroupKFold with held-out sizes 24, 3, 3: the criterion was the plain mean over folds
    (1.807) where the linear and inverse problems take the per-sample mean (1.873)."""
    torch = pytest.importorskip("torch")
    from sklearn.model_selection import GroupKFold
    from lamina.torch.likelihoods import make_likelihood
    from lamina.torch.tunable import NetworkProblem
    from lamina.torch.tune import Recipe
    torch.manual_seed(0)
    X = torch.randn(30, 3)
    y = X @ torch.tensor([1.0, -1.0, 0.5]) + 0.3 * torch.randn(30)
    labels = np.r_[np.zeros(24), np.ones(3), 2 * np.ones(3)].astype(int)
    problem = NetworkProblem(torch.nn.Sequential(torch.nn.Linear(3, 1)), (X, y), make_likelihood("gaussian"),
                             Recipe(epochs=5, lr=0.05, batch_size=30))
    splits = problem.splits(list(GroupKFold(3).split(np.zeros((30, 1)), None, labels)))
    values = [problem.split_loss(np.ones(len(problem.names)), split) for split in splits]
    sizes = np.array([split[1][0].shape[0] for split in splits])
    assert sorted(sizes.tolist()) == [3, 3, 24]
    assert problem.criterion(values) == pytest.approx(float(np.dot(sizes, values) / sizes.sum()))
    assert problem.criterion(values) != pytest.approx(float(np.mean(values)))


def test_the_descent_says_when_it_stopped_on_its_budget_and_counts_the_evidence_start():
    """The descent's info did not say whether it ended on its evaluation budget (max_evals=2: the
    returned λ had |dV/dlog λ| = 0.085); the linear hypergradient tuner left its evidence start's
    fits out of its compute (140 reported, 146 spent)."""
    from lamina.tuners.linear_hypergradient import HypergradientTuner
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 4)) * np.array([1, 2, 0.5, 1.0])
    y = X @ rng.standard_normal(4) + 2.0 * rng.standard_normal(40)
    spec = LinearSpec(make_penalty("l2"), Groups(np.array([0, 0, 1, 1]), ("g0", "g1")), fit_intercept=False,
                      loss=Loss.SQUARED, tol=1e-10)
    short = HypergradientSearch(cv=5, max_evals=2).tune_problem(LinearProblem(X, y, spec))
    long = HypergradientSearch(cv=5, max_evals=60).tune_problem(LinearProblem(X, y, spec))
    assert short.info["budget_spent"] and not long.info["budget_spent"]
    both = HypergradientTuner(cv=5, starts=("path", "evidence")).tune(X, y, spec)
    path_only = HypergradientTuner(cv=5, starts=("path",)).tune(X, y, spec)
    assert both.compute.fits > path_only.compute.fits and both.compute.fits % 5 != 0


def test_groups_with_one_name_twice_are_refused_before_any_fit():
    """Groups([0, 0, 1, 1], ("a", "a")) tuned to the end, then the result's dict of λ per name
    held one value for two groups: "lam must … have one value per group (2), got shape (1,)"."""
    import lamina
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((30, 4)), rng.standard_normal(30)
    with pytest.raises(ValueError, match="names must be distinct"):
        lamina.Lasso(groups=Groups(np.array([0, 0, 1, 1]), ("a", "a")), lam="auto", tuner="descent").fit(X, y)
