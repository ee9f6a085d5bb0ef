"""Space: a named, ordered set of distributions and the operators on whole parameter sets."""

from __future__ import annotations

import numpy as np
import pytest

import evotune as et


def test_plain_dict_and_space_are_interchangeable(space):
    as_dict = dict(space)
    assert et.Space(as_dict) == space
    assert space == as_dict
    assert et.Space(space) == space
    assert et.Space.coerce(space) is space
    assert isinstance(et.Space.coerce(as_dict), et.Space)
    assert list(space) == ["lr", "dropout", "depth", "act"]
    assert len(space) == 4 and space["depth"] == et.Int(2, 6)
    assert hash(et.Space(as_dict)) == hash(space)


def test_space_is_not_equal_to_a_different_space(space):
    other = dict(space)
    other["depth"] = et.Int(2, 7)
    assert space != et.Space(other)
    assert space != {"lr": 3}  # not a valid space at all


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ({}, ["at least one parameter"]),
        ([("x", et.Int(0, 1))], ["dict", "list"]),
        ({"": et.Int(0, 1)}, ["non-empty strings", "''"]),
        ({3: et.Int(0, 1)}, ["non-empty strings", "3"]),
        ({"x": (0, 1)}, ["'x'", "Float, Int or Categorical", "(0, 1)", "tuple"]),
    ],
)
def test_invalid_space(parameters, words):
    with pytest.raises(et.SpaceError) as caught:
        et.Space(parameters)
    for word in words:
        assert word in str(caught.value)


def test_json_round_trip(space):
    again = et.Space.from_json(space.to_json())
    assert again == space and list(again) == list(space)
    assert repr(again) == repr(space)


def test_from_dict_names_the_bad_parameter():
    with pytest.raises(et.SpaceError, match=r"^depth: Int low must be an integer, got 1.5"):
        et.Space.from_dict({"lr": {"type": "float", "low": 0, "high": 1}, "depth": {"type": "int", "low": 1.5, "high": 4}})
    with pytest.raises(et.SpaceError, match="mapping"):
        et.Space.from_dict([1, 2])


def test_validate_returns_canonical_params_in_space_order(space):
    checked = space.validate({"act": "relu", "depth": 4.0, "dropout": 0.30000000000000004, "lr": np.float64(0.01)})
    assert list(checked) == list(space)
    assert checked == {"lr": 0.01, "dropout": 0.3, "depth": 4, "act": "relu"}
    assert type(checked["depth"]) is int and type(checked["lr"]) is float


def test_validate_names_missing_extra_and_out_of_range(space, params):
    with pytest.raises(et.ParamsError, match=r"parameter 'depth' is missing"):
        space.validate({k: v for k, v in params.items() if k != "depth"})
    with pytest.raises(et.ParamsError, match=r"parameter 'momentum' is not in the space"):
        space.validate({**params, "momentum": 0.9})
    with pytest.raises(et.ParamsError, match=r"parameter 'lr' must be in \[0.0001, 0.1\], got 0.5"):
        space.validate({**params, "lr": 0.5})
    with pytest.raises(et.ParamsError, match=r"parameter 'act' must be one of"):
        space.validate({**params, "act": "gelu"})
    with pytest.raises(et.ParamsError, match="dict"):
        space.validate([1, 2, 3, 4])
    assert space.contains(params) and not space.contains({**params, "depth": 99})


def test_key_identifies_a_configuration(space, params):
    same = {**params, "dropout": 0.1 + 0.1}
    assert space.key(params) == space.key(space.validate(same))
    assert space.key(params) != space.key({**params, "depth": 4})
    hash(space.key(params))


def test_sample_is_valid_and_reproducible(space):
    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    again = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    assert first == again
    generator = np.random.default_rng(8)
    for _ in range(100):
        assert space.contains(space.sample(generator))


def test_unit_round_trip(space, params):
    u = space.to_unit(params)
    assert u.shape == (4,) and np.all((0 <= u) & (u <= 1))
    assert space.key(space.from_unit(u)) == space.key(params)


def test_mutate_changes_at_least_one_parameter_and_stays_valid(space, params):
    generator = np.random.default_rng(9)
    changed_counts = []
    for _ in range(200):
        child = space.mutate(params, generator)
        assert space.contains(child)
        changed = sum(space[n].key(child[n]) != space[n].key(params[n]) for n in space)
        assert changed >= 1
        changed_counts.append(changed)
    assert np.mean(changed_counts) < 2.0  # rate 1/len: about one parameter at a time
    everything = [space.mutate(params, generator, rate=1.0) for _ in range(50)]
    assert all(sum(c[n] != params[n] for n in space) == 4 for c in everything)


def test_mutate_skips_single_value_parameters():
    space = et.Space({"fixed": et.Categorical(["only"]), "x": et.Int(0, 9)})
    generator = np.random.default_rng(10)
    for _ in range(50):
        child = space.mutate({"fixed": "only", "x": 5}, generator, rate=0.0)
        assert child["fixed"] == "only" and child["x"] != 5


def test_crossover_mixes_parents(space):
    a = {"lr": 1e-4, "dropout": 0.0, "depth": 2, "act": "relu"}
    b = {"lr": 1e-1, "dropout": 0.5, "depth": 6, "act": "tanh"}
    generator = np.random.default_rng(11)
    children = [space.crossover(a, b, generator) for _ in range(200)]
    assert all(space.contains(c) for c in children)
    assert any(c["act"] == "relu" for c in children) and any(c["act"] == "tanh" for c in children)
    assert any(a["lr"] < c["lr"] < b["lr"] for c in children)  # blended, not only copied
    pure = [space.crossover(a, b, generator, blend=0.0) for _ in range(50)]
    assert all(c[n] in (a[n], b[n]) for c in pure for n in space)


def test_grid_is_row_major_with_the_last_parameter_fastest():
    space = et.Space({"a": et.Categorical(["x", "y"]), "b": et.Int(0, 2), "c": et.Float(0.0, 1.0, step=1.0)})
    axes = space.grid_axes()
    assert axes == [["x", "y"], [0, 1, 2], [0.0, 1.0]]
    assert space.grid_size() == 12
    cells = [space.grid_point(i, axes) for i in range(12)]
    assert cells[:3] == [{"a": "x", "b": 0, "c": 0.0}, {"a": "x", "b": 0, "c": 1.0}, {"a": "x", "b": 1, "c": 0.0}]
    assert cells[-1] == {"a": "y", "b": 2, "c": 1.0}
    assert len({space.key(c) for c in cells}) == 12
    assert all(list(c) == ["a", "b", "c"] for c in cells)


def test_grid_of_float_without_step_names_the_parameter():
    space = et.Space({"depth": et.Int(1, 3), "lr": et.Float(1e-4, 1e-1, log=True)})
    with pytest.raises(et.SpaceError, match=r"parameter 'lr': .*no step.*GridSearch\(points=N\)"):
        space.grid_size()
    assert space.grid_size(points=4) == 12
