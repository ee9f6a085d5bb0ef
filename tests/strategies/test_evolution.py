"""EvolutionarySearch: settings, no duplicates, reproducibility, lineage, resuming, selection."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import evotune as et
from evotune.strategies import WAIT, History, strategy_from_config
from evotune.strategies.evolution import latin_hypercube

SPACE = {
    "lr": et.Float(1e-4, 1e-1, log=True),
    "dropout": et.Float(0.0, 0.5, step=0.1),
    "depth": et.Int(2, 12),
    "act": et.Categorical(["relu", "tanh", "gelu"]),
}


def objective(params: dict) -> float:
    act = {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[params["act"]]
    return (math.log10(params["lr"]) + 2.5) ** 2 + (params["dropout"] - 0.2) ** 2 + 0.05 * (params["depth"] - 6) ** 2 + act


def quiet_optimize(study: et.Study, function, **kwargs) -> None:
    study.optimize(function, show_progress=False, **kwargs)


def signature(trials: list[et.Trial]) -> list[tuple]:
    return [(t.number, json.dumps(t.params, sort_keys=True), t.origin, t.generation, t.parents) for t in trials]


# -- settings -------------------------------------------------------------------------------------

def test_settings_round_trip_through_the_config():
    strategy = et.EvolutionarySearch(12, seed=3, mode="generational", tournament_size=3, elitism=4,
                                     crossover="uniform", crossover_rate=0.5, mutation_rate=0.4,
                                     mutation_scale=0.1, adaptive=False, candidates=1, local_candidates=5,
                                     quadratic=False)
    config = strategy.to_config()
    assert json.loads(json.dumps(config)) == config
    assert config["type"] == "evolution" and config["population_size"] == 12
    rebuilt = strategy_from_config(config)
    assert rebuilt == strategy and rebuilt.settings() == strategy.settings()
    assert set(strategy.settings()) == {
        "population_size", "mode", "selection", "tournament_size", "elitism", "crossover", "crossover_rate",
        "mutation_rate", "mutation_scale", "adaptive", "candidates", "local_candidates", "quadratic",
    }


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"population_size": 1}, ["population_size", ">= 2", "1"]),
    ({"population_size": 2.5}, ["population_size", "2.5"]),
    ({"mode": "async"}, ["mode", "steady-state", "'async'"]),
    ({"selection": "roulette"}, ["selection", "'roulette'"]),
    ({"tournament_size": 0}, ["tournament_size", "0"]),
    ({"population_size": 4, "elitism": 5}, ["elitism", "population_size=4", "5"]),
    ({"crossover": "sbx"}, ["crossover", "'sbx'"]),
    ({"crossover_rate": 1.5}, ["crossover_rate", "[0, 1]", "1.5"]),
    ({"mutation_rate": 0}, ["mutation_rate", "(0, 1]", "0"]),
    ({"mutation_scale": -0.1}, ["mutation_scale", "-0.1"]),
    ({"adaptive": "yes"}, ["adaptive", "'yes'"]),
    ({"candidates": 0}, ["candidates", "0"]),
    ({"local_candidates": -1}, ["local_candidates", ">= 0", "-1"]),
    ({"local_candidates": "many"}, ["local_candidates", "'many'"]),
    ({"quadratic": "yes"}, ["quadratic", "True or False", "'yes'"]),
])
def test_bad_settings_name_the_field_and_value(kwargs, words):
    with pytest.raises(et.ConfigError) as error:
        et.EvolutionarySearch(**kwargs)
    for word in words:
        assert word in str(error.value)


def test_population_size_follows_the_space_and_the_budget():
    strategy = et.EvolutionarySearch(seed=0)
    space = et.Space(SPACE)
    assert strategy.resolved_population_size(space, None) == 12
    assert strategy.resolved_population_size(space, 50) == 10
    assert strategy.resolved_population_size(space, 10) == 4
    assert et.EvolutionarySearch(7).resolved_population_size(space, 50) == 7


def test_latin_hypercube_puts_one_point_in_each_slice():
    points = latin_hypercube(10, 3, np.random.default_rng(0))
    assert points.shape == (10, 3)
    for column in points.T:
        assert sorted(np.floor(column * 10).astype(int)) == list(range(10))


# -- behaviour ------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["steady-state", "generational"])
def test_it_improves_on_its_first_population_and_fills_lineage(mode):
    study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=1, mode=mode))
    quiet_optimize(study, objective, max_trials=60)
    trials = study.trials
    size = sum(t.origin == "initial" for t in trials)
    assert size == 12  # 4 + 2 * 4, within a fifth of the 60-trial budget
    initial_best = min(t.value for t in trials[:size])
    assert study.best.value < initial_best / 4
    for trial in trials[:size]:
        assert trial.generation == 0 and trial.parents == ()
    assert {t.origin for t in trials[size:]} == {"mutation", "crossover", "quadratic"}
    for trial in trials[size:]:
        assert len(trial.parents) == (2 if trial.origin == "crossover" else 1)
        assert trial.generation >= 1
        for parent in trial.parents:
            assert parent < trial.number and trials[parent].state is et.TrialState.COMPLETE
            if mode == "steady-state":
                assert trial.generation > trials[parent].generation
            else:
                assert trial.generation > trials[parent].generation or trials[parent].generation is None


@pytest.mark.parametrize("mode", ["steady-state", "generational"])
def test_no_configuration_is_evaluated_twice_and_a_small_space_is_exhausted(mode):
    space = {"a": et.Int(0, 4), "b": et.Categorical(["x", "y", "z"]), "c": et.Float(0, 1, step=0.5)}
    study = et.Study(space, strategy=et.EvolutionarySearch(seed=0, population_size=4, mode=mode))
    quiet_optimize(study, lambda p: p["a"] + (p["b"] == "y") + p["c"], max_trials=100)
    keys = [study.space.key(t.params) for t in study.trials]
    assert len(keys) == len(set(keys)) == 45
    assert study.stop_reason == "strategy exhausted"


def test_no_duplicates_on_a_stepped_space_under_exploitation():
    space = {"x": et.Float(0, 1, step=0.05), "y": et.Int(0, 20)}
    study = et.Study(space, strategy=et.EvolutionarySearch(seed=2))
    quiet_optimize(study, lambda p: (p["x"] - 0.5) ** 2 + (p["y"] - 10) ** 2, max_trials=120)
    keys = [study.space.key(t.params) for t in study.trials]
    assert len(keys) == len(set(keys)) == 120
    assert study.best.params == {"x": 0.5, "y": 10}


@pytest.mark.parametrize("mode", ["steady-state", "generational"])
def test_same_seed_same_trials_other_seed_other_trials(mode):
    runs = []
    for seed in (5, 5, 6):
        study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=seed, mode=mode))
        quiet_optimize(study, objective, max_trials=40)
        runs.append(signature(study.trials))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def ask_tell_with_workers(workers: int, seed: int, budget: int, order_seed: int) -> list[tuple]:
    """Run a generational study as ``workers`` workers would: up to ``workers`` trials running at
    once, finishing in a random order, asking again whenever a worker is free."""
    study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=seed, population_size=6, mode="generational"))
    shuffle = np.random.default_rng(order_seed)
    running: list[et.Trial] = []
    asked = 0
    while asked < budget or running:
        while len(running) < workers and asked < budget:
            proposal = study.strategy.propose(study.space, study.history, len(study.history))
            if proposal is WAIT:
                break
            running.append(study.ask())
            asked += 1
        assert running, "nothing runs, yet the strategy waits"
        trial = running.pop(int(shuffle.integers(len(running))))
        study.tell(trial, objective(trial.params))
    return signature(study.trials)


def test_generational_mode_gives_the_same_trials_whatever_the_number_of_workers():
    alone = ask_tell_with_workers(1, seed=4, budget=40, order_seed=0)
    assert ask_tell_with_workers(3, seed=4, budget=40, order_seed=1) == alone
    assert ask_tell_with_workers(5, seed=4, budget=40, order_seed=2) == alone
    generations = [g for *_, g, _ in [(n, p, o, g, par) for n, p, o, g, par in alone]]
    assert generations[:6] == [0] * 6 and generations[6:12] == [1] * 6


def test_generational_mode_waits_at_the_end_of_a_generation():
    study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=0, population_size=4, mode="generational"))
    first = [study.ask() for _ in range(4)]
    with pytest.raises(et.TrialStateError, match=r"waits for trial\(s\) 0, 1, 2, 3 started by hand \(`ask`\)"):
        study.ask()
    for trial in first[:3]:
        study.tell(trial, objective(trial.params))
    assert study.strategy.propose(study.space, study.history, len(study.history)) is WAIT
    study.tell(first[3], objective(first[3].params))
    child = study.ask()
    assert child.generation == 1 and child.origin in ("mutation", "crossover")


def test_steady_state_never_waits():
    study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=0, population_size=4))
    asked = [study.ask() for _ in range(10)]  # nothing finished: still proposes
    assert len({study.space.key(t.params) for t in asked}) == 10
    for trial in asked[:3]:
        study.tell(trial, objective(trial.params))
    assert study.ask().origin in ("mutation", "crossover")


def test_generational_mode_with_two_worker_processes_matches_one(tmp_path):
    runs = []
    for jobs in (1, 2):
        study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=8, population_size=4, mode="generational"),
                         storage=f"sqlite:///{tmp_path / f'{jobs}.db'}", name="parallel")
        quiet_optimize(study, objective, max_trials=16, n_jobs=jobs)
        runs.append(signature(study.trials))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("mode", ["steady-state", "generational"])
def test_a_resumed_study_continues_the_population(tmp_path, mode):
    settings = {"seed": 11, "mode": mode, "population_size": 8}
    whole = et.Study(SPACE, strategy=et.EvolutionarySearch(**settings))
    quiet_optimize(whole, objective, max_trials=50)

    url = f"sqlite:///{tmp_path / 'evo.db'}"
    first = et.Study(SPACE, strategy=et.EvolutionarySearch(**settings), storage=url, name="evo")
    quiet_optimize(first, objective, max_trials=23)  # stops in the middle of generation 2
    resumed = et.Study.load("evo", url)  # a new object, strategy rebuilt from storage alone
    assert resumed.strategy == et.EvolutionarySearch(**settings)
    quiet_optimize(resumed, objective, max_trials=50)
    assert signature(resumed.trials) == signature(whole.trials)


def test_a_resumed_study_keeps_its_population_size_under_a_new_budget():
    study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=0))
    quiet_optimize(study, objective, max_trials=30)  # population of 30 // 5 = 6
    quiet_optimize(study, objective, max_trials=80)  # 80 // 5 would be 16
    assert sum(t.origin == "initial" for t in study.trials) == 6


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_selection_follows_the_direction_and_the_metric(direction):
    """The study optimizes 'score'; 'other' pulls the opposite way and must be ignored."""
    space = {"x": et.Float(0.0, 1.0), "y": et.Float(0.0, 1.0)}

    def metrics(params: dict) -> dict:
        score = (params["x"] - 0.8) ** 2 + (params["y"] - 0.3) ** 2
        return {"other": -score, "score": score if direction == "minimize" else -score}

    study = et.Study(space, direction=direction, metric="score", strategy=et.EvolutionarySearch(seed=3))
    quiet_optimize(study, metrics, max_trials=60)
    best = study.best.params
    assert abs(best["x"] - 0.8) < 0.05 and abs(best["y"] - 0.3) < 0.05
    children = [t for t in study.trials if t.parents]
    late = children[-20:]
    # Parents are good trials: most late parents are among the best fifth of the study.
    losses = sorted(study.history.loss(t) for t in study.trials if t.state is et.TrialState.COMPLETE)
    cutoff = losses[len(losses) // 5]
    good = [p for t in late for p in t.parents if study.history.loss(study.trials[p]) <= cutoff]
    assert len(good) >= 0.7 * sum(len(t.parents) for t in late)


@pytest.mark.parametrize("local_candidates", [0, 64])
def test_added_and_enqueued_trials_join_the_population(local_candidates):
    strategy = et.EvolutionarySearch(seed=0, population_size=6, local_candidates=local_candidates)
    study = et.Study(SPACE, strategy=strategy)
    guess = {"lr": 10 ** -2.5, "dropout": 0.2, "depth": 7, "act": "relu"}  # a user's good guesses
    added = study.add(guess, objective(guess))
    queued = study.enqueue({**guess, "depth": 6})  # the optimum itself
    quiet_optimize(study, objective, max_trials=40)
    trials = study.trials
    assert trials[queued.number].origin == "manual" and trials[queued.number].state is et.TrialState.COMPLETE
    assert sum(t.origin == "initial" for t in trials) == 4  # the two guesses take two of six places
    parents = [p for t in trials for p in t.parents]
    assert queued.number in parents  # the best of all: the local candidates start from it
    if not local_candidates:  # only bred children: tournaments pick the other guess as well
        assert added.number in parents


def test_proposal_needs_only_space_history_number_and_seed():
    """Two strategy objects, one with cached state from earlier calls, propose the same."""
    study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=9))
    quiet_optimize(study, objective, max_trials=30)
    fresh = et.EvolutionarySearch(seed=9)
    history = History(study.space, study.direction, budget=30)
    for trial in study.trials:
        history._record(trial)
    assert fresh.propose(study.space, history, 30) == study.strategy.propose(study.space, study.history, 30)


def test_local_candidates_move_many_parameters_of_the_best_trial_at_once():
    """Mutants of the best that move several parameters are screened and some are proposed."""
    space = {f"x{i}": et.Float(-1.0, 1.0) for i in range(8)}

    def valley(params: dict) -> float:  # a narrow diagonal valley: the coordinates must move together
        x = np.array([params[f"x{i}"] for i in range(8)])
        return float(((x - x.mean()) ** 2).sum() * 100 + (x.mean() - 0.4) ** 2)

    moved = {}
    for local in (0, 64):
        strategy = et.EvolutionarySearch(seed=2, local_candidates=local, quadratic=False)
        study = et.Study(space, strategy=strategy)
        quiet_optimize(study, valley, max_trials=80)
        mutants = [t for t in study.trials if t.origin == "mutation"]
        assert mutants and all(len(t.parents) == 1 for t in mutants)
        moved[local] = [sum(t.params[k] != study.trials[t.parents[0]].params[k] for k in space) for t in mutants]
    # Bred mutants move one parameter in eight on average; local candidates reach all of them.
    assert max(moved[0]) <= 4
    assert sum(count >= 5 for count in moved[64]) >= 5


def test_quadratic_children_jump_to_the_floor_of_a_bowl():
    """The quadratic's minimum lands on the optimum of a separable bowl; mutation alone only nears it."""
    space = {f"x{i}": et.Float(-2.0, 2.0) for i in range(4)}
    centre = np.array([0.7, -1.1, 0.3, 1.4])

    def bowl(params: dict) -> float:
        return float((((np.array([params[f"x{i}"] for i in range(4)]) - centre) * [1, 2, 3, 4]) ** 2).sum())

    best = {}
    for quadratic in (False, True):
        study = et.Study(space, strategy=et.EvolutionarySearch(seed=4, quadratic=quadratic))
        quiet_optimize(study, bowl, max_trials=40)
        best[quadratic] = study.best
        children = [t for t in study.trials if t.origin == "quadratic"]
        assert bool(children) == quadratic
        # one turn in four, from the 18th finished trial on (2 x 9 terms)
        assert all(t.number % 4 == 3 and t.number >= 18 for t in children)
    assert best[True].value < 1e-9 < best[False].value
    assert best[True].origin == "quadratic"
    parent = study.trials[best[True].parents[0]]
    earlier = [t.value for t in study.trials[: best[True].number]]
    assert parent.value == min(earlier)  # its parent is the best trial when it was proposed


def test_quadratic_children_keep_their_parents_unordered_choice():
    space = {"x": et.Float(0.0, 1.0), "y": et.Float(0.0, 1.0),
             "colour": et.Categorical(["red", "green", "blue"]),
             "size": et.Categorical(["s", "m", "l", "xl"], ordered=True)}

    def loss(params: dict) -> float:
        shift = {"red": 0.3, "green": 0.0, "blue": 0.6}[params["colour"]]
        size = "smlx".index(params["size"][0])
        return (params["x"] - 0.4) ** 2 + (params["y"] - 0.8) ** 2 + shift + 0.1 * (size - 1) ** 2

    study = et.Study(space, strategy=et.EvolutionarySearch(seed=1))
    quiet_optimize(study, loss, max_trials=60)
    children = [t for t in study.trials if t.origin == "quadratic"]
    assert len(children) >= 3
    for child in children:
        assert child.params["colour"] == study.trials[child.parents[0]].params["colour"]
    # the ordered choice follows the trend ("m"); once the best trials share a colour, the
    # numbers land on the optimum itself
    assert {child.params["size"] for child in children} == {"m"}
    assert children[-1].value < 1e-12


@pytest.mark.parametrize(("settings", "trials", "fitted"), [
    ({}, 13, False),  # 3 parameters: 7 terms, fitted on 14 trials
    ({}, 14, True),
    ({"candidates": 1}, 40, False),  # no screening, no models
    ({"quadratic": False}, 40, False),
])
def test_quadratic_needs_two_trials_a_term_and_can_be_turned_off(settings, trials, fitted):
    space = {f"x{i}": et.Float(0.0, 1.0) for i in range(3)}
    strategy = et.EvolutionarySearch(seed=0, **settings)
    study = et.Study(space, strategy=strategy)
    quiet_optimize(study, lambda p: sum((v - 0.3) ** 2 for v in p.values()), max_trials=trials)
    ledger = strategy._ledger
    ledger.update()  # read the last trial, told after the last proposal
    assert ledger.n_ranked == trials
    trend = strategy._trend(ledger, ledger.best(80))
    assert (trend is not None) == fitted
    if fitted:
        assert np.allclose(trend[0], [0.3] * 3) and trend[1] == ledger.best(1)[0][1]


def test_generational_quadratic_children_are_one_per_fit():
    """Slots of a generation share one fit: its minimum is proposed once, the other slots breed."""
    study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=3, mode="generational"))
    quiet_optimize(study, objective, max_trials=96)
    children = [t for t in study.trials if t.origin == "quadratic"]
    assert children
    per_generation = {}
    for child in children:
        per_generation[child.generation] = per_generation.get(child.generation, 0) + 1
    assert max(per_generation.values()) == 1


def test_a_study_run_first_with_random_search_breeds_from_a_population_of_the_usual_size():
    space = {"x": et.Float(0, 1), "y": et.Float(0, 1)}
    study = et.Study(space, strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: (p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2, max_trials=100)
    evolution = et.EvolutionarySearch(seed=0)
    study = et.Study.load(study.name, study.storage, strategy=evolution)
    study.optimize(lambda p: (p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2, max_trials=120)
    ledger = evolution._ledger_for(study.space, study.history)
    assert evolution._settled_size(ledger) == evolution.resolved_population_size(study.space, None) == 8


def test_a_trial_never_told_does_not_hold_the_mutation_step_back():
    space = {f"x{i}": et.Float(0, 1) for i in range(4)}
    evolution = et.EvolutionarySearch(seed=0)
    study = et.Study(space, strategy=evolution)
    study.ask()  # run by hand and never told
    study.optimize(lambda p: sum((v - 0.3) ** 2 for v in p.values()), max_trials=200)
    assert math.exp(evolution._ledger.log_scale) < evolution.mutation_scale / 4  # it adapted


def test_a_generational_run_says_which_trials_it_waits_for(evotune_log):
    study = et.Study(SPACE, strategy=et.EvolutionarySearch(seed=0, population_size=4, mode="generational"))
    asked = study.ask()  # run by hand: the generation cannot end before it is told
    study.optimize(objective, max_trials=20, timeout=3)
    assert study.stop_reason == "timeout" and len(study.trials) == 4
    assert f"waits for trial(s) {asked.number} started by hand (`ask`)" in evotune_log.text


def test_children_keep_away_from_where_the_objective_fails():
    space = {"x": et.Float(0, 1), "n": et.Int(1, 5), "c": et.Categorical(["a", "b"]), "z": et.Float(0, 1, step=0.5)}

    def objective(params):
        if params["c"] == "a":  # half the space: an option the model refuses
            raise ValueError("unsupported combination")
        return params["x"]  # the best at the edge

    study = et.Study(space, strategy=et.EvolutionarySearch(seed=0))
    study.optimize(objective, max_trials=150)
    failed = sum(t.state is et.TrialState.FAILED for t in study.trials)
    assert failed / len(study.trials) < 0.4  # random search fails half; the unaware surrogate, 85%
    assert study.best.value < 0.01


def test_the_surrogate_counts_only_failures_that_are_the_configuration_s():
    from evotune.strategies.population import Ledger

    study = et.Study({"x": et.Float(0, 1)}, strategy=et.RandomSearch(seed=0))
    lost, interrupted, raised, retried = (study.ask() for _ in range(4))
    study.tell(lost, error="worker lost")
    study.tell(interrupted, error="interrupted")
    study.tell(raised, error="ValueError: diverged")
    study.tell(retried, error="ValueError: out of memory")
    study.add(dict(retried.params), 0.5)  # the same configuration, completed on another try
    ledger = Ledger(study.space, study.history)
    ledger.update()
    assert ledger.failed(20) == [raised.number]
    assert ledger.failed(20, before=4) == [raised.number, retried.number]  # before that completion
