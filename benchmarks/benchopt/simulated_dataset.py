"""The benchmark's simulated correlated designs, loadable by benchopt ≥ 1.10.

Same data as ``benchmark_lasso/datasets/simulated.py`` (benchopt's ``make_correlated_data``,
Toeplitz correlation ρ^|i−j|, seed 27); that file does not call ``BaseDataset.__init__``,
which benchopt 1.10 needs, so ``benchmarks/bench_benchopt.py`` passes this one with ``-d``.
"""
from benchopt import BaseDataset
from benchopt import safe_import_context

with safe_import_context() as import_ctx:
    import numpy as np
    from benchopt.datasets.simulated import make_correlated_data


class Dataset(BaseDataset):
    """Gaussian design with correlated columns and a sparse ground truth."""

    name = "Simulated"
    parameters = {"n_samples, n_features": [(100, 5_000), (100, 10_000)], "rho": [0, 0.6]}

    def __init__(self, n_samples=100, n_features=5_000, rho=0.0, random_state=27):
        super().__init__()
        self.n_samples, self.n_features = n_samples, n_features
        self.rho, self.random_state = rho, random_state

    def get_data(self):
        rng = np.random.RandomState(self.random_state)
        X, y, _ = make_correlated_data(self.n_samples, self.n_features, rho=self.rho,
                                       random_state=rng)
        return dict(X=X, y=y)
