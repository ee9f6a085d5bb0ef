"""Float, Int and Categorical: validation at construction, values, unit coordinates, operators."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import evotune as et
from evotune.space import distribution_from_dict


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- invalid definitions: SpaceError (a ValueError) naming the field, the rule and the value --------

@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: et.Float(1.0, 1.0), ["low", "high", "<", "1.0"]),
        (lambda: et.Float(2.0, 1.0), ["low", "high", "2.0"]),
        (lambda: et.Float(0.0, 1.0, log=True), ["log", "low > 0", "0.0"]),
        (lambda: et.Float(-1.0, 1.0, log=True), ["log", "-1.0"]),
        (lambda: et.Float(0.0, 1.0, step=0), ["step", "> 0", "0"]),
        (lambda: et.Float(0.0, 1.0, step=-0.1), ["step", "-0.1"]),
        (lambda: et.Float(0.0, 1.0, step=2.0), ["step", "exceed", "2.0"]),
        (lambda: et.Float(0.1, 1.0, log=True, step=0.1), ["log", "step"]),
        (lambda: et.Float("a", 1.0), ["low", "'a'"]),
        (lambda: et.Float(0.0, math.inf), ["high", "inf"]),
        (lambda: et.Float(math.nan, 1.0), ["low", "nan"]),
        (lambda: et.Float(0.0, 1.0, log="yes"), ["log", "'yes'"]),
        (lambda: et.Int(0.5, 3), ["Int low", "integer", "0.5"]),
        (lambda: et.Int(0, 3.5), ["Int high", "integer", "3.5"]),
        (lambda: et.Int(True, 3), ["low", "True"]),
        (lambda: et.Int(3, 3), ["low", "high", "3"]),
        (lambda: et.Int(0, 10, log=True), ["log", "low >= 1", "0"]),
        (lambda: et.Int(0, 10, step=0), ["step", ">= 1", "0"]),
        (lambda: et.Int(0, 10, step=11), ["step", "exceed", "11"]),
        (lambda: et.Int(1, 10, step=2, log=True), ["log", "step"]),
        (lambda: et.Categorical([]), ["empty", "[]"]),
        (lambda: et.Categorical(["a", "b", "a"]), ["unique", '"a"']),
        (lambda: et.Categorical("abc"), ["list", "'abc'"]),
        (lambda: et.Categorical([object()]), ["JSON", "object"]),
        (lambda: et.Categorical([[1, 2]]), ["JSON", "[1, 2]"]),
        (lambda: et.Categorical([1.0, math.nan]), ["JSON", "nan"]),
        (lambda: et.Categorical(["a"], ordered="no"), ["ordered", "'no'"]),
        (lambda: et.Float(0.0, 1.0, logg=True), ["unknown keyword", "logg", "True"]),
        (lambda: et.Int(0, 5, stepp=2), ["unknown keyword", "stepp", "2"]),
        (lambda: et.Categorical(["a", "b"], order=True), ["unknown keyword", "order"]),
    ],
)
def test_invalid_definition_raises_space_error_naming_rule_and_value(make, words):
    with pytest.raises(et.SpaceError) as caught:
        make()
    assert isinstance(caught.value, ValueError)
    for word in words:
        assert word in str(caught.value), (word, str(caught.value))


def test_from_dict_errors_name_the_parameter():
    with pytest.raises(et.SpaceError, match=r"lr: Float low must be < high, got low=1.0 high=0.0"):
        distribution_from_dict({"type": "float", "low": 1, "high": 0}, "lr")
    with pytest.raises(et.SpaceError, match=r"depth: unknown key 'stepp'"):
        distribution_from_dict({"type": "int", "low": 1, "high": 5, "stepp": 1}, "depth")
    with pytest.raises(et.SpaceError, match=r"act: type must be one of .* got 'choice'"):
        distribution_from_dict({"type": "choice", "choices": [1]}, "act")
    with pytest.raises(et.SpaceError, match=r"act: a categorical needs 'choices'"):
        distribution_from_dict({"type": "categorical"}, "act")
    with pytest.raises(et.SpaceError, match=r"x: a float needs 'high'"):
        distribution_from_dict({"type": "float", "low": 0}, "x")
    with pytest.raises(et.SpaceError, match=r"x: a distribution must be a mapping"):
        distribution_from_dict(["float"], "x")


# -- identity -----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "dist",
    [
        et.Float(-1.5, 2.5), et.Float(1e-5, 1e-1, log=True), et.Float(0.0, 0.5, step=0.1),
        et.Int(2, 12), et.Int(16, 1024, log=True), et.Int(0, 20, step=5),
        et.Categorical(["relu", "tanh", "gelu"]), et.Categorical([1, 2.5, True, None, "x"], ordered=True),
    ],
)
def test_json_round_trip_equality_hash_and_repr(dist):
    text = json.dumps(dist.to_dict())
    again = distribution_from_dict(json.loads(text))
    assert again == dist and hash(again) == hash(dist)
    assert repr(again) == repr(dist)
    assert eval(repr(dist), {"Float": et.Float, "Int": et.Int, "Categorical": et.Categorical}) == dist


def test_equality_is_by_value_and_type():
    assert et.Float(0, 1) == et.Float(0.0, 1.0)
    assert et.Float(0, 1) != et.Float(0, 1, step=0.5)
    assert et.Int(0, 1) != et.Float(0, 1)
    assert et.Categorical(["a", "b"]) != et.Categorical(["b", "a"])
    assert len({et.Int(1, 3), et.Int(1, 3), et.Int(1, 4)}) == 2


def test_distributions_are_immutable():
    dist = et.Float(0.0, 1.0)
    with pytest.raises(AttributeError, match="immutable"):
        dist.low = 0.5
    with pytest.raises(AttributeError):
        et.Categorical(["a"]).choices = ("b",)


def test_readable_repr():
    assert repr(et.Float(1e-5, 1e-1, log=True)) == "Float(1e-05, 0.1, log=True)"
    assert repr(et.Float(0, 0.5, step=0.1)) == "Float(0.0, 0.5, step=0.1)"
    assert repr(et.Int(2, 12)) == "Int(2, 12)"
    assert repr(et.Int(0, 20, step=5)) == "Int(0, 20, step=5)"
    assert repr(et.Categorical(["a", "b"], ordered=True)) == "Categorical(['a', 'b'], ordered=True)"


# -- validate / contains ---------------------------------------------------------------------

def test_float_validate():
    dist = et.Float(0.0, 1.0)
    assert dist.validate(0) == 0.0 and isinstance(dist.validate(0), float)
    assert dist.validate(np.float32(0.5)) == 0.5
    assert dist.contains(1.0) and dist.contains(0.0)
    for bad in (1.5, -0.01, math.nan, math.inf, "0.5", None, True):
        assert not dist.contains(bad)
    with pytest.raises(et.ParamsError, match=r"parameter 'x' must be in \[0.0, 1.0\], got 1.5"):
        dist.validate(1.5, "x")
    with pytest.raises(et.ParamsError, match=r"parameter 'x' must be a finite number, got '0.5' \(str\)"):
        dist.validate("0.5", "x")


def test_stepped_float_validate_snaps_and_rejects_off_step():
    dist = et.Float(0.0, 0.5, step=0.1)
    assert dist.validate(0.30000000000000004) == 0.3
    assert dist.validate(0.5) == 0.5
    with pytest.raises(et.ParamsError, match=r"'dropout' must be on a step of 0.1 from 0.0, got 0.25"):
        dist.validate(0.25, "dropout")


def test_int_validate():
    dist = et.Int(2, 12)
    assert dist.validate(np.int64(5)) == 5 and type(dist.validate(np.int64(5))) is int
    assert dist.validate(4.0) == 4 and type(dist.validate(4.0)) is int
    for bad in (1, 13, 4.5, True, "4", None, math.nan):
        assert not dist.contains(bad), bad
    with pytest.raises(et.ParamsError, match=r"parameter 'depth' must be in \[2, 12\], got 13"):
        dist.validate(13, "depth")
    with pytest.raises(et.ParamsError, match=r"'depth' must be an integer, got 4.5"):
        dist.validate(4.5, "depth")
    stepped = et.Int(0, 20, step=5)
    assert stepped.contains(15) and not stepped.contains(12)
    with pytest.raises(et.ParamsError, match=r"step of 5 from 0, got 12"):
        stepped.validate(12, "n")


def test_categorical_validate():
    dist = et.Categorical(["relu", 1, True, None])
    assert dist.validate("relu") == "relu"
    assert dist.validate(np.int64(1)) == 1
    assert dist.validate(None) is None
    assert dist.validate(True) is True
    assert not dist.contains("gelu") and not dist.contains([1]) and not dist.contains(object())
    assert dist.index(None) == 3
    with pytest.raises(et.ParamsError, match=r"parameter 'act' must be one of \['relu', 1, True, None\], got 'gelu'"):
        dist.validate("gelu", "act")


def test_categorical_accepts_numpy_choices():
    dist = et.Categorical(np.array([1, 2, 3]))
    assert dist.choices == (1, 2, 3) and all(type(c) is int for c in dist.choices)
    json.dumps(dist.to_dict())


# -- unit coordinates --------------------------------------------------------------------------

@pytest.mark.parametrize(
    "dist",
    [
        et.Float(-1.0, 3.0), et.Float(1e-5, 1e-1, log=True), et.Float(0.0, 0.5, step=0.1),
        et.Int(2, 12), et.Int(16, 1024, log=True), et.Int(0, 20, step=5),
        et.Categorical(["a", "b", "c"]),
    ],
)
def test_unit_round_trip_and_bounds(dist):
    generator = rng(1)
    for _ in range(200):
        value = dist.sample(generator)
        assert dist.contains(value)
        u = dist.to_unit(value)
        assert 0.0 <= u <= 1.0
        assert dist.key(dist.from_unit(u)) == dist.key(value)
    for u in (-0.5, 0.0, 1.0, 1.5):
        assert dist.contains(dist.from_unit(u))


def test_log_float_unit_midpoint_is_the_geometric_mean():
    dist = et.Float(1e-4, 1e-0, log=True)
    assert dist.from_unit(0.5) == pytest.approx(1e-2)
    assert dist.to_unit(1e-3) == pytest.approx(0.25)
    assert dist.from_unit(0.0) == 1e-4 and dist.from_unit(1.0) == 1.0


def test_discrete_values_get_equal_slices_of_the_unit_interval():
    dist = et.Int(0, 3)
    assert [dist.from_unit(u) for u in (0.1, 0.3, 0.6, 0.9)] == [0, 1, 2, 3]
    assert dist.to_unit(0) == pytest.approx(0.125) and dist.to_unit(3) == pytest.approx(0.875)


def test_cardinality():
    assert et.Float(0, 1).cardinality == math.inf
    assert et.Float(0, 0.5, step=0.1).cardinality == 6
    assert et.Int(2, 12).cardinality == 11
    assert et.Int(0, 20, step=5).cardinality == 5
    assert et.Categorical(["a", "b"]).cardinality == 2


# -- operators ----------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "dist",
    [
        et.Float(-1.0, 3.0), et.Float(1e-5, 1e-1, log=True), et.Float(0.0, 0.5, step=0.1),
        et.Int(2, 12), et.Int(16, 1024, log=True), et.Int(0, 1),
        et.Categorical(["a", "b", "c"]), et.Categorical(["a", "b", "c"], ordered=True),
    ],
)
def test_mutate_stays_inside_and_changes_the_value(dist):
    generator = rng(2)
    value = dist.from_unit(0.99)  # near the upper bound, where reflection matters
    for _ in range(300):
        child = dist.mutate(value, generator, scale=0.3)
        assert dist.contains(child)
        assert dist.key(child) != dist.key(value)
        value = child


def test_log_float_mutates_in_log_space():
    dist = et.Float(1e-6, 1.0, log=True)
    generator = rng(3)
    children = [dist.mutate(1e-3, generator, scale=0.05) for _ in range(2000)]
    ratios = np.log10(np.array(children) / 1e-3)
    # A step of 0.05 in the unit coordinate is 0.3 decades either way, not an absolute step.
    assert abs(float(np.median(ratios))) < 0.05
    assert 0.2 < float(np.std(ratios)) < 0.4


def test_ordered_categorical_mutates_to_a_neighbour_more_often():
    dist = et.Categorical(list("abcdefghij"), ordered=True)
    generator = rng(4)
    steps = [abs(dist.index(dist.mutate("e", generator, scale=0.05)) - 4) for _ in range(500)]
    assert np.mean(steps) < 1.6
    unordered = et.Categorical(list("abcdefghij"))
    far = [abs(unordered.index(unordered.mutate("e", generator)) - 4) for _ in range(500)]
    assert np.mean(far) > 2.0


def test_single_choice_categorical_mutation_keeps_the_value():
    assert et.Categorical(["only"]).mutate("only", rng()) == "only"


@pytest.mark.parametrize(
    "dist", [et.Float(0.0, 10.0), et.Float(1e-3, 1e3, log=True), et.Int(0, 100), et.Categorical([1, 2, 3], ordered=True)]
)
def test_crossover_lands_around_the_parents(dist):
    generator = rng(5)
    a, b = dist.from_unit(0.3), dist.from_unit(0.6)
    lo, hi = dist.to_unit(a), dist.to_unit(b)
    spread = (hi - lo) * 0.25 + 0.06  # blend extension plus one discrete slice
    for _ in range(200):
        child = dist.crossover(a, b, generator)
        assert dist.contains(child)
        assert lo - spread <= dist.to_unit(child) <= hi + spread


def test_unordered_categorical_crossover_takes_a_parent():
    dist = et.Categorical(["a", "b", "c", "d"])
    generator = rng(6)
    children = {dist.crossover("a", "d", generator) for _ in range(100)}
    assert children == {"a", "d"}


# -- grid ---------------------------------------------------------------------------------------

def test_grid_values():
    assert et.Float(0.0, 0.5, step=0.1).grid() == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    assert et.Float(0.0, 1.0, step=0.3).grid() == [0.0, 0.3, 0.6, 0.9]
    assert et.Float(0.0, 1.0).grid(points=5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert et.Float(1e-4, 1.0, log=True).grid(points=5) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1, 1.0])
    assert et.Int(2, 5).grid() == [2, 3, 4, 5]
    assert et.Int(0, 10, step=5).grid(points=3) == [0, 5, 10]  # points only concern floats and log ints
    assert et.Int(0, 100).grid(points=3) == list(range(101))
    assert et.Categorical(["a", "b"]).grid(points=7) == ["a", "b"]
    for value in et.Float(0.0, 0.5, step=0.1).grid():
        assert et.Float(0.0, 0.5, step=0.1).contains(value)


def test_log_int_grid_takes_points_log_spaced_distinct_integers():
    assert et.Int(16, 1024, log=True).grid(points=7) == [16, 32, 64, 128, 256, 512, 1024]
    assert et.Int(1, 2_000_000, log=True).grid(points=5) == [1, 38, 1414, 53183, 2_000_000]
    # Rounding would give 1, 1, 2, 3, ...: the crowded low end is pushed apart, never repeated.
    crowded = et.Int(1, 1000, log=True).grid(points=20)
    assert crowded[:6] == [1, 2, 3, 4, 5, 6] and crowded[-1] == 1000 and len(set(crowded)) == 20
    assert all(a < b for a, b in zip(crowded, crowded[1:]))
    huge = et.Int(1, 2**63, log=True).grid(points=70)
    assert len(set(huge)) == 70 and huge[0] == 1 and huge[-1] == 2**63 and huge == sorted(huge)
    # No points, or no more integers than points: every integer, as before.
    assert et.Int(16, 1024, log=True).grid() == list(range(16, 1025))
    assert et.Int(1, 5, log=True).grid(points=5) == [1, 2, 3, 4, 5]
    assert et.Int(1, 5, log=True).grid(points=9) == [1, 2, 3, 4, 5]
    for value in crowded + huge:
        assert isinstance(value, int)


def test_float_without_step_has_no_grid_and_says_how_to_fix():
    with pytest.raises(et.SpaceError) as caught:
        et.Float(0.0, 1.0).grid()
    message = str(caught.value)
    assert "step" in message and "GridSearch(points=" in message and "Float(0.0, 1.0)" in message


@pytest.mark.parametrize(
    ("dist", "points", "count", "remedy"),
    [
        (et.Int(0, 10**12), None, "1,000,000,000,001", "larger step"),
        (et.Float(0.0, 1.0, step=1e-9), None, "1,000,000,000", "larger step"),
        (et.Float(0.0, 1.0), 10**9, "1,000,000,000", "fewer points"),
        (et.Int(1, 10**12, log=True), 10**7, "10,000,000", "fewer points"),
    ],
)
def test_a_grid_too_long_to_walk_is_refused_before_it_is_built(dist, points, count, remedy):
    with pytest.raises(et.SpaceError) as caught:
        et.GridSearch(points=points).size({"p": dist})
    message = str(caught.value)
    assert "parameter 'p'" in message and repr(dist) in message and count in message and remedy in message
    assert len(et.Int(0, 999_999).grid()) == 1_000_000  # the longest axis allowed is still built


def test_a_log_int_too_long_for_a_grid_gets_advice_that_works_for_it():
    batch = et.Int(1, 2_000_000, log=True)
    with pytest.raises(et.SpaceError) as caught:
        et.GridSearch().size({"batch": batch})
    message = str(caught.value)
    assert "parameter 'batch'" in message and "Int(1, 2000000, log=True)" in message and "2,000,000" in message
    assert "step" not in message  # a log int cannot have one
    assert "GridSearch(points=N)" in message and "points = N in [strategy]" in message
    assert "narrow the range" in message and "Categorical" in message and "powers of two" in message
    assert et.GridSearch(points=5).size({"batch": batch}) == 5  # the first advice works


def test_key_merges_float_rounding_noise():
    dist = et.Float(0.0, 1.0)
    assert dist.key(0.1 + 0.2) == dist.key(0.3)
    assert dist.key(0.3) != dist.key(0.3001)
