"""``evotune worker --config``: the file's [run] table applies as it does for ``evotune run``."""

from __future__ import annotations

from pathlib import Path

import evotune as et
import evotune.cli.worker as worker_module
from tests.cli.conftest import sqlite_url

SCORE = """
    import json, os
    x = json.loads(os.environ["EVOTUNE_PARAMS"])["x"]
    print(json.dumps({"score": float(x), "loss": 1.0}))
"""


def load(tmp_path: Path, name: str = "demo") -> et.Study:
    return et.Study.load(name, sqlite_url(tmp_path))


def test_a_shared_metrics_file_with_several_jobs_is_refused_as_by_run(cli, script, config, tmp_path):
    script("train.py", "import json; json.dump({'score': 1.0}, open('metrics.json', 'w'))\n")
    path = config(command=["train.py"], run="max_trials = 4\nmetrics_file = 'metrics.json'")
    refused = cli("run", path, "-j", "2", "--dry-run")
    assert refused.exit_code == 2
    result = cli("worker", "--config", path, "-j", "2", "-q", "--no-progress")
    assert result.exit_code == 2
    assert result.stderr == refused.stderr
    assert "metrics_file 'metrics.json' would be written by 2 trials at once" in result.stderr
    assert not (tmp_path / "evotune.db").exists()


def test_the_files_max_trials_is_the_default_budget(cli, script, config, tmp_path):
    script("train.py", SCORE)
    path = config(command=["train.py"], run="max_trials = 3")
    result = cli("worker", "--config", path, "-q", "--no-progress", "--time-budget", "60")
    assert result.exit_code == 0, result.output
    assert "budget 3" in result.stderr and "stopped: max_trials reached" in result.stdout
    assert len(load(tmp_path).trials) == 3
    more = cli("worker", "--config", path, "-q", "--no-progress", "-n", "5")  # the option wins
    assert more.exit_code == 0, more.output
    assert len(load(tmp_path).trials) == 5


def test_the_files_stopping_criteria_apply(cli, script, config, tmp_path):
    script("train.py", "raise SystemExit('boom')\n")
    path = config(command=["train.py"], run="max_failures = 2")
    result = cli("worker", "--config", path, "-q", "--no-progress", "--time-budget", "60")
    assert "stopped: max_failures reached" in result.stdout, result.output
    assert len(load(tmp_path).trials) == 2
    again = cli("worker", "--config", path, "-q", "--no-progress", "--max-failures", "1")  # the option wins
    assert "stopped: max_failures reached" in again.stdout, again.output
    assert len(load(tmp_path).trials) == 3

    script("train.py", SCORE)  # minimize score: 0 reaches the target
    target = config(command=["train.py"], name="target", strategy='type = "grid"',
                    run="target = 0\nmax_trials = 10")
    result = cli("worker", "--config", target, "-q", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "stopped: target reached" in result.stdout
    assert [t.value for t in load(tmp_path, "target").trials] == [0.0]


def test_a_worker_whose_trials_all_fail_exits_1_as_run_does(cli, script, config, tmp_path):
    script("train.py", "raise SystemExit('boom')\n")
    path = config(command=["train.py"], run="max_trials = 2")
    result = cli("worker", "--config", path, "-q", "--no-progress")
    assert result.exit_code == 1, result.output
    assert "all 2 trials of this run failed" in result.stderr and "boom" in result.stderr
    assert "ran 2 trials (0 complete, 2 failed)" in result.stdout  # the summary still comes first
    script("train.py", SCORE)
    fine = cli("worker", "--config", path, "-q", "--no-progress", "-n", "3")
    assert fine.exit_code == 0, fine.output


def test_the_files_n_jobs_runs_trials_at_the_same_time(cli, script, config, tmp_path):
    script("train.py", """
        import json, os, time
        x = json.loads(os.environ["EVOTUNE_PARAMS"])["x"]
        open(f"started-{x}", "w").close()
        deadline = time.monotonic() + 5
        while len([f for f in os.listdir(".") if f.startswith("started-")]) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        together = len([f for f in os.listdir(".") if f.startswith("started-")]) >= 2
        print(json.dumps({"score": 1.0 if together else 0.0}))
    """)
    path = config(command=["train.py"], space='x = { type = "int", low = 0, high = 1 }', strategy='type = "grid"',
                  run="n_jobs = 2")
    result = cli("worker", "--config", path, "-q", "--no-progress")
    assert result.exit_code == 0, result.output
    assert [t.value for t in load(tmp_path).trials] == [1.0, 1.0]


def test_worker_hides_the_storage_password(cli, script, config, monkeypatch):
    script("train.py", SCORE)
    real = worker_module.Study
    monkeypatch.setattr(worker_module, "Study", lambda *args, storage, **kwargs: real(*args, **kwargs))  # memory
    url = "postgresql://tuner:s3cret@db.example/studies"
    result = cli("worker", "--config", config(command=["train.py"]), "--storage", url, "-n", "1", "-q",
                 "--no-progress")
    assert result.exit_code == 0, result.output
    assert "s3cret" not in result.output
    assert "on study 'demo' in postgresql://tuner:***@db.example/studies: 0 trials so far" in result.stderr


def test_several_metrics_without_a_study_metric_stop_the_worker(cli, script, config, tmp_path):
    script("train.py", SCORE)
    path = config(command=["train.py"], study="", run="max_trials = 20")
    result = cli("worker", "--config", path, "-q", "--no-progress")
    assert result.exit_code == 2
    assert f'add metric = "loss" (or another of them) under [study] in {path}' in result.stderr
    trials = load(tmp_path).trials
    assert len(trials) == 1 and "several metrics (loss, score)" in trials[0].error
    assert trials[0].attrs["exit_code"] == 0


def test_worker_picks_the_database_run_picks_for_the_same_file(cli, script, config, tmp_path, monkeypatch):
    """--storage, then the file's [study] storage, then EVOTUNE_STORAGE, then the default: as `evotune run`."""
    script("train.py", SCORE)
    path = config(command=["train.py"], run="max_trials = 1")  # [study] storage: tmp_path/evotune.db
    elsewhere = f"sqlite:///{tmp_path / 'from_env.db'}"
    monkeypatch.setenv("EVOTUNE_STORAGE", elsewhere)
    assert cli("run", path, "-q", "--no-progress").exit_code == 0
    result = cli("worker", "--config", path, "-q", "--no-progress", "-n", "2")
    assert result.exit_code == 0, result.output
    assert f"in {sqlite_url(tmp_path)}: 1 trials so far" in result.stderr
    assert len(load(tmp_path).trials) == 2  # one study, continued by the worker
    assert not (tmp_path / "from_env.db").exists()

    option = f"sqlite:///{tmp_path / 'from_option.db'}"  # --storage wins over the file
    assert cli("worker", "--config", path, "--storage", option, "-q", "--no-progress").exit_code == 0
    assert len(et.Study.load("demo", option).trials) == 1

    # without a file, EVOTUNE_STORAGE names the study's database
    et.Study({"x": et.Int(0, 9)}, storage=elsewhere, name="python", metric="score")
    script("objective.py", "def objective(params):\n    return float(params['x'])\n")
    result = cli("worker", "python", "--objective", "objective.py:objective", "-n", "1", "-q", "--no-progress")
    assert result.exit_code == 0, result.output
    assert len(et.Study.load("python", elsewhere).trials) == 1


def test_a_worker_queues_the_trials_an_interrupt_cut_short_again(cli, script, config, tmp_path):
    script("train.py", SCORE)
    path = config(command=["train.py"], run="max_trials = 3", strategy='type = "grid"')
    first = cli("worker", "--config", path, "-q", "--no-progress", "-n", "1")
    assert first.exit_code == 0, first.output
    study = load(tmp_path)
    cut_short = study.ask()  # what Ctrl-C leaves behind: the second grid cell, FAILED "interrupted"
    study.tell(cut_short, error="interrupted")
    result = cli("worker", "--config", path, "-q", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "1 interrupted trial(s) queued again" in result.stderr
    trials = load(tmp_path).trials
    retry = next(t for t in trials if t.attrs.get("retry_of") == cut_short.number)
    assert retry.state is et.TrialState.COMPLETE and retry.params == cut_short.params
    assert sum(t.state is et.TrialState.COMPLETE for t in trials) == 3  # the retry stands in for the lost trial
