"""Many workers, one study: several OS processes call optimize on the same name and storage."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import evotune as et
from tests.execution.objectives import quadratic, run_script, space

WORKERS = 3

_WORKER = """
    import sys, time
    from pathlib import Path
    import evotune as et
    from tests.execution.objectives import quadratic, space

    url, name, folder, kind = sys.argv[1:5]

    def objective(params):
        time.sleep(0.01)
        return quadratic(params)

    if __name__ == "__main__":
        strategy = (et.RandomSearch(seed=8) if kind == "random"
                    else et.EvolutionarySearch(population_size=6, mode="generational", seed=8))
        study = et.Study(space(), storage=url, name=name, strategy=strategy)
        Path(folder, f"ready-{{__import__('os').getpid()}}").touch()
        while not Path(folder, "go").exists():
            time.sleep(0.01)
        study.optimize(objective, max_trials={budget}, heartbeat_interval=0.5)
"""


def _strategy(kind: str) -> et.Strategy:
    if kind == "random":
        return et.RandomSearch(seed=8)
    return et.EvolutionarySearch(population_size=6, mode="generational", seed=8)


@pytest.mark.parametrize("kind", ["random", "evolution-generational"])
def test_workers_share_one_budget_and_see_each_others_trials(tmp_path, sql_url, kind):
    budget = 30
    et.Study(space(), storage=sql_url, name="shared", strategy=_strategy(kind))  # created once, up front
    processes = [
        run_script(tmp_path, _WORKER.format(budget=budget), sql_url, "shared", str(tmp_path), kind)
        for _ in range(WORKERS)
    ]
    deadline = time.monotonic() + 90
    while len(list(tmp_path.glob("ready-*"))) < WORKERS:
        assert all(p.poll() is None for p in processes), "a worker ended early"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    Path(tmp_path, "go").touch()
    assert [p.wait(timeout=120) for p in processes] == [0] * WORKERS

    trials = et.Study.load("shared", sql_url).trials
    assert [t.number for t in trials] == list(range(budget))  # global budget, unique numbers
    assert all(t.state is et.TrialState.COMPLETE for t in trials)  # none lost
    assert len({tuple(sorted(t.params.items())) for t in trials}) == budget  # none run twice
    drivers = {t.attrs["worker"] for t in trials}
    assert len(drivers) >= 2, drivers  # the work was shared

    # Every worker saw every finished trial: the study is the one a single process produces.
    alone = et.Study(space(), strategy=_strategy(kind))
    alone.optimize(quadratic, max_trials=budget)
    assert [(t.params, t.value) for t in trials] == [(t.params, t.value) for t in alone.trials]


def test_stop_and_resume_proposes_the_same_trials(sql_url):
    for kind in ("random", "evolution-generational"):
        whole = et.Study(space(), strategy=_strategy(kind))
        whole.optimize(quadratic, max_trials=16)
        name = f"resumed-{kind}"
        et.Study(space(), storage=sql_url, name=name, strategy=_strategy(kind)).optimize(quadratic, max_trials=7)
        resumed = et.Study.load(name, sql_url)  # strategy and seed come from the storage
        resumed.optimize(quadratic, max_trials=16, n_jobs=2)
        assert [t.params for t in resumed.trials] == [t.params for t in whole.trials], kind
