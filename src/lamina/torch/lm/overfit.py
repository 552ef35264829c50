"""Is the model overfitting *now*? A paired test of the held-out loss against its running minimum.

Given the per-window losses ℓ_k ∈ ℝⁿ of the same n fixed held-out windows at checks k = 1, 2, …,
let b be the check with the lowest mean loss so far. Check k counts as a *rise* when

    d = ℓ_k − ℓ_b  (paired per window),    mean(d) > z · sd(d) / √n,

i.e. the held-out loss is above its best by more than ``z`` standard errors of the paired
difference (the windows are fixed, so the difference measures the model, not a new sample of
text). The detector *triggers* after ``patience`` consecutive rises and stays triggered: the
early-stopping criterion with patience, made significant. A model that is still learning (its
held-out loss keeps falling, as for a capacity-limited model) never triggers it; one that has
started to memorize its training text does.

Examples
--------
>>> import numpy as np
>>> detector = OverfitDetector(z=2.0, patience=2)
>>> base = np.linspace(1.0, 2.0, 16)
>>> [detector.update(base + shift) for shift in (0.0, -0.1, -0.2, 0.1, 0.2)]
[False, False, False, False, True]
"""
from __future__ import annotations

import math

import numpy as np


class OverfitDetector:
    """Running-minimum test of held-out losses on fixed windows, with patience (module doc)."""

    def __init__(self, z: float = 2.0, patience: int = 2):
        if not (isinstance(z, (int, float)) and z >= 0):   # z = inf: never triggers
            raise ValueError(f"z must be a non-negative number, got {z!r}")
        if not (isinstance(patience, int) and patience >= 1):
            raise ValueError(f"patience must be a positive integer, got {patience!r}")
        self.z, self.patience = float(z), patience
        self.best: np.ndarray | None = None
        self.rises, self.triggered, self.checks = 0, False, 0
        self.means: list[float] = []

    def update(self, losses) -> bool:
        """Record one check's per-window held-out losses; True once the detector has triggered."""
        losses = np.asarray(losses, dtype=np.float64).ravel()
        if losses.size < 2 or not np.all(np.isfinite(losses)):
            raise ValueError(f"losses: need at least two finite per-window losses, got {losses.size}")
        if self.best is not None and losses.size != self.best.size:
            raise ValueError(f"losses: {losses.size} windows, the earlier checks had {self.best.size}")
        self.checks += 1
        self.means.append(float(losses.mean()))
        if self.best is None or losses.mean() < self.best.mean():
            self.best, self.rises = losses, 0
            return self.triggered
        diff = losses - self.best
        se = diff.std(ddof=1) / math.sqrt(diff.size)
        significant = math.isfinite(self.z) and diff.mean() > self.z * se
        self.rises = self.rises + 1 if significant else 0
        self.triggered = self.triggered or self.rises >= self.patience
        return self.triggered
