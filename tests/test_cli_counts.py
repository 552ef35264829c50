"""lamina invert / sense: a count that is not a positive integer is refused by argparse, naming it."""
import pytest

from lamina.cli import main


@pytest.mark.parametrize("argv", [["sense", "--deltas", "0"], ["sense", "--rhos", "0"], ["sense", "--trials", "-1"],
                                  ["invert", "--lams", "0"], ["invert", "--lams", "-1"], ["invert", "--spikes", "0"]])
def test_a_count_below_one_is_a_usage_error_naming_the_argument(argv, tmp_path, capsys):
    """``sense --deltas 0`` had ended in "unexpected IndexError (a bug: please report it)" after the
    phase diagram ran; ``invert --lams -1`` in numpy's "Number of samples, -1, must be non-negative"."""
    with pytest.raises(SystemExit) as raised:
        main(argv + ["--out", str(tmp_path), "--quiet"])
    assert raised.value.code == 2
    assert f"argument {argv[1]}: expected a positive integer" in capsys.readouterr().err
