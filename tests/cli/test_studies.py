"""Looking at studies (studies, trials, trial, best, export, delete) and manual experiments
(add, enqueue, suggest, tell, grid-size), through click's test runner."""

from __future__ import annotations

import csv
import io
import json
import sys

import click
import pytest

import evotune as et
from evotune.cli import main
from evotune.strategies import Proposal
from tests.cli.conftest import sqlite_url

SPACE = {
    "lr": et.Float(1e-4, 1e-1, log=True),
    "layers": et.Int(1, 4),
    "act": et.Categorical(["relu", "tanh", "a b; $(x)", 3, True]),
}


@pytest.fixture
def url(tmp_path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
def study(url) -> et.Study:
    study = et.Study(SPACE, direction="maximize", metric="acc", storage=url, name="mlp",
                     strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: {"acc": p["layers"] / 4, "loss": p["lr"]}, max_trials=4)
    return study


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"evotune, version {et.__version__}"


@pytest.mark.parametrize("command", sorted(main.commands))
def test_help_on_every_command(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Usage: main {command}")


MINE = ["studies", "trials", "trial", "best", "export", "delete", "add", "enqueue", "suggest", "tell",
        "grid-size", "run"]


@pytest.mark.parametrize("command", MINE)
def test_help_shows_an_example(cli, command):
    assert "Example" in cli(command, "--help").stdout


def test_studies_lists_names_and_counts(cli, study, url):
    result = cli("studies", "--storage", url)
    assert result.exit_code == 0 and "mlp" in result.stdout and "random" in result.stdout
    data = json.loads(cli("studies", "--storage", url, "--format", "json").stdout)
    assert data[0]["name"] == "mlp" and data[0]["n_trials"] == 4 and data[0]["n_complete"] == 4


def test_studies_without_a_database_creates_none(cli, tmp_path):
    result = cli("studies")
    assert result.exit_code == 0 and "no studies" in result.stdout
    assert not (tmp_path / "evotune.db").exists()


def test_storage_from_the_environment(cli, study, url, monkeypatch):
    monkeypatch.setenv("EVOTUNE_STORAGE", url)
    assert "mlp" in cli("studies").stdout


def test_trials_table_csv_json_and_sort(cli, study, url):
    table = cli("trials", "mlp", "--storage", url)
    assert table.exit_code == 0
    for word in ("trial", "acc", "lr", "layers", "act", "loss", "COMPLETE"):
        assert word in table.stdout
    rows = list(csv.DictReader(io.StringIO(cli("trials", "mlp", "--storage", url, "--format", "csv").stdout)))
    assert [int(r["number"]) for r in rows] == [0, 1, 2, 3]
    data = json.loads(cli("trials", "mlp", "--storage", url, "--format", "json", "--sort", "acc").stdout)
    values = [t["value"] for t in data]
    assert values == sorted(values, reverse=True)  # the study's metric: best first
    data = json.loads(cli("trials", "mlp", "--storage", url, "--format", "json", "--sort", "lr", "--limit", "2").stdout)
    lrs = sorted(t.params["lr"] for t in study.trials)
    assert [t["params"]["lr"] for t in data] == lrs[:2]
    bad = cli("trials", "mlp", "--storage", url, "--sort", "nope")
    assert bad.exit_code == 2 and "'nope' is not a column" in bad.stderr


def test_best_and_trial(cli, study, url):
    best = json.loads(cli("best", "mlp", "--storage", url, "--format", "json").stdout)
    assert best["number"] == study.best.number and best["params"] == study.best.params
    text = cli("best", "mlp", "--storage", url).stdout
    assert f"best trial of 'mlp': {study.best.number}, acc = " in text
    shown = cli("trial", "mlp", "0", "--storage", url)
    assert shown.exit_code == 0 and "trial 0 of study 'mlp': COMPLETE" in shown.stdout
    assert cli("trial", "mlp", "99", "--storage", url).exit_code == 2


def test_unknown_study_is_exit_2_with_the_known_names(cli, study, url):
    for command in (["trials"], ["best"], ["suggest"], ["add", "--metric", "1"]):
        result = cli(command[0], "nope", *command[1:], "--storage", url)
        assert result.exit_code == 2
        assert result.stderr.strip() == f"Error: no study named 'nope' in {url} (its studies: mlp)"


class Constant(et.Strategy):
    """A strategy of the user's own (the one of evotune.strategies.base's docstring)."""

    name = "constant"

    def propose(self, space, history, number):
        return Proposal(params={n: d.from_unit(0.5) for n, d in space.items()}, origin="constant")


def test_a_study_of_ones_own_strategy_can_be_read_but_runs_only_with_it(cli, url, tmp_path):
    et.Study(SPACE, metric="acc", storage=url, name="own", strategy=Constant()).optimize(
        lambda p: {"acc": 0.5}, max_trials=2)
    assert "constant" in cli("studies", "--storage", url).stdout
    for command in (["trials", "own"], ["best", "own"], ["trial", "own", "0"],
                    ["export", "own", "-o", tmp_path / "own.csv"]):
        result = cli(*command, "--storage", url)
        assert result.exit_code == 0, (command, result.output)
    assert "trial 0 of study 'own': COMPLETE" in cli("trial", "own", "0", "--storage", url).stdout
    if "plot" in main.commands:
        pytest.importorskip("plotly")
        result = cli("plot", "own", "history", "-o", tmp_path / "own.html", "--storage", url)
        assert result.exit_code == 0, result.output
    result = cli("suggest", "own", "--storage", url)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: study 'own' was run with strategy type 'constant', which evotune "
                                    "cannot rebuild from storage"), result.stderr
    assert len(et.Study.load("own", url).trials) == 1


def test_best_without_completed_trials_is_exit_1(cli, url):
    et.Study(SPACE, metric="acc", storage=url, name="empty")
    result = cli("best", "empty", "--storage", url)
    assert result.exit_code == 1 and "no completed trial" in result.stderr


def test_export_csv_and_json(cli, study, url, tmp_path):
    assert cli("export", "mlp", "--storage", url, "-o", tmp_path / "t.csv").exit_code == 0
    assert len(list(csv.DictReader(open(tmp_path / "t.csv")))) == 4
    assert cli("export", "mlp", "--storage", url, "-o", tmp_path / "t.json").exit_code == 0
    assert len(json.loads((tmp_path / "t.json").read_text())["trials"]) == 4
    assert cli("export", "mlp", "--storage", url, "-o", tmp_path / "t.txt").exit_code == 2


def test_delete_asks_first(cli, study, url):
    assert cli("delete", "mlp", "--storage", url, input="n\n").exit_code == 1
    assert [s.name for s in et.list_studies(url)] == ["mlp"]
    assert cli("delete", "mlp", "--storage", url, input="y\n").exit_code == 0
    assert et.list_studies(url) == []
    et.Study(SPACE, metric="acc", storage=url, name="other")
    assert cli("delete", "other", "--storage", url, "--yes").exit_code == 0
    assert et.list_studies(url) == []


def test_add_parses_values_by_the_space_types(cli, study, url):
    result = cli("add", "mlp", "--storage", url, "-p", "lr=0.01", "-p", "layers=2", "-p", "act=a b; $(x)",
                 "-m", "acc=0.91", "-m", "loss=0.3")
    assert result.exit_code == 0, result.output
    trial = et.Study.load("mlp", url).trials[-1]
    assert trial.params == {"lr": 0.01, "layers": 2, "act": "a b; $(x)"}
    assert trial.state is et.TrialState.COMPLETE and trial.value == 0.91 and trial.metrics["loss"] == 0.3
    assert cli("add", "mlp", "--storage", url, "-p", "lr=0.01", "-p", "layers=2", "-p", "act=3",
               "-m", "0.5").exit_code == 0
    assert cli("add", "mlp", "--storage", url, "-p", "lr=0.02", "-p", "layers=2.0", "-p", "act=true",
               "-m", "0.5").exit_code == 0
    added = et.Study.load("mlp", url).trials[-2:]
    assert [t.params["act"] for t in added] == [3, True] and added[1].params["layers"] == 2


@pytest.mark.parametrize("args, message", [
    (["-p", "lr=0.01", "-p", "layers=2"], "parameter 'act' is missing"),
    (["-p", "lr=abc", "-p", "layers=2", "-p", "act=relu"], "parameter 'lr' must be a number, got 'abc'"),
    (["-p", "lr=0.5", "-p", "layers=2", "-p", "act=relu"], "parameter 'lr' must be in [0.0001, 0.1], got 0.5"),
    (["-p", "lr=0.01", "-p", "layers=2.5", "-p", "act=relu"], "parameter 'layers' must be an integer"),
    (["-p", "lr=0.01", "-p", "layers=2", "-p", "act=gelu"], "parameter 'act' must be one of"),
    (["-p", "lr=0.01", "-p", "layers=2", "-p", "act=relu", "-p", "depth=3"], "the study has no parameter 'depth'"),
    (["-p", "lr", "-p", "layers=2", "-p", "act=relu"], "--param 'lr': expected NAME=VALUE"),
    (["-p", "lr=0.01", "-p", "lr=0.02", "-p", "layers=2", "-p", "act=relu"], "'lr' is given twice"),
])
def test_add_and_enqueue_refuse_bad_params_and_write_nothing(cli, study, url, args, message):
    for command in (["add", *args, "-m", "acc=0.5"], ["enqueue", *args]):
        result = cli(command[0], "mlp", *command[1:], "--storage", url)
        assert result.exit_code == 2, result.output
        assert message in result.stderr and "Traceback" not in result.output
    assert len(et.Study.load("mlp", url).trials) == 4


@pytest.mark.parametrize("metrics, message", [
    (["loss=0.3"], "the result has no metric 'acc'"),
    (["acc=high"], "--metric 'acc=high': 'high' is not a number"),
    (["acc=nan"], "metric 'acc' must be finite"),
])
def test_add_refuses_bad_metrics(cli, study, url, metrics, message):
    args = ["-p", "lr=0.01", "-p", "layers=2", "-p", "act=relu"]
    result = cli("add", "mlp", *args, *[x for m in metrics for x in ("-m", m)], "--storage", url)
    assert result.exit_code == 2 and message in result.stderr
    assert len(et.Study.load("mlp", url).trials) == 4


def test_add_needs_a_metric(cli, study, url):
    result = cli("add", "mlp", "-p", "lr=0.01", "--storage", url)
    assert result.exit_code == 2 and "--metric" in result.stderr


def test_enqueue_then_suggest_then_tell(cli, study, url):
    result = cli("enqueue", "mlp", "--storage", url, "-p", "lr=0.003", "-p", "layers=3", "-p", "act=tanh")
    assert result.exit_code == 0 and "queued trial 4" in result.stdout
    again = cli("enqueue", "mlp", "--storage", url, "-p", "lr=0.003", "-p", "layers=3", "-p", "act=tanh")
    assert again.exit_code == 2 and "already has" in again.stderr and "in trial 4 (WAITING); not queued again" \
        in again.stderr
    suggested = cli("suggest", "mlp", "--storage", url)
    assert suggested.exit_code == 0
    assert json.loads(suggested.stdout) == {"trial": 4, "params": {"lr": 0.003, "layers": 3, "act": "tanh"}}
    assert "evotune tell mlp 4 --metric acc=VALUE" in suggested.stderr
    assert et.Study.load("mlp", url).trials[4].state is et.TrialState.RUNNING

    fresh = json.loads(cli("suggest", "mlp", "--storage", url).stdout)  # from the strategy
    assert fresh["trial"] == 5 and set(fresh["params"]) == {"lr", "layers", "act"}

    told = cli("tell", "mlp", "4", "--storage", url, "-m", "acc=0.93", "-m", "loss=0.1")
    assert told.exit_code == 0 and "trial 4 recorded: acc = 0.93" in told.stdout
    assert cli("tell", "mlp", "5", "--storage", url, "--failed", "out of memory").exit_code == 0
    trials = et.Study.load("mlp", url).trials
    assert (trials[4].state, trials[4].value, trials[4].metrics) == (et.TrialState.COMPLETE, 0.93,
                                                                    {"acc": 0.93, "loss": 0.1})
    assert (trials[5].state, trials[5].error) == (et.TrialState.FAILED, "out of memory")

    twice = cli("tell", "mlp", "4", "--storage", url, "-m", "acc=0.5")
    assert twice.exit_code == 2 and "trial 4 of 'mlp' is COMPLETE, not RUNNING" in twice.stderr
    failed = cli("tell", "mlp", "5", "--storage", url, "-m", "acc=0.5")
    assert failed.exit_code == 2 and "evotune add mlp --param lr=" in failed.stderr
    assert et.Study.load("mlp", url).trials[4].value == 0.93


def test_tell_refuses_a_trial_that_a_run_is_running(cli, study, url):
    import threading

    started, release = threading.Event(), threading.Event()

    def slow(params):
        started.set()
        release.wait(30)
        return {"acc": 0.25, "loss": 0.5}

    running = et.Study.load("mlp", url)
    worker = threading.Thread(target=lambda: running.optimize(slow, max_trials=5, show_progress=False))
    worker.start()
    try:
        assert started.wait(30)
        for told in (cli("tell", "mlp", "4", "--storage", url, "-m", "acc=99"),
                     cli("tell", "mlp", "4", "--storage", url, "--failed", "typo")):
            assert told.exit_code == 2
            assert "trial 4 of 'mlp' is being run by worker " in told.stderr
            assert "only trials started with `evotune suggest`" in told.stderr
    finally:
        release.set()
        worker.join(30)
    done = et.Study.load("mlp", url).trials[4]
    assert (done.state, done.value) == (et.TrialState.COMPLETE, 0.25)  # the run's own result


def test_the_hint_to_record_a_failed_trial_quotes_its_values(cli, url):
    study = et.Study(SPACE, direction="maximize", metric="acc", storage=url, name="q")
    study.enqueue({"lr": 0.01, "layers": 2, "act": "a b; $(x)"})
    study.tell(study.ask(), error="out of memory")
    result = cli("tell", "q", "0", "--storage", url, "-m", "acc=0.5")
    assert result.exit_code == 2
    assert "--param 'act=a b; $(x)'" in result.stderr


def test_tell_keeps_the_trial_running_on_a_bad_result(cli, study, url):
    number = json.loads(cli("suggest", "mlp", "--storage", url).stdout)["trial"]
    result = cli("tell", "mlp", str(number), "--storage", url, "-m", "loss=0.1")
    assert result.exit_code == 2 and "no metric 'acc'" in result.stderr
    assert et.Study.load("mlp", url).trials[number].state is et.TrialState.RUNNING
    assert cli("tell", "mlp", str(number), "--storage", url).exit_code == 2  # neither --metric nor --failed
    assert cli("tell", "mlp", str(number), "--storage", url, "-m", "0.7").exit_code == 0
    assert et.Study.load("mlp", url).trials[number].value == 0.7


def test_a_study_without_a_metric_takes_the_first_one_named_and_refuses_another(cli, url):
    et.Study({"lr": et.Float(1e-4, 1e-1, log=True)}, direction="maximize", storage=url, name="nm")
    first = cli("add", "nm", "--storage", url, "-p", "lr=0.01", "-m", "val_acc=0.91")
    assert first.exit_code == 0 and "recorded trial 0: val_acc = 0.91" in first.stdout
    other = cli("add", "nm", "--storage", url, "-p", "lr=0.03", "-m", "val_loss=0.95")
    assert other.exit_code == 2 and "no metric 'val_acc'; it has ['val_loss']" in other.stderr
    assert "give it with --metric val_acc=VALUE" in other.stderr
    assert len(et.Study.load("nm", url).trials) == 1
    number = json.loads(cli("suggest", "nm", "--storage", url).stdout)["trial"]
    told = cli("tell", "nm", str(number), "--storage", url, "-m", "val_loss=0.2")
    assert told.exit_code == 2 and "--metric val_acc=VALUE" in told.stderr
    assert et.Study.load("nm", url).trials[number].state is et.TrialState.RUNNING
    both = cli("tell", "nm", str(number), "--storage", url, "-m", "val_acc=0.93", "-m", "val_loss=0.2")
    assert both.exit_code == 0 and "recorded: val_acc = 0.93" in both.stdout
    assert "best trial of 'nm': 1, val_acc = 0.93" in cli("best", "nm", "--storage", url).stdout


def test_a_study_without_a_metric_says_how_to_give_one(cli, url):
    et.Study({"lr": et.Float(1e-4, 1e-1, log=True)}, storage=url, name="nm")
    several = cli("add", "nm", "--storage", url, "-p", "lr=0.01", "-m", "acc=0.9", "-m", "loss=0.2")
    assert several.exit_code == 2 and "several metrics ['acc', 'loss']" in several.stderr
    assert "record only the metric to optimize, --metric NAME=VALUE" in several.stderr
    assert cli("add", "nm", "--storage", url, "-p", "lr=0.01", "-m", "0.5").exit_code == 0
    named = cli("add", "nm", "--storage", url, "-p", "lr=0.02", "-m", "acc=0.9")
    assert named.exit_code == 2 and "complete trials report ['value']" in named.stderr
    assert "report a plain number" in named.stderr and "a bare --metric VALUE is a plain number" in named.stderr
    study = et.Study.load("nm", url)
    assert study.metric is None and [t.metrics for t in study.trials] == [{"value": 0.5}]


def test_enqueue_queues_a_failed_configuration_again_and_refuses_a_held_one(cli, url):
    et.Study({"bs": et.Categorical([64, 128, 256])}, direction="maximize", storage=url, name="ef",
             strategy=et.ManualSearch())
    assert cli("enqueue", "ef", "--storage", url, "-p", "bs=256").exit_code == 0
    assert json.loads(cli("suggest", "ef", "--storage", url).stdout)["trial"] == 0
    assert cli("tell", "ef", "0", "--storage", url, "--failed", "CUDA out of memory").exit_code == 0
    again = cli("enqueue", "ef", "--storage", url, "-p", "bs=256")
    assert again.exit_code == 0 and "queued trial 1" in again.stdout
    held = cli("enqueue", "ef", "--storage", url, "-p", "bs=256")
    assert held.exit_code == 2 and held.stdout == ""
    assert 'already has {"bs": 256} in trial 1 (WAITING); not queued again' in held.stderr
    assert json.loads(cli("suggest", "ef", "--storage", url).stdout)["trial"] == 1
    running = cli("enqueue", "ef", "--storage", url, "-p", "bs=256")
    assert running.exit_code == 2 and "in trial 1 (RUNNING)" in running.stderr
    assert "evotune tell ef 1 --failed REASON" in running.stderr
    assert cli("tell", "ef", "1", "--storage", url, "-m", "0.9").exit_code == 0
    complete = cli("enqueue", "ef", "--storage", url, "-p", "bs=256")
    assert complete.exit_code == 2 and "in trial 1 (COMPLETE)" in complete.stderr
    assert "evotune trial ef 1" in complete.stderr
    assert [t.state.value for t in et.Study.load("ef", url).trials] == ["FAILED", "COMPLETE"]


#: A worker's objective that runs until the worker's heartbeat has failed the dead worker's trial.
PATIENT_TRAIN = """
import os
import time

import evotune as et


def objective(params):
    study = et.Study.load("mlp", os.environ["EVOTUNE_TEST_URL"])
    dead = int(os.environ["EVOTUNE_TEST_DEAD"])
    deadline = time.monotonic() + 20
    while study.storage.get_trials(study._study_id, start=dead)[0].state is et.TrialState.RUNNING \\
            and time.monotonic() < deadline:
        time.sleep(0.02)
    study.storage.close()
    return {"acc": params["layers"] / 4}
"""


def test_a_worker_on_the_same_study_leaves_a_suggested_trial_running(cli, study, url, tmp_path, monkeypatch):
    number = json.loads(cli("suggest", "mlp", "--storage", url).stdout)["trial"]
    dead = et.Study.load("mlp", url)._start_trial(None, worker="dead:1", watched=True)  # its worker was killed
    (tmp_path / "patient_train.py").write_text(PATIENT_TRAIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("EVOTUNE_TEST_URL", url)
    monkeypatch.setenv("EVOTUNE_TEST_DEAD", str(dead.number))
    try:
        worked = cli("worker", "mlp", "--objective", "patient_train:objective", "--storage", url, "-n", "8",
                     "--heartbeat", "0.05", "--grace", "0.1", "--retries", "0", "-q", "--no-progress")
    finally:
        sys.modules.pop("patient_train", None)
    assert worked.exit_code == 0, worked.stderr
    trials = et.Study.load("mlp", url).trials
    assert (trials[dead.number].state, trials[dead.number].error) == (et.TrialState.FAILED, "worker lost")
    assert trials[number].state is et.TrialState.RUNNING
    told = cli("tell", "mlp", str(number), "--storage", url, "-m", "acc=0.9")
    assert told.exit_code == 0 and f"trial {number} recorded: acc = 0.9" in told.stdout

def test_suggest_on_an_empty_manual_queue_is_exit_1(cli, url):
    et.Study(SPACE, metric="acc", storage=url, name="hand", strategy=et.ManualSearch())
    result = cli("suggest", "hand", "--storage", url)
    assert result.exit_code == 1 and "queue is empty" in result.stderr


GRID_TOML = """
[study]
name = "g"
storage = "{url}"
[space]
lr = {{ type = "float", low = 0.001, high = 0.1, log = true }}
layers = {{ type = "int", low = 1, high = 4 }}
act = ["relu", "tanh"]
[strategy]
type = "grid"
points = 3
"""


def test_grid_size_and_time_estimate(cli, tmp_path, url):
    path = tmp_path / "tune.toml"
    path.write_text(GRID_TOML.format(url=url))
    result = cli("grid-size", path)
    assert result.exit_code == 0
    assert result.stdout.strip() == "24 grid points (lr 3 x layers 4 x act 2)"
    assert cli("grid-size", path, "--points", "5").stdout.startswith("40 grid points")
    assert not (tmp_path / "evotune.db").exists()

    study = et.Study({"lr": et.Float(0.001, 0.1, log=True), "layers": et.Int(1, 4),
                      "act": et.Categorical(["relu", "tanh"])}, storage=url, name="g", strategy=et.GridSearch(points=3))
    study.optimize(lambda p: p["layers"], max_trials=6)
    result = cli("grid-size", path)
    lines = result.stdout.splitlines()
    assert lines[1].startswith("study 'g': 6 trials, median duration ")
    assert lines[2].startswith("estimated total: ") and "for all 24 points; 18 points left" in lines[2]


def test_grid_size_needs_points_for_floats(cli, tmp_path):
    path = tmp_path / "tune.toml"
    path.write_text(GRID_TOML.format(url="sqlite:///x.db").replace("[strategy]\ntype = \"grid\"\npoints = 3\n", ""))
    result = cli("grid-size", path)
    assert result.exit_code == 2 and "floats without a step (lr) have no grid" in result.stderr


def test_grid_size_points_supply_what_a_grid_strategy_lacks(cli, tmp_path):
    path = tmp_path / "tune.toml"
    path.write_text(GRID_TOML.format(url="sqlite:///x.db").replace("points = 3\n", "")
                    + '[run]\ncommand = ["python", "train.py"]\n')
    result = cli("grid-size", path, "--points", "5")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("40 grid points (lr 5 x layers 4 x act 2)")
    for command in (["grid-size", path], ["run", path, "--dry-run"]):  # without them, the file must give them
        result = cli(*command)
        assert result.exit_code == 2
        assert "[strategy]: a grid needs a number of points for floats without a step (lr)" in result.stderr


def test_expected_errors_have_no_traceback(cli, tmp_path):
    (tmp_path / "evotune.db").write_text("not a database")
    result = cli("trials", "x")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.output


def test_group_maps_errors_to_exit_codes():
    @main.command("raise-for-test")
    @click.argument("kind")
    def _raise(kind: str) -> None:
        raise {"config": et.ConfigError, "storage": et.StorageError}[kind]("message")

    try:
        from click.testing import CliRunner

        runner = CliRunner()
        assert runner.invoke(main, ["raise-for-test", "config"]).exit_code == 2
        assert runner.invoke(main, ["raise-for-test", "storage"]).exit_code == 1
    finally:
        main.commands.pop("raise-for-test")


@pytest.mark.parametrize("output, reason", [
    ("{tmp}/no/such/folder/t.csv", "No such file or directory"),
    ("{tmp}/no/such/folder/t.json", "No such file or directory"),
    ("{tmp}/evotune.db/t.csv", "Not a directory"),  # under a file
])
def test_export_to_a_path_that_cannot_be_written_is_one_line(cli, study, url, tmp_path, output, reason):
    path = output.format(tmp=tmp_path)
    result = cli("export", "mlp", "--storage", url, "-o", path)
    assert result.exit_code == 1
    assert result.stderr == f"Error: could not write {path!r}: {reason}\n"


def test_tell_with_a_non_finite_metric_says_the_trial_failed(cli, study, url):
    args = ["-p", "lr=0.01", "-p", "layers=2", "-p", "act=relu"]
    added = cli("add", "mlp", *args, "-m", "acc=nan", "--storage", url)  # add refuses it: exit 2
    assert added.exit_code == 2
    number = json.loads(cli("suggest", "mlp", "--storage", url).stdout)["trial"]
    told = cli("tell", "mlp", str(number), "--storage", url, "-m", "acc=nan")
    assert told.exit_code == added.exit_code
    assert told.stderr == f"Error: trial {number} recorded as FAILED: metric 'acc' must be finite, got nan\n"
    assert told.stdout == ""
    trial = et.Study.load("mlp", url).trials[number]
    assert (trial.state, trial.error) == (et.TrialState.FAILED, "metric 'acc' must be finite, got nan")


def test_a_repeated_metric_is_refused_by_add_and_tell(cli, study, url):
    args = ["-p", "lr=0.01", "-p", "layers=2", "-p", "act=relu"]
    added = cli("add", "mlp", *args, "-m", "acc=0.7", "-m", "acc=0.2", "--storage", url)
    assert added.exit_code == 2
    assert added.stderr == "Error: --metric 'acc=0.2': metric 'acc' is given twice\n"
    number = json.loads(cli("suggest", "mlp", "--storage", url).stdout)["trial"]
    told = cli("tell", "mlp", str(number), "-m", "acc=0.7", "-m", "loss=1", "-m", "acc=0.2", "--storage", url)
    assert told.exit_code == 2 and "metric 'acc' is given twice" in told.stderr
    trials = et.Study.load("mlp", url).trials
    assert len(trials) == 5 and trials[number].state is et.TrialState.RUNNING


@pytest.mark.parametrize("text, stored", [
    ("9007199254740993", 9007199254740993),  # 2**53 + 1: a float would round it
    ("4611686018427387903", 2**62 - 1),
    ("1e3", 1000),
    ("2.0", 2),
    ("-7", -7),
])
def test_an_int_param_is_parsed_exactly(cli, url, text, stored):
    et.Study({"seed": et.Int(-10, 2**62)}, metric="acc", storage=url, name="big")
    result = cli("add", "big", "-p", f"seed={text}", "-m", "acc=0.5", "--storage", url)
    assert result.exit_code == 0, result.output
    assert et.Study.load("big", url).trials[0].params == {"seed": stored}


@pytest.mark.parametrize("text, message", [
    ("1e300", "parameter 'n' must be in [0, 9], got '1e300'"),
    ("1e999999999", "parameter 'n' must be in [0, 9], got '1e999999999'"),
    ("-1e30", "parameter 'n' must be in [0, 9], got '-1e30'"),
    ("00012", "parameter 'n' must be in [0, 9], got '00012'"),
    ("2.5", "parameter 'n' must be an integer, got '2.5'"),
    ("nan", "parameter 'n' must be an integer, got 'nan'"),
    ("inf", "parameter 'n' must be an integer, got 'inf'"),
    ("three", "parameter 'n' must be an integer, got 'three'"),
])
def test_a_bad_int_param_is_quoted_as_typed(cli, url, text, message):
    et.Study({"n": et.Int(0, 9)}, metric="acc", storage=url, name="small")
    result = cli("add", "small", "-p", f"n={text}", "-m", "acc=0.5", "--storage", url)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {message}\n"
    assert et.Study.load("small", url).trials == []
