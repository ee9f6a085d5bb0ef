"""The ``evotune`` command line: one module per group of commands, all on one click group."""

from evotune.cli import manual, run, studies, visual, worker  # noqa: F401  (registers the commands)
from evotune.cli.main import main

__all__ = ["main"]
