"""The HTML report renders in a real headless Chromium from file://: every figure, every table."""
from lamina.cli import main
from lamina.report.browser import check_rendered


def test_inverse_report_renders_every_figure_and_table(browser_available, tmp_path):
    assert main(["invert", "--out", str(tmp_path), "--samples", "600", "--quiet"]) == 0
    page = tmp_path / "report.html"
    rendered = check_rendered(page, screenshot=tmp_path / "shot.png")
    assert rendered["images"] >= 3 and rendered["tables"] >= 1
    assert rendered["broken_images"] == [] and rendered["empty_tables"] == []
    assert (tmp_path / "shot.png").stat().st_size > 10_000


def test_broken_figure_is_detected(browser_available, tmp_path):
    """The probe itself can fail: a page with a broken image and an empty table is flagged."""
    page = tmp_path / "bad.html"
    page.write_text("<html><body><img alt='missing' src='nope.png'>"
                    "<table><thead><tr><th>a</th></tr></thead><tbody></tbody></table></body></html>")
    rendered = check_rendered(page)
    assert rendered["broken_images"] == ["missing"]
    assert rendered["empty_tables"] == ["(table)"]
