"""Security (issue 16): the report escapes user strings, .npz never unpickles, passwords stay secret."""
import json
import logging
import pathlib

import numpy as np
import pytest

from lamina.cli import main

pytest.importorskip("torch")

EVIL = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
TINY = ["--methods", "none", "--seeds", "1", "--epochs", "2", "--hidden", "4"]


def cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def rendered(page):
    """What a browser makes of the page: title, scripts present, the text of the failed-cells table."""
    from lamina.report.browser import headless_chromium
    with headless_chromium() as driver:
        driver.get(pathlib.Path(page).resolve().as_uri())
        return driver.execute_script(
            "return {title: document.title, scripts: document.scripts.length,"
            " images: Array.from(document.images).map(i => i.getAttribute('src').slice(0, 5)),"
            " h1: document.querySelector('h1').textContent, body: document.body.textContent};")


def test_report_escapes_study_name_and_error_messages(browser_available, tmp_path, capsys):
    code, _, err = cli(capsys, "nn", "--task", "nn_tasks:evil", *TINY, "--study", EVIL, "--out", str(tmp_path / "nn"))
    assert code == 1 and "RuntimeError" in err
    code, _, _ = cli(capsys, "report", "--storage", str(tmp_path / "nn" / "study.db"), "--out", str(tmp_path / "r1"))
    assert code == 0
    code, _, _ = cli(capsys, "nn", "--task", "nn_tasks:tiny", *TINY, "--study", EVIL, "--out", str(tmp_path / "ok"))
    assert code == 0
    code, _, _ = cli(capsys, "report", "--storage", str(tmp_path / "ok" / "study.db"), "--out", str(tmp_path / "r2"))
    assert code == 0
    for page in (tmp_path / "nn" / "report.html", tmp_path / "r1" / "report.html", tmp_path / "r2" / "report.html"):
        text = page.read_text()
        assert "<script" not in text and "onerror=" not in text.replace("onerror=&quot;", "")
        assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in text
        seen = rendered(page)
        assert seen["scripts"] == 0 and seen["title"] != "pwned" and EVIL in seen["title"] and EVIL in seen["h1"]
        assert all(src == "data:" for src in seen["images"])  # no <img src=x> from the study name
    assert EVIL in rendered(tmp_path / "nn" / "report.html")["body"]  # the error, shown as text


class Payload:
    """Unpickling this object would create the file ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def test_npz_tasks_never_unpickle(tmp_path, capsys):
    marker = tmp_path / "pwned"
    bad = np.array([Payload(marker)], dtype=object)
    np.savez(tmp_path / "nn.npz", X_train=bad, y_train=bad, X_test=bad, y_test=bad)
    np.savez(tmp_path / "linear.npz", X=bad, y=bad, groups=bad)
    for command, task in (("nn", "nn.npz"), ("linear", "linear.npz")):
        code, _, err = cli(capsys, command, "--task", str(tmp_path / task), "--seeds", "1", "--out", str(tmp_path / command))
        assert code == 1 and "allow_pickle=False" in err and len(err.splitlines()) == 1, err
    assert not marker.exists()


def test_password_in_storage_url_never_shown(postgres_url, tmp_path, capsys, caplog):
    import optuna
    secret = "s3cret-pw"
    url = postgres_url.replace("postgresql://lamina@", f"postgresql://lamina:{secret}@")
    caplog.set_level(logging.DEBUG)
    code, out, err = cli(capsys, "nn", "--task", "nn_tasks:tiny", *TINY, "--storage", url, "--out", str(tmp_path),
                         "--json")
    assert code == 0 and json.loads(out)["storage"].endswith("studies") and "lamina:***@" in out
    code, out2, err2 = cli(capsys, "report", "--storage", url, "--out", str(tmp_path / "r"))
    assert code == 0
    down = url.rsplit(":", 1)[0].rsplit(":", 1)[0] + f":{secret}@127.0.0.1:1/studies"
    code, out3, err3 = cli(capsys, "nn", "--task", "nn_tasks:tiny", *TINY, "--storage", down, "--out", str(tmp_path))
    assert code == 1 and err3.startswith("lamina nn: error:")
    storage = optuna.storages.RDBStorage(url)
    stored = []
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        system = storage.get_study_system_attrs(storage.get_study_id_from_name(summary.study_name))
        stored.append(json.dumps([study.user_attrs, system,
                                  [(t.user_attrs, t.system_attrs) for t in study.trials]], default=str))
    files = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".html", ".json")]
    for where, text in {"stdout": out + out2 + out3, "stderr": err + err2 + err3, "logs": caplog.text,
                        "study attributes": "".join(stored), "report": "".join(files)}.items():
        assert secret not in text, where
    assert files and stored


def test_help_says_module_function_runs_user_code(capsys):
    for command in ("nn", "linear"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "runs your code" in text and "loaded without pickle" in text
    docs = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text()
    assert "runs the user's code" in docs and "allow_pickle=False" in docs
