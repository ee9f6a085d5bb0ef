"""Plotly figures: what they draw, that study text is escaped, and the file exports."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil

import numpy as np
import pytest

import evotune as et
from evotune.exceptions import ConfigError
from evotune.plot import (
    PLOT_KINDS,
    contour_params,
    plot,
    plot_contour,
    plot_history,
    plot_importance,
    plot_lineage,
    plot_parallel,
    plot_slice,
    save_figure,
)
from evotune.plot.figures import color_range
from evotune.storage import MemoryStorage

from .studies import HOSTILE_NAME, HOSTILE_PARAM, evolution_study, mixed_space, random_study

pytest.importorskip("plotly")


def _decoded(array) -> list:
    """Values of a plotly trace array, whether a list, a numpy array or a typed-array dict."""
    return np.asarray(array).tolist()


@pytest.fixture(scope="module")
def study() -> et.Study:
    return random_study(120)


def test_history_figure_has_the_trials_and_the_best_step_line(study):
    fig = plot_history(study)
    dots, best = fig.data
    complete = [t for t in study.trials if t.state is et.TrialState.COMPLETE]
    assert _decoded(dots.x) == [t.number for t in complete]
    assert best.line.shape == "hv"
    assert _decoded(best.y)[-1] == pytest.approx(study.best.value)
    steps = _decoded(best.y)
    assert np.all(np.diff(steps[:-1]) < 0)  # only the points where the best improves...
    assert _decoded(best.x)[-1] == complete[-1].number  # ...and the last trial, so the line spans them all
    assert "optimization history" in fig.layout.title.text


def test_every_kind_draws_for_a_random_study(study):
    for kind in PLOT_KINDS:
        if kind == "lineage":
            continue
        fig = plot(study, kind)
        assert fig.data, kind
    assert plot_parallel(study).data[0].type == "parcoords"
    assert len(plot_slice(study).data) == 4
    assert plot_contour(study).data[0].type == "contour"
    assert plot_importance(study).data[0].type == "bar"


def test_contour_defaults_to_the_two_most_important_parameters(study):
    assert contour_params(study) == ("lr", "depth")
    assert contour_params(study, ["noise", "act"]) == ("noise", "act")
    with pytest.raises(ConfigError, match="exactly two params, got \\['lr'\\]"):
        contour_params(study, ["lr"])
    with pytest.raises(ConfigError, match="parameters of the space .* got 'width'"):
        contour_params(study, ["lr", "width"])
    one = et.Study({"x": et.Float(0, 1)})
    with pytest.raises(ConfigError, match="two or more parameters"):
        contour_params(one)


def test_contour_of_a_study_whose_value_does_not_vary_shows_the_first_two_parameters():
    constant = et.Study(mixed_space(), direction="maximize", strategy=et.RandomSearch(seed=0))
    constant.optimize(lambda p: 0.5, max_trials=20, show_progress=False)
    # No parameter can be rated, so none is called the most important: the space order stands.
    assert contour_params(constant) == ("lr", "depth")
    fig = plot_contour(constant)
    assert fig.data[0].type == "contour" and fig.layout.xaxis.title.text == "lr"
    with pytest.raises(ConfigError, match="does not vary"):
        plot_importance(constant)


def _accuracy_study() -> et.Study:
    """Maximizes ``acc`` and also reports ``loss``, which is lowest where ``acc`` is highest."""
    study = et.Study({"x": et.Float(-3.0, 3.0), "y": et.Float(0.0, 1.0)}, direction="maximize", metric="acc",
                     strategy=et.RandomSearch(seed=1))
    study.optimize(lambda p: {"acc": -(p["x"] - 1) ** 2, "loss": (p["x"] - 1) ** 2 + 0.01 * p["y"]},
                   max_trials=40)
    return study


def test_another_metric_is_plotted_with_its_own_direction():
    study = _accuracy_study()
    losses = [t.metrics["loss"] for t in study.trials]
    fig = plot_history(study, metric="loss", direction="minimize")
    assert _decoded(fig.data[1].y)[-1] == pytest.approx(min(losses))  # best so far: the lowest loss
    contour = plot_contour(study, params=["x", "y"], metric="loss", direction="minimize")
    star = next(trace for trace in contour.data if trace.name == "best")
    best = min(study.trials, key=lambda t: t.metrics["loss"])
    assert _decoded(star.x) == [best.params["x"]]
    # the optimized metric, named or not, keeps the study's direction
    assert _decoded(plot_history(study, metric="acc").data[1].y)[-1] == pytest.approx(study.best.value)
    assert _decoded(plot_history(study).data[1].y)[-1] == pytest.approx(study.best.value)


@pytest.mark.parametrize("kind", ["history", "parallel", "contour", "importance"])
def test_another_metric_without_its_direction_is_refused_naming_it(kind):
    study = _accuracy_study()
    with pytest.raises(ConfigError, match="direction must be given to plot metric 'loss': study .* optimizes "
                                          r"'acc' \(maximize\)"):
        plot(study, kind, metric="loss")
    with pytest.raises(ConfigError, match="metric must be one of .* got 'nope'"):  # an unknown one: named so
        plot(study, kind, metric="nope")
    with pytest.raises(ConfigError, match="direction must be 'minimize' or 'maximize', got 'lowest'"):
        plot(study, kind, metric="loss", direction="lowest")
    assert plot(study, "slice", metric="loss") is not None  # a slice ranks nothing


def test_plot_rejects_unknown_kinds_and_params_where_none_apply(study):
    with pytest.raises(ConfigError, match="plot kind must be one of .* got 'pie'"):
        plot(study, "pie")
    with pytest.raises(ConfigError, match="the history plot takes no params"):
        plot(study, "history", params=["lr"])


def test_lineage_figure_marks_the_best_path():
    study, members = evolution_study(MemoryStorage())
    fig = plot_lineage(study)
    traces = {trace.name: trace for trace in fig.data}
    assert [trace.name for trace in fig.data] == ["parent -> child", "trial", "failed or running", "best path"]
    path = traces["best path"]  # drawn last, over the trials
    assert _decoded(path.x) == [0, 1, 2, 3]
    assert _decoded(path.y) == [0, 0, 0, 0]  # the best of each generation sits on top
    assert len(_decoded(traces["failed or running"].x)) == 3  # one failed trial in each of generations 1-3
    edges = _decoded(traces["parent -> child"].x)
    assert len(edges) == 3 * 27  # 3 values per edge; 9 edges (1 + 2 * 4 parents) in each of 3 generations


def test_color_range_keeps_a_few_bad_trials_from_flattening_the_colours():
    values = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 100.0]
    bounds = color_range(values, "minimize")
    assert bounds["cmin"] == 1.0 and bounds["cmax"] < 2.0
    high = color_range([-v for v in values], "maximize")
    assert high["cmax"] == -1.0 and high["cmin"] > -2.0
    assert color_range([3.0, 3.0], "minimize") == {}


def test_study_text_is_escaped_in_every_figure():
    space = et.Space({HOSTILE_PARAM: et.Float(0.0, 1.0), "b": et.Categorical(["<b>bold</b>", "plain"])})
    study = et.Study(space, strategy=et.RandomSearch(seed=2), name=HOSTILE_NAME)
    study.optimize(lambda p: p[HOSTILE_PARAM], max_trials=30, show_progress=False)
    for kind in ("history", "parallel", "slice", "contour", "importance"):
        text = plot(study, kind).to_json()
        assert "<img" not in text and "<script" not in text and "<b>bold" not in text, kind
        assert "%{x} 'p'" not in json.dumps([t.get("hovertemplate") for t in json.loads(text)["data"]]), kind
    slice_json = plot(study, "slice").to_json()
    assert "&lt;img src=x onerror=alert(1)&gt;" in slice_json  # shown as text by plotly


def test_html_export_is_self_contained_and_safe(tmp_path):
    study = et.Study({HOSTILE_PARAM: et.Float(0.0, 1.0)}, name=HOSTILE_NAME, strategy=et.RandomSearch(seed=0))
    study.optimize(lambda p: p[HOSTILE_PARAM], max_trials=10, show_progress=False)
    path = save_figure(plot_history(study), tmp_path / "history.html")
    text = open(path, encoding="utf-8").read()
    external_scripts = re.findall(r"<script[^>]*\bsrc=", text)
    assert external_scripts == []  # plotly.js is inlined, no CDN
    assert len(text) > 1_000_000
    injected = "</script><script>alert('study')" in text or "<img src=x" in text
    assert not injected


def test_export_refuses_unknown_suffixes_and_explains_a_missing_kaleido(tmp_path, monkeypatch, study):
    fig = plot_history(study)
    with pytest.raises(ConfigError, match="must end in .html or one of .png.*got '.*history.txt'"):
        save_figure(fig, tmp_path / "history.txt")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "kaleido" else real(name, *a))
    with pytest.raises(ImportError, match="needs kaleido: pip install"):
        save_figure(fig, tmp_path / "history.png")
    assert not (tmp_path / "history.png").exists()


@pytest.mark.browser
@pytest.mark.skipif(importlib.util.find_spec("kaleido") is None, reason="kaleido is not installed")
@pytest.mark.skipif(shutil.which("chromium") is None and not os.path.exists("/usr/bin/chromium"),
                    reason="no chromium for kaleido")
def test_png_export(tmp_path, study):
    path = save_figure(plot_contour(study), tmp_path / "contour.png", width=600, height=400)
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 10_000
