"""Fresh Python processes on one SQLite file: resume after a clean stop, a kill or Ctrl-C; sharing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import evotune as et

SOURCE = str(Path(et.__file__).resolve().parent.parent)

SPACE_CODE = """
import json, os, sys, time
import evotune as et
SPACE = {"x": et.Float(-3.0, 3.0), "n": et.Int(1, 5), "act": et.Categorical(["relu", "tanh"])}
GRID = {"n": et.Int(1, 4), "d": et.Float(0.0, 0.2, step=0.1)}
def objective(p):
    return (p["x"] - 1) ** 2 + p["n"]
def dump(study):
    print(json.dumps([[t.number, t.state.value, t.params, t.value, t.error] for t in study.trials]))
"""


def run_python(code: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``code`` (after the shared definitions) in a new interpreter."""
    env = {**os.environ, "PYTHONPATH": SOURCE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-c", SPACE_CODE + textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def trials_of(result: subprocess.CompletedProcess) -> list[list]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def space():
    return {"x": et.Float(-3.0, 3.0), "n": et.Int(1, 5), "act": et.Categorical(["relu", "tanh"])}


def objective(p):
    return (p["x"] - 1) ** 2 + p["n"]


def test_random_study_resumes_in_a_fresh_process_with_the_same_sequence(tmp_path):
    url = f"sqlite:///{tmp_path / 'evotune.db'}"
    first = et.Study(space(), strategy=et.RandomSearch(seed=3), storage=url, name="mlp")
    first.optimize(objective, max_trials=6)
    before = [(t.number, t.params, t.value) for t in first.trials]

    result = run_python(f"""
        study = et.Study(SPACE, storage={url!r}, name="mlp")   # no strategy: the stored one, seed included
        assert study.strategy == et.RandomSearch(seed=3), study.strategy
        study.optimize(objective, max_trials=15)
        assert study.stop_reason == "max_trials reached", study.stop_reason
        dump(study)
    """, tmp_path)
    trials = trials_of(result)
    assert [t[0] for t in trials] == list(range(15))
    assert [(t[0], t[2], t[3]) for t in trials[:6]] == before  # earlier trials untouched
    assert all(t[1] == "COMPLETE" for t in trials)

    uninterrupted = et.Study(space(), strategy=et.RandomSearch(seed=3))
    uninterrupted.optimize(objective, max_trials=15)
    assert [t[2] for t in trials] == [t.params for t in uninterrupted.trials]  # same seed, same sequence
    assert first.best.value == min(t[3] for t in trials)  # this process sees the other's trials


def test_grid_resumes_in_a_fresh_process_and_skips_done_cells(tmp_path):
    url = f"sqlite:///{tmp_path / 'grid.db'}"
    result = run_python(f"""
        study = et.Study(GRID, strategy=et.GridSearch(), storage={url!r}, name="grid")
        study.enqueue({{"n": 4, "d": 0.2}})      # the last cell, queued by hand
        study.optimize(lambda p: p["n"] + p["d"], max_trials=5)
        dump(study)
    """, tmp_path)
    assert len(trials_of(result)) == 5

    resumed = et.Study.load("grid", url)
    assert resumed.strategy == et.GridSearch(seed=resumed.strategy.seed)
    resumed.optimize(lambda p: p["n"] + p["d"])
    cells = [(t.params["n"], t.params["d"]) for t in resumed.trials]
    assert resumed.stop_reason == "strategy exhausted"
    assert len(cells) == 12 and len(set(cells)) == 12  # every cell once, the queued one included
    assert cells[0] == (4, 0.2)
    assert cells[1:] == [(n, d) for n in range(1, 5) for d in (0.0, 0.1, 0.2)][:-1]  # row-major order


def test_a_killed_process_loses_only_its_running_trial(tmp_path):
    url = f"sqlite:///{tmp_path / 'killed.db'}"
    result = run_python(f"""
        study = et.Study(SPACE, strategy=et.RandomSearch(seed=1), storage={url!r}, name="k")
        def dies(p):
            if len(study.trials) == 5:
                os._exit(9)   # no cleanup at all, like kill -9
            return objective(p)
        study.optimize(dies, max_trials=10)
    """, tmp_path)
    assert result.returncode == 9, result.stderr
    study = et.Study.load("k", url)
    assert [t.state.value for t in study.trials] == ["COMPLETE"] * 4 + ["RUNNING"]
    time.sleep(0.6)  # the dead process's trial is now older than the grace period
    study.optimize(objective, max_trials=10, heartbeat_interval=0.25, grace_period=0.5)
    trials = study.trials
    assert [t.state.value for t in trials] == ["COMPLETE"] * 4 + ["FAILED"] + ["COMPLETE"] * 5
    assert trials[4].error == "worker lost"


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT")
def test_ctrl_c_in_a_fresh_process_then_rerun_resumes(tmp_path):
    url = f"sqlite:///{tmp_path / 'ctrlc.db'}"
    code = SPACE_CODE + textwrap.dedent(f"""
        study = et.Study(SPACE, strategy=et.RandomSearch(seed=2), storage={url!r}, name="c")
        def slow(p):
            print("started", flush=True)
            if len(study.trials) == 4:
                time.sleep(30)   # the user presses Ctrl-C during this one
            return objective(p)
        study.optimize(slow, max_trials=10)
    """)
    env = {**os.environ, "PYTHONPATH": SOURCE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    process = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(4):
            assert process.stdout.readline().strip() == "started"
        time.sleep(0.2)  # inside the sleeping objective
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        process.kill()
    assert "KeyboardInterrupt" in stderr
    study = et.Study.load("c", url)
    assert [t.state.value for t in study.trials] == ["COMPLETE"] * 3 + ["FAILED"]
    assert study.trials[3].error == "interrupted"

    result = run_python(f"""
        study = et.Study(SPACE, storage={url!r}, name="c")
        study.optimize(objective, max_trials=10)
        dump(study)
    """, tmp_path)
    trials = trials_of(result)
    assert [t[1] for t in trials] == ["COMPLETE"] * 3 + ["FAILED"] + ["COMPLETE"] * 6


def test_two_processes_share_one_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    et.Study({"n": et.Int(0, 29)}, strategy=et.GridSearch(), storage=url, name="shared")
    code = SPACE_CODE + textwrap.dedent(f"""
        study = et.Study({{"n": et.Int(0, 29)}}, strategy=et.GridSearch(), storage={url!r}, name="shared")
        open(f"ready-{{os.getpid()}}", "w").close()
        deadline = time.monotonic() + 30
        while len([f for f in os.listdir(".") if f.startswith("ready-")]) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)   # start together, so that both really share the work
        study.optimize(lambda p: time.sleep(0.02) or p["n"], max_trials=30)
        print(study.stop_reason)
    """)
    env = {**os.environ, "PYTHONPATH": SOURCE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    workers = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [w.communicate(timeout=60) for w in workers]
    for worker, (out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0 and "locked" not in err, err
        assert out.strip() in ("max_trials reached", "strategy exhausted"), out
    trials = et.Study.load("shared", url).trials
    assert [t.number for t in trials] == list(range(30))
    assert sorted(t.params["n"] for t in trials) == list(range(30))  # every cell once, across both
    assert all(t.state is et.TrialState.COMPLETE for t in trials)
    assert len({t.attrs["worker"] for t in trials}) == 2  # both processes ran trials


def test_an_unseeded_strategy_given_on_resume_keeps_the_stored_seed(tmp_path):
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    first = et.Study({"x": et.Float(0, 1)}, strategy=et.RandomSearch(), storage=url, name="s")
    again = et.Study({"x": et.Float(0, 1)}, strategy=et.RandomSearch(), storage=url, name="s")
    assert again.strategy.seed == first.strategy.seed
    reseeded = et.Study({"x": et.Float(0, 1)}, strategy=et.RandomSearch(seed=first.strategy.seed + 1),
                        storage=url, name="s")
    assert reseeded.strategy.seed == first.strategy.seed + 1
