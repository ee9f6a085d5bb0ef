"""Plotly figures drawn from the data functions of :mod:`evotune.plot.data`.

Plotly reads the text of titles, ticks and hover labels as a small subset of HTML, so every
name and value that comes from a study is escaped before it reaches a figure: a parameter
called ``<b>x</b>`` is shown as written, and nothing in a study can inject markup.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

#: Colour scale of values; "best" is always the bright end (reversed when minimizing).
COLOR_SCALE = "Viridis"
TEMPLATE = "plotly_white"


def plotly_modules() -> tuple[Any, Any]:
    """``plotly.graph_objects`` and ``plotly.subplots``, or an ImportError saying what to install."""
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError:
        raise ImportError(
            "evotune plots need plotly: pip install 'evotune[plot]' (or pip install plotly)"
        ) from None
    return go, make_subplots


def safe(text: Any) -> str:
    """Text for a plotly label: HTML special characters escaped."""
    return html.escape(str(text), quote=False)


def _number(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.6g}"


def _floats(values: list[Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def color_range(values: Any, direction: str, share: float = 0.75) -> dict[str, float]:
    """Colour bounds from the best value to the ``share`` quantile of the rest (worse saturate).

    A few very bad trials (typical of a first, random generation) would otherwise squeeze
    every good trial into one colour.
    """
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if len(finite) == 0:
        return {}
    loss = finite if direction == "minimize" else -finite
    best, worst = float(loss.min()), float(np.quantile(loss, share))
    if worst <= best:
        worst = float(loss.max())
    if worst <= best:
        return {}
    low, high = (best, worst) if direction == "minimize" else (-worst, -best)
    return {"cmin": low, "cmax": high}


def _layout(fig: Any, title: str, **extra: Any) -> Any:
    settings: dict[str, Any] = {"margin": {"l": 60, "r": 30, "t": 60, "b": 50}, **extra}
    fig.update_layout(title={"text": safe(title)}, template=TEMPLATE, **settings)
    return fig


def _trial_hover(extra: str = "") -> str:
    """A hover template showing the trial number (customdata) and the y value.

    Templates hold no study text: a name containing ``%{...}`` would be read as a placeholder.
    """
    return "trial %{customdata}" + extra + "<br>%{y:.6g}<extra></extra>"


def _steps(numbers: np.ndarray, best: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points where the best-so-far line changes, and its last point (enough for an "hv" line)."""
    if len(best) == 0:
        return numbers, best
    keep = np.flatnonzero(np.r_[True, best[1:] != best[:-1]])
    if keep[-1] != len(best) - 1:
        keep = np.r_[keep, len(best) - 1]
    return numbers[keep], best[keep]


def thin(count: int, keep: np.ndarray, limit: int) -> np.ndarray:
    """Indices of at most ``limit`` of ``count`` items: those flagged in ``keep``, then others evenly spaced."""
    if count <= limit:
        return np.arange(count)
    forced = np.flatnonzero(keep)[:limit]
    others = np.setdiff1d(np.arange(count), forced)
    room = limit - len(forced)
    spaced = others[np.linspace(0, len(others) - 1, room).astype(int)] if room > 0 and len(others) else others[:0]
    return np.union1d(forced, spaced)


def history_figure(data: dict[str, Any], title: str, value_label: str = "value",
                   max_points: int | None = None) -> Any:
    """Every complete trial's value (dots) and the best value so far (a step line).

    With ``max_points``, a longer history draws that many dots (every improvement, the rest
    evenly spaced); the best-so-far line always follows every trial.
    """
    go, _ = plotly_modules()
    label = safe(value_label)
    numbers = np.asarray(data["numbers"], dtype=np.int64)
    values = np.asarray(data["values"], dtype=float)
    best = np.asarray(data["best"], dtype=float)
    shown = np.arange(len(numbers))
    notes = [f"{len(data['failed'])} failed"] if data["failed"] else []
    if max_points is not None and len(numbers) > max_points:
        improved = np.r_[True, best[1:] != best[:-1]]
        shown = thin(len(numbers), improved, max_points)
        notes.append(f"{len(shown)} of {len(numbers)} complete trials drawn")
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=numbers[shown], y=values[shown], mode="markers", name="trial",
        marker={"size": 5, "color": "#7f9cc7", "opacity": 0.7}, customdata=numbers[shown],
        hovertemplate=_trial_hover(),
    ))
    step_x, step_y = _steps(numbers, best)
    fig.add_trace(go.Scatter(
        x=step_x, y=step_y, mode="lines", name="best so far", line={"color": "#d62728", "width": 2, "shape": "hv"},
        hovertemplate="best so far<br>%{y:.6g}<extra></extra>",
    ))
    subtitle = f" ({', '.join(notes)})" if notes else ""
    return _layout(fig, f"{title}: optimization history{subtitle}", xaxis_title="trial",
                   yaxis_title=label, legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right",
                                              "yanchor": "bottom"})


def parallel_figure(data: dict[str, Any], title: str, direction: str) -> Any:
    """Parallel coordinates: one line per complete trial, coloured by its value."""
    go, _ = plotly_modules()
    dimensions = []
    for dim in data["dimensions"]:
        entry: dict[str, Any] = {"label": safe(dim["name"]), "values": _floats(dim["values"]),
                                 "range": dim["range"]}
        if dim["tickvals"] is not None:
            entry["tickvals"] = dim["tickvals"]
            entry["ticktext"] = list(dim["ticktext"])  # parcoords draws tick text as plain text
        dimensions.append(entry)
    line = {"color": np.array(data["color"], dtype=float), "colorscale": COLOR_SCALE,
            "reversescale": direction == "minimize", "showscale": True,
            **color_range(data["color"], direction)}
    fig = go.Figure(go.Parcoords(line=line, dimensions=dimensions))
    return _layout(fig, f"{title}: parallel coordinates ({len(data['numbers'])} trials)",
                   margin={"l": 80, "r": 80, "t": 90, "b": 40})


def slice_figure(panels: list[dict[str, Any]], title: str, value_label: str = "value") -> Any:
    """One panel per parameter: the value against the parameter, dots coloured by trial number.

    A categorical parameter is drawn at the index of its choice, the choices as tick labels.
    """
    go, make_subplots = plotly_modules()
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[safe(p["name"]) for p in panels],
                        horizontal_spacing=0.06, vertical_spacing=0.18 if rows > 1 else 0.1)
    label = safe(value_label)
    for i, panel in enumerate(panels):
        row, col = i // columns + 1, i % columns + 1
        numbers = np.asarray(panel["numbers"], dtype=np.int64)
        axis: dict[str, Any] = {"type": panel["scale"]}
        if panel["scale"] == "category":
            index = {c: k for k, c in enumerate(panel["categories"])}
            x = np.array([index.get(v, np.nan) for v in panel["x"]], dtype=float)
            count = len(panel["categories"])
            axis = {"type": "linear", "tickvals": list(range(count)),
                    "ticktext": [safe(c) for c in panel["categories"]], "range": [-0.5, count - 0.5]}
            hover = _trial_hover()
        else:
            x = _floats(panel["x"])
            hover = _trial_hover("<br>%{x:.6g}")
        fig.add_trace(go.Scatter(
            x=x, y=np.asarray(panel["y"], dtype=float), mode="markers", showlegend=False, customdata=numbers,
            hovertemplate=hover,
            marker={"size": 5, "color": numbers, "colorscale": "Blues", "opacity": 0.8,
                    "showscale": i == 0, "colorbar": {"title": {"text": "trial"}}},
        ), row=row, col=col)
        fig.update_xaxes(row=row, col=col, **axis)
        if col == 1:
            fig.update_yaxes(title_text=label, row=row, col=col)
    return _layout(fig, f"{title}: slices", height=max(380, 320 * rows))


def _contour_axis(described: dict[str, Any], points: list[Any]) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Grid, point coordinates and axis settings; categories drawn at their index."""
    axis: dict[str, Any] = {"title": {"text": safe(described["name"])}, "type": described["scale"]}
    if described["scale"] != "category":
        return np.asarray(described["grid"], dtype=float), _floats(points), axis
    index = {c: k for k, c in enumerate(described["categories"])}
    count = len(index)
    axis.update({"type": "linear", "tickvals": list(range(count)), "range": [-0.5, count - 0.5],
                 "ticktext": [safe(c) for c in described["categories"]]})
    return (np.arange(count, dtype=float), np.array([index.get(v, np.nan) for v in points], dtype=float), axis)


def contour_figure(data: dict[str, Any], title: str, direction: str, value_label: str = "value") -> Any:
    """The smoothed value surface over two parameters, the trials as dots, the best as a star."""
    go, _ = plotly_modules()
    points = data["points"]
    grid_x, point_x, axis_x = _contour_axis(data["x"], points["x"])
    grid_y, point_y, axis_y = _contour_axis(data["y"], points["y"])
    label = safe(value_label)
    z = np.array([[np.nan if v is None else v for v in row] for row in data["z"]], dtype=float)
    fig = go.Figure(go.Contour(
        x=grid_x, y=grid_y, z=z, colorscale=COLOR_SCALE, reversescale=direction == "minimize",
        colorbar={"title": {"text": label}}, connectgaps=False, contours={"coloring": "heatmap"},
        hovertemplate="smoothed %{z:.6g}<extra></extra>",
    ))
    numbers = np.asarray(points["numbers"], dtype=float)
    custom = np.column_stack([numbers, np.asarray(points["values"], dtype=float)]) if len(numbers) else None
    hover = "trial %{customdata[0]}<br>%{customdata[1]:.6g}<extra></extra>"
    fig.add_trace(go.Scatter(
        x=point_x, y=point_y, mode="markers", name="trial", customdata=custom, hovertemplate=hover,
        marker={"size": 5, "color": "rgba(0,0,0,0.55)", "line": {"width": 0.5, "color": "white"}},
    ))
    if data["best_number"] is not None:
        at = points["numbers"].index(data["best_number"])
        fig.add_trace(go.Scatter(
            x=point_x[at:at + 1], y=point_y[at:at + 1], mode="markers", name="best",
            customdata=custom[at:at + 1], hovertemplate=hover,  # type: ignore[index]
            marker={"symbol": "star", "size": 16, "color": "#d62728", "line": {"width": 1, "color": "white"}},
        ))
    return _layout(fig, f"{title}: contour", legend={"orientation": "h", "y": -0.15}, xaxis=axis_x, yaxis=axis_y)


def importance_figure(data: dict[str, Any], title: str) -> Any:
    """Horizontal bars: each parameter's share of the importance, largest on top."""
    go, _ = plotly_modules()
    names = list(data["importances"])[::-1]
    shares = [data["importances"][n] for n in names]
    fig = go.Figure(go.Bar(
        x=shares, y=[safe(n) for n in names], orientation="h", marker={"color": "#4c78a8"},
        hovertext=[f"{safe(n)}: {s:.1%}" for n, s in zip(names, shares)], hoverinfo="text",
        text=[f"{s:.1%}" for s in shares], textposition="auto",
    ))
    method = (f"{data['method']}: top {data['top_fraction']:.0%} ({data['n_top']} of {data['n_trials']} "
              f"trials) vs all")
    return _layout(fig, f"{title}: parameter importance ({method})", xaxis_title="share of importance",
                   xaxis={"tickformat": ".0%", "range": [0, max(shares + [0.01]) * 1.1]},
                   height=max(300, 120 + 40 * len(names)))


def lineage_figure(data: dict[str, Any], title: str, direction: str, value_label: str = "value") -> Any:
    """The family tree: generations as columns, edges parent -> child, the best path in red."""
    go, _ = plotly_modules()
    nodes = data["nodes"]
    where = {node["number"]: (node["generation"], -node["rank"]) for node in nodes}
    edges = data["edges"]
    edge_x = np.full(3 * len(edges), np.nan, dtype=np.float32)  # NaN between segments breaks the line
    edge_y = np.full(3 * len(edges), np.nan, dtype=np.float32)
    for i, (parent, child) in enumerate(edges):
        (edge_x[3 * i], edge_y[3 * i]), (edge_x[3 * i + 1], edge_y[3 * i + 1]) = where[parent], where[child]
    fig = go.Figure()
    alpha = max(0.05, min(0.35, 0.35 * (500 / max(len(edges), 1)) ** 0.5))  # fainter when there are many
    fig.add_trace(go.Scatter(x=edge_x, y=edge_y, mode="lines", name="parent -> child", hoverinfo="skip",
                             line={"color": f"rgba(120,120,120,{alpha:.2f})", "width": 1}))
    label = safe(value_label)
    hover = ("trial %{customdata[0]} (generation %{x})<br>%{customdata[1]:.6g}"
             "<br>%{text}<extra></extra>")

    def details(node: dict[str, Any]) -> str:
        parents = ", ".join(str(p) for p in node["parents"]) or "none"
        return f"{safe(node['origin'] or node['state'])}, parents {parents}"

    generations = data["generations"]
    # markers shrink as the tree widens and deepens, so they do not hide one another
    size = max(3.0, min(9.0, 9.0 * (30 / max(len(generations), 1)) ** 0.5))
    outline = {"width": 0.5 if size > 5 else 0, "color": "white"}
    for name, chosen, marker in (
        ("trial", [n for n in nodes if n["value"] is not None], {"size": size, "line": outline}),
        ("failed or running", [n for n in nodes if n["value"] is None],
         {"size": max(size - 1, 3), "symbol": "x", "color": "#999999"}),
    ):
        if not chosen:
            continue
        values = np.array([np.nan if n["value"] is None else n["value"] for n in chosen], dtype=float)
        if name == "trial":
            marker.update({"color": values, "colorscale": COLOR_SCALE, "reversescale": direction == "minimize",
                           "showscale": True, "colorbar": {"title": {"text": label}},
                           **color_range(values.tolist(), direction)})
        fig.add_trace(go.Scatter(
            x=np.array([n["generation"] for n in chosen], dtype=float),
            y=np.array([-n["rank"] for n in chosen], dtype=float), mode="markers", name=name, marker=marker,
            customdata=np.column_stack([np.array([n["number"] for n in chosen], dtype=float), values]),
            text=[details(n) for n in chosen], hovertemplate=hover,
        ))
    path = data["best_path"]
    if path:
        fig.add_trace(go.Scatter(
            x=np.array([where[n][0] for n in path], dtype=float), y=np.array([where[n][1] for n in path], dtype=float),
            mode="lines", name="best path", line={"color": "#d62728", "width": 3}, hoverinfo="skip",
        ))
    return _layout(fig, f"{title}: lineage ({len(generations)} generations)",
                   xaxis={"title": {"text": "generation"}, "dtick": 1 if len(generations) <= 30 else None,
                          "range": [min(generations) - 0.5, max(generations) + 0.5]},
                   yaxis={"title": {"text": "rank in generation (best on top)"}, "showticklabels": False,
                          "zeroline": False},
                   legend={"orientation": "h", "y": -0.15})
