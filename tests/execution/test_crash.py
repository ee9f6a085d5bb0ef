"""Crash recovery: kill -9 of the process driving a study, heartbeats, grace period, retries."""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import time
from pathlib import Path

import pytest

import evotune as et
from evotune.execution import heartbeat
from evotune.execution.heartbeat import Heartbeat
from evotune.storage.base import utcnow
from tests.execution.objectives import quadratic, run_script, space

#: A driver that finishes three trials, then hangs in the fourth until it is killed.
_HANGING_DRIVER = """
    import sys, time
    from pathlib import Path
    import evotune as et
    from tests.execution.objectives import quadratic, space

    url, folder, name = sys.argv[1:4]

    def objective(params):
        done = len(list(Path(folder).glob("call-*")))
        Path(folder, f"call-{{done}}").touch()
        if done == 3:
            Path(folder, "hanging").touch()
            time.sleep(120)
        return quadratic(params)

    if __name__ == "__main__":
        study = et.Study(space(), storage=url, name=name, strategy=et.RandomSearch(seed=1))
        study.optimize(objective, max_trials=20, heartbeat_interval={interval}, grace_period={grace})
"""


def _start_hanging_driver(tmp_path: Path, url: str, name: str, interval: float = 0.2, grace: float = 0.6):
    calls = tmp_path / name
    calls.mkdir()
    process = run_script(tmp_path, _HANGING_DRIVER.format(interval=interval, grace=grace), url, str(calls), name)
    deadline = time.monotonic() + 60
    while not (calls / "hanging").exists():
        assert process.poll() is None, "the driver ended early"
        assert time.monotonic() < deadline, "the driver never reached its fourth trial"
        time.sleep(0.05)
    return process


def _kill(process) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def test_new_optimize_after_kill_9_continues_with_finished_trials_intact(tmp_path, sql_url):
    driver = _start_hanging_driver(tmp_path, sql_url, "crashed")
    before = et.Study.load("crashed", sql_url).trials
    _kill(driver)
    assert [t.state for t in before] == [et.TrialState.COMPLETE] * 3 + [et.TrialState.RUNNING]

    time.sleep(0.7)  # the killed driver's heartbeat is now older than the grace period
    study = et.Study(space(), storage=sql_url, name="crashed", strategy=et.RandomSearch(seed=1))
    study.optimize(quadratic, max_trials=8, heartbeat_interval=0.1, grace_period=0.5, retries=1)
    trials = study.trials
    assert trials[:3] == before[:3]  # finished trials untouched
    lost = trials[3]
    assert lost.state is et.TrialState.FAILED and lost.error == "worker lost"
    retry = [t for t in trials if t.attrs.get("retry_of") == 3]
    assert len(retry) == 1 and retry[0].params == lost.params and retry[0].state is et.TrialState.COMPLETE
    assert retry[0].attrs["attempt"] == 1
    assert len(trials) == 9 and sum(t.state is et.TrialState.COMPLETE for t in trials) == 8
    assert study.stop_reason == "max_trials reached"


def test_a_resumed_grid_retries_the_cell_a_killed_run_was_evaluating_at_once(tmp_path, sql_url):
    driver = run_script(tmp_path, """
        import sys, time
        import evotune as et

        def objective(params):
            if params["x"] == 3:
                time.sleep(120)
            return float(params["x"])

        if __name__ == "__main__":
            study = et.Study({"x": et.Int(0, 5)}, storage=sys.argv[1], name="grid", strategy=et.GridSearch())
            study.optimize(objective, max_trials=6)
    """, sql_url)
    deadline = time.monotonic() + 60
    while [t.state for t in _trials_or_none(sql_url, "grid")][3:4] != [et.TrialState.RUNNING]:
        assert driver.poll() is None and time.monotonic() < deadline, "the driver never reached x = 3"
        time.sleep(0.05)
    _kill(driver)
    study = et.Study.load("grid", sql_url)
    started = time.monotonic()
    study.optimize(lambda p: float(p["x"]), max_trials=6, retries=1)  # the default grace period: 60 s
    assert time.monotonic() - started < 30  # the dead process's trial did not wait for the grace period
    trials = study.trials
    assert trials[3].state is et.TrialState.FAILED and trials[3].error == "worker lost"
    complete = sorted(t.params["x"] for t in trials if t.state is et.TrialState.COMPLETE)
    assert complete == list(range(6))  # every cell, the interrupted one included
    assert [t.attrs["retry_of"] for t in trials if "retry_of" in t.attrs] == [3]


def _trials_or_none(url: str, name: str) -> list:
    try:
        return et.Study.load(name, url).trials
    except (et.StudyNotFoundError, et.StorageError):
        return []


def test_a_running_worker_fails_a_dead_workers_trial_after_the_grace_period(tmp_path, sql_url, monkeypatch):
    monkeypatch.setattr(heartbeat, "process_scope", lambda: "another machine")  # not a local process
    driver = _start_hanging_driver(tmp_path, sql_url, "shared")
    _kill(driver)
    killed_at = time.time()
    study = et.Study.load("shared", sql_url)

    def slow(params):
        time.sleep(0.05)
        return quadratic(params)

    # Started at once: the lost trial is not stale yet; this worker's heartbeat finds it later.
    study.optimize(slow, max_trials=40, heartbeat_interval=0.2, grace_period=1.0, retries=2)
    lost = study.trials[3]
    assert lost.state is et.TrialState.FAILED and lost.error == "worker lost"
    assert lost.finished_at.timestamp() >= killed_at + 0.5  # not before the grace period ran out
    assert any(t.attrs.get("retry_of") == 3 and t.state is et.TrialState.COMPLETE for t in study.trials)


def test_slow_trial_of_a_live_worker_is_not_declared_lost(tmp_path, sql_url):
    slow = run_script(tmp_path, """
        import sys, time
        import evotune as et
        from tests.execution.objectives import space

        def objective(params):
            time.sleep(2.0)  # longer than the grace period: only heartbeats keep it alive
            return 1.0

        if __name__ == "__main__":
            study = et.Study(space(), storage=sys.argv[1], name="live", strategy=et.RandomSearch(seed=3))
            study.optimize(objective, max_trials=1, heartbeat_interval=0.1, grace_period=0.5)
    """, sql_url)
    deadline = time.monotonic() + 60
    while True:
        try:
            if et.Study.load("live", sql_url).trials:
                break
        except et.StudyNotFoundError:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)
    other = et.Study.load("live", sql_url)

    def objective(params):
        time.sleep(0.3)
        return quadratic(params)

    # This worker's heartbeat looks for lost trials every 0.1 s while the slow trial runs.
    other.optimize(objective, max_trials=6, heartbeat_interval=0.1, grace_period=0.5)
    assert slow.wait(timeout=60) == 0
    trials = et.Study.load("live", sql_url).trials
    assert trials[0].state is et.TrialState.COMPLETE and trials[0].value == 1.0
    assert not any(t.error == "worker lost" for t in trials)


def test_trial_finished_after_being_declared_lost_is_skipped_not_fatal():
    study = et.Study(space(), strategy=et.RandomSearch(seed=4))

    def objective(params):
        if params["n"] % 2:  # another worker declares this trial lost while it runs
            time.sleep(0.01)
            study.storage.fail_stale_trials(study._study_id, 0.0)
        return quadratic(params)

    with cf.ThreadPoolExecutor(1) as pool:
        study.optimize(objective, max_trials=10, executor=pool)
    states = {t.state for t in study.trials}
    assert len(study.trials) == 10 and states <= {et.TrialState.COMPLETE, et.TrialState.FAILED}
    lost = [t for t in study.trials if t.state is et.TrialState.FAILED]
    assert lost and all(t.error == "worker lost" and t.params["n"] % 2 for t in lost)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_heartbeat_stamps_own_trials_and_fails_only_silent_ones(backend, tmp_path):
    storage = None if backend == "memory" else f"sqlite:///{tmp_path / 'h.db'}"
    study = et.Study(space(), storage=storage)
    mine, silent = (study._start_trial(None, worker="w", watched=True) for _ in range(2))
    by_hand = study.ask()  # nothing stamps it, and nothing declares it lost
    beat = Heartbeat(study.storage, study._study_id, interval=0.05, grace=0.3)
    beat.track(mine.number)
    time.sleep(0.2)
    beat.beat()  # stamps `mine`; `silent` is 0.2 s old: within the grace
    assert beat.take_lost() == []
    time.sleep(0.2)
    beat.beat()
    lost = beat.take_lost()
    assert [t.number for t in lost] == [silent.number] and lost[0].error == "worker lost"
    assert study.trials[mine.number].state is et.TrialState.RUNNING
    beat.beat()
    assert beat.take_lost() == []  # reported once
    assert study.trials[by_hand.number].state is et.TrialState.RUNNING


def test_optimize_never_declares_a_trial_asked_by_hand_lost(storage):
    """ask() starts a trial trained by hand for hours; an optimize on the same study leaves it alone."""
    study = et.Study(space(), storage=storage, strategy=et.RandomSearch(seed=0))
    asked = study.ask()
    dead = study._start_trial(None, worker="dead:1", watched=True)  # an optimize worker killed mid-trial

    def objective(params):  # runs until this call's heartbeat has found the dead worker's trial
        deadline = time.monotonic() + 20
        while study.storage.get_trials(study._study_id, start=dead.number)[0].state is et.TrialState.RUNNING \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        return quadratic(params)

    study.optimize(objective, max_trials=5, heartbeat_interval=0.05, grace_period=0.1, show_progress=False)
    trials = study.trials
    assert (trials[dead.number].state, trials[dead.number].error) == (et.TrialState.FAILED, "worker lost")
    assert trials[asked.number].state is et.TrialState.RUNNING and trials[asked.number].heartbeat_at is None
    assert (trials[dead.number].finished_at - trials[asked.number].started_at).total_seconds() > 0.1
    assert [t.state for t in trials[2:]] == [et.TrialState.COMPLETE] * 3
    done = study.tell(asked, 0.5)
    assert (done.state, done.value) == (et.TrialState.COMPLETE, 0.5)


def test_a_grid_with_nothing_left_names_the_trials_other_workers_still_run(evotune_log):
    study = et.Study({"x": et.Int(0, 1)}, strategy=et.GridSearch())
    elsewhere = study._start_trial(None, worker="another-host:1234", watched=True)  # stamped: watched
    study.optimize(lambda p: float(p["x"]), max_trials=5, grace_period=600)
    assert study.stop_reason == "strategy exhausted"
    assert f"trial(s) {elsewhere.number} of other workers are still RUNNING" in evotune_log.text
    assert "marked FAILED after the grace period (600 s)" in evotune_log.text


def _dead_pid() -> int:
    import subprocess
    import sys

    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait(timeout=30)
    return finished.pid


@pytest.mark.skipif(heartbeat.process_scope() is None, reason="needs Linux's boot id and PID namespaces")
def test_a_dead_process_counts_only_where_its_process_id_means_something():
    import socket

    pid = _dead_pid()

    def running(scope: str) -> et.Trial:
        return et.Trial(0, {"x": 0.0}, et.TrialState.RUNNING, heartbeat_at=utcnow(),
                        attrs={"worker": f"{socket.gethostname()}:{pid}", "process_scope": scope})

    ours = heartbeat.process_scope()
    assert heartbeat.dead_local_trials([running(ours)]) != []
    boot_id, _, namespace = ours.partition("/")
    # Another machine with the same host name: the same namespace id (every kernel's first), another boot.
    assert heartbeat.dead_local_trials([running(f"another-boot/{namespace}")]) == []
    assert heartbeat.dead_local_trials([running(f"{boot_id}/pid:[1]")]) == []  # another container


def test_a_queued_trial_started_by_the_loop_records_its_process_scope():
    study = et.Study(space(), strategy=et.RandomSearch(seed=0))
    study.enqueue({"x": 0.5, "n": 3, "act": "relu"})
    started = study._start_trial(None, worker="host:1", watched=True)
    assert started.attrs.get("process_scope") == heartbeat.process_scope() and started.attrs["worker"] == "host:1"


@pytest.mark.skipif(heartbeat.process_scope() is None, reason="needs Linux's boot id and PID namespaces")
@pytest.mark.parametrize("strategy", [et.GridSearch(), et.EvolutionarySearch(seed=0, population_size=3,
                                                                             mode="generational")])
def test_a_trial_whose_local_process_died_mid_run_is_retried_before_the_run_stops(strategy):
    import socket

    from evotune.study_queue import config_key

    study = et.Study({"x": et.Int(0, 5)}, strategy=strategy)
    dead = {"worker": f"{socket.gethostname()}:{_dead_pid()}", "process_scope": heartbeat.process_scope()}

    def another_process_dies(study_, trial):  # a trial of another local process, which then died
        if trial.number == 0:
            study_.storage.create_trial(study_._study_id, {"x": 5}, et.TrialState.RUNNING,
                                        key=config_key(study_.space, {"x": 5}), attrs=dead, watched=True)

    started = time.monotonic()
    study.optimize(lambda p: float(p["x"]), max_trials=6, retries=1, grace_period=600,
                   callbacks=[another_process_dies])
    assert time.monotonic() - started < 60  # not the grace period
    trials = study.trials
    assert trials[1].error == "worker lost" and trials[1].params == {"x": 5}
    assert not any(t.state is et.TrialState.RUNNING for t in trials)
    assert any(t.attrs.get("retry_of") == 1 and t.state is et.TrialState.COMPLETE for t in trials)
