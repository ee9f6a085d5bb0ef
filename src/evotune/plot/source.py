"""What the plots read: a snapshot of a study, the scored trials, and one axis per parameter.

Everything here is plain Python and numpy, so the figures' data can be tested without plotly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evotune.exceptions import ConfigError
from evotune.results import DEFAULT_METRIC
from evotune.space import Categorical, Distribution, Space
from evotune.storage import Storage
from evotune.trial import Trial, TrialState

DIRECTIONS = ("minimize", "maximize")


@dataclass(frozen=True)
class StudySnapshot:
    """A read-only view of a study at one moment: enough to draw every plot.

    A :class:`~evotune.Study` can be passed wherever a snapshot is expected.

    Attributes:
        name: The study's name.
        space: Its search space.
        direction: "minimize" or "maximize".
        metric: The optimized metric's name (None when the objective returns a bare number).
        trials: Every trial, in number order.
    """

    name: str
    space: Space
    direction: str
    metric: str | None
    trials: Sequence[Trial]


def load_snapshot(storage: Storage, name: str) -> StudySnapshot:
    """Read a study and its trials from a storage, writing nothing.

    Raises:
        StudyNotFoundError: When the storage has no study of that name.
    """
    record = storage.load_study(name)
    return StudySnapshot(
        name=record.name, space=Space.from_dict(record.space), direction=record.direction,
        metric=record.metric, trials=storage.get_trials(record.study_id),
    )


def as_snapshot(study: Any) -> StudySnapshot:
    """Accept a :class:`StudySnapshot` or anything shaped like a Study.

    Raises:
        ConfigError: When ``study`` has no ``space``, ``direction`` and ``trials``.
    """
    if isinstance(study, StudySnapshot):
        return study
    try:
        return StudySnapshot(
            name=getattr(study, "name", "study"), space=Space.coerce(study.space),
            direction=study.direction, metric=getattr(study, "metric", None), trials=list(study.trials),
        )
    except AttributeError:
        raise ConfigError(
            f"expected an evotune Study or StudySnapshot to plot, got {type(study).__name__}"
        ) from None


def check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
    return direction


def metric_direction(study: StudySnapshot, metric: str | None = None, direction: str | None = None) -> str:
    """Whether lower or higher is better for the plotted ``metric``.

    ``direction`` when given; else the study's direction, for the metric it optimizes. Another
    metric's direction is not guessed from its name (``neg_log_loss`` is a loss to maximize),
    so it must be given.

    Raises:
        ConfigError: For a direction that is not "minimize" or "maximize", a metric no trial
            reports, or another metric than the optimized one given without ``direction``.
    """
    if direction is not None:
        return check_direction(direction)
    optimized = study.metric or DEFAULT_METRIC
    if metric is None or metric == optimized:
        return study.direction
    scored_trials(study.trials, metric)  # an unknown metric is named as such first
    raise ConfigError(
        f"direction must be given to plot metric {metric!r}: study {study.name!r} optimizes {optimized!r} "
        f"({study.direction}), and which way is better for {metric!r} is not known; pass "
        f"direction='minimize' or direction='maximize' (evotune plot: --direction)"
    )


def scored_trials(trials: Sequence[Trial], metric: str | None = None) -> tuple[list[Trial], np.ndarray]:
    """The COMPLETE trials that have a finite value, and those values.

    Args:
        trials: Trials of a study.
        metric: Read this entry of ``Trial.metrics`` instead of ``Trial.value``.

    Raises:
        ConfigError: When ``metric`` is given and no complete trial reports it.
    """
    if metric is not None and not isinstance(metric, str):
        raise ConfigError(f"metric must be the name of a reported metric, got {metric!r}")
    chosen: list[Trial] = []
    values: list[float] = []
    seen_metrics: set[str] = set()
    for trial in trials:
        if trial.state is not TrialState.COMPLETE:
            continue
        seen_metrics.update(trial.metrics)
        raw = trial.value if metric is None else trial.metrics.get(metric)
        if raw is None or not math.isfinite(raw):
            continue
        chosen.append(trial)
        values.append(float(raw))
    if metric is not None and not chosen and seen_metrics:
        raise ConfigError(f"metric must be one of {sorted(seen_metrics)}, got {metric!r}")
    return chosen, np.asarray(values, dtype=float)


def losses(values: np.ndarray, direction: str) -> np.ndarray:
    """Values turned so that lower is better whatever the direction."""
    return values if check_direction(direction) == "minimize" else -values


def pick_params(space: Space, params: Sequence[str] | None, minimum: int = 1) -> list[str]:
    """The parameters to plot: ``params`` checked against the space, or all of them.

    Raises:
        ConfigError: For a name that is not in the space, or fewer than ``minimum`` names.
    """
    if params is None:
        names = list(space)
    else:
        names = list(params)
        for name in names:
            if not isinstance(name, str) or name not in space:  # a list is no name (nor hashable)
                raise ConfigError(f"params must name parameters of the space {list(space)}, got {name!r}")
    if len(names) < minimum:
        raise ConfigError(f"params must name at least {minimum} parameter(s), got {names!r}")
    return names


def choice_label(value: Any) -> str:
    """How a categorical choice is written on an axis: strings as they are, others as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def choice_labels(choices: Sequence[Any]) -> list[str]:
    """One distinct label per choice: :func:`choice_label`, or JSON where labels would be equal.

    ``["relu", None]`` gives ``relu`` and ``null``; ``[1, "1"]`` gives ``1`` and ``"1"`` (the
    string quoted), as do ``[None, "null"]`` and ``[True, "true"]``. Choices are unique by
    their JSON, so quoting every colliding string always ends with distinct labels.
    """
    labels = [choice_label(c) for c in choices]
    while True:
        counts: dict[str, int] = {}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        clashing = [i for i, label in enumerate(labels) if counts[label] > 1 and label != json.dumps(choices[i])]
        if not clashing:
            return labels
        for i in clashing:
            labels[i] = json.dumps(choices[i])


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class ParamAxis:
    """One parameter as a plot axis: its scale, its ticks, and a continuous unit coordinate.

    Numbers map linearly (or logarithmically for ``log=True``) from the bounds to ``[0, 1]``;
    an Int is treated as a continuous range here, which keeps grids free of repeated values.
    A categorical choice maps to the middle of its equal slice of ``[0, 1]``.
    """

    def __init__(self, name: str, distribution: Distribution):
        self.name = name
        self.distribution = distribution
        self.categorical = isinstance(distribution, Categorical)
        self.log = bool(getattr(distribution, "log", False))
        if self.categorical:
            choices = distribution.choices  # type: ignore[attr-defined]
            self.labels = choice_labels(choices)
            self._positions = {distribution.key(c): i for i, c in enumerate(choices)}
            self.scale = "category"
        else:
            self.low = float(distribution.low)  # type: ignore[attr-defined]
            self.high = float(distribution.high)  # type: ignore[attr-defined]
            self.scale = "log" if self.log else "linear"

    def position(self, value: Any) -> int | None:
        """The index of a categorical value among the choices (None for a value not in the space)."""
        try:
            return self._positions.get(self.distribution.key(value))
        except (TypeError, ValueError):  # not JSON: not a choice
            return None

    def display(self, values: Sequence[Any]) -> list[Any]:
        """Values as drawn on the axis: numbers stay numbers, choices become their labels."""
        if self.categorical:
            positions = [self.position(v) for v in values]
            return [choice_label(v) if at is None else self.labels[at] for v, at in zip(values, positions)]
        return [float(v) if _is_number(v) else None for v in values]

    def unit(self, values: Sequence[Any]) -> np.ndarray:
        """Continuous coordinate in [0, 1] of each value (NaN for a value not in the space)."""
        if self.categorical:
            count = len(self.labels)
            positions = [self.position(v) for v in values]
            return np.array([np.nan if at is None else (at + 0.5) / count for at in positions], dtype=float)
        numbers = np.array([float(v) if _is_number(v) else np.nan for v in values], dtype=float)
        if self.log:
            with np.errstate(divide="ignore", invalid="ignore"):
                return (np.log(numbers) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (numbers - self.low) / (self.high - self.low)

    def grid(self, points: int) -> tuple[np.ndarray, list[Any]]:
        """Evenly spaced unit coordinates and the axis values they stand for."""
        if self.categorical:
            count = len(self.labels)
            return (np.arange(count) + 0.5) / count, list(self.labels)
        units = np.linspace(0.0, 1.0, points)
        if self.log:
            values = np.exp(math.log(self.low) + units * (math.log(self.high) - math.log(self.low)))
        else:
            values = self.low + units * (self.high - self.low)
        return units, [float(v) for v in values]

    def describe(self) -> dict[str, Any]:
        """JSON-ready description: name, scale, and the choices of a categorical."""
        data: dict[str, Any] = {"name": self.name, "scale": self.scale}
        if self.categorical:
            data["categories"] = list(self.labels)
        else:
            data["range"] = [self.low, self.high]
        return data
