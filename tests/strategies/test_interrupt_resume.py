"""After a Ctrl-C resumed the documented way (``requeue_interrupted``, then ``optimize``), which
strategies run the configurations an uninterrupted run would have run.

The interrupted trial stays FAILED ("interrupted") under its number and its retry takes the next
free number, so the trial numbers after it shift by one for every strategy. What may or may not
come back is the configurations:

* RandomSearch: the same ones, in the same order (its draws count the trials before them except
  those queued or added by hand and retries, not the trial numbers).
* GridSearch: the same cells, in the same order (the order is the grid's, not the numbers').
* EvolutionarySearch, generational or steady-state: the same. Its steady-state draws count the
  trials before them except retries; its adaptive mutation step judges a retry in the place of
  the trial it repeats (an interrupted child is no failed step), and its population ranks and
  ages a retry as that trial. Generational runs come back so even when Ctrl-C cut several trials
  in flight, which finish in any order.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable

import pytest

import evotune as et
from evotune.space import Space
from evotune.storage import MemoryStorage
from evotune.strategies import History, Proposal
from evotune.strategies.base import draw_unseen, make_rng
from evotune.strategies.population import Ledger
from evotune.strategies.random import MAX_DRAWS
from evotune.trial import Trial, TrialState

SPACE = {"x": et.Float(-3, 3), "y": et.Float(-3, 3), "n": et.Int(0, 5), "c": et.Categorical(["a", "b"])}
SMALL = {"a": et.Categorical(["p", "q", "r"]), "b": et.Int(0, 3)}  # 12 configurations: repeats are redrawn
N = 36


def objective(params: dict) -> float:
    return (params["x"] - 1) ** 2 + (params["y"] - 2) ** 2 + params["n"] * 0.1 + (params["c"] == "b")


class NumberSeeded(et.RandomSearch):
    """RandomSearch as it was: each draw seeded by the trial number."""

    def propose(self, space: Space, history: History, number: int) -> Proposal | None:
        if history.n_distinct >= self.size(space):
            return None
        params = draw_unseen(space, history, make_rng(self.seed, number), MAX_DRAWS)
        return None if params is None else Proposal(params=params, origin="random")


def configurations(study: et.Study) -> list[dict]:
    """The parameters of the COMPLETE trials, in number order."""
    return [t.params for t in study.trials if t.state is et.TrialState.COMPLETE]


def uninterrupted(make: Callable[[], et.Strategy], space: dict = SPACE, max_trials: int = N) -> et.Study:
    study = et.Study(space, strategy=make())
    study.optimize(objective, max_trials=max_trials, show_progress=False)
    return study


def interrupted_and_resumed(make: Callable[[], et.Strategy], at: int, storage=None, max_trials: int = N) -> et.Study:
    """Ctrl-C during the objective's call ``at`` (from 0); then the study is opened again, its
    interrupted trial queued again, and the run resumed (what ``evotune run`` does)."""
    storage = storage if storage is not None else MemoryStorage()
    study = et.Study(SPACE, strategy=make(), storage=storage, name="s")
    calls = []

    def pressed_ctrl_c(params: dict) -> float:
        calls.append(params)
        if len(calls) == at + 1:
            raise KeyboardInterrupt
        return objective(params)

    with pytest.raises(KeyboardInterrupt):
        study.optimize(pressed_ctrl_c, max_trials=max_trials, show_progress=False)
    resumed = et.Study(SPACE, strategy=make(), storage=storage, name="s")  # as a new process: a new history
    assert [t.attrs["retry_of"] for t in resumed.requeue_interrupted(max_trials)] == [at]
    resumed.optimize(objective, max_trials=max_trials, show_progress=False)
    return resumed


# -- RandomSearch ------------------------------------------------------------------------------
@pytest.mark.parametrize("space", [SPACE, SMALL], ids=["continuous", "small"])
def test_a_plain_run_draws_what_trial_number_seeds_drew(space):
    # Without queued, added or retried trials the draw index is the trial number: seeded results
    # of earlier versions stay identical, repeats redrawn and exhaustion included.
    new = uninterrupted(lambda: et.RandomSearch(seed=4), space, 40)
    old = uninterrupted(lambda: NumberSeeded(seed=4), space, 40)
    assert [t.params for t in new.trials] == [t.params for t in old.trials]
    assert len(new.trials) == (12 if space is SMALL else 40)


def test_a_plain_stop_and_resume_draws_what_trial_number_seeds_drew(storage):
    study = et.Study(SPACE, strategy=et.RandomSearch(seed=4), storage=storage, name="s")
    study.optimize(objective, max_trials=20, show_progress=False,
                   callbacks=[lambda s, t: s.stop("pause") if t.number == 6 else None])
    assert len(study.trials) == 7
    resumed = et.Study(SPACE, storage=storage, name="s")
    resumed.optimize(objective, max_trials=20, show_progress=False)
    old = uninterrupted(lambda: NumberSeeded(seed=4), SPACE, 20)
    assert [t.params for t in resumed.trials] == [t.params for t in old.trials]


@pytest.mark.parametrize("at", [0, 5, 17])
def test_random_after_ctrl_c_and_requeue_runs_the_uninterrupted_configurations(at):
    resumed = interrupted_and_resumed(lambda: et.RandomSearch(seed=4), at)
    assert configurations(resumed) == configurations(uninterrupted(lambda: et.RandomSearch(seed=4)))
    trials = resumed.trials
    assert trials[at].error == "interrupted" and trials[at + 1].attrs["retry_of"] == at
    assert [t.number for t in trials if t.state is et.TrialState.COMPLETE] == [*range(at), *range(at + 1, N + 1)]


def test_random_after_ctrl_c_and_requeue_on_every_storage(storage):
    resumed = interrupted_and_resumed(lambda: et.RandomSearch(seed=4), 3, storage, max_trials=10)
    assert configurations(resumed) == configurations(uninterrupted(lambda: et.RandomSearch(seed=4), SPACE, 10))


def test_trial_number_seeds_skipped_a_draw_after_a_ctrl_c():
    # What this module's fix is for: the retry took trial number 6, so draw 6 was never made.
    resumed = configurations(interrupted_and_resumed(lambda: NumberSeeded(seed=4), 5))
    reference = configurations(uninterrupted(lambda: NumberSeeded(seed=4)))
    assert reference[6] not in resumed
    assert resumed == reference[:6] + reference[7:] + resumed[-1:]


def test_queued_and_added_trials_do_not_shift_the_draws():
    study = et.Study(SPACE, strategy=et.RandomSearch(seed=4))
    study.add({"x": 0.0, "y": 0.0, "n": 0, "c": "a"}, 1.0)
    study.enqueue({"x": 1.0, "y": 2.0, "n": 0, "c": "a"})
    study.optimize(objective, max_trials=12, show_progress=False)
    assert [t.origin for t in study.trials] == ["manual"] * 2 + ["random"] * 10
    plain = uninterrupted(lambda: et.RandomSearch(seed=4), SPACE, 10)
    assert [t.params for t in study.trials[2:]] == [t.params for t in plain.trials]


def test_workers_sharing_a_study_draw_one_sequence_across_an_interrupted_trial(storage):
    first = et.Study(SPACE, strategy=et.RandomSearch(seed=4), storage=storage, name="s")
    second = et.Study(SPACE, storage=storage, name="s")
    first.tell(first.ask(), 1.0)
    first.tell(second.ask(), error="interrupted")  # the second worker's trial, interrupted
    assert [t.attrs["retry_of"] for t in first.requeue_interrupted(max_trials=8)] == [1]
    for worker in [second, first, second, first, second, first, second]:  # the retry is claimed first
        trial = worker.ask()
        worker.tell(trial, objective(trial.params))
    assert configurations(second) == configurations(uninterrupted(lambda: et.RandomSearch(seed=4), SPACE, 8))
    assert len(second.trials) == 9


def test_a_subclass_that_relabels_its_proposals_draws_the_same_sequence():
    class Labelled(et.RandomSearch):
        def propose(self, space: Space, history: History, number: int) -> Proposal | None:
            proposal = super().propose(space, history, number)
            return None if proposal is None else Proposal(params=proposal.params, origin=f"mine:{number}")

    study = uninterrupted(lambda: Labelled(seed=4), SPACE, 10)
    assert [t.params for t in study.trials] == [t.params for t in uninterrupted(lambda: NumberSeeded(seed=4),
                                                                                   SPACE, 10).trials]


def test_a_study_that_switches_to_random_search_draws_as_trial_numbers_did():
    def switched(random_search: et.RandomSearch) -> list[dict]:
        storage = MemoryStorage()
        et.Study(SPACE, strategy=et.EvolutionarySearch(seed=1), storage=storage, name="s").optimize(
            objective, max_trials=5, show_progress=False)
        study = et.Study(SPACE, strategy=random_search, storage=storage, name="s")
        study.optimize(objective, max_trials=10, show_progress=False)
        return [t.params for t in study.trials]

    assert switched(et.RandomSearch(seed=4)) == switched(NumberSeeded(seed=4))


def test_a_proposal_reads_each_trial_of_the_history_once():
    class CountingHistory(History):
        reads = 0

        def __getitem__(self, index):  # type: ignore[override]
            CountingHistory.reads += 1
            return super().__getitem__(index)

    space = Space(SPACE)
    history = CountingHistory(space)
    strategy = et.RandomSearch(seed=4)
    for number in range(5000):
        proposal = strategy.propose(space, history, number)
        history._record(Trial(number=number, params=proposal.params, state=TrialState.COMPLETE, value=0.0,
                              origin=proposal.origin, attrs={"retry_of": 0} if number % 7 == 6 else {}))
    last = strategy.propose(space, history, 5000)
    assert CountingHistory.reads == 5000  # each trial read once, not once per proposal
    retries = len(range(6, 5000, 7))
    assert last.params == NumberSeeded(seed=4).propose(space, History(space), 5000 - retries).params


def test_a_strategy_that_proposed_pickles_without_its_cache():
    space = Space(SPACE)
    strategy = et.RandomSearch(seed=4)
    history = History(space)
    history._record(Trial(number=0, params=strategy.propose(space, history, 0).params, origin="random"))
    copy = pickle.loads(pickle.dumps(strategy))
    assert copy == strategy
    assert copy.propose(space, history, 1) == strategy.propose(space, history, 1)


# -- GridSearch --------------------------------------------------------------------------------
@pytest.mark.parametrize("shuffle", [False, True])
def test_grid_after_ctrl_c_and_requeue_runs_the_uninterrupted_cells(shuffle):
    def make():
        return et.GridSearch(points=3, shuffle=shuffle, seed=3)

    resumed = interrupted_and_resumed(make, 4)
    assert configurations(resumed) == configurations(uninterrupted(make))
    assert resumed.trials[5].attrs["retry_of"] == 4


# -- EvolutionarySearch ------------------------------------------------------------------------
def generational(adaptive: bool = True) -> et.EvolutionarySearch:
    return et.EvolutionarySearch(seed=3, mode="generational", population_size=6, adaptive=adaptive)


@pytest.mark.parametrize("at", [2, 6, 9, 16])  # in the first population; mutated children of later ones
def test_generational_with_a_fixed_mutation_scale_runs_the_uninterrupted_configurations(at):
    resumed = interrupted_and_resumed(lambda: generational(adaptive=False), at)
    assert configurations(resumed) == configurations(uninterrupted(lambda: generational(adaptive=False)))


@pytest.mark.parametrize("at", [0, 5, 7])  # the first population; a crossover child
def test_generational_runs_the_uninterrupted_configurations_when_no_mutation_step_was_cut(at):
    resumed = interrupted_and_resumed(generational, at)
    assert configurations(resumed) == configurations(uninterrupted(generational))


@pytest.mark.parametrize("at", [6, 13, 25, 27])  # mutated children (that beat their parent); a quadratic one
def test_generational_with_the_adaptive_scale_after_an_interrupted_child(at):
    assert uninterrupted(generational).trials[at].origin == ("quadratic" if at == 27 else "mutation")
    resumed = interrupted_and_resumed(generational, at)
    assert configurations(resumed) == configurations(uninterrupted(generational))


def steady() -> et.EvolutionarySearch:
    return et.EvolutionarySearch(seed=3, population_size=6)


# initial; mutated children that failed, then beat their parent; crossover; quadratic
@pytest.mark.parametrize("at", [3, 7, 9, 8, 15, 20, 33])
def test_steady_state_after_ctrl_c_and_requeue(at):
    resumed = interrupted_and_resumed(steady, at)
    assert configurations(resumed) == configurations(uninterrupted(steady))


def test_steady_state_after_ctrl_c_and_requeue_on_every_storage(storage):
    resumed = interrupted_and_resumed(steady, 7, storage, max_trials=16)
    assert configurations(resumed) == configurations(uninterrupted(steady, SPACE, 16))


def by_hand(make: Callable[[], et.Strategy], cuts: dict[int, int], n: int = 30) -> et.Study:
    """``ask`` and ``tell`` ``n`` evaluations; evaluation ``i`` is interrupted ``cuts[i]`` times,
    each time queued again with ``requeue_interrupted`` and asked again (a retry of a retry)."""
    study = et.Study(SPACE, strategy=make())
    for call in range(n):
        trial = study.ask()
        for _ in range(cuts.get(call, 0)):
            study.tell(trial, error="interrupted")
            [retry] = study.requeue_interrupted(max_trials=n)
            trial = study.ask()
            assert trial.number == retry.number
        study.tell(trial, objective(trial.params))
    return study


@pytest.mark.parametrize("make", [steady, generational], ids=["steady-state", "generational"])
def test_a_retry_interrupted_in_turn_still_stands_in_for_its_trial(make):
    resumed = by_hand(make, {9: 2, 13: 1, 20: 3})
    assert sum("retry_of" in t.attrs for t in resumed.trials) == 6
    assert configurations(resumed) == configurations(by_hand(make, {}))


@pytest.mark.parametrize(("seed", "cut"), [(3, (0, 1)), (5, (0, 1)), (5, (0,)), (5, (2,)), (5, (1, 3))])
def test_generational_after_a_ctrl_c_that_cut_several_trials_in_flight(seed, cut):
    # Generation 1 runs at once; Ctrl-C cuts some of its trials while later ones finish. Their
    # retries take later numbers, yet each stands in its trial's place: in the adaptive step,
    # and among the population's most recent members and equal losses (seed 5 cut at 0 and 1 needs both).
    def run(interrupted: bool) -> list[tuple]:
        study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=seed, mode="generational", population_size=6))
        for _ in range(6):
            trial = study.ask()
            study.tell(trial, objective(trial.params))
        flight = [study.ask() for _ in range(6)]
        for index, trial in sorted(enumerate(flight), key=lambda item: item[0] in cut):  # the cut ones last
            if interrupted and index in cut:
                study.tell(trial, error="interrupted")
            else:
                study.tell(trial, objective(trial.params))
        if interrupted:
            assert [t.attrs["retry_of"] for t in study.requeue_interrupted(max_trials=N)] == [6 + i for i in cut]
        study.optimize(objective, max_trials=N, show_progress=False)
        return sorted((t.generation, sorted(t.params.items())) for t in study.trials
                      if t.state is TrialState.COMPLETE)

    assert run(interrupted=True) == run(interrupted=False)


# -- the adaptive mutation step -----------------------------------------------------------------
def steps(outcomes: list[str]) -> float:
    """The mutation scale after mutated children of trial 0 (loss 1.0) with these outcomes, in
    number order: "win" (loss 0.5), "lose" (loss 2.0), "cut" (interrupted), "lost" (worker lost),
    "retry:<n>:<outcome>" (a retry of trial n)."""
    space = Space({"x": et.Float(0, 1)})
    history = History(space)
    history._record(Trial(number=0, params={"x": 0.0}, state=TrialState.COMPLETE, value=1.0, origin="initial",
                          generation=0))
    for number, outcome in enumerate(outcomes, start=1):
        attrs = {}
        if outcome.startswith("retry:"):
            _, original, outcome = outcome.split(":")
            attrs = {"retry_of": int(original)}
        finished = {"win": (TrialState.COMPLETE, 0.5, None), "lose": (TrialState.COMPLETE, 2.0, None),
                    "cut": (TrialState.FAILED, None, "interrupted"), "lost": (TrialState.FAILED, None, "worker lost"),
                    "raised": (TrialState.FAILED, None, "ValueError: diverged")}[outcome]
        state, value, error = finished
        history._record(Trial(number=number, params={"x": number / 100}, state=state, value=value, error=error,
                              origin="mutation", generation=1, parents=(0,), attrs=attrs))
    ledger = Ledger(space, history)
    ledger.update()
    return ledger.advance_scale(len(history), *et.EvolutionarySearch()._scale_rule())


def test_a_retry_is_judged_in_the_place_of_the_trial_it_repeats():
    # The scale is clamped, so the order of the steps matters, not only their count.
    for uninterrupted_run in (["win", "win", "win", "lose", "lose"], ["lose", "win", "win", "win", "win"]):
        first, *rest = uninterrupted_run
        assert steps(uninterrupted_run) != steps([*rest, first])
        assert steps(["cut", *rest, f"retry:1:{first}"]) == steps(uninterrupted_run)
        assert steps(["lost", *rest, f"retry:1:{first}"]) == steps(uninterrupted_run)
    # A retry interrupted in turn: its own retry stands in for both.
    assert steps(["cut", "win", "win", "retry:1:cut", "lose", "lose", "retry:4:win"]) == steps(
        ["win", "win", "win", "lose", "lose"])


def test_a_child_interrupted_or_lost_without_a_retry_is_not_a_failed_step():
    assert steps(["cut", "win", "lost", "win"]) == steps(["win", "win"])
    assert steps(["raised", "win"]) == steps(["lose", "win"])  # a failure of the configuration is one


def test_a_retry_that_comes_after_its_trial_was_passed_over_is_judged_in_its_own_place():
    space = Space({"x": et.Float(0, 1)})
    history = History(space)
    history._record(Trial(number=0, params={"x": 0.0}, state=TrialState.COMPLETE, value=1.0, origin="initial",
                          generation=0))
    child = {"origin": "mutation", "generation": 1, "parents": (0,)}
    history._record(Trial(number=1, params={"x": 0.1}, state=TrialState.FAILED, error="interrupted", **child))
    history._record(Trial(number=2, params={"x": 0.2}, state=TrialState.COMPLETE, value=0.5, **child))
    ledger = Ledger(space, history)
    rule = et.EvolutionarySearch()._scale_rule()
    ledger.update()
    ledger.advance_scale(len(history), *rule)  # trial 1 passed over: it has no retry yet
    history._record(Trial(number=3, params={"x": 0.1}, state=TrialState.COMPLETE, value=2.0, attrs={"retry_of": 1},
                          **child))
    ledger.update()
    assert ledger.advance_scale(len(history), *rule) == steps(["win", "lose"])


# -- plain runs ----------------------------------------------------------------------------------
class NumberSeededEvolution(et.EvolutionarySearch):
    """EvolutionarySearch as it was: each steady-state draw seeded by the trial number."""

    def _draw(self, history: History, number: int) -> int:
        return number


def test_a_plain_steady_state_run_draws_what_trial_number_seeds_drew():
    # Without retries the draw index is the trial number: seeded runs stay what they were,
    # those with trials queued or added by hand included.
    def run(strategy: et.EvolutionarySearch, manual: bool) -> list[tuple]:
        study = et.Study(SPACE, strategy=strategy)
        if manual:
            study.add({"x": 0.0, "y": 0.0, "n": 0, "c": "a"}, 5.0)
            study.enqueue({"x": 1.0, "y": 1.5, "n": 1, "c": "a"})
        study.optimize(objective, max_trials=60, show_progress=False,
                       callbacks=[lambda s, t: s.enqueue({"x": 0.5, "y": 2.0, "n": 2, "c": "b"})
                                  if manual and t.number == 30 else None])
        return [(t.params, t.origin, t.generation, t.parents) for t in study.trials]

    for manual in (False, True):
        assert run(et.EvolutionarySearch(seed=5), manual) == run(NumberSeededEvolution(seed=5), manual)


def test_steady_state_seeded_by_trial_number_skipped_a_draw_after_a_ctrl_c():
    # What the draw index is for: seeded by number, the run resumed after a Ctrl-C differs.
    resumed = configurations(interrupted_and_resumed(lambda: NumberSeededEvolution(seed=3, population_size=6), 7))
    assert resumed != configurations(uninterrupted(lambda: NumberSeededEvolution(seed=3, population_size=6)))


def test_an_evolutionary_strategy_that_proposed_pickles_without_its_caches():
    space = Space(SPACE)
    strategy = steady()
    history = History(space)
    for number in range(8):
        proposal = strategy.propose(space, history, number)
        history._record(Trial(number=number, params=proposal.params, state=TrialState.COMPLETE,
                              value=objective(proposal.params), origin=proposal.origin,
                              generation=proposal.generation, parents=proposal.parents))
    copy = pickle.loads(pickle.dumps(strategy))
    assert copy._draw_index is None and copy._ledger is None
    assert copy.propose(space, history, 8) == strategy.propose(space, history, 8)


@pytest.mark.parametrize("strategy", [et.RandomSearch(seed=3), et.EvolutionarySearch(seed=3)], ids=["random", "evolution"])
def test_a_strategy_pickled_before_it_kept_a_draw_index_still_proposes(strategy):
    old, fresh = pickle.loads(pickle.dumps(strategy)), pickle.loads(pickle.dumps(strategy))
    del old.__dict__["_draw_index"]  # as pickled by an evotune that kept no draw index
    runs = []
    for current in (old, fresh):
        study = et.Study({"x": et.Float(0, 1), "n": et.Int(1, 9)}, strategy=current)
        study.optimize(lambda p: p["x"] + p["n"], max_trials=12)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]
