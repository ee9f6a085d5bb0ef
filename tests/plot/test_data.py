"""The numbers behind the history, parallel, slice and contour figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

import evotune as et
from evotune.exceptions import ConfigError
from evotune.plot import StudySnapshot, contour_data, history_data, load_snapshot, parallel_data, slice_data
from evotune.plot.data import kernel_surface
from evotune.plot.source import ParamAxis, as_snapshot, scored_trials
from evotune.storage import MemoryStorage
from evotune.trial import Trial, TrialState

from .studies import mixed_space, random_study


def _done(number: int, value: float, **params) -> Trial:
    return Trial(number, params, TrialState.COMPLETE, value=value, metrics={"value": value, "other": -value})


def test_history_tracks_the_best_so_far_when_minimizing():
    trials = [_done(0, 5.0), _done(1, 7.0), Trial(2, {}, TrialState.FAILED, error="boom"), _done(3, 2.0),
              Trial(4, {}, TrialState.RUNNING), _done(5, 3.0)]
    data = history_data(trials, "minimize")
    assert data["numbers"] == [0, 1, 3, 5]
    assert data["values"] == [5.0, 7.0, 2.0, 3.0]
    assert data["best"] == [5.0, 5.0, 2.0, 2.0]
    assert data["best_number"] == 3
    assert data["failed"] == [2]


def test_history_tracks_the_best_so_far_when_maximizing():
    data = history_data([_done(0, 5.0), _done(1, 7.0), _done(2, 6.0)], "maximize")
    assert data["best"] == [5.0, 7.0, 7.0]
    assert data["best_number"] == 1


def test_history_of_another_metric_and_of_an_unknown_one():
    trials = [_done(0, 5.0), _done(1, 7.0)]
    assert history_data(trials, "minimize", metric="other")["best"] == [-5.0, -7.0]
    with pytest.raises(ConfigError, match="metric must be one of \\['other', 'value'\\], got 'missing'"):
        history_data(trials, "minimize", metric="missing")
    with pytest.raises(ConfigError, match="metric must be the name of a reported metric, got \\[\\]"):
        history_data(trials, "minimize", metric=[])  # unhashable: no TypeError


def test_history_of_an_empty_study_and_a_bad_direction():
    data = history_data([], "minimize")
    assert data == {"numbers": [], "values": [], "best": [], "best_number": None, "failed": []}
    with pytest.raises(ConfigError, match="direction must be 'minimize' or 'maximize', got 'up'"):
        history_data([], "up")


def test_parallel_dimensions_use_log10_for_log_parameters_and_indices_for_choices():
    space = mixed_space()
    trials = [_done(0, 1.0, lr=1e-3, depth=2, noise=0.5, act="tanh"),
              _done(1, 2.0, lr=1e-2, depth=5, noise=0.1, act="gelu"),
              Trial(2, {"lr": 1e-1, "depth": 1, "noise": 0.0, "act": "relu"}, TrialState.FAILED)]
    data = parallel_data(trials, space)
    by_name = {d["name"]: d for d in data["dimensions"]}
    assert [d["name"] for d in data["dimensions"]] == ["lr", "depth", "noise", "act", "value"]
    assert by_name["lr"]["values"] == pytest.approx([-3.0, -2.0])
    assert by_name["lr"]["range"] == pytest.approx([-4.0, -1.0])
    assert by_name["lr"]["ticktext"] == ["0.0001", "0.001", "0.01", "0.1"]
    assert by_name["depth"]["values"] == [2.0, 5.0] and by_name["depth"]["range"] == [1.0, 8.0]
    assert by_name["act"]["values"] == [1, 2]
    assert by_name["act"]["ticktext"] == ["relu", "tanh", "gelu"]
    assert data["color"] == [1.0, 2.0] and data["numbers"] == [0, 1]


def test_parallel_with_chosen_params_and_an_unknown_one():
    trials = [_done(0, 1.0, lr=1e-3, depth=2, noise=0.5, act="tanh")]
    data = parallel_data(trials, mixed_space(), params=["noise"])
    assert [d["name"] for d in data["dimensions"]] == ["noise", "value"]
    with pytest.raises(ConfigError, match="got 'width'"):
        parallel_data(trials, mixed_space(), params=["width"])
    with pytest.raises(ConfigError, match="got \\['lr'\\]"):
        parallel_data(trials, mixed_space(), params=[["lr"]])


def test_slice_gives_one_panel_per_parameter_with_its_scale():
    trials = [_done(0, 1.0, lr=1e-3, depth=2, noise=0.5, act="tanh"),
              _done(1, 3.0, lr=1e-2, depth=5, noise=0.1, act="relu")]
    panels = slice_data(trials, mixed_space())
    assert [(p["name"], p["scale"]) for p in panels] == [
        ("lr", "log"), ("depth", "linear"), ("noise", "linear"), ("act", "category")]
    assert panels[0]["x"] == [1e-3, 1e-2] and panels[0]["y"] == [1.0, 3.0]
    assert panels[3]["x"] == ["tanh", "relu"] and panels[3]["categories"] == ["relu", "tanh", "gelu"]
    assert all(p["numbers"] == [0, 1] for p in panels)


def test_non_string_choices_are_labelled_as_json():
    space = et.Space({"flag": et.Categorical([True, None, 3])})
    panels = slice_data([_done(0, 1.0, flag=None), _done(1, 2.0, flag=True)], space)
    assert panels[0]["categories"] == ["true", "null", "3"]
    assert panels[0]["x"] == ["null", "true"]


@pytest.mark.parametrize("choices, labels", [
    ([1, "1"], ["1", '"1"']), ([None, "null"], ["null", '"null"']), (["true", True, "x"], ['"true"', "true", "x"]),
    ([1, "1", '"1"'], ["1", '"1"', '"\\"1\\""']), ([1.0, 1, "1.0"], ["1.0", "1", '"1.0"']),
])
def test_choices_with_the_same_label_keep_their_own_place(choices, labels):
    space = et.Space({"c": et.Categorical(choices), "x": et.Float(0.0, 1.0)})
    trials = [_done(i, float(i), c=choice, x=0.1 * (i + 1)) for i, choice in enumerate(choices)]
    trials.append(_done(len(choices), 9.0, c=choices[0], x=0.9))
    panel = slice_data(trials, space)[0]
    assert panel["categories"] == labels and len(set(labels)) == len(labels)
    assert panel["x"] == [*labels, labels[0]]
    codes = parallel_data(trials, space)["dimensions"][0]
    assert codes["values"] == [*range(len(choices)), 0] and codes["ticktext"] == labels
    contour = contour_data(trials, space, "c", "x", "minimize", resolution=5)
    assert contour["points"]["x"] == [*labels, labels[0]]
    units = ParamAxis("c", space["c"]).unit([t.params["c"] for t in trials])
    assert units.tolist() == [(i + 0.5) / len(choices) for i in [*range(len(choices)), 0]]


def test_kernel_surface_reproduces_a_constant_and_leaves_empty_regions_blank():
    rng = np.random.default_rng(0)
    ux, uy = rng.random(300) * 0.5, rng.random(300)  # no trial in the right half of x
    grid = np.linspace(0.0, 1.0, 21)
    z = kernel_surface(ux, uy, np.full(300, 4.0), grid, grid)
    filled = z[~np.isnan(z)]
    assert filled == pytest.approx(np.full(filled.shape, 4.0))
    assert np.isnan(z[:, -1]).all()  # x = 1 is far from every trial
    assert not np.isnan(z[:, 0]).any()


def test_contour_surface_follows_the_value():
    space = et.Space({"a": et.Float(0.0, 1.0), "b": et.Float(0.0, 1.0)})
    rng = np.random.default_rng(1)
    trials = []
    for number in range(400):
        a, b = float(rng.random()), float(rng.random())
        trials.append(_done(number, 10 * a, a=a, b=b))  # rises with a, flat in b
    data = contour_data(trials, space, "a", "b", "minimize", resolution=15)
    z = np.array(data["z"], dtype=float)
    assert z.shape == (15, 15)
    assert data["x"]["grid"][0] == 0.0 and data["x"]["grid"][-1] == 1.0
    middle = z[7]
    assert np.all(np.diff(middle) > 0)  # increasing along a
    assert np.ptp(z[:, 7]) < 1.0  # nearly flat along b
    assert data["best_number"] == int(np.argmin([t.value for t in trials]))
    assert len(data["points"]["x"]) == 400


def test_contour_axes_for_log_and_categorical_parameters():
    study = random_study(60)
    data = contour_data(study.trials, study.space, "lr", "act", "minimize", resolution=10)
    assert data["x"]["scale"] == "log"
    assert data["x"]["grid"][0] == pytest.approx(1e-4) and data["x"]["grid"][-1] == pytest.approx(1e-1)
    assert data["x"]["grid"][5] / data["x"]["grid"][4] == pytest.approx(data["x"]["grid"][1] / data["x"]["grid"][0])
    assert data["y"]["grid"] == ["relu", "tanh", "gelu"]
    assert len(data["z"]) == 3 and len(data["z"][0]) == 10


def test_contour_rejects_bad_parameter_choices():
    space = mixed_space()
    with pytest.raises(ConfigError, match="two different parameters, got x='lr' and y='lr'"):
        contour_data([], space, "lr", "lr", "minimize")
    with pytest.raises(ConfigError, match="got 'nope'"):
        contour_data([], space, "lr", "nope", "minimize")
    with pytest.raises(ConfigError, match="resolution must be an integer >= 2, got 1"):
        contour_data([], space, "lr", "depth", "minimize", resolution=1)


def test_values_outside_the_space_do_not_break_the_data():
    space = et.Space({"a": et.Float(0.0, 1.0), "b": et.Float(1.0, 10.0, log=True)})
    trials = [_done(0, 1.0, a=0.5, b=2.0), _done(1, 2.0, a="odd", b=None), _done(2, 3.0, a=0.2, b=5.0)]
    data = parallel_data(trials, space)
    assert data["dimensions"][0]["values"] == [0.5, None, 0.2]
    assert data["dimensions"][1]["values"][1] is None
    contour = contour_data(trials, space, "a", "b", "minimize", resolution=5)
    assert any(v is not None for row in contour["z"] for v in row)


def test_scored_trials_skip_unfinished_and_failed():
    trials = [_done(0, 1.0), Trial(1, {}, TrialState.FAILED), Trial(2, {}, TrialState.WAITING), _done(3, math.pi)]
    chosen, values = scored_trials(trials)
    assert [t.number for t in chosen] == [0, 3] and values.tolist() == [1.0, math.pi]


def test_snapshots_from_a_study_and_from_storage_agree():
    storage = MemoryStorage()
    study = random_study(25, storage=storage, name="snap")
    from_study = as_snapshot(study)
    from_storage = load_snapshot(storage, "snap")
    assert isinstance(from_storage, StudySnapshot)
    assert [t.to_dict() for t in from_study.trials] == [t.to_dict() for t in from_storage.trials]
    assert from_storage.space == study.space and from_storage.direction == "minimize"
    with pytest.raises(ConfigError, match="expected an evotune Study or StudySnapshot to plot, got list"):
        as_snapshot([1, 2])
