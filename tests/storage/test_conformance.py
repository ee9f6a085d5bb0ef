"""One conformance suite, run on every storage backend (memory, SQLite, PostgreSQL).

Each test gets an empty storage from the ``storage`` fixture in ``tests/conftest.py``;
tests that need persistence across connections (schema, corrupt files) use ``sql_url``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

import evotune as et
from evotune.storage import SCHEMA_VERSION, MemoryStorage, SQLStorage, StudyRecord, open_storage
from evotune.storage.base import DuplicateTrialError
from evotune.storage.sql import _normalize_url
from evotune.trial import Trial, TrialState

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": None}}
STRATEGY = {"type": "random", "seed": 3}


def new_study(storage, name: str = "s", direction: str = "minimize", metric: str | None = None) -> StudyRecord:
    record, created = storage.create_study(name, SPACE, direction, metric, STRATEGY, {"owner": "ana"})
    assert created
    return record


def reopen(storage):
    """The same data seen through a new connection (a new process would see the same)."""
    return storage if isinstance(storage, MemoryStorage) else SQLStorage(storage.url)


# -- studies ------------------------------------------------------------------------------------

def test_create_and_load_study(storage):
    record = new_study(storage, "mlp", "maximize", "accuracy")
    loaded = reopen(storage).load_study("mlp")
    assert loaded == record
    assert (loaded.name, loaded.space, loaded.direction, loaded.metric, loaded.strategy, loaded.attrs) == (
        "mlp", SPACE, "maximize", "accuracy", STRATEGY, {"owner": "ana"}
    )
    assert loaded.created_at.tzinfo is not None
    assert abs((datetime.now(timezone.utc) - loaded.created_at).total_seconds()) < 60


def test_creating_an_existing_study_returns_it_unchanged(storage):
    record = new_study(storage, "mlp")
    again, created = storage.create_study("mlp", {"y": {}}, "maximize", "other", {"type": "grid"})
    assert not created
    assert again == record  # the stored definition wins; the study decides whether it conflicts


def test_load_missing_study(storage):
    with pytest.raises(et.StudyNotFoundError, match="no study named 'nope'") as caught:
        storage.load_study("nope")
    assert isinstance(caught.value, KeyError)


def test_list_and_delete_studies(storage):
    first = new_study(storage, "a", "minimize")
    second = new_study(storage, "b", "maximize", "acc")
    for value in (3.0, 1.0, 2.0):
        storage.create_trial(first.study_id, {"x": value / 10}, TrialState.COMPLETE, value=value, metrics={"value": value})
        storage.create_trial(second.study_id, {"x": value / 10}, TrialState.COMPLETE, value=value, metrics={"acc": value})
    failed = storage.create_trial(first.study_id, {"x": 0.9}, TrialState.RUNNING)
    storage.finish_trial(first.study_id, failed.number, TrialState.FAILED, error="boom")
    storage.create_trial(first.study_id, {"x": 0.8}, TrialState.WAITING)
    summaries = {s.name: s for s in reopen(storage).list_studies()}
    assert set(summaries) == {"a", "b"}
    a, b = summaries["a"], summaries["b"]
    assert (a.n_trials, a.n_complete, a.n_failed, a.best_value, a.strategy) == (5, 3, 1, 1.0, "random")
    assert (b.n_trials, b.n_complete, b.n_failed, b.best_value, b.metric) == (3, 3, 0, 3.0, "acc")
    assert a.last_activity is not None and a.last_activity >= a.created_at
    storage.delete_study("a")
    assert [s.name for s in storage.list_studies()] == ["b"]
    with pytest.raises(et.StudyNotFoundError):
        storage.load_study("a")
    with pytest.raises(et.StudyNotFoundError):
        storage.delete_study("a")
    renewed = new_study(storage, "a")  # the name is free again, with no trials
    assert storage.get_trials(renewed.study_id) == []


def test_empty_storage_lists_nothing(storage):
    assert storage.list_studies() == []


def test_study_attrs_merge(storage):
    record = new_study(storage)
    storage.set_study_attrs(record.study_id, {"strategy": {"type": "grid", "seed": 1}, "note": "é"})
    storage.set_study_attrs(record.study_id, {"note": "ü"})
    attrs = reopen(storage).load_study("s").attrs
    assert attrs == {"owner": "ana", "strategy": {"type": "grid", "seed": 1}, "note": "ü"}


def test_the_summary_shows_the_strategy_the_study_now_uses(storage):
    record = new_study(storage)  # created with random search
    assert [s.strategy for s in reopen(storage).list_studies()] == ["random"]
    storage.set_study_attrs(record.study_id, {"strategy": {"type": "grid", "seed": 1}})  # reopened with a grid
    assert [s.strategy for s in reopen(storage).list_studies()] == ["grid"]


def test_a_study_without_a_metric_can_be_given_one(storage):
    record = new_study(storage)
    assert storage.set_study_metric(record.study_id, "loss") == "loss"
    stored = reopen(storage).load_study("s")
    assert stored.metric == "loss" and stored.attrs == {"owner": "ana"} and stored.space == record.space


def test_a_study_metric_is_set_once_and_the_stored_one_returned(storage):
    """A compare-and-set: of two processes naming different metrics, the first wins."""
    record = new_study(storage)
    assert storage.set_study_metric(record.study_id, "loss") == "loss"
    assert reopen(storage).set_study_metric(record.study_id, "acc") == "loss"  # another connection: refused
    assert storage.set_study_metric(record.study_id, "loss") == "loss"
    assert reopen(storage).load_study("s").metric == "loss"
    named = new_study(storage, "named", metric="acc")
    assert storage.set_study_metric(named.study_id, "loss") == "acc"
    assert reopen(storage).load_study("named").metric == "acc"
    storage.delete_study("named")
    with pytest.raises(et.StudyNotFoundError):
        storage.set_study_metric(named.study_id, "loss")


def test_studies_do_not_share_trials(storage):
    a, b = new_study(storage, "a"), new_study(storage, "b")
    storage.create_trial(a.study_id, {"x": 0.1}, TrialState.RUNNING, key="k")
    trial = storage.create_trial(b.study_id, {"x": 0.1}, TrialState.RUNNING, key="k", unique=True)
    assert trial.number == 0
    assert len(storage.get_trials(a.study_id)) == 1 and len(storage.get_trials(b.study_id)) == 1


# -- trials -------------------------------------------------------------------------------------

def test_trial_lifecycle(storage):
    study_id = new_study(storage).study_id
    running = storage.create_trial(study_id, {"x": 0.5}, TrialState.RUNNING, origin="random", attrs={"worker": "w1"})
    assert (running.number, running.state, running.origin) == (0, TrialState.RUNNING, "random")
    assert running.started_at is not None and running.finished_at is None and running.heartbeat_at is not None
    done = storage.finish_trial(study_id, 0, TrialState.COMPLETE, value=0.25, metrics={"loss": 0.25, "acc": 0.9},
                                attrs={"duration_objective": 0.01})
    assert done.state is TrialState.COMPLETE and done.value == 0.25
    assert done.attrs == {"worker": "w1", "duration_objective": 0.01}
    stored = reopen(storage).get_trials(study_id)[0]
    assert stored.state is TrialState.COMPLETE and stored.value == 0.25
    assert stored.metrics == {"loss": 0.25, "acc": 0.9}
    assert stored.attrs == {"worker": "w1", "duration_objective": 0.01}
    assert stored.started_at <= stored.finished_at and stored.duration >= 0
    assert stored.finished_at.tzinfo is not None


def test_failed_trial_keeps_its_error(storage):
    study_id = new_study(storage).study_id
    storage.create_trial(study_id, {"x": 0.5}, TrialState.RUNNING)
    error = "ValueError: bad\nTraceback (most recent call last):\n  ..."
    storage.finish_trial(study_id, 0, TrialState.FAILED, error=error)
    stored = reopen(storage).get_trials(study_id)[0]
    assert stored.state is TrialState.FAILED and stored.error == error and stored.value is None


def test_only_a_running_trial_can_be_finished(storage):
    study_id = new_study(storage).study_id
    storage.create_trial(study_id, {"x": 0.5}, TrialState.RUNNING)
    storage.finish_trial(study_id, 0, TrialState.COMPLETE, value=1.0)
    with pytest.raises(et.TrialStateError, match="trial 0 is COMPLETE"):
        storage.finish_trial(study_id, 0, TrialState.COMPLETE, value=2.0)
    storage.create_trial(study_id, {"x": 0.6}, TrialState.WAITING)
    with pytest.raises(et.TrialStateError, match="trial 1 is WAITING"):
        storage.finish_trial(study_id, 1, TrialState.COMPLETE, value=2.0)
    with pytest.raises(et.TrialStateError, match="trial 7"):
        storage.finish_trial(study_id, 7, TrialState.COMPLETE, value=2.0)
    with pytest.raises(et.TrialStateError):
        storage.finish_trial(study_id, -1, TrialState.COMPLETE, value=2.0)
    assert storage.get_trials(study_id)[0].value == 1.0


def test_numbers_are_gap_free_across_states(storage):
    study_id = new_study(storage).study_id
    states = [TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING]
    numbers = [storage.create_trial(study_id, {"x": i / 10}, s, value=1.0 if s is TrialState.COMPLETE else None).number
               for i, s in enumerate(states)]
    assert numbers == [0, 1, 2, 3, 4]
    trials = reopen(storage).get_trials(study_id)
    assert [t.state for t in trials] == states
    assert trials[0].started_at is None and trials[2].finished_at is not None


def test_claim_takes_the_oldest_waiting_trial(storage):
    study_id = new_study(storage).study_id
    storage.create_trial(study_id, {"x": 0.1}, TrialState.WAITING, origin="manual", attrs={"source": "enqueue"})
    storage.create_trial(study_id, {"x": 0.2}, TrialState.RUNNING)
    storage.create_trial(study_id, {"x": 0.3}, TrialState.WAITING)
    first = storage.claim_waiting_trial(study_id, worker="host:1")
    assert (first.number, first.state, first.params) == (0, TrialState.RUNNING, {"x": 0.1})
    assert first.attrs == {"source": "enqueue", "worker": "host:1"} and first.started_at is not None
    assert storage.claim_waiting_trial(study_id).number == 2
    assert storage.claim_waiting_trial(study_id) is None
    stored = reopen(storage).get_trials(study_id)
    assert [t.state for t in stored] == [TrialState.RUNNING] * 3
    assert stored[0].attrs["worker"] == "host:1" and stored[0].origin == "manual"


def test_budget_counts_started_trials_only(storage):
    study_id = new_study(storage).study_id
    storage.create_trial(study_id, {"x": 0.0}, TrialState.COMPLETE, value=1.0)  # a manual record counts
    storage.create_trial(study_id, {"x": 0.1}, TrialState.WAITING)  # queued does not count
    assert storage.create_trial(study_id, {"x": 0.2}, TrialState.RUNNING, max_trials=3).number == 2
    assert storage.claim_waiting_trial(study_id, max_trials=3).number == 1
    assert storage.create_trial(study_id, {"x": 0.3}, TrialState.RUNNING, max_trials=3) is None
    storage.create_trial(study_id, {"x": 0.4}, TrialState.WAITING)
    assert storage.claim_waiting_trial(study_id, max_trials=3) is None
    assert [t.number for t in storage.get_trials(study_id)] == [0, 1, 2, 3]  # nothing created over budget
    assert storage.claim_waiting_trial(study_id, max_trials=4).number == 3
    assert storage.create_trial(study_id, {"x": 0.5}, TrialState.RUNNING) is not None  # no budget given


def test_duplicate_keys(storage):
    study_id = new_study(storage).study_id
    storage.create_trial(study_id, {"x": 0.5}, TrialState.RUNNING, key="abc", unique=True)
    with pytest.raises(DuplicateTrialError):
        storage.create_trial(study_id, {"x": 0.5}, TrialState.RUNNING, key="abc", unique=True)
    again = storage.create_trial(study_id, {"x": 0.5}, TrialState.WAITING, key="abc")  # retries may repeat
    assert again.number == 1
    assert storage.create_trial(study_id, {"x": 0.6}, TrialState.RUNNING, key="def", unique=True).number == 2
    assert len(storage.get_trials(study_id)) == 3


def test_a_configuration_held_by_a_trial_is_not_queued_again(storage):
    """``unless_held``: refused while a WAITING, RUNNING or COMPLETE trial has the key; queued
    again once every trial of the key FAILED; nothing written when refused."""
    study_id = new_study(storage).study_id

    def queue(key: str = "abc", through=storage):
        return through.create_trial(study_id, {"x": 0.5}, TrialState.WAITING, key=key, unless_held=True,
                                    attrs={"retry_of": 0})

    assert queue().number == 0
    with pytest.raises(DuplicateTrialError):  # WAITING
        queue(through=reopen(storage))
    storage.claim_waiting_trial(study_id)
    with pytest.raises(DuplicateTrialError):  # RUNNING
        queue()
    storage.finish_trial(study_id, 0, TrialState.FAILED, error="interrupted")
    assert queue(through=reopen(storage)).number == 1  # every trial of the key FAILED
    storage.claim_waiting_trial(study_id)
    storage.finish_trial(study_id, 1, TrialState.COMPLETE, value=1.0)
    with pytest.raises(DuplicateTrialError):  # COMPLETE
        queue()
    storage.create_trial(study_id, {"x": 0.6}, TrialState.COMPLETE, key="def", value=2.0)
    with pytest.raises(DuplicateTrialError):  # a COMPLETE trial created as such
        queue("def")
    assert queue("ghi").number == 3 and queue(None).number == 4  # no key: nothing to check
    trials = reopen(storage).get_trials(study_id)
    assert [t.state for t in trials] == [TrialState.FAILED, TrialState.COMPLETE, TrialState.COMPLETE,
                                         TrialState.WAITING, TrialState.WAITING]
    started = storage.create_trial(study_id, {"x": 0.5}, TrialState.RUNNING, key="abc", unless_held=False)
    assert started.number == 5  # the condition applies only when asked for


def test_heartbeat_and_stale_trials(storage):
    study_id = new_study(storage).study_id
    storage.create_trial(study_id, {"x": 0.1}, TrialState.RUNNING)
    storage.create_trial(study_id, {"x": 0.2}, TrialState.RUNNING)
    storage.create_trial(study_id, {"x": 0.3}, TrialState.RUNNING)
    storage.finish_trial(study_id, 2, TrialState.COMPLETE, value=1.0)
    storage.create_trial(study_id, {"x": 0.4}, TrialState.WAITING)
    time.sleep(0.5)
    before = storage.get_trials(study_id)[1].heartbeat_at
    storage.heartbeat(study_id, [1])
    storage.heartbeat(study_id, [])
    assert storage.get_trials(study_id)[1].heartbeat_at > before
    assert storage.fail_stale_trials(study_id, 60.0) == []
    lost = storage.fail_stale_trials(study_id, 0.35)  # trial 0 is silent for 0.5 s, trial 1 just beat
    assert [t.number for t in lost] == [0]
    assert lost[0].state is TrialState.FAILED and lost[0].error == "worker lost"
    trials = reopen(storage).get_trials(study_id)
    assert [t.state for t in trials] == [TrialState.FAILED, TrialState.RUNNING, TrialState.COMPLETE, TrialState.WAITING]
    assert trials[0].error == "worker lost" and trials[0].finished_at is not None
    with pytest.raises(et.TrialStateError):  # a lost trial cannot be finished late
        storage.finish_trial(study_id, 0, TrialState.COMPLETE, value=1.0)


def test_only_watched_trials_are_declared_lost(storage):
    """A trial run by hand (``ask``) has no heartbeat stamp: however old, it is never failed."""
    study_id = new_study(storage).study_id
    by_hand = storage.create_trial(study_id, {"x": 0.1}, TrialState.RUNNING, watched=False)
    looped = storage.create_trial(study_id, {"x": 0.2}, TrialState.RUNNING)
    storage.create_trial(study_id, {"x": 0.3}, TrialState.WAITING)
    storage.create_trial(study_id, {"x": 0.4}, TrialState.WAITING)
    claimed_by_hand = storage.claim_waiting_trial(study_id, watched=False)
    claimed_looped = storage.claim_waiting_trial(study_id, worker="host:1")
    assert by_hand.heartbeat_at is None and claimed_by_hand.heartbeat_at is None
    assert looped.heartbeat_at is not None and claimed_looped.heartbeat_at is not None
    stored = reopen(storage).get_trials(study_id)
    assert [t.heartbeat_at is None for t in stored] == [True, False, True, False]
    assert all(t.started_at is not None for t in stored)
    time.sleep(0.3)
    lost = storage.fail_stale_trials(study_id, 0.1)
    assert [t.number for t in lost] == [1, 3] and all(t.error == "worker lost" for t in lost)
    assert storage.fail_stale_trials(study_id, 0.0) == []
    trials = reopen(storage).get_trials(study_id)
    assert [t.state for t in trials] == [TrialState.RUNNING, TrialState.FAILED] * 2
    assert storage.finish_trial(study_id, 0, TrialState.COMPLETE, value=1.0).state is TrialState.COMPLETE
    assert storage.finish_trial(study_id, 2, TrialState.FAILED, error="gave up").error == "gave up"

def test_get_trials_from_start_plus_chosen_numbers(storage):
    study_id = new_study(storage).study_id
    for i in range(6):
        storage.create_trial(study_id, {"x": i / 10}, TrialState.RUNNING)
    assert [t.number for t in storage.get_trials(study_id, start=4)] == [4, 5]
    assert [t.number for t in storage.get_trials(study_id, start=4, numbers=[1, 2, 5])] == [1, 2, 4, 5]
    assert storage.get_trials(study_id, start=6) == []


def test_json_round_trip_of_params_metrics_and_attrs(storage):
    record, _ = storage.create_study(
        "ünïcødé ☃ study", {"名前": {"type": "categorical", "choices": ["α", "β", None, True, 1.5], "ordered": False}},
        "minimize", "損失", {"type": "random", "seed": 1}, {"comment": "café 🎉"},
    )
    params = {"名前": "β", "flag": True, "none": None, "n": 3, "x": 0.1, "big": 1e300, "small": -5e-324}
    attrs = {"nested": {"list": [1, "two", None, {"k": "🎉"}]}, "text": "line\nbreak \"quoted\" \\ slash"}
    trial = storage.create_trial(record.study_id, params, TrialState.COMPLETE, origin="mutation", generation=4,
                                 parents=(0, 2), attrs=attrs, value=-0.5, metrics={"損失": -0.5, "acc": 1.0})
    assert trial.params == params
    fresh = reopen(storage)
    loaded = fresh.load_study("ünïcødé ☃ study")
    assert loaded.space["名前"]["choices"] == ["α", "β", None, True, 1.5]
    assert loaded.metric == "損失" and loaded.attrs == {"comment": "café 🎉"}
    stored = fresh.get_trials(loaded.study_id)[0]
    assert stored.params == params and [type(v) for v in stored.params.values()] == [type(v) for v in params.values()]
    assert stored.attrs == attrs
    assert stored.metrics == {"損失": -0.5, "acc": 1.0}
    assert (stored.value, stored.origin, stored.generation, stored.parents) == (-0.5, "mutation", 4, (0, 2))
    assert isinstance(stored, Trial) and stored.to_dict()["parents"] == [0, 2]


def test_finished_trial_is_durable_for_a_new_connection(storage):
    study_id = new_study(storage).study_id
    storage.create_trial(study_id, {"x": 0.5}, TrialState.RUNNING)
    storage.finish_trial(study_id, 0, TrialState.COMPLETE, value=3.0)
    other = reopen(storage)
    assert other.get_trials(study_id)[0].value == 3.0
    other.create_trial(study_id, {"x": 0.6}, TrialState.RUNNING)  # the other writer sees the counters
    assert [t.number for t in storage.get_trials(study_id)] == [0, 1]


# -- SQL only: schema version, corrupt files, URLs ------------------------------------------------

def test_schema_version_is_recorded_and_a_newer_one_refused(sql_url):
    SQLStorage(sql_url).close()
    engine = sa.create_engine(_normalize_url(sql_url))
    with engine.begin() as connection:
        version = connection.exec_driver_sql("SELECT value FROM evotune_meta WHERE key = 'schema_version'").scalar_one()
        assert int(version) == SCHEMA_VERSION
        connection.exec_driver_sql(
            f"UPDATE evotune_meta SET value = '{SCHEMA_VERSION + 1}' WHERE key = 'schema_version'"
        )
    engine.dispose()
    with pytest.raises(et.SchemaVersionError, match=rf"schema version {SCHEMA_VERSION + 1}.*upgrade evotune") as caught:
        SQLStorage(sql_url)
    assert isinstance(caught.value, et.StorageError)
    with pytest.raises(et.SchemaVersionError):
        et.Study({"x": et.Float(0, 1)}, storage=sql_url, name="s")


def test_reopening_keeps_the_data(sql_url):
    storage = SQLStorage(sql_url)
    study_id = new_study(storage).study_id
    storage.create_trial(study_id, {"x": 0.5}, TrialState.COMPLETE, value=1.0)
    storage.close()
    again = SQLStorage(sql_url)
    assert again.load_study("s").study_id == study_id
    assert again.get_trials(study_id)[0].value == 1.0
    again.close()


@pytest.mark.parametrize("content", [b"this is not a database" * 50, b"SQLite format 3\x00" + b"\xff" * 2000])
def test_corrupt_sqlite_file_raises_storage_error(tmp_path, content):
    path = tmp_path / "broken.db"
    path.write_bytes(content)
    with pytest.raises(et.StorageError, match="broken.db"):
        SQLStorage(f"sqlite:///{path}")
    with pytest.raises(et.StorageError):
        et.Study({"x": et.Float(0, 1)}, storage=f"sqlite:///{path}", name="s")
    assert path.read_bytes() == content  # left as it was


def test_unusable_urls_raise_storage_error(tmp_path):
    with pytest.raises(et.StorageError, match="does not exist"):
        open_storage(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    with pytest.raises(et.StorageError, match="not supported"):
        open_storage("mysql://localhost/db")
    with pytest.raises(et.StorageError, match="URL string"):
        open_storage(42)
    assert isinstance(open_storage(None), MemoryStorage)
    assert isinstance(open_storage("memory"), MemoryStorage)


def test_sqlite_uses_wal(sqlite_url):
    storage = SQLStorage(sqlite_url)
    with storage._engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() > 0
    storage.close()


def test_sql_storage_pickles_as_its_url(sqlite_url):
    import pickle

    storage = SQLStorage(sqlite_url)
    new_study(storage)
    copy = pickle.loads(pickle.dumps(storage))
    assert copy.url == sqlite_url and copy.load_study("s").name == "s"
