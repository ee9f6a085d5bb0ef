"""Exporting a study: every trial as a pandas DataFrame or CSV, the whole study as JSON.

The columns are those of :func:`evotune.export.trial_rows`: ``params_<name>``, ``metrics_<name>``,
state, timings and lineage. pandas is needed only for ``to_dataframe``.

:class:`TrialExport` holds these for :class:`~evotune.study.Study`, which inherits them; they use
the study's ``name``, ``direction``, ``metric``, ``space``, ``strategy`` and ``trials``.
"""

from __future__ import annotations

import json
from typing import Any

from evotune.export import rows_to_csv, trial_rows
from evotune.space import Space


class TrialExport:
    """The export methods of a study (see the module documentation)."""

    name: str
    direction: str
    metric: str | None
    space: Space
    strategy: Any
    trials: Any

    def _table(self) -> tuple[list[str], list[dict[str, Any]]]:
        return trial_rows(self.trials, list(self.space))

    def to_dataframe(self) -> Any:
        """All trials as a pandas DataFrame: params_*, metrics_*, state, timings, lineage."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_dataframe needs pandas: pip install pandas (or use to_csv / to_json)") from None
        columns, rows = self._table()
        return pd.DataFrame(rows, columns=columns)

    def to_csv(self, path: str | None = None) -> str:
        """Write all trials as CSV to ``path`` (when given) and return the text."""
        text = rows_to_csv(*self._table())
        if path is not None:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        return text

    def to_json(self, path: str | None = None) -> str:
        """Write the study (settings and every trial) as JSON to ``path`` and return the text."""
        data = {
            "name": self.name, "direction": self.direction, "metric": self.metric,
            "space": self.space.to_dict(), "strategy": self.strategy.to_config(),
            "trials": [t.to_dict() for t in self.trials],
        }
        text = json.dumps(data, indent=2)
        if path is not None:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
        return text
