"""ManualSearch: only the enqueued parameter sets run; an empty queue stops the study."""

from __future__ import annotations

import pytest

import evotune as et
from evotune.strategies import History

SPACE = {"lr": et.Float(1e-4, 1e-1, log=True), "depth": et.Int(2, 8)}


def test_runs_only_the_queue_in_order_then_stops():
    study = et.Study(SPACE, strategy=et.ManualSearch())
    guesses = [{"lr": 1e-3, "depth": 4}, {"lr": 3e-2, "depth": 2}, {"lr": 1e-4, "depth": 8}]
    for guess in guesses:
        assert study.enqueue(guess).state is et.TrialState.WAITING
    seen = []
    best = study.optimize(lambda p: seen.append(p) or p["depth"], max_trials=100)
    assert seen == guesses
    assert [t.params for t in study.trials] == guesses
    assert all(t.state is et.TrialState.COMPLETE and t.origin == "manual" for t in study.trials)
    assert study.stop_reason == "queue empty"
    assert best.params == {"lr": 3e-2, "depth": 2} and best.value == 2


def test_empty_queue_stops_at_once():
    study = et.Study(SPACE, strategy=et.ManualSearch())
    assert study.optimize(lambda p: 0.0) is None
    assert study.stop_reason == "queue empty" and study.trials == []
    with pytest.raises(et.TrialStateError, match="no trial to ask for"):
        study.ask()


def test_queue_survives_max_trials_and_continues_later(storage):
    study = et.Study(SPACE, strategy=et.ManualSearch(), storage=storage, name="m")
    for depth in range(2, 7):
        study.enqueue({"lr": 1e-3, "depth": depth})
    study.optimize(lambda p: p["depth"], max_trials=2)
    assert study.stop_reason == "max_trials reached"
    assert [t.state for t in study.trials] == [et.TrialState.COMPLETE] * 2 + [et.TrialState.WAITING] * 3
    resumed = et.Study(SPACE, storage=storage, name="m")
    assert isinstance(resumed.strategy, et.ManualSearch)
    resumed.optimize(lambda p: p["depth"])
    assert [t.params["depth"] for t in resumed.trials] == [2, 3, 4, 5, 6]
    assert resumed.stop_reason == "queue empty"


def test_ask_takes_the_queue_then_reports_it_empty():
    study = et.Study(SPACE, strategy=et.ManualSearch())
    study.enqueue({"lr": 1e-2, "depth": 3})
    trial = study.ask()
    assert trial.params == {"lr": 1e-2, "depth": 3} and trial.state is et.TrialState.RUNNING
    study.tell(trial, 0.5)
    with pytest.raises(et.TrialStateError):
        study.ask()


def test_a_configuration_is_queued_once():
    study = et.Study(SPACE, strategy=et.ManualSearch())
    assert study.enqueue({"lr": 1e-3, "depth": 4}) is not None
    assert study.enqueue({"lr": 0.001, "depth": 4.0}) is None  # same configuration
    study.optimize(lambda p: 1.0)
    assert study.enqueue({"lr": 1e-3, "depth": 4}) is None  # already run
    assert len(study.trials) == 1


def test_propose_never_invents_parameters():
    space = et.Space(SPACE)
    assert et.ManualSearch().propose(space, History(space), 0) is None
    assert et.ManualSearch(seed=1).to_config() == {"type": "manual", "seed": 1}
