"""Smoothness priors for signals and images sampled on a mask: L2 on derivatives.

For observed samples v on a boolean mask M (diagonal 0/1), the estimate of order k is

    x(λ) = argmin_x ½‖M(x − v)‖² + ½ λ ‖D_k x‖²,   i.e.   (M + λ D_kᵀD_k) x = M v,

with D_k the k-th finite difference (1-D) or, on images, the first differences along both axes
(k = 1, a membrane) or the second differences D_xx, D_yy, √2·D_xy (k = 2, the thin plate), or
with ``axis`` the k-th difference along that image axis alone (k = 1, 2, 3: a 1-D smoothing
spline along every line of that axis, independently — the prior that suits a gather with whole
traces missing, interpolated across the traces at every time sample). It is
a discrete smoothing spline of degree 2k − 1 (Reinsch 1967; Wahba 1990): as λ → 0 it
interpolates the observed samples (linear, cubic, quintic spline for k = 1, 2, 3), larger λ
smooths noise away. λ is expressed in units of 4^k (1-D and along an axis, where ‖D_kᵀD_k‖ → 4^k)
or 2·4^k (images: the membrane's ‖D_1ᵀD_1‖ → 8; the thin plate's → 64, twice its unit), so one
grid serves every order. The system is sparse and banded; one LU per λ.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from lamina._validation import check_positive_int


def _difference(n: int, order: int) -> sp.csr_matrix:
    """The k-th forward difference, shape (n − k, n)."""
    D = sp.identity(n, format="csr")
    for _ in range(order):
        D = (sp.eye(D.shape[0] - 1, D.shape[0], k=1) - sp.eye(D.shape[0] - 1, D.shape[0])) @ D
    return sp.csr_matrix(D)


class SmoothnessPrior:
    """½λ‖D_k x‖² on a 1-D signal or a 2-D image (see the module docstring).

    Parameters
    ----------
    shape : tuple of int
        (n,) or (n_rows, n_cols).
    order : int
        k: 1, 2 or 3 in 1-D; 1 or 2 on images (1, 2 or 3 with ``axis``).
    axis : int, optional
        Images only: penalize the differences along this axis alone (module docstring).

    Examples
    --------
    >>> prior = SmoothnessPrior((50,), order=2)
    >>> t = np.linspace(0, 1, 50); mask = np.zeros(50, bool); mask[::3] = True
    >>> x = prior.solve(mask, np.where(mask, 3 * t - 1, 0.0), [1e-9])[0]   # in D₂'s null space
    >>> bool(np.max(np.abs(x - (3 * t - 1))) < 1e-6)
    True
    """

    def __init__(self, shape, order: int = 2, axis: int | None = None):
        self.shape = tuple(int(s) for s in shape)
        self.order = check_positive_int(order, "order")
        self.axis = axis
        if axis is not None:
            if len(self.shape) != 2 or axis not in (0, 1):
                raise ValueError(f"axis must be 0 or 1 on a 2-D shape, got axis={axis!r} for shape {self.shape}")
            if self.order > 3:
                raise ValueError(f"order must be 1, 2 or 3 along an axis, got {order}")
            n = self.shape[axis]
            D = _difference(n, self.order) if n > self.order else sp.csr_matrix((0, n))
            other = sp.identity(self.shape[1 - axis])
            block = sp.kron(D, other) if axis == 0 else sp.kron(other, D)
            self.penalty = sp.csc_matrix(block.T @ block)
            self.unit = 4.0 ** self.order
        elif len(self.shape) == 1:
            if self.order > 3:
                raise ValueError(f"order must be 1, 2 or 3 for a 1-D signal, got {order}")
            D = _difference(self.shape[0], self.order) if self.shape[0] > self.order else sp.csr_matrix((0, self.shape[0]))
            self.penalty = sp.csc_matrix(D.T @ D)
            self.unit = 4.0 ** self.order
        elif len(self.shape) == 2:
            if self.order > 2:
                raise ValueError(f"order must be 1 or 2 for an image, got {order}")
            rows, cols = self.shape
            I_r, I_c = sp.identity(rows), sp.identity(cols)
            if self.order == 1:
                blocks = [sp.kron(I_r, _difference(cols, 1)), sp.kron(_difference(rows, 1), I_c)]
            else:
                blocks = [sp.kron(I_r, _difference(cols, 2)), sp.kron(_difference(rows, 2), I_c),
                          np.sqrt(2.0) * sp.kron(_difference(rows, 1), _difference(cols, 1))]
            self.penalty = sp.csc_matrix(sum(B.T @ B for B in blocks))
            self.unit = 2.0 * 4.0 ** self.order
        else:
            raise ValueError(f"shape must be 1-D or 2-D, got {self.shape}")
        self.name = f"spline{self.order}" + ("" if axis is None else f":axis{axis}")
        self.group_names = ("smoothness",)

    def solve(self, mask, values, lams) -> list:
        """x(λ) for each λ of ``lams`` (in units of ‖D_kᵀD_k‖); ``values`` full-shape, read on ``mask``."""
        for name, array in (("mask", mask), ("values", values)):
            if np.size(array) != int(np.prod(self.shape)):
                raise ValueError(f"{name} must have the prior's shape {self.shape}, got {np.shape(array)}")
        lams = np.atleast_1d(np.asarray(lams, dtype=float))
        if not np.all(np.isfinite(lams)) or np.any(lams < 0):
            raise ValueError(f"lams must be finite strengths >= 0, got {lams.tolist()}")
        mask = np.asarray(mask, bool).ravel()
        rhs = np.where(mask, np.asarray(values, float).ravel(), 0.0)
        out = []
        for lam in lams:
            strength = float(lam) * self.unit
            # a ridge 10⁻⁸ of the penalty's keeps the system definite when the observed samples do
            # not pin down the penalty's null space (polynomials of degree < k); it moves nothing else
            observed = sp.diags(mask.astype(float) + 1e-8 * strength + 1e-300)
            system = sp.csc_matrix(observed + strength * self.penalty)
            factor = splu(system, permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
            out.append(factor.solve(rhs).reshape(self.shape))
        return out


def smoothing_grid(n_lams: int = 14) -> np.ndarray:
    """Decreasing λ (units of ‖D_kᵀD_k‖) from 10² (nearly a polynomial) to 10⁻⁹ (interpolation)."""
    return np.geomspace(1e2, 1e-9, check_positive_int(n_lams, "n_lams", minimum=2))
