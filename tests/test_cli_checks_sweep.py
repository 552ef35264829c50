"""Command-line checks found by a sweep: a bad --out fails before any cell runs, an absurd
--seeds is refused before the cells are enumerated, a boolean .npz X is a valid linear task."""
import numpy as np
import pytest

from lamina.cli import build_parser, main

TINY = ["--methods", "sklearn-ridgecv", "--seeds", "1", "--quiet"]


@pytest.fixture
def task(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    y = X @ [1.0, 0.0, 2.0, 0.0] + 0.1 * rng.standard_normal(40)
    path = tmp_path / "ok.npz"
    np.savez(path, X=X, y=y, groups=np.array(["a", "a", "b", "b"]))
    return str(path)


def never_run(*args, **kwargs):
    raise AssertionError("the study ran")


@pytest.mark.parametrize("storage", [False, True])
def test_out_that_is_a_file_is_refused_before_any_cell(tmp_path, task, capsys, monkeypatch, storage):
    monkeypatch.setattr("lamina.studies.runner.run_study", never_run)
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    extra = ["--storage", str(tmp_path / "s.db")] if storage else []
    assert main(["linear", "--task", task, *TINY, *extra, "--out", str(afile)]) == 1
    error = capsys.readouterr().err
    assert "--out" in error and "not a folder" in error
    assert afile.read_text() == "keep me" and not (tmp_path / "s.db").exists()


def test_out_under_a_file_is_refused(tmp_path, task, capsys, monkeypatch):
    monkeypatch.setattr("lamina.studies.runner.run_study", never_run)
    (tmp_path / "afile").write_text("")
    assert main(["linear", "--task", task, *TINY, "--out", str(tmp_path / "afile" / "sub")]) == 1
    assert "--out" in capsys.readouterr().err


INVERT = ["invert", "--samples", "300", "--spikes", "5", "--lams", "3", "--penalties", "l2"]
SENSE = ["sense", "--n", "20", "--trials", "1", "--deltas", "2", "--rhos", "2", "--signal-length", "100"]


@pytest.mark.parametrize("command", [["linear"], ["trees", "--rounds", "2"], INVERT, SENSE])
def test_empty_out_is_refused(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("lamina.studies.runner.run_study", never_run)
    assert main([*command, "--out", "", "--quiet"]) == 1
    assert "--out" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written into the current folder


@pytest.mark.parametrize("command", [INVERT, SENSE, ["sense", "--signal", "x.npy"]])
def test_out_that_is_a_file_is_refused_by_invert_and_sense(tmp_path, capsys, command):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert main([*command, "--out", str(afile), "--quiet"]) == 1
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["linear", "trees", "nn"])
def test_absurd_seeds_are_refused_up_front(capsys, command):
    if command == "nn":
        pytest.importorskip("torch")
    with pytest.raises(SystemExit) as exit_:  # parsing only: the old code enumerated 10⁹ cells
        build_parser().parse_args([command, "--seeds", "1000000000"])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert "--seeds" in error and "at most" in error


def test_boolean_and_integer_x_are_valid_linear_tasks(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 4))
    y = X @ [1.0, 0.0, 2.0, 0.0] + 0.1 * rng.standard_normal(40)
    groups = np.array(["a", "a", "b", "b"])
    for name, values in (("bool", X > 0), ("int", (3 * X).astype(int))):
        np.savez(tmp_path / f"{name}.npz", X=values, y=y, groups=groups)
        assert main(["linear", "--task", str(tmp_path / f"{name}.npz"), *TINY,
                     "--out", str(tmp_path / name)]) == 0, capsys.readouterr().err
    np.savez(tmp_path / "str.npz", X=X.astype(str), y=y, groups=groups)
    assert main(["linear", "--task", str(tmp_path / "str.npz"), *TINY, "--out", str(tmp_path / "s")]) == 1
    assert "X must be numeric" in capsys.readouterr().err


@pytest.mark.parametrize("out", ["", "afile"])
def test_report_refuses_an_unusable_out_before_reading_the_study(tmp_path, capsys, monkeypatch, out):
    """`lamina report --out ""` fell back to out/report-<study>; a file as --out failed late."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("keep me")
    assert main(["report", "--storage", str(tmp_path / "missing.db"), "--out", out]) == 1
    error = capsys.readouterr().err
    assert "--out" in error and "missing.db" not in error
