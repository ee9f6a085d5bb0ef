"""The connection layer of SQLStorage: the engine, its connections and short transactions.

SQLite runs in WAL mode with a busy timeout, and every write takes the write lock up front
(``BEGIN IMMEDIATE``), so several processes can share one file without "database is locked"
errors. A PostgreSQL server that restarts under a running study is waited for (up to
``RECONNECT_SECONDS``), and a transaction it cut off before its commit runs again
(``_reconnecting``), so workers ride through a restart or a fail-over. SQLite's terse errors
come with a hint of what to do; error messages never show the password of a URL.

Opened read-only, the connections change nothing in the database: the journal mode is left
as it is (WAL is a setting stored in the file), a SQLite file is opened in SQLite's read-only
mode and PostgreSQL sessions as read-only transactions (so the server refuses a write too),
and every write is refused.
"""

from __future__ import annotations

import functools
import os
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from evotune.exceptions import StorageError, StudyNotFoundError, TrialStateError
from evotune.storage.base import DuplicateTrialError, Storage, redact_url

#: Seconds an opened PostgreSQL storage waits for its server to accept connections again.
RECONNECT_SECONDS = 30.0
#: Times a transaction cut off by a lost connection is run again.
RECONNECT_ATTEMPTS = 5

#: What to do about SQLite's terse errors, by a word of the message.
_HINTS = {
    "readonly": "the database file or its folder is read-only; evotune writes the file and, next to it, "
                "its -wal and -shm files",
    "unable to open": "check that the path is a file (not a folder) that this user may read and write",
    "full": "the disk is full; free some space: the trials recorded so far are intact",
}


def missing_folder(path: str) -> str | None:
    """Why SQLite cannot create the database file ``path``: its folder does not exist (None when it does)."""
    folder = os.path.dirname(os.path.abspath(path))
    return None if os.path.isdir(folder) else f"folder {folder!r} does not exist"


def _hint(message: str) -> str:
    for word, hint in _HINTS.items():
        if word in message:
            return f" ({hint})"
    return ""


def _enable_wal(cursor: Any, timeout: float) -> None:
    """Switch a SQLite file to WAL. On a new file several processes may race to do it, and SQLite
    answers "database is locked" at once (without its busy handler), so try again for a while."""
    import sqlite3

    deadline = time.monotonic() + timeout
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _normalize_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        rest = url.split("://", 1)[1]
        try:
            import psycopg  # noqa: F401
        except ImportError:
            return "postgresql://" + rest
        return "postgresql+psycopg://" + rest
    return url


def _reconnecting(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``method`` again when its transaction was cut off, uncommitted, by a lost connection.

    A PostgreSQL restart or fail-over closes every session; the work in flight was rolled back
    by the server, so running the whole method again (in a new transaction, on a new
    connection, see ``_connect``) is safe. A failure during the commit itself is not retried:
    its outcome is unknown.
    """
    @functools.wraps(method)
    def run(self: SQLDatabase, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(RECONNECT_ATTEMPTS):
            try:
                return method(self, *args, **kwargs)
            except StorageError as error:
                if not getattr(error, "retryable", False) or attempt == RECONNECT_ATTEMPTS - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    return run


class SQLDatabase(Storage):
    """The engine of a SQL storage, and the connections and transactions its operations run in.

    The base of :class:`~evotune.storage.sql.SQLStorage`, which adds the schema and the study
    and trial operations. ``_connect`` waits for a restarting server only once the subclass has
    set ``_opened`` (after its schema check), so a database that cannot be reached at all fails
    at once.
    """

    def __init__(self, url: str, timeout: float, *, read_only: bool):
        self.url = url
        self.read_only = read_only
        self._sqlite = url.startswith("sqlite")
        try:
            self._engine = self._create_engine(_normalize_url(url), timeout)
        except (ArgumentError, NoSuchModuleError, ValueError) as error:
            raise StorageError(f"storage URL {redact_url(url)!r} is not valid: {redact_url(str(error))}") from None
        except ImportError as error:
            hint = " (pip install 'evotune[postgres]')" if "postgres" in url else ""
            raise StorageError(f"storage URL {redact_url(url)!r} needs a driver that is not installed{hint}: {error}") from None

    def _create_engine(self, url: str, timeout: float) -> Engine:
        if not self._sqlite:
            connect_args = {}
            parsed = sa.engine.make_url(url)
            if self.read_only and parsed.get_backend_name() == "postgresql":
                # The server itself then refuses every write of these sessions.
                options = " ".join(filter(None, [str(parsed.query.get("options", "")),
                                                 "-c default_transaction_read_only=on"]))
                connect_args["options"] = options
            return sa.create_engine(url, pool_pre_ping=True, future=True, connect_args=connect_args)
        parsed = sa.engine.make_url(url)
        path = parsed.database
        if self.read_only:
            parsed = self._read_only_url(parsed)
        elif path and path != ":memory:":
            problem = missing_folder(path)
            if problem is not None:
                raise StorageError(f"storage URL {self.safe_url!r}: {problem}")
        engine = sa.create_engine(
            parsed, connect_args={"timeout": timeout, "check_same_thread": False}, future=True,
        )
        busy_ms = int(timeout * 1000)
        read_only = self.read_only

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if not read_only:  # the journal mode is stored in the file: a reader leaves it alone
                _enable_wal(cursor, timeout)
                cursor.execute("PRAGMA synchronous = NORMAL")  # durable against a killed process
                cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            # Writes take the lock up front; reads are single statements, atomic in autocommit.
            if connection.info.get("write"):
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def _read_only_url(self, parsed: sa.engine.URL) -> sa.engine.URL:
        """The URL of the SQLite file in SQLite's read-only mode (``file:...?mode=ro``).

        Raises:
            StorageError: When the URL names no file (an in-memory database, empty, has
                nothing to read) or the file does not exist (it is never created).
        """
        path = parsed.database
        if not path or path == ":memory:":
            raise StorageError(
                f"storage URL {self.safe_url!r} names no database file: SQLite would open a new, empty "
                f"in-memory database, which holds no studies; give sqlite:///path/to/file.db"
            )
        if path.startswith("file:") and str(parsed.query.get("uri", "")).lower() in ("true", "1", "yes", "on"):
            return parsed.set(query={**parsed.query, "mode": "ro"})  # already an SQLite URI
        if not os.path.exists(path):
            raise StorageError(f"storage {self.safe_url!r}: no database file at {path!r} (opened for reading, "
                               f"so it is not created)")
        # Percent-encoding keeps '?', '#' and '%' in a file name from being read as URI syntax.
        uri = "file:" + urllib.parse.quote(os.path.abspath(path))
        return parsed.set(database=uri, query={**parsed.query, "mode": "ro", "uri": "true"})

    def _connect(self) -> Connection:
        """A connection from the pool; waits for a database server that is restarting.

        Once the storage has been opened, a server that refuses connections (restarting,
        failing over) is given up to :data:`RECONNECT_SECONDS` to come back before the error
        is raised: nothing was sent yet, so trying again is safe. A transaction cut off by the
        restart itself still fails (its outcome may be unknown); the next one reconnects.
        """
        waited_since = None
        while True:
            try:
                return self._engine.connect()
            except DBAPIError:
                if self._sqlite or not getattr(self, "_opened", False):
                    raise
                now = time.monotonic()
                waited_since = now if waited_since is None else waited_since
                if now - waited_since >= RECONNECT_SECONDS:
                    raise
                time.sleep(min(1.0, 0.1 + (now - waited_since) / 4))

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[Connection]:
        if write and self.read_only:
            raise StorageError(f"storage {self.safe_url!r} was opened read-only: it cannot be changed; "
                               f"open it without read_only=True to write")
        committing = False
        try:
            with self._connect() as connection:
                connection.info["write"] = write
                try:
                    with connection.begin():
                        yield connection
                        committing = True
                finally:
                    if not connection.invalidated:  # touching a dead connection would reconnect
                        connection.info["write"] = False
        except (DuplicateTrialError, StudyNotFoundError, TrialStateError, IntegrityError):
            raise
        except DBAPIError as error:
            problem = StorageError(f"storage {self.safe_url!r}: {error.orig}{_hint(str(error.orig))}")
            # Cut off before its commit by a lost connection: nothing was written, it may run again.
            problem.retryable = error.connection_invalidated and not committing and not self._sqlite
            raise problem from error
        except SQLAlchemyError as error:
            raise StorageError(f"storage {self.safe_url!r}: {error}") from error

    def close(self) -> None:
        self._engine.dispose()
