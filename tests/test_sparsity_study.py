"""`lamina nn --task sparsity-…`: (method, sparsity, seed) cells, stored, resumable, reported."""
import argparse
import json

import pytest

pytest.importorskip("torch")

from lamina.report.verdict import sparsity_verdict  # noqa: E402
from lamina.studies import nn_sparsity  # noqa: E402
from lamina.studies.commands import add_nn_parser  # noqa: E402
from lamina.studies.report_command import add_report_parser  # noqa: E402

TINY = ["--task", "sparsity-digits-mlp", "--hidden", "16", "--epochs", "5", "--seeds", "2", "--sparsities", "0.8",
        "0.9", "--methods", "uniform", "global", "one-lambda", "lamina-l1"]


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_nn_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["nn", *argv])


def test_sparsity_study_runs_resumes_and_reports(tmp_path, capsys, monkeypatch):
    import lamina.torch
    fits = []
    real_fit = lamina.torch.fit
    monkeypatch.setattr(lamina.torch, "fit", lambda *a, **k: fits.append(1) or real_fit(*a, **k))
    nn_sparsity._DENSE_CACHE.clear()
    monkeypatch.setattr(nn_sparsity, "_warm_up", lambda task, hidden, device="cpu": None)   # its tiny fit is not a dense run
    args = parse(*TINY, "--out", str(tmp_path), "--json")
    assert args.run(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["failed"] == [] and out["missing"] == []
    labels = {row["method"] for row in out["results"]}
    assert labels == {f"{m} @ {r}%" for m in ("uniform", "global", "one-lambda", "lamina-l1") for r in (80, 90)}
    assert all(row["seeds"] == 2 for row in out["results"])
    for row in out["results"]:                                  # the target is met by every method
        target = float(row["method"].split("@ ")[1].rstrip("%")) / 100
        assert abs(row["sparsity"]["mean"] - target) < 0.01
        assert row["error"]["mean"] == pytest.approx(1 - row["accuracy"]["mean"])
    assert len(fits) == 2                                       # one dense run per seed, shared by 4 cells
    assert out["verdict"].startswith("Verdict") and "at 80% a λ per layer ('lamina-l1')" in out["verdict"]
    assert "vs one λ ('one-lambda')" in out["verdict"] and "the best allocation" in out["verdict"]
    # a ReLU chain: only the product of the per-layer λ is identified (rescaling symmetry), said in the verdict
    assert "Identifiability" in out["verdict"] and "only one combination of the 2" in out["verdict"]
    page = (tmp_path / "report.html").read_text()
    assert "Accuracy at each target sparsity" in page and "acc @ 90%" in page and "Verdict" in page
    # resume: nothing reruns, same numbers; the CLI table has a column per sparsity
    args = parse(*TINY, "--out", str(tmp_path), "--resume")
    assert args.run(args) == 0
    text = capsys.readouterr().out
    assert "acc @ 80%" in text and "acc @ 90%" in text and "lamina-l1" in text and len(fits) == 2
    # lamina report on the stored study: the same table and verdict
    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers(dest="command"))
    report = parser.parse_args(["report", "--storage", str(tmp_path / "study.db"), "--out", str(tmp_path / "r")])
    assert report.run(report) == 0
    page = (tmp_path / "r" / "report.html").read_text()
    assert "Accuracy at each target sparsity" in page and "Verdict" in page
    study = nn_sparsity.accuracy_table([{"params": {"strategy": "global", "sparsity": 0.8, "seed": 0},
                                         "metrics": {"accuracy": 0.5, "sparsity": 0.8, "seconds": 2.0}}])
    assert study == [{"method": "global", "acc @ 80%": "0.500 (0.800)", "time × allocations": "1.00", "seeds": 1}]
    # a cell whose allocations did not finish (seed 1) has no ratio: its seconds are not averaged in
    cell = lambda method, seed, seconds: {"params": {"strategy": method, "sparsity": 0.9, "seed": seed},  # noqa: E731
                                          "metrics": {"accuracy": 0.9, "sparsity": 0.9, "seconds": seconds}}
    mixed = nn_sparsity.accuracy_table([cell("global", 0, 2.0), cell("lamina-l1", 0, 3.0), cell("lamina-l1", 1, 3.0)])
    assert [row["time × allocations"] for row in mixed] == ["1.00", "1.50"]


def test_sparsity_study_bad_input_names_the_argument(tmp_path):
    for argv, match in ((["--sparsities", "1.0"], "--sparsities"), (["--sparsities", "0"], "--sparsities"),
                        (["--methods", "evidence"], "--methods"), (["--epochs", "2"], "--epochs")):
        args = parse(*TINY, *argv, "--out", str(tmp_path), "--quiet")
        with pytest.raises(ValueError, match=match):
            args.run(args)
    args = parse("--task", "sparsity-mnist", "--out", str(tmp_path), "--quiet")
    with pytest.raises(ValueError, match="--task: unknown sparsity task"):
        args.run(args)
    with pytest.raises(SystemExit):
        parse("--task", "sparsity-digits-mlp", "--methods", "random")
    # the L2 study refuses the sparsity methods, naming --methods
    args = parse("--methods", "lamina-l1", "--seeds", "1", "--epochs", "1", "--out", str(tmp_path), "--quiet")
    with pytest.raises(ValueError, match="--methods"):
        args.run(args)


def _rows(values: dict, rho=0.9):
    """Study rows from {method: (per-seed errors, λ per layer)}."""
    return [{"cell": f"{m}/{rho}/{seed}", "state": "COMPLETE",
             "params": {"strategy": m, "sparsity": rho, "seed": seed},
             "metrics": {"objective": e, "lambdas": lam, "fits": 1.0}}
            for m, (errors, lam) in values.items() for seed, e in enumerate(errors)]


def test_sparsity_verdict_calls_each_comparison():
    per, one = {"0.weight": 2.0, "2.weight": 8.0}, {"0.weight": 3.0, "2.weight": 3.0}
    rows = _rows({"lamina-l1": ([0.10, 0.11, 0.12], per), "one-lambda": ([0.10, 0.115, 0.12], one),
                  "global": ([0.20, 0.22, 0.21], {}), "uniform": ([0.30, 0.31, 0.32], {})})
    text = sparsity_verdict(rows)
    assert "at 90% a λ per layer ('lamina-l1')" in text
    assert "vs one λ ('one-lambda') no difference beyond the noise" in text
    assert "vs the best allocation ('global') helped" in text and "paired over 3 seeds" in text
    worse = _rows({"lamina-l1": ([0.30, 0.31, 0.32], per), "one-lambda": ([0.10, 0.11, 0.12], one)}, rho=0.95)
    assert "at 95% a λ per layer ('lamina-l1') vs one λ ('one-lambda') was worse" in sparsity_verdict(worse)
    found = [dict(r, metrics={**r["metrics"], "identifiability": "all 3 δ are identified"}) for r in rows]
    assert sparsity_verdict(found).endswith("scale-free): all 3 δ are identified.")
    assert "Identifiability" not in text
    assert sparsity_verdict(_rows({"global": ([0.2, 0.3], {})})) is None          # nothing per layer
    assert sparsity_verdict(_rows({"lamina-l1": ([0.1], per), "global": ([0.2], {})})).count("too few") == 1


def test_a_workers_warm_up_changes_no_result(monkeypatch):
    """The first cell of a worker process first runs a tiny fit, pruning and tune (their one-off
    costs must not land in a timed cell); the cell's own numbers are those of a warmed process."""
    from lamina.studies import nn_sparsity
    monkeypatch.setattr(nn_sparsity, "_WARMED", set())
    monkeypatch.setattr(nn_sparsity, "_DENSE_CACHE", type(nn_sparsity._DENSE_CACHE)())
    runs = [nn_sparsity.run_method("sparsity-digits-mlp", method, 0.9, 1, epochs=5, hidden=(16,))
            for method in ("global", "lamina-l1", "global", "lamina-l1")]
    assert nn_sparsity._WARMED == {("sparsity-digits-mlp", (16,), "cpu")}
    for first, again in ((runs[0], runs[2]), (runs[1], runs[3])):
        assert first["accuracy"] == again["accuracy"] and first["lambdas"] == again["lambdas"]
