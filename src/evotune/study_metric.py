"""How a study names its metric, and keeps results of different metrics from being ranked together.

A study created without a metric ranks the single metric each result reports. It takes the
first metric a result names alone as its own (and stores it), so that from then on every result
must report that metric; before that, a result naming another metric than the complete trials
report is refused. A study recorded without a metric takes one on reopening only when all its
complete trials report it, so no value already ranked changes meaning.

One race is left open: two processes recording their first results at the same moment, with
different metrics, may both pass the check; the first to store its metric wins and the other's
trial stays ranked beside it (a warning says so). Give such studies a metric when creating them.

:class:`MetricRules` holds these rules for :class:`~evotune.study.Study`, which inherits them; they
use the study's ``storage``, ``name``, ``metric``, ``_record`` and ``_history``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from evotune.exceptions import StudyConflictError
from evotune.results import DEFAULT_METRIC, check_metric_name, metrics_besides, parse_result

logger = logging.getLogger("evotune")


class MetricRules:
    """The metric rules of a study (see the module documentation)."""

    storage: Any
    name: str
    metric: str | None
    _record: Any
    _history: Any

    def _name_metric(self, record: Any, metric: str) -> Any:
        """Name the metric of a study recorded without one, when its complete trials all report it.

        Such a study optimized the single metric each trial reported, so naming that metric
        changes no recorded value; naming another would mix it with the values already ranked.
        """
        reported = metrics_besides(self.storage.get_trials(record.study_id), metric)
        if reported:
            raise StudyConflictError(
                f"study {self.name!r} already exists with metric=None and has complete trials that report "
                f"{reported}, not {metric!r}; open it without a metric, or give a study of {metric!r} "
                f"another name"
            )
        self.storage.set_study_metric(record.study_id, metric)
        return dataclasses.replace(record, metric=metric)

    def _refresh_metric(self) -> None:
        """Take up the metric that another process (or Study object) gave the study."""
        metric = self.storage.load_study(self.name).metric
        if metric is not None:
            self._record, self.metric = dataclasses.replace(self._record, metric=metric), metric

    def _parse_result(self, result: Any) -> tuple[float, dict[str, float], str | None]:
        """``(value, metrics, metric to adopt)`` for a result of this study; writes nothing.

        A study created without a metric takes the first metric that a result names alone as its
        own (:meth:`_adopt_metric`, once the trial is written), so that two metrics are never
        ranked together: until then, such a result is refused when the complete trials report
        another metric. A plain number is recorded as always, under the metric "value".

        Raises:
            ResultError: From :func:`parse_result`, or for a metric other than the one the
                complete trials report (naming both).
        """
        if self.metric is None and isinstance(result, Mapping):
            self._sync()
            self._refresh_metric()
        value, metrics = parse_result(result, self.metric)
        if self.metric is not None or not isinstance(result, Mapping):
            return value, metrics, None
        (name,) = metrics
        check_metric_name(name, self._history.completed, self.name)
        return value, metrics, None if name == DEFAULT_METRIC else name  # {"value": x} is a plain number

    def _adopt_metric(self, metric: str | None) -> None:
        """Make ``metric`` the study's metric, after a trial reporting it was recorded (None: nothing to do)."""
        if metric is None or self.metric is not None:
            return
        try:
            self._record = self._name_metric(self._record, metric)
        except StudyConflictError as conflict:  # another process recorded another metric meanwhile
            self._refresh_metric()
            now = f"its metric is {self.metric!r}" if self.metric is not None else "it keeps no metric"
            logger.warning("study %r did not take the metric %r (%s): %s", self.name, metric, now, conflict)
            return
        self.metric = metric
        logger.info("study %r now optimizes the metric %r, which its first named result reports; results "
                    "must report it from now on", self.name, metric)
