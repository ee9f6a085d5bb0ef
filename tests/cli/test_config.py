"""Reading tune.toml: valid files, and errors that name the file, the key and the value."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from evotune.cli.config import load_config, read_document
from evotune.exceptions import ConfigError
from evotune.space import Categorical, Float, Int
from evotune.strategies import STRATEGIES, GridSearch

GOOD = """
[study]
name = "mlp"
direction = "maximize"
metric = "val_accuracy"

[space]
lr = { type = "float", low = 1e-5, high = 1e-1, log = true }
layers = { type = "int", low = 1, high = 4 }
act = ["relu", "tanh"]

[strategy]
type = "grid"
points = 3

[run]
command = "python train.py --lr {lr} --layers {layers} --act {act}"
timeout = 600
max_trials = 100
"""


def write(tmp_path: Path, text: str, name: str = "tune.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_valid_file(tmp_path):
    tune = load_config(write(tmp_path, GOOD))
    assert (tune.name, tune.direction, tune.metric) == ("mlp", "maximize", "val_accuracy")
    assert tune.storage == "sqlite:///evotune.db"
    assert tune.space["lr"] == Float(1e-5, 1e-1, log=True)
    assert tune.space["layers"] == Int(1, 4)
    assert tune.space["act"] == Categorical(["relu", "tanh"])
    assert isinstance(tune.strategy, GridSearch) and tune.strategy.points == 3
    assert tune.run.command == ("python", "train.py", "--lr", "{lr}", "--layers", "{layers}", "--act", "{act}")
    assert (tune.run.timeout, tune.run.max_trials, tune.run.n_jobs) == (600.0, 100, 1)
    assert tune.run.cwd == str(tmp_path.resolve())


def test_yaml_works_too(tmp_path):
    pytest.importorskip("yaml")
    text = """
study: {name: mlp, metric: acc}
space:
  lr: {type: float, low: 0.001, high: 0.1}
run:
  command: [python, train.py, "{lr}"]
  n_jobs: 2
"""
    tune = load_config(write(tmp_path, text, "tune.yaml"))
    assert tune.space["lr"] == Float(0.001, 0.1)
    assert tune.run.n_jobs == 2 and tune.strategy is None


def bad(tmp_path: Path, old: str, new: str) -> str:
    assert old in GOOD
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, GOOD.replace(old, new, 1)))
    return str(raised.value)


@pytest.mark.parametrize("old, new, message", [
    ("low = 1e-5, high = 1e-1", "low = 0.1, high = 0.01",
     "tune.toml: [space.lr]: low must be < high, got low=0.1 high=0.01"),
    ('type = "int", low = 1', 'type = "integer", low = 1',
     "tune.toml: [space.layers]: type must be one of 'float', 'int', 'categorical', got 'integer'"),
    ("low = 1, high = 4", "low = 1, hihg = 4",
     "tune.toml: [space.layers]: unknown key 'hihg' (allowed: low, high, log, step); did you mean 'high'?"),
    ("low = 1, high = 4", "low = 1",
     "tune.toml: [space.layers]: missing key 'high' for a int"),
    ("low = 1e-5, high = 1e-1, log = true", "low = 0.0, high = 1e-1, log = true",
     "tune.toml: [space.lr]: with log=True needs low > 0, got low=0.0"),
    ('act = ["relu", "tanh"]', 'act = ["relu", "relu"]',
     "tune.toml: [space.act]: choices must be unique, got duplicates \"relu\""),
    ('direction = "maximize"', 'direction = "max"',
     "tune.toml: [study]: direction must be 'minimize' or 'maximize', got 'max'"),
    ('name = "mlp"', "name = 3", "tune.toml: [study]: name must be a non-empty string, got 3"),
    ('name = "mlp"', "", "tune.toml: [study]: missing key 'name'"),
    ('type = "grid"', 'type = "genetic"',
     "tune.toml: [strategy]: type must be one of evolution, grid, manual, random, got 'genetic'"
     if "evolution" in STRATEGIES else
     "tune.toml: [strategy]: type must be one of grid, manual, random, got 'genetic'"),
    ("points = 3", "pionts = 3", "tune.toml: [strategy]: unknown key 'pionts'"),
    ("points = 3", "points = 1", "tune.toml: [strategy]: GridSearch points must be an integer >= 2"),
    ("points = 3", "", "tune.toml: [strategy]: a grid needs a number of points for floats without a step (lr)"),
    ("timeout = 600", "timeout = -5", "tune.toml: [run]: timeout must be a number of seconds > 0, got -5"),
    ("max_trials = 100", "max_trials = 2.5", "tune.toml: [run]: max_trials must be an integer > 0, got 2.5"),
    ("max_trials = 100", "max_trial = 100",
     "tune.toml: [run]: unknown key 'max_trial' (allowed: command"),
    ("--act {act}", "--act {activation}",
     "tune.toml: [run]: command[7] '{activation}': unknown placeholder {activation}"),
    ("--lr {lr}", "--lr {lr:.2q}", "tune.toml: [run]: command[3] '{lr:.2q}': Unknown format code 'q'"),
    ("--act {act}", "--act {}", "tune.toml: [run]: command[7] '{}': unknown placeholder {}"),
    ('command = "python', 'comand = "python', "tune.toml: [run]: unknown key 'comand'"),
    ("[run]", "[runn]", "tune.toml: unknown table 'runn' (allowed: study, space, strategy, run); did you mean 'run'?"),
    ("timeout = 600", "timeout = 600\nn_jobs = 0",
     "tune.toml: [run]: n_jobs must be an integer >= 1 (or -1 for one per core), got 0"),
])
def test_errors_name_file_key_and_value(tmp_path, old, new, message):
    assert message in bad(tmp_path, old, new)


def test_missing_run_command(tmp_path):
    text = GOOD.split("[run]")[0] + "[run]\nmax_trials = 3\n"
    with pytest.raises(ConfigError, match=r"tune.toml: \[run\]: missing key 'command'"):
        load_config(write(tmp_path, text))
    assert load_config(write(tmp_path, text.split("[run]")[0]), need_run=False).run is None


def test_invalid_toml_reports_the_position(tmp_path):
    with pytest.raises(ConfigError, match=r"tune.toml: invalid TOML: .*line 3"):
        load_config(write(tmp_path, "[study]\nname = 'x'\nmetric = \n"))


def test_reserved_parameter_names(tmp_path):
    message = bad(tmp_path, "layers = {", "params_json = {")
    assert "[space.params_json]: the name 'params_json' is reserved" in message


def test_cwd_must_exist(tmp_path):
    assert "[run]: cwd 'nowhere' is not a folder" in bad(tmp_path, "timeout = 600", "timeout = 600\ncwd = 'nowhere'")


def test_shared_metrics_file_with_parallel_trials(tmp_path):
    parallel = load_config(write(tmp_path, GOOD.replace("timeout = 600", "n_jobs = 2\nmetrics_file = 'metrics.json'")))
    with pytest.raises(ConfigError, match=r"\[run\]: metrics_file 'metrics.json' would be written by 2 trials at once"):
        parallel.run.with_overrides("tune.toml")
    assert parallel.run.with_overrides("tune.toml", n_jobs=1).n_jobs == 1  # --n-jobs 1 runs the file as it is
    tune = load_config(write(tmp_path, GOOD.replace("timeout = 600", "metrics_file = 'metrics.json'")))
    with pytest.raises(ConfigError, match="would be written by 2 trials"):
        tune.run.with_overrides("tune.toml", n_jobs=2)
    by_param = load_config(write(tmp_path, GOOD.replace("timeout = 600", "metrics_file = 'm_{act}.json'")))
    with pytest.raises(ConfigError, match="would be written by 2 trials"):  # two trials may share a choice
        by_param.run.with_overrides("tune.toml", n_jobs=2)
    per_trial = load_config(write(tmp_path, GOOD.replace("timeout = 600", "metrics_file = '{trial_dir}/m.json'")))
    assert per_trial.run.with_overrides("tune.toml", n_jobs=2).n_jobs == 2


@pytest.mark.skipif("evolution" not in STRATEGIES, reason="no evolution strategy")
def test_evolution_strategy_settings(tmp_path):
    tune = load_config(write(tmp_path, GOOD.replace('type = "grid"\npoints = 3',
                                                    'type = "evolution"\nseed = 1\npopulation_size = 8')))
    assert tune.strategy.name == "evolution" and tune.strategy.seed == 1
    assert tune.strategy.settings()["population_size"] == 8
    assert "population_size must be" in bad(tmp_path, 'type = "grid"\npoints = 3',
                                            'type = "evolution"\npopulation_size = -3')


def test_command_numbers_become_arguments(tmp_path):
    text = GOOD.replace('command = "python train.py', f'command = ["{Path(sys.executable).name}", "train.py", '
                        '"--epochs", 5]\n#')
    assert load_config(write(tmp_path, text)).run.command[-2:] == ("--epochs", "5")


@pytest.mark.parametrize("space, argument, message", [
    ('c = [1.5, "auto"]', "{c:.2f}", "command[2] '{c:.2f}' fails for c = 'auto': Unknown format code 'f'"),
    ('c = ["auto", 1.5]', "{c:.2f}", "command[2] '{c:.2f}' fails for c = 'auto': Unknown format code 'f'"),
    ('c = [1, 2, 3.5]', "--c={c:d}", "command[2] '--c={c:d}' fails for c = 3.5: Unknown format code 'd'"),
    ('n = { type = "int", low = -2, high = 3 }', "{n:c}", "command[2] '{n:c}' fails for n = -2: "),
    ('f = { type = "float", low = 0.5, high = 3.0 }', "{f:.1f}", None),
])
def test_a_template_is_checked_against_every_choice_and_the_bounds(tmp_path, space, argument, message):
    text = f"""
[study]
name = "fmt"
[space]
{space}
[run]
command = ["python", "train.py", "{argument}"]
"""
    path = write(tmp_path, text)
    if message is None:
        assert load_config(path).run.command[2] == argument
        return
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value).startswith(f"{path}: [run]: {message}")


def test_a_metrics_file_template_is_checked_against_every_choice(tmp_path):
    text = GOOD.replace('act = ["relu", "tanh"]', 'act = [0.5, "tanh"]').replace(
        "timeout = 600", "metrics_file = '{trial_dir}/{act:.2f}.json'")
    with pytest.raises(ConfigError) as raised:
        load_config(write(tmp_path, text))
    assert "[run]: metrics_file '{trial_dir}/{act:.2f}.json' fails for act = 'tanh': Unknown format code 'f'" \
        in str(raised.value)


@pytest.mark.parametrize("name, renamed", [("optimizer.lr", "optimizer_lr"), ("a[b]", "a_b"), ("0", "param_0")])
def test_a_parameter_that_str_format_cannot_name_is_refused_as_a_placeholder(tmp_path, name, renamed):
    text = f"""
[study]
name = "dots"
[space]
"{name}" = {{ type = "float", low = 0.001, high = 1 }}
[run]
command = ["python", "train.py", "--lr", "{{{name}}}"]
"""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert str(raised.value) == (
        f"{path}: [run]: command[3] '{{{name}}}': parameter '{name}' cannot be used as a {{placeholder}}: "
        f"str.format reads '.' and '[' in a placeholder as attribute and index access, and digits as a position; "
        f"rename the parameter (e.g. {renamed}) or read all parameters as JSON from {{params_json}} or the "
        f"EVOTUNE_PARAMS environment variable")
    used_otherwise = text.replace(f'"{{{name}}}"', '"{params_json}"')
    assert list(load_config(write(tmp_path, used_otherwise)).space) == [name]


def test_yaml_reads_numbers_and_booleans_as_yaml_1_2_and_toml_do(tmp_path):
    pytest.importorskip("yaml")
    text = """
study: {name: yml, metric: score}
space:
  x: {type: float, low: 1e-5, high: 1E5, log: true}
  act: [relu, tanh, no, yes, on, off]
run:
  command: [python, train.py, "{x}", "{act}"]
"""
    tune = load_config(write(tmp_path, text, "tune.yaml"))
    assert tune.space["x"] == Float(1e-5, 1e5, log=True)
    assert tune.space["act"] == Categorical(["relu", "tanh", "no", "yes", "on", "off"])
    scalars = "[true, True, TRUE, false, False, FALSE, -2.5e+3, .5, 1.0e-5, 1., 3, no, Yes, ON, off, tRUE, 1e]"
    document = read_document(write(tmp_path, f"values: {scalars}\n", "values.yml"))
    assert document["values"] == [True, True, True, False, False, False, -2500.0, 0.5, 1e-5, 1.0, 3,
                                  "no", "Yes", "ON", "off", "tRUE", "1e"]
    assert [type(value) for value in document["values"][6:11]] == [float, float, float, float, int]
