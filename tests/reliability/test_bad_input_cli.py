"""Bad input through the configuration file and the command line: exit code, message, nothing written.

``evotune run`` with a broken ``tune.toml`` must exit with code 2 and one ``Error:`` line that
names the file, the table or key and the value, without creating the database. Commands on an
existing study (``add``, ``enqueue``, ``tell``, ...) with bad values must leave every row of it
as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import evotune as et
from evotune.cli import main
from tests.reliability.storage_dump import dump

TRAIN = """\
import json, sys
print(json.dumps({"score": float(sys.argv[1]) * 10 + int(sys.argv[2]), "loss": 1.0}))
"""

#: The valid file every config case changes one thing of: table -> key -> TOML value.
BASE: dict[str, dict[str, str]] = {
    "study": {"name": '"demo"', "storage": "STORAGE", "direction": '"maximize"', "metric": '"score"'},
    "space": {"lr": '{ type = "float", low = 0.0001, high = 0.1, log = true }',
              "depth": '{ type = "int", low = 2, high = 6 }', "act": '["relu", "tanh"]'},
    "strategy": {"type": '"random"', "seed": "0"},
    "run": {"command": 'PYTHON', "max_trials": "2"},
}

#: id -> (changes: (table, key) -> new TOML value or None to remove, words the message must show)
CONFIG_CASES: dict[str, tuple[dict[tuple[str, str], str | None], tuple[str, ...]]] = {
    "table-unknown": ({("studdy", "name"): '"x"'}, ("'studdy'", "did you mean 'study'")),
    "study-name-missing": ({("study", "name"): None}, ("[study]", "'name'")),
    "study-name-blank": ({("study", "name"): '"  "'}, ("[study]", "name", "'  '")),
    "study-key-unknown": ({("study", "metrics"): '"score"'}, ("[study]", "'metrics'", "did you mean 'metric'")),
    "direction-unknown": ({("study", "direction"): '"max"'}, ("[study]", "direction", "'max'")),
    "metric-not-text": ({("study", "metric"): "3"}, ("[study]", "metric", "3")),
    "space-missing": ({("space", "lr"): None, ("space", "depth"): None, ("space", "act"): None},
                      ("[space]",)),
    "type-unknown": ({("space", "lr"): '{ type = "floot", low = 0.1, high = 1.0 }'}, ("[space.lr]", "'floot'")),
    "low-above-high": ({("space", "lr"): '{ type = "float", low = 0.1, high = 0.01 }'},
                       ("[space.lr]", "low", "0.1", "0.01")),
    "log-nonpositive-low": ({("space", "lr"): '{ type = "float", low = 0.0, high = 0.1, log = true }'},
                            ("[space.lr]", "log=True", "low=0.0")),
    "step-negative": ({("space", "lr"): '{ type = "float", low = 0.0, high = 0.1, step = -0.01 }'},
                      ("[space.lr]", "step", "-0.01")),
    "step-wider-than-range": ({("space", "depth"): '{ type = "int", low = 2, high = 6, step = 10 }'},
                              ("[space.depth]", "step", "10")),
    "int-fractional-bound": ({("space", "depth"): '{ type = "int", low = 2.5, high = 6 }'},
                             ("[space.depth]", "low", "2.5")),
    "bound-is-text": ({("space", "depth"): '{ type = "int", low = "two", high = 6 }'},
                      ("[space.depth]", "low", "'two'")),
    "bound-missing": ({("space", "depth"): '{ type = "int", low = 2 }'}, ("[space.depth]", "'high'")),
    "key-unknown": ({("space", "lr"): '{ type = "float", low = 0.0001, high = 0.1, logg = true }'},
                    ("[space.lr]", "'logg'", "did you mean 'log'")),
    "choices-empty": ({("space", "act"): "[]"}, ("[space.act]", "empty", "[]")),
    "choices-duplicate": ({("space", "act"): '["relu", "tanh", "relu"]'}, ("[space.act]", "unique", '"relu"')),
    "choices-nested": ({("space", "act"): '[["relu"], "tanh"]'}, ("[space.act]", "['relu']")),
    "name-reserved": ({("space", "trial_dir"): '["a", "b"]'}, ("[space.trial_dir]", "reserved")),
    "strategy-unknown": ({("strategy", "type"): '"annealing"'}, ("[strategy]", "'annealing'")),
    "strategy-option-unknown": ({("strategy", "populaton_size"): "8", ("strategy", "type"): '"evolution"'},
                                ("[strategy]", "'populaton_size'", "did you mean 'population_size'")),
    "strategy-option-invalid": ({("strategy", "seed"): "-3"}, ("[strategy]", "seed", "-3")),
    "grid-without-points": ({("strategy", "type"): '"grid"', ("strategy", "seed"): None},
                            ("[strategy]", "points", "lr")),
    "command-missing": ({("run", "command"): None}, ("[run]", "'command'")),
    "command-placeholder-unknown": ({("run", "command"): '["python", "train.py", "{lrr}"]'},
                                    ("[run]", "{lrr}", "did you mean {lr}")),
    "command-empty": ({("run", "command"): "[]"}, ("[run]", "command", "[]")),
    "timeout-negative": ({("run", "timeout"): "-1"}, ("[run]", "timeout", "-1")),
    "n-jobs-zero": ({("run", "n_jobs"): "0"}, ("[run]", "n_jobs", "0")),
    "max-trials-text": ({("run", "max_trials"): '"ten"'}, ("[run]", "max_trials", "'ten'")),
    "target-nan": ({("run", "target"): "nan"}, ("[run]", "target", "nan")),
    "env-not-a-table": ({("run", "env"): '"CUDA=1"'}, ("[run]", "env", "'CUDA=1'")),
    "cwd-missing": ({("run", "cwd"): '"no/such/folder"'}, ("[run]", "cwd", "'no/such/folder'")),
    "run-key-unknown": ({("run", "max_trails"): "5"}, ("[run]", "'max_trails'", "did you mean 'max_trials'")),
}


@pytest.fixture(autouse=True)
def _folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EVOTUNE_STORAGE", raising=False)
    (tmp_path / "train.py").write_text(TRAIN)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def write_config(folder: Path, changes: dict[tuple[str, str], str | None] | None = None) -> Path:
    tables = {table: dict(keys) for table, keys in BASE.items()}
    for (table, key), value in (changes or {}).items():
        tables.setdefault(table, {})
        if value is None:
            tables[table].pop(key, None)
        else:
            tables[table][key] = value
    storage = json.dumps(f"sqlite:///{folder / 'evotune.db'}")
    command = json.dumps([sys.executable, "train.py", "{lr}", "{depth}", "{act}"])
    lines = []
    for table, keys in tables.items():
        lines.append(f"[{table}]")
        for key, value in keys.items():
            lines.append(f"{key} = {value.replace('STORAGE', storage).replace('PYTHON', command)}")
    path = folder / "tune.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _shows(result: Result, *words: str) -> None:
    output = result.output
    assert "Traceback" not in output
    missing = [word for word in words if word not in output]
    assert not missing, f"the output {output!r} does not show {missing}"


def test_the_base_configuration_runs(tmp_path: Path) -> None:
    result = invoke("run", write_config(tmp_path), "-q")
    assert result.exit_code == 0, result.output
    assert len(et.Study.load("demo", f"sqlite:///{tmp_path / 'evotune.db'}").trials) == 2


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_an_invalid_configuration_exits_2_naming_file_key_and_value_and_creates_nothing(tmp_path: Path,
                                                                                      case: str) -> None:
    changes, words = CONFIG_CASES[case]
    config = write_config(tmp_path, changes)
    result = invoke("run", config)
    assert result.exit_code == 2, result.output
    _shows(result, "Error:", "tune.toml", *words)
    assert not (tmp_path / "evotune.db").exists()


def test_invalid_toml_syntax_gives_the_position(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace('max_trials = 2', 'max_trials = = 2'))
    result = invoke("run", config)
    assert result.exit_code == 2
    _shows(result, "tune.toml", "invalid TOML", "line")
    assert not (tmp_path / "evotune.db").exists()


def test_a_configuration_that_changes_an_existing_study_is_refused_and_the_study_kept(tmp_path: Path) -> None:
    assert invoke("run", write_config(tmp_path), "-q").exit_code == 0
    url = f"sqlite:///{tmp_path / 'evotune.db'}"
    before = dump(url)
    for changes, words in [
        ({("space", "depth"): '{ type = "int", low = 2, high = 9 }'}, ("'demo'", "space", "Int(2, 9)")),
        ({("study", "direction"): '"minimize"'}, ("'demo'", "direction", "'maximize'", "'minimize'")),
        ({("study", "metric"): '"loss"'}, ("'demo'", "metric", "'loss'")),
    ]:
        result = invoke("run", write_config(tmp_path, changes))
        assert result.exit_code == 2, result.output
        _shows(result, *words)
        assert dump(url) == before


# -- commands on an existing study ----------------------------------------------------------------
@pytest.fixture
def existing(tmp_path: Path) -> Iterator[str]:
    """A study 'demo' (lr, depth, act; maximize score) with two trials, one queued, one running."""
    url = f"sqlite:///{tmp_path / 'evotune.db'}"
    study = et.Study({"lr": et.Float(1e-4, 0.1, log=True), "depth": et.Int(2, 6),
                      "act": et.Categorical(["relu", "tanh"])}, direction="maximize", metric="score",
                     strategy=et.RandomSearch(seed=0), storage=url, name="demo")
    study.add({"lr": 0.01, "depth": 3, "act": "relu"}, {"score": 0.5, "loss": 0.2})
    study.add({"lr": 0.02, "depth": 4, "act": "tanh"}, {"score": 0.6, "loss": 0.1})
    study.enqueue({"lr": 0.03, "depth": 5, "act": "relu"})
    assert study.ask().number == 2  # the queued trial, now RUNNING
    study.storage.close()
    yield url


#: The ``evotune`` command as installed (its console script), or the same entry point through Python.
EVOTUNE = [shutil.which("evotune")] if shutil.which("evotune") else [
    sys.executable, "-c", "from evotune.cli import main; main()"]

P = ("--param", "lr=0.01", "--param", "depth=3", "--param", "act=relu")

#: id -> (arguments after the command name, exit code, words the output must show)
COMMAND_CASES: dict[str, tuple[tuple[str, ...], int, tuple[str, ...]]] = {
    "trials-unknown-study": (("trials", "nope"), 2, ("'nope'", "demo")),
    "best-unknown-study": (("best", "nope"), 2, ("'nope'",)),
    "add-unknown-study": (("add", "nope", *P, "--metric", "score=1"), 2, ("'nope'",)),
    "add-above-bound": (("add", "demo", "--param", "lr=0.5", "--param", "depth=3", "--param", "act=relu",
                         "--metric", "score=1"), 2, ("'lr'", "0.5")),
    "add-not-a-number": (("add", "demo", "--param", "lr=fast", "--param", "depth=3", "--param", "act=relu",
                          "--metric", "score=1"), 2, ("'lr'", "'fast'")),
    "add-fractional-int": (("add", "demo", "--param", "lr=0.01", "--param", "depth=3.5", "--param", "act=relu",
                            "--metric", "score=1"), 2, ("'depth'", "3.5")),
    "add-unknown-choice": (("add", "demo", "--param", "lr=0.01", "--param", "depth=3", "--param", "act=gelu",
                            "--metric", "score=1"), 2, ("'act'", "'gelu'")),
    "add-unknown-param": (("add", "demo", *P, "--param", "units=64", "--metric", "score=1"), 2, ("'units'",)),
    "add-missing-param": (("add", "demo", "--param", "lr=0.01", "--param", "depth=3", "--metric", "score=1"), 2,
                          ("'act'", "missing")),
    "add-param-twice": (("add", "demo", *P, "--param", "lr=0.02", "--metric", "score=1"), 2,
                        ("'lr'", "twice")),
    "add-param-malformed": (("add", "demo", "--param", "lr", "--metric", "score=1"), 2, ("'lr'", "NAME=VALUE")),
    "add-metric-not-a-number": (("add", "demo", *P, "--metric", "score=high"), 2, ("score", "'high'")),
    "add-metric-nan": (("add", "demo", *P, "--metric", "score=nan"), 2, ("'score'", "nan")),
    "add-metric-overflow": (("add", "demo", *P, "--metric", "score=1e999"), 2, ("'score'", "inf")),
    "add-metric-missing": (("add", "demo", *P, "--metric", "loss=0.1"), 2, ("'score'", "loss")),
    "add-no-metric": (("add", "demo", *P), 2, ("--metric",)),
    "enqueue-off-range": (("enqueue", "demo", "--param", "lr=0.01", "--param", "depth=9", "--param", "act=relu"),
                          2, ("'depth'", "9")),
    "tell-unknown-trial": (("tell", "demo", "99", "--metric", "score=1"), 2, ("99",)),
    "tell-finished-trial": (("tell", "demo", "0", "--metric", "score=1"), 2, ("trial 0", "COMPLETE")),
    "tell-metric-and-failed": (("tell", "demo", "2", "--metric", "score=1", "--failed", "oom"), 2,
                               ("--metric", "--failed")),
    "tell-metric-missing": (("tell", "demo", "2", "--metric", "loss=0.3"), 2, ("'score'", "loss")),
    "trial-out-of-range": (("trial", "demo", "7"), 2, ("trial 7",)),
    "trials-sort-unknown": (("trials", "demo", "--sort", "speed"), 2, ("'speed'", "lr")),
    "trials-state-unknown": (("trials", "demo", "--state", "DONE"), 2, ("'DONE'",)),
    "export-format-unknown": (("export", "demo", "-o", "out.xlsx"), 2, ("'out.xlsx'", ".csv")),
    "plot-kind-unknown": (("plot", "demo", "pie", "-o", "p.html"), 2, ("'pie'",)),
    "dashboard-port-out-of-range": (("dashboard", "--port", "70000"), 2, ("--port", "70000")),
    "worker-objective-malformed": (("worker", "demo", "--objective", "train"), 2, ("--objective", "'train'")),
    "worker-objective-missing-module": (("worker", "demo", "--objective", "no_such_module:run"), 2,
                                        ("'no_such_module'",)),
}


@pytest.mark.parametrize("case", list(COMMAND_CASES))
def test_a_bad_command_line_exits_with_its_code_naming_the_value_and_writes_nothing(existing: str,
                                                                                  case: str) -> None:
    arguments, code, words = COMMAND_CASES[case]
    before = dump(existing)
    result = invoke(*arguments, "--storage", existing)
    assert result.exit_code == code, result.output
    _shows(result, "Error", *words)
    assert dump(existing) == before


STORAGE_CASES: dict[str, tuple[Callable[[Path], str], tuple[str, ...]]] = {
    "url-unsupported": (lambda folder: "mysql://user@host/db", ("mysql://user@host/db", "not supported")),
    "file-corrupt": (lambda folder: _corrupt(folder), ("not a database",)),
    "schema-newer": (lambda folder: _newer(folder), ("schema version 9", "upgrade evotune")),
}


def _corrupt(folder: Path) -> str:
    path = folder / "corrupt.db"
    path.write_bytes(b"\x00garbage" * 512)
    return f"sqlite:///{path}"


def _newer(folder: Path) -> str:
    path = folder / "newer.db"
    et.Study({"x": et.Int(0, 3)}, storage=f"sqlite:///{path}", name="demo").storage.close()
    connection = sqlite3.connect(path)
    connection.execute("UPDATE evotune_meta SET value = '9' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    return f"sqlite:///{path}"


@pytest.mark.parametrize("case", list(STORAGE_CASES))
@pytest.mark.parametrize("command", [("studies",), ("trials", "demo"), ("best", "demo"), ("add", "demo", *P,
                                                                                           "--metric", "score=1")],
                         ids=["studies", "trials", "best", "add"])
def test_an_unusable_storage_exits_1_with_one_line_naming_it(tmp_path: Path, case: str,
                                                             command: tuple[str, ...]) -> None:
    make, words = STORAGE_CASES[case]
    url = make(tmp_path)
    before = dump(url) if case == "schema-newer" else None
    result = invoke(*command, "--storage", url)
    assert result.exit_code == 1, result.output
    _shows(result, "Error:", *words)
    if before is not None:
        assert dump(url) == before


def test_a_missing_database_is_named_and_not_created(tmp_path: Path) -> None:
    result = invoke("trials", "demo", "--storage", f"sqlite:///{tmp_path / 'typo.db'}")
    assert result.exit_code == 2
    _shows(result, "'demo'", "typo.db", "does not exist")
    assert not (tmp_path / "typo.db").exists()


def test_the_installed_command_prints_one_line_and_no_traceback(existing: str) -> None:
    """The same errors through the real ``evotune`` executable, as a user's shell sees them."""
    env = {**os.environ, "EVOTUNE_STORAGE": existing}
    for arguments, code, words in [
        (["add", "demo", "--param", "lr=0.5", "--param", "depth=3", "--param", "act=relu", "--metric", "score=1"],
         2, ["'lr'", "0.5"]),
        (["trials", "demo", "--storage", "mysql://user@host/db"], 1, ["mysql://user@host/db"]),
    ]:
        done = subprocess.run([*EVOTUNE, *arguments], capture_output=True, text=True, env=env, timeout=120,
                              check=False)
        assert done.returncode == code, done.stderr
        assert "Traceback" not in done.stderr and done.stderr.startswith("Error:"), done.stderr
        assert all(word in done.stderr for word in words), done.stderr
