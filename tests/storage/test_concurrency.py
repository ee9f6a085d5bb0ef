"""Storage under concurrency: several OS processes hitting one database at the same moment.

Each test starts real processes (spawned, each with its own connection) that wait at a barrier
and then race on one study. Run on SQLite and, when ``EVOTUNE_TEST_POSTGRES_URL`` is set, on
PostgreSQL (the ``sql_url`` fixture of ``tests/conftest.py``).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import time
import uuid
from typing import Any

import pytest

from evotune.exceptions import TrialStateError
from evotune.storage import SQLStorage
from evotune.storage.base import DuplicateTrialError
from evotune.trial import TrialState

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0, "log": False, "step": None}}
STRATEGY = {"type": "random", "seed": 0}
PROCESSES = 4


@pytest.fixture(scope="module")
def racers():
    """PROCESSES spawned processes, kept for the module, that start each task at one barrier."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    with cf.ProcessPoolExecutor(PROCESSES, mp_context=context, initializer=_set_barrier,
                                initargs=(barrier,)) as pool:
        yield pool


_barrier: Any = None


def _set_barrier(barrier: Any) -> None:
    global _barrier
    _barrier = barrier


def _race(pool: cf.ProcessPoolExecutor, target: Any, url: str, study_id: int, *args: Any) -> list[Any]:
    """Run ``target(storage, study_id, index, *args)`` in every process at once; their results.

    A process waiting at the barrier takes no other task, so the tasks land on distinct processes.
    """
    futures = [pool.submit(_worker, target, url, study_id, index, args) for index in range(PROCESSES)]
    return [future.result(timeout=120) for future in futures]


def _worker(target: Any, url: str, study_id: int, index: int, args: tuple) -> Any:
    storage = SQLStorage(url)
    try:
        _barrier.wait(timeout=60)
        return target(storage, study_id, index, *args)
    finally:
        storage.close()


def _study(url: str) -> tuple[SQLStorage, int]:
    storage = SQLStorage(url)
    record, _ = storage.create_study(f"race-{uuid.uuid4().hex[:8]}", SPACE, "minimize", None, STRATEGY)
    return storage, record.study_id


# -- targets (run in the worker processes) --------------------------------------------------------
def _start_until_budget(storage, study_id, index, budget):
    numbers = []
    while True:
        trial = storage.create_trial(study_id, {"x": 0.5}, TrialState.RUNNING, key=uuid.uuid4().hex,
                                     max_trials=budget, unique=True)
        if trial is None:
            return numbers
        numbers.append(trial.number)
        storage.finish_trial(study_id, trial.number, TrialState.COMPLETE, value=float(index))
        time.sleep(0.002)  # as a trial would take: the lock is free for the others a moment


def _claim_all(storage, study_id, index):
    claimed = []
    while (trial := storage.claim_waiting_trial(study_id, worker=f"w{index}")) is not None:
        claimed.append(trial.number)
    return index, claimed


def _create_keys(storage, study_id, index, keys):
    created, duplicates = [], 0
    for key in keys:
        try:
            trial = storage.create_trial(study_id, {"x": 0.1}, TrialState.RUNNING, key=key, unique=True)
            created.append((trial.number, key))
        except DuplicateTrialError:
            duplicates += 1
    return created, duplicates


def _queue_unless_held(storage, study_id, index, keys):
    queued = []
    for key in keys:
        try:
            queued.append(storage.create_trial(study_id, {"x": 0.1}, TrialState.WAITING, key=key,
                                               unless_held=True).number)
        except DuplicateTrialError:
            pass
    return queued


def _name_metric(storage, study_id, index):
    return storage.set_study_metric(study_id, f"metric-{index}")


def _fail_stale(storage, study_id, index):
    return [t.number for t in storage.fail_stale_trials(study_id, 0.0)]


def _finish_or_fail(storage, study_id, index, numbers):
    """Even processes finish the trials, odd ones declare them lost: each trial must end once."""
    if index % 2:
        return ("lost", [t.number for t in storage.fail_stale_trials(study_id, 0.0)])
    finished = []
    for number in numbers:
        try:
            storage.finish_trial(study_id, number, TrialState.COMPLETE, value=1.0)
            finished.append(number)
        except TrialStateError:
            pass
    return ("finished", finished)


# -- tests ------------------------------------------------------------------------------------------
def test_global_budget_and_unique_numbers(racers, sql_url):
    storage, study_id = _study(sql_url)
    results = _race(racers, _start_until_budget, sql_url, study_id, 60)
    numbers = [n for result in results for n in result]
    assert sorted(numbers) == list(range(60))  # none twice, none missing, no overshoot
    trials = storage.get_trials(study_id)
    assert len(trials) == 60 and all(t.state is TrialState.COMPLETE for t in trials)
    assert sum(1 for result in results if result) >= 2  # the processes really raced


def test_each_waiting_trial_is_claimed_once(racers, sql_url):
    storage, study_id = _study(sql_url)
    for _ in range(40):
        storage.create_trial(study_id, {"x": 0.2}, TrialState.WAITING)
    results = _race(racers, _claim_all, sql_url, study_id)
    claimed = {n: index for index, numbers in results for n in numbers}
    assert sorted(claimed) == list(range(40)) and sum(len(n) for _, n in results) == 40
    trials = storage.get_trials(study_id)
    assert all(t.state is TrialState.RUNNING and t.attrs["worker"] == f"w{claimed[t.number]}" for t in trials)
    assert storage.claim_waiting_trial(study_id) is None


def test_unique_keys_are_created_once(racers, sql_url):
    storage, study_id = _study(sql_url)
    keys = [f"key-{i}" for i in range(30)]
    results = _race(racers, _create_keys, sql_url, study_id, keys)
    created = [item for made, _ in results for item in made]
    assert sorted(key for _, key in created) == sorted(keys)
    assert sorted(number for number, _ in created) == list(range(30))
    assert sum(duplicates for _, duplicates in results) == 30 * (PROCESSES - 1)


def test_a_configuration_is_queued_once_while_held(racers, sql_url):
    storage, study_id = _study(sql_url)
    keys = [f"key-{i}" for i in range(30)]
    for key in keys[::2]:  # interrupted trials: FAILED, so they do not hold their configuration
        interrupted = storage.create_trial(study_id, {"x": 0.1}, TrialState.RUNNING, key=key)
        storage.finish_trial(study_id, interrupted.number, TrialState.FAILED, error="interrupted")
    results = _race(racers, _queue_unless_held, sql_url, study_id, keys)
    queued = sorted(n for result in results for n in result)
    assert queued == list(range(15, 45))  # one per key, none twice
    waiting = [t for t in storage.get_trials(study_id) if t.state is TrialState.WAITING]
    assert [t.number for t in waiting] == queued


def test_a_study_metric_is_named_once(racers, sql_url):
    storage, study_id = _study(sql_url)
    results = _race(racers, _name_metric, sql_url, study_id)
    (stored,) = set(results)  # every process got the same metric back: the first one stored
    assert stored in {f"metric-{index}" for index in range(PROCESSES)}
    assert [summary.metric for summary in storage.list_studies()] == [stored]


def test_a_lost_trial_is_reported_by_one_worker_only(racers, sql_url):
    storage, study_id = _study(sql_url)
    for _ in range(25):
        storage.create_trial(study_id, {"x": 0.3}, TrialState.RUNNING)
    time.sleep(0.01)
    results = _race(racers, _fail_stale, sql_url, study_id)
    reported = [n for result in results for n in result]
    assert sorted(reported) == list(range(25))  # each once: a retry is queued once
    assert all(t.state is TrialState.FAILED and t.error == "worker lost" for t in storage.get_trials(study_id))


def test_finishing_and_failing_a_trial_at_once_ends_it_once(racers, sql_url):
    storage, study_id = _study(sql_url)
    numbers = [storage.create_trial(study_id, {"x": 0.4}, TrialState.RUNNING).number for _ in range(40)]
    time.sleep(0.01)
    results = _race(racers, _finish_or_fail, sql_url, study_id, numbers)
    finished = [n for kind, result in results if kind == "finished" for n in result]
    lost = [n for kind, result in results if kind == "lost" for n in result]
    assert sorted(finished + lost) == numbers  # every trial ended exactly once
    states = {t.number: t.state for t in storage.get_trials(study_id)}
    assert all(states[n] is TrialState.COMPLETE for n in finished)
    assert all(states[n] is TrialState.FAILED for n in lost)
