"""`lamina nn`: a network study stored, resumable, reported — on tiny budgets."""
import argparse
import json

import numpy as np
import pytest

pytest.importorskip("torch")

from lamina.studies.commands import add_nn_parser  # noqa: E402


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_nn_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["nn", *argv])


def run_json(capsys, *argv):
    args = parse(*argv)
    code = args.run(args)
    return code, json.loads(capsys.readouterr().out)


def test_digits_study_tiny_budget(tmp_path, capsys):
    code, out = run_json(capsys, "--methods", "none", "uniform", "evidence", "--seeds", "2", "--epochs", "3",
                         "--hidden", "16", "--out", str(tmp_path), "--json")
    assert code == 0 and out["failed"] == []
    assert sorted(row["method"] for row in out["results"]) == ["evidence", "none", "uniform"]
    assert all(row["seeds"] == 2 for row in out["results"])
    page = (tmp_path / "report.html").read_text()
    assert page.count("<img") >= 2 and "evidence" in page
    # resume: nothing reruns, same table
    code, again = run_json(capsys, "--methods", "none", "uniform", "evidence", "--seeds", "2", "--epochs", "3",
                           "--hidden", "16", "--out", str(tmp_path), "--json", "--resume")
    assert code == 0 and again["results"] == out["results"]


def test_user_model_from_module_function(tmp_path, capsys):
    code, out = run_json(capsys, "--task", "nn_tasks:two_branch", "--methods", "none", "evidence",
                         "--seeds", "1", "--epochs", "4", "--out", str(tmp_path), "--json")
    assert code == 0 and len(out["results"]) == 2


def test_user_data_from_npz(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((90, 5))
    y = X @ rng.standard_normal(5) + 0.1 * rng.standard_normal(90)
    np.savez(tmp_path / "data.npz", X_train=X[:60], y_train=y[:60], X_test=X[60:], y_test=y[60:])
    code, out = run_json(capsys, "--task", str(tmp_path / "data.npz"), "--methods", "none", "uniform",
                         "--seeds", "1", "--epochs", "3", "--hidden", "8", "--out", str(tmp_path / "o"), "--json")
    assert code == 0 and {"rmse"} <= set(out["results"][0])


def test_bad_task_and_method_are_named(tmp_path):
    with pytest.raises(SystemExit):
        parse("--methods", "magic")
    args = parse("--task", "nope.npz", "--methods", "none", "--seeds", "1", "--epochs", "1", "--out", str(tmp_path), "--quiet")
    with pytest.raises(ValueError, match="--task: no file"):
        args.run(args)
    args = parse("--task", "nn_tasks:missing", "--methods", "none", "--seeds", "1", "--epochs", "1",
                 "--out", str(tmp_path), "--quiet")
    assert args.run(args) == 1  # the cell raises; its error is stored and the command exits 1
