"""Commands to look at studies and steer them by hand.

studies, trials, trial, best, export, delete (looking), and add, enqueue, suggest, tell
(manual experiments).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

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
from evotune.exceptions import NonFiniteResultError, ParamsError, ResultError, TrialStateError
from evotune.export import rows_to_csv, trial_rows
from evotune.space import Categorical, Float, Int, Space
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
    trial = _trial(study, number)
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
def _split_pair(option: str, pair: str, example: str, error: type[Exception]) -> tuple[str, str]:
    """Split an ``option NAME=VALUE`` text into the name and the value text."""
    name, sep, text = pair.partition("=")
    name = name.strip()
    if not sep or not name:
        raise error(f"{option} {pair!r}: expected NAME=VALUE, e.g. {option} {example}")
    return name, text


def parse_params(space: Space, pairs: Sequence[str]) -> dict[str, Any]:
    """Turn ``--param name=value`` texts into a validated parameter set (ParamsError names the field)."""
    raw: dict[str, Any] = {}
    for pair in pairs:
        name, text = _split_pair("--param", pair, "lr=0.01", ParamsError)
        if name not in space:
            raise ParamsError(f"--param {pair!r}: the study has no parameter {name!r} (it has {', '.join(space)})")
        if name in raw:
            raise ParamsError(f"--param {pair!r}: parameter {name!r} is given twice")
        raw[name] = _convert(name, space[name], text.strip())
    return space.validate(raw)


def _convert(name: str, dist: Any, text: str) -> Any:
    if isinstance(dist, Int):
        return _integer(name, dist, text)
    if isinstance(dist, Float):
        try:
            return float(text)
        except ValueError:
            raise ParamsError(f"parameter {name!r} must be a number, got {text!r}") from None
    if isinstance(dist, Categorical):
        for choice in dist.choices:  # the exact text first, then a number or JSON spelling
            if isinstance(choice, str) and choice == text:
                return choice
        for choice in dist.choices:
            if not isinstance(choice, str) and text in (str(choice), json.dumps(choice)):
                return choice
        raise ParamsError(f"parameter {name!r} must be one of {list(dist.choices)!r}, got {text!r}")
    return text


def _integer(name: str, dist: Int, text: str) -> int:
    """The exact integer that ``text`` spells ("12", "-3", "1e3", "2.0"), checked against the bounds.

    Errors quote the text as typed: a value out of range is never shown as a long expansion.
    """
    number: int | Decimal
    try:
        number = int(text)
    except ValueError:
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or number != number.to_integral_value():
            raise ParamsError(f"parameter {name!r} must be an integer, got {text!r}") from None
    if not dist.low <= number <= dist.high:  # before int(): "1e999999" would take ages to expand
        raise ParamsError(f"parameter {name!r} must be in [{dist.low}, {dist.high}], got {text!r}")
    return int(number)


def parse_metrics(metric: str | None, pairs: Sequence[str]) -> dict[str, float] | float:
    """Turn ``--metric name=value`` texts into a result (a bare number means the study's metric)."""
    if len(pairs) == 1 and "=" not in pairs[0]:
        try:
            return float(pairs[0])
        except ValueError:
            raise ResultError(f"--metric {pairs[0]!r}: expected NAME=VALUE or a number") from None
    metrics: dict[str, float] = {}
    for pair in pairs:
        name, text = _split_pair("--metric", pair, f"{metric or 'accuracy'}=0.91", ResultError)
        if name in metrics:
            raise ResultError(f"--metric {pair!r}: metric {name!r} is given twice")
        try:
            metrics[name] = float(text)
        except ValueError:
            raise ResultError(f"--metric {pair!r}: {text.strip()!r} is not a number") from None
    return metrics


def _metric_hint(study: Study, result: float | dict[str, float]) -> str:
    """How to give the metrics on the command line, when ``result`` names none the study can rank."""
    if not isinstance(result, dict):
        return ""
    if study.metric is not None:
        return "" if study.metric in result else (f"; give it with --metric {study.metric}=VALUE (beside the other "
                                                  f"metrics), or record runs without {study.metric!r} in a study of "
                                                  f"their own")
    if len(result) > 1:
        return ("; record only the metric to optimize, --metric NAME=VALUE: the study then optimizes that "
                "metric, and later results may report others beside it")
    return "; on the command line, --metric NAME=VALUE names a metric and a bare --metric VALUE is a plain number"


def _record_result(study: Study, record: Any, result: float | dict[str, float]) -> Trial:
    """``record(result)`` (the study's add or tell), with a command-line hint on a metric error."""
    try:
        return record(result)
    except NonFiniteResultError:
        raise
    except ResultError as error:
        raise ResultError(f"{error}{_metric_hint(study, result)}") from None


_params_option = click.option("--param", "-p", "params", multiple=True, metavar="NAME=VALUE",
                              help="A parameter value (repeat for each parameter).")
_metrics_option = click.option("--metric", "-m", "metrics", multiple=True, metavar="NAME=VALUE",
                               help="A metric value (repeatable); a bare number means the study's metric.")


@main.command("add")
@click.argument("name")
@_params_option
@_metrics_option
@storage_option
def add_command(name: str, params: tuple[str, ...], metrics: tuple[str, ...], storage: str) -> None:
    """Record a run done by hand in study NAME, as a completed trial.

    Every parameter of the study's space must be given; nothing is written on an error.

    \b
    Example:
      evotune add mlp --param lr=0.01 --param layers=2 --param act=relu --metric val_accuracy=0.91
    """
    if not metrics:
        raise click.UsageError("give the run's result with --metric NAME=VALUE")
    study = load_study(name, storage)
    checked = parse_params(study.space, params)
    trial = _record_result(study, lambda result: study.add(checked, result), parse_metrics(study.metric, metrics))
    click.echo(f"recorded trial {trial.number}: {study.metric or 'value'} = {number_text(trial.value)}, "
               f"params {json.dumps(trial.params)}")


@main.command("enqueue")
@click.argument("name")
@_params_option
@storage_option
def enqueue_command(name: str, params: tuple[str, ...], storage: str) -> None:
    """Queue a parameter set in study NAME, to be run before the strategy's own proposals.

    A parameter set that a trial already holds (COMPLETE, RUNNING or WAITING) is refused, with
    exit code 2; one whose trials all FAILED is queued again.

    \b
    Example:
      evotune enqueue mlp --param lr=0.003 --param layers=3 --param act=tanh
    """
    study = load_study(name, storage)
    checked = parse_params(study.space, params)
    holder = study.trial_holding(checked)
    trial = study.enqueue(checked) if holder is None else None
    if trial is None:  # held, or queued by another process just now
        holder = holder or study.trial_holding(checked)
        assert holder is not None
        raise InputError(f"study {name!r} already has {json.dumps(checked)} in trial {holder.number} "
                         f"({holder.state.value}); not queued again{_held_hint(name, holder)}")
    click.echo(f"queued trial {trial.number}: {json.dumps(trial.params)} "
               f"(`evotune run` or `evotune suggest {name}` takes it next)")


def _held_hint(name: str, holder: Trial) -> str:
    if holder.state is TrialState.WAITING:
        return f": it runs before the strategy's proposals (`evotune run`, or `evotune suggest {name}`)"
    if holder.state is TrialState.RUNNING:
        return (f": if that run will never finish, record it with `evotune tell {name} {holder.number} "
                f"--failed REASON`, then queue it again")
    return f": see its result with `evotune trial {name} {holder.number}`"


@main.command("suggest")
@click.argument("name")
@storage_option
def suggest_command(name: str, storage: str) -> None:
    """Start the next trial of study NAME to run by hand, and print it as JSON.

    Prints {"trial": N, "params": {...}} on standard output; the trial stays RUNNING until
    its result is recorded with `evotune tell`, however long that takes: workers running on
    the same study never declare it lost. To give up on it: `evotune tell NAME N --failed
    REASON`. Queued parameter sets come first.

    \b
    Example:
      evotune suggest mlp
      evotune tell mlp 7 --metric val_accuracy=0.93
    """
    study = load_study(name, storage)
    try:
        trial = study.ask()
    except TrialStateError as error:
        if study.strategy.name == "manual":
            raise click.ClickException(f"nothing to suggest: study {name!r} uses manual search and its "
                                       f"queue is empty; add guesses with `evotune enqueue {name}`") from None
        raise click.ClickException(f"nothing to suggest: {error}") from None
    click.echo(json.dumps({"trial": trial.number, "params": trial.params}))
    metric = study.metric or "value"
    click.echo(f"trial {trial.number} started; record its result with:\n"
               f"  evotune tell {name} {trial.number} --metric {metric}=VALUE", err=True)


@main.command("tell")
@click.argument("name")
@click.argument("trial_number", metavar="TRIAL", type=int)
@_metrics_option
@click.option("--failed", "failure", metavar="REASON", help="Record the trial as FAILED with this reason.")
@storage_option
def tell_command(name: str, trial_number: int, metrics: tuple[str, ...], failure: str | None, storage: str) -> None:
    """Record the result of TRIAL of study NAME, started with `evotune suggest`.

    \b
    Examples:
      evotune tell mlp 7 --metric val_accuracy=0.93 --metric loss=0.21
      evotune tell mlp 8 --failed "out of memory"
    """
    if bool(metrics) == bool(failure):
        raise click.UsageError("give either --metric NAME=VALUE or --failed REASON")
    study = load_study(name, storage)
    trial = _trial(study, trial_number)
    if trial.state is not TrialState.RUNNING:
        hint = ""
        if trial.state is TrialState.FAILED:
            args = " ".join(f"--param {k}={v}" for k, v in trial.params.items())
            hint = f"; to record the run anyway: evotune add {name} {args} --metric ..."
        raise TrialStateError(f"trial {trial_number} of {name!r} is {trial.state.value}, not RUNNING"
                              f"{f' ({trial.error})' if trial.error else ''}{hint}")
    if failure:
        study.tell(trial_number, error=failure)
        click.echo(f"trial {trial_number} recorded as FAILED: {failure}")
        return
    done = _record_result(study, lambda result: study.tell(trial_number, result), parse_metrics(study.metric, metrics))
    if done.state is TrialState.FAILED:  # a NaN or infinite value: recorded like a diverged run
        raise InputError(f"trial {trial_number} recorded as FAILED: {done.error}")
    click.echo(f"trial {trial_number} recorded: {study.metric or 'value'} = {number_text(done.value)}")


def _trial(study: Study, number: int) -> Trial:
    trials = study.trials
    if not 0 <= number < len(trials):
        raise click.BadParameter(f"study {study.name!r} has no trial {number} (trials 0 to {len(trials) - 1})"
                                 if trials else f"study {study.name!r} has no trials yet", param_hint="TRIAL")
    return trials[number]
