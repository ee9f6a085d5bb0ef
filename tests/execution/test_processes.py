"""optimize(n_jobs=N): real worker processes, reused, rebuilt when one dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import evotune as et
from evotune.execution import pool as shared_pool
from evotune.execution.pool import available_cores, resolve_n_jobs
from tests.execution.objectives import die_once, quadratic, run_script, space, timed


def _params(study: et.Study) -> list[dict]:
    return [t.params for t in study.trials]


@pytest.mark.parametrize("n_jobs", [0, -2, 1.5, True, "2", None])
def test_invalid_n_jobs_is_named(n_jobs):
    study = et.Study(space())
    with pytest.raises(et.ConfigError, match="n_jobs must be an integer >= 1, or -1"):
        study.optimize(quadratic, max_trials=2, n_jobs=n_jobs)
    assert study.trials == []


def test_minus_one_means_every_available_core():
    assert resolve_n_jobs(-1) == available_cores() >= 1
    assert resolve_n_jobs(3) == 3


@pytest.mark.parametrize("strategy", [
    lambda: et.RandomSearch(seed=7),
    lambda: et.GridSearch(points=3, shuffle=True, seed=3),
    lambda: et.EvolutionarySearch(population_size=6, mode="generational", seed=5),
], ids=["random", "grid", "evolution-generational"])
def test_same_trials_for_one_and_four_processes(strategy):
    runs = {}
    for n_jobs in (1, 4):
        study = et.Study(space(), strategy=strategy())
        study.optimize(quadratic, max_trials=18, n_jobs=n_jobs)
        assert study.stop_reason == "max_trials reached"
        runs[n_jobs] = [(t.params, t.value, t.state) for t in study.trials]
    assert len(runs[1]) == 18
    assert runs[4] == runs[1]


def test_trials_run_in_other_processes_that_are_reused():
    study = et.Study(space(), strategy=et.RandomSearch(seed=1))
    study.optimize(quadratic, max_trials=12, n_jobs=2)
    first = {t.attrs["executed_by"] for t in study.trials}
    study.optimize(quadratic, max_trials=24, n_jobs=2)
    second = {t.attrs["executed_by"] for t in study.trials[12:]}
    me = f":{os.getpid()}"
    assert all(not name.endswith(me) for name in first | second)
    pids = {int(name.split(":")[1]) for name in first | second}
    assert pids <= set(shared_pool.pool_processes())  # the same two processes ran both calls
    assert len(shared_pool.pool_processes()) == 2


def test_idle_worker_killed_between_calls_is_replaced():
    study = et.Study(space(), strategy=et.RandomSearch(seed=1))
    study.optimize(quadratic, max_trials=4, n_jobs=2)
    pool = shared_pool._pool
    os.kill(shared_pool.pool_processes()[0], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not pool._broken:  # the pool notices the death
        assert time.monotonic() < deadline
        time.sleep(0.02)
    study.optimize(quadratic, max_trials=10, n_jobs=2)
    assert [t.state for t in study.trials] == [et.TrialState.COMPLETE] * 10
    assert shared_pool._pool is not pool


def test_lambdas_and_closures_of_a_main_script_run_in_workers(tmp_path):
    out = tmp_path / "out.json"
    process = run_script(tmp_path, f"""
        import json, os
        import evotune as et

        def make(offset):
            def objective(params):  # a closure, defined in __main__
                return {{"loss": (params["x"] - offset) ** 2, "pid": float(os.getpid())}}
            return objective

        if __name__ == "__main__":
            scale = 3.0
            study = et.Study({{"x": et.Float(-1, 1)}}, metric="loss", strategy=et.RandomSearch(seed=0))
            study.optimize(make(0.5), max_trials=6, n_jobs=2)
            study.optimize(lambda p: {{"loss": scale * p["x"], "pid": float(os.getpid())}}, max_trials=10, n_jobs=2)
            rows = [[t.state.value, t.value, t.params["x"], t.metrics["pid"]] for t in study.trials]
            json.dump({{"me": os.getpid(), "rows": rows}}, open({str(out)!r}, "w"))
    """)
    assert process.wait(timeout=60) == 0
    data = json.loads(out.read_text())
    assert len(data["rows"]) == 10
    for number, (state, value, x, pid) in enumerate(data["rows"]):
        assert state == "COMPLETE" and pid != data["me"]
        expected = (x - 0.5) ** 2 if number < 6 else 3.0 * x
        assert value == pytest.approx(expected)


def test_workers_exit_when_the_process_that_started_them_is_killed(tmp_path):
    # kill -9 (or the out-of-memory killer) leaves the pool no chance to stop its workers: they
    # must not live on, running a trial that a resumed study would run again.
    pids = tmp_path / "pids"
    pids.mkdir()
    process = run_script(tmp_path, f"""
        import os, time
        from pathlib import Path
        import evotune as et

        def objective(params):
            Path({str(pids)!r}, str(os.getpid())).touch()
            time.sleep(60)
            return params["x"]

        if __name__ == "__main__":
            et.Study({{"x": et.Float(0, 1)}}).optimize(objective, max_trials=4, n_jobs=2)
    """)
    deadline = time.monotonic() + 60
    while len(list(pids.iterdir())) < 2:
        assert process.poll() is None and time.monotonic() < deadline, "the workers never started their trials"
        time.sleep(0.05)
    workers = [int(p.name) for p in pids.iterdir()]
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    deadline = time.monotonic() + 15
    alive = workers
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [pid for pid in workers if _alive(pid)]
    assert alive == [], f"workers {alive} outlived the killed process"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a worker that exited but is not reaped yet is a zombie: it runs nothing
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_unpicklable_objective_gives_a_clear_error():
    lock = threading.Lock()
    study = et.Study(space())
    with pytest.raises(et.ObjectiveError, match="cannot be sent to worker processes.*_thread.lock"):
        study.optimize(lambda p: quadratic(p) if lock else 0.0, max_trials=4, n_jobs=2)
    assert study.trials == []  # nothing started
    # Threads and n_jobs=1 need no pickling: the same objective runs.
    study.optimize(lambda p: quadratic(p) if lock else 0.0, max_trials=3)
    assert len(study.trials) == 3


def test_objective_that_cannot_load_in_a_worker_stops_the_study(tmp_path, monkeypatch):
    module = tmp_path / "only_here.py"
    module.write_text("def objective(params):\n    return params['x'] ** 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_here  # noqa: F401 - pickled by reference: workers must import it

    sys.path.remove(str(tmp_path))  # the workers (started after this) cannot
    shared_pool.shutdown_pool()
    study = et.Study(space())
    with pytest.raises(et.ObjectiveError, match="cannot be loaded in worker .*ModuleNotFoundError.*only_here"):
        study.optimize(only_here.objective, max_trials=6, n_jobs=2)
    assert all(t.state is et.TrialState.FAILED for t in study.trials)
    assert "only_here" in study.trials[0].error
    sys.modules.pop("only_here")
    shared_pool.shutdown_pool()


def test_killed_worker_process_fails_its_trial_and_the_study_goes_on(tmp_path):
    marker = tmp_path / "died"
    study = et.Study(space(), strategy=et.RandomSearch(seed=2))
    study.optimize(die_once(str(marker)), max_trials=10, n_jobs=2, retries=1)
    trials = study.trials
    lost = [t for t in trials if t.error == "worker lost"]
    # The pool broke: the trial whose worker died (and one running beside it) are marked at once.
    assert 1 <= len(lost) <= 2 and all(t.state is et.TrialState.FAILED for t in lost)
    retried = {t.attrs["retry_of"]: t for t in trials if "retry_of" in t.attrs}
    assert set(retried) == {t.number for t in lost}
    for trial in lost:
        assert retried[trial.number].params == trial.params
        assert retried[trial.number].state is et.TrialState.COMPLETE
    # A retry stands in for its lost trial: 10 trials of the budget, plus the lost ones.
    assert len(trials) == 10 + len(lost)
    assert sum(t.state is et.TrialState.COMPLETE for t in trials) == 10
    assert study.stop_reason == "max_trials reached"
    # The pool was rebuilt: the dead worker is not among those that ran the later trials.
    assert marker.read_text() not in {t.attrs["executed_by"].split(":")[1] for t in trials if t.attrs.get("executed_by")}


def test_lost_trials_are_not_retried_unless_asked(tmp_path):
    study = et.Study(space(), strategy=et.RandomSearch(seed=2))
    study.optimize(die_once(str(tmp_path / "died")), max_trials=6, n_jobs=2)
    trials = study.trials
    assert len(trials) == 6 and not any("retry_of" in t.attrs for t in trials)
    assert 1 <= sum(t.error == "worker lost" for t in trials) <= 2


def test_exception_outside_catch_is_raised_after_recording():
    def objective(params):
        if params["n"] > 10:
            raise KeyError("n too large")
        raise ValueError("bad luck")

    study = et.Study(space(), strategy=et.RandomSearch(seed=4))
    with pytest.raises(KeyError, match="n too large"):
        study.optimize(objective, max_trials=30, n_jobs=2, catch=(ValueError,))
    errors = [t.error for t in study.trials if t.state is et.TrialState.FAILED]
    assert any(e.startswith("KeyError") for e in errors)
    assert all(t.state.finished for t in study.trials)  # nothing left RUNNING
    assert study.stop_reason.startswith("aborted")


def test_large_objective_travels_once_per_worker_then_by_digest():
    blob = os.urandom(400_000)  # larger than INLINE_PAYLOAD_BYTES: sent only on a cache miss

    def objective(params):
        return quadratic(params) + len(blob) * 0

    study = et.Study(space(), strategy=et.RandomSearch(seed=5))
    study.optimize(objective, max_trials=10, n_jobs=2)
    assert [t.state for t in study.trials] == [et.TrialState.COMPLETE] * 10
    assert [t.value for t in study.trials] == [quadratic(t.params) for t in study.trials]


def test_max_concurrent_limits_trials_in_flight():
    study = et.Study(space(), metric="loss", strategy=et.RandomSearch(seed=6))
    study.optimize(timed, max_trials=6, n_jobs=2, max_concurrent=1)
    from tests.execution.objectives import overlap

    assert overlap(study.trials) == 1


def test_interrupted_pool_leaves_no_running_trial(tmp_path):
    script = run_script(tmp_path, f"""
        import signal, threading, time, os
        import evotune as et

        def slow(params):
            time.sleep(30)
            return 0.0

        if __name__ == "__main__":
            study = et.Study({{"x": et.Float(0, 1)}}, storage="sqlite:///{tmp_path}/s.db", name="s")
            threading.Timer(3.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
            try:
                study.optimize(slow, max_trials=4, n_jobs=2)
            except KeyboardInterrupt:
                print(study.stop_reason)
    """, stdout=subprocess.PIPE, text=True)
    out, _ = script.communicate(timeout=60)
    assert script.returncode == 0 and out.strip() == "interrupted"
    trials = et.Study.load("s", f"sqlite:///{tmp_path}/s.db").trials
    assert len(trials) == 2 and all(t.state is et.TrialState.FAILED and t.error == "interrupted" for t in trials)
