"""Fuzz (issue 16): random command lines and random task files give clean errors, never a traceback.

Command lines are drawn from the real option names of `lamina nn`, `lamina linear` and `lamina
report` with junk values; task files are random bytes, corrupted .npz files and .npz files of
random arrays; `module:function` tasks name missing modules, missing functions and functions
that return or raise the wrong things. The budgets are small (`max_examples`), the runs tiny.
"""
import contextlib
import io
import pathlib
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

pytest.importorskip("torch")

from lamina.cli import build_parser, main  # noqa: E402
from lamina.studies import linear, nn  # noqa: E402
from lamina.studies.tasks import TaskError  # noqa: E402

JUNK = ["-1", "0", "1", "2", "nan", "inf", "-inf", "1e9", "1e-300", "abc", "", " ", "3.5", "0x10", "—",
        "<script>alert(1)</script>", "../..", "/dev/null", "%s%n", "a:b", ":", "nn_tasks:", "é" * 3]
FLAGS = {"--resume", "--quiet", "--json"}
SKIPPED = {"--help", "-h", "--screenshot", "--out"}
FUZZ_SETTINGS = dict(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def option_names(command):
    sub = next(a for a in build_parser()._subparsers._group_actions).choices[command]
    return sorted(s for action in sub._actions for s in action.option_strings
                  if s.startswith("--") and s not in SKIPPED)


def values_for(option, folder):
    specific = {
        "--workers": ["0", "-1", "x", "1"],
        "--task": ["nn_tasks:tiny", "nn_tasks:missing", "no_such_module_zz:f", "fuzz_tasks:returns_none",
                   "fuzz_tasks:raises", "fuzz_tasks:NOT_A_FUNCTION", "fuzz_tasks:bad_likelihood",
                   "fuzz_tasks:linear_wrong", "digits.npz", str(folder / "junk.npz"), str(folder / "tiny.npz"),
                   "synthetic", "a:b:c", ":"],
        "--storage": ["sqlite:/bad", str(folder / "nope" / "s.db"), "redis://host/0", str(folder / "junk.npz"),
                      "postgresql://u:pw@127.0.0.1:1/db", str(folder), "sqlite:///" + str(folder / "x.db")],
        "--methods": ["none", "uniform", "evidence", "magic", "ridge-auto", "lasso-auto", "sklearn-ridgecv"],
        "--lr": ["0.01", "1e9"], "--max-wait": ["5"], "--heartbeat-interval": ["1", "3"], "--grace-period": ["1", "3"],
        "--study": ["s", "<b>x</b>"], "--metric": ["NLL"], "--backend": ["loky"],
    }.get(option, ["1", "2"])
    return st.one_of(st.sampled_from(specific), st.sampled_from(JUNK), st.text(max_size=6))


def command_lines(command, folder):
    names = option_names(command)

    def one(option):
        if option in FLAGS:
            return st.just([option])
        return st.lists(values_for(option, folder), min_size=0 if option == "--methods" else 1,
                        max_size=2 if option in ("--methods", "--hidden") else 1).map(lambda v: [option, *v])

    return st.lists(st.sampled_from(names), max_size=4).flatmap(
        lambda chosen: st.tuples(*(one(o) for o in chosen)) if chosen else st.just(()))


def write_tasks(folder):
    rng = np.random.default_rng(0)
    (folder / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip" * 20)
    X, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30)
    np.savez(folder / "tiny.npz", X_train=X[:20], y_train=y[:20], X_test=X[20:], y_test=y[20:],
             X=X, y=X[:, 0], groups=np.array(["a", "a", "b"]))


BASE = {"nn": ["--task", "nn_tasks:tiny", "--methods", "none", "--seeds", "1", "--epochs", "2", "--hidden", "4"],
        "linear": ["--methods", "ridge-auto", "--seeds", "1"], "report": []}


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("command", ["nn", "linear", "report"])
def test_random_command_lines_give_clean_errors(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative paths drawn (e.g. a --storage file) land here
    write_tasks(tmp_path)
    if command == "report":  # a stored study to report on
        assert run_cli(["nn", *BASE["nn"], "--out", str(tmp_path / "stored"), "--quiet"])[0] == 0
    seen = {}

    @settings(max_examples=40, **FUZZ_SETTINGS)
    @given(drawn=command_lines(command, tmp_path))
    def check(drawn):
        folder = pathlib.Path(tempfile.mkdtemp(dir=tmp_path))
        try:
            base = BASE[command] + {"linear": ["--task", str(tmp_path / "tiny.npz")],
                                    "report": ["--storage", str(tmp_path / "stored" / "study.db")]}.get(command, [])
            argv = [command, *base, "--out", str(folder / "out"), *(v for part in drawn for v in part)]
            code, out, err = run_cli(argv)
            assert "Traceback" not in err + out and "unexpected" not in err, (argv, err)
            assert code in (0, 1, 2), (argv, code)
            if code == 1:
                assert f"lamina {command}: error:" in err, (argv, err)
            if code == 2:
                assert "error: argument" in err or "unrecognized arguments" in err or "required" in err, (argv, err)
            seen[code] = seen.get(code, 0) + 1
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    check()
    print(f"\n{command}: exit codes over the fuzzed command lines {dict(sorted(seen.items()))}")
    assert len(seen) >= 2  # the fuzz reached both clean failures and successes or usage errors


def npz_bytes(arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def corrupted(data: bytes, cut: int, flips: list[int]) -> bytes:
    data = bytearray(data[: max(1, cut % (len(data) + 1))])
    for position in flips:
        data[position % len(data)] ^= 0xFF
    return bytes(data)


ARRAYS = hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.complex128, "U3", np.int8]),
                    shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=5),
                    elements=None)
NAMES = st.sampled_from(["X_train", "y_train", "X_test", "y_test", "X", "y", "groups", "likelihood", "other"])


@settings(max_examples=100, **FUZZ_SETTINGS)
@given(content=st.one_of(
    st.binary(max_size=300),
    st.builds(corrupted, st.just(npz_bytes({"X_train": np.ones((4, 2)), "y_train": np.arange(4),
                                            "X_test": np.ones((3, 2)), "y_test": np.arange(3)})),
              st.integers(0, 2000), st.lists(st.integers(0, 2000), max_size=3)),
    st.dictionaries(NAMES, ARRAYS, max_size=7).map(npz_bytes)))
def test_random_npz_files_load_or_fail_cleanly(content):
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "task.npz"
        path.write_bytes(content)
        for load in (lambda: nn.load_task(str(path), 0, (3,)), lambda: linear.load_task(str(path), 0)):
            try:
                load()
            except TaskError as error:
                assert str(path) in str(error) and "\n" not in str(error).strip()


@settings(max_examples=60, **FUZZ_SETTINGS)
@given(module=st.sampled_from(["nn_tasks", "fuzz_tasks", "no_such_module_zz", "lamina.no_such", ""]),
       name=st.sampled_from(["tiny", "two_branch", "returns_none", "returns_three", "raises", "bad_likelihood",
                             "bad_pairs", "linear_wrong", "NOT_A_FUNCTION", "", "missing"]) | st.text(max_size=5),
       sep=st.sampled_from([":", "::", ""]))
def test_module_function_tasks_load_or_fail_cleanly(module, name, sep):
    task = f"{module}{sep}{name}"
    for load in (lambda: nn.load_task(task, 0, (3,)), lambda: linear.load_task(task, 0)):
        try:
            load()
        except TaskError as error:
            assert "--task" in str(error)
