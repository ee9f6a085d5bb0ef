"""Shared fixtures: every storage backend, each clean for every test.

Backends: ``memory``, ``sqlite`` (a file in the test's temporary folder) and ``postgresql``
when the environment variable ``EVOTUNE_TEST_POSTGRES_URL`` names a server (the test is
skipped otherwise). The PostgreSQL database must be dedicated to tests: the evotune tables
are dropped before each test that uses it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

import evotune as et
from evotune.storage import MemoryStorage, SQLStorage, Storage
from evotune.storage.sql import _normalize_url

POSTGRES_URL = os.environ.get("EVOTUNE_TEST_POSTGRES_URL")

_needs_postgres = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="EVOTUNE_TEST_POSTGRES_URL is not set"),
]

def pytest_addoption(parser: pytest.Parser) -> None:
    # Registered here, in the root conftest, so that a plain `pytest` knows the option.
    parser.addoption("--soak", action="store_true", default=False,
                     help="also run the long reliability runs (tests/reliability, marker 'soak')")


#: Every backend, as pytest parameters.
ALL_BACKENDS = ["memory", "sqlite", pytest.param("postgresql", marks=_needs_postgres)]
#: The backends that persist across processes.
SQL_BACKENDS = ["sqlite", pytest.param("postgresql", marks=_needs_postgres)]


def clean_postgres(url: str) -> None:
    """Drop evotune's tables so the next storage opened on ``url`` starts empty."""
    engine = sa.create_engine(_normalize_url(url))
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "DROP TABLE IF EXISTS evotune_trials, evotune_studies, evotune_meta CASCADE"
            )
    finally:
        engine.dispose()


def _url_for(backend: str, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'evotune.db'}"
    assert backend == "postgresql" and POSTGRES_URL
    clean_postgres(POSTGRES_URL)
    return POSTGRES_URL


@pytest.fixture(params=SQL_BACKENDS)
def sql_url(request, tmp_path) -> str:
    """The URL of an empty persistent database (SQLite file, or PostgreSQL when configured)."""
    return _url_for(request.param, tmp_path)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """The URL of an SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'evotune.db'}"


@pytest.fixture(params=ALL_BACKENDS)
def storage(request, tmp_path) -> Iterator[Storage]:
    """An empty storage of each backend; pass it to several Study objects to share it."""
    if request.param == "memory":
        opened: Storage = MemoryStorage()
    else:
        opened = SQLStorage(_url_for(request.param, tmp_path))
    yield opened
    opened.close()


@pytest.fixture
def space() -> et.Space:
    """A small space with one parameter of every kind."""
    return et.Space({
        "lr": et.Float(1e-4, 1e-1, log=True),
        "dropout": et.Float(0.0, 0.5, step=0.1),
        "depth": et.Int(2, 6),
        "act": et.Categorical(["relu", "tanh"]),
    })


@pytest.fixture
def params() -> dict:
    """A valid parameter set of the ``space`` fixture."""
    return {"lr": 1e-3, "dropout": 0.2, "depth": 3, "act": "tanh"}


@pytest.fixture
def evotune_log(caplog):
    """Capture the 'evotune' logger (it does not propagate to the root logger)."""
    logger = logging.getLogger("evotune")
    logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)
