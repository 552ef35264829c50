"""Exact block updates of group-L1 coordinate descent: each update against the block problem's
definition, and the solver on blocks whose columns have very different scales."""
import warnings

import numpy as np
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

import lamina
from lamina.groups import Groups
from lamina.penalties import GroupL1
from lamina.solvers._block_kernels import MAX_EXACT_BLOCK, block_spectra, exact_block_values
from lamina.solvers.cd import coordinate_descent


def _block_update(block, residual, current, tau):
    """exact_block_values for one block given as a dense matrix."""
    groups = Groups.single(block.shape[1])
    _, eig_s, eig_v, voff = block_spectra(block, groups)
    out, scratch = np.empty(block.shape[1]), np.empty(block.shape[1])
    exact_block_values(0, block.shape[1], voff[0], current, block.T @ residual, tau, eig_s, eig_v, scratch, out)
    return out


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(2, 6), log_spread=st.floats(0.0, 4.0),
       tau_share=st.floats(0.01, 1.5))
def test_block_update_minimizes_the_block_problem(seed, size, log_spread, tau_share):
    """v = argmin ½‖r + X_g u − X_g v‖² + τ‖v‖, checked by its optimality conditions (v = 0 iff
    ‖X_gᵀ(r + X_g u)‖ ≤ τ; else X_gᵀ(X_g v − r − X_g u) + τ v/‖v‖ = 0) and by the objective of a
    general-purpose minimizer started from v."""
    rng = np.random.default_rng(seed)
    block = rng.standard_normal((30, size)) * 10.0 ** rng.uniform(-log_spread, log_spread, size)
    current, residual = rng.standard_normal(size), rng.standard_normal(30)
    target = residual + block @ current
    tau = tau_share * np.linalg.norm(block.T @ target)
    v = _block_update(block, residual, current, tau)
    scale = np.linalg.norm(block.T @ target)
    if np.linalg.norm(v) == 0:
        assert np.linalg.norm(block.T @ target) <= tau * (1 + 1e-9)
    else:
        stationarity = block.T @ (block @ v - target) + tau * v / np.linalg.norm(v)
        assert np.linalg.norm(stationarity) <= 1e-8 * scale

    def objective(z):
        return 0.5 * np.sum((target - block @ z) ** 2) + tau * np.linalg.norm(z)
    reference = minimize(objective, v + 1e-3 * rng.standard_normal(size), method="Nelder-Mead",
                         options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 20_000})
    assert objective(v) <= reference.fun + 1e-9 * max(1.0, abs(reference.fun))


def test_block_update_on_a_rank_deficient_block_is_finite_and_optimal():
    """Duplicated columns and more columns than samples: the update stays in X_g's row space."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((5, 4))
    block = np.hstack([base, base[:, :2] * 1e3])   # 6 columns of rank 4
    residual, current = rng.standard_normal(5), np.zeros(6)
    for tau in [0.0, 1e-3, 1.0]:
        v = _block_update(block, residual, current, tau)
        assert np.all(np.isfinite(v))
        stationarity = block.T @ (block @ v - residual) + (tau * v / np.linalg.norm(v) if tau else 0)
        assert np.linalg.norm(stationarity) <= 1e-7 * np.linalg.norm(block.T @ residual)


def _badly_scaled_problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 9)) * np.array([1e3, 1.0, 1e-2, 1.0, 5.0, 1e2, 1.0, 1.0, 0.1])
    y = X @ rng.standard_normal(9) / 50 + rng.standard_normal(60)
    return X, y, Groups.contiguous([3, 3, 3]), GroupL1(), np.array([20.0, 5.0, 0.0])


def test_coordinate_descent_meets_kkt_on_badly_scaled_blocks():
    """Column scales 1e-2…1e3 within blocks: converged in a few working-set iterations (with one
    proximal-gradient step per block it stopped at max_iter, far from tol), KKT to 1e-10."""
    X, y, groups, pen, lam = _badly_scaled_problem()
    result = coordinate_descent(X, y, pen, lam, groups, tol=1e-14)
    assert result.converged and result.n_iter <= 5
    assert np.max(pen.subdiff_distance(result.x, X.T @ (X @ result.x - y), lam, groups)) <= 1e-9
    assert np.linalg.norm(result.x[:3]) > 0 and np.linalg.norm(result.x[6:]) > 0


def test_sparse_design_gives_the_dense_solution():
    X, y, groups, pen, lam = _badly_scaled_problem(1)
    dense = coordinate_descent(X, y, pen, lam, groups, tol=1e-14)
    sparse = coordinate_descent(sp.csc_matrix(X), y, pen, lam, groups, tol=1e-14)
    np.testing.assert_allclose(sparse.x, dense.x, rtol=1e-8, atol=1e-12)


def test_blocks_larger_than_the_exact_limit_keep_proximal_gradient_steps():
    """A block over MAX_EXACT_BLOCK stores no eigenvectors, and the
    solver still reaches the same optimum as with exact steps on a well-scaled problem."""
    rng = np.random.default_rng(2)
    n_big = MAX_EXACT_BLOCK + 4
    X = rng.standard_normal((n_big + 10, n_big + 6))
    groups = Groups.contiguous([n_big, 3, 1, 2])
    lipschitz, _, eig_v, voff = block_spectra(X, groups)
    assert list(np.diff(voff)) == [0, 9, 0, 4] and eig_v.size == 13   # only the blocks of 2…MAX_EXACT_BLOCK
    np.testing.assert_allclose(lipschitz, [np.linalg.norm(X[:, groups.indices(g)], 2) ** 2 for g in range(4)])
    np.testing.assert_allclose(block_spectra(sp.csc_matrix(X), groups)[0], lipschitz)
    y = X[:, :5] @ np.ones(5) + rng.standard_normal(n_big + 10)
    pen, lam = GroupL1(), np.array([5.0, 1.0, 1.0, 1.0])
    result = coordinate_descent(X, y, pen, lam, groups, tol=1e-12)
    assert result.converged
    assert np.max(pen.subdiff_distance(result.x, X.T @ (X @ result.x - y), lam, groups)) <= 1e-6


def test_group_lasso_on_unscaled_breast_cancer_converges():
    """The reported case: GroupLasso(lam=1e-4) on breast_cancer as it ships, groups of 5 and 10
    features, ran 100 working-set iterations (43–49 s) and warned, its gap 1e7 × tol."""
    from sklearn.datasets import load_breast_cancer
    X, y = load_breast_cancer(return_X_y=True)
    for size in (5, 10):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = lamina.GroupLasso(lam=1e-4, groups=np.arange(30) // size).fit(X, y.astype(float))
        assert model.n_iter_ <= 20


def test_unpenalized_block_update_is_the_least_squares_solution():
    """τ = 0 (an unpenalized group): the exact update is the block's least-squares solution,
    whatever the columns' scales."""
    rng = np.random.default_rng(3)
    block = rng.standard_normal((20, 4)) * np.array([1e-3, 1.0, 1e2, 1e4])
    residual = rng.standard_normal(20)
    v = _block_update(block, residual, np.zeros(4), 0.0)
    np.testing.assert_allclose(v, np.linalg.lstsq(block, residual, rcond=None)[0], rtol=1e-7)


def test_sparse_and_dense_spectra_agree_on_interleaved_groups():
    """Groups whose columns are interleaved (labels in shuffled order), of sizes 1 to 7: the
    sparse path (Gram blocks accumulated row by row) gives the dense path's X_gᵀX_g."""
    rng = np.random.default_rng(4)
    labels = rng.permutation(np.repeat(np.arange(6), [1, 2, 3, 5, 7, 2]))
    X = sp.random(40, labels.size, density=0.3, format="csr", random_state=4) * 10.0
    groups = Groups.from_labels(labels)
    dense, sparse = block_spectra(X.toarray(), groups), block_spectra(X, groups)
    np.testing.assert_allclose(sparse[0], dense[0], rtol=1e-10)
    for g in range(groups.n_groups):
        size = groups.sizes[g]
        if size == 1:
            continue
        a, b = groups.ptr[g], groups.ptr[g + 1]
        for s, v, voff in (dense[1:], sparse[1:]):
            V = v[voff[g]:voff[g + 1]].reshape(size, size)
            block = X.toarray()[:, groups.indices(g)]
            np.testing.assert_allclose(V @ np.diag(s[a:b]) @ V.T, block.T @ block, atol=1e-9 * np.max(s[a:b]))


def test_spectra_are_the_same_in_small_batches(monkeypatch):
    """Blocks of one size are decomposed in batches of bounded memory; the batching changes nothing."""
    from lamina.solvers import _block_kernels
    rng = np.random.default_rng(5)
    X, groups = rng.standard_normal((50, 40)), Groups.from_labels(rng.integers(0, 9, 40))
    whole = block_spectra(X, groups)
    batches = _block_kernels._batches
    monkeypatch.setattr(_block_kernels, "_batches", lambda sizes, n: batches(sizes, n, max_entries=60))
    for a, b in zip(whole, block_spectra(X, groups)):
        np.testing.assert_array_equal(a, b)
