"""Where studies live: an Optuna RDB storage, SQLite by default, PostgreSQL for many workers.

A storage is named by a URL, as SQLAlchemy and Optuna spell it:

* ``None`` or a file path (``out/study.db``) — an embedded SQLite file, nothing to start;
* ``sqlite:///path/to/file.db`` — the same, explicitly;
* ``postgresql://user:password@host:port/database`` — a PostgreSQL server that workers on many
  machines share (needs the ``psycopg`` driver: ``pip install lamina[postgres]``).

Running trials send a heartbeat; a trial whose worker died (killed, machine lost) stops
beating and is marked failed after ``grace_period`` seconds, so that another worker, or the
same study started again with ``resume=True``, runs it again.
"""
from __future__ import annotations

import os
import pathlib
import warnings
from dataclasses import dataclass

import optuna

DEFAULT_HEARTBEAT_S = 5
DEFAULT_GRACE_S = 20


@dataclass(frozen=True)
class StorageSpec:
    """A storage URL plus its liveness settings; picklable, so worker processes reopen it."""

    url: str
    heartbeat_interval: int = DEFAULT_HEARTBEAT_S
    grace_period: int = DEFAULT_GRACE_S

    def open(self) -> optuna.storages.RDBStorage:
        """Connect (creating tables on first use)."""
        engine_kwargs = {}
        if self.url.startswith("sqlite"):
            # several processes on one SQLite file: wait for the lock instead of failing
            engine_kwargs = {"connect_args": {"timeout": 60}}
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.9
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    self.url, engine_kwargs=engine_kwargs,
                    heartbeat_interval=self.heartbeat_interval, grace_period=self.grace_period)
        except ImportError as error:  # e.g. psycopg for postgresql://
            raise ImportError(
                f"storage {redact(self.url)!r} needs its database driver ({error}); "
                "for PostgreSQL install it with `pip install lamina[postgres]`") from error

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
        storage = default_path
    text = os.fspath(storage)
    if "://" not in text:
        path = pathlib.Path(text)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = f"sqlite:///{path.as_posix()}"
    elif not text.split("://", 1)[0].split("+", 1)[0] in ("sqlite", "postgresql", "mysql"):
        raise ValueError(f"storage must be a file path, sqlite:///… or postgresql://… URL; got {redact(text)!r}")
    return StorageSpec(text, heartbeat_interval, grace_period)


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
