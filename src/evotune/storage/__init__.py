"""Storage backends: in memory, and SQL (SQLite, PostgreSQL)."""

from __future__ import annotations

from evotune.exceptions import StorageError
from evotune.storage.base import SCHEMA_VERSION, Storage, StudyRecord, StudySummary, redact_url
from evotune.storage.memory import MemoryStorage
from evotune.storage.sql import SQLStorage

#: Where persistent studies go when no storage is named (the CLI's default).
DEFAULT_URL = "sqlite:///evotune.db"


def open_storage(storage: Storage | str | None) -> Storage:
    """Turn ``None`` (memory), a URL string or a Storage into a Storage.

    Raises:
        StorageError: For an unsupported URL or an unusable database.
    """
    if storage is None:
        return MemoryStorage()
    if isinstance(storage, Storage):
        return storage
    if not isinstance(storage, str):
        raise StorageError(f"storage must be None, a URL string or a Storage, got {storage!r}")
    if storage == "memory":
        return MemoryStorage()
    if not storage.startswith(("sqlite:", "postgresql", "postgres:")):
        raise StorageError(
            f"storage URL {redact_url(storage)!r} is not supported: use sqlite:///path.db or postgresql://user@host/db"
        )
    return SQLStorage(storage)


__all__ = [
    "DEFAULT_URL", "MemoryStorage", "SCHEMA_VERSION", "SQLStorage", "Storage", "StudyRecord",
    "StudySummary", "open_storage", "redact_url",
]
