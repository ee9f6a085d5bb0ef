"""The ``evotune`` command group, the shared ``--storage`` option, and exit codes.

Exit codes: 0 on success, 2 for bad input (usage errors, an invalid configuration file,
parameters outside the space, an unknown study...), 1 when something failed (a storage that
cannot be opened, every trial failing), 130 after Ctrl-C. Expected errors print one
``Error: ...`` line, never a Python traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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
from evotune.storage import DEFAULT_URL, Storage, open_storage
from evotune.study import Study

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
      evotune add mlp --param lr=0.01 --param layers=2 --metric val_accuracy=0.91
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


def sqlite_file(url: str) -> Path | None:
    """The database file of an ``sqlite:`` URL (None for other URLs and in-memory SQLite)."""
    if not url.startswith("sqlite:"):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        database = make_url(url).database
    except ArgumentError:
        return None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def open_existing(url: str) -> Storage | None:
    """Open a storage for reading, or None when its SQLite file does not exist (never creates one)."""
    path = sqlite_file(url)
    if path is not None and not path.exists():
        return None
    return open_storage(url)


def load_study(name: str, url: str) -> Study:
    """Open an existing study; the error names the storage and the studies it has.

    Raises:
        StudyNotFoundError: When the database or the study does not exist.
    """
    storage = open_existing(url)
    if storage is None:
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
