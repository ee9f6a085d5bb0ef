"""Raw dumps of a database, to prove that a refused operation wrote nothing.

The dump reads the tables with plain SQL, not through evotune, so it sees exactly what is
stored. Opening an SQLite file that does not exist would create it; the dump says "absent"
instead, and leaves it absent.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa

TABLES = ("evotune_meta", "evotune_studies", "evotune_trials")
ORDER = {"evotune_meta": "key", "evotune_studies": "id", "evotune_trials": "study_id, number"}


def sqlite_path(url: str) -> Path | None:
    """The file of an ``sqlite:///`` URL, else None."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(sa.engine.make_url(url).database or "")


def dump(url: str) -> dict[str, Any]:
    """Every row of evotune's tables at ``url``, or ``{"absent": True}`` for a missing SQLite file."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return {"absent": True}
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            present = set(sa.inspect(connection).get_table_names())
            return {
                table: [tuple(row) for row in connection.exec_driver_sql(
                    f"SELECT * FROM {table} ORDER BY {ORDER[table]}")] if table in present else None
                for table in TABLES
            }
    finally:
        engine.dispose()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def integrity(path: Path) -> str:
    """SQLite's own verdict on a database file ("ok" when sound)."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()
