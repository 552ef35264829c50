import json

import numpy as np
import pytest

from lamina.cli import main
from lamina.inverse import deconvolution, ricker
from lamina.inverse.study import discrepancy_index, run_penalty
from lamina.operators import dottest


def test_ricker_is_centred_and_normalized():
    w = ricker(20.0, 0.004)
    assert w.shape[0] % 2 == 1 and w[w.shape[0] // 2] == 1.0
    np.testing.assert_allclose(w, w[::-1])


def test_deconvolution_problem_is_consistent():
    problem = deconvolution(n_samples=600, n_spikes=12, snr_db=30, seed=3)
    dottest(problem.A)
    noise = problem.b - problem.A @ problem.x_true
    assert np.count_nonzero(problem.x_true) == 12
    assert abs(np.std(noise) - problem.sigma) < 0.2 * problem.sigma
    with pytest.raises(ValueError, match="odd length"):
        deconvolution(n_samples=100, wavelet=np.ones(4))


def test_discrepancy_index_picks_largest_lambda_under_target():
    assert discrepancy_index(np.array([5.0, 3.0, 1.0, 0.5]), 2.0) == 2
    assert discrepancy_index(np.array([5.0, 3.0]), 1.0) == 1


def test_l1_path_recovers_spikes():
    problem = deconvolution(n_samples=800, n_spikes=15, snr_db=25, seed=1)
    curve = run_penalty(problem, "l1", n_lams=12)
    assert curve.errors[curve.oracle] < 0.3
    assert curve.errors[curve.chosen] < 2 * curve.errors[curve.oracle]


def test_cli_invert_writes_report(tmp_path, capsys):
    code = main(["invert", "--out", str(tmp_path), "--samples", "600", "--spikes", "10", "--lams", "6",
                 "--penalties", "l1", "l2", "--json", "--quiet"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["penalty"] for row in rows] == ["l1", "l2"]
    page = (tmp_path / "report.html").read_text()
    assert page.count("<img") == 3 and "<table" in page
    for name in ("traces.png", "lambda_curves.png", "convergence.png", "results.json"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("samples", [40, 300])
def test_cli_invert_on_a_trace_shorter_than_the_figure_window(tmp_path, capsys, samples):
    """Traces of 39 to 533 samples failed in the trace figure (a window of 400 samples from a
    quarter of the trace ran past its end) after every path was computed, and nothing was written;
    a trace shorter than the wavelet allows is refused naming what to change."""
    code = main(["invert", "--out", str(tmp_path), "--samples", str(samples), "--spikes", "3", "--lams", "4",
                 "--penalties", "l1", "--json", "--quiet"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)[0]["penalty"] == "l1"
    for name in ("traces.png", "report.html", "results.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert main(["invert", "--out", str(tmp_path / "short"), "--samples", "16", "--quiet"]) == 1
    assert "the wavelet has 39 samples: n_samples must be at least 39 (got 16)" in capsys.readouterr().err


def test_trace_window_stays_inside_the_trace():
    from lamina.report.inverse_figures import trace_window

    assert trace_window(300) == (0, 300)
    assert trace_window(532) == (132, 532)
    assert trace_window(2000) == (500, 900)
    assert trace_window(100, (90, 150)) == (90, 100)
    assert trace_window(100, (150, 200)) == (0, 100)   # nothing of the window inside: the default view


def test_cli_usage_and_runtime_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["invert", "--penalties", "l7"])
    assert exit_info.value.code == 2
    assert main(["invert", "--out", str(tmp_path), "--samples", "4"]) == 1
    assert "n_samples must be >= 16" in capsys.readouterr().err


def test_cli_invert_interpolation_with_a_rule(tmp_path, capsys):
    code = main(["invert", "--problem", "interpolation", "--rule", "gcv", "--traces", "24", "--samples", "64",
                 "--lams", "5", "--penalties", "l1", "--out", str(tmp_path), "--json", "--quiet"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["rule"] == "gcv" and "filled_snr_db" in rows[0]
    assert rows[0]["error_ratio"] >= 1.0
    assert (tmp_path / "gathers.png").stat().st_size > 0


@pytest.mark.slow
def test_cli_sense_writes_phase_report(tmp_path, capsys):
    code = main(["sense", "--out", str(tmp_path), "--n", "30", "--trials", "2", "--deltas", "2", "--rhos", "3",
                 "--signal-length", "128", "--json", "--quiet"])
    assert code == 0
    results = json.loads(capsys.readouterr().out)
    assert {row["method"] for row in results["phase"]} == {"bp", "irls"}
    assert len(results["recovery"]) == 7
    page = (tmp_path / "report.html").read_text()
    assert page.count("<img") == 4
    for name in ("phase.png", "rule_curves.png", "signals.png", "seismogram.png", "results.json"):
        assert (tmp_path / name).stat().st_size > 0


def test_cli_sense_usage_and_runtime_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sense", "--methods", "lasso"])
    assert exit_info.value.code == 2
    assert main(["sense", "--out", str(tmp_path), "--n", "2", "--quiet"]) == 1
    assert "n must be >= 4" in capsys.readouterr().err


def test_cli_study_commands_are_wired(tmp_path, capsys):
    """`lamina linear` runs, stores and reports a study; `lamina report` rebuilds its page; errors exit 1/2."""
    out = tmp_path / "lin"
    assert main(["linear", "--methods", "ridge-auto", "sklearn-ridgecv", "--seeds", "2", "--out", str(out),
                 "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert sorted(row["method"] for row in table["results"]) == ["ridge-auto", "sklearn-ridgecv"]
    assert main(["linear", "--methods", "ridge-auto", "--seeds", "1", "--out", str(out), "--quiet"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["linear", "--methods", "ridge-auto", "sklearn-ridgecv", "--seeds", "2", "--out", str(out),
                 "--resume", "--quiet"]) == 0
    assert main(["report", "--storage", str(out / "study.db"), "--out", str(tmp_path / "page"), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2 and (tmp_path / "page" / "report.html").exists()
    assert main(["report", "--storage", str(tmp_path / "missing.db")]) == 1
    assert "no SQLite file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["nn", "--methods", "grid-search"])
    assert exit_info.value.code == 2


def test_cli_invert_keeps_the_previous_results_whole_when_a_write_fails(tmp_path, capsys, disk_fills_writing):
    """results.json was written in place: a run killed (here: a disk filling) during the write left
    it truncated; it is written beside it and renamed over it now, as the report and figures are."""
    args = ["invert", "--out", str(tmp_path), "--samples", "300", "--spikes", "3", "--lams", "4",
            "--penalties", "l1", "--quiet"]
    assert main(args) == 0
    before = (tmp_path / "results.json").read_bytes()
    disk_fills_writing("results.json")
    assert main(args) == 1
    assert "No space left" in capsys.readouterr().err
    assert (tmp_path / "results.json").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_atomically_writes_through_a_link_keeps_the_mode_and_takes_long_names(tmp_path):
    """write_atomically renamed its temporary file over a symbolic link (the link became a file, and
    the file it named kept the old content), gave an existing file the umask's permissions (a file
    made private came back readable by all), and failed with "File name too long" on a name a plain
    write takes (its temporary name is up to 22 characters longer)."""
    import os
    import stat

    from lamina._files import write_atomically

    target = tmp_path / "kept" / "report.html"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "report.html"
    link.symlink_to(target)
    write_atomically(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    private = tmp_path / "summary.json"
    private.write_text("{}")
    os.chmod(private, 0o600)
    write_atomically(private, "{\"a\": 1}")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600 and private.read_text() == '{"a": 1}'
    long = tmp_path / ("r" * 246 + ".png")   # 250 characters: a plain write takes it
    write_atomically(long, b"png")
    assert long.read_bytes() == b"png"
    assert not [p for p in tmp_path.rglob("*.tmp")]
