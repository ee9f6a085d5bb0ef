"""``evotune run`` with a command that cannot work: it says why once, instead of failing every trial."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import evotune as et
from evotune.cli.config import load_config
from evotune.exceptions import ConfigError
from tests.cli.conftest import sqlite_url


def tune(tmp_path: Path, command: list[str], run: str = "max_trials = 5") -> Path:
    path = tmp_path / "tune.toml"
    path.write_text("\n".join([
        "[study]", 'name = "demo"', f"storage = {json.dumps(sqlite_url(tmp_path))}", 'metric = "loss"',
        "[space]", 'x = { type = "float", low = 0, high = 1 }',
        "[strategy]", 'type = "random"', "seed = 0",
        "[run]", f"command = {json.dumps(command)}", run, "",
    ]))
    return path


def test_a_command_that_cannot_start_stops_the_run_at_its_first_trial(cli, tmp_path):
    path = tune(tmp_path, ["no-such-program-anywhere", "{x}"], run="")  # no max_trials: it would never end
    result = cli("run", path, "-q", "--no-progress")
    assert result.exit_code == 2
    assert "cannot start the command 'no-such-program-anywhere'" in result.stderr
    assert "the run stopped after trial 0" in result.stderr
    assert len(et.Study.load("demo", sqlite_url(tmp_path)).trials) == 1


def test_a_dry_run_says_the_program_is_not_found(cli, tmp_path):
    (tmp_path / "train.sh").write_text("#!/bin/sh\necho loss=1\n")
    (tmp_path / "train.sh").chmod(0o755)
    result = cli("run", tune(tmp_path, ["train.sh", "{x}"]), "--dry-run")
    assert result.exit_code == 2
    assert "the program 'train.sh' is not found on PATH" in result.stderr
    assert "for the one in the working folder write ./train.sh" in result.stderr
    assert cli("run", tune(tmp_path, ["./train.sh", "{x}"]), "--dry-run").exit_code == 0


def test_metrics_printed_count_when_the_metrics_file_is_not_written(cli, tmp_path):
    command = [sys.executable, "-c", "print('loss={x}')"]
    result = cli("run", tune(tmp_path, command, run="max_trials = 2\nmetrics_file = 'metrics.json'"), "-q",
                 "--no-progress")
    assert result.exit_code == 0, result.output
    trials = et.Study.load("demo", sqlite_url(tmp_path)).trials
    assert [t.value for t in trials] == [pytest.approx(t.params["x"]) for t in trials]


def test_a_metrics_file_that_is_a_folder_fails_the_trial_with_a_message(cli, tmp_path):
    command = [sys.executable, "-c", "print('loss={x}')"]
    result = cli("run", tune(tmp_path, command, run="max_trials = 1\nmetrics_file = '{trial_dir}'"), "-q",
                 "--no-progress")
    assert "is a folder; name a file in it" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("run, message", [
    ('env = { "A=B" = "1" }', "env name 'A=B' is not a valid environment variable name"),
])
def test_run_settings_that_cannot_work_are_refused(tmp_path, run, message):
    with pytest.raises(ConfigError, match=message):
        load_config(tune(tmp_path, [sys.executable, "train.py"], run=run))


def test_an_empty_program_and_literal_braces_get_advice(tmp_path):
    with pytest.raises(ConfigError, match="command\\[0\\] must name a program"):
        load_config(tune(tmp_path, ["", "{x}"]))
    with pytest.raises(ConfigError, match="for literal braces .* write \\{\\{ and \\}\\}"):
        load_config(tune(tmp_path, [sys.executable, "-c", 'import json; print(json.dumps({"loss": {x}}))']))


def test_a_dry_run_looks_the_program_up_on_the_path_the_command_gets(cli, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "mytool").write_text("#!/bin/sh\necho loss=1\n")
    (tools / "mytool").chmod(0o755)
    path = tune(tmp_path, ["mytool", "{x}"], run=f"env = {{ PATH = {json.dumps(str(tools))} }}")
    assert cli("run", path, "--dry-run").exit_code == 0
