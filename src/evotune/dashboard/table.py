"""The trials table: columns, per-column filters, sorting and pages, computed on the server.

Sending one page at a time keeps the browser fast on studies of any size; a 10,000-trial
table is filtered and sorted here in milliseconds.

Filter expressions, one per column:

- numbers: ``>0.9``, ``>=3``, ``<1e-3``, ``<=5``, ``=4``, ``!=4``, or a range ``0.1..0.5``
  (both ends included); anything else is matched as text;
- text: ``abc`` (contains, ignoring case), ``=abc`` (equals), ``!abc`` (does not contain).

Times are sent as ISO 8601 in UTC (``2024-05-01T12:00:00+00:00``) and shown by the page in
the browser's time zone, like every other time on it; their filters match the ISO text.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from evotune.exceptions import ConfigError
from evotune.plot.source import ParamAxis
from evotune.results import DEFAULT_METRIC
from evotune.space import Categorical, Space
from evotune.trial import Trial

#: Longest error text sent in a table cell (the full text is in the trial's details).
ERROR_PREVIEW = 300
MAX_PAGE = 500

_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
    "=": operator.eq,
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*({_NUMBER})\s*\.\.\s*({_NUMBER})\s*$")
_COMPARE = re.compile(rf"^\s*(>=|<=|!=|>|<|=)\s*({_NUMBER})\s*$")


@dataclass(frozen=True)
class Column:
    """A table column: ``id`` (unique, used by sort and filter), ``label``, ``kind`` "number", "text" or "time"."""

    id: str
    label: str
    kind: str
    group: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "label": self.label, "kind": self.kind, "group": self.group}


def table_columns(space: Space, trials: Sequence[Trial], metric: str | None = None) -> list[Column]:
    """Trial number, state, value, one column per parameter and per metric, then timings and lineage.

    The value column is labelled with the optimized metric's name, which gets no column of its own.
    """
    optimized = metric or DEFAULT_METRIC
    metric_names: dict[str, None] = {}
    for trial in trials:
        for name in trial.metrics:
            if name != optimized:
                metric_names.setdefault(name, None)
    columns = [Column("number", "#", "number", "trial"), Column("state", "state", "text", "trial"),
               Column("value", optimized, "number", "trial")]
    for name, dist in space.items():
        kind = "text" if isinstance(dist, Categorical) else "number"
        columns.append(Column(f"param:{name}", name, kind, "param"))
    columns += [Column(f"metric:{name}", name, "number", "metric") for name in metric_names]
    columns += [Column("duration", "duration (s)", "number", "trial"), Column("started", "started", "time", "trial"),
                Column("generation", "generation", "number", "lineage"),
                Column("origin", "origin", "text", "lineage"), Column("error", "error", "text", "trial")]
    return columns


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _utc_iso(moment: datetime | None) -> str | None:
    """ISO 8601 with the zone, so the browser shows it in local time; naive times are UTC."""
    if moment is None:
        return None
    aware = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    return aware.isoformat()


def table_rows(columns: Sequence[Column], trials: Sequence[Trial], space: Space) -> list[list[Any]]:
    """One list of JSON-ready cells per trial, in column order.

    A categorical choice is written as the plots label it, one distinct label per choice
    (``1`` and ``"1"``, ``null`` and ``"null"``: see :func:`evotune.plot.source.choice_labels`).
    """
    axes = {name: ParamAxis(name, space[name]) for name in space if isinstance(space[name], Categorical)}
    rows = []
    for trial in trials:
        row: list[Any] = []
        for column in columns:
            group, _, name = column.id.partition(":")
            if group == "param":
                if name in axes:  # a choice; None is a valid one, shown as null
                    row.append(axes[name].display([trial.params[name]])[0] if name in trial.params else None)
                else:
                    row.append(_finite(trial.params.get(name)))
            elif group == "metric":
                row.append(_finite(trial.metrics.get(name)))
            elif column.id == "state":
                row.append(trial.state.value)
            elif column.id == "duration":
                duration = trial.duration
                row.append(None if duration is None else round(duration, 3))
            elif column.id == "started":
                row.append(_utc_iso(trial.started_at))
            elif column.id == "error":
                row.append(trial.error[:ERROR_PREVIEW] if trial.error else None)
            else:
                row.append(_finite(getattr(trial, column.id)))
        rows.append(row)
    return rows


def _text_test(expression: str) -> Callable[[Any], bool]:
    if expression.startswith("="):
        wanted = expression[1:].strip().lower()
        return lambda cell: cell is not None and str(cell).lower() == wanted
    if expression.startswith("!"):
        unwanted = expression[1:].strip().lower()
        return lambda cell: cell is None or unwanted not in str(cell).lower()
    needle = expression.lower()
    return lambda cell: cell is not None and needle in str(cell).lower()


def cell_test(column: Column, expression: str) -> Callable[[Any], bool] | None:
    """A predicate for the column's cells, or None for an empty expression."""
    expression = expression.strip()
    if not expression:
        return None
    if column.kind == "number":
        span = _RANGE.match(expression)
        if span:
            low, high = sorted((float(span.group(1)), float(span.group(2))))
            return lambda cell: isinstance(cell, (int, float)) and low <= cell <= high
        compare = _COMPARE.match(expression)
        if compare:
            check, bound = _COMPARISONS[compare.group(1)], float(compare.group(2))
            return lambda cell: isinstance(cell, (int, float)) and check(cell, bound)
    return _text_test(expression)


def select_rows(
    columns: Sequence[Column], rows: Sequence[list[Any]], filters: dict[str, str] | None = None,
    sort: str | None = None, descending: bool = False,
) -> list[list[Any]]:
    """The rows that pass every filter, sorted by the ``sort`` column (empty cells last).

    Raises:
        ConfigError: For a filter or sort naming a column that does not exist.
    """
    index = {column.id: i for i, column in enumerate(columns)}
    tests = []
    for column_id, expression in (filters or {}).items():
        if column_id not in index:
            raise ConfigError(f"filter column must be one of {sorted(index)}, got {column_id!r}")
        if not isinstance(expression, str):
            raise ConfigError(f"filter for column {column_id!r} must be text, got {expression!r}")
        test = cell_test(columns[index[column_id]], expression)
        if test is not None:
            tests.append((index[column_id], test))
    chosen = [row for row in rows if all(test(row[i]) for i, test in tests)] if tests else list(rows)
    if sort is None:
        return chosen[::-1] if descending else chosen
    if sort not in index:
        raise ConfigError(f"sort column must be one of {sorted(index)}, got {sort!r}")
    at = index[sort]
    filled = [row for row in chosen if row[at] is not None]
    empty = [row for row in chosen if row[at] is None]
    numeric = columns[at].kind == "number" and all(isinstance(row[at], (int, float)) for row in filled)
    key: Callable[[list[Any]], Any] = (lambda row: row[at]) if numeric else (lambda row: str(row[at]).lower())
    filled.sort(key=key, reverse=descending)
    return filled + empty


def page(rows: Sequence[list[Any]], offset: int, limit: int) -> list[list[Any]]:
    """Rows ``offset`` to ``offset + limit`` (limit capped at :data:`MAX_PAGE`)."""
    return list(rows[max(offset, 0): max(offset, 0) + min(max(limit, 1), MAX_PAGE)])
