"""The data behind each figure, as JSON-ready dicts computed with numpy only.

Each function takes trials (and the space and direction where it needs them) and returns
what the figure shows, so it can be checked in a test or sent to a browser as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from evotune.exceptions import ConfigError
from evotune.plot.source import ParamAxis, losses, pick_params, scored_trials
from evotune.space import Space
from evotune.trial import Trial, TrialState


def history_data(trials: Sequence[Trial], direction: str, metric: str | None = None) -> dict[str, Any]:
    """Every complete trial's value and the best value so far, in trial-number order.

    Returns:
        ``numbers`` and ``values`` of the complete trials; ``best`` the best value among
        the complete trials up to each of them; ``best_number`` the trial holding the best
        value (None when no trial completed); ``failed`` the numbers of failed trials.

    Example:
        >>> from evotune.trial import Trial, TrialState
        >>> done = [Trial(i, {}, TrialState.COMPLETE, value=v) for i, v in enumerate([3.0, 1.0, 2.0])]
        >>> history_data(done, "minimize")["best"]
        [3.0, 1.0, 1.0]
    """
    chosen, values = scored_trials(trials, metric)
    loss = losses(values, direction)
    best_loss = np.minimum.accumulate(loss) if len(loss) else loss
    best = best_loss if direction == "minimize" else -best_loss
    best_number = chosen[int(np.argmin(loss))].number if len(loss) else None
    return {
        "numbers": [t.number for t in chosen],
        "values": values.tolist(),
        "best": best.tolist(),
        "best_number": best_number,
        "failed": [t.number for t in trials if t.state is TrialState.FAILED],
    }


def parallel_data(
    trials: Sequence[Trial], space: Space, params: Sequence[str] | None = None, metric: str | None = None,
) -> dict[str, Any]:
    """One vertical axis per parameter plus one for the value; one line per complete trial.

    Log-scale parameters are given as base-10 logarithms with ticks labelled in the original
    units; categorical parameters as the index of the choice, with the choices as tick labels.

    Returns:
        ``dimensions``: a list of ``{name, values, tickvals, ticktext, range}``; ``color``:
        each line's value; ``numbers``: each line's trial number.
    """
    names = pick_params(space, params)
    chosen, values = scored_trials(trials, metric)
    dimensions = []
    for name in names:
        axis = ParamAxis(name, space[name])
        raw = [t.params.get(name) for t in chosen]
        dimensions.append(_parallel_dimension(axis, raw))
    low, high = (float(values.min()), float(values.max())) if len(values) else (0.0, 1.0)
    dimensions.append({"name": metric or "value", "values": values.tolist(), "tickvals": None,
                       "ticktext": None, "range": [low, high]})
    return {"dimensions": dimensions, "color": values.tolist(), "numbers": [t.number for t in chosen]}


def _parallel_dimension(axis: ParamAxis, raw: list[Any]) -> dict[str, Any]:
    if axis.categorical:
        codes = [axis.position(value) for value in raw]
        return {"name": axis.name, "values": codes, "tickvals": list(range(len(axis.labels))),
                "ticktext": list(axis.labels), "range": [0, max(len(axis.labels) - 1, 1)]}
    numbers = np.array(axis.display(raw), dtype=float)
    if not axis.log:
        return {"name": axis.name, "values": finite_list(numbers), "tickvals": None, "ticktext": None,
                "range": [axis.low, axis.high]}
    lo, hi = math.log10(axis.low), math.log10(axis.high)
    ticks = [float(k) for k in range(math.ceil(lo), math.floor(hi) + 1)]
    if len(ticks) < 2:
        ticks = np.linspace(lo, hi, 4).tolist()
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(numbers)
    return {"name": axis.name, "values": finite_list(logs), "tickvals": ticks,
            "ticktext": [f"{10 ** t:.4g}" for t in ticks], "range": [lo, hi]}


def finite_list(numbers: np.ndarray) -> list[float | None]:
    """A list for JSON: NaN and infinities (a value outside the space) become None."""
    return [float(v) if math.isfinite(v) else None for v in numbers]


def slice_data(
    trials: Sequence[Trial], space: Space, params: Sequence[str] | None = None, metric: str | None = None,
) -> list[dict[str, Any]]:
    """For each parameter, the value of every complete trial against that parameter.

    Returns:
        One ``{name, scale, x, y, numbers}`` per parameter (``scale`` is "linear", "log" or
        "category"; categorical ones also carry ``categories``).
    """
    names = pick_params(space, params)
    chosen, values = scored_trials(trials, metric)
    panels = []
    for name in names:
        axis = ParamAxis(name, space[name])
        panel = axis.describe()
        panel.update({"x": axis.display([t.params.get(name) for t in chosen]), "y": values.tolist(),
                      "numbers": [t.number for t in chosen]})
        panels.append(panel)
    return panels


def contour_data(
    trials: Sequence[Trial], space: Space, x: str, y: str, direction: str, metric: str | None = None,
    resolution: int = 40,
) -> dict[str, Any]:
    """A smoothed surface of the value over two parameters, with the trials on top.

    The surface is a Gaussian kernel regression (Nadaraya-Watson) of the observed values on a
    ``resolution`` x ``resolution`` grid in unit coordinates; the bandwidth shrinks as trials
    accumulate (``0.3 * n ** (-1/6)``, at least 0.03). Cells with too little nearby evidence
    are left empty (None) rather than invented.

    Returns:
        ``x`` and ``y``: axis descriptions with ``grid`` (the values along the axis); ``z``:
        rows of values (one row per ``y`` grid value); ``points``: the trials' ``x``, ``y``,
        ``values`` and ``numbers``; ``best_number``.

    Raises:
        ConfigError: When ``x`` and ``y`` are the same or not in the space.
    """
    pick_params(space, [x, y], minimum=2)
    if x == y:
        raise ConfigError(f"a contour needs two different parameters, got x={x!r} and y={y!r}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 2:
        raise ConfigError(f"resolution must be an integer >= 2, got {resolution!r}")
    chosen, values = scored_trials(trials, metric)
    axis_x, axis_y = ParamAxis(x, space[x]), ParamAxis(y, space[y])
    raw_x = [t.params.get(x) for t in chosen]
    raw_y = [t.params.get(y) for t in chosen]
    ux, uy = axis_x.unit(raw_x), axis_y.unit(raw_y)
    keep = np.isfinite(ux) & np.isfinite(uy)
    grid_ux, values_x = axis_x.grid(resolution)
    grid_uy, values_y = axis_y.grid(resolution)
    z = kernel_surface(ux[keep], uy[keep], values[keep], grid_ux, grid_uy)
    loss = losses(values, direction)
    out_x, out_y = axis_x.describe(), axis_y.describe()
    out_x["grid"], out_y["grid"] = values_x, values_y
    return {
        "x": out_x, "y": out_y,
        "z": [[None if math.isnan(v) else float(v) for v in row] for row in z],
        "points": {"x": axis_x.display(raw_x), "y": axis_y.display(raw_y), "values": values.tolist(),
                   "numbers": [t.number for t in chosen]},
        "best_number": chosen[int(np.argmin(loss))].number if len(loss) else None,
    }


def thinned_indices(values: Sequence[float], direction: str, limit: int) -> list[int]:
    """At most ``limit`` indices into ``values``, in order: the best fifth of ``limit`` by value
    (the best always among them), the rest evenly spaced over the others."""
    if len(values) <= limit:
        return list(range(len(values)))
    order = np.argsort(losses(np.asarray(values, dtype=float), direction), kind="stable")
    keep = {int(i) for i in order[: max(1, limit // 5)]}
    rest = [i for i in range(len(values)) if i not in keep]
    stride = len(rest) / (limit - len(keep))
    keep.update(rest[int(i * stride)] for i in range(limit - len(keep)))
    return sorted(keep)


def kernel_surface(
    ux: np.ndarray, uy: np.ndarray, values: np.ndarray, grid_x: np.ndarray, grid_y: np.ndarray,
    min_weight: float = 0.05,
) -> np.ndarray:
    """Gaussian kernel regression of ``values`` at the grid points (rows follow ``grid_y``).

    The kernel is separable, so the sums over trials are two matrix products: about
    ``len(grid)**2 * n`` operations, some 20 milliseconds for 10,000 trials.
    """
    z = np.full((len(grid_y), len(grid_x)), np.nan)
    n = len(values)
    if n == 0:
        return z
    bandwidth = max(0.03, 0.3 * n ** (-1.0 / 6.0))
    kx = np.exp(-0.5 * ((grid_x[:, None] - ux[None, :]) / bandwidth) ** 2)  # (gx, n)
    ky = np.exp(-0.5 * ((grid_y[:, None] - uy[None, :]) / bandwidth) ** 2)  # (gy, n)
    # einsum rather than "@": on small outer dimensions it avoids BLAS threading overhead
    weight = np.einsum("yn,xn->yx", ky, kx)
    total = np.einsum("yn,xn->yx", ky, kx * values[None, :])
    filled = weight >= min_weight
    z[filled] = total[filled] / weight[filled]
    return z
