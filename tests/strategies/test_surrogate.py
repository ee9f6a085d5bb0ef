import doctest

import numpy as np
import pytest

from evotune.strategies import surrogate
from evotune.strategies.surrogate import RadialBasisModel, quadratic_minimum


def test_examples_in_the_docstrings_hold():
    assert doctest.testmod(surrogate).failed == 0


def test_quadratic_minimum_finds_the_floor_of_a_separable_bowl():
    rng = np.random.default_rng(1)
    points = rng.random((9, 4))
    centre = np.array([0.2, 0.7, 0.45, 0.9])
    losses = ((points - centre) ** 2 * [1.0, 3.0, 0.5, 2.0]).sum(1) + 4.0
    assert np.allclose(quadratic_minimum(points, losses), centre)


def test_quadratic_minimum_keeps_the_trend_of_a_rippled_bowl():
    """Ripples the points resolve do not move the fitted floor far from the bowl's."""
    rng = np.random.default_rng(2)
    points = rng.random((60, 3))
    centre = np.array([0.35, 0.6, 0.5])
    losses = (((points - centre) * 10) ** 2).sum(1) + 10 * (1 - np.cos(2 * np.pi * 10 * (points - centre))).sum(1)
    assert np.abs(quadratic_minimum(points, losses) - centre).max() < 0.08
    nearest_point = points[np.argmin(losses)]
    assert np.abs(nearest_point - centre).max() > 0.08  # the best point alone is further off


def test_quadratic_minimum_is_clipped_to_the_unit_box():
    points = np.random.default_rng(3).random((7, 2))
    losses = (points[:, 0] - 1.7) ** 2 + (points[:, 1] + 0.4) ** 2
    assert quadratic_minimum(points, losses).tolist() == [1.0, 0.0]


@pytest.mark.parametrize("losses", [
    lambda x: (x[:, 0] - 0.5) ** 2 - (x[:, 1] - 0.5) ** 2,  # a saddle: no floor along the second axis
    lambda x: x[:, 0] + 2 * x[:, 1],  # a slope
])
def test_quadratic_minimum_is_none_without_a_floor(losses):
    points = np.random.default_rng(4).random((10, 2))
    assert quadratic_minimum(points, losses(points)) is None


def test_quadratic_minimum_needs_a_point_per_term():
    points = np.random.default_rng(5).random((6, 3))  # 7 terms: a, three slopes, three curvatures
    assert quadratic_minimum(points, ((points - 0.5) ** 2).sum(1)) is None
    assert quadratic_minimum(np.vstack([points, [[0.1, 0.9, 0.3]]]),
                             ((np.vstack([points, [[0.1, 0.9, 0.3]]]) - 0.5) ** 2).sum(1)) is not None


def test_radial_basis_model_interpolates_ranks_and_prefers_the_low_region():
    rng = np.random.default_rng(6)
    points = rng.random((30, 2))
    losses = ((points - [0.25, 0.75]) ** 2).sum(1)
    model = RadialBasisModel(points, losses)
    ranks = np.argsort(np.argsort(losses)) / (len(losses) - 1)
    assert np.allclose(model.predict(points), ranks, atol=1e-3)  # up to the small ridge
    assert model.predict(np.array([[0.25, 0.75]]))[0] < model.predict(np.array([[0.9, 0.1]]))[0]


def test_merit_trades_prediction_for_novelty_by_weight():
    points = np.array([[0.1, 0.1], [0.2, 0.1], [0.1, 0.2], [0.9, 0.9], [0.5, 0.5]])
    model = RadialBasisModel(points, np.array([0.0, 0.1, 0.1, 1.0, 0.5]))
    candidates = np.array([[0.12, 0.12], [0.1, 0.9]])  # beside the best point; far from every point
    assert np.argmin(model.merit(candidates, 1.0)) == 0
    assert np.argmin(model.merit(candidates, 0.0)) == 1


def test_quadratic_minimum_keeps_fixed_and_two_valued_coordinates_of_the_first_point():
    rng = np.random.default_rng(7)
    points = np.column_stack([rng.random(20), rng.integers(0, 2, 20).astype(float), np.full(20, 0.25),
                              rng.random(20), rng.random(20)])
    losses = (points[:, 0] - 0.6) ** 2 + 0.5 * points[:, 1] + (points[:, 3] - 0.1) ** 2 + 0.01 * points[:, 4]
    order = np.argsort(losses)
    points, losses = points[order], losses[order]
    fixed = np.array([False, False, False, False, True])  # an unordered choice, say
    minimum = quadratic_minimum(points, losses, fixed)
    assert np.allclose(minimum[[0, 3]], [0.6, 0.1], atol=0.03)  # fitted despite the kept ones
    assert minimum[1] == points[0, 1] and minimum[2] == 0.25 and minimum[4] == points[0, 4]
    # a well-determined fit does not depend on where the losses sit
    assert np.allclose(quadratic_minimum(points, losses + 10.0, fixed), minimum)
    assert np.allclose(quadratic_minimum(points, losses - 0.9, fixed), minimum)


def test_quadratic_minimum_is_none_when_nothing_has_a_curvature_to_fit():
    points = np.random.default_rng(8).integers(0, 2, (12, 3)).astype(float)
    assert quadratic_minimum(points, points.sum(1)) is None
    fixed_all = np.ones(2, dtype=bool)
    assert quadratic_minimum(np.random.default_rng(9).random((8, 2)), np.arange(8.0), fixed_all) is None
