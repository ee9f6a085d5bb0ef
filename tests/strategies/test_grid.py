"""GridSearch: size, row-major order, shuffle, float points, skipping known cells, exhaustion."""

from __future__ import annotations

import time

import pytest

import evotune as et
from evotune.strategies import History, strategy_from_config

SPACE = {"act": et.Categorical(["relu", "tanh"]), "depth": et.Int(1, 3), "dropout": et.Float(0.0, 0.2, step=0.1)}


def run_grid(strategy: et.GridSearch, space=SPACE, **options) -> et.Study:
    study = et.Study(space, strategy=strategy)
    study.optimize(lambda p: 0.0, **options)
    return study


def test_size_is_the_product_of_the_axes():
    assert et.GridSearch().size(SPACE) == 2 * 3 * 3
    assert et.GridSearch(points=4).size({"lr": et.Float(1e-4, 1e-1, log=True), "n": et.Int(0, 20, step=5)}) == 20
    assert et.GridSearch().size(et.Space(SPACE)) == 18


def test_row_major_order_last_parameter_fastest():
    study = run_grid(et.GridSearch())
    cells = [t.params for t in study.trials]
    assert len(cells) == 18
    assert cells[:4] == [
        {"act": "relu", "depth": 1, "dropout": 0.0},
        {"act": "relu", "depth": 1, "dropout": 0.1},
        {"act": "relu", "depth": 1, "dropout": 0.2},
        {"act": "relu", "depth": 2, "dropout": 0.0},
    ]
    assert cells[9] == {"act": "tanh", "depth": 1, "dropout": 0.0}
    assert cells[-1] == {"act": "tanh", "depth": 3, "dropout": 0.2}
    assert all(t.origin == "grid" for t in study.trials)


def test_exhausted_grid_stops_and_says_so():
    study = run_grid(et.GridSearch(), max_trials=100)
    assert len(study.trials) == 18
    assert study.stop_reason == "strategy exhausted"
    assert len({tuple(t.params.values()) for t in study.trials}) == 18
    with pytest.raises(et.TrialStateError, match="exhausted"):
        study.ask()
    study.optimize(lambda p: 0.0)  # nothing left: returns at once
    assert len(study.trials) == 18 and study.stop_reason == "strategy exhausted"


def test_shuffle_is_a_seeded_permutation():
    orders = [[tuple(t.params.values()) for t in run_grid(et.GridSearch(shuffle=True, seed=s)).trials]
              for s in (1, 1, 2)]
    row_major = [tuple(t.params.values()) for t in run_grid(et.GridSearch()).trials]
    assert orders[0] == orders[1]  # same seed, same order
    assert orders[0] != orders[2]  # another seed, another order
    assert orders[0] != row_major
    assert sorted(orders[0]) == sorted(row_major)  # every cell exactly once


def cells_of(study: et.Study) -> list[tuple]:
    return [tuple(t.params.values()) for t in study.trials]


TEN_BY_TEN = {"outer": et.Int(0, 9), "inner": et.Int(0, 9)}
PINNED_SEED_1 = [("relu", 1, 0.1), ("relu", 1, 0.2), ("tanh", 1, 0.2), ("relu", 2, 0.0), ("tanh", 2, 0.2)]
PINNED_1E12 = [535007160635, 7339646847, 159181263525]


def test_first_cells_of_a_shuffled_grid_spread_like_a_random_sample_for_every_seed():
    # An affine walk i -> (a * i + b) % 100 was row-major (or reversed) from an offset for some
    # seeds: its first 10 cells held 2 outer values, its first 30 cells 3 or 4. For a random
    # permutation of the 100 cells, P(first 10 hold <= 2 values of a parameter) <= 45 * C(20,10)
    # / C(100,10) ~ 5e-7 and P(first 30 hold <= 6) <= C(10,4) * C(60,30) / C(100,30) ~ 8e-7:
    # over 50 seeds and 2 parameters, a random order fails this with p < 1e-4.
    for seed in range(50):
        cells = cells_of(run_grid(et.GridSearch(shuffle=True, seed=seed), TEN_BY_TEN, max_trials=30,
                                  show_progress=False))
        for axis in (0, 1):
            assert len({cell[axis] for cell in cells[:10]}) >= 3, (seed, axis, cells[:10])
            assert len({cell[axis] for cell in cells}) >= 7, (seed, axis, cells)


def test_shuffled_order_is_not_a_constant_stride():
    # An affine walk steps by the same amount (mod size) every time, even when it spreads the
    # first cells (a diagonal). The 99 steps of a random order of 100 cells take ~63 distinct values.
    for seed in range(50):
        order = list(et.GridSearch(shuffle=True, seed=seed)._order(100))
        assert len({(after - before) % 100 for before, after in zip(order, order[1:])}) >= 30, seed


@pytest.mark.parametrize("size", [0, 1, 2, 3, 7, 64, 65, 100, 1000, 4097])
def test_shuffled_order_visits_every_cell_once_and_depends_only_on_the_seed(size):
    order = list(et.GridSearch(shuffle=True, seed=3)._order(size))
    assert sorted(order) == list(range(size))  # every cell exactly once
    assert order == list(et.GridSearch(shuffle=True, seed=3)._order(size))  # same seed, same order
    if size >= 7:
        assert order != list(et.GridSearch(shuffle=True, seed=4)._order(size))
        assert order != list(range(size))


def test_shuffled_order_is_pinned():
    # The order is a pure function of the size, the seed and the index: the same on every platform
    # and version (a change is allowed, resumed studies skip done cells, but must be deliberate).
    assert cells_of(run_grid(et.GridSearch(shuffle=True, seed=1), max_trials=5)) == PINNED_SEED_1
    assert [et.GridSearch(shuffle=True, seed=3)._order(10**12)[i] for i in range(3)] == PINNED_1E12


@pytest.mark.parametrize("size", [10**12, 2**40 + 1, 2**63 + 1, 10**20, 3 * 2**200])
def test_shuffled_order_of_a_huge_grid_is_a_seeded_bijection_cheap_per_cell(size):
    order = et.GridSearch(shuffle=True, seed=4)._order(size)
    started = time.perf_counter()
    first = [order[i] for i in range(500)]
    per_cell = (time.perf_counter() - started) / 500
    assert len(set(first)) == 500 and all(0 <= cell < size for cell in first)
    assert first[:20] == [et.GridSearch(shuffle=True, seed=4)._order(size)[i] for i in range(20)]
    assert first[:20] != [et.GridSearch(shuffle=True, seed=5)._order(size)[i] for i in range(20)]
    assert order[size - 1] not in first and 0 <= order[size - 1] < size
    assert per_cell < 1e-3  # typically 10-20 us: a few hashes, whatever the size


class AffineGridSearch(et.GridSearch):
    """GridSearch with the affine order of evotune before the Feistel one (seed 0, 18 cells)."""

    def _order(self, size):
        return [(5 * i + 4) % size for i in range(size)] if self.shuffle else range(size)


def test_study_shuffled_with_the_old_order_resumes_without_repeats_and_finishes(storage):
    old = et.Study(SPACE, strategy=AffineGridSearch(shuffle=True, seed=0), storage=storage, name="g")
    old.optimize(lambda p: 0.0, max_trials=7)
    done = cells_of(old)
    resumed = et.Study(SPACE, strategy=et.GridSearch(shuffle=True, seed=0), storage=storage, name="g")
    assert resumed.strategy.settings() == old.strategy.settings()
    resumed.optimize(lambda p: 0.0)
    cells = cells_of(resumed)
    assert cells[:7] == done
    assert len(cells) == len(set(cells)) == 18 and resumed.stop_reason == "strategy exhausted"


def test_shuffled_grid_of_1e20_cells_runs_a_seeded_random_subset():
    space = {f"w{i}": et.Int(0, 99) for i in range(10)}
    assert et.GridSearch(shuffle=True, seed=0).size(space) == 10**20

    def cells(seed):
        return [tuple(t.params.values()) for t in run_grid(et.GridSearch(shuffle=True, seed=seed), space,
                                                           max_trials=5).trials]

    first = cells(0)
    assert len(set(first)) == 5 and first == cells(0) and first != cells(1)
    assert first[0] != (0,) * 10  # not the row-major start


def test_float_without_step_uses_points_log_spaced_for_log():
    space = {"lr": et.Float(1e-4, 1e-1, log=True), "x": et.Float(0.0, 1.0)}
    study = run_grid(et.GridSearch(points=4), space)
    assert len(study.trials) == 16
    assert sorted({t.params["lr"] for t in study.trials}) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])
    assert sorted({t.params["x"] for t in study.trials}) == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])


def test_points_give_a_log_int_log_spaced_values():
    space = {"batch": et.Int(16, 1024, log=True), "act": et.Categorical(["relu", "tanh"])}
    assert et.GridSearch(points=7).size(space) == 14
    assert et.GridSearch().size(space) == 1009 * 2  # no points: every integer
    study = run_grid(et.GridSearch(points=7), space)
    assert sorted({t.params["batch"] for t in study.trials}) == [16, 32, 64, 128, 256, 512, 1024]
    assert len(study.trials) == 14 and study.stop_reason == "strategy exhausted"


def test_float_without_step_and_no_points_is_a_clear_error_and_writes_nothing():
    space = {"depth": et.Int(1, 3), "lr": et.Float(1e-4, 1e-1, log=True)}
    with pytest.raises(et.SpaceError) as caught:
        et.GridSearch().size(space)
    message = str(caught.value)
    assert "'lr'" in message and "step=" in message and "GridSearch(points=N)" in message
    study = et.Study(space, strategy=et.GridSearch())
    with pytest.raises(et.SpaceError, match="'lr'"):
        study.optimize(lambda p: 0.0)
    with pytest.raises(et.SpaceError, match="'lr'"):
        study.ask()
    assert study.trials == []


def test_enqueued_and_added_cells_are_not_repeated():
    study = et.Study(SPACE, strategy=et.GridSearch())
    study.enqueue({"act": "tanh", "depth": 2, "dropout": 0.1})
    study.add({"act": "relu", "depth": 1, "dropout": 0.0}, 1.0)
    assert study.enqueue({"act": "relu", "depth": 1, "dropout": 0.0}) is None  # already added
    study.optimize(lambda p: 0.0)
    trials = study.trials
    assert len(trials) == 18
    assert len({tuple(t.params.values()) for t in trials}) == 18
    assert trials[0].origin == "manual" and trials[1].origin == "manual"
    assert trials[0].params == {"act": "tanh", "depth": 2, "dropout": 0.1}
    assert trials[2].params == {"act": "relu", "depth": 1, "dropout": 0.1}  # first grid cell not yet done


def test_max_trials_then_continue_skips_done_cells(storage):
    study = et.Study(SPACE, strategy=et.GridSearch(), storage=storage, name="g")
    study.optimize(lambda p: 0.0, max_trials=7)
    assert study.stop_reason == "max_trials reached" and len(study.trials) == 7
    again = et.Study(SPACE, strategy=et.GridSearch(), storage=storage, name="g")
    again.optimize(lambda p: 0.0)
    trials = again.trials
    assert len(trials) == 18 and again.stop_reason == "strategy exhausted"
    assert len({tuple(t.params.values()) for t in trials}) == 18
    assert [t.params for t in trials] == [t.params for t in run_grid(et.GridSearch()).trials]


def test_failed_cells_are_not_retried():
    study = et.Study(SPACE, strategy=et.GridSearch())
    study.optimize(lambda p: 1 / 0 if p["depth"] == 2 else 0.0)
    assert len(study.trials) == 18
    assert sum(t.state is et.TrialState.FAILED for t in study.trials) == 6


def test_propose_sees_only_the_history():
    space = et.Space({"x": et.Int(0, 2)})
    history = History(space)
    grid = et.GridSearch()
    proposal = grid.propose(space, history, 0)
    assert proposal.params == {"x": 0} and proposal.origin == "grid"
    history._record(et.Trial(0, {"x": 0}, et.TrialState.COMPLETE, value=1.0))
    history._record(et.Trial(1, {"x": 1}, et.TrialState.RUNNING))
    assert grid.propose(space, history, 2).params == {"x": 2}
    history._record(et.Trial(2, {"x": 2}, et.TrialState.RUNNING))
    assert grid.propose(space, history, 3) is None


def test_optimize_logs_the_grid_size(evotune_log):
    run_grid(et.GridSearch(), max_trials=5)
    messages = [r.getMessage() for r in evotune_log.records]
    assert any("grid of 18 cells" in m for m in messages), messages


def test_optimize_estimates_the_total_time_after_the_first_trials(evotune_log):
    study = et.Study(SPACE, strategy=et.GridSearch())
    study.optimize(lambda p: time.sleep(0.01) or 0.0, max_trials=6)
    messages = [r.getMessage() for r in evotune_log.records]
    estimates = [m for m in messages if "cells left" in m]
    assert len(estimates) == 1, messages
    assert "15 cells left" in estimates[0] and " s per trial" in estimates[0]


def test_settings_round_trip_and_bad_settings():
    grid = et.GridSearch(points=5, shuffle=True, seed=3)
    assert grid.to_config() == {"type": "grid", "seed": 3, "points": 5, "shuffle": True}
    assert strategy_from_config(grid.to_config()) == grid
    with pytest.raises(et.ConfigError, match=r"points must be an integer >= 2 or None, got 1"):
        et.GridSearch(points=1)
    with pytest.raises(et.ConfigError, match=r"shuffle must be True or False, got 'yes'"):
        et.GridSearch(shuffle="yes")
    with pytest.raises(et.ConfigError, match=r"seed must be an integer >= 0 or None, got -1"):
        et.GridSearch(seed=-1)
