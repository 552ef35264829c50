"""lamina report re-renders a stored study under the title its command gave it."""
import re

from lamina.cli import main


def test_lamina_report_keeps_the_title_of_the_command(tmp_path):
    """The command wrote "lamina linear — linear-diabetes", lamina report "lamina study — …"."""
    ran = tmp_path / "ran"
    assert main(["linear", "--methods", "sklearn-ridgecv", "--seeds", "1", "--out", str(ran), "--quiet"]) == 0
    assert main(["report", "--storage", str(ran / "study.db"), "--out", str(tmp_path / "again")]) == 0
    title = re.compile(r"<title>(.*?)</title>")
    first = title.search((ran / "report.html").read_text()).group(1)
    assert first == "lamina linear — linear-diabetes"
    assert title.search((tmp_path / "again" / "report.html").read_text()).group(1) == first
