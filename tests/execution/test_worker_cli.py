"""``evotune worker``: several worker commands share one study through its storage."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import evotune as et
from evotune.cli import main
from evotune.cli.worker import import_objective

TRAIN = """
    import time

    def objective(params):
        time.sleep(0.02)
        return (params["x"] - 1.0) ** 2

    not_callable = 3
"""


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "train.py").write_text(textwrap.dedent(TRAIN))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVOTUNE_STORAGE", raising=False)
    sys.modules.pop("train", None)
    yield tmp_path
    sys.modules.pop("train", None)


def _entry(folder: Path, *args: str) -> subprocess.Popen:
    code = "import sys; from evotune.cli import main; sys.argv[0] = 'evotune'; main()"
    return subprocess.Popen([sys.executable, "-c", code, "worker", *args], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_workers_share_the_budget(folder, sql_url):
    et.Study({"x": et.Float(-3.0, 3.0)}, storage=sql_url, name="shared", strategy=et.RandomSearch(seed=0))
    workers = [_entry(folder, "shared", "--objective", "train:objective", "--storage", sql_url, "-n", "40")
               for _ in range(2)]
    outputs = [w.communicate(timeout=120) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trials = et.Study.load("shared", sql_url).trials
    assert [t.number for t in trials] == list(range(40))
    assert all(t.state is et.TrialState.COMPLETE for t in trials)
    assert all(t.value == pytest.approx((t.params["x"] - 1.0) ** 2) for t in trials)
    ran = [int(out.split("ran ")[1].split(" trials")[0]) for out, _ in outputs]
    assert sum(ran) == 40, outputs
    assert all("study 'shared' has 40 trials; stopped: max_trials reached" in out for out, _ in outputs)
    assert "trial " in outputs[0][1] and "worker " in outputs[0][1]


def test_objective_from_a_file_with_processes(folder, sqlite_url):
    et.Study({"x": et.Float(-3.0, 3.0)}, storage=sqlite_url, name="s", strategy=et.RandomSearch(seed=1))
    result = CliRunner().invoke(main, ["worker", "s", "--objective", str(folder / "train.py") + ":objective",
                                       "--storage", sqlite_url, "-n", "6", "-j", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    trials = et.Study.load("s", sqlite_url).trials
    assert len(trials) == 6 and all(t.state is et.TrialState.COMPLETE for t in trials)
    assert all(not t.attrs["executed_by"].endswith(f":{os.getpid()}") for t in trials)


def test_worker_runs_the_command_of_a_config_file(folder, sqlite_url):
    (folder / "tune.toml").write_text(textwrap.dedent(f"""
        [study]
        name = "cmd"
        storage = "{sqlite_url}"
        metric = "score"
        [space]
        x = {{ type = "int", low = 0, high = 9 }}
        [strategy]
        type = "grid"
        [run]
        command = ["{sys.executable}", "-c", "print('score={{x}}')"]
    """))
    result = CliRunner().invoke(main, ["worker", "--config", "tune.toml", "-j", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    trials = et.Study.load("cmd", sqlite_url).trials
    assert sorted(t.value for t in trials) == list(range(10))
    assert "stopped: strategy exhausted" in result.output


def test_worker_stops_at_its_patience_target_and_max_failures(folder, sqlite_url):
    (folder / "flaky.py").write_text("def objective(params):\n    raise ValueError('diverged')\n")
    grid = et.Study({"x": et.Int(0, 9)}, storage=sqlite_url, name="g", strategy=et.GridSearch())

    def work(*options: str, objective: str = "train:objective", exit_code: int = 0) -> str:
        result = CliRunner().invoke(main, ["worker", "g", "--objective", objective, "--storage", sqlite_url,
                                           "-q", "--no-progress", *options])
        assert result.exit_code == exit_code, result.output
        return result.output

    # every trial of that run failed: exit 1, as `evotune run` does
    assert "stopped: max_failures reached" in work("--max-failures", "2", objective="flaky:objective", exit_code=1)
    assert len(grid.trials) == 2
    assert "stopped: target reached" in work("--target", "1.0")  # the grid reaches (x - 1)^2 = 1 at x = 2
    assert [t.params["x"] for t in grid.trials] == [0, 1, 2]
    assert "stopped: patience exhausted" in work("--patience", "3")  # x = 3, 4, 5 only get worse
    assert len(grid.trials) == 6


@pytest.mark.parametrize("args, message", [
    (["nope", "--objective", "train:objective"], "no study named 'nope'"),
    (["s", "--objective", "train"], "--objective must look like module:function"),
    (["s", "--objective", "missing_module:f"], "cannot import 'missing_module'"),
    (["s", "--objective", "train:absent"], "'train' has no attribute 'absent'"),
    (["s", "--objective", "train:not_callable"], "'not_callable' is not callable"),
    (["s", "--objective", "./nowhere.py:f"], "does not exist"),
    (["s"], "exactly one of --objective"),
    (["--objective", "train:objective"], "give the study NAME"),
])
def test_bad_worker_arguments_exit_2_with_a_message(folder, sqlite_url, args, message):
    et.Study({"x": et.Float(-3.0, 3.0)}, storage=sqlite_url, name="s")
    result = CliRunner().invoke(main, ["worker", *args, "--storage", sqlite_url])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert et.Study.load("s", sqlite_url).trials == []


def test_import_objective_finds_a_module_in_the_current_folder(folder):
    objective = import_objective("train:objective")
    assert objective({"x": 1.0}) == 0.0


def test_sigterm_stops_a_worker_and_marks_its_trial(folder, sqlite_url):
    (folder / "slow.py").write_text("import time\ndef objective(params):\n    time.sleep(60)\n")
    et.Study({"x": et.Float(-3.0, 3.0)}, storage=sqlite_url, name="s")
    worker = _entry(folder, "s", "--objective", "slow:objective", "--storage", sqlite_url, "-n", "5")
    deadline = time.monotonic() + 60
    while not et.Study.load("s", sqlite_url).trials:
        assert time.monotonic() < deadline and worker.poll() is None
        time.sleep(0.05)
    worker.terminate()
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 130, err
    trial = et.Study.load("s", sqlite_url).trials[0]
    assert trial.state is et.TrialState.FAILED and trial.error == "interrupted"
