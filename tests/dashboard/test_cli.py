"""``evotune dashboard``: checks made before serving (the serving itself is stubbed here)."""

from __future__ import annotations

import socket

import pytest
from click.testing import CliRunner

import evotune.dashboard
from evotune.cli import main
from evotune.dashboard.app import is_loopback

from ..plot.studies import random_study
from ..samples import other_program_file, schema_and_journal

pytest.importorskip("starlette")


@pytest.fixture
def served(monkeypatch) -> list[dict]:
    calls: list[dict] = []
    monkeypatch.setattr(evotune.dashboard, "serve", lambda storage, **options: calls.append(
        {"storage": storage, **options}))
    return calls


@pytest.fixture
def url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'dash.db'}"
    random_study(5, storage=url)
    return url


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serves_on_loopback_by_default(served, url):
    port = _free_port()
    result = CliRunner().invoke(main, ["dashboard", "--storage", url, "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert f"http://127.0.0.1:{port}/" in result.output and "Warning" not in result.output
    assert served[0]["host"] == "127.0.0.1" and served[0]["port"] == port
    assert served[0]["storage"].url == url


def test_another_host_gets_a_warning(served, url):
    result = CliRunner().invoke(main, ["dashboard", "--storage", url, "--host", "0.0.0.0", "--port",
                                       str(_free_port())])
    assert result.exit_code == 0
    assert "Warning: --host 0.0.0.0 makes the dashboard reachable from other machines" in result.output
    assert served[0]["host"] == "0.0.0.0"


def test_a_missing_database_is_refused_and_not_created(served, tmp_path):
    target = tmp_path / "none.db"
    result = CliRunner().invoke(main, ["dashboard", "--storage", f"sqlite:///{target}"])
    assert result.exit_code == 2 and f"no database at {target}" in result.output
    assert not target.exists() and served == []


def test_a_busy_port_is_reported(served, url):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(main, ["dashboard", "--storage", url, "--port", str(port)])
    assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert served == []


def test_bad_ports_are_usage_errors(served, url):
    result = CliRunner().invoke(main, ["dashboard", "--storage", url, "--port", "70000"])
    assert result.exit_code == 2 and "70000 is not in the range 1<=x<=65535" in result.output


@pytest.mark.parametrize("host, expected", [
    ("127.0.0.1", True), ("127.5.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("192.168.1.4", False), ("::", False), ("example.com", False),
])
def test_loopback_hosts(host, expected):
    assert is_loopback(host) is expected


@pytest.mark.parametrize("storage", ["sqlite:///", "sqlite://", "sqlite:///:memory:", "memory"])
def test_a_storage_with_no_file_is_refused(served, storage):
    result = CliRunner().invoke(main, ["dashboard", "--storage", storage])
    assert result.exit_code == 2 and served == []
    assert result.output == (
        f"Error: storage URL {storage!r} names no database file: it would open a new, empty in-memory "
        f"database, which holds no studies; write sqlite:///relative/path.db or sqlite:////absolute/path.db\n")


@pytest.mark.parametrize("storage, shown", [
    ("sqlite://:memory:", "storage URL 'sqlite://:memory:' is not valid: its port is not a number (invalid literal"),
    ("sqlite://u:secret@host:99x/a.db", "storage URL 'sqlite://u:***@host:99x/a.db' is not valid"),
])
def test_a_malformed_url_is_one_error_line(served, storage, shown):
    result = CliRunner().invoke(main, ["dashboard", "--storage", storage], catch_exceptions=False)
    assert result.exit_code == 2 and served == []
    assert result.output.startswith(f"Error: {shown}") and result.output.count("\n") == 1
    assert "secret" not in result.output


def test_another_programs_database_is_refused_and_left_as_it_was(served, tmp_path):
    path = tmp_path / "other.db"
    result = CliRunner().invoke(main, ["dashboard", "--storage", other_program_file(path)], catch_exceptions=False)
    assert result.exit_code == 1 and served == []
    assert f"Error: storage 'sqlite:///{path}' is not an evotune database (it holds no evotune tables)" \
        in result.output
    assert schema_and_journal(path) == (["users"], "delete")


def test_the_served_storage_is_read_only(served, url):
    result = CliRunner().invoke(main, ["dashboard", "--storage", url, "--port", str(_free_port())])
    assert result.exit_code == 0, result.output
    assert served[0]["storage"].read_only
