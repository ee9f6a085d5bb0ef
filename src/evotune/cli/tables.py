"""Rendering trials for the terminal: numbers, durations, trial tables and their order."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from evotune.study import Study
from evotune.trial import Trial, TrialState


def number_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    return f"{minutes // 60} h {minutes % 60} min"


def trials_table(study: Study, trials: Sequence[Trial], title: str | None = None, rank: bool = False) -> Any:
    """A rich table of trials: number, state, value, each parameter, other metrics, duration.

    With ``rank`` (a leaderboard of completed trials), a rank column replaces state, origin
    and error.
    """
    from rich.table import Table

    metric = study.metric or "value"
    extra_metrics: list[str] = []
    for trial in trials:
        extra_metrics += [m for m in trial.metrics if m != metric and m not in extra_metrics]
    columns: list[tuple[str, Callable[[int, Trial], str]]] = []
    if rank:
        columns.append(("rank", lambda position, _: str(position)))
    columns.append(("trial", lambda _, trial: str(trial.number)))
    if not rank:
        columns.append(("state", lambda _, trial: trial.state.value))
    columns.append((metric, lambda _, trial: number_text(trial.value)))
    columns += [(name, lambda _, trial, name=name: number_text(trial.params.get(name))) for name in study.space]
    columns += [(name, lambda _, trial, name=name: number_text(trial.metrics.get(name))) for name in extra_metrics]
    columns.append(("duration", lambda _, trial: duration_text(trial.duration)))
    if not rank:
        columns.append(("origin", lambda _, trial: trial.origin or ""))
        if any(t.error for t in trials):
            columns.append(("error", lambda _, trial: _last_line(trial.error)))
    table = Table(title=title, title_justify="left")
    for header, _ in columns:
        if header == "error":
            table.add_column(header, overflow="ellipsis", max_width=60, no_wrap=True)
        else:
            table.add_column(header, justify="left" if header in ("state", "origin") else "right",
                             style="bold" if header == metric else None)
    for position, trial in enumerate(trials, 1):
        style = {"FAILED": "red", "RUNNING": "yellow", "WAITING": "dim"}.get(trial.state.value)
        table.add_row(*[cell(position, trial) for _, cell in columns], style=style)
    return table


def _last_line(text: str | None) -> str:
    """The last line of an error: for a failed command, the end of its standard error."""
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


def ranked(study: Study, trials: Sequence[Trial]) -> list[Trial]:
    """COMPLETE trials, best first (earliest first on ties)."""
    complete = [t for t in trials if t.state is TrialState.COMPLETE and t.value is not None]
    sign = -1.0 if study.direction == "maximize" else 1.0
    return sorted(complete, key=lambda t: (sign * t.value, t.number))  # type: ignore[operator]


def sort_trials(study: Study, trials: list[Trial], key: str, reverse: bool) -> list[Trial]:
    params, metrics = list(study.space), {m for t in trials for m in t.metrics}
    fields = ["number", "value", "duration", *params, *sorted(metrics)]
    if key not in fields:
        raise click.BadParameter(f"{key!r} is not a column; choose from {', '.join(fields)}", param_hint="--sort")
    best_first = key == "value" or key == study.metric
    sign = -1.0 if best_first and study.direction == "maximize" else 1.0

    def value(trial: Trial) -> Any:
        if key == "number":
            return trial.number
        if key == "value":
            return trial.value
        if key == "duration":
            return trial.duration
        return trial.params[key] if key in params else trial.metrics.get(key)

    present = [t for t in trials if value(t) is not None]
    missing = [t for t in trials if value(t) is None]
    try:
        present.sort(key=lambda t: sign * value(t) if isinstance(value(t), (int, float)) else value(t),
                     reverse=reverse)
    except TypeError:  # mixed categorical values: compare their text
        present.sort(key=lambda t: str(value(t)), reverse=reverse)
    return present + missing


