"""Fixtures of the reliability suite: its own PostgreSQL database, every SQL backend, the soak switch.

The long variants of the suite carry the ``soak`` marker and run only with ``pytest --soak``
(the option is registered in ``tests/conftest.py``). PostgreSQL cases use a database of their
own on the server named by ``EVOTUNE_TEST_POSTGRES_URL`` (``evotune_reliability``, created on
first use when the server allows it), so that nothing else drops their tables mid-test; they
are skipped when the variable is unset.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL, clean_postgres

#: The database the suite uses on the test server.
OWN_DATABASE = "evotune_reliability"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="long reliability run: give --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def soak(pytestconfig: pytest.Config) -> bool:
    """True when the long variants were asked for (``--soak``)."""
    return bool(pytestconfig.getoption("--soak"))


def _can_connect(url: str) -> bool:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect():
            return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def _create_database(url: str, name: str) -> None:
    """CREATE DATABASE as the test user, else (as root) as the postgres superuser; errors ignored."""
    parts = sa.engine.make_url(url)
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                              isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
            return
    except sa.exc.SQLAlchemyError:
        pass
    finally:
        engine.dispose()
    if os.geteuid() != 0 or not shutil.which("runuser"):
        return
    statement = f'CREATE DATABASE "{name}" OWNER "{parts.username}"'
    for socket_dir in ("/var/run/postgresql", "/tmp"):
        subprocess.run(["runuser", "-u", "postgres", "--", "psql", "-h", socket_dir, "-p", str(parts.port or 5432),
                        "-c", statement], capture_output=True, timeout=60, check=False)
        if _can_connect(str(parts.set(database=name).render_as_string(hide_password=False))):
            return


def _own_postgres_url(url: str) -> str:
    """The URL of this suite's own database on the server of ``url`` (``url`` itself if impossible)."""
    own = sa.engine.make_url(url).set(database=OWN_DATABASE).render_as_string(hide_password=False)
    if not _can_connect(own):
        _create_database(url, OWN_DATABASE)
    return own if _can_connect(own) else url


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The suite's PostgreSQL database (skips the test when no server is configured)."""
    if not POSTGRES_URL:
        pytest.skip("EVOTUNE_TEST_POSTGRES_URL is not set")
    return _own_postgres_url(POSTGRES_URL)


@pytest.fixture
def postgres_url(postgres_server_url: str) -> str:
    """The suite's PostgreSQL database, emptied of evotune's tables."""
    clean_postgres(postgres_server_url)
    return postgres_server_url


_POSTGRES = pytest.param("postgresql", marks=[
    pytest.mark.postgres, pytest.mark.skipif(not POSTGRES_URL, reason="EVOTUNE_TEST_POSTGRES_URL is not set")])


@pytest.fixture(params=["sqlite", _POSTGRES])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: an SQLite file that does not exist yet, or the suite's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'evotune.db'}"
    return request.getfixturevalue("postgres_url")
