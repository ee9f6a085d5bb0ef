"""Study: ask/tell/add/enqueue, metrics and direction, stopping criteria, failures, storage, export."""

from __future__ import annotations

import csv
import json
import math
import time

import numpy as np
import pytest

import evotune as et
from evotune.storage import MemoryStorage, SQLStorage
from evotune.strategies import STRATEGIES, Proposal, strategy_from_config

SPACE = {"x": et.Float(-5.0, 5.0), "n": et.Int(1, 4), "act": et.Categorical(["relu", "tanh"])}
GOOD = {"x": 1.0, "n": 2, "act": "relu"}


def study(**kwargs) -> et.Study:
    kwargs.setdefault("strategy", et.RandomSearch(seed=0))
    return et.Study(SPACE, **kwargs)


def states(s: et.Study) -> list[str]:
    return [t.state.value for t in s.trials]


# -- construction -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"direction": "max"}, r"direction must be 'minimize' or 'maximize', got 'max'"),
        ({"metric": ""}, r"metric must be a non-empty string or None, got ''"),
        ({"metric": 3}, r"metric must be .* got 3"),
        ({"strategy": "random"}, r"strategy must be a Strategy .* got 'random'"),
        ({"name": "  "}, r"name must be a non-empty string or None, got '  '"),
    ],
)
def test_invalid_settings_raise_config_error(kwargs, match):
    with pytest.raises(et.ConfigError, match=match):
        et.Study(SPACE, **kwargs)


def test_invalid_space_raises_space_error_naming_the_parameter():
    with pytest.raises(et.SpaceError, match=r"parameter 'lr' must be a Float, Int or Categorical, got \[0, 1\]"):
        et.Study({"lr": [0, 1]})
    with pytest.raises(et.SpaceError, match="at least one parameter"):
        et.Study({})


def test_a_plain_dict_or_a_space(storage):
    a = et.Study(SPACE, storage=storage, name="a")
    b = et.Study(et.Space(SPACE), storage=storage, name="a")  # same space: resumes, no conflict
    assert a.space == b.space == et.Space(SPACE)
    assert et.Study(SPACE).name != et.Study(SPACE).name  # generated names are unique
    assert "direction='minimize'" in repr(a)


# -- ask / tell ---------------------------------------------------------------------------------------

def test_ask_and_tell_a_number():
    s = study()
    trial = s.ask()
    assert trial.state is et.TrialState.RUNNING and trial.number == 0
    assert et.Space(SPACE).contains(trial.params)
    done = s.tell(trial, 0.93)
    assert done.state is et.TrialState.COMPLETE and done.value == 0.93 and done.metrics == {"value": 0.93}
    assert s.best.number == 0 and s.trials[0].duration >= 0
    assert s.tell(s.ask().number, 0.5).value == 0.5  # a trial number works too


def test_editing_the_params_of_an_asked_or_running_trial_changes_nothing_recorded(storage):
    s = study(storage=storage, name="s")
    trial = s.ask()
    recorded = dict(trial.params)
    trial.params["x"] = 99.0  # e.g. the caller adds or changes what it trains with
    trial.params["epochs"] = 10
    s.tell(trial, 1.0)

    def objective(params):
        params["n"] = -1
        return 2.0

    s.optimize(objective, max_trials=2)
    trials = s.trials + et.Study.load("s", storage).trials
    assert trials[0].params == recorded and trials[2].params == recorded
    assert all(et.Space(SPACE).contains(t.params) for t in trials)


def test_tell_named_metrics():
    s = study(metric="accuracy", direction="maximize")
    done = s.tell(s.ask(), {"accuracy": 0.9, "loss": 0.3})
    assert done.value == 0.9 and done.metrics == {"accuracy": 0.9, "loss": 0.3}


def test_tell_twice_is_an_error():
    s = study()
    trial = s.ask()
    s.tell(trial, 1.0)
    with pytest.raises(et.TrialStateError, match="trial 0 is COMPLETE"):
        s.tell(trial, 2.0)
    assert s.trials[0].value == 1.0


def test_tell_error_records_a_failure():
    s = study()
    done = s.tell(s.ask(), error="CUDA out of memory")
    assert done.state is et.TrialState.FAILED and done.error == "CUDA out of memory"
    assert s.best is None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, {"value": math.nan}])
def test_tell_non_finite_records_a_failure(value):
    s = study()
    done = s.tell(s.ask(), value)
    assert done.state is et.TrialState.FAILED and "finite" in done.error


@pytest.mark.parametrize("value", ["0.9", None, {"loss": 1.0}, {}, [1.0]])
def test_tell_wrong_type_raises_and_keeps_the_trial_running(value):
    s = study(metric="accuracy")
    trial = s.ask()
    with pytest.raises(et.ResultError):
        s.tell(trial, value)
    assert s.trials[0].state is et.TrialState.RUNNING
    assert s.tell(trial, {"accuracy": 0.8}).state is et.TrialState.COMPLETE


@pytest.mark.parametrize(
    ("result", "options", "message"),
    [
        (0.5, {"error": "diverged"}, "not both"),
        (None, {"error": 123}, "error must be a string"),
        (1.0, {"attrs": {"model": object()}}, "attrs['model']"),
        (1.0, {"attrs": {"loss_curve": {1.0, 2.0}}}, "attrs['loss_curve']"),  # a set: JSON has none
        (1.0, {"attrs": {3: "x"}}, "attrs[3]"),
        (1.0, {"attrs": ["x"]}, "attrs must be a dict"),
    ],
)
def test_tell_refuses_contradictory_or_unstorable_arguments_and_keeps_the_trial_running(
    storage, result, options, message
):
    s = study(storage=storage, name="s")
    trial = s.ask()
    with pytest.raises(et.ConfigError) as caught:
        s.tell(trial, result, **options)
    assert message in str(caught.value)
    assert s.trials[0].state is et.TrialState.RUNNING
    assert s.tell(trial, 0.25, attrs={"note": ["kept", 1]}).attrs["note"] == ["kept", 1]


def test_tell_needs_a_trial_or_number():
    with pytest.raises(et.ConfigError, match="trial must be a Trial or a trial number"):
        study().tell("0", 1.0)


# -- enqueue / add ----------------------------------------------------------------------------------

def test_enqueue_and_add(storage):
    s = study(storage=storage, name="s")
    queued = s.enqueue({"act": "tanh", "x": 2, "n": 3.0})
    assert queued.state is et.TrialState.WAITING and queued.params == {"x": 2.0, "n": 3, "act": "tanh"}
    added = s.add({"x": -1.0, "n": 1, "act": "relu"}, {"value": 0.25})
    assert added.state is et.TrialState.COMPLETE and added.value == 0.25 and added.origin == "manual"
    assert added.attrs["source"] == "add" and added.finished_at is not None
    trial = s.ask()
    assert trial.number == 0 and trial.params == queued.params  # the queue comes first
    assert [t.origin for t in s.trials] == ["manual", "manual"]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"x": 9.0, "n": 2, "act": "relu"}, r"parameter 'x' must be in \[-5.0, 5.0\], got 9.0"),
        ({"x": 1.0, "n": 2}, r"parameter 'act' is missing"),
        ({**GOOD, "lr": 0.1}, r"parameter 'lr' is not in the space"),
        ({**GOOD, "n": 2.5}, r"parameter 'n' must be an integer, got 2.5"),
        ({**GOOD, "act": "gelu"}, r"parameter 'act' must be one of \['relu', 'tanh'\], got 'gelu'"),
        ("x=1", r"parameters must be a dict"),
    ],
)
def test_enqueue_and_add_reject_bad_params_and_write_nothing(storage, params, match):
    s = study(storage=storage, name="s")
    with pytest.raises(et.ParamsError, match=match):
        s.enqueue(params)
    with pytest.raises(et.ParamsError, match=match):
        s.add(params, 1.0)
    assert s.trials == [] and storage.get_trials(s._study_id) == []


@pytest.mark.parametrize(
    ("result", "match"),
    [
        (math.nan, "must be finite, got nan"),
        ("good", "expected a number or a dict of named metrics, got 'good'"),
        ({"loss": 1.0}, r"no metric 'accuracy'; it has \['loss'\]"),
        (None, "got None"),
    ],
)
def test_add_rejects_bad_results_and_writes_nothing(storage, result, match):
    s = study(storage=storage, name="s", metric="accuracy")
    with pytest.raises(et.ResultError, match=match):
        s.add(GOOD, result)
    assert storage.get_trials(s._study_id) == []


@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_enqueued_params_run_first_whatever_the_strategy(kind):
    strategy = STRATEGIES[kind](seed=0)
    s = et.Study({"n": et.Int(1, 9), "act": et.Categorical(["relu", "tanh"])}, strategy=strategy)
    s.enqueue({"n": 7, "act": "tanh"})
    s.enqueue({"n": 3, "act": "relu"})
    s.optimize(lambda p: p["n"], max_trials=4)
    trials = s.trials
    assert [t.params for t in trials[:2]] == [{"n": 7, "act": "tanh"}, {"n": 3, "act": "relu"}]
    assert [t.origin for t in trials[:2]] == ["manual", "manual"]
    assert all(t.state is et.TrialState.COMPLETE for t in trials)
    assert len(trials) == (2 if kind == "manual" else 4)
    assert strategy_from_config(strategy.to_config()) == strategy


def test_added_trials_count_towards_max_trials():
    s = study()
    s.add(GOOD, 1.0)
    s.add({**GOOD, "n": 3}, 2.0)
    s.optimize(lambda p: p["x"] ** 2, max_trials=5)
    assert len(s.trials) == 5


# -- metrics and direction ----------------------------------------------------------------------------

def test_several_metrics_with_metric_named():
    s = study(metric="accuracy", direction="maximize")
    s.optimize(lambda p: {"loss": p["x"] ** 2, "accuracy": -abs(p["x"])}, max_trials=10)
    best = s.best
    assert best.value == max(t.value for t in s.trials)
    assert best.value == best.metrics["accuracy"] and set(best.metrics) == {"loss", "accuracy"}


def test_several_metrics_without_metric_fail_with_a_hint():
    s = study()
    s.optimize(lambda p: {"loss": 1.0, "accuracy": 0.5}, max_trials=2)
    assert states(s) == ["FAILED", "FAILED"]
    assert "Study(metric=...)" in s.trials[0].error and "['accuracy', 'loss']" in s.trials[0].error


def test_a_study_recorded_without_a_metric_can_name_the_one_its_trials_report(storage):
    s = study(storage=storage, name="s")
    for x in (1.0, 2.0):  # recorded by an evotune that did not adopt the first metric named
        storage.create_trial(s._study_id, {**GOOD, "x": x}, et.TrialState.COMPLETE, value=x, metrics={"loss": x})
    s.optimize(lambda p: {"loss": 1.0, "aux": 2.0}, max_trials=3)  # fails: no metric named
    named = study(storage=storage, name="s", metric="loss")
    assert named.metric == "loss" and et.Study.load("s", storage).metric == "loss"
    assert [t.state.value for t in named.trials] == ["COMPLETE", "COMPLETE", "FAILED"]
    named.optimize(lambda p: {"loss": 0.5, "aux": 2.0}, max_trials=4)
    assert named.trials[3].state is et.TrialState.COMPLETE and named.trials[3].value == 0.5


def test_a_study_recorded_without_a_metric_refuses_one_its_trials_do_not_report(storage):
    s = study(storage=storage, name="s")
    s.tell(s.ask(), 0.5)  # a bare number: recorded under the metric "value"
    with pytest.raises(et.StudyConflictError) as caught:
        study(storage=storage, name="s", metric="loss")
    assert "metric=None" in str(caught.value) and "['value']" in str(caught.value) and "'loss'" in str(caught.value)
    assert et.Study.load("s", storage).metric is None and len(et.Study.load("s", storage).trials) == 1


def test_a_single_metric_dict_needs_no_metric_name():
    s = study()
    s.optimize(lambda p: {"loss": p["x"] ** 2}, max_trials=3)
    assert states(s) == ["COMPLETE"] * 3 and s.trials[0].metrics.keys() == {"loss"}


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_best_follows_the_direction(direction):
    s = study(direction=direction)
    for value in (3.0, -1.0, 7.0, -1.0, 2.0):
        s.tell(s.ask(), value)
    best = s.best
    assert best.value == (-1.0 if direction == "minimize" else 7.0)
    assert best.number == (1 if direction == "minimize" else 2)  # the earliest on ties


def test_best_is_none_before_any_completed_trial():
    s = study()
    assert s.best is None
    s.optimize(lambda p: 1 / 0, max_trials=2)
    assert s.best is None


def test_optimize_returns_the_best_trial():
    s = study()
    best = s.optimize(lambda p: (p["x"] - 1) ** 2, max_trials=20)
    assert best == s.best and best.value == min(t.value for t in s.trials)


# -- stopping criteria -------------------------------------------------------------------------------

def test_max_trials_counts_earlier_runs(storage):
    s = study(storage=storage, name="s")
    s.optimize(lambda p: p["x"], max_trials=4)
    assert len(s.trials) == 4 and s.stop_reason == "max_trials reached"
    s.optimize(lambda p: p["x"], max_trials=4)
    assert len(s.trials) == 4  # already there
    other = study(storage=storage, name="s")  # another run of the same study
    other.optimize(lambda p: p["x"], max_trials=7)
    assert len(other.trials) == 7 and [t.number for t in other.trials] == list(range(7))


def test_timeout():
    s = study()
    start = time.monotonic()
    s.optimize(lambda p: time.sleep(0.05) or 0.0, timeout=0.3, max_trials=100)
    elapsed = time.monotonic() - start
    assert s.stop_reason == "timeout"
    assert 2 <= len(s.trials) <= 7  # no trial starts after 0.3 s; each takes at least 0.05 s
    assert elapsed < 3.0


@pytest.mark.parametrize(("direction", "target"), [("minimize", 0.5), ("maximize", 6.0)])
def test_target(direction, target):
    values = iter([3.0, 2.0, 0.2, 8.0, 1.0, 0.0, 9.0])
    s = study(direction=direction)
    s.optimize(lambda p: next(values), target=target, max_trials=7)
    assert s.stop_reason == "target reached"
    assert len(s.trials) == (3 if direction == "minimize" else 4)


def test_target_already_reached_by_earlier_trials_starts_nothing():
    s = study()
    s.add(GOOD, -1.0)
    s.optimize(lambda p: 5.0, target=0.0, max_trials=10)
    assert s.stop_reason == "target reached" and len(s.trials) == 1


def test_patience():
    values = iter([5.0, 4.0, 4.5, 3.0, 3.5, 3.2, 3.9, 1.0])
    s = study()
    s.optimize(lambda p: next(values), patience=3, max_trials=8)
    assert s.stop_reason == "patience exhausted"
    assert len(s.trials) == 7  # best 3.0 at trial 3, then three trials without improvement


def test_max_failures():
    s = study()
    s.optimize(lambda p: 1 / 0 if p["x"] > -4 else 0.0, max_failures=3, max_trials=50)
    assert s.stop_reason == "max_failures reached"
    assert states(s).count("FAILED") == 3


def test_queue_empty_and_strategy_exhausted():
    manual = et.Study(SPACE, strategy=et.ManualSearch())
    manual.enqueue(GOOD)
    manual.optimize(lambda p: 0.0)
    assert manual.stop_reason == "queue empty" and len(manual.trials) == 1
    grid = et.Study({"n": et.Int(1, 4)}, strategy=et.GridSearch())
    grid.optimize(lambda p: 0.0)
    assert grid.stop_reason == "strategy exhausted" and len(grid.trials) == 4


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_trials": 0}, r"max_trials must be an integer > 0 or None, got 0"),
        ({"max_trials": 2.5}, r"max_trials must be an integer > 0"),
        ({"timeout": -1}, r"timeout must be a number > 0 or None, got -1"),
        ({"patience": 0}, r"patience must be an integer > 0"),
        ({"max_failures": True}, r"max_failures must be an integer > 0"),
        ({"target": "high"}, r"target must be a finite number or None, got 'high'"),
        ({"target": math.nan}, r"target must be a finite number"),
        ({"n_jobs": 0}, r"n_jobs must be .*got 0"),
        ({"catch": 3}, r"catch must be an exception class or a tuple of them, got 3"),
    ],
)
def test_invalid_options_raise_config_error_and_start_nothing(options, match):
    s = study()
    with pytest.raises(et.ConfigError, match=match):
        s.optimize(lambda p: 0.0, **options)
    assert s.trials == []


def test_objective_must_be_callable():
    with pytest.raises(et.ConfigError, match="objective must be callable"):
        study().optimize(42, max_trials=1)


# -- Ctrl-C ---------------------------------------------------------------------------------------------

def test_ctrl_c_marks_the_running_trial_interrupted_and_loses_nothing(storage):
    calls = []

    def objective(params):
        calls.append(params)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return params["x"] ** 2

    s = study(storage=storage, name="s")
    with pytest.raises(KeyboardInterrupt):
        s.optimize(objective, max_trials=10)
    assert s.stop_reason == "interrupted"
    trials = study(storage=storage, name="s").trials if isinstance(storage, MemoryStorage) else \
        et.Study.load("s", SQLStorage(storage.url)).trials
    assert [t.state.value for t in trials] == ["COMPLETE"] * 3 + ["FAILED"]
    assert trials[3].error == "interrupted" and trials[3].finished_at is not None
    assert [t.value for t in trials[:3]] == [p["x"] ** 2 for p in calls[:3]]

    resumed = study(storage=storage, name="s")  # a rerun resumes
    resumed.optimize(lambda p: p["x"] ** 2, max_trials=10)
    assert len(resumed.trials) == 10 and resumed.stop_reason == "max_trials reached"
    assert [t.number for t in resumed.trials] == list(range(10))
    assert resumed.trials[3].error == "interrupted"


def test_requeue_interrupted_lets_a_resumed_grid_evaluate_the_interrupted_point():
    grid = et.Study({"x": et.Int(0, 5)}, strategy=et.GridSearch())
    seen = []

    def objective(params):
        seen.append(params["x"])
        if len(seen) == 3:
            raise KeyboardInterrupt
        return params["x"]

    with pytest.raises(KeyboardInterrupt):
        grid.optimize(objective, max_trials=6)
    interrupted = seen[2]
    retries = grid.requeue_interrupted(max_trials=6)
    assert [t.attrs["retry_of"] for t in retries] == [2] and retries[0].params == {"x": interrupted}
    assert grid.requeue_interrupted(max_trials=6) == []  # once each
    grid.optimize(lambda p: p["x"], max_trials=6)
    complete = sorted(t.params["x"] for t in grid.trials if t.state is et.TrialState.COMPLETE)
    assert complete == list(range(6))  # every grid point, the interrupted one included
    assert len(grid.trials) == 7 and grid.stop_reason in ("max_trials reached", "strategy exhausted")


def test_requeue_interrupted_queues_nothing_the_run_would_not_start():
    s = study()
    s.add(GOOD, 0.5)
    s.tell(s.ask(), error="interrupted")
    assert s.requeue_interrupted(max_trials=1) == []  # 2 trials started: no room for a retry
    assert s.requeue_interrupted(max_trials=10, target=0.6) == []  # the target is already reached
    assert [t.state for t in s.trials] == [et.TrialState.COMPLETE, et.TrialState.FAILED]
    assert [t.attrs["retry_of"] for t in s.requeue_interrupted(max_trials=2)] == [1]  # exactly room for it


def test_ctrl_c_while_a_result_is_recorded_leaves_no_trial_running():
    s = study()
    tell = s.tell
    cut = []

    def tell_cut_short(trial, result=None, **options):
        if result is not None and not cut:  # Ctrl-C lands between the result and its record
            cut.append(trial)
            raise KeyboardInterrupt
        return tell(trial, result, **options)

    s.tell = tell_cut_short
    with pytest.raises(KeyboardInterrupt):
        s.optimize(lambda p: p["x"] ** 2, max_trials=3)
    assert [(t.state, t.error) for t in s.trials] == [(et.TrialState.FAILED, "interrupted")]


# -- failures ---------------------------------------------------------------------------------------------

def test_objective_that_raises_fails_the_trial_and_the_study_goes_on():
    def objective(params):
        if params["n"] == 2:
            raise ValueError(f"n={params['n']} diverged")
        return 1.0

    s = study()
    s.optimize(objective, max_trials=20)
    failed = [t for t in s.trials if t.state is et.TrialState.FAILED]
    assert len(s.trials) == 20 and failed and len(failed) < 20
    assert all(t.params["n"] == 2 for t in failed)
    error = failed[0].error
    assert error.startswith("ValueError: n=2 diverged")
    assert "Traceback (most recent call last)" in error and "in objective" in error
    assert failed[0].value is None and failed[0].finished_at is not None


@pytest.mark.parametrize("catch", [KeyError, (KeyError, TypeError)])
def test_catch_narrows_what_is_recorded_and_the_rest_propagates_after_recording(storage, catch):
    calls = []

    def objective(params):
        calls.append(1)
        if len(calls) == 2:
            raise KeyError("missing column")
        if len(calls) == 4:
            raise ValueError("a bug")
        return 1.0

    s = study(storage=storage, name="s")
    with pytest.raises(ValueError, match="a bug"):
        s.optimize(objective, max_trials=10, catch=catch)
    assert states(s) == ["COMPLETE", "FAILED", "COMPLETE", "FAILED"]
    assert s.trials[1].error.startswith("KeyError")
    assert s.trials[3].error.startswith("ValueError: a bug") and "Traceback" in s.trials[3].error
    assert len(calls) == 4  # nothing ran after the propagated error


@pytest.mark.parametrize(
    ("returned", "words"),
    [
        (math.nan, ["nan", "finite"]),
        (math.inf, ["inf", "finite"]),
        (None, ["None", "expected a number or a dict of named metrics"]),
        ("0.9", ["'0.9'", "expected a number"]),
        ({"loss": 0.1}, ["no metric 'accuracy'", "['loss']"]),
        ({"accuracy": "high"}, ["'accuracy'", "must be a number", "'high'"]),
        ({"accuracy": math.nan}, ["'accuracy'", "finite"]),
        ([0.9], ["[0.9]", "must be a number"]),
        (True, ["True", "number"]),
    ],
)
def test_bad_results_fail_the_trial_with_a_message(returned, words):
    s = study(metric="accuracy")
    s.optimize(lambda p: returned, max_trials=2)
    assert states(s) == ["FAILED", "FAILED"]
    for word in words:
        assert word in s.trials[0].error, (word, s.trials[0].error)


def test_numpy_scalars_are_accepted():
    s = study(metric="accuracy")
    s.optimize(lambda p: {"accuracy": np.float32(0.5), "n": np.int64(3)}, max_trials=2)
    assert states(s) == ["COMPLETE", "COMPLETE"]
    assert s.trials[0].value == 0.5 and type(s.trials[0].metrics["n"]) is float


def test_callbacks_see_every_finished_trial():
    seen = []
    s = study()
    s.optimize(lambda p: 1 / 0 if p["n"] == 1 else 1.0, max_trials=6, callbacks=[lambda st, t: seen.append(t)])
    assert [t.number for t in seen] == list(range(6))
    assert all(t.state.finished for t in seen)


@pytest.mark.parametrize("strategy", [et.RandomSearch(seed=0), et.GridSearch(points=2)])
def test_callbacks_none_means_none_and_anything_but_callables_is_refused(strategy):
    s = study(strategy=strategy)
    s.optimize(lambda p: 1.0, max_trials=2, callbacks=None)
    assert states(s) == ["COMPLETE", "COMPLETE"]
    for bad in (print, "on_trial", 3, [print, 3]):
        with pytest.raises(et.ConfigError, match="callbacks must be a sequence of callables"):
            s.optimize(lambda p: 1.0, max_trials=4, callbacks=bad)
    assert len(s.trials) == 2


def test_a_callback_can_stop_the_run_and_say_why():
    s = study()
    s.optimize(lambda p: p["x"], max_trials=30, callbacks=[lambda st, t: st.stop("plateau") if t.number == 3 else None])
    assert len(s.trials) == 4 and s.stop_reason == "plateau"
    s.optimize(lambda p: p["x"], max_trials=30, callbacks=[lambda st, t: st.stop()])
    assert len(s.trials) == 5 and s.stop_reason == "stopped by a callback"
    for bad in ("", "  ", None, 3):
        with pytest.raises(et.ConfigError, match="reason must be a non-empty string"):
            s.stop(bad)


# -- persistence: resume, load, list, conflicts ------------------------------------------------------------

def test_recreating_a_study_resumes_it(storage):
    s = study(storage=storage, name="s", direction="maximize", metric="acc")
    s.optimize(lambda p: {"acc": p["x"]}, max_trials=5)
    again = et.Study(SPACE, direction="maximize", storage=storage, name="s")  # metric may be omitted
    assert [t.params for t in again.trials] == [t.params for t in s.trials]
    assert again.metric == "acc" and again.best == s.best
    assert again.strategy == et.RandomSearch(seed=0)
    loaded = et.Study.load("s", storage)
    assert loaded.space == et.Space(SPACE) and loaded.direction == "maximize" and loaded.metric == "acc"
    assert len(loaded.trials) == 5 and loaded.best.value == max(t.value for t in s.trials)
    loaded.optimize(lambda p: {"acc": p["x"]}, max_trials=8)
    assert len(s.trials) == 8  # one storage, several Study objects: all see the same trials


def test_load_missing_study(storage):
    with pytest.raises(et.StudyNotFoundError, match="no study named 'ghost'"):
        et.Study.load("ghost", storage)


def test_list_studies(sql_url):
    study(storage=sql_url, name="first").optimize(lambda p: p["x"], max_trials=3)
    second = study(storage=sql_url, name="second", direction="maximize")
    second.add(GOOD, 4.0)
    summaries = {s.name: s for s in et.list_studies(sql_url)}
    assert set(summaries) == {"first", "second"}
    assert summaries["first"].n_trials == 3 and summaries["first"].strategy == "random"
    assert summaries["second"].best_value == 4.0 and summaries["second"].direction == "maximize"
    assert [s.name for s in et.list_studies(SQLStorage(sql_url))] == ["first", "second"]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"space": {**SPACE, "n": et.Int(1, 5)}}, r"study 's' already exists .* with a different space"),
        ({"space": {"x": et.Float(-5.0, 5.0)}}, "different space"),
        ({"direction": "maximize"}, r"already exists with direction='minimize', got direction='maximize'"),
        ({"metric": "loss"}, r"already exists with metric='acc', got metric='loss'"),
    ],
)
def test_a_different_definition_for_an_existing_name_conflicts(storage, change, match):
    et.Study(SPACE, metric="acc", storage=storage, name="s").add(GOOD, {"acc": 1.0})
    arguments = {"space": SPACE, "metric": "acc", **change}
    with pytest.raises(et.StudyConflictError, match=match):
        et.Study(arguments.pop("space"), storage=storage, name="s", **arguments)
    assert len(et.Study.load("s", storage).trials) == 1


def test_a_new_strategy_for_an_existing_study_is_stored(storage):
    et.Study(SPACE, strategy=et.RandomSearch(seed=1), storage=storage, name="s").optimize(lambda p: 0.0, max_trials=2)
    et.Study(SPACE, strategy=et.GridSearch(points=3), storage=storage, name="s")
    assert et.Study.load("s", storage).strategy == et.GridSearch(points=3, seed=et.Study.load("s", storage).strategy.seed)
    assert isinstance(et.Study(SPACE, storage=storage, name="s").strategy, et.GridSearch)
    assert [summary.strategy for summary in et.list_studies(storage)] == ["grid"]


class Stepping(et.Strategy):
    """A strategy of the user's own: x walks the grid of 0.5 steps from ``start``."""

    name = "stepping"

    def __init__(self, start: float = -5.0, seed: int | None = None):
        super().__init__(seed)
        self.start = start

    def settings(self) -> dict:
        return {"start": self.start}

    def propose(self, space, history, number):
        x = self.start + 0.5 * number
        return Proposal(params={"x": x, "n": 1, "act": "relu"}, origin="stepping") if x <= 5.0 else None


def test_a_study_of_ones_own_strategy_opens_for_reading_and_runs_only_with_it(storage):
    et.Study(SPACE, strategy=Stepping(start=-2.0, seed=4), storage=storage, name="own").optimize(
        lambda p: p["x"] ** 2, max_trials=5)
    for opened in (et.Study.load("own", storage), et.Study(SPACE, storage=storage, name="own")):
        assert [t.params["x"] for t in opened.trials] == [-2.0, -1.5, -1.0, -0.5, 0.0]
        assert opened.best.params["x"] == 0.0 and len(opened.to_csv().splitlines()) == 6
        assert opened.strategy.name == "stepping"
        assert json.loads(opened.to_json())["strategy"] == {"type": "stepping", "seed": 4, "start": -2.0}
        with pytest.raises(et.ConfigError, match=r"study 'own' was run with strategy type 'stepping', which evotune "
                                                 r"cannot rebuild .* pass the strategy again"):
            opened.optimize(lambda p: p["x"] ** 2, max_trials=8)
        with pytest.raises(et.ConfigError, match="strategy type 'stepping'.*strategy="):
            opened.ask()
        assert len(opened.trials) == 5
    resumed = et.Study.load("own", storage, strategy=Stepping(start=-2.0))
    resumed.optimize(lambda p: p["x"] ** 2, max_trials=7)
    assert [t.params["x"] for t in resumed.trials][5:] == [0.5, 1.0] and resumed.strategy.seed == 4
    assert [s.strategy for s in et.list_studies(storage)] == ["stepping"]


# -- export ---------------------------------------------------------------------------------------------------

@pytest.fixture
def finished() -> et.Study:
    s = study(metric="acc", direction="maximize", name="exp")
    s.add({"x": 0.5, "n": 1, "act": "tanh"}, {"acc": 0.5, "loss": 1.0})
    calls = []
    s.optimize(lambda p: calls.append(1) or ({"acc": 0.1 * p["n"]} if len(calls) != 2 else 1 / 0), max_trials=6)
    s.enqueue({"x": -0.5, "n": 3, "act": "relu"})
    return s


def test_exports_of_an_empty_study():
    s = study()
    assert s.to_csv().splitlines() == ["number,state,value,params_x,params_n,params_act,started_at,finished_at,"
                                       "duration,generation,parents,origin,error"]
    assert json.loads(s.to_json())["trials"] == []
    pytest.importorskip("pandas")
    assert len(s.to_dataframe()) == 0 and "params_act" in s.to_dataframe().columns


def test_trial_to_dict_is_json_ready(finished):
    for trial in finished.trials:
        data = json.loads(json.dumps(trial.to_dict()))
        assert data["number"] == trial.number and data["state"] == trial.state.value
        assert data["params"] == trial.params


def test_to_dataframe(finished):
    pd = pytest.importorskip("pandas")
    frame = finished.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 7
    assert list(frame.columns[:3]) == ["number", "state", "value"]
    for column in ("params_x", "params_n", "params_act", "metrics_acc", "metrics_loss", "duration", "origin", "error"):
        assert column in frame.columns
    assert frame.loc[0, "metrics_loss"] == 1.0 and frame.loc[0, "origin"] == "manual"
    assert frame.loc[6, "state"] == "WAITING" and frame["number"].tolist() == list(range(7))
    complete = frame[frame.state == "COMPLETE"]
    assert complete.value.max() == finished.best.value


def test_to_csv(finished, tmp_path):
    path = tmp_path / "trials.csv"
    text = finished.to_csv(path)
    assert path.read_text(encoding="utf-8") == text
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert len(rows) == 7 and rows[0]["params_act"] == "tanh" and float(rows[0]["metrics_acc"]) == 0.5
    assert [r["state"] for r in rows] == ["COMPLETE"] * 2 + ["FAILED"] + ["COMPLETE"] * 3 + ["WAITING"]
    assert rows[2]["error"].startswith("ZeroDivisionError") and rows[2]["value"] == ""


def test_to_json(finished, tmp_path):
    path = tmp_path / "study.json"
    text = finished.to_json(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data == json.loads(text)
    assert (data["name"], data["direction"], data["metric"]) == ("exp", "maximize", "acc")
    assert et.Space.from_dict(data["space"]) == et.Space(SPACE)
    assert data["strategy"] == {"type": "random", "seed": 0}
    assert [t["number"] for t in data["trials"]] == list(range(7))
    assert data["trials"][0]["metrics"] == {"acc": 0.5, "loss": 1.0}


def test_a_nul_byte_in_an_error_is_stored_escaped_on_every_backend(storage):
    study = et.Study({"x": et.Float(0, 1)}, storage=storage, name="nul", strategy=et.RandomSearch(seed=0))

    def fails(params):
        raise ValueError("bad\x00byte")

    study.optimize(fails, max_trials=2, show_progress=False)
    assert [t.error.splitlines()[0] for t in study.trials] == ["ValueError: bad\\x00byte"] * 2  # the run went on
    assert study.stop_reason == "max_trials reached"
    told = study.tell(study.ask(), error="a\x00b")
    assert et.Study.load("nul", storage).trials[told.number].error == "a\\x00b"


def test_names_a_storage_cannot_hold_are_refused_naming_the_field(storage):
    space = {"x": et.Float(0, 1)}
    with pytest.raises(et.ConfigError, match=r"^name 'n{60}'\.\.\. \(513 characters\) cannot be stored: it has 513"):
        et.Study(space, storage=storage, name="n" * 513)
    with pytest.raises(et.ConfigError, match=r"^metric 'a\\x00b' cannot be stored: it holds a NUL"):
        et.Study(space, storage=storage, name="m", metric="a\x00b")
    study = et.Study(space, storage=storage, name="adopt")  # no metric: the first result names it
    trial = study.ask()
    with pytest.raises(et.ResultError, match="cannot become the study's metric: it has 600 characters"):
        study.tell(trial, {"m" * 600: 0.5})
    assert study.metric is None and study.trials[trial.number].state is et.TrialState.RUNNING
    assert study.tell(trial, {"acc": 0.5}).value == 0.5


def test_opening_a_stored_study_needs_its_name():
    with pytest.raises(et.ConfigError, match="name is required to open a stored study"):
        et.Study(None)


def test_numpy_numbers_are_accepted_where_numbers_are():
    study = et.Study({"x": et.Float(0, 1)}, strategy=et.EvolutionarySearch(seed=0, crossover_rate=np.float32(0.3)))
    study.optimize(lambda p: p["x"], max_trials=3, trial_timeout=np.float32(30), show_progress=False)
    trial = study.ask()
    done = study.tell(np.int64(trial.number), 0.5, attrs={"loss": np.float32(1.5), "spread": float("nan")})
    assert done.state is et.TrialState.COMPLETE and done.attrs["loss"] == 1.5 and done.attrs["spread"] == "nan"
    assert study.strategy.crossover_rate == pytest.approx(0.3)
