"""The tuning process killed (SIGKILL) at random moments, again and again: nothing that finished is lost.

Each round starts a child that tunes one study without pause (through ``optimize``, or by
hand with ask / tell / add / enqueue), lets it run for a random time and kills it, most often
in the middle of a write. After every kill the database must open, be sound, hold every write
the child reported as done (with the reported state and value), number its trials without a
gap and keep its counters right; the kill may cost at most the one trial that was running.
At the end a resumed study marks the orphans of ``optimize`` lost and goes on; the orphans of
``ask`` (trials run by hand, which nothing watches) stay RUNNING until told.

CI runs 20 rounds per backend; ``--soak`` runs 200.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import evotune as et
from tests.reliability import children
from tests.reliability.storage_dump import integrity, sqlite_path

NAME = "killed"


def _counters(url: str) -> tuple[int, int]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            row = connection.exec_driver_sql(
                f"SELECT next_number, n_started FROM evotune_studies WHERE name = '{NAME}'").one()
            return int(row[0]), int(row[1])
    finally:
        engine.dispose()


def _settle(url: str, timeout: float = 10.0) -> None:
    """Wait until the server has finished what a killed child had sent (PostgreSQL only).

    A COMMIT the child sent just before the kill is still carried out by its server process
    after the child is gone. The checks read the trials and then the counters, in two
    snapshots: that commit landing between them would look like a gap that no single
    snapshot ever shows.
    """
    if not url.startswith("postgresql"):
        return
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                busy = connection.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction', "
                    "'idle in transaction (aborted)')").scalar()
            if not busy:
                return
            time.sleep(0.02)
    finally:
        engine.dispose()


def _check(url: str, journals: list[Path]) -> list[et.Trial]:
    """The database after a kill: sound, complete, consistent. Returns its trials."""
    path = sqlite_path(url)
    if path is not None:
        assert integrity(path) == "ok"
    entries = [entry for journal in journals for entry in children.read_journal(str(journal))]
    try:
        trials = et.Study.load(NAME, url).trials
    except et.StudyNotFoundError:
        assert not entries, "a child reported writes to a study that does not exist"
        return []
    assert [t.number for t in trials] == list(range(len(trials))), "trial numbers have a gap or a duplicate"
    next_number, n_started = _counters(url)
    assert next_number == len(trials)
    assert n_started == sum(t.state is not et.TrialState.WAITING for t in trials)
    for kind, number, value in entries:
        trial = trials[number]
        if kind == "C":
            assert trial.state is et.TrialState.COMPLETE and trial.value == value, (kind, number, value, trial)
        elif kind == "F":
            assert trial.state is et.TrialState.FAILED and trial.error, trial
        else:
            assert kind == "Q" and trial.origin == "manual", trial
    for trial in trials:
        if trial.state is et.TrialState.COMPLETE:
            assert trial.value is not None and trial.metrics and trial.finished_at is not None, trial
        elif trial.state is et.TrialState.FAILED:
            assert trial.error, trial
    return trials


def kill_repeatedly(url: str, folder: Path, rounds: int, seed: int = 0) -> dict[str, Any]:
    """Run ``rounds`` kill-and-check rounds; return what happened, for the report."""
    context = children.context()
    chance = random.Random(seed)
    journals: list[Path] = []
    running_before = 0
    trials: list[et.Trial] = []
    orphaned = 0
    started = time.monotonic()
    for round_number in range(rounds):
        journal = folder / f"journal-{round_number}.txt"
        journals.append(journal)
        mode = "optimize" if round_number % 2 == 0 else "manual"
        child = context.Process(target=children.tune_until_killed, daemon=True,
                                args=(url, NAME, str(journal), round_number, mode))
        child.start()
        time.sleep(chance.uniform(0.02, 0.5))
        child.kill()
        child.join(timeout=30)
        assert child.exitcode == -signal.SIGKILL, f"round {round_number}: the child ended by itself " \
                                                  f"(exit code {child.exitcode}) before it was killed"
        _settle(url)
        trials = _check(url, journals)
        running = sum(t.state is et.TrialState.RUNNING for t in trials)
        # optimize() fails the orphans of optimize it finds at start (grace 0.1 s): the count may fall,
        # never jump by 2.
        assert running <= running_before + 1, f"round {round_number}: a kill cost more than the running trial"
        orphaned += running > running_before
        running_before = running
    entries = sum(len(children.read_journal(str(j))) for j in journals)
    by_hand = [t.number for t in trials if t.state is et.TrialState.RUNNING and t.heartbeat_at is None]
    watched = sum(t.state is et.TrialState.RUNNING and t.heartbeat_at is not None for t in trials)
    resumed = children._study(url, NAME, 0)
    started_before = resumed.history.n_started
    resumed.optimize(children.objective, max_trials=started_before + 15, heartbeat_interval=0.05,
                     grace_period=0.1)
    final = _check(url, journals)
    assert resumed.stop_reason == "max_trials reached"
    assert sum(t.state is not et.TrialState.WAITING for t in final) == started_before + 15
    assert [t.number for t in final if t.state is et.TrialState.RUNNING] == by_hand
    lost = [t for t in final if t.error == "worker lost"]
    assert len(lost) >= watched
    return {"rounds": rounds, "reported_writes": entries, "trials": len(final), "orphaned_by_kill": orphaned,
            "marked_lost": len(lost), "left_to_tell": len(by_hand), "seconds": time.monotonic() - started}


@pytest.mark.parametrize("rounds", [pytest.param(20, id="20-rounds"),
                                    pytest.param(200, id="200-rounds", marks=pytest.mark.soak)])
def test_sqlite_survives_kills_at_random_moments(tmp_path: Path, rounds: int) -> None:
    report = kill_repeatedly(f"sqlite:///{tmp_path / 'killed.db'}", tmp_path, rounds, seed=rounds)
    print(f"\nkill-mid-write sqlite: {report}")
    assert report["reported_writes"] > rounds  # the children did get work done between kills


@pytest.mark.postgres
@pytest.mark.parametrize("rounds", [pytest.param(20, id="20-rounds"),
                                    pytest.param(200, id="200-rounds", marks=pytest.mark.soak)])
def test_postgresql_survives_kills_at_random_moments(postgres_url: str, tmp_path: Path, rounds: int) -> None:
    report = kill_repeatedly(postgres_url, tmp_path, rounds, seed=rounds + 1)
    print(f"\nkill-mid-write postgresql: {report}")
    assert report["reported_writes"] > rounds
