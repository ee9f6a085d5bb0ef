"""Turning what an objective returns into a value and named metrics."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from evotune.exceptions import NonFiniteResultError, ResultError
from evotune.trial import Trial, TrialState

#: Metric name used when an objective returns a bare number and the study names none.
DEFAULT_METRIC = "value"


#: The attr of a FAILED trial that keeps what JSON can store of the result the study refused.
REFUSED_RESULT = "refused_result"
#: Identical refusals, one for each of the first trials of a run, after which ``optimize`` stops
#: when the results lack the metric by their names alone (see :class:`RefusalStreak`).
REPEATED_REFUSALS = 3


def _stand_in(value: Any) -> str:
    """What to show for an object whose ``repr`` or ``str`` raises."""
    return f"<{type(value).__name__} object>"


def _shown(value: Any) -> str:
    """``repr(value)``, or a stand-in when the object cannot show itself."""
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ of a user's object must not stop the study
        return _stand_in(value)


def error_text(error: BaseException) -> str:
    """``"ExceptionType: message"``, with a stand-in for a message that ``str`` cannot give.

    Example:
        >>> error_text(ValueError("bad lr"))
        'ValueError: bad lr'
    """
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ of a user's exception must not stop the study
        message = _stand_in(error)
    return f"{type(error).__name__}: {message}"


def _number(name: str, raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, numbers.Real):
        if hasattr(raw, "item") and getattr(raw, "size", 1) == 1:  # numpy and torch scalars
            try:
                inner = raw.item()
            except Exception:  # noqa: BLE001 - not a scalar after all
                inner = raw
            if inner is not raw:
                return _number(name, inner)
        raise ResultError(f"metric {name!r} must be a number, got {_shown(raw)} ({type(raw).__name__})")
    try:
        value = float(raw)
    except OverflowError:  # an integer beyond any float
        value = math.inf if raw > 0 else -math.inf
    if not math.isfinite(value):
        raise NonFiniteResultError(f"metric {name!r} must be finite, got {value!r}")
    return value


def parse_result(result: Any, metric: str | None) -> tuple[float, dict[str, float]]:
    """Return ``(value, metrics)`` from a number or a dict of named numbers.

    Args:
        result: What the objective returned (or what was given to ``tell`` / ``add``).
        metric: The metric the study optimizes; required to pick one of several metrics.

    Raises:
        ResultError: Naming what came back and what was expected.
    """
    if isinstance(result, Mapping):
        if not result:
            raise ResultError("the result is an empty dict; expected a number or a dict of named metrics")
        metrics = {}
        for name, raw in result.items():
            if not isinstance(name, str) or not name.strip():
                raise ResultError(f"metric names must be non-empty strings, got {name!r} (with the value {_shown(raw)})")
            metrics[name] = _number(name, raw)
        if metric is None:
            if len(metrics) > 1:
                raise ResultError(
                    f"the result has several metrics {sorted(metrics)}; name the one to optimize "
                    f"with Study(metric=...)"
                )
            return next(iter(metrics.values())), metrics
        if metric not in metrics:
            raise ResultError(f"the result has no metric {metric!r}; it has {sorted(metrics)}")
        return metrics[metric], metrics
    if result is None or isinstance(result, (str, bytes)):
        raise ResultError(
            f"expected a number or a dict of named metrics, got {_shown(result)} ({type(result).__name__})"
        )
    name = metric or DEFAULT_METRIC
    value = _number(name, result)
    return value, {name: value}


def refusal(problem: ResultError, result: Any) -> tuple[str, dict[str, Any]]:
    """The error and the attrs of a FAILED trial whose result the study refused.

    The attrs keep what JSON can store of the result under ``"refused_result"``, so that its
    numbers are not lost: NaN and infinite floats as text (see :func:`storable`), and of a dict,
    the entries with a name and a value JSON can store.

    Args:
        problem: Why the study refused the result (from :func:`parse_result`).
        result: The result the objective returned.
    """
    if isinstance(result, Mapping):
        kept: Any = storable_only({name: storable(value) for name, value in result.items()}) or None
    else:
        kept = storable_only({REFUSED_RESULT: storable(result)}).get(REFUSED_RESULT)
    if kept is None:
        return f"objective returned an invalid result: {problem}", {}
    return (f"objective returned an invalid result: {problem} (what it returned is kept in the trial's "
            f"attrs[{REFUSED_RESULT!r}])"), {REFUSED_RESULT: kept}


def lacks_metric(result: Any, metric: str | None) -> bool:
    """Whether a result cannot give the metric to optimize by its names alone: a dict without
    ``metric``, or with several metrics when the study names none. Every result with the same
    names is refused the same way."""
    if not isinstance(result, Mapping):
        return False
    return metric not in result if metric is not None else len(result) > 1


class RefusalStreak:
    """Tells when the first trials of a run have all had their result refused the same way, for a
    metric that their names lack (see :func:`lacks_metric`): every later trial would be too."""

    def __init__(self) -> None:
        self.error: str | None = None
        self.times = 0

    def add(self, error: str, result: Any, metric: str | None, finished: int) -> bool:
        """Count a refused result; whether the streak has just reached :data:`REPEATED_REFUSALS`.

        Args:
            error: The FAILED trial's error.
            result: The refused result.
            metric: The metric of the study.
            finished: Trials the run has finished, this one included.
        """
        if lacks_metric(result, metric) and (self.times == 0 or error == self.error):
            self.error, self.times = error, self.times + 1
        return self.times == finished == REPEATED_REFUSALS


def metrics_besides(trials: Iterable[Trial], metric: str) -> list[str]:
    """The metrics that complete trials report instead of ``metric``, sorted.

    A study without a metric ranks the single metric each trial reported; it may take
    ``metric`` as its own only when this is empty, or it would rank ``metric`` against them.
    """
    return sorted({name for trial in trials if trial.state is TrialState.COMPLETE and metric not in trial.metrics
                   for name in trial.metrics})


def check_metric_name(metric: str, trials: Iterable[Trial], study: str) -> None:
    """Refuse a result naming ``metric`` alone in a study without a metric, when its complete
    trials report another one: the two would be ranked together.

    Raises:
        ResultError: Naming both metrics and what to report instead.
    """
    reported = metrics_besides(trials, metric)
    if not reported:
        return
    if reported == [DEFAULT_METRIC]:
        remedy = "a plain number, as they do"
    elif len(reported) == 1:
        remedy = f"{reported[0]!r}, as they do"
    else:
        remedy = f"one of {reported}"
    raise ResultError(
        f"the result reports metric {metric!r}, but study {study!r} has no metric and its complete trials "
        f"report {reported}: results of different metrics cannot be ranked together; report {remedy}, "
        f"or record {metric!r} in a study of its own"
    )


@dataclass(frozen=True)
class Report:
    """What an objective returns to keep more than metrics with its trial.

    Args:
        result: The usual result (a number or a dict of named metrics); ignored when
            ``error`` is given.
        attrs: JSON-ready data stored in ``Trial.attrs`` (log tails, exit code, paths...),
            whether the trial completes or fails. Numpy (or torch) scalars and arrays are
            stored as Python numbers and lists, and NaN or infinite floats as the text
            ``"nan"``, ``"inf"`` or ``"-inf"``; anything else JSON cannot store fails the
            trial with the reason (the other attrs are kept, except with ``n_jobs`` or Dask
            when the value cannot even be pickled: then the trial fails without its attrs).
        error: The reason the evaluation failed, recorded as the FAILED trial's error
            without a traceback (for failures the objective detected itself, such as a
            training command that exited with an error).

    Example:
        >>> def objective(params):
        ...     return Report({"accuracy": 0.9}, attrs={"log": "converged in 12 epochs"})
    """

    result: Any = None
    attrs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


def storable(value: Any) -> Any:
    """``value`` as JSON can store it: numpy (or torch) scalars and arrays become Python numbers
    and lists, and a NaN or infinite float the text ``"nan"``, ``"inf"`` or ``"-inf"``, nested
    in dicts and lists too. Anything else is returned as it is (``tell`` refuses it).

    Objectives hand back what their training loop holds, such as ``np.float32`` losses, in
    ``Report(attrs=...)``; those are stored rather than refused.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):  # np.float64 too, a float subclass
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, Mapping):
        return {name: storable(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(item) for item in value]
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays, torch tensors
    if callable(tolist) and not isinstance(value, type):
        try:
            plain = tolist()
        except Exception:  # noqa: BLE001 - not an array after all: tell names the value it refuses
            return value
        if plain is not value:
            return storable(plain)
    return value


def storable_only(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """The entries of ``attrs`` that JSON can store (the others are left out)."""
    kept = {}
    for name, value in (attrs or {}).items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            continue
        if isinstance(name, str):
            kept[name] = value
    return kept
