"""The ``evotune`` command group, the shared ``--storage`` option, and exit codes.

Exit codes: 0 on success, 2 for bad input (usage errors, an invalid configuration file,
parameters outside the space, an unknown study...), 1 when something failed (a storage that
cannot be opened, every trial failing), 130 after Ctrl-C. Expected errors print one
``Error: ...`` line, never a Python traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import evotune
from evotune.exceptions import (
    ConfigError,
    EvotuneError,
    ParamsError,
    ResultError,
    SpaceError,
    StudyConflictError,
    StudyNotFoundError,
    TrialStateError,
)
from evotune.storage import DEFAULT_URL, Storage, open_storage, redact_url
from evotune.study import Study

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

#: Errors caused by what the user typed or wrote: exit code 2.
BAD_INPUT = (ConfigError, ParamsError, ResultError, SpaceError, StudyConflictError, StudyNotFoundError,
             TrialStateError)


class InputError(click.ClickException):
    """Bad input that is not a command-line syntax error: ``Error: ...`` and exit code 2."""

    exit_code = 2


class EvotuneGroup(click.Group):
    """A click group that turns evotune's errors into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BAD_INPUT as error:
            raise InputError(str(error)) from None
        except EvotuneError as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=EvotuneGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(evotune.__version__, prog_name="evotune")
def main() -> None:
    """evotune: hyperparameter tuning from the command line.

    Tune any training command from a config file, record runs done by hand, and look at
    the results. Studies live in a database (--storage, default sqlite:///evotune.db in
    the current folder, or the EVOTUNE_STORAGE environment variable).

    \b
    Examples:
      evotune run tune.toml --n-jobs 2
      evotune trials mlp --sort val_accuracy
      evotune add mlp --param lr=0.01 --param layers=2 --param act=relu --metric val_accuracy=0.91
    """


storage_option = click.option(
    "--storage", default=DEFAULT_URL, show_default=True, envvar="EVOTUNE_STORAGE", show_envvar=True,
    help="Storage URL: sqlite:///path.db or postgresql://user@host/db.",
)


def check_n_jobs(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    """Click callback of the ``--n-jobs`` options: an integer >= 1, or -1 for one per core."""
    if value is not None and value < 1 and value != -1:
        raise click.BadParameter(f"must be >= 1, or -1 for one per core; got {value}")
    return value


#: How an SQLite URL is written, for the messages about a wrong one.
SQLITE_FORMS = "write sqlite:///relative/path.db or sqlite:////absolute/path.db"


def _sqlite_url(url: str) -> URL:
    """The parsed form of an ``sqlite:`` URL.

    Raises:
        InputError: When the URL cannot be parsed or names a host, a port or a user, which
            a SQLite URL never has (``sqlite://:memory:`` reads ``memory:`` as a port).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError as error:
        problem = redact_url(str(error))
    except ValueError as error:  # what SQLAlchemy raises for a port that is not a number
        problem = f"its port is not a number ({redact_url(str(error))})"
    else:
        if not (parsed.host or parsed.port or parsed.username or parsed.password):
            return parsed
        problem = "it names a host, port or user"
    raise InputError(f"storage URL {redact_url(url)!r} is not valid: {problem}; a SQLite URL has a path and "
                     f"nothing else: {SQLITE_FORMS}")


def in_memory(url: str) -> bool:
    """True for a storage that starts empty on every opening: ``memory``, or SQLite with no file.

    Raises:
        InputError: For an ``sqlite:`` URL that is not valid.
    """
    if url == "memory":
        return True
    return url.startswith("sqlite:") and _sqlite_url(url).database in (None, "", ":memory:")


def sqlite_file(url: str) -> Path | None:
    """The database file of an ``sqlite:`` URL (None for other URLs and in-memory SQLite).

    Raises:
        InputError: For an ``sqlite:`` URL that is not valid.
    """
    if not url.startswith("sqlite:"):
        return None
    database = _sqlite_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def no_database(url: str) -> str:
    """Why :func:`open_existing` found no database at ``url``, and what to do about it."""
    if in_memory(url):
        return (f"storage URL {redact_url(url)!r} names no database file: it would open a new, empty "
                f"in-memory database, which holds no studies; {SQLITE_FORMS}")
    return f"no database at {sqlite_file(url)}: give --storage, or run the command in the folder that holds it"


def open_existing(url: str, *, read_only: bool = True) -> Storage | None:
    """Open the database at ``url``, or None when there is none (never creates one).

    There is none when the SQLite file does not exist, or when the URL is an in-memory
    storage, new and empty on every opening (:func:`no_database` says which). Read-only by
    default: the database must then hold evotune's tables, and nothing in it is changed (no
    tables created, no journal mode switched); commands that write pass ``read_only=False``.

    Raises:
        InputError: For an ``sqlite:`` URL that is not valid.
        StorageError: When the database cannot be opened or, read-only, is not an evotune database.
    """
    if in_memory(url):
        return None
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return None
    return open_storage(url, read_only=read_only)


def load_study(name: str, url: str, *, read_only: bool = False) -> Study:
    """Open an existing study; the error names the storage and the studies it has.

    Args:
        name: The study's name.
        url: The storage URL.
        read_only: Open the storage for reading only (see :func:`open_existing`).

    Raises:
        StudyNotFoundError: When the database or the study does not exist.
    """
    storage = open_existing(url, read_only=read_only)
    if storage is None:
        if in_memory(url):
            raise StudyNotFoundError(f"no study named {name!r}: {no_database(url)}")
        raise StudyNotFoundError(
            f"no study named {name!r}: the database {sqlite_file(url)} does not exist "
            f"(give --storage, or run the command in the folder that holds it)"
        )
    try:
        return Study.load(name, storage)
    except StudyNotFoundError:
        names = [summary.name for summary in storage.list_studies()]
        known = f"its studies: {', '.join(names)}" if names else "it has no studies"
        raise StudyNotFoundError(f"no study named {name!r} in {storage.safe_url} ({known})") from None


def stdout_console() -> Any:
    """A rich console on the current stdout, wide enough for tables when piped.

    Markup is off: study names, parameters and values are shown as the text they are
    (``[red]`` or ``[/]`` in a name must neither style the table nor break it).
    """
    from rich.console import Console

    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200, highlight=False, markup=False)


def stderr_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr, width=None if sys.stderr.isatty() else 200, highlight=False, markup=False)
