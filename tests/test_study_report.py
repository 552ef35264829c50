"""The study page: table sorted by the decisive metric, figures present when their data is."""
import math

import numpy as np

from lamina.report.study_report import results_table, storable_curve, write_study_report


def fake_rows():
    rows = []
    for method, base, lam in (("none", 0.30, None), ("cv", 0.20, {"fc1": 1.0, "fc2": 1.0}),
                              ("evidence", 0.10, {"fc1": 3.0, "fc2": 0.5})):
        for seed in range(3):
            metrics = {"objective": base + 0.01 * seed, "accuracy": 0.9, "seconds": 1.0 + seed, "fits": 1}
            if lam:
                metrics["lambdas"] = lam
            if method == "cv":
                metrics["curve"] = storable_curve({"lam": [0.1, 1.0, 10.0], "score": [0.3, 0.2, 0.4]})
            trajectory = [{"step": s, "lambdas": {k: v * (s + 1) for k, v in lam.items()}}
                          for s in range(3)] if lam else []
            rows.append({"cell": f"{method}-{seed}", "params": {"method": method, "seed": seed},
                         "metrics": metrics, "state": "COMPLETE", "trajectory": trajectory})
    rows.append({"cell": "broken-0", "params": {"method": "broken", "seed": 0}, "metrics": {},
                 "state": "FAIL", "error": "RuntimeError: boom", "trajectory": []})
    return rows


def test_results_table_sorts_by_objective_and_reports_spread():
    table = results_table(fake_rows(), metric_label="NLL")
    assert [row["method"] for row in table] == ["evidence", "cv", "none"]
    assert table[0]["NLL"] == "0.11 ± 0.01"
    assert table[0]["seeds"] == 3


def test_report_has_table_and_four_figures(tmp_path):
    page = write_study_report(tmp_path / "r.html", "study", fake_rows(), metric_label="NLL",
                              figure_dir=tmp_path / "fig")
    text = page.read_text()
    assert text.count("<img") == 4 and "Failed cells" in text and "boom" in text
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == ["compute.png", "curves.png", "lambdas.png",
                                                                   "trajectories.png"]


def test_storable_curve_keeps_numeric_lists_only():
    curve = storable_curve({"lam": np.array([1.0, 2.0]), "score": [0.5, None], "folds": [[1, 2], [3, 4]],
                            "criterion": "mse", "one": [1.0]})
    assert set(curve) == {"lam", "score"} and curve["lam"] == [1.0, 2.0] and math.isnan(curve["score"][1])
    assert storable_curve({"lam": [1.0, 2.0]}) is None and storable_curve(None) is None


def test_report_names_the_data_the_metric_was_measured_on(tmp_path):
    """A study scored on validation text (the transformer task) must not call it a test metric."""
    default = write_study_report(tmp_path / "t.html", "study", fake_rows(), metric_label="NLL").read_text()
    assert "test NLL against seconds" in default
    page = write_study_report(tmp_path / "v.html", "study", fake_rows(), metric_label="perplexity",
                              evaluated_on="validation").read_text()
    assert "validation perplexity against seconds" in page and "test perplexity" not in page
    assert "Validation metric against compute" in page


def test_embedded_figures_are_released_by_pyplot():
    """Reports written one after another (a test session, a benchmark) had kept every figure
    open in pyplot (matplotlib's "more than 20 figures" warning)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from lamina.report.html import figure_html
    before = len(plt.get_fignums())
    for _ in range(3):
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        assert "data:image/png;base64," in figure_html(fig, "a line")
    assert len(plt.get_fignums()) == before


def test_a_report_write_that_fails_midway_leaves_the_previous_page_whole(tmp_path):
    """report.html was written in place: a run killed or failing during the write left a
    truncated (here empty) page; it is now written beside it and renamed over it."""
    import os

    import pytest

    from lamina.report.html import write_report
    path = write_report(tmp_path / "report.html", "study", [("Results", "<p>first</p>")])
    before = path.read_text(encoding="utf-8")
    with pytest.raises(UnicodeEncodeError):   # a lone surrogate fails the UTF-8 encoding during the write
        write_report(path, "study", [("Results", "<p>second \ud800</p>")])
    assert path.read_text(encoding="utf-8") == before
    assert os.listdir(tmp_path) == ["report.html"]      # no temporary file left behind
    write_report(path, "study", [("Results", "<p>third</p>")])
    assert "third" in path.read_text(encoding="utf-8") and os.listdir(tmp_path) == ["report.html"]


def test_a_figure_png_write_that_fails_midway_leaves_the_previous_png_whole(tmp_path, disk_fills_writing):
    """figure_html wrote its PNG copy in place: a run killed (here: a disk filling) during the write
    left a truncated PNG; it is now written beside it and renamed over it, as report.html is."""
    import os

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pytest

    from lamina.report.html import figure_html

    def line():
        fig, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        return fig

    png = tmp_path / "lambdas.png"
    figure_html(line(), "a line", png)
    before = png.read_bytes()
    disk_fills_writing("lambdas.png")
    with pytest.raises(OSError, match="No space left"):
        figure_html(line(), "a line", png)
    assert png.read_bytes() == before, "the previous PNG was truncated by the failed write"
    assert os.listdir(tmp_path) == ["lambdas.png"]      # no temporary file left behind
