"""``SQLStorage(url, read_only=True)``: reads an evotune database and changes nothing in any database."""

from __future__ import annotations

import pickle

import pytest
import sqlalchemy as sa

import evotune as et
from evotune.storage import SQLStorage, open_storage, redact_url
from evotune.storage.sql import _normalize_url
from evotune.trial import TrialState

from ..conftest import POSTGRES_URL, SQL_BACKENDS, clean_postgres
from ..samples import evotune_file, other_program_file, schema_and_journal


def test_another_programs_database_is_refused_and_left_as_it_was(tmp_path):
    path = tmp_path / "other.db"
    other_program_file(path)
    before = schema_and_journal(path)
    with pytest.raises(et.StorageError) as raised:
        SQLStorage(f"sqlite:///{path}", read_only=True)
    assert str(raised.value) == (
        f"storage 'sqlite:///{path}' is not an evotune database (it holds no evotune tables); it was opened "
        f"for reading only, so nothing was created: check the storage URL")
    assert schema_and_journal(path) == before == (["users"], "delete")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db"]


@pytest.mark.parametrize("backend", SQL_BACKENDS)
def test_an_empty_database_is_refused_and_stays_empty(backend, tmp_path):
    if backend == "sqlite":
        path = tmp_path / "empty.db"
        path.touch()
        url = f"sqlite:///{path}"
    else:
        assert POSTGRES_URL
        clean_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    with pytest.raises(et.StorageError, match="is not an evotune database") as raised:
        SQLStorage(url, read_only=True)
    message, password = str(raised.value), sa.engine.make_url(url).password
    assert message.startswith(f"storage {redact_url(url)!r}")
    assert not password or f":{password}@" not in message  # the URL is shown with its password hidden
    engine = sa.create_engine(_normalize_url(url))
    try:
        assert not [t for t in sa.inspect(engine).get_table_names() if t.startswith("evotune")]
    finally:
        engine.dispose()


def test_the_journal_mode_of_an_evotune_file_is_left_as_it_is(tmp_path):
    path = tmp_path / "evotune.db"
    url = evotune_file(path, journal="DELETE")
    before = schema_and_journal(path)
    storage = SQLStorage(url, read_only=True)
    assert [s.n_trials for s in storage.list_studies()] == [3]
    assert len(storage.get_trials(storage.load_study("demo").study_id)) == 3
    storage.close()
    assert schema_and_journal(path) == before and before[1] == "delete"


def test_writes_are_refused(tmp_path):
    url = evotune_file(tmp_path / "evotune.db")
    storage = SQLStorage(url, read_only=True)
    study_id = storage.load_study("demo").study_id
    with pytest.raises(et.StorageError, match="was opened read-only: it cannot be changed"):
        storage.create_trial(study_id, {"x": 0.5}, TrialState.COMPLETE, value=0.5)
    with pytest.raises(et.StorageError, match="was opened read-only"):
        storage.create_study("new", {}, "minimize", None, {})
    assert [s.name for s in storage.list_studies()] == ["demo"]
    assert len(storage.get_trials(study_id)) == 3


def test_a_reader_sees_what_a_running_study_writes(tmp_path):
    path = tmp_path / "evotune.db"
    url = evotune_file(path)
    reader = SQLStorage(url, read_only=True)
    study_id = reader.load_study("demo").study_id
    assert len(reader.get_trials(study_id)) == 3
    study = et.Study.load("demo", url)  # the writer keeps the file in WAL mode
    assert schema_and_journal(path)[1] == "wal"
    study.optimize(lambda p: p["x"], max_trials=5, show_progress=False)
    assert len(reader.get_trials(study_id)) == 5  # the same pooled connections, fresh data
    running = study.ask()
    assert reader.get_trials(study_id, start=5)[0].state is TrialState.RUNNING
    study.tell(running, 0.25)
    assert reader.get_trials(study_id, start=5)[0].value == 0.25
    assert reader.list_studies()[0].n_complete == 6


@pytest.mark.postgres
@pytest.mark.skipif(not POSTGRES_URL, reason="needs EVOTUNE_TEST_POSTGRES_URL")
def test_postgresql_itself_refuses_a_reader_s_writes():
    clean_postgres(POSTGRES_URL)
    study = et.Study({"x": et.Float(0, 1)}, storage=POSTGRES_URL, name="demo")
    study.optimize(lambda p: p["x"], max_trials=3, show_progress=False)
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-c%20statement_timeout%3D4321"  # a user's own session options
    reader = SQLStorage(url, read_only=True)
    with reader._engine.connect() as connection:  # past evotune's own check, straight to the server
        assert connection.exec_driver_sql("SHOW default_transaction_read_only").scalar() == "on"
        assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "4321ms"  # kept
        with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
            connection.exec_driver_sql("DELETE FROM evotune_trials")
    assert len(reader.get_trials(reader.load_study("demo").study_id)) == 3
    assert len(et.Study.load("demo", POSTGRES_URL).trials) == 3


@pytest.mark.parametrize("url", ["sqlite:///", "sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_url_is_refused(url):
    with pytest.raises(et.StorageError, match="names no database file"):
        SQLStorage(url, read_only=True)


def test_a_missing_file_is_refused_and_not_created(tmp_path):
    target = tmp_path / "none.db"
    with pytest.raises(et.StorageError, match="no database file at .*none.db.*not created"):
        SQLStorage(f"sqlite:///{target}", read_only=True)
    assert not target.exists()


def test_an_odd_file_name_is_opened(tmp_path):
    folder = tmp_path / "runs ?#%20 here"
    folder.mkdir()
    url = evotune_file(folder / "a?b#c%41.db")
    assert SQLStorage(url, read_only=True).list_studies()[0].n_trials == 3


def test_open_storage_read_only(tmp_path):
    url = evotune_file(tmp_path / "evotune.db")
    storage = open_storage(url, read_only=True)
    assert isinstance(storage, SQLStorage) and storage.read_only
    assert pickle.loads(pickle.dumps(storage)).read_only  # a copy in another process reads only too
    for memory in (None, "memory"):
        with pytest.raises(et.StorageError, match="in-memory storage: there is nothing to read"):
            open_storage(memory, read_only=True)
    assert not open_storage(url).read_only  # the default is unchanged


def test_an_sqlite_uri_is_opened_read_only_too(tmp_path):
    path = tmp_path / "evotune.db"
    evotune_file(path)
    storage = SQLStorage(f"sqlite:///file:{path}?uri=true", read_only=True)
    assert storage.list_studies()[0].n_trials == 3
    missing = tmp_path / "none.db"
    for uri in (f"sqlite:///file:{missing}?uri=true", f"sqlite:///file:{missing}?mode=rwc&uri=true"):
        with pytest.raises(et.StorageError):
            SQLStorage(uri, read_only=True)
    assert not list(tmp_path.glob("*none*"))
