"""Helpers for the command-line tests: small scripts and config files in a temporary folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from evotune.cli import main


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own folder, with no storage chosen by the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVOTUNE_STORAGE", raising=False)


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Run ``evotune ARGS`` in this process; returns click's Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def script(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a Python script into the test folder: ``script("train.py", body)``."""

    def write(name: str, body: str) -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(body))
        return path

    return write


def toml_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(toml_string(item) for item in items) + "]"


def toml_string(text: str) -> str:
    return "'" + text + "'" if "'" not in text else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def config(tmp_path: Path) -> Callable[..., Path]:
    """Write a tune.toml: ``config(space=..., command=[...], run=..., strategy=..., study=...)``.

    ``command`` items are arguments after the Python interpreter; ``space``, ``run``,
    ``strategy`` and ``study`` are extra TOML lines of those tables.
    """

    def write(*, command: Sequence[str], space: str = "x = { type = \"int\", low = 0, high = 9 }",
              run: str = "max_trials = 3", strategy: str = "type = \"random\"\nseed = 0",
              study: str = "metric = \"score\"", name: str = "demo", file: str = "tune.toml") -> Path:
        text = "\n".join([
            "[study]", f"name = {toml_string(name)}", f"storage = {toml_string(sqlite_url(tmp_path))}", study,
            "[space]", space,
            "[strategy]", strategy,
            "[run]", f"command = {toml_list([sys.executable, *command])}", run, "",
        ])
        path = tmp_path / file
        path.write_text(text)
        return path

    return write


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'evotune.db'}"


def alive(pid: int) -> bool:
    """True when the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_until_running(argv: Sequence[str], folder: Path, n_jobs: int) -> tuple[subprocess.Popen, list[Path]]:
    """Start ``argv`` in ``folder``; return once each of its ``n_jobs`` commands wrote its
    ``running-<x>`` file (its pids), with the process and those files."""
    process = subprocess.Popen(list(argv), cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    markers = [folder / f"running-{x}" for x in range(n_jobs)]
    deadline = time.monotonic() + 40
    try:
        while not all(marker.exists() and marker.read_text() for marker in markers):
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.05)
    except BaseException:
        process.kill()
        raise
    return process, markers


def kill_survivors(markers: Sequence[Path]) -> list[int]:
    """The pids written in ``markers`` that are still alive, killed so that no test leaves them behind."""
    pids = [int(pid) for marker in markers if marker.exists() for pid in marker.read_text().split()]
    time.sleep(0.2)
    survivors = [pid for pid in pids if alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    return survivors


def interrupt(process: subprocess.Popen, markers: Sequence[Path], signals: Sequence[int]) -> tuple[str, str, float, list[int]]:
    """Send ``signals`` to ``process``, half a second apart (it must still run between them);
    return its output, the seconds from the last signal to its exit, and the commands left alive."""
    try:
        for index, signum in enumerate(signals):
            if index:
                time.sleep(0.5)
                assert process.poll() is None
            sent = time.monotonic()
            process.send_signal(signum)
        out, err = process.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        process.kill()
        survivors = kill_survivors(markers)
    return out, err, took, survivors
