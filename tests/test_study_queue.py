"""The queue of guesses: a configuration whose trials all failed is queued again, one held by a
trial is refused (naming it), and a queued configuration recorded by hand is not run again."""

from __future__ import annotations

import pytest

import evotune as et
from evotune.storage.base import DuplicateTrialError

SPACE = {"bs": et.Categorical([64, 128, 256])}


def oom(params):
    raise MemoryError("CUDA out of memory")  # transient: another job held the GPU


def test_a_configuration_whose_trials_all_failed_is_queued_again(storage):
    s = et.Study(SPACE, direction="maximize", storage=storage, name="ef", strategy=et.ManualSearch())
    s.enqueue({"bs": 256})
    s.optimize(oom)
    assert s.trials[0].state is et.TrialState.FAILED and s.trial_holding({"bs": 256}) is None
    again = s.enqueue({"bs": 256})
    assert again is not None and again.state is et.TrialState.WAITING and again.number == 1
    s.optimize(lambda p: 0.9)
    assert [t.state.value for t in s.trials] == ["FAILED", "COMPLETE"] and s.stop_reason == "queue empty"
    assert s.best.number == 1 and s.best.params == {"bs": 256}


@pytest.mark.parametrize("state", ["WAITING", "RUNNING", "COMPLETE"])
def test_a_configuration_held_by_a_trial_is_refused_naming_it(storage, evotune_log, state):
    s = et.Study(SPACE, storage=storage, name="ef", strategy=et.ManualSearch())
    s.enqueue({"bs": 256})
    s.tell(s.ask(), error="out of memory")  # trial 0: FAILED, so the configuration may be queued again
    held = s.enqueue({"bs": 256})
    if state != "WAITING":
        held = s.ask()
    if state == "COMPLETE":
        held = s.tell(held, 0.5)
    assert s.trial_holding({"bs": 256}) == held and held.state.value == state
    evotune_log.clear()
    assert s.enqueue({"bs": 256}) is None
    assert len(storage.get_trials(s._study_id)) == 2  # nothing written
    assert f"already has {{'bs': 256}} in trial 1 ({state}); not queued again" in evotune_log.text
    assert s.trial_holding({"bs": 64}) is None
    with pytest.raises(et.ParamsError, match="parameter 'bs' must be one of"):
        s.trial_holding({"bs": 32})


def test_a_queued_configuration_recorded_by_hand_is_not_run_again(storage):
    s = et.Study({"lr": et.Categorical([0.1, 0.01, 0.001])}, direction="maximize", storage=storage, name="q",
                 strategy=et.GridSearch())
    s.enqueue({"lr": 0.01})  # the next guess...
    s.add({"lr": 0.01}, 0.93)  # ...run by hand elsewhere, and recorded
    runs = []
    s.optimize(lambda p: runs.append(p["lr"]) or 0.9)
    assert runs == [0.1, 0.001]
    skipped = s.trials[0]
    assert skipped.state is et.TrialState.FAILED and skipped.attrs["skipped_for"] == 1
    assert "skipped, not run: trial 1 holds this configuration (COMPLETE)" in skipped.error
    assert s.best.number == 1 and s.best.value == 0.93


def test_a_skipped_queued_trial_uses_no_budget(storage):
    s = et.Study({"n": et.Int(0, 9)}, storage=storage, name="q", strategy=et.RandomSearch(seed=0))
    s.enqueue({"n": 3})
    s.enqueue({"n": 4})
    s.add({"n": 3}, 1.0)
    s.optimize(lambda p: p["n"], max_trials=4)  # the added trial and three run
    ran = [t for t in s.trials if "skipped_for" not in t.attrs and t.attrs.get("source") != "add"]
    assert len(ran) == 3 and ran[0].params == {"n": 4}
    assert sum(t.params == {"n": 3} for t in s.trials if t.state is et.TrialState.COMPLETE) == 1


def test_ask_skips_a_queued_configuration_recorded_meanwhile():
    s = et.Study(SPACE, strategy=et.ManualSearch())
    s.enqueue({"bs": 64})
    s.enqueue({"bs": 128})
    s.add({"bs": 64}, 0.5)
    assert s.ask().params == {"bs": 128}
    with pytest.raises(et.TrialStateError, match="exhausted"):
        s.ask()


def test_the_trial_that_holds_a_configuration_is_its_complete_one_before_a_queued_one():
    study = et.Study(SPACE, strategy=et.ManualSearch())
    queued = study.enqueue({"bs": 64})
    recorded = study.add({"bs": 64}, 0.5)
    assert study.trial_holding({"bs": 64}).number == recorded.number != queued.number


def test_an_interrupted_trial_is_queued_again_when_a_skipped_copy_left_room_for_it():
    study = et.Study({"x": et.Categorical([1, 2, 3, 4, 5, 6])}, strategy=et.GridSearch())
    study.enqueue({"x": 6})
    study.add({"x": 6}, 0.5)  # the queued copy is skipped unrun, and uses no budget
    calls = []

    def objective(params):
        calls.append(params)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return float(params["x"])

    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, max_trials=3)
    interrupted = next(t for t in study.trials if t.error == "interrupted")
    retries = study.requeue_interrupted(max_trials=3)
    assert [t.attrs["retry_of"] for t in retries] == [interrupted.number]
    study.optimize(lambda p: float(p["x"]), max_trials=3)
    assert next(t for t in study.trials if t.attrs.get("retry_of") == interrupted.number).state is et.TrialState.COMPLETE


def test_a_configuration_queued_twice_by_two_processes_runs_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    first = et.Study(SPACE, storage=url, name="q", strategy=et.ManualSearch())
    second = et.Study.load("q", url)
    assert first.trial_holding({"bs": 64}) is None and second.trial_holding({"bs": 64}) is None
    # Two queued copies, written straight to the storage without its condition (as a database
    # written by an earlier evotune may hold them): the second line of defence skips one.
    first.storage.create_trial(first._study_id, {"bs": 64}, et.TrialState.WAITING, origin="manual")
    second.storage.create_trial(second._study_id, {"bs": 64}, et.TrialState.WAITING, origin="manual")
    running = first.ask()
    assert running.params == {"bs": 64}
    with pytest.raises(et.TrialStateError):  # the other copy is skipped: the queue is then empty
        second.ask()
    trials = second.trials
    assert trials[1].state is et.TrialState.FAILED and "holds this configuration (RUNNING)" in trials[1].error


# -- two processes queueing at the same moment -------------------------------------------------
# Each test forces the interleaving: the second process checks the study, then the first one
# queues the configuration, before the second writes anything.

def test_a_guess_queued_by_two_processes_at_once_is_queued_once(storage, evotune_log):
    first = et.Study(SPACE, storage=storage, name="q", strategy=et.ManualSearch())
    second = et.Study.load("q", storage)
    holding, queued = second.trial_holding, []

    def check_then_the_first_queues(params):
        holder = holding(params)
        if not queued:
            queued.append(first.enqueue(params))
        return holder

    second.trial_holding = check_then_the_first_queues
    assert second.enqueue({"bs": 64}) is None
    assert queued[0].number == 0 and len(storage.get_trials(second._study_id)) == 1
    assert "already has {'bs': 64} in trial 0 (WAITING); not queued again" in evotune_log.text
    runs = []
    second.optimize(lambda p: runs.append(p) or 0.5)
    assert runs == [{"bs": 64}] and [t.state.value for t in second.trials] == ["COMPLETE"]


def test_two_processes_resuming_at_once_queue_one_retry_of_an_interrupted_trial(storage):
    first = et.Study(SPACE, storage=storage, name="q", strategy=et.ManualSearch())
    first.enqueue({"bs": 64})
    first.tell(first.ask(), error="interrupted")  # what Ctrl-C leaves behind
    second = et.Study.load("q", storage)
    sync, retried_first = second._sync, []

    def sync_then_the_first_resumes():
        sync()  # the second sees trial 0 interrupted and not retried...
        if not retried_first:
            retried_first.extend(first.requeue_interrupted(max_trials=3))  # ...and the first retries it

    second._sync = sync_then_the_first_resumes
    assert second.requeue_interrupted(max_trials=3) == []
    assert [t.attrs["retry_of"] for t in retried_first] == [0]
    runs = []
    second.optimize(lambda p: runs.append(p) or 0.5, max_trials=3)
    assert runs == [{"bs": 64}]  # run once
    trials = second.trials
    assert [(t.state.value, t.attrs.get("retry_of")) for t in trials] == [("FAILED", None), ("COMPLETE", 0)]


def test_a_retry_is_not_queued_for_a_configuration_recorded_meanwhile(storage):
    study = et.Study(SPACE, storage=storage, name="q", strategy=et.ManualSearch())
    study.enqueue({"bs": 64})
    interrupted = study.tell(study.ask(), error="interrupted")
    study.add({"bs": 64}, 0.5)  # run by hand elsewhere: a retry would be skipped unrun
    assert study._retry(interrupted) is None
    assert [t.state.value for t in study.trials] == ["FAILED", "COMPLETE"]


def test_resuming_passes_over_an_interrupted_configuration_recorded_since_without_a_word(storage, evotune_log):
    study = et.Study(SPACE, storage=storage, name="q", strategy=et.ManualSearch())
    study.enqueue({"bs": 64})
    study.tell(study.ask(), error="interrupted")
    study.add({"bs": 64}, 0.5)  # run by hand elsewhere after the interrupt
    for _ in range(2):  # every resume
        assert study.requeue_interrupted(max_trials=5) == []
    assert "not queued again" not in evotune_log.text
    assert [t.state.value for t in study.trials] == ["FAILED", "COMPLETE"]


def test_a_retry_refused_in_a_race_names_the_trial_that_holds_the_configuration(storage, evotune_log):
    first = et.Study(SPACE, storage=storage, name="q", strategy=et.ManualSearch())
    first.enqueue({"bs": 64})
    interrupted = first.tell(first.ask(), error="interrupted")
    second = et.Study.load("q", storage)
    assert first._retry(interrupted) is not None  # trial 1, queued by the first process
    assert second._retry(interrupted) is None  # the second did not see it yet
    assert "trial 0 not queued again: trial 1 holds it (WAITING)" in evotune_log.text


def test_a_memory_storage_pickled_with_a_set_of_keys_still_refuses_what_a_trial_holds():
    import pickle

    from evotune.storage.base import config_key

    study = et.Study(SPACE, strategy=et.ManualSearch())
    study.enqueue({"bs": 64})
    storage = study.storage
    state = storage.__getstate__()
    state["_keys"] = {sid: set(index) for sid, index in state["_keys"].items()}  # the layout kept before
    old = pickle.loads(pickle.dumps(state))
    restored = et.storage.MemoryStorage.__new__(et.storage.MemoryStorage)
    restored.__setstate__(old)
    key = config_key(study.space, {"bs": 64})
    with pytest.raises(DuplicateTrialError):
        restored.create_trial(study._study_id, {"bs": 64}, et.TrialState.WAITING, key=key, unless_held=True)
    assert restored.create_trial(study._study_id, {"bs": 256}, et.TrialState.WAITING,
                                 key=config_key(study.space, {"bs": 256}), unless_held=True).number == 1
