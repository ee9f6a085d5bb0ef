"""Load: 8 worker processes share one study on one database; no trial lost, none duplicated.

The workers start together (at a barrier) and run until the shared budget is spent, each
reporting every trial it finished. Afterwards the study must hold exactly the budget, numbered
without a gap, each configuration once, each trial finished by exactly one worker and reported
by it; the strategy of every worker must have seen the trials of all the others. The
throughput (trials per second, all workers together) is printed for the record.

CI runs 8 x 100 trials per backend; ``--soak`` runs 8 x 500 (4,000 trials).
"""

from __future__ import annotations

import bisect
import time
from pathlib import Path
from typing import Any

import pytest

import evotune as et
from tests.reliability import children
from tests.reliability.strategies import SeeingSearch, seen

WORKERS = 8
NAME = "load"
#: Seconds after its finish time is stamped by which a trial must be in every strategy's history
#: (the stamp is taken before the write waits for the database's lock and commits).
VISIBILITY_SLACK = 0.5


def run_load(url: str, folder: Path, per_worker: int) -> dict[str, Any]:
    budget = WORKERS * per_worker
    et.Study(children.SPACE, strategy=SeeingSearch(seed=0), storage=url, name=NAME).storage.close()
    context = children.context()
    barrier = context.Barrier(WORKERS + 1)
    journals = [folder / f"worker-{index}.txt" for index in range(WORKERS)]
    workers = [context.Process(target=children.load_worker, args=(url, NAME, str(journal), budget, barrier, index + 1))
               for index, journal in enumerate(journals)]
    for worker in workers:
        worker.start()
    barrier.wait(timeout=120)
    started = time.time()
    for worker in workers:
        worker.join(timeout=900)
    assert [w.exitcode for w in workers] == [0] * WORKERS

    entries = [children.read_journal(str(journal)) for journal in journals]
    ended = max(value for journal in entries for kind, _, value in journal if kind == "E")
    trials = et.Study.load(NAME, url).trials
    # Exactly the budget, numbered without a gap, each configuration once.
    assert len(trials) == budget
    assert [t.number for t in trials] == list(range(budget))
    space = et.Space(children.SPACE)
    assert len({space.key(t.params) for t in trials}) == budget
    assert all(t.state in (et.TrialState.COMPLETE, et.TrialState.FAILED) for t in trials)
    # Each trial finished by exactly one worker, which reported it with the stored outcome.
    finished = [(number, kind, value) for journal in entries for kind, number, value in journal if kind in "CF"]
    assert sorted(number for number, _, _ in finished) == list(range(budget))
    for number, kind, value in finished:
        assert trials[number].state is (et.TrialState.COMPLETE if kind == "C" else et.TrialState.FAILED)
        assert trials[number].value == value
    per_worker_counts = [sum(kind in "CF" for kind, _, _ in journal) for journal in entries]
    # At the end each worker's study held every trial.
    assert [next(n for kind, n, _ in journal if kind == "E") for journal in entries] == [budget] * WORKERS
    # While running, each proposal saw every trial finished (anywhere) a moment before it.
    finish_times = sorted(t.finished_at.timestamp() for t in trials)
    behind = 0
    for trial in trials:
        saw_finished, saw_all, proposed_at = seen(trial.origin)
        assert saw_all <= trial.number
        settled = bisect.bisect_left(finish_times, proposed_at - VISIBILITY_SLACK)
        behind = max(behind, settled - saw_finished)
    assert behind <= 0, f"a proposal missed {behind} trials finished more than {VISIBILITY_SLACK} s before it"
    seconds = ended - started
    return {"trials": budget, "seconds": round(seconds, 2), "trials_per_second": round(budget / seconds, 1),
            "per_worker": per_worker_counts}


@pytest.mark.parametrize("per_worker", [pytest.param(100, id="8x100"),
                                        pytest.param(500, id="8x500", marks=pytest.mark.soak)])
def test_eight_workers_on_one_sqlite_file(tmp_path: Path, per_worker: int) -> None:
    report = run_load(f"sqlite:///{tmp_path / 'load.db'}", tmp_path, per_worker)
    print(f"\nload sqlite {WORKERS}x{per_worker}: {report}")


@pytest.mark.postgres
@pytest.mark.parametrize("per_worker", [pytest.param(100, id="8x100"),
                                        pytest.param(500, id="8x500", marks=pytest.mark.soak)])
def test_eight_workers_on_postgresql(postgres_url: str, tmp_path: Path, per_worker: int) -> None:
    report = run_load(postgres_url, tmp_path, per_worker)
    print(f"\nload postgresql {WORKERS}x{per_worker}: {report}")
