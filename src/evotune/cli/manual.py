"""Commands of manual experiments: add (a run done by hand), enqueue (a guess to try next),
suggest and tell (a trial run by hand, its parameters out and its result in)."""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import click

from evotune.cli.main import InputError, load_study, main, storage_option
from evotune.cli.studies import trial_of
from evotune.cli.tables import number_text
from evotune.exceptions import NonFiniteResultError, ParamsError, ResultError, TrialStateError
from evotune.space import Categorical, Float, Int, Space
from evotune.study import Study
from evotune.trial import Trial, TrialState


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
    trial = trial_of(study, trial_number)
    if trial.state is not TrialState.RUNNING:
        hint = ""
        if trial.state is TrialState.FAILED:
            args = " ".join(f"--param {shlex.quote(f'{k}={v}')}" for k, v in trial.params.items())
            hint = f"; to record the run anyway: evotune add {name} {args} --metric ..."
        raise TrialStateError(f"trial {trial_number} of {name!r} is {trial.state.value}, not RUNNING"
                              f"{f' ({trial.error})' if trial.error else ''}{hint}")
    if trial.heartbeat_at is not None:  # stamped: an optimize loop runs it and will record its result
        runner = trial.attrs.get("worker")
        raise TrialStateError(
            f"trial {trial_number} of {name!r} is being run by {f'worker {runner}' if runner else 'a worker'} "
            f"(`evotune run`, `evotune worker` or `optimize`), which records its result; `tell` records only "
            f"trials started with `evotune suggest`"
        )
    if failure:
        study.tell(trial_number, error=failure)
        click.echo(f"trial {trial_number} recorded as FAILED: {failure}")
        return
    done = _record_result(study, lambda result: study.tell(trial_number, result), parse_metrics(study.metric, metrics))
    if done.state is TrialState.FAILED:  # a NaN or infinite value: recorded like a diverged run
        raise InputError(f"trial {trial_number} recorded as FAILED: {done.error}")
    click.echo(f"trial {trial_number} recorded: {study.metric or 'value'} = {number_text(done.value)}")
