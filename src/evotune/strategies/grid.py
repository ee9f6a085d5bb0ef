"""GridSearch: every combination of the grid values of each parameter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from evotune.exceptions import ConfigError
from evotune.space import Space
from evotune.strategies.base import History, Proposal, SeededPermutation, Strategy


def grid_cells_done(space: Space, axes: Sequence[Sequence[Any]], trials: Iterable[Any]) -> int:
    """The grid cells already in a study: distinct configurations of ``trials`` on the grid.

    A trial is on the grid when each of its values lies on that parameter's axis (``axes``,
    from :meth:`Space.grid_axes`). Trials off the grid (added by hand, from another strategy)
    are no cell, and a cell tried twice (a failure and its retry, a repeated record) counts once.
    """
    allowed = [{dist.key(value) for value in axis} for dist, axis in zip(space.values(), axes, strict=True)]
    return len({space.key(trial.params) for trial in trials
                if all(dist.key(trial.params[name]) in keys
                       for (name, dist), keys in zip(space.items(), allowed, strict=True))})


class GridSearch(Strategy):
    """Evaluate the n-dimensional grid: categorical choices, integers (or their steps), stepped
    floats, and ``points`` evenly spaced values (log-spaced for ``log=True``) for floats that
    have no step. A log-scale Int with more than ``points`` integers gives ``points`` distinct
    log-spaced integers; with ``points`` None (or at most ``points`` integers), every integer.

    Cells already in the study (run, queued or added by hand) are skipped, so a resumed grid
    continues where it stopped and enqueued cells are not repeated. The strategy is
    exhausted when every cell was proposed.

    Args:
        points: Number of values for each Float that has no step, and at most for each
            log-scale Int.
        shuffle: Visit the cells in a seeded random order instead of row-major order.
        seed: Seed of the shuffled order.

    Raises:
        SpaceError: From :meth:`size` or the first proposal, when a Float has no step and
            ``points`` is None, or an axis has more than a million values.

    Example:
        >>> import evotune as et
        >>> et.GridSearch(points=5).size({"lr": et.Float(1e-4, 1e-1, log=True), "act": et.Categorical(["a", "b"])})
        10
    """

    name = "grid"

    def __init__(self, points: int | None = None, shuffle: bool = False, seed: int | None = None):
        super().__init__(seed)
        if points is not None and (isinstance(points, bool) or not isinstance(points, int) or points < 2):
            raise ConfigError(f"GridSearch points must be an integer >= 2 or None, got {points!r}")
        if not isinstance(shuffle, bool):
            raise ConfigError(f"GridSearch shuffle must be True or False, got {shuffle!r}")
        self.points = points
        self.shuffle = shuffle
        self._cache: tuple[Any, ...] | None = None

    def settings(self) -> dict[str, Any]:
        return {"points": self.points, "shuffle": self.shuffle}

    def size(self, space: Space | dict[str, Any]) -> int:
        """Number of grid cells: the product of each parameter's number of grid values."""
        return Space.coerce(space).grid_size(self.points)

    def _order(self, size: int) -> range | SeededPermutation:
        """The cell index to visit at each step: row-major, or a permutation the seed chooses."""
        return SeededPermutation(size, self.seed) if self.shuffle else range(size)

    def propose(self, space: Space, history: History, number: int) -> Proposal | None:
        if self._cache is None or self._cache[0] is not space:
            axes = space.grid_axes(self.points)
            size = space.grid_size(self.points)
            self._cache = (space, axes, size, self._order(size), [0])
        _, axes, size, order, cursor = self._cache
        # Cells before the cursor are all in the history; the history only grows.
        while cursor[0] < size:
            params = space.grid_point(order[cursor[0]], axes)
            if not history.seen(params):
                return Proposal(params=params, origin="grid")
            cursor[0] += 1
        return None
