"""Property tests of the evolutionary operators on every kind of distribution.

Whatever the bounds, scale, step or log setting, ``sample``, ``mutate`` and ``crossover`` must
return a valid value of the right type, on its step, inside the bounds; mutation must change a
discrete value; log-scale parameters must move in log space.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import evotune as et

FAST = settings(max_examples=60, deadline=None)

finite = st.floats(-1e5, 1e5, allow_nan=False, allow_infinity=False)


@st.composite
def floats(draw) -> et.Float:
    kind = draw(st.sampled_from(["plain", "log", "step"]))
    if kind == "log":
        low = draw(st.floats(1e-8, 1e3))
        return et.Float(low, low * draw(st.floats(1.01, 1e6)), log=True)
    low = draw(finite)
    # Steps stay far above float resolution at the bounds' magnitude (index error < 1e-6).
    width = draw(st.floats(max(1e-3, 1e-5 * abs(low)), 1e4 + abs(low)))
    high = low + width
    if kind == "step":
        return et.Float(low, high, step=(high - low) / draw(st.integers(1, 50)))
    return et.Float(low, high)


@st.composite
def ints(draw) -> et.Int:
    kind = draw(st.sampled_from(["plain", "log", "step"]))
    if kind == "log":
        low = draw(st.integers(1, 1000))
        return et.Int(low, low + draw(st.integers(1, 100000)), log=True)
    low = draw(st.integers(-10000, 10000))
    width = draw(st.integers(1, 5000))
    step = draw(st.integers(1, width)) if kind == "step" else 1
    return et.Int(low, low + width, step=step)


@st.composite
def categoricals(draw) -> et.Categorical:
    choices = draw(st.lists(st.one_of(st.text(max_size=5), st.integers(-5, 5), st.booleans(), st.none()),
                            min_size=1, max_size=8, unique_by=lambda v: (type(v).__name__, v)))
    return et.Categorical(choices, ordered=draw(st.booleans()))


distributions = st.one_of(floats(), ints(), categoricals())
scales = st.floats(1e-4, 1.0)
seeds = st.integers(0, 2**32 - 1)


def assert_valid(dist: et.Float | et.Int | et.Categorical, value) -> None:
    assert dist.contains(value), f"{value!r} is not a value of {dist!r}"
    if isinstance(dist, et.Int):
        assert type(value) is int
        assert dist.low <= value <= dist.high and (value - dist.low) % dist.step == 0
    elif isinstance(dist, et.Float):
        assert type(value) is float and dist.low <= value <= dist.high
        if dist.step:
            index = (value - dist.low) / dist.step
            assert abs(index - round(index)) < 1e-6
    else:
        assert any(value is c or (value == c and type(value) is type(c)) for c in dist.choices)


@FAST
@given(dist=distributions, seed=seeds, scale=scales)
def test_sample_mutate_and_crossover_stay_valid(dist, seed, scale):
    rng = np.random.default_rng(seed)
    a, b = dist.sample(rng), dist.sample(rng)
    assert_valid(dist, a)
    assert_valid(dist, dist.mutate(a, rng, scale))
    assert_valid(dist, dist.crossover(a, b, rng))


@FAST
@given(dist=st.one_of(ints(), categoricals(), floats().filter(lambda d: d.step is not None)),
       seed=seeds, scale=scales)
def test_mutation_changes_a_discrete_value(dist, seed, scale):
    rng = np.random.default_rng(seed)
    value = dist.sample(rng)
    child = dist.mutate(value, rng, scale)
    if dist.cardinality > 1:
        assert dist.key(child) != dist.key(value)
    else:
        assert child == value


@FAST
@given(dist=st.one_of(ints(), floats()), seed=seeds, scale=st.floats(1e-3, 0.05))
def test_mutation_step_follows_the_unit_coordinate(dist, seed, scale):
    """A small step stays small in unit coordinates: in log space for log-scale parameters."""
    rng = np.random.default_rng(seed)
    value = dist.sample(rng)
    for _ in range(20):
        child = dist.mutate(value, rng, scale)
        moved = abs(dist.to_unit(child) - dist.to_unit(value))
        assert moved <= 6 * scale + neighbour_gap(dist, value) + 1e-9


def neighbour_gap(dist: et.Float | et.Int, value) -> float:
    """The largest unit-coordinate distance from ``value`` to an adjacent value (0 if continuous)."""
    if isinstance(dist, et.Float):
        return 1.0 / dist.cardinality if dist.step else 0.0
    adjacent = [v for v in (value - dist.step, value + dist.step) if dist.low <= v <= dist.high]
    return max(abs(dist.to_unit(v) - dist.to_unit(value)) for v in adjacent)


def test_log_scale_mutation_moves_by_factors_not_by_amounts():
    rng = np.random.default_rng(0)
    rate = et.Float(1e-6, 1.0, log=True)
    children = [rate.mutate(1e-6, rng, 0.02) for _ in range(500)]
    # A linear step of 2% of the range would reach about 0.02; in log space it is about x1.3.
    assert max(children) < 1e-5
    assert len({round(math.log10(c), 3) for c in children}) > 100
    units = et.Int(1, 10000, log=True)
    grown = [units.mutate(10, rng, 0.02) for _ in range(500)]
    assert max(grown) < 30 and min(grown) >= 1


@FAST
@given(dist=st.one_of(ints(), floats()), seed=seeds)
def test_numeric_crossover_lands_around_and_between_the_parents(dist, seed):
    rng = np.random.default_rng(seed)
    a, b = dist.sample(rng), dist.sample(rng)
    child = dist.crossover(a, b, rng)
    ua, ub, uc = dist.to_unit(a), dist.to_unit(b), dist.to_unit(child)
    spread = abs(ua - ub) * 0.25 + _cell_width(dist, child)
    assert min(ua, ub) - spread - 1e-9 <= uc <= max(ua, ub) + spread + 1e-9


def _cell_width(dist, value) -> float:
    """Width, in unit coordinates, of the cell of values that snap to ``value``.

    Even for a log-scale Int, whose cells are wide at the low end: 1 covers [0.5, 1.5) in
    log scale, a quarter of the unit range of Int(1, 51, log=True).
    """
    if isinstance(dist, et.Int) and dist.log:
        edges = math.log(dist.low - 0.5), math.log(dist.high + 0.5)
        return (math.log(value + 0.5) - math.log(value - 0.5)) / (edges[1] - edges[0])
    return 1.0 / dist.cardinality if math.isfinite(dist.cardinality) else 0.0


@FAST
@given(choices=st.lists(st.integers(), min_size=2, max_size=6, unique=True), seed=seeds)
def test_unordered_crossover_takes_a_parent_choice(choices, seed):
    dist = et.Categorical(choices)
    rng = np.random.default_rng(seed)
    a, b = dist.sample(rng), dist.sample(rng)
    for _ in range(10):
        assert dist.crossover(a, b, rng) in (a, b)


@st.composite
def spaces(draw) -> et.Space:
    dists = draw(st.lists(distributions, min_size=1, max_size=6))
    return et.Space({f"p{i}": d for i, d in enumerate(dists)})


@FAST
@given(space=spaces(), seed=seeds, rate=st.one_of(st.none(), st.floats(0.01, 1.0)), scale=scales,
       blend=st.floats(0.0, 1.0))
def test_space_operators_stay_in_the_space(space, seed, rate, scale, blend):
    rng = np.random.default_rng(seed)
    a, b = space.sample(rng), space.sample(rng)
    child = space.mutate(a, rng, rate, scale)
    assert space.validate(child) == child
    if any(d.cardinality > 1 for d in space.values()) and all(
        not math.isinf(d.cardinality) for d in space.values()
    ):
        assert space.key(child) != space.key(a)  # at least one discrete parameter changed
    crossed = space.crossover(a, b, rng, blend)
    assert space.validate(crossed) == crossed
    point = space.from_unit(rng.random(len(space)))
    assert space.validate(point) == point


# -- batch mutation in unit coordinates (the screening path of EvolutionarySearch) ---------------


@FAST
@given(dist=distributions, seed=seeds, scale=scales)
def test_batch_mutation_gives_unit_coordinates_of_valid_values(dist, seed, scale):
    """Every mutated unit coordinate is exactly the coordinate of the value it stands for."""
    rng = np.random.default_rng(seed)
    start = np.array([dist.to_unit(dist.sample(rng)) for _ in range(40)])
    moved = dist.mutate_units(start, rng, scale)
    assert moved.shape == start.shape and np.all((moved >= 0) & (moved <= 1))
    for u in moved:
        value = dist.from_unit(u)
        assert_valid(dist, value)
        assert math.isclose(dist.to_unit(value), u, rel_tol=1e-9, abs_tol=1e-9)


@FAST
@given(dist=st.one_of(ints(), floats()), seed=seeds, scale=st.floats(1e-3, 0.05))
def test_batch_mutation_steps_follow_the_unit_coordinate(dist, seed, scale):
    rng = np.random.default_rng(seed)
    value = dist.sample(rng)
    start = np.full(50, dist.to_unit(value))
    moved = np.abs(dist.mutate_units(start, rng, scale) - start)
    assert np.all(moved <= 6 * scale + neighbour_gap(dist, value) + 1e-9)


def test_batch_mutation_of_a_log_scale_value_moves_by_factors():
    rng = np.random.default_rng(1)
    rate = et.Float(1e-6, 1.0, log=True)
    children = [rate.from_unit(u) for u in rate.mutate_units(np.full(500, rate.to_unit(1e-3)), rng, 0.02)]
    # 2% of the log range is a factor of about 1.3; 2% of the linear range would be +-0.02.
    assert 1e-4 < min(children) and max(children) < 1e-2


@FAST
@given(choices=st.lists(st.integers(), min_size=2, max_size=6, unique=True), seed=seeds)
def test_unordered_batch_mutation_always_changes_the_choice(choices, seed):
    dist = et.Categorical(choices)
    rng = np.random.default_rng(seed)
    start = np.array([dist.to_unit(dist.sample(rng)) for _ in range(30)])
    moved = dist.mutate_units(start, rng, 0.01)
    assert all(dist.from_unit(a) != dist.from_unit(b) for a, b in zip(start, moved))
    assert set(np.round(moved * len(choices) - 0.5, 9)) <= set(range(len(choices)))


@FAST
@given(space=spaces(), seed=seeds, rate=st.one_of(st.none(), st.floats(0.01, 1.0)), scale=scales)
def test_space_batch_mutation_stays_in_the_space_and_moves_what_it_chose(space, seed, rate, scale):
    rng = np.random.default_rng(seed)
    start = np.array([space.to_unit(space.sample(rng)) for _ in range(20)])
    moved = space.mutate_units(start, rng, rate, scale)
    assert moved.shape == start.shape
    movable = np.array([d.cardinality > 1 for d in space.values()])
    assert np.all(moved[:, ~movable] == start[:, ~movable])  # a single-valued parameter never moves
    for row in moved:
        params = space.from_unit(row)
        assert space.validate(params) == params
        assert np.allclose(space.to_unit(params), row, atol=1e-9)


def test_space_batch_mutation_rate_sets_how_many_parameters_move():
    space = et.Space({f"x{i}": et.Float(0.0, 1.0) for i in range(8)})
    rng = np.random.default_rng(0)
    start = np.full((400, 8), 0.5)
    rates = np.where(np.arange(400) < 200, 1 / 8, 1.0)  # a rate per row
    changed = (space.mutate_units(start, rng, rates, 0.1) != start).sum(axis=1)
    assert changed.min() >= 1  # at least one parameter moves in every row
    assert changed[200:].min() == 8  # rate 1 moves them all
    assert 1.0 <= changed[:200].mean() < 2.5  # about one in eight, never none
