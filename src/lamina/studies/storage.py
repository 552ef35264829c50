"""Where studies live: an Optuna RDB storage, SQLite by default, PostgreSQL for many workers.

A storage is named by a URL, as SQLAlchemy and Optuna spell it:

* ``None`` or a file path (``out/study.db``) — an embedded SQLite file, nothing to start;
* ``sqlite:///path/to/file.db`` — the same, explicitly;
* ``postgresql://user:password@host:port/database`` — a PostgreSQL server that workers on many
  machines share (needs the ``psycopg`` driver: ``pip install lamina[postgres]``).

Running trials send a heartbeat; a trial whose worker died (killed, machine lost) stops
beating and is marked failed after ``grace_period`` seconds, so that another worker, or the
same study started again with ``resume=True``, runs it again.

SQLite files are switched to write-ahead logging (WAL), so that readers never block the
worker that writes. A SQLite path is checked before use: its folder must exist (nothing is
created but the file itself) and an existing file must be a SQLite database. Any storage
failure surfaces as :class:`StorageError` with a one-line message (the password redacted).
"""
from __future__ import annotations

import contextlib
import itertools
import os
import pathlib
import sqlite3
import time
import urllib.parse
import warnings
from dataclasses import dataclass

import optuna
import sqlalchemy.exc
import sqlalchemy.util
from sqlalchemy.engine import URL, make_url

try:
    import fcntl
except ImportError:  # Windows: claims on SQLite are not serialized (one worker per file there)
    fcntl = None

DEFAULT_HEARTBEAT_S = 5
DEFAULT_GRACE_S = 20
OPEN_ATTEMPTS = 5
CONNECT_TIMEOUT_S = 15
#: seconds a worker waits for another process's claim of a cell on SQLite (a claim takes milliseconds)
CLAIM_WAIT_S = 120


class StorageError(ValueError):
    """The storage cannot be opened or written (bad path, not a database, read-only, down)."""


@dataclass(frozen=True)
class StorageSpec:
    """A storage URL plus its liveness settings; picklable, so worker processes reopen it."""

    url: str
    heartbeat_interval: int = DEFAULT_HEARTBEAT_S
    grace_period: int = DEFAULT_GRACE_S

    def open(self, stale_trial_callback=None) -> optuna.storages.RDBStorage:
        """Connect (creating tables on first use); retried when another process creates the
        same new storage at the same moment. ``stale_trial_callback(study, trial)`` is Optuna's
        ``heartbeat_stale_trial_callback``: run by :func:`optuna.storages.fail_stale_trials`
        for each trial it failed."""
        if self.is_sqlite:
            _prepare_sqlite(self.path)
        for attempt in range(OPEN_ATTEMPTS):
            try:
                return self._connect(stale_trial_callback)
            except sqlalchemy.exc.SQLAlchemyError as error:
                if attempt == OPEN_ATTEMPTS - 1 or not _creation_race(error):
                    raise StorageError(f"storage {redact(self.url)}: {describe_database_error(error)}") from None
                time.sleep(0.2 * (attempt + 1))

    def _connect(self, stale_trial_callback) -> optuna.storages.RDBStorage:
        engine_kwargs = {}
        if self.is_sqlite:
            # several processes on one SQLite file: wait for the lock (at most a minute) instead of failing
            engine_kwargs = {"connect_args": {"timeout": 60}}
        elif self.url.startswith("postgresql") and "connect_timeout" not in self.url:
            # an unreachable server fails after CONNECT_TIMEOUT_S instead of the system's minutes
            engine_kwargs = {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    self.driver_url(), engine_kwargs=engine_kwargs,
                    heartbeat_interval=self.heartbeat_interval, grace_period=self.grace_period,
                    heartbeat_stale_trial_callback=stale_trial_callback)
        except ImportError as error:  # e.g. psycopg for postgresql://
            raise ImportError(
                f"storage {redact(self.url)!r} needs its database driver ({error}); "
                "for PostgreSQL install it with `pip install lamina[postgres]`") from error

    @contextlib.contextmanager
    def claim_lock(self):
        """Held while a worker claims a cell. SQLite has no row locks (Optuna's SELECT … FOR
        UPDATE is a plain SELECT there), so two processes could claim the same waiting trial:
        on SQLite the claim holds an exclusive ``flock`` on ``<file>.lock`` (released by the
        system if the process dies). PostgreSQL locks the row itself: nothing to do. A lock held
        longer than ``CLAIM_WAIT_S`` seconds (its holder suspended, e.g. ``Ctrl-Z``) raises
        :class:`StorageError` instead of waiting for ever."""
        if not self.is_sqlite or fcntl is None:
            yield
            return
        with open(f"{self.path}.lock", "a") as handle:
            deadline = time.monotonic() + CLAIM_WAIT_S
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StorageError(f"storage {self.path}: another process has held {self.path}.lock for "
                                           f"more than {CLAIM_WAIT_S} s (a suspended lamina process?)") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @property
    def path(self) -> pathlib.Path:
        """The SQLite file of a ``sqlite:///`` URL (also in SQLite's URI form ``file:…?mode=ro&uri=true``),
        read as SQLAlchemy reads it (``%xx`` decoded once, ``?`` starting the query): the file lamina
        checks, locks and opens (:meth:`driver_url`)."""
        url = make_url(self.url)
        database = url.database or ""
        return pathlib.Path(database.removeprefix("file:") if _uri_mode(url) else database)

    def driver_url(self) -> str:
        """The URL handed to SQLAlchemy: the one given, except in SQLite's URI form, whose file name
        SQLite decodes once more after SQLAlchemy (``%2541`` had opened ``A``, an ``%3F`` cut the name):
        there the path is quoted again for SQLite, so that the file opened is :attr:`path`."""
        url = make_url(self.url)
        if not (self.is_sqlite and _uri_mode(url) and (url.database or "").startswith("file:")):
            return self.url
        return url.set(database="file:" + urllib.parse.quote(self.path.as_posix())).render_as_string(
            hide_password=False)

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


def storage_spec(storage: str | os.PathLike | StorageSpec | None, default_path: str | os.PathLike,
                 *, heartbeat_interval: int = DEFAULT_HEARTBEAT_S,
                 grace_period: int = DEFAULT_GRACE_S) -> StorageSpec:
    """Normalize ``storage`` (URL, file path or None) to a :class:`StorageSpec`.

    >>> storage_spec(None, "out/study.db").url
    'sqlite:///out/study.db'
    >>> storage_spec("postgresql://u:p@localhost:5432/db", "unused").url
    'postgresql://u:p@localhost:5432/db'
    """
    if isinstance(storage, StorageSpec):
        return storage
    if heartbeat_interval < 1 or grace_period <= heartbeat_interval:
        raise ValueError(f"need heartbeat_interval >= 1 and grace_period > heartbeat_interval, got "
                         f"{heartbeat_interval} and {grace_period}")
    if storage is None:
        path = pathlib.Path(default_path)
        path.parent.mkdir(parents=True, exist_ok=True)  # the default lives in the output folder
        return StorageSpec(sqlite_url(path), heartbeat_interval, grace_period)
    text = os.fspath(storage)
    scheme = text.split("://", 1)[0].split("+", 1)[0] if "://" in text else None
    if scheme is None and ":" in text.split("/", 1)[0] and not pathlib.Path(text).exists():
        raise ValueError(f"--storage: {redact(text)!r} is neither a file path nor a URL "
                         "(sqlite:///path/to/file.db or postgresql://user@host/db)")
    if scheme is None:
        text = sqlite_url(text)
    elif scheme not in ("sqlite", "postgresql", "mysql"):
        raise ValueError(f"storage must be a file path, sqlite:///… or postgresql://… URL; got {redact(text)!r}")
    spec = StorageSpec(text, heartbeat_interval, grace_period)
    if spec.is_sqlite and not spec.path.parent.is_dir():
        raise ValueError(f"--storage: folder {spec.path.parent} does not exist (create it first)")
    return spec


def sqlite_url(path: str | os.PathLike) -> str:
    """The ``sqlite:///`` URL of a file path, quoted so that SQLAlchemy opens that very file: a
    ``?`` in the path would start the URL's query and ``%20`` would be decoded to a space.

    >>> sqlite_url("out/study.db"), sqlite_url("a?b/s%20.db")
    ('sqlite:///out/study.db', 'sqlite:///a%3Fb/s%2520.db')
    """
    return URL.create("sqlite", database=pathlib.Path(path).as_posix()).render_as_string(hide_password=False)


LOCKED_WAIT_S = 60   # all the waiting for a locked file, retries included


def _prepare_sqlite(path: pathlib.Path) -> None:
    """Check that ``path`` can hold a SQLite study and switch it to WAL (kept by the file);
    a file locked by another process is waited for ``LOCKED_WAIT_S`` seconds in all."""
    if not path.parent.is_dir():
        raise StorageError(f"storage folder {path.parent} does not exist")
    if path.is_dir():
        raise StorageError(f"storage {path} is a folder, not a SQLite file")
    deadline = time.monotonic() + LOCKED_WAIT_S
    for attempt in itertools.count():
        try:
            with contextlib.closing(sqlite3.connect(path, timeout=max(0.0, deadline - time.monotonic()))) as connection:
                mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
                if mode.lower() != "wal" and os.access(path, os.W_OK):
                    connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            # switching a new file to WAL needs it to itself; SQLite answers "locked" at once
            # (no busy wait) while another process is creating the same study: try again
            if "locked" in str(error) and time.monotonic() < deadline:
                time.sleep(min(0.05 * (attempt + 1), max(0.0, deadline - time.monotonic())))
                continue
            raise StorageError(f"storage {path}: {error} (is it a SQLite file written by lamina?)") from None
        except sqlite3.DatabaseError as error:
            raise StorageError(f"storage {path}: {error} (is it a SQLite file written by lamina?)") from None


def _uri_mode(url: URL) -> bool:
    """A SQLite URL with ``uri=true``: its database is a SQLite ``file:`` URI (without it, the
    driver opens a file named ``file:…`` as it is)."""
    value = url.query.get("uri", "false")
    return url.get_backend_name() == "sqlite" and isinstance(value, str) and sqlalchemy.util.asbool(value)


def _creation_race(error: Exception) -> bool:
    """Another process is creating the same tables right now (the next attempt finds them)."""
    text = str(getattr(error, "orig", error)).lower()
    return isinstance(error, sqlalchemy.exc.IntegrityError) or "already exists" in text or "locked" in text


def describe_database_error(error: BaseException) -> str:
    """The first line of a database driver's message (SQLAlchemy appends SQL and links)."""
    original = getattr(error, "orig", None) or error
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and reports).

    >>> redact("postgresql://me:secret@db:5432/lamina")
    'postgresql://me:***@db:5432/lamina'
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, has_password, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if has_password else ''}@{host}"
