"""An f-k frame for seismic gathers: the padded 2-D Fourier transform, split into real and imaginary parts.

A gather x (traces × time, or time × traces) made of linear events a·w(t − t₀ − p·x) is sparse in
the frequency–wavenumber (f-k) domain: each event is a line through the origin, k = p·f, over the
band of its wavelet. Trace interpolation by sparsity in f-k (Abma & Kabir 2006; POCS in f-k) is
the industry's standard. As a :class:`~lamina.inverse.dictionaries.Dictionary` (real coefficients,
S Sᵀ = I), with F the orthonormal 2-D DFT of the signal zero-padded to ``nffts`` (PyLops'
``pylops.signalprocessing.FFT2D(dims, nffts=nffts, norm="ortho")``, FᴴF = I on the unpadded
signal since the adjoint crops):

    Sᵀ x = [Re F x; Im F x],      S [a; b] = Re Fᴴ(a + i b),

so S Sᵀ x = Re FᴴF x = x for real x, and ‖Sᵀx‖ = ‖F x‖ = ‖x‖: a Parseval frame (redundancy
2·Π nffts / Π shape). Padding (default twice the shape on each axis) keeps events that run out
of the gather from wrapping around onto the other side. The groups are dyadic bands of the
temporal frequency |f| (index on the padded time axis): {0}, {1}, [2, 4), [4, 8), …, so the
λ per group of :func:`lamina.inverse.reconstruct` is a λ per temporal-frequency band; the real
and imaginary parts of a coefficient are thresholded separately (an ℓ1 on the two parts).
"""
from __future__ import annotations

import numpy as np

from lamina._validation import check_positive_int
from lamina.inverse.dictionaries import Dictionary


class FKFrame(Dictionary):
    """The real f-k frame of a 2-D gather (module docstring).

    Parameters
    ----------
    shape : tuple of int
        (n_rows, n_cols), each ≥ 2.
    time_axis : int
        The axis along which the traces run (0 or 1): the groups are bands of its frequency.
    pad : int
        Padding factor: the FFT length on each axis is ``pad`` × the side.

    Examples
    --------
    >>> frame = FKFrame((8, 16), time_axis=1)
    >>> x = np.random.default_rng(0).standard_normal((8, 16))
    >>> bool(np.allclose(frame.synthesis(frame.analysis(x)), x)), frame.group_names[:3]
    (True, ('dc', 'band1', 'band2'))
    """

    def __init__(self, shape, time_axis: int = 1, pad: int = 2):
        from pylops.signalprocessing import FFT2D

        self.shape = tuple(int(s) for s in shape)
        if len(self.shape) != 2 or min(self.shape) < 2:
            raise ValueError(f"FKFrame needs a 2-D shape with sides >= 2, got {self.shape}")
        if time_axis not in (0, 1):
            raise ValueError(f"time_axis must be 0 or 1, got {time_axis!r}")
        self.time_axis = int(time_axis)
        self.pad = check_positive_int(pad, "pad")
        self.nffts = tuple(self.pad * s for s in self.shape)
        self.operator = FFT2D(dims=self.shape, nffts=self.nffts, norm="ortho", dtype=np.complex128)
        n_time = self.nffts[self.time_axis]
        index = np.arange(n_time)
        frequency = np.minimum(index, n_time - index)                   # |f| on the padded time axis
        band = np.where(frequency == 0, 0, np.floor(np.log2(np.maximum(frequency, 1))).astype(int) + 1)
        per_coef = np.broadcast_to(np.expand_dims(band, 1 - self.time_axis), self.nffts).ravel()
        self.labels = np.tile(per_coef, 2).astype(np.int64)
        self.group_names = tuple(["dc"] + [f"band{k}" for k in range(1, int(band.max()) + 1)])
        self.name = "fk" + ("" if self.time_axis == 1 else ":0")

    def analysis(self, x) -> np.ndarray:
        y = self.operator.matvec(self._signal(x).ravel())
        return np.concatenate([y.real, y.imag])

    def synthesis(self, c) -> np.ndarray:
        c = self._coefficients(c)
        half = c.size // 2
        return self.operator.rmatvec(c[:half] + 1j * c[half:]).real.reshape(self.shape)

    def as_operator(self):
        """S as a real ``pylops.LinearOperator`` (coefficients → flattened signal), for PyLops'
        ``dottest`` and solvers."""
        from pylops import FunctionOperator

        return FunctionOperator(lambda c: self.synthesis(c).ravel(), lambda x: self.analysis(x),
                                int(np.prod(self.shape)), self.n_coefs, dtype="float64", name="S")
