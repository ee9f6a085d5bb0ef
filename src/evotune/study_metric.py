"""How a study names its metric, and keeps results of different metrics from being ranked together.

A study created without a metric ranks the single metric each result reports. It takes the
first metric a result names alone as its own (and stores it), so that from then on every result
must report that metric; before that, a result naming another metric than the complete trials
report is refused. A study recorded without a metric takes one on reopening only when all its
complete trials report it, so no value already ranked changes meaning.

Processes sharing the study claim its metric before they write the trial that reports it: the
storage stores a metric only while the study has none (a compare-and-set) and answers with the
one the study has. So of two processes recording their first results at the same moment with
different metrics, the first to claim wins and the other's result is refused, naming both
metrics, as any result naming another metric is: nothing of it is written (``add`` and ``tell``
raise ResultError; in ``optimize`` the trial is recorded FAILED and the run goes on). A process
reopening the study with ``metric=`` claims it the same way (a StudyConflictError when another
metric won). A crash between the claim and the write leaves a study with a metric that no trial
reports yet, the same as a study created with that metric. One mix remains possible: a plain
number recorded at the very moment another process's result names the study's first metric may
be written beside it, under "value" (a plain number adopts nothing, so it claims nothing and its
write is not conditional). Give such studies a metric when creating them.

:class:`MetricRules` holds these rules for :class:`~evotune.study.Study`, which inherits them; they
use the study's ``storage``, ``name``, ``metric``, ``_record`` and ``_history``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from evotune.exceptions import ResultError, StudyConflictError
from evotune.results import DEFAULT_METRIC, check_metric_name, metrics_besides, parse_result
from evotune.storage.schema import name_problem

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
        stored = self.storage.set_study_metric(record.study_id, metric)
        if stored != metric:  # another process named (or adopted) another metric since the check
            raise StudyConflictError(
                f"study {self.name!r} already exists with metric={stored!r}, got metric={metric!r}; open it "
                f"with that metric (or none), or give a study of {metric!r} another name"
            )
        return dataclasses.replace(record, metric=metric)

    def _refresh_metric(self) -> None:
        """Take up the metric that another process (or Study object) gave the study."""
        metric = self.storage.load_study(self.name).metric
        if metric is not None:
            self._record, self.metric = dataclasses.replace(self._record, metric=metric), metric

    def _parse_result(self, result: Any) -> tuple[float, dict[str, float], str | None]:
        """``(value, metrics, metric to adopt)`` for a result of this study; writes nothing.

        A study created without a metric takes the first metric that a result names alone as its
        own (:meth:`_claim_metric`, before the trial is written), so that two metrics are never
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
        problem = name_problem(name)
        if problem is not None:
            raise ResultError(f"metric name {name[:60]!r}{'...' if len(name) > 60 else ''} cannot become the "
                              f"study's metric: {problem}")
        check_metric_name(name, self._history.completed, self.name)
        return value, metrics, None if name == DEFAULT_METRIC else name  # {"value": x} is a plain number

    def _claim_metric(self, metric: str | None) -> None:
        """Make ``metric`` the study's metric before a trial reporting it is written (None: nothing to do).

        The third item of :meth:`_parse_result`. The storage stores it only while the study has
        no metric, atomically, so that of two processes adopting different metrics at once one
        wins; the other takes up the winner's metric, and its result is refused.

        Raises:
            ResultError: When the study took another metric since :meth:`_parse_result` checked
                the result (another process's first result named it first); nothing is written.
        """
        if metric is None or self.metric is not None:
            return
        stored = self.storage.set_study_metric(self._record.study_id, metric)
        self._record, self.metric = dataclasses.replace(self._record, metric=stored), stored
        if stored != metric:
            raise ResultError(
                f"the result has no metric {stored!r}; it has {[metric]}: study {self.name!r} took {stored!r} "
                f"as its metric, which another result recorded at the same moment named first"
            )
        logger.info("study %r now optimizes the metric %r, which its first named result reports; results "
                    "must report it from now on", self.name, metric)
