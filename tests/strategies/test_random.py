"""RandomSearch: reproducible independent draws, statistically sane for every kind of parameter."""

from __future__ import annotations

import math

import numpy as np
import pytest

import evotune as et
from evotune.strategies import History, strategy_from_config

N = 2000


def draws(space: dict, n: int = N, seed: int = 0) -> list[dict]:
    """Proposals for trials 0..n-1 of a seeded RandomSearch, each against an empty history
    (so repeats of small discrete spaces are not avoided: the raw distribution)."""
    parsed = et.Space(space)
    strategy = et.RandomSearch(seed=seed)
    return [strategy.propose(parsed, History(parsed), number).params for number in range(n)]


def sequence(study: et.Study) -> list[tuple]:
    return [tuple(t.params.values()) for t in study.trials]


def run(seed: int, n: int = 20, **kwargs) -> et.Study:
    study = et.Study({"x": et.Float(-1, 1), "k": et.Int(0, 1000)}, strategy=et.RandomSearch(seed=seed), **kwargs)
    study.optimize(lambda p: p["x"] ** 2, max_trials=n)
    return study


def test_same_seed_same_sequence_other_seed_other_sequence():
    assert sequence(run(1)) == sequence(run(1))
    assert sequence(run(1)) != sequence(run(2))
    assert all(t.origin == "random" for t in run(1).trials)


def test_study_seed_seeds_the_default_strategy():
    def seeded(seed):
        study = et.Study({"x": et.Float(0, 1)}, seed=seed)
        study.optimize(lambda p: p["x"], max_trials=5)
        return sequence(study)

    assert seeded(7) == seeded(7) and seeded(7) != seeded(8)
    assert et.Study({"x": et.Float(0, 1)}, seed=7).strategy == et.EvolutionarySearch(seed=7)


def test_sequence_continues_identically_after_a_resume(storage):
    first = run(5, n=8, storage=storage, name="r")
    assert len(first.trials) == 8
    resumed = et.Study({"x": et.Float(-1, 1), "k": et.Int(0, 1000)}, storage=storage, name="r")
    assert resumed.strategy == et.RandomSearch(seed=5)  # the stored strategy, not a new seed
    resumed.optimize(lambda p: p["x"] ** 2, max_trials=20)
    assert sequence(resumed) == sequence(run(5, n=20))


def test_seed_none_draws_a_seed_that_is_stored():
    strategy = et.RandomSearch()
    assert isinstance(strategy.seed, int) and not strategy.seed_given
    assert strategy_from_config(strategy.to_config()) == strategy
    assert len({et.RandomSearch().seed for _ in range(5)}) > 1  # drawn afresh each time


def test_uniform_float():
    values = np.array([p["x"] for p in draws({"x": et.Float(-2.0, 6.0)})])
    assert values.min() >= -2.0 and values.max() <= 6.0
    assert abs(values.mean() - 2.0) < 0.25  # sd of the mean ~ 0.05
    counts, _ = np.histogram(values, bins=8, range=(-2, 6))
    assert counts.min() > N / 8 * 0.75


def test_log_uniform_float_median_is_the_geometric_mean():
    values = np.array([p["lr"] for p in draws({"lr": et.Float(1e-5, 1e-1, log=True)})])
    assert values.min() >= 1e-5 and values.max() <= 1e-1
    assert abs(np.log10(np.median(values)) - (-3.0)) < 0.15
    decades, _ = np.histogram(np.log10(values), bins=4, range=(-5, -1))
    assert decades.min() > N / 4 * 0.8  # each decade about equally likely


def test_integer_every_value_about_equally_likely():
    values = [p["n"] for p in draws({"n": et.Int(2, 6)})]
    assert set(values) == {2, 3, 4, 5, 6} and all(type(v) is int for v in values)
    counts = np.bincount(values)[2:]
    assert counts.min() > N / 5 * 0.8


def test_log_integer():
    values = np.array([p["units"] for p in draws({"units": et.Int(16, 1024, log=True)})])
    assert values.min() >= 16 and values.max() <= 1024
    assert abs(np.median(values) - 128) < 20  # geometric mean of 16 and 1024
    assert np.mean(values < 128) == pytest.approx(0.5, abs=0.05)


def test_stepped_values_only_on_steps():
    values = [p["d"] for p in draws({"d": et.Float(0.0, 0.5, step=0.1)})]
    assert sorted(set(values)) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert min(values.count(v) for v in set(values)) > N / 6 * 0.8
    ints = [p["n"] for p in draws({"n": et.Int(0, 20, step=5)})]
    assert sorted(set(ints)) == [0, 5, 10, 15, 20]


def test_categorical_every_choice_about_equally_likely():
    values = [p["act"] for p in draws({"act": et.Categorical(["relu", "tanh", "gelu"])})]
    assert {v: values.count(v) > N / 3 * 0.8 for v in ("relu", "tanh", "gelu")} == {
        "relu": True, "tanh": True, "gelu": True
    }


def test_parameters_are_drawn_independently():
    values = draws({"a": et.Float(0, 1), "b": et.Float(0, 1)})
    a = np.array([p["a"] for p in values])
    b = np.array([p["b"] for p in values])
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.1


def test_small_discrete_space_has_no_repeats_and_is_exhausted():
    space = {"a": et.Categorical(["x", "y", "z"]), "b": et.Int(0, 3)}
    study = et.Study(space, strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: 0.0, max_trials=50)
    assert len(study.trials) == 12
    assert len(set(sequence(study))) == 12
    assert study.stop_reason == "strategy exhausted"


def test_a_larger_finite_space_is_walked_to_its_last_configuration():
    # 64 draws from 300 values mostly repeat once the space is nearly full: the last untried
    # values are looked up instead of the study stopping early as "exhausted".
    study = et.Study({"n": et.Int(0, 299)}, strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: p["n"], max_trials=400, show_progress=False)
    assert sorted(t.params["n"] for t in study.trials) == list(range(300))
    assert study.stop_reason == "strategy exhausted"


def test_a_finite_space_beyond_the_enumerated_size_is_walked_to_its_last_configuration():
    study = et.Study({"a": et.Int(0, 64), "b": et.Int(0, 63)}, strategy=et.RandomSearch(seed=0))  # 4,160
    study.optimize(lambda p: 0.0, show_progress=False)
    assert study.history.n_distinct == len(study.trials) == 4160
    assert study.stop_reason == "strategy exhausted"


@pytest.mark.parametrize("strategy", [et.RandomSearch(seed=0), et.EvolutionarySearch(seed=0)])
def test_a_configuration_recorded_twice_by_hand_does_not_hide_an_untried_one(strategy):
    study = et.Study({"n": et.Int(0, 3)}, strategy=strategy)
    study.add({"n": 0}, 1.0)
    study.add({"n": 0}, 1.0)
    study.optimize(lambda p: p["n"], max_trials=20, show_progress=False)
    assert {t.params["n"] for t in study.trials} == {0, 1, 2, 3}
    assert len(study.trials) == 5 and study.stop_reason == "strategy exhausted"


def test_continuous_space_is_never_exhausted():
    assert et.RandomSearch().size({"x": et.Float(0, 1)}) == math.inf


def test_enqueued_parameters_come_before_random_proposals():
    study = et.Study({"x": et.Float(-1, 1)}, strategy=et.RandomSearch(seed=0))
    study.enqueue({"x": 0.25})
    study.enqueue({"x": -0.5})
    study.optimize(lambda p: p["x"], max_trials=4)
    trials = study.trials
    assert [t.params["x"] for t in trials[:2]] == [0.25, -0.5]
    assert [t.origin for t in trials] == ["manual", "manual", "random", "random"]
