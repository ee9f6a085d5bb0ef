"""Storage backends: in memory, and SQL (SQLite, PostgreSQL)."""

from __future__ import annotations

from evotune.exceptions import StorageError
from evotune.storage.base import SCHEMA_VERSION, Storage, StudyRecord, StudySummary, redact_url
from evotune.storage.memory import MemoryStorage
from evotune.storage.sql import SQLStorage

#: Where persistent studies go when no storage is named (the CLI's default).
DEFAULT_URL = "sqlite:///evotune.db"


def open_storage(storage: Storage | str | None, *, read_only: bool = False) -> Storage:
    """Turn ``None`` (memory), a URL string or a Storage into a Storage.

    Args:
        storage: ``None`` or ``"memory"`` for a new in-memory storage, a database URL, or a
            Storage (returned as it is).
        read_only: Open the database at the URL for reading only (see :class:`SQLStorage`):
            it must exist and hold evotune's tables, and nothing in it is changed.

    Raises:
        StorageError: For an unsupported URL or an unusable database; with ``read_only``,
            also for an in-memory storage (new and empty: there is nothing to read) and for
            a database that is not an evotune database.
    """
    if isinstance(storage, Storage):
        return storage
    if storage is not None and not isinstance(storage, str):
        raise StorageError(f"storage must be None, a URL string or a Storage, got {storage!r}")
    if storage is None or storage == "memory":
        if read_only:
            raise StorageError(f"storage {storage!r} is a new, empty in-memory storage: there is nothing to read; "
                               f"give the URL of a database")
        return MemoryStorage()
    if not storage.startswith(("sqlite:", "postgresql", "postgres:")):
        raise StorageError(
            f"storage URL {redact_url(storage)!r} is not supported: use sqlite:///path.db or postgresql://user@host/db"
        )
    return SQLStorage(storage, read_only=read_only)


__all__ = [
    "DEFAULT_URL", "MemoryStorage", "SCHEMA_VERSION", "SQLStorage", "Storage", "StudyRecord",
    "StudySummary", "open_storage", "redact_url",
]
