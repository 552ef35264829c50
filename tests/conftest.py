import builtins
import errno
import io
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile

import numpy as np
import pytest


# ----------------------------------------------------------------------------- threads
SUITE_THREADS = 1
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test runs torch on ``SUITE_THREADS`` = 1 thread, and whatever a test sets is undone.

    The CLI's ``--threads`` sets the process's thread count and OMP/MKL variables for good (right
    for a command); inside the suite it leaked into every later test, so a result depended on the
    order: the sparsity tuner's host and device arithmetic agreed to 1e-4 after a CLI test and
    differed by 0.2 % in λ run alone with two threads (another kernel's rounding, amplified by 12
    epochs of thresholds). One thread also makes the suite's numbers the same on any core count,
    and the suite's small models run fastest on one."""
    try:
        import torch
    except ImportError:   # the core install, without the torch extra
        yield
        return
    variables = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    before = torch.get_num_threads()
    torch.set_num_threads(SUITE_THREADS)
    yield
    torch.set_num_threads(before)
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def toeplitz_design(n, p, rho, rng):
    """Gaussian design with Toeplitz correlation ρ^|i−j| between features."""
    from scipy.linalg import toeplitz
    cov_sqrt = np.linalg.cholesky(toeplitz(rho ** np.arange(p)))
    return rng.standard_normal((n, p)) @ cov_sqrt.T


@pytest.fixture
def lasso_problem(rng):
    n, p = 60, 150
    X = toeplitz_design(n, p, 0.5, rng)
    w = np.zeros(p)
    w[rng.choice(p, 8, replace=False)] = rng.standard_normal(8) * 3
    y = X @ w + 0.1 * rng.standard_normal(n)
    return X, y


class _FillsMidway:
    """A file handle whose write stores half the data, then fails as a full disk does."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        self._handle.write(data[: len(data) // 2])
        self._handle.flush()
        raise OSError(errno.ENOSPC, "No space left on device (test)")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()

    def __getattr__(self, name):
        return getattr(self._handle, name)


@pytest.fixture
def disk_fills_writing(monkeypatch):
    """``disk_fills_writing("summary.json")``: from then on, a write of a file whose name holds that
    string (the file itself or a temporary one beside it) stores half its data and fails midway,
    through ``open``, ``io.open`` or ``pathlib`` — a run killed during the write, made repeatable."""
    real_open = builtins.open

    def start(name):
        def fake_open(file, mode="r", *args, **kwargs):
            handle = real_open(file, mode, *args, **kwargs)
            writing = any(flag in mode for flag in "wxa")
            named = isinstance(file, (str, os.PathLike)) and name in pathlib.Path(file).name
            return _FillsMidway(handle) if writing and named else handle

        monkeypatch.setattr(builtins, "open", fake_open)
        monkeypatch.setattr(io, "open", fake_open)
    return start


# ----------------------------------------------------------------------------- PostgreSQL
def _postgres_bin():
    for candidate in sorted(pathlib.Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    initdb = shutil.which("initdb")
    return pathlib.Path(initdb).parent if initdb else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A real PostgreSQL server on loopback for the test's lifetime (Debian's package).

    Skips where PostgreSQL is not installed, unless LAMINA_REQUIRE_POSTGRES=1 (set by .ci/run),
    which turns a missing server into a failure.
    """
    bindir = _postgres_bin()
    try:
        import psycopg  # noqa: F401 (availability check)
    except ImportError:
        bindir = None
    if bindir is None:
        _missing("LAMINA_REQUIRE_POSTGRES",
                 "PostgreSQL server binaries (apt-get install postgresql) or the psycopg driver missing")
    # not under pytest's tmp dir: that is private to root, and the server runs as postgres
    root = pathlib.Path(tempfile.mkdtemp(prefix="lamina-pg-"))
    data = root / "data"
    as_user = []
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "lamina", "--auth=trust",
                    "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"),
                    "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run([*as_user, str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "lamina", "studies"], check=True, capture_output=True)
        yield f"postgresql://lamina@127.0.0.1:{port}/studies"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


# ----------------------------------------------------------------------------- headless browser
@pytest.fixture
def browser_available():
    """Skips where selenium or Chromium/ChromeDriver is missing, unless LAMINA_REQUIRE_BROWSER=1,
    which turns a missing browser into a failure (tests/test_report_browser.py, tests/test_security.py)."""
    from lamina.report.browser import find_browser

    try:
        import selenium  # noqa: F401 (availability check)
        found = find_browser()
    except ImportError:
        found = None
    if found is None:
        _missing("LAMINA_REQUIRE_BROWSER", "Chromium/ChromeDriver (apt-get install chromium chromium-driver) or selenium missing")


def _missing(variable: str, message: str):
    """A missing tool: a failure where the environment variable ``variable`` is "1" (set by .ci/run), else a skip."""
    if os.environ.get(variable) == "1":
        pytest.fail(f"{variable}=1 but {message}")
    pytest.skip(message)
