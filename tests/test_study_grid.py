"""The grid announcement counts the grid cells already in the study, not every trial: runs added
by hand off the grid, and repeats of a cell, leave the cells to run as they are."""

from __future__ import annotations

import time

import evotune as et
from evotune.strategies.grid import grid_cells_done

SPACE = {"x": et.Float(0, 1), "k": et.Categorical(["a", "b"])}


def test_grid_cells_done_counts_distinct_cells_on_the_axes():
    space = et.Space(SPACE)
    axes = space.grid_axes(3)  # x: 0, 0.5, 1
    trials = [et.Trial(n, params, et.TrialState.COMPLETE, value=0.0) for n, params in enumerate([
        {"x": 0.5, "k": "a"}, {"x": 0.5, "k": "a"},  # one cell, twice
        {"x": 0.0, "k": "b"},
        {"x": 0.3, "k": "a"}, {"x": 0.95, "k": "b"},  # off the grid
    ])]
    assert grid_cells_done(space, axes, trials) == 2
    assert grid_cells_done(space, axes, []) == 0


def test_the_announcement_counts_cells_not_trials(evotune_log):
    study = et.Study(SPACE, strategy=et.GridSearch(points=3))
    for i in range(10):  # off the grid but for x = 0.5
        study.add({"x": 0.05 + 0.09 * i, "k": "a"}, float(i))
    study.add({"x": 0.5, "k": "a"}, 1.0)  # the same cell again
    study.optimize(lambda p: time.sleep(0.01) or p["x"])
    messages = [r.getMessage() for r in evotune_log.records]
    assert any("grid of 6 cells for study" in m and "(1 of them already in the study)" in m for m in messages), messages
    estimates = [m for m in messages if "cells left" in m]
    assert len(estimates) == 1 and estimates[0].startswith("grid: 2 cells left, about "), messages
    assert sum(t.origin == "grid" for t in study.trials) == 5
