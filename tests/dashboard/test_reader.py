"""The dashboard's read-only, incremental view of a storage."""

from __future__ import annotations

import evotune as et
from evotune.dashboard.reader import ReadOnlyStorage, StudyReader
from evotune.storage import Storage

SPACE = {"x": et.Float(0.0, 1.0)}


class CountingStorage:
    """Wraps a storage and records which trials each get_trials call returned."""

    def __init__(self, storage: Storage):
        self.storage = storage
        self.url = storage.url
        self.fetched: list[list[int]] = []

    def __getattr__(self, name):
        return getattr(self.storage, name)

    def get_trials(self, study_id, start=0, numbers=None):
        trials = self.storage.get_trials(study_id, start=start, numbers=numbers)
        self.fetched.append([t.number for t in trials])
        return trials


def test_only_new_and_unfinished_trials_are_read_again(storage):
    study = et.Study(SPACE, storage=storage, name="inc", strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: p["x"], max_trials=5, show_progress=False)
    running = study.ask()
    counting = CountingStorage(storage)
    reader = StudyReader(counting, fresh_seconds=0)  # type: ignore[arg-type]
    first = reader.study("inc")
    assert len(first.trials) == 6 and first.unfinished == {5}
    revision = first.revision
    study.tell(running, 0.5)
    study.add({"x": 0.25}, 0.25)
    again = reader.study("inc")
    assert counting.fetched[-1] == [5, 6]  # the running trial, now finished, and the new one
    assert again.trials[5].state is et.TrialState.COMPLETE and len(again.trials) == 7
    assert again.unfinished == set() and again.revision == revision + 1
    reader.study("inc")
    assert counting.fetched[-1] == [] and reader.study("inc").revision == revision + 1


def test_a_heartbeat_alone_does_not_count_as_a_change(storage):
    study = et.Study(SPACE, storage=storage, name="beat")
    trial = study.ask()
    reader = StudyReader(storage, fresh_seconds=0)
    before = reader.study("beat").revision
    storage.heartbeat(study._record.study_id, [trial.number])
    assert reader.study("beat").revision == before


def test_a_recreated_study_is_read_from_scratch(storage):
    study = et.Study(SPACE, storage=storage, name="again")
    study.add({"x": 0.1}, 1.0)
    study.add({"x": 0.2}, 2.0)
    reader = StudyReader(storage, fresh_seconds=0)
    assert len(reader.study("again").trials) == 2
    storage.delete_study("again")
    fresh = et.Study(SPACE, storage=storage, name="again")
    fresh.add({"x": 0.3}, 3.0)
    assert [t.params["x"] for t in reader.study("again").trials] == [0.3]


def test_reads_are_reused_for_a_moment(storage):
    study = et.Study(SPACE, storage=storage, name="cache")
    study.add({"x": 0.1}, 1.0)
    counting = CountingStorage(storage)
    reader = StudyReader(counting, fresh_seconds=60)  # type: ignore[arg-type]
    reader.study("cache")
    study.add({"x": 0.2}, 2.0)
    assert len(reader.study("cache").trials) == 1 and len(counting.fetched) == 1


def test_the_read_only_storage_has_no_writing_method(storage):
    guarded = ReadOnlyStorage(storage)
    for name in ("create_study", "delete_study", "set_study_attrs", "set_study_metric", "create_trial", "claim_waiting_trial",
                 "finish_trial", "heartbeat", "fail_stale_trials"):
        assert not hasattr(guarded, name), name
