"""PostgreSQL restarted under a running study: the worker reconnects (or fails clearly), nothing is lost.

A worker runs short trials on the suite's PostgreSQL database while the test restarts the
server (``pg_ctlcluster ... restart -m fast``, which cuts every session). The worker waits for
the server and goes on; should a write be cut off mid-flight, it stops with a StorageError that
names the database (without its password). Either way every trial it reported finished is in
the database, and a resumed study reaches the budget.

Needs the server's control command and the right to run it (root, or the postgres user): the
test skips otherwise. CI restarts once; ``--soak`` restarts five times in one run.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import evotune as et
from tests.reliability import children

NAME = "restarted"
#: Trials of the study per restart (the worker must still be running at the last one).
BUDGET_PER_RESTART = 200

pytestmark = pytest.mark.postgres


def _restart_command(url: str) -> list[str]:
    """The command that restarts the server behind ``url`` (skips when there is none we may run)."""
    port = sa.engine.make_url(url).port or 5432
    if os.geteuid() != 0:
        pytest.skip("restarting PostgreSQL needs root")
    if shutil.which("pg_lsclusters") and shutil.which("pg_ctlcluster"):
        listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=False).stdout
        for line in listing.splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2] == str(port):
                return ["pg_ctlcluster", fields[0], fields[1], "restart", "-m", "fast"]
    datadir = Path(f"/tmp/evotune-postgres-{port}")  # the private cluster .ci/postgres.sh creates otherwise
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if (datadir / "PG_VERSION").exists() and versions and shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", str(versions[-1]), "-D", str(datadir), "restart", "-m", "fast",
                "-w"]
    pytest.skip(f"no way found to restart the PostgreSQL server on port {port}")


def _restart(command: list[str]) -> float:
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return time.monotonic() - started


def restart_under_worker(url: str, folder: Path, restarts: int) -> dict[str, Any]:
    command = _restart_command(url)
    budget = BUDGET_PER_RESTART * (restarts + 1)
    journal = folder / "journal.txt"
    worker = children.context().Process(target=children.tune_through_restarts, daemon=True,
                                        args=(url, NAME, str(journal), budget))
    worker.start()
    chance = random.Random(restarts)
    pauses = []
    for _ in range(restarts):
        wanted = len(children.read_journal(str(journal))) + chance.randint(10, 30)
        deadline = time.monotonic() + 60
        while len(children.read_journal(str(journal))) < wanted and worker.is_alive():
            assert time.monotonic() < deadline, "the worker stopped making progress"
            time.sleep(0.02)
        if not worker.is_alive():
            break
        pauses.append(round(_restart(command), 2))
    worker.join(timeout=180)
    assert worker.exitcode in (0, 3), f"the worker died with exit code {worker.exitcode}"
    error_file = Path(f"{journal}.error")
    if worker.exitcode == 3:  # a write was cut off: the error must be clear and hide the password
        message = error_file.read_text()
        password = sa.engine.make_url(url).password
        assert "evotune_reliability" in message or sa.engine.make_url(url).database in message, message
        assert not password or f":{password}@" not in message, message
    entries = children.read_journal(str(journal))
    trials = et.Study.load(NAME, url).trials
    assert [t.number for t in trials] == list(range(len(trials)))
    for kind, number, value in entries:
        if kind in "CF":
            assert trials[number].state is (et.TrialState.COMPLETE if kind == "C" else et.TrialState.FAILED)
            assert trials[number].value == value
    resumed = et.Study.load(NAME, url)
    resumed.optimize(children.objective, max_trials=budget, heartbeat_interval=0.1, grace_period=0.5)
    final = resumed.trials
    assert len(final) == budget and not [t for t in final if t.state is et.TrialState.RUNNING]
    return {"restarts": len(pauses), "restart_seconds": pauses, "worker_exit": worker.exitcode,
            "finished_by_worker": sum(kind in "CF" for kind, _, _ in entries),
            "lost": sum(t.error == "worker lost" for t in final),
            "error": error_file.read_text()[:200] if error_file.exists() else None}


@pytest.mark.parametrize("restarts", [pytest.param(1, id="once"),
                                      pytest.param(5, id="five-times", marks=pytest.mark.soak)])
def test_a_worker_survives_postgresql_restarts(postgres_url: str, tmp_path: Path, restarts: int) -> None:
    report = restart_under_worker(postgres_url, tmp_path, restarts)
    print(f"\npostgresql restart: {report}")
    assert report["restarts"] == restarts
