"""lamina trees: the boosted-trees study on the CLI (storage, report, verdict)."""
import json

import pytest

from lamina.cli import main
from lamina.studies.trees import STRATEGIES


def test_trees_study_runs_every_strategy_and_gives_a_verdict(tmp_path, capsys):
    argv = ["trees", "--task", "wine", "--methods", *STRATEGIES, "--seeds", "2", "--rounds", "8",
            "--out", str(tmp_path), "--json"]
    assert main(argv) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] == [] and out["missing"] == []
    rows = {row["method"]: row for row in out["results"]}
    assert set(rows) == set(STRATEGIES)
    assert all(0 < row["log-loss"]["mean"] < 1.5 for row in rows.values())
    assert out["verdict"].startswith("Verdict:") and "per-depth or round method" in out["verdict"]
    assert "Verdict:" in (tmp_path / "report.html").read_text()
    # resuming the finished study runs nothing and reports the same
    assert main(argv + ["--resume"]) == 0
    assert json.loads(capsys.readouterr().out)["results"] == out["results"]


def test_trees_study_refuses_bad_options(tmp_path, capsys):
    with pytest.raises(SystemExit) as usage:
        main(["trees", "--task", "iris", "--out", str(tmp_path)])
    assert usage.value.code == 2 and "--task" in capsys.readouterr().err


def test_xgboost_cv_loss_is_the_mean_fold_mse():
    # the study had recorded (mean fold RMSE)², short of the mean fold MSE by the RMSEs' variance
    xgb = pytest.importorskip("xgboost")
    import numpy as np

    from lamina.studies import trees as study
    X, y, _, _, kind = study.load_task("diabetes", 0)
    recorded = study._xgb_cv(X, y, kind, 0, 10, 1.0)

    def mse(prediction, data):
        return "mse", float(np.mean((prediction - data.get_label()) ** 2))

    history = xgb.cv({**study._xgb_params(kind, 0, 0), "lambda": 1.0}, xgb.DMatrix(X, label=y),
                     num_boost_round=10, nfold=study.FOLDS, seed=0, custom_metric=mse)
    assert history["test-rmse-std"].iloc[-1] > 1e-3            # folds differ: the two readings differ
    assert recorded == pytest.approx(history["test-mse-mean"].iloc[-1], rel=1e-5)
