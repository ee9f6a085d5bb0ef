"""Objectives and scripts shared by the execution tests (importable by worker processes)."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from pathlib import Path

import evotune as et

#: The root of the repository, so scripts run in subprocesses can import ``tests``.
ROOT = Path(__file__).resolve().parents[2]


def quadratic(params: dict) -> float:
    """Deterministic: the same params give the same value, wherever they run."""
    return sum((float(v) if not isinstance(v, str) else len(v)) ** 2 for v in params.values())


def burn(seconds: float) -> None:
    """Keep one core busy for ``seconds`` of CPU time."""
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def timed(params: dict) -> dict:
    """Sleep briefly; report when and where it ran."""
    start = time.time()
    time.sleep(0.15)
    return {"loss": quadratic(params), "start": start, "end": time.time(), "pid": float(os.getpid())}


def die_once(marker: str):
    """An objective that kills its own process (kill -9) the first time it runs."""

    def objective(params: dict) -> float:
        if not os.path.exists(marker):
            Path(marker).write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(0.02)
        return quadratic(params)

    return objective


def space() -> et.Space:
    return et.Space({"x": et.Float(-5.0, 5.0), "n": et.Int(0, 20), "act": et.Categorical(["relu", "tanh"])})


def overlap(trials: list, key: str = "pid") -> int:
    """Largest number of trials running at the same moment (from the start/end they report)."""
    events = []
    for trial in trials:
        events += [(trial.metrics["start"], 1), (trial.metrics["end"], -1)]
    level = peak = 0
    for _, step in sorted(events):
        level += step
        peak = max(peak, level)
    return peak


def run_script(folder: Path, body: str, *args: str, **popen: object):
    """Write ``body`` (dedented) to a script in ``folder`` and start it in a new process.

    The script runs as ``__main__`` from its file, with the repository on the path, like a
    user's ``python tune.py``.
    """
    import subprocess

    script = folder / f"script_{time.monotonic_ns()}.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, str(script), *args], env=env, cwd=str(folder),
                            **popen)  # type: ignore[arg-type]
