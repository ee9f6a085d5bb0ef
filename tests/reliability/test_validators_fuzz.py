"""Random spaces, values, results and configuration entries never crash the validators.

Whatever hypothesis throws at them, the validators either accept the input (and then what
they accept behaves: it round-trips through JSON, its samples are valid values...) or raise
one of evotune's errors: never a TypeError, OverflowError or ZeroDivisionError from deep inside.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import evotune as et
from evotune.cli.config import load_config
from evotune.cli.manual import parse_metrics, parse_params
from evotune.results import parse_result
from evotune.space.distributions import distribution_from_dict
from evotune.strategies import strategy_from_config

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Anything a user might pass where a number is expected.
anything = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30), st.booleans(), st.none(),
    st.text(max_size=4), st.lists(st.integers(), max_size=2), st.just(1j), st.binary(max_size=2),
    st.sampled_from([np.float64(0.5), np.int64(3), np.bool_(True), np.float32("nan")]),
)
#: Numbers of every size, the extremes included.
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=64), st.integers(-(10**400), 10**400),
                    st.sampled_from([5e-324, 1e-300, 1e308, -1e308, 2**53 + 1, 0.0, -0.0]))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=5)),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)


def _behaves(dist: et.space.Distribution) -> None:
    """A distribution the constructor accepted must work end to end."""
    text = json.dumps(dist.to_dict(), allow_nan=False)  # storage writes JSON without NaN
    assert distribution_from_dict(json.loads(text)) == dist
    rng = np.random.default_rng(0)
    for _ in range(5):
        value = dist.sample(rng)
        assert dist.validate(value) == value, (dist, value)
        assert 0.0 <= dist.to_unit(value) <= 1.0
        child = dist.mutate(value, rng)
        assert dist.contains(child), (dist, value, child)
        assert dist.contains(dist.crossover(value, child, rng))
        json.dumps(value, allow_nan=False)
    if dist.cardinality <= 1000:
        assert all(dist.contains(point) for point in dist.grid())


@FUZZ
@given(kind=st.sampled_from([et.Float, et.Int]), low=numbers | anything, high=numbers | anything,
       log=st.one_of(st.booleans(), anything), step=st.one_of(st.none(), numbers, anything))
def test_number_distributions_accept_or_raise_space_error(kind: type, low: Any, high: Any, log: Any,
                                                          step: Any) -> None:
    options = {"log": log} if step is None else {"log": log, "step": step}
    try:
        dist = kind(low, high, **options)
    except et.SpaceError:
        return
    _behaves(dist)


@FUZZ
@given(low=st.floats(allow_nan=False, allow_infinity=False), width=st.floats(min_value=0, allow_infinity=False),
       log=st.booleans())
def test_float_ranges_of_any_size_sample_inside_themselves(low: float, width: float, log: bool) -> None:
    try:
        dist = et.Float(low, low + width, log=log)
    except et.SpaceError:
        return
    _behaves(dist)


@FUZZ
@given(choices=st.one_of(st.lists(anything | json_values, max_size=6), anything), ordered=anything | st.booleans())
def test_categorical_accepts_or_raises_space_error(choices: Any, ordered: Any) -> None:
    try:
        dist = et.Categorical(choices, ordered=ordered)
    except et.SpaceError:
        return
    _behaves(dist)
    for choice in dist.choices:
        assert dist.validate(choice) == choice


valid_distributions = st.one_of(
    st.builds(lambda a, b, log: et.Float(min(a, b), max(a, b) + 1.0, log=log and min(a, b) > 0),
              st.floats(-1e6, 1e6), st.floats(-1e6, 1e6), st.booleans()),
    st.builds(lambda a, n, step: et.Float(a, a + n * step, step=step),
              st.floats(-100, 100), st.integers(1, 50), st.sampled_from([0.1, 0.25, 1e-3, 7.0])),
    st.builds(lambda a, b, log: et.Int(min(a, b), max(a, b) + 1, log=log and min(a, b) >= 1),
              st.integers(-(10**12), 10**12), st.integers(-(10**12), 10**12), st.booleans()),
    st.builds(lambda choices, ordered: et.Categorical(choices, ordered=ordered),
              st.lists(st.one_of(st.text(max_size=4), st.integers(), st.booleans(), st.none()), min_size=1,
                       max_size=5, unique_by=lambda v: json.dumps(v)), st.booleans()),
)


@FUZZ
@given(dist=valid_distributions, value=anything | numbers | json_values)
def test_validate_returns_a_canonical_value_or_raises_params_error(dist: Any, value: Any) -> None:
    try:
        checked = dist.validate(value, "p")
    except et.ParamsError as error:
        assert "'p'" in str(error)
        return
    assert dist.validate(checked) == checked
    assert dist.contains(checked)
    hash(dist.key(checked))
    json.dumps(checked, allow_nan=False)


@FUZZ
@given(params=st.one_of(anything, st.dictionaries(st.sampled_from(["lr", "depth", "act", "other", ""]),
                                                  anything | numbers, max_size=5)))
def test_space_validate_raises_only_params_error(params: Any) -> None:
    space = et.Space({"lr": et.Float(1e-4, 0.1, log=True), "depth": et.Int(2, 6), "act": et.Categorical(["a", "b"])})
    try:
        checked = space.validate(params)
    except et.ParamsError:
        return
    assert space.validate(checked) == checked and list(checked) == list(space)


@FUZZ
@given(data=st.one_of(json_values, st.dictionaries(st.text(max_size=4), st.one_of(
    json_values, st.fixed_dictionaries({"type": st.sampled_from(["float", "int", "categorical", "x"])},
                                       optional={"low": json_values, "high": json_values, "log": json_values,
                                                 "step": json_values, "choices": json_values,
                                                 "ordered": json_values})),
    max_size=3)))
@example(data={"lr": {"type": []}})  # an unhashable type once raised TypeError
def test_a_space_read_back_from_storage_raises_only_space_error(data: Any) -> None:
    try:
        space = et.Space.from_dict(data)
    except et.SpaceError:
        return
    assert et.Space.from_dict(json.loads(space.to_json())) == space


@FUZZ
@given(config=st.one_of(json_values, st.fixed_dictionaries(
    {"type": st.sampled_from(["random", "grid", "manual", "evolution", "annealing"])},
    optional={"seed": anything, "points": anything, "shuffle": anything, "population_size": anything,
              "mode": anything, "mutation_rate": anything, "crossover_rate": anything, "sed": anything})))
@example(config={"type": []})  # an unhashable type once raised TypeError
@example(config={"type": {"name": "random"}})
def test_strategy_settings_raise_only_config_error(config: Any) -> None:
    try:
        strategy = strategy_from_config(config)
    except et.ConfigError:
        return
    assert strategy_from_config(json.loads(json.dumps(strategy.to_config()))).to_config() == strategy.to_config()


@FUZZ
@given(result=st.one_of(anything, numbers, json_values,
                        st.dictionaries(st.sampled_from(["score", "loss", ""]), anything | numbers, max_size=3)),
       metric=st.sampled_from([None, "score"]))
def test_results_are_numbers_or_a_result_error(result: Any, metric: str | None) -> None:
    try:
        value, metrics = parse_result(result, metric)
    except et.ResultError:
        return
    assert math.isfinite(value) and all(math.isfinite(v) for v in metrics.values())
    json.dumps(metrics, allow_nan=False)


@FUZZ
@given(pairs=st.lists(st.one_of(st.text(max_size=12), st.builds(lambda k, v: f"{k}={v}",
                                                                 st.sampled_from(["lr", "depth", "act", "x", ""]),
                                                                 st.text(max_size=8) | numbers.map(str))),
                      max_size=4))
def test_command_line_values_raise_only_params_or_result_errors(pairs: list[str]) -> None:
    space = et.Space({"lr": et.Float(1e-4, 0.1, log=True), "depth": et.Int(2, 6),
                      "act": et.Categorical(["a", "b", 3, None])})
    try:
        params = parse_params(space, pairs)
    except et.ParamsError:
        pass
    else:
        assert space.validate(params) == params
    if not pairs:
        return
    try:
        result = parse_metrics("score", pairs)
    except et.ResultError:
        return
    try:
        parse_result(result, "score")
    except et.ResultError:
        pass


yaml = pytest.importorskip("yaml")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entry=st.one_of(json_values, st.fixed_dictionaries(
    {"type": st.sampled_from(["float", "int", "categorical", "uniform"])},
    optional={"low": json_values | numbers.filter(lambda n: abs(n) < 1e300 if isinstance(n, int) else True),
              "high": json_values, "log": json_values, "step": json_values, "choices": json_values,
              "ordered": json_values, "logg": json_values})),
       strategy=st.one_of(json_values, st.fixed_dictionaries({"type": st.sampled_from(["random", "grid", "x"])},
                                                              optional={"seed": json_values, "points": json_values})),
       run=st.dictionaries(st.sampled_from(["command", "timeout", "max_trials", "n_jobs", "env", "target", "cwd"]),
                           json_values, max_size=4))
@example(entry={"type": []}, strategy={"type": "random"}, run={})  # unhashable types once raised TypeError
@example(entry={"type": "float", "low": 0, "high": 1}, strategy={"type": {"a": 1}}, run={})
def test_configuration_files_raise_only_config_error(entry: Any, strategy: Any, run: Any) -> None:
    document = {"study": {"name": "fuzz"}, "space": {"lr": entry}, "strategy": strategy,
                "run": {"command": ["python", "train.py"], **run}}
    try:
        text = yaml.safe_dump(document)
    except yaml.YAMLError:
        assume(False)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "tune.yaml"
        path.write_text(text)
        try:
            config = load_config(path)
        except et.ConfigError as error:
            assert "tune.yaml" in str(error)
            return
    assert config.space["lr"].contains(config.space["lr"].sample(np.random.default_rng(0)))
