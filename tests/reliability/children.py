"""What the reliability suite's child processes run: tuning loops that report what they finished.

A child writes one line to its journal for every write that has *returned* (``tell``, ``add``,
``enqueue``, or a trial finished by ``optimize``), with ``os.write`` on a file opened in append
mode, so the line survives the child being killed the next instant. The suite kills children
at random moments and then checks the database against their journals: every reported write
must be there, exactly as reported.

Children are started from a fork server that has already imported evotune (see
:func:`context`), so one costs a fork rather than a Python start-up.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

import numpy as np

import evotune as et

SPACE = {
    "x": et.Float(-3.0, 3.0),
    "depth": et.Int(1, 64, log=True),
    "act": et.Categorical(["relu", "tanh", "gelu"]),
}
_context: Any = None


def context() -> Any:
    """A multiprocessing context whose children start as forks of a process that imported evotune."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(["evotune", "evotune.storage.sql", "evotune.execution.loop",
                                         "tests.reliability.children", "sqlalchemy", "psycopg"])
    return _context


def objective(params: dict[str, Any]) -> float:
    """Deterministic and quick; fails for a slice of the space, so failures get written too."""
    if params["x"] > 2.7:
        raise ValueError(f"diverged at x={params['x']!r}")
    return (params["x"] - 1.0) ** 2 + abs(np.log2(params["depth"]) - 3) + (params["act"] == "tanh") * 0.5


class Journal:
    """Lines of ``kind number value`` appended to a file, one ``os.write`` each."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, kind: str, number: int, value: float | None = None) -> None:
        os.write(self.fd, f"{kind} {number} {value!r}\n".encode())


def read_journal(path: str) -> list[tuple[str, int, float | None]]:
    """The complete lines of a journal (a line cut by the kill is dropped)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return []
    entries = []
    for line in text.split("\n")[:-1]:
        kind, number, value = line.split(" ")
        entries.append((kind, int(number), None if value == "None" else float(value)))
    return entries


def _study(url: str, name: str, seed: int) -> et.Study:
    return et.Study(SPACE, direction="minimize", strategy=et.EvolutionarySearch(seed=seed, population_size=6),
                    storage=url, name=name)


def tune_until_killed(url: str, name: str, journal_path: str, seed: int, mode: str) -> None:
    """Tune forever (until killed): through ``optimize``, or by hand with ask/tell/add/enqueue."""
    journal = Journal(journal_path)
    study = _study(url, name, seed)
    if mode == "optimize":
        def record(_study: et.Study, trial: et.Trial) -> None:
            journal.write("C" if trial.state is et.TrialState.COMPLETE else "F", trial.number, trial.value)

        study.optimize(objective, heartbeat_interval=0.05, grace_period=0.1, callbacks=[record])
        return
    rng = np.random.default_rng(seed)
    while True:
        draw = rng.random()
        if draw < 0.1:
            params = {name: dist.sample(rng) for name, dist in SPACE.items()}
            trial = study.add(params, objective(params) if params["x"] <= 2.7 else 0.0)
            journal.write("C", trial.number, trial.value)
        elif draw < 0.2:
            queued = study.enqueue({name: dist.sample(rng) for name, dist in SPACE.items()})
            if queued is not None:
                journal.write("Q", queued.number)
        else:
            trial = study.ask()
            try:
                done = study.tell(trial, objective(trial.params))
            except ValueError as error:
                done = study.tell(trial, error=str(error))
            journal.write("C" if done.state is et.TrialState.COMPLETE else "F", done.number, done.value)


def load_worker(url: str, name: str, journal_path: str, max_trials: int, barrier: Any, seed: int) -> None:
    """One of many workers sharing a study: wait for the others, then run until the shared budget."""
    from tests.reliability.strategies import SeeingSearch

    journal = Journal(journal_path)
    study = et.Study(SPACE, direction="minimize", strategy=SeeingSearch(seed=seed), storage=url, name=name)
    barrier.wait(timeout=120)
    journal.write("S", 0, time.time())

    def record(_study: et.Study, trial: et.Trial) -> None:
        journal.write("C" if trial.state is et.TrialState.COMPLETE else "F", trial.number, trial.value)

    study.optimize(objective, max_trials=max_trials, callbacks=[record], heartbeat_interval=5.0)
    journal.write("E", len(study.trials), time.time())


def create_same_study(url: str, name: str, barrier: Any, space_variant: int, seed: int, trials: int) -> str:
    """Create (or join) study ``name`` at the same moment as other processes, then run a few trials.

    Returns "ran", or "conflict: <message>" when another process created it with another space.
    """
    space = dict(SPACE)
    if space_variant:
        space["depth"] = et.Int(1, 128, log=True)
    barrier.wait(timeout=120)
    try:
        study = et.Study(space, direction="minimize", strategy=et.RandomSearch(seed=seed), storage=url, name=name)
    except et.StudyConflictError as error:
        return f"conflict: {error}"
    for _ in range(trials):
        trial = study.ask()
        study.tell(trial, float(trial.params["x"]))
    return "ran"


def hang_first_call(folder: str, params: dict[str, Any]) -> float:
    """The first call anywhere writes its pid to ``folder/victim.pid`` and hangs; the others score."""
    try:
        fd = os.open(os.path.join(folder, "victim.claimed"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        time.sleep(0.05)
        return float(params["x"]) ** 2
    os.close(fd)
    with open(os.path.join(folder, "victim.tmp"), "w") as handle:
        handle.write(str(os.getpid()))
    os.replace(os.path.join(folder, "victim.tmp"), os.path.join(folder, "victim.pid"))
    time.sleep(120)
    return 0.0


def race_to_create(results: Any, url: str, name: str, barrier: Any, space_variant: int, seed: int,
                   trials: int) -> None:
    """:func:`create_same_study`, reporting its outcome (or its unexpected error) on ``results``."""
    try:
        results.put((seed, create_same_study(url, name, barrier, space_variant, seed, trials)))
    except BaseException as error:  # noqa: BLE001 - the test shows it
        results.put((seed, f"error: {type(error).__name__}: {error}"))


def tune_through_restarts(url: str, name: str, journal_path: str, max_trials: int) -> None:
    """Run trials of 20 ms until the budget; exit 3 after writing the error when the storage fails."""
    journal = Journal(journal_path)
    study = et.Study(SPACE, direction="minimize", strategy=et.RandomSearch(seed=0), storage=url, name=name)

    def record(_study: et.Study, trial: et.Trial) -> None:
        journal.write("C" if trial.state is et.TrialState.COMPLETE else "F", trial.number, trial.value)

    def slow(params: dict[str, Any]) -> float:
        time.sleep(0.02)
        return objective(params)

    try:
        study.optimize(slow, max_trials=max_trials, callbacks=[record], heartbeat_interval=0.2, grace_period=2.0)
    except et.StorageError as error:
        with open(journal_path + ".error", "w", encoding="utf-8") as handle:
            handle.write(str(error))
        os._exit(3)
    journal.write("E", len(study.trials))
