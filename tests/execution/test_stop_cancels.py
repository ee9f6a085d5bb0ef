"""When optimize stops (timeout, target, patience, study.stop()), no trial starts any more:
trials submitted ahead of time and not started yet are cancelled, recorded and queued again."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time

import pytest

import evotune as et
from evotune.execution.runners import ExecutorRunner

SKIPPED = "skipped, not run: cancelled before it started, as the run stopped"


def sleepy(params: dict) -> dict:
    """Sleep ``params["x"]`` seconds; report when it started (wall clock)."""
    start = time.time()
    time.sleep(params["x"])
    return {"loss": params["x"], "start": start}


def _study(*durations: float) -> et.Study:
    """A study whose first trials sleep ``durations`` seconds, the next ones up to 1 s."""
    study = et.Study({"x": et.Float(0.0, 1.0)}, metric="loss", strategy=et.RandomSearch(seed=0))
    for seconds in durations:
        study.enqueue({"x": seconds})
    return study


def _check_stopped(study: et.Study, stopped_at: float) -> list[et.Trial]:
    """No trial started after ``stopped_at``; the cancelled ones are FAILED, each queued again once.
    Returns the cancelled trials."""
    trials = study.trials
    ran = [t for t in trials if t.state is et.TrialState.COMPLETE]
    assert all(t.metrics["start"] <= stopped_at for t in ran), [(t.number, t.metrics["start"] - stopped_at)
                                                                for t in ran]
    cancelled = [t for t in trials if t.state is et.TrialState.FAILED]
    assert cancelled and all(t.error.startswith(SKIPPED) for t in cancelled), [t.error for t in trials]
    retries = [t for t in trials if t.state is et.TrialState.WAITING]
    # Queued in the order they were cancelled; on Dask, the order in which workers reached them.
    assert {t.attrs["retry_of"]: t.params for t in retries} == {t.number: t.params for t in cancelled}
    assert len(retries) == len(cancelled)
    assert not any(t.state is et.TrialState.RUNNING for t in trials)
    return cancelled


# -- any concurrent.futures executor: Future.cancel() withdraws a pending call ----------------------
def test_timeout_cancels_the_calls_waiting_in_a_thread_pool():
    study = _study(0.6, 0.61, 0.62)
    start = time.time()
    with cf.ThreadPoolExecutor(1) as pool:  # three in flight, one runs: two wait in the pool's queue
        study.optimize(sleepy, timeout=0.2, executor=pool, max_concurrent=3, show_progress=False)
    assert study.stop_reason == "timeout"
    assert time.time() - start < 1.1  # the one started trial, not three in a row
    cancelled = _check_stopped(study, start + 0.2)
    assert [t.number for t in cancelled] == [1, 2]
    assert "(timeout)" in cancelled[0].error


def test_a_resumed_run_starts_the_cancelled_trials_first_without_using_more_budget():
    study = _study(0.3, 0.31, 0.32)
    with cf.ThreadPoolExecutor(1) as pool:
        study.optimize(sleepy, max_trials=5, timeout=0.1, executor=pool, max_concurrent=3, show_progress=False)
        assert [t.state.name for t in study.trials] == ["COMPLETE", "FAILED", "FAILED", "WAITING", "WAITING"]
        study.optimize(sleepy, max_trials=5, executor=pool, show_progress=False)
    complete = [t.params["x"] for t in study.trials if t.state is et.TrialState.COMPLETE]
    assert complete[:3] == [0.3, 0.31, 0.32]
    assert len(complete) == 5  # the cancelled trials use no budget: their retries stand in for them
    assert study.stop_reason == "max_trials reached"


def test_stop_from_a_callback_cancels_the_waiting_calls_and_lets_running_ones_finish():
    study = _study(0.1, 0.8, 0.81, 0.82)
    stopped_at = []

    def stop_after_first(study: et.Study, trial: et.Trial) -> None:
        if not stopped_at:
            stopped_at.append(time.time())
            study.stop("enough")

    with cf.ThreadPoolExecutor(2) as pool:  # four in flight, two run
        study.optimize(sleepy, executor=pool, max_concurrent=4, callbacks=[stop_after_first], show_progress=False)
    assert study.stop_reason == "enough"
    trials = study.trials
    assert trials[1].state is et.TrialState.COMPLETE  # running when stop() came: it finished
    assert trials[3].state is et.TrialState.FAILED and trials[3].error.startswith(SKIPPED)
    # Trial 2 starts as trial 0 ends, just before or just after stop(): it ran, or was cancelled.
    _check_stopped(study, stopped_at[0] + 0.2)  # trial 3 would have started 0.7 s later


def test_processes_start_no_trial_after_the_timeout():
    """Local processes hold no trial ahead of a free worker: there is nothing to cancel."""
    _study(0.0, 0.01).optimize(sleepy, max_trials=2, n_jobs=2, show_progress=False)  # workers started
    study = _study()
    start = time.time()
    study.optimize(sleepy, timeout=1.0, n_jobs=2, show_progress=False)
    assert study.stop_reason == "timeout"
    assert all(t.metrics["start"] <= start + 1.0 for t in study.trials if t.state is et.TrialState.COMPLETE)
    assert all(t.state is et.TrialState.COMPLETE for t in study.trials)


# -- Dask: the scheduler holds a second trial per worker thread; the start gate keeps it from running -----
def _dask_client(**options):
    distributed = pytest.importorskip("distributed")
    return distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=":0",
                              silence_logs=logging.ERROR, **options)


@pytest.fixture(scope="module")
def dask_client():
    """Two threads, so four trials in flight: two run, two wait."""
    with _dask_client() as client:
        yield client


def test_dask_timeout_cancels_the_trials_queued_ahead(dask_client):
    study = _study(0.8, 0.81, 0.82, 0.83)
    start = time.time()
    study.optimize(sleepy, timeout=0.3, executor=dask_client.get_executor(), show_progress=False)
    assert study.stop_reason == "timeout"
    assert time.time() - start < 1.5  # two trials, not the two queued behind them too
    cancelled = _check_stopped(study, start + 0.3)
    assert [t.number for t in cancelled] == [2, 3]
    assert [t.state for t in study.trials[:2]] == [et.TrialState.COMPLETE] * 2


def _stop(study: et.Study, trial: et.Trial) -> None:
    study.stop("enough")


@pytest.mark.parametrize("stop", [{"target": 0.05}, {"callbacks": [_stop]}], ids=["target", "stop"])
def test_dask_stop_cancels_the_trial_queued_behind_running_ones(dask_client, stop):
    study = _study(0.05, 0.8, 0.81, 0.82)  # trial 0 stops the run; 1 runs on; 2 and 3 wait
    start = time.time()
    study.optimize(sleepy, max_trials=10, executor=dask_client.get_executor(), show_progress=False, **stop)
    assert study.stop_reason == ("target reached" if "target" in stop else "enough")
    trials = study.trials
    assert trials[1].state is et.TrialState.COMPLETE  # running at the stop: it finished
    # Trial 2 (or 3) takes trial 0's thread as it ends, at the stop: it runs, or is skipped.
    # The other one can start only as trial 1 ends, 0.8 s in, long after the stop.
    cancelled = _check_stopped(study, start + 0.5)
    assert {t.number for t in cancelled} & {2, 3} and f"({study.stop_reason})" in cancelled[-1].error


def test_dask_gate_on_another_scheduler_is_given_up_and_no_trial_is_lost(dask_client, capsys):
    """The gate lives on the default client's scheduler; an executor of another cluster's client
    does not see it: its trials run all the same, without a gate."""
    distributed = pytest.importorskip("distributed")
    with _dask_client(set_as_default=False) as other:
        assert distributed.get_client() is dask_client  # the default client: the gate goes there
        study = _study(0.01, 0.02, 0.03, 0.04)
        study.optimize(sleepy, max_trials=4, executor=other.get_executor(), show_progress=False)
    assert [t.state for t in study.trials] == [et.TrialState.COMPLETE] * 4
    assert capsys.readouterr().err.count("do not see this run's start gate") == 1


def test_dask_gate_is_deleted_after_the_run(dask_client):
    distributed = pytest.importorskip("distributed")
    runner = ExecutorRunner(sleepy, dask_client.get_executor(), None, None)
    assert runner.gate is None  # opened by the first trial only
    runner.submit({"x": 0.0}).result()
    name = runner.gate.name
    assert distributed.Event(name).is_set()
    runner.close()  # clears the event, which the scheduler then forgets
    assert not distributed.Event(name).is_set()


def test_dask_without_a_default_client_runs_without_a_gate(dask_client, monkeypatch):
    distributed = pytest.importorskip("distributed")

    def no_client():
        raise ValueError("No global client found and no address provided")

    monkeypatch.setattr(distributed, "get_client", no_client)
    study = _study(0.3, 0.31, 0.32, 0.33)
    study.optimize(sleepy, timeout=0.1, executor=dask_client.get_executor(), show_progress=False)
    # Without a gate nothing is cancelled on Dask: the trials queued ahead still run, after the stop.
    assert [t.state for t in study.trials] == [et.TrialState.COMPLETE] * 4


def test_a_cancelled_trial_keeps_the_retries_a_lost_worker_is_allowed():
    study = _study(0.6, 0.61, 0.62)
    with cf.ThreadPoolExecutor(1) as pool:
        study.optimize(sleepy, timeout=0.2, executor=pool, max_concurrent=3, show_progress=False)
    retries = [t for t in study.trials if t.state is et.TrialState.WAITING]
    assert len(retries) == 2
    assert all(t.attrs["attempt"] == 0 for t in retries)  # a stop is no attempt: retries=1 still covers them
    study.tell(study.ask(), error="interrupted")  # Ctrl-C on the first retry...
    (again,) = study.requeue_interrupted()
    assert again.attrs["attempt"] == 0  # ...is no attempt either
