"""`lamina linear`: per-group λ against one λ and scikit-learn, stored and reported."""
import argparse
import json

import numpy as np
import pytest

from lamina.studies.commands import add_linear_parser
from lamina.studies.linear import synthetic


def run_json(capsys, *argv):
    parser = argparse.ArgumentParser()
    add_linear_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["linear", *argv])
    code = args.run(args)
    return code, json.loads(capsys.readouterr().out)


def test_diabetes_study(tmp_path, capsys):
    code, out = run_json(capsys, "--methods", "lasso-auto", "ridge-cv", "sklearn-lassocv", "--seeds", "2",
                         "--out", str(tmp_path), "--json")
    assert code == 0 and out["failed"] == []
    rows = {row["method"]: row for row in out["results"]}
    assert set(rows) == {"lasso-auto", "ridge-cv", "sklearn-lassocv"}
    assert "lambdas" not in rows["lasso-auto"]  # dicts are not table columns
    assert (tmp_path / "report.html").exists()


def test_npz_task_with_groups(tmp_path, capsys):
    X, y, groups, _ = synthetic(0, n=120, n_groups=3, size=6)
    np.savez(tmp_path / "d.npz", X=X, y=y, groups=groups)
    code, out = run_json(capsys, "--task", str(tmp_path / "d.npz"), "--methods", "ridge-auto", "--seeds", "1",
                         "--out", str(tmp_path / "o"), "--json")
    assert code == 0 and out["results"][0]["method"] == "ridge-auto"


def test_synthetic_design_has_null_groups_and_known_support():
    X, y, groups, support = synthetic(1)
    assert X.shape == (400, 200) and support.sum() == 30
    assert not support[groups == "g6"].any() and not support[groups == "g7"].any()


def test_unknown_method_is_refused():
    parser = argparse.ArgumentParser()
    add_linear_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["linear", "--methods", "magic"])
