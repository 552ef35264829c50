"""Phase-transition figures: empirical success probability with the Donoho–Tanner curve."""
from __future__ import annotations

import numpy as np

from lamina.report.inverse_figures import _pyplot


def phase_figure(diagrams: list, theory_points: int = 200):
    """One panel per :class:`~lamina.inverse.phase.PhaseDiagram`: success probability over
    (δ, ρ), its 50 % line, and the Donoho–Tanner weak threshold of L1 (dashed)."""
    from lamina.inverse.phase import donoho_tanner_weak

    plt = _pyplot()
    delta_theory = np.linspace(0.02, 0.99, theory_points)
    rho_theory = donoho_tanner_weak(delta_theory)
    fig, axes = plt.subplots(1, len(diagrams), figsize=(4.3 * len(diagrams), 3.8), squeeze=False)
    for ax, diagram in zip(axes[0], diagrams):
        image = ax.pcolormesh(_edges(diagram.deltas), _edges(diagram.rhos), diagram.success.T,
                              cmap="viridis", vmin=0, vmax=1, shading="flat")
        ax.plot(delta_theory, rho_theory, "w--", lw=1.5, label="Donoho–Tanner (L1)")
        transition = diagram.transition()
        ax.plot(diagram.deltas, transition, "o-", color="C3", ms=3, lw=1, label="50 % success")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("δ = m/n")
        ax.set_ylabel("ρ = k/m")
        ax.set_title(f"{diagram.method}, {diagram.ensemble}, n = {diagram.n}, {diagram.n_trials} trials", fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.85, label="success probability")
    return fig


def _edges(centres):
    centres = np.asarray(centres, float)
    if centres.size == 1:
        return np.array([centres[0] - 0.05, centres[0] + 0.05])
    middle = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])
