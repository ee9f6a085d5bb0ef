"""What crosses between the study and its workers: exceptions, results, code, and workers that
cannot start (execution.objective, execution.pool, execution.runners)."""

from __future__ import annotations

import email.message
import importlib
import io
import logging
import subprocess
import sys
import threading
import urllib.error

import pytest

import evotune as et
from evotune.execution import pool as shared_pool
from evotune.execution.objective import evaluate_payload, make_payload
from evotune.execution.runners import ExecutorRunner
from evotune.results import Report
from tests.execution.objectives import quadratic, run_script


class NeedsTwo(RuntimeError):
    """Pickles, but cannot be unpickled: its __init__ takes two arguments."""

    def __init__(self, a, b):
        super().__init__(f"{a}:{b}")


def _refuse_to_load():
    raise RuntimeError("this object cannot be loaded here")


class RefusesToLoad(RuntimeError):
    """Pickles, but cannot be unpickled, whatever pickling support is installed."""

    def __reduce__(self):
        return _refuse_to_load, ()


class HoldsALock(RuntimeError):
    """Cannot be pickled: it holds a lock."""

    def __init__(self):
        super().__init__("holds a lock")
        self.lock = threading.Lock()


class Score(float):
    """A float subclass whose pickle round trip fails (__new__ needs two arguments)."""

    def __new__(cls, value, split):
        score = super().__new__(cls, value)
        score.split = split
        return score


class Unloadable:
    """Pickles anywhere, unpickles nowhere."""

    def __reduce__(self):
        return _refuse_to_load, ()


def http_error(params):
    raise urllib.error.HTTPError("https://example.org/data.csv", 503, "Service Unavailable",
                                 email.message.Message(), io.BytesIO(b""))


def needs_two(params):
    raise NeedsTwo(1, 2)


def holds_a_lock(params):
    raise HoldsALock()


def refuses_to_load(params):
    raise RefusesToLoad("refuses to load")


def score(params):
    return Score(params["x"], "validation")


def unloadable_above_half(params):
    return Report(Unloadable()) if params["x"] > 0.5 else params["x"]


def with_a_lock(params):
    return {"value": params["x"], "lock": threading.Lock()}


def _study() -> et.Study:
    return et.Study({"x": et.Float(0, 1)}, strategy=et.RandomSearch(seed=0))


# -- exceptions: catch= decides by type, whether or not the instance survives pickling ------------
# (Not HTTPError nor NeedsTwo here: once distributed is imported, tblib's pickling support makes
# them survive pickling in this process.)
@pytest.mark.parametrize("objective, name", [(holds_a_lock, "tests.execution.test_transport.HoldsALock"),
                                             (refuses_to_load, "tests.execution.test_transport.RefusesToLoad")],
                         ids=["not-pickled", "not-unpickled"])
def test_an_exception_that_does_not_survive_pickling_keeps_its_type_names(objective, name):
    outcome = evaluate_payload(make_payload(objective)[1], {"x": 0.5})  # as in a worker
    outcome.restore()  # as in the study's process
    assert outcome.exception is None and outcome.exception_types[0] == name
    assert "builtins.Exception" in outcome.exception_types
    assert outcome.caught_by((Exception,)) and not outcome.caught_by((ValueError, KeyError))
    raised = outcome.uncaught()
    assert isinstance(raised, et.ObjectiveError)
    assert name in str(raised) and outcome.error.partition(": ")[2] in str(raised)


@pytest.mark.parametrize("objective, message", [(http_error, "urllib.error.HTTPError: HTTP Error 503"),
                                                (needs_two, "NeedsTwo: 1:2"), (holds_a_lock, "HoldsALock: holds a lock")],
                         ids=["HTTPError", "NeedsTwo", "HoldsALock"])
def test_catch_applies_to_exceptions_that_cannot_cross_from_a_worker(objective, message):
    study = _study()
    with pytest.raises(et.ObjectiveError, match=message):
        study.optimize(objective, max_trials=6, n_jobs=2, catch=(ValueError,))
    assert 1 <= len(study.trials) <= 2 and all(t.state is et.TrialState.FAILED for t in study.trials)
    assert study.stop_reason.startswith("aborted")
    # Caught by a base class: recorded, and the run goes on.
    study = _study()
    study.optimize(objective, max_trials=4, n_jobs=2, catch=(urllib.error.URLError, RuntimeError))
    assert [t.state for t in study.trials] == [et.TrialState.FAILED] * 4
    assert all(message.split(": ", 1)[-1] in t.error for t in study.trials)


# -- results: a bad result fails its own trial, never the pool --------------------------------------
def test_a_float_subclass_that_cannot_be_unpickled_arrives_as_a_float():
    study = _study()
    study.optimize(score, max_trials=4, n_jobs=2, retries=1)
    assert [t.state for t in study.trials] == [et.TrialState.COMPLETE] * 4
    assert [t.value for t in study.trials] == [t.params["x"] for t in study.trials]


def test_a_result_that_cannot_be_unpickled_fails_only_its_trial(evotune_log):
    study = _study()
    study.optimize(unloadable_above_half, max_trials=6, n_jobs=2, retries=1)
    trials = study.trials
    assert len(trials) == 6 and not any("retry_of" in t.attrs for t in trials)
    for trial in trials:
        if trial.params["x"] > 0.5:
            assert trial.state is et.TrialState.FAILED
            assert trial.error.startswith("objective returned a result that cannot be unpickled in the process")
            assert "this object cannot be loaded here" in trial.error
        else:
            assert trial.state is et.TrialState.COMPLETE
    assert "lost its worker" not in evotune_log.text
    workers = {t.attrs["executed_by"].split(":")[1] for t in trials}
    assert {int(pid) for pid in workers} <= set(shared_pool.pool_processes())  # one pool throughout


def test_an_unpicklable_result_says_the_result_is_the_problem():
    study = _study()
    study.optimize(with_a_lock, max_trials=2, n_jobs=2)
    for trial in study.trials:
        assert trial.state is et.TrialState.FAILED
        assert trial.error.startswith("objective returned a result that cannot be sent back from its worker "
                                      "process (its entry 'lock', a lock): TypeError: cannot pickle")


# -- code: an edited and reloaded module reaches the workers -----------------------------------------
def test_workers_run_a_module_edited_and_reloaded_since_they_started(tmp_path, monkeypatch, evotune_log):
    evotune_log.set_level(logging.INFO, logger="evotune")
    module = tmp_path / "trainmod_evotune.py"
    module.write_text("def objective(params):\n    return {'loss': params['x'], 'version': 1}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import trainmod_evotune

    try:
        study = et.Study({"x": et.Float(0, 1)}, metric="loss", strategy=et.RandomSearch(seed=0))
        study.optimize(trainmod_evotune.objective, max_trials=2, n_jobs=2)
        before = shared_pool.pool_processes()
        study.optimize(trainmod_evotune.objective, max_trials=4, n_jobs=2)
        assert shared_pool.pool_processes() == before  # nothing changed: the same workers
        module.write_text("def objective(params):\n    return {'loss': params['x'], 'version': 22}\n")
        study.optimize(trainmod_evotune.objective, max_trials=5, n_jobs=2)  # saved, not reloaded: this
        assert shared_pool.pool_processes() == before  # process runs the old code, and so do the workers
        importlib.reload(trainmod_evotune)  # as %autoreload does
        study.optimize(trainmod_evotune.objective, max_trials=7, n_jobs=2)
        assert [t.metrics["version"] for t in study.trials] == [1.0] * 5 + [22.0] * 2
        assert "trainmod_evotune reloaded since the worker processes started" in evotune_log.text
    finally:
        sys.modules.pop("trainmod_evotune", None)


# -- Dask: resources no worker holds -----------------------------------------------------------------
def test_dask_resources_that_no_worker_holds_are_refused():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        # A function of the params: refused at the first trial that asks.
        runner = ExecutorRunner(quadratic, client.get_executor(), None, lambda params: {"GPU": 1})
        with pytest.raises(et.ConfigError, match="no worker of the Dask cluster holds them"):
            runner.submit({"x": 0.5})
        # A dict: refused before any trial starts (without that check, optimize would wait forever).
        with pytest.raises(et.ConfigError, match=r"resources=\{'GPU': 1\}: no worker .* holds them.*"
                                                 r"1 worker\(s\): 1 with no resources"):
            ExecutorRunner(quadratic, client.get_executor(), None, {"GPU": 1})
        study = _study()
        with pytest.raises(et.ConfigError, match="no worker of the Dask cluster holds them"):
            study.optimize(quadratic, max_trials=2, executor=client.get_executor(), resources={"GPU": 1})
        assert study.trials == []


def test_dask_resources_asked_before_any_worker_joined_are_checked_when_workers_join(monkeypatch):
    distributed = pytest.importorskip("distributed")
    import evotune.execution.runners as runners

    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        runner = ExecutorRunner(quadratic, client.get_executor(), None, {"GPU": 1})  # no worker yet: waited for
        monkeypatch.setattr(runners, "_CLUSTER_REFRESH", 0.0)
        cluster.scale(1)  # a worker without GPUs joins
        client.wait_for_workers(1, timeout=30)
        with pytest.raises(et.ConfigError, match=r"resources=\{'GPU': 1\}: no worker .* 1 with no resources"):
            runner.refresh()


# -- workers that cannot start: a script without the __main__ guard -----------------------------------
def test_a_script_without_the_main_guard_stops_with_an_error_naming_the_guard(tmp_path):
    script = run_script(tmp_path, """
        import evotune as et

        study = et.Study({"x": et.Float(0, 1)})
        try:
            study.optimize(lambda p: p["x"], max_trials=12, n_jobs=2)
        except et.ConfigError as error:
            print("ConfigError", len(study.trials), 'if __name__ == "__main__":' in str(error))
    """, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out, _ = script.communicate(timeout=90)
    word, trials, names_the_guard = out.split()
    assert word == "ConfigError" and names_the_guard == "True"
    assert int(trials) <= 4  # two pools of two workers, not the whole budget


# -- objectives of the main script that start processes of their own ---------------------------------
def test_a_main_script_objective_may_run_its_helpers_in_a_multiprocessing_pool(tmp_path):
    script = run_script(tmp_path, """
        import multiprocessing
        import evotune as et

        def fit_fold(args):
            x, fold = args
            return (x - 0.3) ** 2 + fold * 0.01

        def objective(params):
            with multiprocessing.get_context("fork").Pool(2) as pool:
                return sum(pool.map(fit_fold, [(params["x"], k) for k in range(2)]))

        if __name__ == "__main__":
            study = et.Study({"x": et.Float(0, 1)}, strategy=et.RandomSearch(seed=0))
            study.optimize(objective, max_trials=2, n_jobs=2)
            print([(t.state.name, t.error and t.error.splitlines()[0]) for t in study.trials])
    """, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = script.communicate(timeout=90)
    assert out.strip() == "[('COMPLETE', None), ('COMPLETE', None)]", err


# -- exceptions whose message cannot be formatted ---------------------------------------------------
class BadStr(Exception):
    """An exception whose ``str`` raises."""

    def __str__(self):
        raise RuntimeError("no str")


def bad_str_below_half(params):
    if params["x"] < 0.5:
        raise BadStr()
    return params["x"]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_an_exception_whose_message_cannot_be_formatted_fails_only_its_trial(n_jobs):
    study = _study()
    study.optimize(bad_str_below_half, max_trials=6, n_jobs=n_jobs, show_progress=False)
    assert len(study.trials) == 6 and study.stop_reason == "max_trials reached"
    failed = [t for t in study.trials if t.state is et.TrialState.FAILED]
    assert failed and len(failed) == sum(t.params["x"] < 0.5 for t in study.trials)
    assert all(t.error.startswith("BadStr: <BadStr object>\nTraceback") and "raise BadStr()" in t.error
               for t in failed), [t.error for t in failed]


def test_an_uncaught_exception_whose_message_cannot_be_formatted_is_raised_itself():
    study = _study()
    with pytest.raises(BadStr):
        study.optimize(bad_str_below_half, max_trials=6, catch=(ValueError,), show_progress=False)
    assert study.trials[-1].error.startswith("BadStr: <BadStr object>\nTraceback")
    assert study.stop_reason == "aborted: BadStr"
