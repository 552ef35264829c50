"""lamina report on a storage that holds no study says so, not "--study is needed"."""
import optuna

from lamina.cli import main


def test_a_storage_without_a_study_is_told_as_such(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    optuna.create_study(storage=url, study_name="gone")
    optuna.delete_study(study_name="gone", storage=url)   # a valid Optuna database with no study
    assert main(["report", "--storage", str(tmp_path / "empty.db"), "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "holds no study" in err and "--study is needed" not in err
