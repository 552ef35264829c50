"""optuna-dashboard opens a lamina study: its REST API lists the study and serves every trial
(each cell of a study is one Optuna trial, with its metrics as user attributes)."""
import io
import json
import wsgiref.util

import optuna
import optuna_dashboard  # in the dev extra: the check runs wherever the suite does


def _get(app, path: str) -> tuple[str, object]:
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO(b"")}
    wsgiref.util.setup_testing_defaults(environ)
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status

    body = b"".join(app(environ, start_response))
    return captured["status"], json.loads(body) if body.strip().startswith((b"{", b"[")) else body


def test_dashboard_serves_a_lamina_study(tmp_path):
    from lamina.cli import main
    assert main(["nn", "--methods", "none", "uniform", "--seeds", "2", "--epochs", "2", "--hidden", "8",
                 "--out", str(tmp_path / "study"), "--quiet"]) == 0
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'study' / 'study.db'}")
    app = optuna_dashboard.wsgi(storage)
    status, listing = _get(app, "/api/studies")
    assert status.startswith("200"), status
    studies = listing["study_summaries"]
    assert len(studies) == 1
    study_id = studies[0]["study_id"]
    status, detail = _get(app, f"/api/studies/{study_id}")
    assert status.startswith("200"), status
    trials = detail["trials"]
    assert len(trials) == 4 and all(t["state"] == "Complete" for t in trials)
    attrs = {a["key"] for t in trials for a in t["user_attrs"]}
    assert {"cell", "metrics"} <= attrs
    metrics = [json.loads(a["value"]) for t in trials for a in t["user_attrs"] if a["key"] == "metrics"]
    assert all(isinstance(m["objective"], float) for m in metrics)
