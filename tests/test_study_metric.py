"""A study created without a metric: the first metric a result names becomes the study's, so
results of different metrics are never ranked together (add, tell and the objective)."""

from __future__ import annotations

import itertools

import pytest

import evotune as et
from evotune import study_metric

SPACE = {"lr": et.Float(1e-4, 1e-1, log=True), "layers": et.Int(1, 4)}


def params(layers: int) -> dict:
    return {"lr": 0.01, "layers": layers}


def test_add_adopts_the_first_named_metric_and_refuses_another(storage):
    s = et.Study(SPACE, direction="maximize", storage=storage, name="nm")
    assert s.metric is None
    s.add(params(1), {"val_acc": 0.91})
    assert s.metric == "val_acc" and et.Study.load("nm", storage).metric == "val_acc"
    with pytest.raises(et.ResultError) as caught:
        s.add(params(2), {"val_loss": 0.95})  # a terrible loss must not become the best accuracy
    assert "no metric 'val_acc'" in str(caught.value) and "['val_loss']" in str(caught.value)
    assert len(storage.get_trials(s._study_id)) == 1  # nothing written
    both = s.add(params(3), {"val_acc": 0.93, "val_loss": 0.2})
    assert both.value == 0.93 and s.best.number == both.number
    assert et.Study(SPACE, direction="maximize", metric="val_acc", storage=storage, name="nm").metric == "val_acc"


def test_tell_adopts_the_first_named_metric_and_keeps_a_refused_trial_running(storage):
    s = et.Study(SPACE, storage=storage, name="nm", strategy=et.RandomSearch(seed=0))
    s.tell(s.ask(), {"loss": 0.3})
    assert s.metric == "loss"
    trial = s.ask()
    with pytest.raises(et.ResultError, match=r"no metric 'loss'; it has \['acc'\]"):
        s.tell(trial, {"acc": 0.9})
    assert s.trials[trial.number].state is et.TrialState.RUNNING
    assert s.tell(trial, 0.25).metrics == {"loss": 0.25}  # a bare number is the study's metric


def test_a_refused_tell_adopts_nothing(storage):
    s = et.Study(SPACE, storage=storage, name="nm", strategy=et.RandomSearch(seed=0))
    done = s.tell(s.ask(), error="crashed")
    with pytest.raises(et.TrialStateError):
        s.tell(done, {"loss": 0.3})
    assert s.metric is None and et.Study.load("nm", storage).metric is None


def test_plain_numbers_stay_plain_and_refuse_a_named_metric(storage):
    s = et.Study(SPACE, storage=storage, name="nm")
    s.add(params(1), 0.5)
    s.add(params(2), {"value": 0.7})  # the name of a plain number: same quantity, nothing adopted
    assert s.metric is None and [t.metrics for t in s.trials] == [{"value": 0.5}, {"value": 0.7}]
    with pytest.raises(et.ResultError) as caught:
        s.add(params(3), {"acc": 1.0})
    message = str(caught.value)
    assert "'acc'" in message and "['value']" in message and "study 'nm' has no metric" in message
    assert "a plain number" in message
    assert len(s.trials) == 2 and et.Study.load("nm", storage).metric is None


@pytest.mark.parametrize("name", ["", "  "])
@pytest.mark.parametrize("metric", [None, "acc"])
def test_an_empty_metric_name_is_refused(storage, name, metric):
    s = et.Study(SPACE, metric=metric, storage=storage, name="nm")
    with pytest.raises(et.ResultError, match=rf"metric names must be non-empty strings, got '{name}' .*0.7"):
        s.add(params(1), {name: 0.7})
    assert storage.get_trials(s._study_id) == [] and s.metric == metric


def test_the_objective_cannot_mix_metrics():
    s = et.Study(SPACE, direction="maximize", strategy=et.RandomSearch(seed=0))
    names = itertools.cycle(["val_acc", "val_loss"])
    s.optimize(lambda p: {next(names): p["layers"] / 4}, max_trials=4)
    assert s.metric == "val_acc"
    assert [t.state.value for t in s.trials] == ["COMPLETE", "FAILED"] * 2
    assert "no metric 'val_acc'; it has ['val_loss']" in s.trials[1].error
    assert all(t.metrics.keys() == {"val_acc"} for t in s.trials if t.state is et.TrialState.COMPLETE)


def test_a_metric_adopted_by_another_process_is_taken_up(storage):
    first = et.Study(SPACE, storage=storage, name="nm", strategy=et.RandomSearch(seed=0))
    second, third = et.Study.load("nm", storage), et.Study.load("nm", storage)  # opened before it had a metric
    first.add(params(1), {"acc": 0.9})
    with pytest.raises(et.ResultError, match="no metric 'acc'"):
        second.add(params(2), {"loss": 0.1})
    assert second.metric == "acc" and len(second.trials) == 1
    third.optimize(lambda p: {"loss": 0.1}, max_trials=2)  # syncs trial 0 before it starts trial 1
    assert third.metric == "acc" and third.trials[1].state is et.TrialState.FAILED
    assert "no metric 'acc'" in third.trials[1].error


def test_the_objective_cannot_report_a_named_metric_after_plain_numbers():
    s = et.Study(SPACE, strategy=et.RandomSearch(seed=0))
    s.optimize(lambda p: 0.5, max_trials=1)
    s.optimize(lambda p: {"loss": 0.1}, max_trials=2)  # recorded FAILED, not raised
    trial = s.trials[1]
    assert trial.state is et.TrialState.FAILED and "['value']" in trial.error and s.metric is None


def test_a_metric_adopted_while_a_trial_ran_fails_that_trial_and_the_run_goes_on(storage):
    running = et.Study(SPACE, storage=storage, name="nm", strategy=et.RandomSearch(seed=0))
    other = et.Study.load("nm", storage)
    tell = running.tell

    def tell_after_the_other_process(trial, result=None, **options):
        if result is not None and other.metric is None:
            other.add(params(4), {"loss": 2.0})  # the study takes 'loss' between the check and the record
        return tell(trial, result, **options)

    running.tell = tell_after_the_other_process
    running.optimize(lambda p: {"acc": 0.5}, max_trials=3)
    trials = running.trials
    assert running.stop_reason == "max_trials reached" and running.metric == "loss"
    assert [t.state for t in trials if t.origin != "manual"] == [et.TrialState.FAILED] * 2  # with the manual one: 3
    assert all("no metric 'loss'" in t.error for t in trials if t.origin != "manual")


# -- two processes adopting a metric at the same moment -----------------------------------------
# Each test forces the interleaving: the first process checks its result, then the other records
# its first result, naming another metric, before the first writes anything.

def record_after_the_check(study, other, result, calls=1):
    """Make ``other`` record ``result`` right after ``study``'s ``calls``-th result check."""
    check, seen = study._parse_result, []

    def check_then_the_other_records(checked):
        parsed = check(checked)
        seen.append(checked)
        if len(seen) == calls:
            other.add(params(4), result)
        return parsed

    study._parse_result = check_then_the_other_records


def test_two_first_results_naming_different_metrics_at_once_adopt_one(storage):
    first = et.Study(SPACE, storage=storage, name="nm", strategy=et.RandomSearch(seed=0))
    second = et.Study.load("nm", storage)
    record_after_the_check(first, second, {"loss": 0.3})
    with pytest.raises(et.ResultError, match=r"no metric 'loss'; it has \['acc'\]"):
        first.add(params(1), {"acc": 0.9})
    assert first.metric == second.metric == et.Study.load("nm", storage).metric == "loss"
    assert [t.metrics for t in storage.get_trials(first._study_id)] == [{"loss": 0.3}]  # nothing of 'acc'
    assert first.add(params(2), {"loss": 0.2, "acc": 0.9}).value == 0.2


def test_a_told_result_that_loses_the_metric_is_refused_and_the_trial_stays_running(storage):
    first = et.Study(SPACE, storage=storage, name="nm", strategy=et.RandomSearch(seed=0))
    second = et.Study.load("nm", storage)
    trial = first.ask()
    record_after_the_check(first, second, {"loss": 0.3})
    with pytest.raises(et.ResultError, match=r"no metric 'loss'; it has \['acc'\]"):
        first.tell(trial, {"acc": 0.9})
    assert first.trials[trial.number].state is et.TrialState.RUNNING and first.metric == "loss"
    assert first.tell(trial, 0.25).metrics == {"loss": 0.25}
    assert et.Study.load("nm", storage).metric == "loss"


def test_an_objective_that_loses_the_metric_fails_its_trial_and_the_run_goes_on(storage):
    running = et.Study(SPACE, storage=storage, name="nm", strategy=et.RandomSearch(seed=0))
    other = et.Study.load("nm", storage)
    # The loop checks a result (1st check), then tell checks it again and writes (2nd check):
    # the other process records its first result between tell's check and its write.
    record_after_the_check(running, other, {"loss": 2.0}, calls=2)
    running.optimize(lambda p: {"acc": 0.5}, max_trials=3)
    trials = running.trials
    assert running.stop_reason == "max_trials reached" and running.metric == "loss"
    assert [t.state for t in trials if t.origin != "manual"] == [et.TrialState.FAILED] * 2
    assert all("no metric 'loss'; it has ['acc']" in t.error for t in trials if t.origin != "manual")
    assert [t.metrics for t in trials if t.state is et.TrialState.COMPLETE] == [{"loss": 2.0}]


def test_a_metric_named_on_reopening_while_another_is_adopted_conflicts(storage, monkeypatch):
    et.Study(SPACE, storage=storage, name="nm")
    other = et.Study.load("nm", storage)
    check = study_metric.metrics_besides

    def check_then_the_other_records(trials, metric):
        reported = check(trials, metric)  # no complete trial reports another metric yet...
        if other.metric is None:
            other.add(params(1), {"loss": 0.3})  # ...and the other process adopts 'loss' meanwhile
        return reported

    monkeypatch.setattr(study_metric, "metrics_besides", check_then_the_other_records)
    with pytest.raises(et.StudyConflictError, match="already exists with metric='loss', got metric='acc'"):
        et.Study(SPACE, metric="acc", storage=storage, name="nm")
    assert et.Study.load("nm", storage).metric == "loss"


# -- a result the study refuses: kept with its FAILED trial ------------------------------------------
@pytest.mark.parametrize("metric, result, kept, reason", [
    ("acc", {"accuracy": 0.9, "loss": 0.1}, {"accuracy": 0.9, "loss": 0.1}, "no metric 'acc'"),
    (None, {"acc": 0.9, "loss": 0.1}, {"acc": 0.9, "loss": 0.1}, "several metrics ['acc', 'loss']"),
    ("acc", {"acc": 0.9, "f1": float("nan")}, {"acc": 0.9, "f1": "nan"}, "metric 'f1' must be finite"),
    ("acc", {"acc": 0.9, "note": "text", "model": object()}, {"acc": 0.9, "note": "text"},
     "metric 'note' must be a number"),
    ("acc", "0.9", "0.9", "expected a number or a dict of named metrics"),
], ids=["missing", "several", "nan-secondary", "text-secondary", "text"])
def test_a_refused_result_is_kept_with_its_failed_trial(storage, metric, result, kept, reason):
    study = et.Study(SPACE, metric=metric, storage=storage, name="nm", strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: result, max_trials=1, show_progress=False)
    trial = et.Study.load("nm", storage).trials[0]
    assert trial.state is et.TrialState.FAILED and trial.metrics == {}
    assert trial.error.startswith("objective returned an invalid result: ") and reason in trial.error
    assert trial.error.endswith("(what it returned is kept in the trial's attrs['refused_result'])")
    assert trial.attrs["refused_result"] == kept and "duration_objective" in trial.attrs


def test_a_refused_result_with_nothing_to_keep_fails_as_before():
    study = et.Study(SPACE, metric="acc", strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: None, max_trials=1, show_progress=False)
    trial = study.trials[0]
    assert trial.error == "objective returned an invalid result: expected a number or a dict of named metrics, " \
                          "got None (NoneType)"
    assert "refused_result" not in trial.attrs


@pytest.mark.parametrize("metric, result", [("acc", {"accuracy": 0.9}), (None, {"acc": 0.9, "loss": 0.1})],
                         ids=["missing", "several"])
def test_a_run_whose_first_results_all_lack_the_metric_stops_after_three(evotune_log, metric, result):
    study = et.Study(SPACE, metric=metric, strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: result, max_trials=20, show_progress=False)
    assert len(study.trials) == 3 and all(t.attrs["refused_result"] == result for t in study.trials)
    assert study.stop_reason.startswith("the first 3 results were refused: the result has ")
    assert "every later result would be refused alike" in evotune_log.text


@pytest.mark.parametrize("results", [
    [{"acc": 0.5}] + [{"accuracy": 0.9}] * 9,  # a trial completed first
    [{"accuracy": 0.9}] * 2 + [{"acc": 0.5}] + [{"accuracy": 0.9}] * 7,  # then one completed
    [{"acc": 0.5, "f1": float("nan")}] * 10,  # a NaN may depend on the parameters
    [{"accuracy": 0.9}, {"loss": 0.9}] * 5,  # not the same names each time
], ids=["complete-first", "complete-third", "nan", "different-names"])
def test_a_run_goes_on_when_a_result_may_still_be_accepted(results):
    answers = iter(results)
    study = et.Study(SPACE, metric="acc", strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: next(answers), max_trials=10, show_progress=False)
    assert len(study.trials) == 10 and study.stop_reason == "max_trials reached"
