"""Plots of a study: history, parallel coordinates, slices, contour, importance and lineage.

Each ``plot_*`` function takes a :class:`~evotune.Study` (or a :class:`StudySnapshot`) and
returns a plotly figure; :func:`save_figure` writes it as self-contained HTML or as an image.
The numbers behind each figure come from plain functions (``history_data``, ``lineage_data``,
...) that need numpy only. Plotly is an optional dependency: ``pip install 'evotune[plot]'``.

Parameter importance uses PED-ANOVA (see :mod:`evotune.plot.importance`).

``metric=`` plots another reported metric than the optimized one. Where the plot needs to know
which values are best (history, parallel, contour, importance, lineage), that metric's
``direction=`` must be given too: it is not guessed from the metric's name.

Example:
    >>> import evotune as et
    >>> from evotune.plot import plot_history
    >>> study = et.Study({"x": et.Float(-3, 3)}, strategy=et.RandomSearch(seed=0))
    >>> _ = study.optimize(lambda p: p["x"] ** 2, max_trials=20)
    >>> fig = plot_history(study)  # doctest: +SKIP
    >>> save_figure(fig, "history.html")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from evotune.exceptions import ConfigError
from evotune.plot import figures
from evotune.plot.data import contour_data, history_data, parallel_data, slice_data, thinned_indices
from evotune.plot.export import save_figure
from evotune.plot.importance import MIN_TRIALS, importance_data, values_vary
from evotune.plot.lineage import has_lineage, lineage_data
from evotune.plot.source import (
    StudySnapshot,
    as_snapshot,
    check_direction,
    load_snapshot,
    metric_direction,
    pick_params,
    scored_trials,
)

#: The figures :func:`plot` can draw, by name.
PLOT_KINDS = ("history", "parallel", "slice", "contour", "importance", "lineage")


def _label(study: StudySnapshot, metric: str | None) -> str:
    return metric or study.metric or "value"


def plot_history(study: Any, *, metric: str | None = None, direction: str | None = None,
                 max_points: int | None = None) -> Any:
    """Every complete trial's value and the best so far, by trial number.

    Args:
        metric: Plot this reported metric instead of the optimized one.
        direction: "minimize" or "maximize" for ``metric``; needed for a metric other than
            the optimized one, whose direction is the study's (see :func:`metric_direction`).
        max_points: Draw at most this many dots (every improvement, the rest evenly spaced);
            the best-so-far line still follows every trial.

    Raises:
        ConfigError: For another metric than the optimized one without ``direction``.
    """
    snap = as_snapshot(study)
    data = history_data(snap.trials, metric_direction(snap, metric, direction), metric)
    return figures.history_figure(data, snap.name, _label(snap, metric), max_points)


def plot_parallel(study: Any, *, params: Sequence[str] | None = None, metric: str | None = None,
                  direction: str | None = None) -> Any:
    """Parallel coordinates of the parameters and the value, one line per complete trial.

    ``direction`` (needed with another ``metric`` than the optimized one) sets which end of
    the color scale is best.
    """
    snap = as_snapshot(study)
    direction = metric_direction(snap, metric, direction)
    data = parallel_data(snap.trials, snap.space, params, metric)
    data["dimensions"][-1]["name"] = _label(snap, metric)
    return figures.parallel_figure(data, snap.name, direction)


def plot_slice(study: Any, *, params: Sequence[str] | None = None, metric: str | None = None) -> Any:
    """The value against each parameter, one panel per parameter."""
    snap = as_snapshot(study)
    return figures.slice_figure(slice_data(snap.trials, snap.space, params, metric), snap.name,
                                _label(snap, metric))


def plot_contour(study: Any, *, params: Sequence[str] | None = None, metric: str | None = None,
                 direction: str | None = None, resolution: int = 40, max_points: int | None = None) -> Any:
    """The value over two parameters (default: the two most important ones).

    Args:
        direction: "minimize" or "maximize" for ``metric``; needed for a metric other than
            the optimized one, whose direction is the study's (see :func:`metric_direction`).
        max_points: Draw at most this many trials as dots (the best fifth of them, the rest
            evenly spaced in trial order); the surface still uses every trial.

    Raises:
        ConfigError: When ``params`` does not name exactly two parameters, or the space has
            only one; for another metric than the optimized one without ``direction``.
    """
    snap = as_snapshot(study)
    direction = metric_direction(snap, metric, direction)
    x, y = contour_params(snap, params, metric, direction)
    data = contour_data(snap.trials, snap.space, x, y, direction, metric, resolution)
    points = data["points"]
    if max_points is not None and len(points["numbers"]) > max_points:
        keep = thinned_indices(points["values"], direction, max_points)
        data["points"] = {key: [column[i] for i in keep] for key, column in points.items()}
    return figures.contour_figure(data, snap.name, direction, _label(snap, metric))


def contour_params(study: Any, params: Sequence[str] | None = None, metric: str | None = None,
                   direction: str | None = None) -> tuple[str, str]:
    """The two parameters a contour shows: ``params`` when given, else the two most important.

    Without enough complete trials to rate the parameters, or when their values do not vary
    (no parameter can matter), the first two parameters of the space are shown.
    """
    snap = as_snapshot(study)
    if params is not None:
        names = list(params)
        if len(names) != 2:
            raise ConfigError(f"a contour needs exactly two params, got {names!r}")
        names = pick_params(snap.space, names)
        return names[0], names[1]
    if len(snap.space) < 2:
        raise ConfigError(f"a contour needs a space of two or more parameters, study {snap.name!r} has one")
    names = list(snap.space)
    chosen, values = scored_trials(snap.trials, metric)
    if len(chosen) >= MIN_TRIALS and values_vary(values):
        better = metric_direction(snap, metric, direction)
        names = list(importance_data(snap.trials, snap.space, better, metric=metric)["importances"])
    return names[0], names[1]


def param_importances(study: Any, *, params: Sequence[str] | None = None, metric: str | None = None,
                      direction: str | None = None, top_fraction: float = 0.1) -> dict[str, float]:
    """Each parameter's share of the importance (PED-ANOVA), largest first, summing to 1.

    ``direction`` (needed with another ``metric`` than the optimized one) says which trials are the top ones.
    """
    snap = as_snapshot(study)
    direction = metric_direction(snap, metric, direction)
    return importance_data(snap.trials, snap.space, direction, params, metric, top_fraction)["importances"]


def plot_importance(study: Any, *, params: Sequence[str] | None = None, metric: str | None = None,
                    direction: str | None = None, top_fraction: float = 0.1) -> Any:
    """Horizontal bars of each parameter's importance (PED-ANOVA); ``direction`` as in :func:`param_importances`."""
    snap = as_snapshot(study)
    direction = metric_direction(snap, metric, direction)
    data = importance_data(snap.trials, snap.space, direction, params, metric, top_fraction)
    return figures.importance_figure(data, snap.name)


def plot_lineage(study: Any, *, metric: str | None = None, direction: str | None = None) -> Any:
    """The family tree of an evolutionary study (generations, parents, the best path).

    ``direction`` (needed with another ``metric`` than the optimized one) says which trial is best.

    Raises:
        ConfigError: When no trial records a generation or parents.
    """
    snap = as_snapshot(study)
    direction = metric_direction(snap, metric, direction)
    data = lineage_data(snap.trials, direction, metric)
    return figures.lineage_figure(data, snap.name, direction, _label(snap, metric))


def check_kind(kind: str, params: Sequence[str] | None) -> None:
    """Refuse an unknown plot kind, or ``params`` given to a kind that takes none (ConfigError)."""
    if kind not in PLOT_KINDS:
        raise ConfigError(f"plot kind must be one of {list(PLOT_KINDS)}, got {kind!r}")
    if kind in ("history", "lineage") and params:
        raise ConfigError(f"the {kind} plot takes no params, got params={list(params)!r}")


def plot(study: Any, kind: str, *, params: Sequence[str] | None = None, metric: str | None = None,
         direction: str | None = None) -> Any:
    """Draw the figure named ``kind`` (one of :data:`PLOT_KINDS`).

    ``direction`` is the plotted ``metric``'s, needed for another metric than the optimized
    one by every kind but "slice" (which shows values without ranking them).

    Raises:
        ConfigError: For an unknown kind, ``params`` given to a kind that takes none, or
            another metric than the optimized one without ``direction``.
    """
    check_kind(kind, params)
    if kind == "slice":
        if direction is not None:
            check_direction(direction)
        return plot_slice(study, params=params, metric=metric)
    if kind in ("history", "lineage"):
        return (plot_history if kind == "history" else plot_lineage)(study, metric=metric, direction=direction)
    drawers = {"parallel": plot_parallel, "contour": plot_contour, "importance": plot_importance}
    return drawers[kind](study, params=params, metric=metric, direction=direction)


__all__ = [
    "PLOT_KINDS", "StudySnapshot", "contour_data", "contour_params", "has_lineage", "history_data",
    "importance_data", "lineage_data", "load_snapshot", "metric_direction", "param_importances", "parallel_data", "plot",
    "plot_contour", "plot_history", "plot_importance", "plot_lineage", "plot_parallel", "plot_slice",
    "save_figure", "slice_data",
]
