"""Degrees of freedom of sparse and ridge fits (lamina.inverse.dof) against the exact definitions:
rank of the active columns, trace of the hat matrix."""
import warnings

import numpy as np
import pytest
from scipy.sparse.linalg import aslinearoperator

from lamina.inverse import fit
from lamina.inverse._linops import real_fourier_synthesis, row_subset
from lamina.inverse.candidates import compute_candidates
from lamina.inverse.dof import column_classes, ridge_dof_with_free_columns, support_dof
from lamina.groups import Groups
from lamina.penalties import L1, L2


def masked_fk(shape=(16, 12), kept=100, seed=0):
    """The f-k interpolation operator: a row subset of the real-valued Fourier synthesis (every
    atom twice, at +k and −k), with its dense matrix."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    A = row_subset(real_fourier_synthesis(shape), np.sort(rng.choice(size, kept, replace=False)))
    return A, np.column_stack([A.matvec(e) for e in np.eye(2 * size)])


def test_support_dof_is_the_rank_of_the_active_columns_of_a_redundant_frame():
    A, dense = masked_fk()
    classes = column_classes(A)
    assert np.unique(classes[classes >= 0]).size == 16 * 12    # one class per real atom (± pairs joined)
    rng = np.random.default_rng(1)
    for _ in range(40):
        x = np.zeros(dense.shape[1])
        x[rng.choice(dense.shape[1], rng.integers(1, 150), replace=False)] = rng.standard_normal(1)
        expected = min(np.linalg.matrix_rank(dense[:, x != 0]), A.shape[0])
        assert support_dof(x, classes, A.shape[0]) == expected


def test_column_classes_join_duplicated_and_scaled_columns_of_a_matrix():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((30, 6))
    A = np.column_stack([base, -base[:, 1], 2.5 * base[:, 4], np.zeros(30)])
    classes = column_classes(A)
    assert classes[6] == classes[1] and classes[7] == classes[4] and classes[8] == -1
    assert np.unique(classes[:6]).size == 6
    assert support_dof(np.ones(9), classes, 30) == 6.0


def test_lasso_path_df_counts_twin_atoms_once():
    """The proximal gradient moves both twins of an f-k atom: |support| was up to twice the rank."""
    A, dense = masked_fk()
    rng = np.random.default_rng(2)
    x_true = np.zeros(dense.shape[1])
    x_true[rng.choice(dense.shape[1], 12, replace=False)] = 3 * rng.standard_normal(12)
    b = dense @ x_true + 0.1 * rng.standard_normal(A.shape[0])
    groups = Groups.contiguous([dense.shape[1]])
    path = compute_candidates(A, b, L1(), groups, np.ones(1), np.geomspace(1, 1e-2, 8) * np.max(np.abs(A.rmatvec(b))))
    ranks = [min(np.linalg.matrix_rank(dense[:, x != 0]), A.shape[0]) if np.any(x) else 0 for x in path.coefs]
    np.testing.assert_array_equal(path.dof, ranks)
    assert np.any(np.count_nonzero(path.coefs, axis=1) > path.dof)   # the twins were active


def exact_ridge_dof(A, t, per_coef):
    return [np.trace(A @ np.linalg.pinv(A.T @ A + ti * np.diag(per_coef)) @ A.T) for ti in t]


@pytest.mark.parametrize("as_operator", [False, True])
def test_ridge_dof_with_unpenalized_columns_is_the_trace_of_the_hat_matrix(as_operator):
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 25)) @ np.diag(np.geomspace(1, 1e-2, 25))
    A[:, 0] = 1.0                                   # an intercept
    per_coef = rng.uniform(0.5, 2.0, 25)
    per_coef[[0, 7]] = 0.0
    t = np.geomspace(10, 1e-4, 5)
    exact = exact_ridge_dof(A, t, per_coef)
    if as_operator:
        estimate = ridge_dof_with_free_columns(aslinearoperator(A), t, per_coef, n_probes=200)
        np.testing.assert_allclose(estimate, exact, rtol=0.06)      # Hutchinson s.e. ≈ 1.5 %
    else:
        np.testing.assert_allclose(ridge_dof_with_free_columns(A, t, per_coef), exact, rtol=1e-10)
    with pytest.raises(ValueError, match="per_coef"):
        ridge_dof_with_free_columns(A, t, -per_coef)


@pytest.mark.parametrize("tuner", ["gcv", "sure"])
def test_gcv_and_sure_tune_a_ridge_with_an_unpenalized_intercept(tuner):
    """They raised ("ridge_dof needs a positive strength for every coefficient")."""
    rng = np.random.default_rng(0)
    A = np.hstack([np.ones((80, 1)), rng.standard_normal((80, 30))])
    b = A @ np.r_[3.0, rng.standard_normal(30)] + rng.standard_normal(80)
    weights = np.r_[0.0, np.ones(30)]
    result = fit(A, b, L2(weights=weights), tuner=tuner, sigma=1.0)
    candidates = result.tune.info["candidates"]
    exact = exact_ridge_dof(A, candidates.lams[:, 0], weights)
    np.testing.assert_allclose(candidates.dof, exact, rtol=1e-8)
    assert abs(result.x[0] - 3.0) < 0.5


def test_gcv_and_cv_say_when_they_are_flat_along_the_path():
    """Ridge with orthonormal rows (a masked orthonormal DCT, A Aᵀ = I): GCV = ‖b‖²/m at every λ,
    and a fit on some rows predicts 0 on the others, so the held-out error is ‖b_val‖² at every λ."""
    from scipy.fft import idct

    from lamina.inverse.rules import GCV

    rng = np.random.default_rng(0)
    A = idct(np.eye(64), norm="ortho", axis=0)[np.sort(rng.choice(64, 40, replace=False))]
    b = A @ rng.standard_normal(64)
    path = compute_candidates(A, b, L2(), Groups.contiguous([64]), np.ones(1), np.geomspace(10, 1e-3, 12))
    with pytest.warns(UserWarning, match="GCV is the same at every λ"):
        GCV().select(path, None)
    with pytest.warns(UserWarning, match="cross-validated error is the same at every λ"):
        fit(A, b, "l2", tuner="cv", multipliers=np.geomspace(10, 1e-3, 12))   # A_val A_trᵀ = 0
    rough = compute_candidates(A * np.linspace(0.5, 2, 64), b, L2(), Groups.contiguous([64]), np.ones(1),
                               np.geomspace(10, 1e-3, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        GCV().select(rough, None)


@pytest.mark.parametrize(("options", "error"), [({"n_probes": 0}, ValueError), ({"n_probes": 1.5}, TypeError),
                                                ({"tol": -1e-8}, ValueError), ({"tol": float("nan")}, ValueError)])
def test_column_classes_names_a_bad_argument(options, error):
    with pytest.raises(error, match=next(iter(options))):
        column_classes(np.eye(3), **options)
