"""CommandObjective: real subprocess runs of small scripts."""

from __future__ import annotations

import json
import pickle
import signal
import sys
import time

import pytest

import evotune as et
from evotune.cli.command import STOP_GRACE, CommandObjective, parse_metric_line, parse_metrics, render
from evotune.exceptions import ConfigError
from evotune.results import Report
from tests.cli.conftest import alive, interrupt, sqlite_url, start_until_running

PY = sys.executable


def run(objective: CommandObjective, params: dict) -> Report:
    report = objective(params)
    assert isinstance(report, Report)
    return report


def test_metrics_from_a_json_line_and_every_metric_kept(script):
    script("train.py", """
        import json, sys
        print("epoch 1 done")
        print(json.dumps({"val_accuracy": 0.5, "loss": 0.9, "note": "text is ignored"}))
        print(json.dumps({"val_accuracy": 0.91, "loss": 0.3}))
        print("bye", file=sys.stderr)
    """)
    report = run(CommandObjective([PY, "train.py"], metric="val_accuracy"), {"x": 1})
    assert report.error is None
    assert report.result == {"val_accuracy": 0.91, "loss": 0.3}
    assert report.attrs["exit_code"] == 0
    assert "epoch 1 done" in report.attrs["stdout_tail"]
    assert report.attrs["stderr_tail"] == "bye\n"
    assert report.attrs["command"] == [PY, "train.py"]


def test_metrics_from_name_value_lines_last_one_wins(script):
    script("train.py", """
        print("epoch=1 accuracy=0.70 loss=1.5")
        print("Namespace(lr=0.1, layers=2)")   # not only pairs: not metrics
        print("accuracy = 0.80")
        print("epoch=2, accuracy=0.85; loss=0.4")
    """)
    report = run(CommandObjective([PY, "train.py"], metric="accuracy"), {})
    assert report.result == {"epoch": 2.0, "accuracy": 0.85, "loss": 0.4}


@pytest.mark.parametrize("line, expected", [
    ('{"a": 1, "b": true, "c": [1]}', {"a": 1.0}),
    ("a=1e-3 b=-2", {"a": 0.001, "b": -2.0}),
    ("val/acc=0.5", {"val/acc": 0.5}),
    ("loss=nan", None),
    ("a=1 and b=2", {}),
    ("{not json}", {}),
    ("", {}),
])
def test_parse_metric_line(line, expected):
    parsed = parse_metric_line(line)
    if expected is None:
        assert list(parsed) == ["loss"] and parsed["loss"] != parsed["loss"]
    else:
        assert parsed == expected


def test_parse_metrics_keeps_the_last_value():
    assert parse_metrics(['{"a": 1}', "a=2 b=3", '{"b": 4}']) == {"a": 2.0, "b": 4.0}


def test_metrics_from_a_file_written_in_the_trial_dir(script):
    script("train.py", """
        import json, os, sys
        print("accuracy=0.1")
        with open(sys.argv[1], "w") as f:
            json.dump({"accuracy": 0.75, "loss": 0.2}, f)
        assert sys.argv[1] == os.environ["EVOTUNE_METRICS_FILE"]
    """)
    objective = CommandObjective([PY, "train.py", "{trial_dir}/m.json"], metrics_file="{trial_dir}/m.json",
                                 metric="accuracy")
    report = run(objective, {})
    assert report.error is None, report.error
    assert report.result == {"accuracy": 0.75, "loss": 0.2}


def test_a_stale_metrics_file_is_removed_before_the_trial(script, tmp_path):
    (tmp_path / "metrics.json").write_text('{"accuracy": 0.99}')
    script("train.py", "print('forgot to write the metrics')\n")
    report = run(CommandObjective([PY, "train.py"], metrics_file="metrics.json", cwd=tmp_path), {})
    assert report.result is None
    assert "wrote no metrics file" in report.error
    assert not (tmp_path / "metrics.json").exists()


def test_a_metrics_file_of_name_value_lines(script, tmp_path):
    script("train.py", "open('out.txt', 'w').write('step=1 loss=3\\nloss=2\\n')\n")
    report = run(CommandObjective([PY, "train.py"], metrics_file="out.txt", cwd=tmp_path), {})
    assert report.result == {"step": 1.0, "loss": 2.0}


def test_non_zero_exit_fails_with_the_reason_and_stderr_tail(script):
    script("train.py", """
        import sys
        print("accuracy=0.9")
        print("loading data", file=sys.stderr)
        raise SystemExit("CUDA out of memory")
    """)
    report = run(CommandObjective([PY, "train.py"]), {})
    assert report.result is None
    assert report.error.startswith("the command exited with code 1")
    assert "CUDA out of memory" in report.error and "loading data" in report.error
    assert report.attrs["exit_code"] == 1
    assert "CUDA out of memory" in report.attrs["stderr_tail"]


def test_timeout_stops_the_command_and_its_children(script, tmp_path):
    script("train.py", """
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open("pids", "w").write(f"{child.pid}")
        print("started", flush=True)
        time.sleep(60)
    """)
    start = time.monotonic()
    report = run(CommandObjective([PY, "train.py"], timeout=1.5), {})
    assert time.monotonic() - start < 10
    assert report.error.startswith("timed out after 1.5 s")
    assert "started" in report.attrs["stdout_tail"]
    grandchild = int((tmp_path / "pids").read_text())
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


def test_missing_metric_fails_and_names_what_was_reported(script):
    script("train.py", "print('loss=0.3')\n")
    report = run(CommandObjective([PY, "train.py"], metric="accuracy"), {})
    assert report.error == "the command did not report the metric 'accuracy' (it reported loss)"


def test_no_metrics_at_all_fails(script):
    script("train.py", "print('done')\n")
    report = run(CommandObjective([PY, "train.py"]), {})
    assert report.error.startswith("the command reported no metrics")


def test_non_finite_metric_fails(script):
    script("train.py", "print('loss=nan')\n")
    report = run(CommandObjective([PY, "train.py"], metric="loss"), {})
    assert report.error == "the command reported non-finite metrics: loss=nan"


def test_a_missing_program_fails_without_raising(tmp_path):
    report = run(CommandObjective(["evotune-no-such-program", "{x}"]), {"x": 1})
    assert report.error.startswith("cannot start the command 'evotune-no-such-program'")


def test_values_reach_the_command_unchanged_without_a_shell(script, tmp_path):
    script("echo_args.py", """
        import json, os, sys
        print(json.dumps({"ok": 1}))
        open("seen.json", "w").write(json.dumps({"argv": sys.argv[1:], "env": os.environ["EVOTUNE_PARAMS"]}))
    """)
    values = ["a; touch pwned", "$(touch pwned)", "two words", "`touch pwned`", "x|y > z"]
    for value in values:
        params = {"name": value, "n": 3}
        run(CommandObjective([PY, "echo_args.py", "--name", "{name}", "--n={n}", "{params_json}"]), params)
        seen = json.loads((tmp_path / "seen.json").read_text())
        assert seen["argv"] == ["--name", value, "--n=3", json.dumps(params)]
        assert json.loads(seen["env"]) == params
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "z").exists()


def test_render_supports_format_specs():
    assert render("--lr={lr:.2e}", {"lr": 0.000123}) == "--lr=1.23e-04"
    assert render("{trial_dir}/m.json", {}, "/tmp/t") == "/tmp/t/m.json"


def test_render_refuses_a_parameter_that_str_format_cannot_name():
    with pytest.raises(ConfigError) as raised:  # str.format would print x's .real: 2.0, silently
        render("--x={x.real}", {"x.real": 0.1, "x": 2.0})
    assert str(raised.value).startswith(
        "command argument '--x={x.real}': parameter 'x.real' cannot be used as a {placeholder}: str.format reads '.'")
    assert "rename the parameter (e.g. x_real)" in str(raised.value)
    assert render("{params_json}", {"x.real": 0.1}) == '{"x.real": 0.1}'


def test_the_objective_pickles_for_worker_processes():
    objective = CommandObjective([PY, "train.py", "{x}"], timeout=3, metric="m", env={"A": "1"})
    copy = pickle.loads(pickle.dumps(objective))
    assert vars(copy) == vars(objective)


def test_worker_processes_run_the_command(script, tmp_path):
    import evotune as et

    script("train.py", "import json, os; print(json.dumps({'score': json.loads(os.environ['EVOTUNE_PARAMS'])['x']}))\n")
    study = et.Study({"x": et.Int(0, 3)}, metric="score", strategy=et.GridSearch())
    study.optimize(CommandObjective([PY, "train.py"], cwd=tmp_path, metric="score"), n_jobs=2)
    assert sorted(t.value for t in study.trials) == [0.0, 1.0, 2.0, 3.0]
    assert all(t.attrs["exit_code"] == 0 and t.attrs["command"] == [PY, "train.py"] for t in study.trials)


def test_a_command_killed_by_a_signal_says_so(script):
    script("train.py", "import os, signal; print('x=1', flush=True); os.kill(os.getpid(), signal.SIGKILL)\n")
    report = run(CommandObjective([PY, "train.py"]), {})
    assert report.error == "the command was killed by SIGKILL (out of memory?)"
    assert report.attrs["exit_code"] == -9


@pytest.mark.parametrize("where", ["stdout", "metrics_file"])
def test_an_integer_too_large_for_a_float_is_a_non_finite_metric(script, tmp_path, where):
    huge = "9" * 400  # a diverged integer counter: beyond any float
    line = '{"loss": ' + huge + ', "epochs": -' + huge + '}'
    if where == "stdout":
        script("train.py", f"print({line!r})\n")
        objective = CommandObjective([PY, "train.py"], metric="loss")
    else:
        script("train.py", f"open('m.json', 'w').write({line!r})\n")
        objective = CommandObjective([PY, "train.py"], metric="loss", metrics_file="m.json", cwd=tmp_path)
    report = run(objective, {})
    assert report.error == "the command reported non-finite metrics: loss=inf, epochs=-inf"
    assert report.attrs["exit_code"] == 0 and report.attrs["command"] == [PY, "train.py"]
    assert set(report.attrs) >= {"stdout_tail", "stderr_tail"}


def test_several_metrics_without_a_study_metric_name_the_config_field(script):
    script("train.py", "print('loss=0.3 aux=1')\n")
    report = run(CommandObjective([PY, "train.py"], metric_source="tune.toml"), {})
    assert report.result is None
    assert report.error == ('the command reported several metrics (aux, loss) and the study names none to '
                            'optimize: add metric = "aux" (or another of them) under [study] in tune.toml')
    assert report.attrs["exit_code"] == 0
    # one metric, or a named one, is fine; without a config file the study decides
    assert run(CommandObjective([PY, "train.py"], metric="loss", metric_source="tune.toml"), {}).error is None
    assert run(CommandObjective([PY, "train.py"]), {}).result == {"loss": 0.3, "aux": 1.0}


#: A training command that ignores SIGTERM (as one busy saving a checkpoint would), with a child that does too.
IGNORES_SIGTERM = """
    import json, os, signal, subprocess, sys, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    x = json.loads(os.environ["EVOTUNE_PARAMS"])["x"]
    child = subprocess.Popen([sys.executable, "-c", "import signal, time; "
                              "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
    open(f"running-{x}", "w").write(f"{os.getpid()} {child.pid}")
    time.sleep(60)
"""

#: `evotune run` as a shell starts it: SIGINT raises KeyboardInterrupt even when the test runner
#: itself was started with SIGINT ignored (a background job of a non-interactive shell).
RUN = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); from evotune.cli import main; main()"


@pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")
def test_commands_that_ignore_sigterm_share_one_grace_period(script, config, tmp_path):
    script("train.py", IGNORES_SIGTERM)
    path = config(command=["train.py"], space='x = { type = "int", low = 0, high = 3 }', strategy='type = "grid"',
                  run="max_trials = 4\nn_jobs = 2")
    process, markers = start_until_running([sys.executable, "-c", RUN, "run", str(path), "--no-progress"], tmp_path, 2)
    out, err, took, survivors = interrupt(process, markers, [signal.SIGINT])  # both get SIGTERM, then SIGKILL
    assert not survivors, "a command outlived evotune"
    assert process.returncode == 130, (out, err)
    assert STOP_GRACE * 0.8 < took < STOP_GRACE * 1.5, f"{took:.1f} s for two commands, one grace period"


@pytest.mark.parametrize("signum, n_jobs", [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGTERM, 2)],
                         ids=["SIGINT", "SIGTERM", "SIGTERM-2-jobs"])
def test_a_second_interrupt_kills_a_command_that_ignores_sigterm_at_once(script, config, tmp_path, signum, n_jobs):
    script("train.py", IGNORES_SIGTERM)
    path = config(command=["train.py"], space='x = { type = "int", low = 0, high = 3 }', strategy='type = "grid"',
                  run=f"max_trials = 4\nn_jobs = {n_jobs}")
    process, markers = start_until_running([sys.executable, "-c", RUN, "run", str(path), "--no-progress"], tmp_path,
                                           n_jobs)
    # after the first, evotune waits out the grace period of the command, which ignores SIGTERM;
    # then the impatient second Ctrl-C
    out, err, took, survivors = interrupt(process, markers, [signum, signum])
    assert not survivors, "the command outlived evotune"
    assert process.returncode == 130, (out, err)
    assert took < STOP_GRACE / 2, f"evotune took {took:.1f} s to exit after the second interrupt"
    assert "interrupted" in err and "Traceback" not in err
    trials = et.Study.load("demo", sqlite_url(tmp_path)).trials
    assert sorted((t.params["x"], t.state.value, t.error) for t in trials) == [
        (x, "FAILED", "interrupted") for x in range(n_jobs)]
