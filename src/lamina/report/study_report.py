"""The page of a study: does a λ per group help, at what compute?

Input is :func:`lamina.studies.study_rows` — one row per finished cell with ``params``
(``method``, ``seed`` and any setting) and ``metrics``. The metrics this page reads, when
present: ``objective`` (the test metric that decides, lower is better), any other numbers
(accuracy, MSE …), ``fits`` and ``seconds`` (compute), and ``lambdas`` (group → λ). A cell's
``trajectory`` steps may carry ``lambdas`` too (λ during training/tuning).

Sections: results table (mean ± std over seeds per method), λ per group for each method as
bars, λ trajectories, test metric against compute, and any extra figures the caller passes.
"""
from __future__ import annotations

import html
import math
import pathlib
from collections import defaultdict

import numpy as np

from lamina.report.html import figure_html, table_html, write_report


def _numeric_metrics(rows: list[dict]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        for key, value in row["metrics"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "pid":
                names.setdefault(key, None)
    return list(names)


def _by_method(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if row.get("state", "COMPLETE") == "COMPLETE":
            grouped[str(row["params"].get("method", row["cell"]))].append(row)
    return dict(grouped)


def _finite(values: list) -> list[float]:
    """The finite numbers among ``values`` (booleans, None, NaN and inf left out)."""
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]


def _stats(values: list) -> dict | None:
    """{"mean", "std"} of the finite numbers among ``values`` (std None for one value)."""
    values = _finite(values)
    if not values:
        return None
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1)) if len(values) > 1 else None}


def _spread_text(stats: dict | None) -> str:
    if stats is None:
        return "—"
    if stats["std"] is None:
        return f"{stats['mean']:.4g}"
    return f"{stats['mean']:.4g} ± {stats['std']:.2g}"


def results_summary(rows: list[dict], metric_label: str = "objective") -> list[dict]:
    """Table rows with numbers: method, n seeds (those with a finite objective; ``not_finite``
    counts the others where there are any), then ``{"mean": …, "std": …}`` of every numeric
    metric (``std`` None for one seed; the metric None when no seed has a finite value).
    Methods are sorted by mean ``objective`` (best first). What ``--json`` prints."""
    grouped = _by_method(rows)
    metrics = _numeric_metrics(rows)
    table = []
    for method, cells in grouped.items():
        objectives = [c["metrics"].get("objective") for c in cells]
        finite = len(_finite(objectives))
        entry = {"method": method, "seeds": finite}   # the seeds the means are over
        if finite < len(cells):
            entry["not_finite"] = len(cells) - finite
        for name in metrics:
            entry[metric_label if name == "objective" else name] = _stats([c["metrics"].get(name) for c in cells])
        objective = _stats(objectives)
        table.append((objective is None, objective["mean"] if objective else 0.0, entry))
    return [entry for *_, entry in sorted(table, key=lambda item: item[:2])]


def results_table(rows: list[dict], metric_label: str = "objective") -> list[dict]:
    """Table rows: method, n seeds, then mean ± std of every numeric metric, as text.

    Methods are sorted by mean ``objective`` (best first).
    """
    return [{key: _seeds_text(entry) if key == "seeds" else value if key == "method" else _spread_text(value)
             for key, value in entry.items() if key != "not_finite"}
            for entry in results_summary(rows, metric_label)]


def _seeds_text(entry: dict):
    """The seeds the means are over; "2 of 3" where a cell's objective was NaN or infinite."""
    missing = entry.get("not_finite", 0)
    return f"{entry['seeds']} of {entry['seeds'] + missing}" if missing else entry["seeds"]


def json_safe(value):
    """``value`` with every non-finite float replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        return json_safe(value.item())
    return value


def _mean_lambdas(cells: list[dict]) -> dict[str, float]:
    collected: dict[str, list[float]] = defaultdict(list)
    for cell in cells:
        for group, value in (cell["metrics"].get("lambdas") or {}).items():
            collected[group].append(float(value))
    # geometric mean over seeds; a group with λ = 0 (unregularized) stays 0 and is not drawn
    return {group: float(np.exp(np.mean(np.log(v)))) if min(v) > 0 else 0.0 for group, v in collected.items()}


def lambda_bars(rows: list[dict]):
    """Grouped bars: λ per group (geometric mean over seeds), one colour per method; None if no λ."""
    import matplotlib.pyplot as plt

    per_method = {m: _mean_lambdas(c) for m, c in _by_method(rows).items()}
    per_method = {m: lam for m, lam in per_method.items() if any(v > 0 for v in lam.values())}
    if not per_method:
        return None
    groups = list(dict.fromkeys(g for lam in per_method.values() for g in lam))
    width = 0.8 / len(per_method)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(groups) + 2), 3.6))
    for k, (method, lam) in enumerate(per_method.items()):
        heights = [lam.get(g, 0.0) or np.nan for g in groups]
        ax.bar(np.arange(len(groups)) + (k - (len(per_method) - 1) / 2) * width, heights, width, label=method)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("λ per group")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def _panels(count: int, per_row: int = 4):
    """A grid of ``count`` readable panels, at most ``per_row`` per row; spare axes hidden."""
    import matplotlib.pyplot as plt

    n_cols = min(count, per_row)
    n_rows = -(-count // per_row)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.2 * n_cols, 3.2 * n_rows), squeeze=False)
    for ax in axes.flat[count:]:
        ax.set_visible(False)
    return fig, axes


def trajectory_plot(rows: list[dict]):
    """λ per group along each tuner's trajectory (first seed of each method); None if none."""
    traced = {}
    for method, cells in _by_method(rows).items():
        steps = [s for s in sorted(cells, key=lambda c: c["cell"])[0].get("trajectory", []) if s.get("lambdas")]
        if len(steps) >= 2 and any(v > 0 for s in steps for v in s["lambdas"].values()):
            traced[method] = steps
    if not traced:
        return None
    fig, axes = _panels(len(traced))
    for ax, (method, steps) in zip(axes.flat, traced.items()):
        for group in steps[-1]["lambdas"]:
            values = [s["lambdas"].get(group, 0.0) or np.nan for s in steps]
            if np.any(np.isfinite(values)):
                ax.plot([s["step"] for s in steps], values, label=group)
        ax.set_yscale("log")
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel("λ")
    axes.flat[len(traced) - 1].legend(fontsize=7)
    fig.tight_layout()
    return fig


_CURVE_X_KEYS = ("lam", "lambda", "t", "multiplier", "iteration", "step", "epoch")


def storable_curve(curve, max_points: int = 400) -> dict | None:
    """The numeric lists of a tuner's ``curve`` (held-out score along its grid or steps), as
    plain floats for the study storage; None when there is nothing to draw."""
    if not isinstance(curve, dict):
        return None
    kept = {}
    for key, values in curve.items():
        array = np.asarray(values, dtype=object) if isinstance(values, (list, tuple, np.ndarray)) else None
        if array is None or array.ndim != 1 or not 2 <= array.size <= max_points:
            continue
        try:
            kept[str(key)] = [float(v) if v is not None else float("nan") for v in array]
        except (TypeError, ValueError):
            continue
    return kept if "score" in kept else None


def curve_plot(rows: list[dict]):
    """Each tuner's held-out score along its path — the λ grid of a CV baseline (a
    regularization path of the validation loss), the steps of an online tuner, Optuna's
    trials — first seed of each method; None if no method recorded one."""
    curves = {}
    for method, cells in _by_method(rows).items():
        curve = sorted(cells, key=lambda c: c["cell"])[0]["metrics"].get("curve")
        if curve and "score" in curve:
            curves[method] = curve
    if not curves:
        return None
    fig, axes = _panels(len(curves))
    for ax, (method, curve) in zip(axes.flat, curves.items()):
        x_key = next((k for k in _CURVE_X_KEYS if k in curve and len(curve[k]) == len(curve["score"])), None)
        x = np.asarray(curve[x_key]) if x_key else np.arange(len(curve["score"]))
        y = np.asarray(curve["score"], dtype=float)
        ax.plot(x, y, marker="o", ms=3)
        if x_key in ("lam", "lambda", "t", "multiplier") and np.all(x > 0):
            ax.set_xscale("log")
        ax.set_xlabel(x_key or "trial")
        ax.set_title(method, fontsize=9)
    axes[0][0].set_ylabel("held-out score")
    fig.tight_layout()
    return fig


def compute_plot(rows: list[dict], metric_label: str = "objective", evaluated_on: str = "test"):
    """The metric (on the ``evaluated_on`` data) against seconds spent, one point per cell, one
    colour per method."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    plotted = False
    for method, cells in _by_method(rows).items():
        points = [(c["metrics"].get("seconds", c.get("seconds")), c["metrics"].get("objective")) for c in cells]
        points = [(s, o) for s, o in points if s is not None and o is not None and math.isfinite(o)]
        if points:
            ax.scatter(*zip(*points), label=method, s=22)
            plotted = True
    if not plotted:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_xlabel("compute (seconds)")
    ax.set_ylabel(f"{evaluated_on} {metric_label}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def completeness(rows: list[dict], expected=None) -> tuple[list[dict], list[str]]:
    """(failed rows, keys of expected cells with no row) — both empty for a complete study."""
    failed = [r for r in rows if r.get("state") == "FAIL"]
    missing = sorted(set(expected or ()) - {r["cell"] for r in rows})
    return failed, missing


def _incomplete_html(rows: list[dict], failed: list[dict], missing: list[str]) -> str:
    total = len(rows) + len(missing)
    parts = [f"{total - len(failed) - len(missing)} of {total} cells completed"]
    if failed:
        parts.append(f"{len(failed)} failed (see Failed cells)")
    if missing:
        parts.append(f"{len(missing)} did not finish: {', '.join(missing[:10])}{' …' if len(missing) > 10 else ''}")
    return (f"<p class='warning'><strong>Incomplete study:</strong> {html.escape('; '.join(parts))}. Means and "
            "seeds in the table count completed cells only; run the study again with --resume to finish it.</p>")


def write_study_report(path, title: str, rows: list[dict], *, metric_label: str = "objective",
                       intro: str = "", extra_sections: list[tuple[str, str]] = (),
                       figure_dir=None, expected=None, evaluated_on: str = "test") -> pathlib.Path:
    """Write the study page to ``path`` (PNG copies of the figures into ``figure_dir``).

    ``evaluated_on`` names the data the metric was measured on ("test"; "validation" for a
    study that scores on its validation text).
    ``expected`` (the keys of every cell of the study) lets the page say when cells are
    missing; failed cells are always listed with their errors. Every string is escaped."""
    import matplotlib.pyplot as plt

    figure_dir = pathlib.Path(figure_dir) if figure_dir else None
    if figure_dir:
        figure_dir.mkdir(parents=True, exist_ok=True)
    failed, missing = completeness(rows, expected)
    sections = [("Results", (_incomplete_html(rows, failed, missing) if failed or missing else "")
                 + table_html(results_table(rows, metric_label),
                              caption=f"mean ± std over seeds; lower {metric_label} is better"))]
    if failed:
        sections.append(("Failed cells", table_html([{"cell": r["cell"], "error": r.get("error")} for r in failed])))
    for heading, maker, name, caption in (
            ("λ per group", lambda_bars, "lambdas.png", "λ per group for each method (geometric mean over seeds)"),
            ("λ trajectories", trajectory_plot, "trajectories.png", "λ per group while each tuner ran"),
            ("Held-out score along each tuner's path", curve_plot, "curves.png",
             "validation score against λ (CV grid: a regularization path) or against the tuner's steps"),
            (f"{evaluated_on.capitalize()} metric against compute",
             lambda r: compute_plot(r, metric_label, evaluated_on), "compute.png",
             f"{evaluated_on} {metric_label} against seconds, one point per seed")):
        figure = maker(rows)
        if figure is not None:
            sections.append((heading, figure_html(figure, caption, figure_dir / name if figure_dir else None)))
            plt.close(figure)
    sections.extend(extra_sections)
    return write_report(path, title, sections, intro)
