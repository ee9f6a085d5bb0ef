"""Entry point and the study-inspection commands (studies, trials, best)."""

from __future__ import annotations

import click

import evotune
from evotune.storage import DEFAULT_URL


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(evotune.__version__, prog_name="evotune")
def main() -> None:
    """evotune: hyperparameter tuning from the command line."""


storage_option = click.option("--storage", default=DEFAULT_URL, show_default=True, help="Storage URL.")
