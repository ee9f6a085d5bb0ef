"""Databases that cannot be used: a clear StorageError naming the URL and the problem, nothing changed.

Wrong URLs, missing folders, files that are not databases, damaged pages, rows edited by
hand, a database from a newer evotune, files this user may not read or write. The file is
compared byte for byte (or, when it may legitimately be opened, row for row) before and after.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import evotune as et
from tests.conftest import POSTGRES_URL
from tests.reliability.privileges import run_unprivileged
from tests.reliability.storage_dump import dump, file_digest, integrity

SPACE = {"x": et.Float(0.0, 1.0), "act": et.Categorical(["relu", "tanh"])}

OPENERS: dict[str, Callable[[str], Any]] = {
    "create": lambda url: et.Study(SPACE, storage=url, name="fresh"),
    "load": lambda url: et.Study.load("good", url),
    "list": lambda url: et.list_studies(url),
}


@pytest.fixture(scope="module")
def good_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with one study of 20 trials, closed (its write-ahead log folded into the file)."""
    path = tmp_path_factory.mktemp("good") / "good.db"
    study = et.Study(SPACE, storage=f"sqlite:///{path}", name="good", strategy=et.RandomSearch(seed=0))
    study.optimize(lambda params: params["x"], max_trials=20)
    study.storage.close()
    assert not Path(f"{path}-wal").exists()
    return path


def _copy(good_db: Path, tmp_path: Path, edit: str | None = None) -> Path:
    path = tmp_path / "copy.db"
    shutil.copy(good_db, path)
    if edit is not None:
        connection = sqlite3.connect(path)
        connection.execute(edit)
        connection.commit()
        connection.close()
    return path


def _refused(opener: str, url: str, error: type[BaseException], *words: str) -> str:
    with pytest.raises(error) as raised:
        OPENERS[opener](url)
    message = str(raised.value)
    assert isinstance(raised.value, et.EvotuneError)
    missing = [word for word in words if word not in message]
    assert not missing, f"the message {message!r} does not show {missing}"
    return message


# -- URLs ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, words", [
    ("mysql://user@host/db", ("mysql://user@host/db", "not supported")),
    ("redis://localhost:6379", ("redis://localhost:6379", "not supported")),
    ("evotune.db", ("'evotune.db'", "sqlite:///")),
    ("sqlite:///{tmp}/no/such/folder/x.db", ("no/such/folder", "does not exist")),
    ("sqlite:///{tmp}", ("unable to open",)),
], ids=["mysql", "redis", "bare-path", "missing-folder", "folder-as-file"])
@pytest.mark.parametrize("opener", ["create", "list"])
def test_an_unusable_url_is_refused_and_creates_nothing(tmp_path: Path, url: str, words: tuple[str, ...],
                                                        opener: str) -> None:
    url = url.replace("{tmp}", str(tmp_path))
    before = sorted(tmp_path.rglob("*"))
    _refused(opener, url, et.StorageError, *[w.replace("{tmp}", str(tmp_path)) for w in words])
    assert sorted(tmp_path.rglob("*")) == before


def test_storage_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(et.StorageError, match="storage must be None, a URL string or a Storage, got 42"):
        et.Study(SPACE, storage=42)  # type: ignore[arg-type]


@pytest.mark.skipif(not POSTGRES_URL, reason="EVOTUNE_TEST_POSTGRES_URL is not set")
@pytest.mark.parametrize("change, words", [
    ({"port": 1, "password": "closed-port-password"}, ("127.0.0.1", "port 1", "connect")),
    ({"password": "wrong-password"}, ("password authentication failed",)),
    ({"database": "evotune_no_such_database"}, ("evotune_no_such_database", "does not exist")),
], ids=["closed-port", "wrong-password", "missing-database"])
def test_an_unreachable_postgresql_is_a_clear_storage_error_without_the_password(change: dict[str, Any],
                                                                                  words: tuple[str, ...]) -> None:
    import sqlalchemy as sa

    url = sa.engine.make_url(POSTGRES_URL).set(**change).render_as_string(hide_password=False)
    message = _refused("create", url, et.StorageError, *words)
    password = sa.engine.make_url(url).password
    assert f":{password}@" not in message and ":***@" in message  # messages end up in logs and CI output


# -- files that are not (sound) evotune databases --------------------------------------------------
DAMAGED: dict[str, tuple[Callable[[Path, Path], Path], type[BaseException], tuple[str, ...]]] = {
    "text-file": (lambda good, tmp: _write(tmp, b"name,lr\nmlp,0.1\n" * 50), et.StorageError, ("not a database",)),
    "random-bytes": (lambda good, tmp: _write(tmp, bytes(range(256)) * 64), et.StorageError, ("not a database",)),
    "truncated-header": (lambda good, tmp: _write(tmp, good.read_bytes()[:50]), et.StorageError, ("malformed",)),
    "overwritten-pages": (lambda good, tmp: _write(tmp, _scramble(good.read_bytes())), et.StorageError,
                          ("malformed",)),
    "foreign-tables": (lambda good, tmp: _foreign(tmp), et.StorageError, ("evotune_studies", "not written by evotune")),
    "newer-schema": (lambda good, tmp: _copy(good, tmp, "UPDATE evotune_meta SET value = '7' "
                                                        "WHERE key = 'schema_version'"),
                     et.SchemaVersionError, ("schema version 7", "upgrade evotune")),
    "schema-not-a-number": (lambda good, tmp: _copy(good, tmp, "UPDATE evotune_meta SET value = 'two' "
                                                               "WHERE key = 'schema_version'"),
                            et.StorageError, ("schema_version", "'two'")),
}


def _write(tmp: Path, data: bytes) -> Path:
    path = tmp / "damaged.db"
    path.write_bytes(data)
    return path


def _scramble(data: bytes) -> bytes:
    """Overwrite every page but the first with a repeating pattern (schema page kept, data lost)."""
    page = int.from_bytes(data[16:18], "big") or 65536
    return data[:page] + bytes([0xA5]) * (len(data) - page)


def _foreign(tmp: Path) -> Path:
    path = tmp / "foreign.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE evotune_studies (title TEXT, notes TEXT)")
    connection.execute("INSERT INTO evotune_studies VALUES ('someone else''s table', '')")
    connection.commit()
    connection.close()
    return path


@pytest.mark.parametrize("damage", list(DAMAGED))
@pytest.mark.parametrize("opener", list(OPENERS))
def test_a_damaged_or_foreign_database_is_refused_and_left_as_it_was(good_db: Path, tmp_path: Path, damage: str,
                                                                     opener: str) -> None:
    make, error, words = DAMAGED[damage]
    path = make(good_db, tmp_path)
    digest, tables = file_digest(path), _tables(path)
    url = f"sqlite:///{path}"
    _refused(opener, url, error, str(path), *words)
    if damage == "foreign-tables":  # SQLite may switch the file to WAL when it connects; no table is added
        assert _tables(path) == tables
    else:
        assert file_digest(path) == digest


def _tables(path: Path) -> list[tuple[str, str]] | None:
    try:
        connection = sqlite3.connect(path)
        try:
            return connection.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return None


@pytest.mark.parametrize("column, value, words", [
    ("params", "not json", ("trial 3", "'params'", "'not json'")),
    ("metrics", "{'value': 1}", ("trial 3", "'metrics'", "{'value': 1}")),
    ("attrs", "", ("trial 3", "'attrs'")),
    ("state", "HALF_DONE", ("trial 3", "'state'", "'HALF_DONE'")),
], ids=["params", "metrics", "attrs", "state"])
def test_a_trial_row_edited_by_hand_is_a_storage_error_naming_trial_and_column(good_db: Path, tmp_path: Path,
                                                                              column: str, value: str,
                                                                              words: tuple[str, ...]) -> None:
    path = _copy(good_db, tmp_path, f"UPDATE evotune_trials SET {column} = '{value.replace(chr(39), chr(39) * 2)}' "
                                    f"WHERE number = 3")
    url = f"sqlite:///{path}"
    before = dump(url)
    with pytest.raises(et.StorageError) as raised:
        et.Study.load("good", url).trials  # noqa: B018 - reading is the point
    missing = [word for word in words if word not in str(raised.value)]
    assert not missing, f"{raised.value} does not show {missing}"
    assert dump(url) == before


def test_a_study_row_edited_by_hand_is_a_storage_error_naming_study_and_column(good_db: Path,
                                                                              tmp_path: Path) -> None:
    path = _copy(good_db, tmp_path, "UPDATE evotune_studies SET space = '{\"x\": ' WHERE name = 'good'")
    for opener in ("load", "list"):
        if opener == "list":
            path = _copy(good_db, tmp_path, "UPDATE evotune_studies SET strategy = 'random' WHERE name = 'good'")
        url = f"sqlite:///{path}"
        before = dump(url)
        column = "'space'" if opener == "load" else "'strategy'"
        _refused(opener, url, et.StorageError, "study 'good'", column)
        assert dump(url) == before


# -- permissions ----------------------------------------------------------------------------------
_PERMISSION_CHECK = """
    import json, sys
    import evotune as et

    url = sys.argv[1]
    outcome = {}
    for name, action in {
        "load": lambda: len(et.Study.load("good", url).trials),
        "list": lambda: [s.n_trials for s in et.list_studies(url)],
        "optimize": lambda: et.Study.load("good", url).optimize(lambda p: p["x"], max_trials=25) and "ran",
        "add": lambda: et.Study.load("good", url).add({"x": 0.5, "act": "relu"}, 0.5).number,
        "create": lambda: et.Study({"y": et.Int(0, 3)}, storage=url, name="new").name,
    }.items():
        try:
            outcome[name] = ["ok", action()]
        except Exception as error:
            outcome[name] = [type(error).__name__, str(error), isinstance(error, et.StorageError)]
    print(json.dumps(outcome))
"""


def test_an_unreadable_database_is_a_clear_storage_error(good_db: Path, tmp_path: Path) -> None:
    path = _copy(good_db, tmp_path)
    digest = file_digest(path)
    path.chmod(0)
    try:
        outcome = run_unprivileged(_PERMISSION_CHECK, f"sqlite:///{path}")
    finally:
        path.chmod(0o644)
    for action, result in outcome.items():
        kind, message, is_storage_error = result
        assert kind == "StorageError" and is_storage_error, (action, result)
        assert str(path) in message and "unable to open" in message and "read and write" in message, message
    assert file_digest(path) == digest


def test_a_read_only_database_can_be_read_and_refuses_writes_clearly(good_db: Path, tmp_path: Path) -> None:
    path = _copy(good_db, tmp_path)
    path.chmod(0o444)
    url = f"sqlite:///{path}"
    before = dump(url)
    try:
        outcome = run_unprivileged(_PERMISSION_CHECK, url)
    finally:
        path.chmod(0o644)
    assert outcome["load"] == ["ok", 20] and outcome["list"] == ["ok", [20]]
    for action in ("optimize", "add", "create"):
        kind, message, is_storage_error = outcome[action]
        assert kind == "StorageError" and is_storage_error, (action, outcome[action])
        assert str(path) in message and "read-only" in message, message
    assert dump(url) == before
    assert integrity(path) == "ok"


def test_a_database_in_a_read_only_folder_is_a_clear_storage_error(good_db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    path = _copy(good_db, folder)
    digest = file_digest(path)
    folder.chmod(0o555)
    try:
        outcome = run_unprivileged(_PERMISSION_CHECK, f"sqlite:///{path}")
    finally:
        folder.chmod(0o755)
    for action, result in outcome.items():
        if result[0] == "ok":  # reading may work where SQLite can do without its -shm file
            assert action in ("load", "list"), (action, result)
            continue
        kind, message, is_storage_error = result
        assert kind == "StorageError" and is_storage_error, (action, result)
        assert str(path) in message and "read-only" in message and "-wal" in message, message
    assert file_digest(path) == digest
