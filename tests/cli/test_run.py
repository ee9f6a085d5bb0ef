"""``evotune run``: real training commands, failures, resume, Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import evotune as et
import evotune.cli.run as run_module
from evotune.storage import MemoryStorage
from tests.cli.conftest import alive, sqlite_url

SCORE = """
    import json, os, sys
    params = json.loads(os.environ["EVOTUNE_PARAMS"])
    print("training...")
    print(json.dumps({"score": params["x"] * 2.0, "loss": 1.0 / (1 + params["x"])}))
"""


def load(tmp_path: Path, name: str = "demo") -> et.Study:
    return et.Study.load(name, sqlite_url(tmp_path))


def test_run_creates_the_study_and_prints_the_leaderboard(cli, script, config, tmp_path):
    script("train.py", SCORE)
    path = config(command=["train.py"], study='metric = "score"\ndirection = "maximize"',
                  space='x = { type = "int", low = 0, high = 4 }', strategy='type = "grid"', run="max_trials = 5")
    result = cli("run", path, "--no-progress")
    assert result.exit_code == 0, result.output
    study = load(tmp_path)
    assert [t.state for t in study.trials] == [et.TrialState.COMPLETE] * 5
    assert study.best.params == {"x": 4} and study.best.metrics == {"score": 8.0, "loss": 0.2}
    assert study.trials[0].attrs["stdout_tail"].startswith("training...")
    assert "top 5" in result.stdout and "best: trial 4, score = 8: x=4" in result.stdout
    assert "stopped: strategy exhausted" in result.stdout or "stopped: max_trials reached" in result.stdout
    assert "trial 0 score=0" in result.stderr


def test_overrides_and_resume_continue_the_study(cli, script, config, tmp_path):
    script("train.py", SCORE)
    path = config(command=["train.py"], run="max_trials = 2")
    assert cli("run", path, "--quiet").exit_code == 0
    assert len(load(tmp_path).trials) == 2
    result = cli("run", path, "--max-trials", "5", "--n-jobs", "2")
    assert result.exit_code == 0, result.output
    assert "resuming with 2 trials" in result.stderr
    trials = load(tmp_path).trials
    assert len(trials) == 5 and all(t.state is et.TrialState.COMPLETE for t in trials)


def test_failures_are_recorded_and_the_study_goes_on(cli, script, config, tmp_path):
    script("train.py", """
        import json, os, sys, time
        x = json.loads(os.environ["EVOTUNE_PARAMS"])["x"]
        if x == 0:
            print("bad input", file=sys.stderr); sys.exit(3)
        if x == 1:
            time.sleep(30)
        if x == 2:
            print("loss=0.5")
        else:
            print(f"score={x}")
    """)
    path = config(command=["train.py"], space='x = { type = "int", low = 0, high = 3 }', strategy='type = "grid"',
                  run="max_trials = 4\ntimeout = 1")
    start = time.monotonic()
    result = cli("run", path, "--no-progress")
    assert time.monotonic() - start < 30
    assert result.exit_code == 0, result.output
    errors = [t.error for t in load(tmp_path).trials]
    assert errors[0].startswith("the command exited with code 3; end of stderr:\nbad input")
    assert errors[1].startswith("timed out after 1 s")
    assert errors[2] == "the command did not report the metric 'score' (it reported loss)"
    assert errors[3] is None
    assert "trial 0 FAILED" in result.stderr and "4 trials (1 complete, 3 failed)" in result.stdout


def test_exit_code_1_when_every_trial_fails(cli, script, config, tmp_path):
    script("train.py", "raise SystemExit('boom')\n")
    result = cli("run", config(command=["train.py"], run="max_trials = 2"), "--quiet")
    assert result.exit_code == 1
    assert "all 2 trials of this run failed" in result.stderr and "boom" in result.stderr
    assert "Traceback" not in result.output


def test_metrics_file_per_trial_with_parallel_trials(cli, script, config, tmp_path):
    script("train.py", """
        import json, sys
        x = int(sys.argv[1])
        json.dump({"score": x + 0.5}, open(sys.argv[2], "w"))
    """)
    path = config(command=["train.py", "{x}", "{trial_dir}/metrics.json"],
                  run="max_trials = 4\nn_jobs = 2\nmetrics_file = '{trial_dir}/metrics.json'")
    result = cli("run", path, "--quiet")
    assert result.exit_code == 0, result.output
    trials = load(tmp_path).trials
    assert len(trials) == 4
    assert all(t.value == t.params["x"] + 0.5 for t in trials)


def test_shell_metacharacters_in_categorical_values(cli, script, config, tmp_path):
    script("train.py", """
        import json, sys
        choices = ["a; touch pwned", "$(touch pwned)", "two words"]
        print(json.dumps({"score": choices.index(sys.argv[1])}))
    """)
    space = "choice = ['a; touch pwned', '$(touch pwned)', 'two words']"
    path = config(command=["train.py", "{choice}"], space=space, strategy='type = "grid"', run="max_trials = 3")
    result = cli("run", path, "--quiet")
    assert result.exit_code == 0, result.output
    trials = load(tmp_path).trials
    assert sorted(t.value for t in trials) == [0.0, 1.0, 2.0]
    assert not (tmp_path / "pwned").exists()


def test_bad_config_exits_2_and_writes_nothing(cli, script, config, tmp_path):
    path = config(command=["train.py"], space='x = { type = "float", low = 0.1, high = 0.01 }')
    result = cli("run", path)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {path}: [space.x]: low must be < high, got low=0.1 high=0.01"
    assert not (tmp_path / "evotune.db").exists()


def test_bad_options_exit_2(cli, script, config, tmp_path):
    path = config(command=["train.py"])
    assert cli("run", path, "--n-jobs", "0").exit_code == 2
    assert cli("run", path, "--max-trials", "-1").exit_code == 2
    assert cli("run", tmp_path / "missing.toml").exit_code == 2
    assert not (tmp_path / "evotune.db").exists()


def test_a_changed_space_is_refused_with_exit_2(cli, script, config, tmp_path):
    script("train.py", SCORE)
    assert cli("run", config(command=["train.py"], run="max_trials = 1"), "-q").exit_code == 0
    result = cli("run", config(command=["train.py"], space='x = { type = "int", low = 0, high = 5 }'), "-q")
    assert result.exit_code == 2 and "already exists" in result.stderr and "different space" in result.stderr


def test_a_dry_run_refuses_what_the_run_would_refuse(cli, script, config, tmp_path):
    script("train.py", SCORE)
    assert cli("run", config(command=["train.py"], run="max_trials = 1"), "-q").exit_code == 0
    turned = cli("run", config(command=["train.py"], study='metric = "score"\ndirection = "maximize"'), "--dry-run")
    assert turned.exit_code == 2 and "has direction='minimize'" in turned.stderr
    moved = cli("run", config(command=["train.py"], space='x = { type = "int", low = 0, high = 5 }'), "--dry-run")
    assert moved.exit_code == 2 and "has another space" in moved.stderr
    assert cli("run", config(command=["train.py"]), "--dry-run").exit_code == 0


def test_dry_run_shows_the_command_and_runs_nothing(cli, config, tmp_path):
    result = cli("run", config(command=["train.py", "--x", "{x}"]), "--dry-run")
    assert result.exit_code == 0
    assert "train.py --x" in result.stdout
    assert not (tmp_path / "evotune.db").exists()


def test_dry_run_shows_the_strategy_the_run_would_use(cli, script, config, tmp_path):
    path = config(command=["train.py"], strategy="")
    path.write_text(path.read_text().replace("[strategy]\n\n", ""))  # no [strategy] table
    result = cli("run", path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert f"strategy: {et.strategies.default_strategy().name} (the default, for a new study)\n" in result.stdout
    assert not (tmp_path / "evotune.db").exists()

    et.Study({"x": et.Int(0, 9)}, metric="score", storage=sqlite_url(tmp_path), name="demo",
             strategy=et.RandomSearch(seed=0))
    result = cli("run", path, "--dry-run")
    assert "strategy: {'type': 'random', 'seed': 0} (stored with the study)\n" in result.stdout, result.output



def test_dry_run_refuses_a_storage_the_run_would_refuse(cli, script, config, tmp_path):
    path = config(command=["train.py"])
    (tmp_path / "other.db").write_text("not a database")
    bad_file = f"sqlite:///{tmp_path / 'other.db'}"
    cases = [
        (["--storage", bad_file], f"--storage {bad_file!r}: "),
        (["--storage", "nm.db"], "--storage 'nm.db': storage URL 'nm.db' is not supported"),
        (["--storage", f"sqlite:///{tmp_path / 'nodir' / 'x.db'}"], "does not exist; the run would stop there"),
    ]
    for options, message in cases:
        dry = cli("run", path, "--dry-run", *options)
        assert dry.exit_code == 1 and message in dry.stderr, dry.output
        assert cli("run", path, "-q", "--no-progress", *options).exit_code == 1  # as the run itself
    path.write_text(path.read_text().replace(f"sqlite:///{tmp_path / 'evotune.db'}", "nm.db"))
    from_file = cli("run", path, "--dry-run")
    assert from_file.exit_code == 1 and f"{path}: [study] storage 'nm.db': " in from_file.stderr, from_file.output
    assert not (tmp_path / "nodir").exists()


BLOCKING = """
        import json, os, subprocess, sys, time
        x = json.loads(os.environ["EVOTUNE_PARAMS"])["x"]
        if x == 1 and os.path.exists("block"):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            open("running", "w").write(f"{os.getpid()} {child.pid}")
            time.sleep(60)
        print(json.dumps({"score": float(x)}))
"""


def start_blocked_run(script, config, tmp_path: Path, run: str = "max_trials = 4") -> tuple[subprocess.Popen, list]:
    """Start `evotune run` in a subprocess and wait until trial x=1 runs (and blocks)."""
    script("train.py", BLOCKING)
    (tmp_path / "block").touch()
    path = config(command=["train.py"], space='x = { type = "int", low = 0, high = 3 }', strategy='type = "grid"',
                  run=run)
    command = [sys.executable, "-c", "from evotune.cli import main; main()", "run", str(path), "--no-progress"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 40
    while not (tmp_path / "running").exists():
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    return process, command


def test_ctrl_c_stops_the_command_and_the_study_resumes(script, config, tmp_path):
    process, command = start_blocked_run(script, config, tmp_path)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err
    pids = [int(p) for p in (tmp_path / "running").read_text().split()]
    time.sleep(0.2)
    assert not any(alive(pid) for pid in pids)
    trials = load(tmp_path).trials
    assert [(t.params["x"], t.state.value, t.error) for t in trials] == [
        (0, "COMPLETE", None), (1, "FAILED", "interrupted")]

    (tmp_path / "block").unlink()
    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert "1 interrupted trial(s) queued again" in rerun.stderr
    trials = load(tmp_path).trials
    complete = sorted(t.params["x"] for t in trials if t.state is et.TrialState.COMPLETE)
    assert complete == [0, 1, 2, 3]
    assert trials[1].state is et.TrialState.FAILED and trials[2].attrs.get("retry_of") == 1


def test_sigterm_with_parallel_trials_stops_like_ctrl_c(script, config, tmp_path):
    process, _ = start_blocked_run(script, config, tmp_path, run="max_trials = 4\nn_jobs = 2")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, (out, err)
    pids = [int(p) for p in (tmp_path / "running").read_text().split()]
    time.sleep(0.2)
    assert not any(alive(pid) for pid in pids)
    trials = load(tmp_path).trials
    assert 1 in [t.params["x"] for t in trials if t.error == "interrupted"]
    assert all(t.state.finished for t in trials)  # the other running trial too, when there was one


@pytest.mark.parametrize("strategy", ["evolution", "random"])
def test_strategies_from_the_config(cli, script, config, tmp_path, strategy):
    if strategy not in et.strategies.STRATEGIES:
        pytest.skip(f"no {strategy} strategy")
    script("train.py", SCORE)
    path = config(command=["train.py"], strategy=f'type = "{strategy}"\nseed = 3', run="max_trials = 4")
    assert cli("run", path, "-q").exit_code == 0
    study = load(tmp_path)
    assert study.strategy.name == strategy and study.strategy.seed == 3
    assert json.loads(json.dumps(study.strategy.to_config()))["type"] == strategy


SECRET_URL = "postgresql://tuner:s3cret@db.example/studies"


def test_dry_run_hides_the_storage_password(cli, config, monkeypatch):
    monkeypatch.setattr(run_module, "open_existing", lambda url: None)  # no server: a new study
    result = cli("run", config(command=["train.py"]), "--dry-run", "--storage", SECRET_URL)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert "study 'demo' in postgresql://tuner:***@db.example/studies: minimize score" in result.stdout


def test_run_hides_the_storage_password(cli, script, config, monkeypatch):
    script("train.py", SCORE)
    real = run_module.Study
    monkeypatch.setattr(run_module, "Study", lambda *args, storage, **kwargs: real(*args, **kwargs))  # memory
    result = cli("run", config(command=["train.py"], run="max_trials = 1"), "--storage", SECRET_URL, "-q")
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert "study 'demo' in postgresql://tuner:***@db.example/studies: new study" in result.stderr


def test_grid_size_hides_the_storage_password(cli, config, monkeypatch):
    storage = MemoryStorage()
    et.Study({"x": et.Int(0, 1)}, storage=storage, name="demo")  # another space than the file's
    monkeypatch.setattr(run_module, "open_existing", lambda url: storage if url == SECRET_URL else None)
    result = cli("grid-size", config(command=["train.py"]), "--storage", SECRET_URL)
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert "study 'demo' in postgresql://tuner:***@db.example/studies has another space" in result.stdout


def test_several_metrics_without_a_study_metric_stop_at_the_first_trial(cli, script, config, tmp_path):
    script("train.py", SCORE)  # prints score and loss
    path = config(command=["train.py"], study="", run="max_trials = 20\ntime_budget = 60")
    result = cli("run", path, "-q", "--no-progress")
    assert result.exit_code == 2
    assert result.stderr.endswith(
        'Error: the command reported several metrics (loss, score) and the study names none to optimize: '
        f'add metric = "loss" (or another of them) under [study] in {path}; the run stopped after trial 0\n')
    assert "Study(metric=" not in result.output
    trials = load(tmp_path).trials
    assert len(trials) == 1 and trials[0].state is et.TrialState.FAILED


def interrupt_one_trial(tmp_path: Path) -> None:
    """Record a trial as Ctrl-C leaves it: FAILED, "interrupted"."""
    study = load(tmp_path)
    study.tell(study.ask(), error="interrupted")


def test_a_used_budget_leaves_an_interrupted_trial_alone(cli, script, config, tmp_path):
    script("train.py", SCORE)
    path = config(command=["train.py"], run="max_trials = 1")
    assert cli("run", path, "-q").exit_code == 0
    interrupt_one_trial(tmp_path)
    result = cli("run", path, "-q")
    assert result.exit_code == 0, result.output
    assert "queued again" not in result.stderr
    assert "the study already has max_trials=1 trials" in result.stderr
    assert [t.state for t in load(tmp_path).trials] == [et.TrialState.COMPLETE, et.TrialState.FAILED]
    target = cli("run", path, "-q", "--max-trials", "5", "--target", "1e9")  # reached already: nothing runs
    assert target.exit_code == 0 and "stopped: target reached" in target.stdout
    assert len(load(tmp_path).trials) == 2

    more = cli("run", path, "-q", "--max-trials", "3")  # room again: the interrupted trial runs first
    assert more.exit_code == 0, more.output
    assert "1 interrupted trial(s) queued again" in more.stderr
    trials = load(tmp_path).trials
    assert trials[2].attrs["retry_of"] == 1 and trials[2].params == trials[1].params
    assert all(t.state is not et.TrialState.WAITING for t in trials)
    assert len(trials) == 4  # the retry stands in for the interrupted trial


def test_an_interrupted_trial_is_queued_again_when_the_budget_allows_exactly_it(cli, script, config, tmp_path):
    script("train.py", SCORE)
    path = config(command=["train.py"], run="max_trials = 2")
    assert cli("run", path, "-q", "--max-trials", "1").exit_code == 0
    interrupt_one_trial(tmp_path)  # 2 trials started: the budget of 2 is used, but by the interrupted one
    result = cli("run", path, "-q")
    assert result.exit_code == 0, result.output
    assert "1 interrupted trial(s) queued again" in result.stderr
    trials = load(tmp_path).trials
    assert len(trials) == 3 and trials[2].attrs["retry_of"] == 1
    assert trials[2].state is et.TrialState.COMPLETE
