"""The transformer study's figure: how the head's shadow copies compared on held-out text.

lamina's decay tuner for the transformer (:mod:`lamina.torch.lm.shadow`) trains copies of the
output head with decays m · λ_ts beside the network and keeps, at the merge step, the
least-decayed copy within two paired standard errors of the best. The figure shows, per seed,
each copy's held-out loss at every tuner update minus the least-decayed copy's (the undecayed
one by default): a decay that pays falls below zero as the network starts to memorize its
training text.
"""
from __future__ import annotations

import numpy as np

from lamina.report.inverse_figures import _pyplot


def shadow_figure(rows: list[dict]):
    """One panel per completed cell that recorded head copies (``metrics["shadow"]``: ``decays``,
    ``heldout`` — one row of per-copy losses per update — and ``choice``); None without any."""
    cells = [r for r in rows if r.get("state") == "COMPLETE" and (r.get("metrics") or {}).get("shadow")
             and (r["metrics"]["shadow"].get("heldout") or [])]
    if not cells:
        return None
    cells.sort(key=lambda r: (str(r["params"].get("strategy")), r["params"].get("seed", 0)))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(cells), figsize=(3.6 * len(cells), 3.0), squeeze=False)
    for ax, row in zip(axes[0], cells):
        shadow = row["metrics"]["shadow"]
        held = np.asarray(shadow["heldout"], dtype=float)
        updates = np.arange(1, held.shape[0] + 1)
        for k, decay in enumerate(shadow["decays"]):
            kept = np.isclose(decay, shadow["choice"])
            ax.plot(updates, held[:, k] - held[:, 0], marker="o", ms=2.5, lw=2.2 if kept else 1.0,
                    label=f"λ = {decay:.3g}" + (" (kept)" if kept else ""))
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.set_xlabel("tuner update (before the merge)")
        ax.set_ylabel("held-out loss − least-decayed copy's (nats)")
        ax.set_title(f"{row['params'].get('strategy')}, seed {row['params'].get('seed')}", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
