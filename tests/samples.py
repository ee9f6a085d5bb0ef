"""Small databases several test folders build: another program's SQLite file, a study whose
parameter names hold commas and spaces, and a look at what a SQLite file stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import evotune as et

#: Parameter names a comma-separated list cannot carry.
ODD_NAMES = ("a,b", "c", " d ")


def other_program_file(path: Path) -> str:
    """A SQLite file that another program wrote (one table, ``users``); returns its URL."""
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE users (id INTEGER)")
    connection.commit()
    connection.close()
    return f"sqlite:///{path}"


def evotune_file(path: Path, trials: int = 3, journal: str | None = None) -> str:
    """A SQLite file holding study "demo" with ``trials`` trials, in journal mode ``journal`` if
    given (a user may switch an evotune file back to DELETE by hand); returns its URL."""
    url = f"sqlite:///{path}"
    study = et.Study({"x": et.Float(0.0, 1.0)}, storage=url, name="demo", strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: p["x"], max_trials=trials, show_progress=False)
    study.storage.close()
    if journal is not None:
        connection = sqlite3.connect(path)
        connection.execute(f"PRAGMA journal_mode = {journal}")
        connection.close()
    return url


def schema_and_journal(path: Path) -> tuple[list[str], str]:
    """The names in a SQLite file's schema, and its journal mode (both stored in the file)."""
    connection = sqlite3.connect(path)
    try:
        names = sorted(row[0] for row in connection.execute("SELECT name FROM sqlite_master"))
        return names, connection.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        connection.close()


def odd_names_study(url: str, name: str, trials: int) -> None:
    """Record ``trials`` random trials of a study whose parameters are :data:`ODD_NAMES`."""
    study = et.Study({n: et.Float(0.0, 1.0) for n in ODD_NAMES}, storage=url, name=name,
                     strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: sum(p.values()), max_trials=trials, show_progress=False)
    study.storage.close()
