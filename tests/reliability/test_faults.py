"""Faults the study must survive: failing, hanging and lying objectives, killed workers, a full disk.

Each test provokes the fault for real (a worker killed with SIGKILL, a file system that runs
out of space, a command that ignores SIGTERM) and then checks that the trials recorded before
it are intact, that the faulty trial says what happened, and that the study goes on.
"""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import evotune as et
from evotune.cli import main
from evotune.execution.pool import shutdown_pool
from tests.cli.conftest import alive
from tests.reliability import children
from tests.reliability.storage_dump import integrity

SPACE = {"x": et.Float(-1.0, 1.0), "act": et.Categorical(["relu", "tanh"])}


@pytest.fixture(scope="module", autouse=True)
def _stop_worker_pool() -> Iterator[None]:
    """Leave no idle pool of worker processes behind (it would outlive the tests by minutes)."""
    yield
    shutdown_pool()


# -- objectives that raise or return garbage -------------------------------------------------------
def _raising(params: dict[str, Any]) -> float:
    if params["x"] > 0:
        raise RuntimeError(f"CUDA out of memory at x={params['x']:.3f}")
    return params["x"] ** 2


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_an_objective_that_raises_fails_its_trial_with_the_traceback_and_the_study_goes_on(
        tmp_path: Path, n_jobs: int) -> None:
    study = et.Study(SPACE, storage=f"sqlite:///{tmp_path / 'e.db'}", name="raises",
                     strategy=et.RandomSearch(seed=3))
    study.optimize(_raising, max_trials=16, n_jobs=n_jobs)
    trials = study.trials
    failed = [t for t in trials if t.state is et.TrialState.FAILED]
    complete = [t for t in trials if t.state is et.TrialState.COMPLETE]
    assert len(trials) == 16 and failed and complete and len(failed) + len(complete) == 16
    for trial in failed:
        assert trial.params["x"] > 0
        assert f"RuntimeError: CUDA out of memory at x={trial.params['x']:.3f}" in trial.error
        assert "Traceback" in trial.error and "_raising" in trial.error
    assert study.stop_reason == "max_trials reached"


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


GARBAGE = {
    "none": (None, "None"),
    "text": ("0.93", "'0.93'"),
    "nan": (float("nan"), "nan"),
    "infinity": (float("inf"), "inf"),
    "missing-metric": ({"loss": 0.1}, "'accuracy'"),
    "metric-not-a-number": ({"accuracy": "high"}, "'high'"),
    "list": ([0.9, 0.8], "[0.9, 0.8]"),
    "bool": (True, "True"),
    "huge-int": (10**400, "inf"),
    "unprintable": (_Unprintable(), "must be a number"),
}


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_an_objective_returning_garbage_fails_that_trial_saying_what_came_back(tmp_path: Path, kind: str) -> None:
    garbage, shown = GARBAGE[kind]
    calls = []

    def objective(params: dict[str, Any]) -> Any:
        calls.append(params)
        return garbage if len(calls) == 2 else {"accuracy": 0.5 + params["x"] / 4}

    study = et.Study(SPACE, direction="maximize", metric="accuracy", storage=f"sqlite:///{tmp_path / 'g.db'}",
                     name="garbage", strategy=et.RandomSearch(seed=0))
    study.optimize(objective, max_trials=4)
    trials = study.trials
    assert [t.state for t in trials] == [et.TrialState.COMPLETE, et.TrialState.FAILED] + [et.TrialState.COMPLETE] * 2
    assert shown in trials[1].error and "invalid result" in trials[1].error, trials[1].error


# -- a command that hangs past its per-trial timeout -----------------------------------------------
HANGING = """\
import json, os, signal, subprocess, sys, time
x = float(sys.argv[1])
if x > 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stubborn command: only SIGKILL stops it
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    with open(sys.argv[2] + "/grandchild.pid", "a") as handle:
        handle.write(f"{child.pid}\\n")
    time.sleep(300)
print(json.dumps({"score": x}))
"""


def test_a_command_hanging_past_its_timeout_is_killed_with_its_children_and_the_run_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text(HANGING)
    url = f"sqlite:///{tmp_path / 'hang.db'}"
    (tmp_path / "tune.toml").write_text(textwrap.dedent(f"""\
        [study]
        name = "hang"
        storage = "{url}"
        direction = "maximize"
        metric = "score"
        [space]
        x = {{ type = "float", low = -1.0, high = 1.0 }}
        [strategy]
        type = "manual"
        [run]
        command = ["{sys.executable}", "train.py", "{{x}}", "{tmp_path}"]
        timeout = 1.0
        """))
    study = et.Study({"x": et.Float(-1.0, 1.0)}, direction="maximize", metric="score", storage=url, name="hang",
                     strategy=et.ManualSearch())
    for x in (-0.5, 0.5, -0.25):
        study.enqueue({"x": x})
    study.storage.close()
    started = time.monotonic()
    result = CliRunner().invoke(main, ["run", "tune.toml", "-q"], catch_exceptions=False)
    took = time.monotonic() - started
    assert result.exit_code == 0, result.output
    trials = et.Study.load("hang", url).trials
    assert [t.state for t in trials] == [et.TrialState.COMPLETE, et.TrialState.FAILED, et.TrialState.COMPLETE]
    assert "timed out after 1 s" in trials[1].error
    assert 1.0 <= trials[1].duration < 15, trials[1].duration  # 1 s, then at most the SIGTERM grace
    assert took < 30
    grandchild = int((tmp_path / "grandchild.pid").read_text().split()[0])
    assert not alive(grandchild), "the command's own child outlived the timeout"


# -- worker processes killed with SIGKILL ----------------------------------------------------------
def test_a_pool_worker_killed_mid_trial_is_marked_lost_retried_and_nothing_else_is_lost(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    study = et.Study(SPACE, storage=url, name="pool", strategy=et.RandomSearch(seed=1))
    objective = functools.partial(children.hang_first_call, str(tmp_path))
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            study.optimize(objective, max_trials=12, n_jobs=2, retries=1)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = error

    runner = threading.Thread(target=run)
    runner.start()
    pid_file = tmp_path / "victim.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists():
        assert runner.is_alive() and time.monotonic() < deadline, outcome
        time.sleep(0.02)
    victim = int(pid_file.read_text())
    os.kill(victim, signal.SIGKILL)
    runner.join(timeout=120)
    assert not runner.is_alive() and "error" not in outcome, outcome
    trials = study.trials
    # A process pool whose worker dies is broken as a whole: the trials in flight on the other
    # worker are lost with it, and retried like the victim's.
    lost = [t for t in trials if t.state is et.TrialState.FAILED]
    assert 1 <= len(lost) <= 2 and all(t.error == "worker lost" for t in lost), [(t.number, t.error) for t in lost]
    for trial in lost:
        retry = [t for t in trials if t.attrs.get("retry_of") == trial.number]
        assert len(retry) == 1 and retry[0].params == trial.params and retry[0].state is et.TrialState.COMPLETE
    assert sum(t.state is et.TrialState.COMPLETE for t in trials) == 12
    assert len(trials) == 12 + len(lost)
    assert all(t.attrs.get("executed_by", "").split(":")[-1] != str(victim)
               for t in trials if t.state is et.TrialState.COMPLETE)


WORKER_OBJECTIVE = """\
import os, time

def objective(params):
    folder = os.environ["VICTIM_FOLDER"]
    if os.environ.get("VICTIM") == "1" and not os.path.exists(folder + "/hanging"):
        open(folder + "/hanging", "w").close()
        time.sleep(300)
    time.sleep(0.05)
    return params["x"] ** 2
"""


def test_a_cli_worker_killed_mid_trial_has_its_trial_taken_over_by_another_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    et.Study(SPACE, storage=url, name="shared", strategy=et.RandomSearch(seed=2)).storage.close()
    (tmp_path / "objective.py").write_text(WORKER_OBJECTIVE)
    evotune = [sys.executable, "-c", "from evotune.cli import main; main()"]
    arguments = ["worker", "shared", "--objective", str(tmp_path / "objective.py") + ":objective", "--storage", url,
                 "-n", "12", "--heartbeat", "0.2", "--grace", "1.0", "-q"]
    env = {**os.environ, "VICTIM_FOLDER": str(tmp_path)}
    victim = subprocess.Popen([*evotune, *arguments], env={**env, "VICTIM": "1"}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (tmp_path / "hanging").exists():
        assert victim.poll() is None and time.monotonic() < deadline, victim.communicate()
        time.sleep(0.05)
    victim.kill()
    victim.wait(timeout=30)
    time.sleep(1.2)  # past the grace: the survivor finds the orphan at its start, as a long-running worker would
    survivor = subprocess.run([*evotune, *arguments], env=env, capture_output=True, text=True, timeout=180,
                              check=False)
    assert survivor.returncode == 0, survivor.stderr
    trials = et.Study.load("shared", url).trials
    lost = [t for t in trials if t.error == "worker lost"]
    assert len(lost) == 1, [(t.number, t.state, t.error) for t in trials]
    retry = [t for t in trials if t.attrs.get("retry_of") == lost[0].number]
    assert len(retry) == 1 and retry[0].state is et.TrialState.COMPLETE and retry[0].params == lost[0].params
    assert sum(t.state is et.TrialState.COMPLETE for t in trials) == 12
    assert not [t for t in trials if t.state is et.TrialState.RUNNING]


# -- a full disk -----------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 320 KiB file system (tmpfs; needs root); skips when it cannot be mounted."""
    folder = tmp_path / "small"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=320k", "tmpfs", str(folder)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_full_disk_stops_the_study_with_a_storage_error_and_keeps_every_recorded_trial(small_disk: Path) -> None:
    url = f"sqlite:///{small_disk / 'full.db'}"
    space = {**SPACE, "note": et.Categorical(["x" * 3000])}  # large rows: the disk fills within ~60 trials
    study = et.Study(space, storage=url, name="full", strategy=et.RandomSearch(seed=0))
    recorded: list[tuple[int, float]] = []
    with pytest.raises(et.StorageError) as raised:
        study.optimize(lambda p: p["x"], max_trials=100_000,
                       callbacks=[lambda _s, t: recorded.append((t.number, t.value))])
    message = str(raised.value)
    assert "full" in message and str(small_disk / "full.db") in message and "intact" in message, message
    assert study.stop_reason.startswith("aborted: StorageError")
    assert len(recorded) > 5
    assert integrity(small_disk / "full.db") == "ok"
    # Space comes back (the file system grows): the same study opens and goes on.
    subprocess.run(["mount", "-o", "remount,size=2m", str(small_disk)], check=True)
    resumed = et.Study.load("full", url)
    by_number = {t.number: t for t in resumed.trials}
    for number, value in recorded:
        assert by_number[number].state is et.TrialState.COMPLETE and by_number[number].value == value
    resumed.optimize(lambda p: p["x"], max_trials=resumed.history.n_started + 5, grace_period=0.1,
                     heartbeat_interval=0.05)
    assert resumed.stop_reason == "max_trials reached"
    assert sum(t.state is et.TrialState.COMPLETE for t in resumed.trials) >= len(recorded) + 5
    assert integrity(small_disk / "full.db") == "ok"


def test_a_database_that_cannot_grow_gives_a_storage_error_and_keeps_every_recorded_trial(tmp_path: Path) -> None:
    """The same as a full disk, anywhere: SQLite's page limit makes the file unable to grow."""
    from sqlalchemy import event

    url = f"sqlite:///{tmp_path / 'capped.db'}"
    space = {**SPACE, "note": et.Categorical(["x" * 3000])}
    study = et.Study(space, storage=url, name="capped", strategy=et.RandomSearch(seed=0))
    study.add({"x": 0.5, "act": "relu", "note": "x" * 3000}, 0.5)
    pages = sqlite3.connect(tmp_path / "capped.db").execute("PRAGMA page_count").fetchone()[0]

    def cap(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 20}")

    engine = study.storage._engine  # the storage's own connections, as a full disk would stop them
    event.listen(engine, "connect", cap)
    engine.dispose()
    recorded: list[tuple[int, float]] = []
    with pytest.raises(et.StorageError) as raised:
        study.optimize(lambda p: p["x"], max_trials=10_000,
                       callbacks=[lambda _s, t: recorded.append((t.number, t.value))])
    assert "full" in str(raised.value) and "capped.db" in str(raised.value)
    assert len(recorded) > 3
    event.remove(engine, "connect", cap)
    engine.dispose()
    assert integrity(tmp_path / "capped.db") == "ok"
    resumed = et.Study.load("capped", url)
    by_number = {t.number: t for t in resumed.trials}
    assert all(by_number[n].state is et.TrialState.COMPLETE and by_number[n].value == v for n, v in recorded)
    resumed.optimize(lambda p: p["x"], max_trials=resumed.history.n_started + 3, grace_period=0.1,
                     heartbeat_interval=0.05)
    assert resumed.stop_reason == "max_trials reached"


# -- two processes creating the same study at once -------------------------------------------------
def _race(url: str, name: str, variants: list[int], trials: int) -> list[str]:
    """Start one process per variant; all create study ``name`` at one barrier. Their outcomes, by seed."""
    context = children.context()
    barrier, results = context.Barrier(len(variants)), context.Queue()
    racers = [context.Process(target=children.race_to_create, args=(results, url, name, barrier, variant, seed,
                                                                    trials))
              for seed, variant in enumerate(variants)]
    for racer in racers:
        racer.start()
    outcomes = dict(results.get(timeout=120) for _ in racers)
    for racer in racers:
        racer.join(timeout=30)
    return [outcomes[seed] for seed in range(len(variants))]


@pytest.mark.parametrize("race", range(3))
def test_processes_creating_the_same_study_at_once_share_one_study(db_url: str, race: int) -> None:
    assert _race(db_url, f"same-{race}", [0, 0, 0, 0], 5) == ["ran"] * 4
    assert [s.name for s in et.list_studies(db_url)] == [f"same-{race}"]
    trials = et.Study.load(f"same-{race}", db_url).trials
    assert [t.number for t in trials] == list(range(20))
    assert all(t.state is et.TrialState.COMPLETE for t in trials)


def test_processes_creating_a_study_with_different_spaces_at_once_get_one_winner_and_clear_conflicts(
        db_url: str) -> None:
    results = _race(db_url, "contested", [0, 1, 0, 1], 3)
    winners = [r for r in results if r == "ran"]
    conflicts = [r for r in results if r.startswith("conflict")]
    assert len(winners) == 2 and len(conflicts) == 2, results
    assert all("'contested'" in c and "different space" in c for c in conflicts)
    assert len(et.Study.load("contested", db_url).trials) == 6
