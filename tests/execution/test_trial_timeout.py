"""optimize(trial_timeout=...): a Python objective that runs too long fails, and the study goes on."""

from __future__ import annotations

import time

import pytest

import evotune as et


def slow_when_large(params):
    if params["x"] >= 5:
        while True:  # a hang in pure Python
            time.sleep(0.01)
    return params["x"]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_a_hanging_trial_is_stopped_and_recorded_failed(n_jobs):
    study = et.Study({"x": et.Int(0, 9)}, strategy=et.GridSearch())
    start = time.monotonic()
    study.optimize(slow_when_large, trial_timeout=0.3, n_jobs=n_jobs)
    elapsed = time.monotonic() - start
    trials = study.trials
    assert len(trials) == 10 and study.stop_reason == "strategy exhausted"
    failed = [t for t in trials if t.state is et.TrialState.FAILED]
    assert sorted(t.params["x"] for t in failed) == [5, 6, 7, 8, 9]
    assert all("TimeoutError" in t.error and "trial_timeout of 0.3 s" in t.error for t in failed)
    assert study.best.params["x"] == 0
    assert elapsed < 30  # five 0.3 s limits (plus worker start-up), not a hang


def test_the_limit_is_lifted_after_each_trial():
    study = et.Study({"x": et.Int(0, 3)}, strategy=et.GridSearch())
    study.optimize(lambda p: p["x"], trial_timeout=0.2)
    time.sleep(0.4)  # a timer left armed would fire here and raise outside any trial
    assert [t.state for t in study.trials] == [et.TrialState.COMPLETE] * 4


@pytest.mark.parametrize("bad", [0, -1, "1", True, float("inf"), 1e300])
def test_an_invalid_trial_timeout_is_refused(bad):
    study = et.Study({"x": et.Int(0, 3)})
    with pytest.raises(et.ConfigError, match="trial_timeout"):
        study.optimize(lambda p: p["x"], max_trials=2, trial_timeout=bad)
    assert study.trials == []
