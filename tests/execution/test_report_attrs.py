"""Recording a trial's result: numpy values in Report(attrs=...) are stored, a value that cannot
be stored fails that trial only, and no error while recording leaves a trial RUNNING."""

from __future__ import annotations

import math

import numpy as np
import pytest

import evotune as et
from evotune.exceptions import StorageError
from evotune.execution.loop import storable
from evotune.results import Report


def _study() -> et.Study:
    return et.Study({"x": et.Float(0.0, 1.0)}, metric="loss", strategy=et.RandomSearch(seed=0))


def test_numpy_values_and_nan_in_attrs_are_stored_as_python_values():
    def objective(params):
        return Report({"loss": params["x"]}, attrs={
            "train_loss": np.float32(0.5), "epochs": np.int64(3), "curve": np.array([0.25, 0.5]),
            "ok": np.bool_(True), "diverged": float("nan"), "worst": -math.inf,
            "per_fold": [{"loss": np.float64(0.125)}],
        })

    study = _study()
    study.optimize(objective, max_trials=3, show_progress=False)
    assert [t.state for t in study.trials] == [et.TrialState.COMPLETE] * 3
    attrs = study.trials[0].attrs
    assert (attrs["train_loss"], attrs["epochs"], attrs["curve"], attrs["ok"]) == (0.5, 3, [0.25, 0.5], True)
    assert type(attrs["train_loss"]) is float and type(attrs["epochs"]) is int
    assert (attrs["diverged"], attrs["worst"], attrs["per_fold"]) == ("nan", "-inf", [{"loss": 0.125}])


def test_storable_leaves_plain_values_and_unknown_objects_alone():
    marker = object()
    assert storable({"a": 1, "b": "s", "c": None, "d": (1, 2.5), "e": marker}) == {
        "a": 1, "b": "s", "c": None, "d": [1, 2.5], "e": marker}
    assert storable(np.float64("inf")) == "inf" and storable(None) is None


def test_an_attr_that_cannot_be_stored_fails_only_its_trial():
    def objective(params):
        attrs = {"log": "12 epochs", "model": object() if params["x"] < 0.5 else "kept"}
        return Report({"loss": params["x"]}, attrs=attrs)

    study = _study()
    study.optimize(objective, max_trials=6, show_progress=False)
    assert study.stop_reason == "max_trials reached"  # the run went on
    trials = study.trials
    assert len(trials) == 6 and not any(t.state is et.TrialState.RUNNING for t in trials)
    for trial in trials:
        if trial.params["x"] < 0.5:
            assert trial.state is et.TrialState.FAILED
            assert trial.error.startswith("the trial's result cannot be recorded: attrs['model'] = <object")
            assert trial.attrs["log"] == "12 epochs" and "model" not in trial.attrs  # what can be kept is
        else:
            assert trial.state is et.TrialState.COMPLETE and trial.attrs["model"] == "kept"
    assert {t.state for t in trials} == {et.TrialState.FAILED, et.TrialState.COMPLETE}


def test_an_error_that_is_not_a_string_fails_only_its_trial():
    study = _study()
    study.optimize(lambda p: Report(error=ValueError("diverged")), max_trials=2, show_progress=False)
    assert [t.state for t in study.trials] == [et.TrialState.FAILED] * 2
    assert "error must be a string" in study.trials[0].error


def test_a_storage_error_while_recording_aborts_the_run_but_leaves_no_trial_running(monkeypatch):
    study = _study()
    finish_trial = study.storage.finish_trial
    outages = []

    def failing_once(*args, **kwargs):
        if not outages:
            outages.append(args)
            raise StorageError("the database went away")
        return finish_trial(*args, **kwargs)

    monkeypatch.setattr(study.storage, "finish_trial", failing_once)
    with pytest.raises(StorageError, match="went away"):
        study.optimize(lambda p: p["x"], max_trials=4, show_progress=False)
    assert study.stop_reason == "aborted: StorageError"
    trials = study.trials
    assert len(trials) == 1 and trials[0].state is et.TrialState.FAILED
    assert trials[0].error == "aborted: StorageError: the database went away"
