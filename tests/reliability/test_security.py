"""Security: nothing read from storage or configuration is executed, and nothing opens the machine.

- The source holds no eval/exec, no shell, and unpickles only the objective payloads this very
  process sends to its workers (never anything read from a database or a configuration file).
- Values that would run code if they were evaluated, unpickled or handed to a shell (in a
  database row, a YAML tag, a parameter value) are stored and shown as the text they are.
- The dashboard listens on 127.0.0.1 unless told otherwise, warns when told otherwise, and
  refuses requests for other host names.
- Study names, parameter names and values full of quotes, SQL and HTML round-trip through
  SQLite and PostgreSQL, the command line and the dashboard unchanged and inert.
"""

from __future__ import annotations

import ast
import csv
import json
import pickle
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import evotune as et
from evotune.cli import main
from tests.reliability.storage_dump import dump

SOURCE = Path(et.__file__).resolve().parent

#: The only module allowed to unpickle, and why: it loads the objective (and the objective's
#: exceptions) that this process pickled and sent to its own worker processes.
UNPICKLING_MODULE = "execution/objective.py"


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SOURCE.rglob("*.py")):
        yield str(path.relative_to(SOURCE)), ast.parse(path.read_text(encoding="utf-8"))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def test_the_source_never_evaluates_text_nor_runs_a_shell() -> None:
    forbidden_calls = {"eval", "exec", "compile", "__import__", "os.system", "os.popen", "subprocess.getoutput",
                       "subprocess.getstatusoutput", "yaml.load", "yaml.unsafe_load", "yaml.full_load",
                       "marshal.loads", "shelve.open"}
    found = []
    for name, module in _modules():
        for node in ast.walk(module):
            if isinstance(node, ast.Call):
                called = _dotted(node.func)
                if called in forbidden_calls:
                    found.append(f"{name}:{node.lineno} {called}()")
                for keyword in node.keywords:
                    if keyword.arg == "shell" and not (isinstance(keyword.value, ast.Constant)
                                                       and keyword.value.value is False):
                        found.append(f"{name}:{node.lineno} {called}(shell=...)")
    assert found == []


def test_only_the_worker_payload_module_unpickles_and_it_reads_no_storage_or_configuration() -> None:
    unpickling, importers = [], []
    for name, module in _modules():
        for node in ast.walk(module):
            if isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1] in ("loads", "load", "Unpickler"):
                if _dotted(node.func).split(".")[0] in ("pickle", "cloudpickle", "dill", "joblib", "marshal"):
                    unpickling.append(name)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [alias.name for alias in node.names] + ([node.module] if isinstance(node, ast.ImportFrom)
                                                                 and node.module else [])
                if any(n.split(".")[0] in ("pickle", "dill", "shelve", "jsonpickle") for n in names):
                    importers.append(f"{name}: {names}")
            if isinstance(node, ast.Attribute) and node.attr == "PickleType":
                importers.append(f"{name}: PickleType column")
    assert set(unpickling) == {UNPICKLING_MODULE}
    assert importers == []
    payload_module = ast.parse((SOURCE / UNPICKLING_MODULE).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(payload_module) if isinstance(node, ast.ImportFrom)}
    assert not {m for m in imported if m and m.startswith(("evotune.storage", "evotune.cli", "evotune.study"))}


class _Trap:
    """Unpickling this creates the file ``path``: proof that something unpickled stored data."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))


def test_rows_that_would_run_code_if_unpickled_or_evaluated_do_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'trap.db'}"
    evaluated = tmp_path / "EVALUATED"
    code = f"__import__('pathlib').Path({str(evaluated)!r}).touch()"
    study = et.Study({"note": et.Categorical([code, "plain"])}, storage=url, name="trap")
    study.add({"note": code}, 1.0)
    study.add({"note": "plain"}, 2.0)
    study.storage.close()
    shown = [
        CliRunner().invoke(main, [*command, "--storage", url]).output
        for command in (["trials", "trap", "--format", "json"], ["trial", "trap", "0"], ["best", "trap"],
                        ["studies"])
    ]
    assert code in shown[0] and code in shown[1] and not evaluated.exists()
    assert et.Study.load("trap", url).trials[0].params["note"] == code

    unpickled = tmp_path / "UNPICKLED"
    connection = sqlite3.connect(tmp_path / "trap.db")
    connection.execute("UPDATE evotune_trials SET params = ?, attrs = ? WHERE number = 1",
                       (pickle.dumps(_Trap(str(unpickled))), pickle.dumps(_Trap(str(unpickled)))))
    connection.execute("UPDATE evotune_studies SET attrs = ?", (json.dumps({"strategy": {"type": "random",
                                                                                        "seed": code}}),))
    connection.commit()
    connection.close()
    with pytest.raises(et.ConfigError, match="seed"):  # the stored strategy is validated, not evaluated
        et.Study.load("trap", url)
    connection = sqlite3.connect(tmp_path / "trap.db")
    connection.execute("UPDATE evotune_studies SET attrs = '{}'")
    connection.commit()
    connection.close()
    with pytest.raises(et.StorageError, match="trial 1.*not the JSON evotune writes"):
        et.Study.load("trap", url).trials  # noqa: B018 - reading is the point
    result = CliRunner().invoke(main, ["trials", "trap", "--storage", url])
    assert result.exit_code == 1 and "trial 1" in result.output
    assert not unpickled.exists() and not evaluated.exists()


def test_a_yaml_configuration_cannot_construct_python_objects(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yaml")
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "CONSTRUCTED"
    (tmp_path / "tune.yaml").write_text(
        "study: {name: yaml}\n"
        "space:\n  x: {type: float, low: 0, high: 1}\n"
        f"run:\n  command: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path "
        f"['{marker}']]\n"
    )
    result = CliRunner().invoke(main, ["run", "tune.yaml"])
    assert result.exit_code == 2 and "tune.yaml" in result.output and "invalid YAML" in result.output
    assert not marker.exists() and not (tmp_path / "evotune.db").exists()


# -- commands run without a shell ------------------------------------------------------------------
SHELL_BAIT = ["; touch PWNED1", "$(touch PWNED2)", "`touch PWNED3`", "| touch PWNED4", "&& touch PWNED5",
              "two words > PWNED6", "'quoted' \"double\" \\back"]

ECHO_ARGV = """\
import json, sys
with open("argv.jsonl", "a") as handle:
    handle.write(json.dumps(sys.argv[1:]) + "\\n")
print(json.dumps({"score": len(sys.argv[1])}))
"""


@pytest.mark.parametrize("style", ["list", "string"])
def test_parameter_values_reach_the_command_as_single_arguments_never_through_a_shell(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, style: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "echo.py").write_text(ECHO_ARGV)
    choices = json.dumps(SHELL_BAIT)
    command = json.dumps([sys.executable, "echo.py", "{bait}", "--all={params_json}"]) if style == "list" else \
        json.dumps(f"{sys.executable} echo.py {{bait}} --all={{params_json}}")
    (tmp_path / "tune.toml").write_text(
        f'[study]\nname = "shell"\nstorage = "sqlite:///{tmp_path / "s.db"}"\nmetric = "score"\n'
        f"[space]\nbait = {choices}\n[strategy]\ntype = \"grid\"\n[run]\ncommand = {command}\n"
    )
    result = CliRunner().invoke(main, ["run", "tune.toml", "-q"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    calls = [json.loads(line) for line in (tmp_path / "argv.jsonl").read_text().splitlines()]
    assert sorted(call[0] for call in calls) == sorted(SHELL_BAIT)
    assert all(json.loads(call[1].removeprefix("--all=")) == {"bait": call[0]} for call in calls)
    assert not list(tmp_path.glob("PWNED*"))
    trials = et.Study.load("shell", f"sqlite:///{tmp_path / 's.db'}").trials
    assert {t.attrs["command"][2] for t in trials} == set(SHELL_BAIT)


# -- the dashboard's address -----------------------------------------------------------------------
def test_the_dashboard_defaults_to_the_loopback_address() -> None:
    import inspect

    from evotune.dashboard import serve

    options = {param.name: param for param in main.commands["dashboard"].params}
    assert options["host"].default == "127.0.0.1"
    assert inspect.signature(serve).parameters["host"].default == "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listeners(port: int) -> list[str]:
    """Local addresses listening on ``port`` (IPv4 and IPv6), from /proc."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            address, port_hex = fields[1].rsplit(":", 1)
            if int(port_hex, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.append(address)
    return found


def _outward_address() -> str | None:
    """An address of this machine other than loopback, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the route
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    pytest.importorskip("uvicorn")
    url = f"sqlite:///{tmp_path / 'd.db'}"
    et.Study({"x": et.Float(0, 1)}, storage=url, name="d").storage.close()
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-c", "from evotune.cli import main; main()", "dashboard",
                                "--storage", url, "--port", str(port)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not _listeners(port):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the dashboard did not start listening"
        time.sleep(0.1)
    yield port, process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_the_dashboard_listens_on_loopback_only(served: tuple[int, subprocess.Popen]) -> None:
    port, _ = served
    assert _listeners(port) == ["0100007F"]  # 127.0.0.1, and nothing else (no 0.0.0.0, no IPv6 wildcard)
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    outward = _outward_address()
    if outward is not None:
        with pytest.raises(OSError):
            socket.create_connection((outward, port), timeout=2).close()


def test_the_dashboard_refuses_requests_for_other_host_names(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from evotune.dashboard import create_app

    url = f"sqlite:///{tmp_path / 'd.db'}"
    et.Study({"x": et.Float(0, 1)}, storage=url, name="d").storage.close()
    client = TestClient(create_app(url), base_url="http://127.0.0.1:8080")
    assert client.get("/api/studies").status_code == 200
    rebound = client.get("/api/studies", headers={"host": "attacker.example:8080"})
    assert rebound.status_code == 400 and "d" not in [s.get("name") for s in rebound.json().get("studies", [])]


def test_exposing_the_dashboard_to_the_network_warns(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    et.Study({"x": et.Float(0, 1)}, storage=url, name="d").storage.close()
    with socket.socket() as taken:  # the port is busy, so no server starts; the warning comes first
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["dashboard", "--storage", url, "--host", "0.0.0.0", "--port", str(port)])
    assert result.exit_code == 1
    assert "Warning: --host 0.0.0.0" in result.output and "other machines" in result.output


# -- hostile names round-trip -----------------------------------------------------------------------
HOSTILE = [
    "Robert'); DROP TABLE evotune_trials;--",
    "<script>document.title='pwned'</script>",
    "\" OR \"1\"=\"1",
    "<img src=x onerror=alert(1)>",
    "[bold red]styled[/] {lr} %s %(x)s \\n",
    "ünïcödé ✓ 名前",
]


def _hostile_study(url: str, index: int, name: str) -> et.Study:
    other = HOSTILE[(index + 1) % len(HOSTILE)]
    space = {name: et.Float(0.0, 1.0), other: et.Categorical([name, other, "plain"])}
    study = et.Study(space, direction="maximize", metric=f"{name} metric", storage=url, name=name,
                     strategy=et.RandomSearch(seed=index))
    study.add({name: 0.25, other: name}, {f"{name} metric": 0.5, other: 1.5})
    study.enqueue({name: 0.75, other: other})
    trial = study.ask()
    study.tell(trial, {f"{name} metric": 0.75}, attrs={"note": name})
    trial = study.ask()
    study.tell(trial, error=f"failed: {name}")
    return study


def test_hostile_names_round_trip_through_the_database_unchanged(db_url: str) -> None:
    for index, name in enumerate(HOSTILE):
        _hostile_study(db_url, index, name).storage.close()
    assert [s.name for s in et.list_studies(db_url)] == HOSTILE
    tables = dump(db_url)
    assert all(rows is not None for rows in tables.values())  # every table is still there
    assert len(tables["evotune_trials"]) == 3 * len(HOSTILE)
    for index, name in enumerate(HOSTILE):
        study = et.Study.load(name, db_url)
        other = HOSTILE[(index + 1) % len(HOSTILE)]
        assert list(study.space) == [name, other] and study.metric == f"{name} metric"
        trials = study.trials
        assert trials[0].params == {name: 0.25, other: name}
        assert trials[0].metrics == {f"{name} metric": 0.5, other: 1.5}
        assert trials[1].attrs["note"] == name and trials[2].error == f"failed: {name}"


def test_hostile_names_are_shown_as_text_by_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    for index, name in enumerate(HOSTILE):
        _hostile_study(url, index, name).storage.close()
    runner = CliRunner()
    listing = runner.invoke(main, ["studies", "--storage", url])
    assert listing.exit_code == 0, listing.output
    assert all(name in listing.output for name in HOSTILE[:-1])  # the wide last one may wrap its cell
    for index, name in enumerate(HOSTILE):
        table = runner.invoke(main, ["trials", name, "--storage", url])
        assert table.exit_code == 0, table.output
        assert name in table.output.replace("\n", "") or name[:20] in table.output, table.output
        as_json = runner.invoke(main, ["trials", name, "--storage", url, "--format", "json"])
        assert json.loads(as_json.output)[0]["params"][name] == 0.25
        best = runner.invoke(main, ["best", name, "--storage", url, "--format", "json"])
        assert json.loads(best.output)["params"][name] in (0.25, 0.75)
        exported = tmp_path / f"export-{index}.csv"
        assert runner.invoke(main, ["export", name, "--storage", url, "-o", str(exported)]).exit_code == 0
        with open(exported, encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        assert f"params_{name}" in header


def _strings(data: Any) -> set[str]:
    """Every string in a JSON document (keys and values)."""
    if isinstance(data, str):
        return {data}
    if isinstance(data, dict):
        return set(data) | {s for value in data.values() for s in _strings(value)}
    if isinstance(data, list):
        return {s for value in data for s in _strings(value)}
    return set()


def test_hostile_names_are_served_as_json_data_never_as_html(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from evotune.dashboard import create_app

    url = f"sqlite:///{tmp_path / 'h.db'}"
    for index, name in enumerate(HOSTILE):
        _hostile_study(url, index, name).storage.close()
    client = TestClient(create_app(url), base_url="http://127.0.0.1:8080")
    studies = client.get("/api/studies")
    assert studies.headers["content-type"].startswith("application/json")
    assert [s["name"] for s in studies.json()["studies"]] == HOSTILE
    page = client.get("/study", params={"name": HOSTILE[1]})
    assert page.status_code == 200 and "pwned" not in page.text and "onerror" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for index, name in enumerate(HOSTILE):
        other = HOSTILE[(index + 1) % len(HOSTILE)]
        summary = client.get("/api/study", params={"name": name})
        assert summary.status_code == 200 and summary.json()["name"] == name
        assert summary.json()["params"] == [name, other]
        rows = client.get("/api/trials", params={"name": name})
        assert rows.status_code == 200 and rows.headers["content-type"].startswith("application/json")
        assert name in _strings(rows.json())
        trial = client.get("/api/trial", params={"name": name, "number": 0}).json()
        assert trial["params"] == {name: 0.25, other: name}


def test_storage_urls_shown_by_the_dashboard_hide_the_password(tmp_path: Path) -> None:
    pytest.importorskip("starlette")
    from starlette.testclient import TestClient

    from evotune.dashboard.app import create_app
    from evotune.storage import MemoryStorage

    storage = MemoryStorage()
    storage.url = "postgresql://tuner:s3cret-pw@db.internal/studies"
    body = TestClient(create_app(storage), base_url="http://127.0.0.1:8080").get("/api/studies").text
    assert "s3cret-pw" not in body and "tuner:***@db.internal" in body
