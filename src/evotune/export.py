"""Flat tables of trials: rows for pandas, CSV and JSON exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from evotune.trial import Trial

BASE_COLUMNS = ["number", "state", "value", "started_at", "finished_at", "duration",
                "generation", "parents", "origin", "error"]


def trial_rows(trials: Sequence[Trial], param_names: Sequence[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns and one flat row per trial: ``params_<name>`` and ``metrics_<name>`` columns."""
    metric_names: list[str] = []
    for trial in trials:
        for name in trial.metrics:
            if name not in metric_names:
                metric_names.append(name)
    columns = (BASE_COLUMNS[:3] + [f"params_{n}" for n in param_names]
               + [f"metrics_{n}" for n in metric_names] + BASE_COLUMNS[3:])
    rows = []
    for trial in trials:
        row: dict[str, Any] = {
            "number": trial.number, "state": trial.state.value, "value": trial.value,
            "started_at": trial.started_at.isoformat() if trial.started_at else None,
            "finished_at": trial.finished_at.isoformat() if trial.finished_at else None,
            "duration": trial.duration, "generation": trial.generation,
            "parents": json.dumps(list(trial.parents)), "origin": trial.origin, "error": trial.error,
        }
        row.update({f"params_{n}": trial.params.get(n) for n in param_names})
        row.update({f"metrics_{n}": trial.metrics.get(n) for n in metric_names})
        rows.append(row)
    return columns, rows


def rows_to_csv(columns: list[str], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
