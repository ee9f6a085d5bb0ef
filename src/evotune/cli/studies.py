"""Commands to look at studies: studies, trials, trial, best, export, delete.

The commands of manual experiments (add, enqueue, suggest, tell) are in :mod:`evotune.cli.manual`.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from evotune.cli.main import (
    InputError,
    in_memory,
    load_study,
    main,
    no_database,
    open_existing,
    stdout_console,
    storage_option,
)
from evotune.cli.tables import duration_text, number_text, sort_trials, trials_table
from evotune.export import rows_to_csv, trial_rows
from evotune.storage import redact_url
from evotune.study import Study
from evotune.trial import Trial, TrialState

_FORMATS = click.Choice(["table", "csv", "json"])


# -- looking --------------------------------------------------------------------------------------
@main.command("studies")
@storage_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def studies_command(storage: str, fmt: str) -> None:
    """List the studies in a storage, with their trial counts and best values.

    \b
    Example:
      evotune studies --storage sqlite:///evotune.db
    """
    opened = open_existing(storage)
    if opened is None and in_memory(storage):
        raise InputError(no_database(storage))
    summaries = opened.list_studies() if opened is not None else []
    if fmt == "json":
        click.echo(json.dumps([
            {"name": s.name, "direction": s.direction, "metric": s.metric, "strategy": s.strategy,
             "n_trials": s.n_trials, "n_complete": s.n_complete, "n_failed": s.n_failed,
             "best_value": s.best_value, "created_at": s.created_at.isoformat(),
             "last_activity": s.last_activity.isoformat() if s.last_activity else None}
            for s in summaries
        ], indent=2))
        return
    if not summaries:
        click.echo(f"no studies in {redact_url(storage)}")
        return
    from rich.table import Table

    table = Table(title=f"studies in {redact_url(storage)}", title_justify="left")
    for column in ("name", "strategy", "direction", "metric", "trials", "complete", "failed", "best",
                   "last activity"):
        table.add_column(column, justify="right" if column in ("trials", "complete", "failed", "best") else "left")
    for s in summaries:
        activity = s.last_activity.astimezone().strftime("%Y-%m-%d %H:%M") if s.last_activity else ""
        table.add_row(s.name, s.strategy, s.direction, s.metric or "", str(s.n_trials), str(s.n_complete),
                      str(s.n_failed), number_text(s.best_value), activity)
    stdout_console().print(table)


@main.command("trials")
@click.argument("name")
@storage_option
@click.option("--sort", "sort_key", metavar="COLUMN",
              help="Sort by number, value, duration, a parameter or a metric (the study's metric: best first).")
@click.option("--reverse", is_flag=True, help="Reverse the order.")
@click.option("--state", "states", multiple=True, type=click.Choice([s.value for s in TrialState], case_sensitive=False),
              help="Only trials in this state (repeatable).")
@click.option("--limit", type=click.IntRange(min=1), help="Show at most this many trials.")
@click.option("--format", "fmt", type=_FORMATS, default="table", show_default=True)
def trials_command(name: str, storage: str, sort_key: str | None, reverse: bool, states: tuple[str, ...],
                   limit: int | None, fmt: str) -> None:
    """Show the trials of study NAME as a table, CSV or JSON.

    \b
    Examples:
      evotune trials mlp
      evotune trials mlp --sort val_accuracy --limit 10
      evotune trials mlp --state FAILED --format json
    """
    study = load_study(name, storage, read_only=True)
    trials = study.trials
    if states:
        wanted = {s.upper() for s in states}
        trials = [t for t in trials if t.state.value in wanted]
    if sort_key:
        trials = sort_trials(study, trials, sort_key, reverse)
    elif reverse:
        trials = trials[::-1]
    trials = trials[:limit] if limit else trials
    if fmt == "csv":
        click.echo(rows_to_csv(*trial_rows(trials, list(study.space))), nl=False)
    elif fmt == "json":
        click.echo(json.dumps([t.to_dict() for t in trials], indent=2))
    elif not trials:
        click.echo(f"study {name!r} has no trials" + (" in that state" if states else ""))
    else:
        title = f"study {name!r}: {len(trials)} trials ({study.direction} {study.metric or 'value'})"
        stdout_console().print(trials_table(study, trials, title))


@main.command("trial")
@click.argument("name")
@click.argument("number", type=int)
@storage_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def trial_command(name: str, number: int, storage: str, fmt: str) -> None:
    """Show everything about one trial: params, metrics, error, and the ends of its output.

    \b
    Example:
      evotune trial mlp 12
    """
    study = load_study(name, storage, read_only=True)
    trial = trial_of(study, number)
    if fmt == "json":
        click.echo(json.dumps(trial.to_dict(), indent=2))
        return
    click.echo(f"trial {trial.number} of study {name!r}: {trial.state.value}")
    for label, value in (("value", number_text(trial.value)), ("params", json.dumps(trial.params)),
                         ("metrics", json.dumps(trial.metrics)), ("duration", duration_text(trial.duration)),
                         ("origin", trial.origin), ("command", " ".join(trial.attrs.get("command", []))),
                         ("exit code", trial.attrs.get("exit_code"))):
        if value not in (None, "", "{}"):
            click.echo(f"  {label}: {value}")
    if trial.error:
        click.echo("error:\n  " + trial.error.strip().replace("\n", "\n  "))
    for stream in ("stdout_tail", "stderr_tail"):
        if trial.attrs.get(stream):
            click.echo(f"--- {stream.replace('_', ' ')} ---\n{trial.attrs[stream].rstrip()}")


@main.command("best")
@click.argument("name")
@storage_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def best_command(name: str, storage: str, fmt: str) -> None:
    """Show the best trial of study NAME (its value, parameters and metrics).

    \b
    Examples:
      evotune best mlp
      evotune best mlp --format json    # {"number": .., "value": .., "params": {..}, "metrics": {..}}
    """
    study = load_study(name, storage, read_only=True)
    best = study.best
    if best is None:
        raise click.ClickException(f"study {name!r} has no completed trial yet ({len(study.trials)} trials)")
    if fmt == "json":
        click.echo(json.dumps({"number": best.number, "value": best.value, "params": best.params,
                               "metrics": best.metrics}, indent=2))
        return
    click.echo(f"best trial of {name!r}: {best.number}, {study.metric or 'value'} = {number_text(best.value)}")
    click.echo("params:")
    for key, value in best.params.items():
        click.echo(f"  {key} = {value!r}")
    if len(best.metrics) > 1:
        click.echo("metrics:")
        for key, value in best.metrics.items():
            click.echo(f"  {key} = {number_text(value)}")


@main.command("export")
@click.argument("name")
@storage_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="File to write: .csv or .json.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), help="Default: from the file's suffix.")
def export_command(name: str, storage: str, output: str, fmt: str | None) -> None:
    """Write every trial of study NAME to a CSV or JSON file.

    \b
    Examples:
      evotune export mlp -o mlp.csv
      evotune export mlp -o mlp.json
    """
    suffix = Path(output).suffix.lower().lstrip(".")
    fmt = fmt or suffix
    if fmt not in ("csv", "json"):
        raise click.BadParameter(f"cannot tell the format of {output!r}: end it in .csv or .json, or give --format",
                                 param_hint="--output")
    study = load_study(name, storage, read_only=True)
    try:
        study.to_csv(output) if fmt == "csv" else study.to_json(output)
    except OSError as error:
        raise click.ClickException(f"could not write {output!r}: {error.strerror or error}") from None
    click.echo(f"wrote {len(study.trials)} trials of {name!r} to {output}")


@main.command("delete")
@click.argument("name")
@storage_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete_command(name: str, storage: str, yes: bool) -> None:
    """Delete study NAME and all its trials (asks first unless --yes).

    \b
    Example:
      evotune delete mlp --yes
    """
    study = load_study(name, storage)
    count = len(study.trials)
    if not yes:
        click.confirm(f"Delete study {name!r} and its {count} trials from {redact_url(storage)}?", abort=True)
    study.storage.delete_study(name)
    click.echo(f"deleted study {name!r} ({count} trials)")


# -- manual experiments -----------------------------------------------------------------------------
def trial_of(study: Study, number: int) -> Trial:
    """Trial ``number`` of ``study``; a click error naming the trials it has when there is none."""
    trials = study.trials
    if not 0 <= number < len(trials):
        raise click.BadParameter(f"study {study.name!r} has no trial {number} (trials 0 to {len(trials) - 1})"
                                 if trials else f"study {study.name!r} has no trials yet", param_hint="TRIAL")
    return trials[number]
