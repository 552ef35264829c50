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


def test_scikit_learn_baselines_record_what_they_tuned():
    """LassoCV and RidgeCV tune one alpha: their cells had stored no λ, so the verdict counted them
    as unregularized and compared the per-group methods with a worse one-λ method (lasso-cv,
    3145.76, where sklearn-lassocv had 3139.63 over 8 seeds). ARD tunes a precision per
    coefficient: a λ per group."""
    from lamina.report.verdict import _kind
    from lamina.studies.linear import run_cell

    class Quiet:
        def log(self, step, **values):
            pass
    kinds = {}
    for strategy in ("sklearn-lassocv", "sklearn-ridgecv", "sklearn-ard"):
        metrics = run_cell({"strategy": strategy, "task": "diabetes", "seed": 0}, Quiet())
        kinds[strategy] = _kind(metrics["lambdas"])
    assert kinds == {"sklearn-lassocv": "one", "sklearn-ridgecv": "one", "sklearn-ard": "per_group"}


def test_verdict_says_which_cells_were_not_finite():
    """A method with an infinite objective on one seed was named best with no word of it, and the
    table counted that seed among those the mean was over."""
    from lamina.report.study_report import results_table
    from lamina.report.verdict import verdict

    def row(method, seed, value, lambdas):
        return {"cell": f"{method}/seed={seed}", "params": {"strategy": method, "method": method, "seed": seed},
                "metrics": {"objective": value, "lambdas": lambdas}, "state": "COMPLETE"}
    one, per = {"a": 1.0, "b": 1.0}, {"a": 1.0, "b": 5.0}
    rows = [row("uni", s, 1.0 + 0.1 * s, one) for s in range(3)] + \
        [row("per", 0, 0.5, per), row("per", 1, float("inf"), per), row("per", 2, 0.6, per)]
    text = verdict(rows, "MSE", "feature group")
    assert "'per' vs best one-λ method 'uni'" in text and "paired over 2 seeds" in text
    assert "Not finite, left out of the means and the pairing: 'per' on 1 of 3 seeds." in text
    assert {r["method"]: r["seeds"] for r in results_table(rows)} == {"per": "2 of 3", "uni": 3}
