"""optimize(executor=...): thread and process pools, and Dask on a real LocalCluster."""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import threading
import time
from collections import defaultdict

import pytest

import evotune as et
from evotune.execution.objective import make_payload
from evotune.execution.runners import ExecutorRunner
from tests.execution.objectives import die_once, overlap, quadratic, space, timed

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_client():
    """Two worker processes of two threads each; each worker holds one "slot" resource."""
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=2, processes=True, resources={"slot": 1},
        dashboard_address=None, silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def _runs(study: et.Study) -> list[tuple]:
    return [(t.params, t.value, t.state) for t in study.trials]


# -- any concurrent.futures executor ----------------------------------------------------------
def test_thread_pool_calls_the_objective_without_pickling():
    lock = threading.Lock()  # unpicklable: fine in threads

    def objective(params):
        with lock:
            pass
        return timed(params)

    study = et.Study(space(), metric="loss", strategy=et.RandomSearch(seed=1))
    with cf.ThreadPoolExecutor(8) as pool:
        study.optimize(objective, max_trials=12, executor=pool, max_concurrent=3)
    assert len(study.trials) == 12 and all(t.state is et.TrialState.COMPLETE for t in study.trials)
    assert overlap(study.trials) == 3  # as many as allowed, never more


def test_a_users_process_pool_runs_lambdas():
    study = et.Study(space(), strategy=et.RandomSearch(seed=2))
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        study.optimize(lambda p: quadratic(p) + 1.0, max_trials=8, executor=pool)
    assert [t.value for t in study.trials] == [quadratic(t.params) + 1.0 for t in study.trials]
    assert all(not t.attrs["executed_by"].endswith(f":{os.getpid()}") for t in study.trials)


def test_a_users_broken_process_pool_stops_the_study_cleanly(tmp_path):
    study = et.Study(space(), strategy=et.RandomSearch(seed=2))
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        with pytest.raises(cf.process.BrokenProcessPool):  # evotune cannot rebuild a pool it does not own
            study.optimize(die_once(str(tmp_path / "died")), max_trials=8, executor=pool)
    trials = study.trials
    failed = [t for t in trials if t.state is et.TrialState.FAILED]
    assert failed and all(t.error == "worker lost" for t in failed)  # the dead one and any beside it
    assert all(t.state.finished for t in trials)
    assert study.stop_reason == "aborted: BrokenProcessPool"


@pytest.mark.parametrize("options, message", [
    ({"executor": object()}, "executor must be a concurrent.futures.Executor"),
    ({"executor": cf.ThreadPoolExecutor(1), "n_jobs": 2}, "n_jobs and executor cannot both be given"),
    ({"executor": cf.ThreadPoolExecutor(1), "resources": {"GPU": 1}}, "resources= needs an executor"),
    ({"resources": {"GPU": 1}}, "resources= is passed to a Dask executor"),
    ({"resources": {"GPU": -1}}, "resources must be a dict of resource name"),
    ({"max_concurrent": 0}, "max_concurrent must be an integer >= 1"),
    ({"retries": -1}, "retries must be an integer >= 0"),
    ({"heartbeat_interval": 0}, "heartbeat_interval must be a number of seconds > 0"),
    ({"heartbeat_interval": 1.0, "grace_period": 1.5}, "grace_period must be a number of seconds of at least"),
])
def test_invalid_execution_options_are_named(options, message):
    study = et.Study(space())
    with pytest.raises(et.ConfigError, match=message):
        study.optimize(quadratic, max_trials=2, **options)
    assert study.trials == []


# -- Dask ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("strategy", [
    lambda: et.RandomSearch(seed=11),
    lambda: et.GridSearch(points=3, seed=2, shuffle=True),
    lambda: et.EvolutionarySearch(population_size=5, mode="generational", seed=9),
], ids=["random", "grid", "evolution-generational"])
def test_dask_proposes_the_same_trials_as_one_process(dask_client, strategy):
    inline = et.Study(space(), strategy=strategy())
    inline.optimize(quadratic, max_trials=15)
    on_dask = et.Study(space(), strategy=strategy())
    on_dask.optimize(quadratic, max_trials=15, executor=dask_client.get_executor())
    assert _runs(on_dask) == _runs(inline)
    workers = {t.attrs["executed_by"] for t in on_dask.trials}
    assert not any(w.endswith(f":{os.getpid()}") for w in workers)


def test_dask_capacity_follows_the_cluster(dask_client):
    runner = ExecutorRunner(quadratic, dask_client.get_executor(), None, None)
    assert runner.capacity == 2 * 4  # 2 workers x 2 threads, one more trial queued per thread
    assert ExecutorRunner(quadratic, dask_client.get_executor(), 3, None).capacity == 3
    # With one "slot" per worker and one per trial, two trials fit.
    assert ExecutorRunner(quadratic, dask_client.get_executor(), None, {"slot": 1}).capacity == 2 * 2


@pytest.mark.parametrize("resources", [{"slot": 1}, lambda params: {"slot": 1}], ids=["dict", "function"])
def test_dask_resources_hold_trials_apart(dask_client, resources):
    study = et.Study(space(), metric="loss", strategy=et.RandomSearch(seed=3))
    study.optimize(timed, max_trials=8, executor=dask_client.get_executor(), resources=resources)
    by_worker = defaultdict(list)
    for trial in study.trials:
        by_worker[trial.attrs["executed_by"]].append(trial)
    assert len(by_worker) == 2
    # Each worker has one slot: its trials never overlap, though it has two threads.
    assert all(overlap(trials) == 1 for trials in by_worker.values())
    assert overlap(study.trials) == 2


def test_dask_runs_trials_with_equal_params_each_time(dask_client):
    runner = ExecutorRunner(lambda p: {"loss": 0.0, "at": float(time.perf_counter_ns())},
                            dask_client.get_executor(), None, None)
    futures = [runner.submit({"x": 1.0}) for _ in range(3)]
    stamps = {runner.outcome(f).result["at"] for f in futures}
    assert len(stamps) == 3  # submitted with pure=False: never merged into one task
    runner.close()  # deletes the run's start gate on the scheduler


def test_dask_max_concurrent(dask_client):
    study = et.Study(space(), metric="loss", strategy=et.RandomSearch(seed=4))
    study.optimize(timed, max_trials=6, executor=dask_client.get_executor(), max_concurrent=1)
    assert overlap(study.trials) == 1


def test_dask_large_objective_is_sent_on_a_miss(dask_client):
    blob = os.urandom(300_000)
    study = et.Study(space(), strategy=et.RandomSearch(seed=5))
    study.optimize(lambda p: quadratic(p) + blob[0] * 0, max_trials=8, executor=dask_client.get_executor())
    assert [t.value for t in study.trials] == [quadratic(t.params) for t in study.trials]
    first, full = make_payload(lambda p: blob)
    assert first.data is None and full.data is not None and first.digest == full.digest


def test_progress_display_is_the_same_for_processes_and_dask(dask_client, capsys):
    for options in ({"n_jobs": 2}, {"executor": dask_client.get_executor()}):
        study = et.Study(space(), strategy=et.RandomSearch(seed=6))
        study.optimize(quadratic, max_trials=9, show_progress=True, **options)
        err = capsys.readouterr().err
        last = [line for line in err.splitlines() if "trials" in line and not line.startswith("[evotune]")][-1]
        assert "9/9" in last and f"best {study.best.value:.6g}" in last, err


def test_dask_reruns_a_trial_whose_worker_died(dask_client, tmp_path):
    """Dask's nanny restarts the dead worker and the scheduler runs the trial elsewhere."""
    study = et.Study(space(), strategy=et.RandomSearch(seed=7))
    study.optimize(die_once(str(tmp_path / "died")), max_trials=6, executor=dask_client.get_executor())
    assert (tmp_path / "died").exists()
    assert [t.state for t in study.trials] == [et.TrialState.COMPLETE] * 6
    dask_client.wait_for_workers(2, timeout=30)


def test_progress_of_a_resumed_study_shows_its_best_from_the_start(capsys):
    study = et.Study(space(), strategy=et.RandomSearch(seed=8))
    study.optimize(quadratic, max_trials=3, show_progress=False)
    study.optimize(quadratic, max_trials=3, show_progress=True)  # the budget is used: no trial runs
    err = capsys.readouterr().err
    last = [line for line in err.splitlines() if "trials" in line and not line.startswith("[evotune]")][-1]
    assert "3/3" in last and f"best {study.best.value:.6g}" in last, err
