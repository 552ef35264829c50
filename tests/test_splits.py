"""One fold splitter (lamina.tuners.splits, scikit-learn's check_cv) in every family: an int K
gives the same seeded folds to linear models, inverse problems and networks; any scikit-learn
splitter is accepted everywhere, trees included."""
import numpy as np
import pytest
import torch
from sklearn.model_selection import KFold, ShuffleSplit

from lamina.groups import as_groups
from lamina.inverse.tunable import KFoldCV, OperatorProblem
from lamina.penalties import make_penalty
from lamina.torch.likelihoods import make_likelihood
from lamina.torch.tunable import NetworkProblem
from lamina.torch.tune import Recipe
from lamina.tuners.linear_data import LinearSpec, Loss, make_folds
from lamina.tuners.splits import cv_splits, kfold_indices


def _old_kfold(n, k, seed):
    """The folds lamina drew before the splitter went through scikit-learn (the numbers of
    benchmarks/RESULTS.md were measured on them)."""
    chunks = np.array_split(np.random.default_rng(seed).permutation(n), k)
    return [np.sort(c) for c in chunks]


@pytest.mark.parametrize("n, k, seed", [(10, 2, 0), (90, 3, 0), (101, 5, 7), (442, 5, 3)])
def test_int_folds_are_scikit_learn_kfold_on_a_seeded_permutation_and_unchanged(n, k, seed):
    pairs = kfold_indices(n, k, seed)
    assert [v.tolist() for _, v in pairs] == [v.tolist() for v in _old_kfold(n, k, seed)]
    for train, val in pairs:
        assert np.intersect1d(train, val).size == 0 and train.size + val.size == n
    assert len(kfold_indices(n, 1, seed)[0][1]) == round(0.2 * n)


def _net_problem(n=40):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    return NetworkProblem(net, (X, y), make_likelihood("classification", torch.device("cpu")),
                          Recipe(epochs=1, lr=1e-2, batch_size=8, seed=4))


def _rows_of(problem_splits, X):
    """Validation row indices of each split, found by matching rows of X."""
    out = []
    for _, (Xv, _) in problem_splits:
        Xv = Xv.numpy() if hasattr(Xv, "numpy") else Xv
        out.append(sorted(int(np.flatnonzero((X == row).all(axis=1))[0]) for row in Xv))
    return out


def test_an_int_gives_the_same_folds_in_every_family():
    n, k, seed = 40, 4, 4
    expected = [v.tolist() for _, v in kfold_indices(n, k, seed)]
    rng = np.random.default_rng(1)
    X = rng.standard_normal((n, 6))
    spec = LinearSpec(make_penalty("l1"), as_groups(None, 6), True, Loss.SQUARED, 1e-8, None, 1)
    linear = make_folds(X, X[:, 0], spec, k, seed)
    assert [np.sort(f.y_val).tolist() for f in linear] == [np.sort(X[v, 0]).tolist() for v in expected]
    inverse = OperatorProblem(X, X[:, 0], seed=seed).splits(k)
    assert [s.val.tolist() for s in inverse] == expected
    net = _net_problem(n)
    assert _rows_of(net.splits(k), net.train[0].numpy()) == expected


def test_every_family_takes_a_scikit_learn_splitter():
    splitter = ShuffleSplit(n_splits=3, test_size=0.25, random_state=0)
    n = 40
    expected = [np.sort(v).tolist() for _, v in splitter.split(np.zeros((n, 1)))]
    assert [np.sort(v).tolist() for _, v in cv_splits(np.zeros((n, 1)), None, splitter)] == expected
    rng = np.random.default_rng(1)
    A = rng.standard_normal((n, 6))
    b = A @ np.r_[1.0, 0, 0, 0, 0, 2.0] + 0.1 * rng.standard_normal(n)
    assert [np.sort(s.val).tolist() for s in OperatorProblem(A, b).splits(splitter)] == expected
    net = _net_problem(n)
    assert _rows_of(net.splits(splitter), net.train[0].numpy()) == expected
    # the inverse rule "cv" with a splitter: held-out error averaged over the rows held out
    result = KFoldCV(n_folds=KFold(4)).tune(A, b, n_lams=6)
    assert result.info["n_folds"] == 4 and np.isfinite(result.curve["score"]).all()
    with pytest.raises(ValueError, match="n_folds"):
        KFoldCV(n_folds=1)
    with pytest.raises(ValueError, match="cv must be"):
        net.splits("three")


def test_tree_tuners_take_a_scikit_learn_splitter():
    from lamina.trees.tuning import make_folds as tree_folds
    from lamina.trees.boosting import BoostSpec, Loss as TreeLoss
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3)).astype(np.float32)
    y = X[:, 0] + 0.1 * rng.standard_normal(60)
    spec = BoostSpec(TreeLoss.SQUARED, n_estimators=2, max_depth=2, learning_rate=0.1)
    splitter = KFold(3)
    folds = tree_folds(X, y, spec, splitter, seed=0)
    assert [f.y_val.tolist() for f in folds] == [y[v].tolist() for _, v in splitter.split(X)]
    assert len(tree_folds(X, y, spec, 3, seed=0)) == 3
    with pytest.raises(ValueError, match="cv must be"):
        tree_folds(X, y, spec, "three", seed=0)
