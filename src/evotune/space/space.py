"""Space: the named hyperparameters of a study, and the operators over whole parameter sets."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from evotune.exceptions import ParamsError, SpaceError
from evotune.space.distributions import Distribution, distribution_from_dict

Params = dict[str, Any]


class Space(Mapping[str, Distribution]):
    """An ordered, immutable mapping of parameter names to distributions.

    A plain dict is accepted wherever a Space is; :meth:`Space.coerce` does the wrapping.

    Args:
        parameters: Mapping of names (non-empty strings) to Float, Int or Categorical.

    Raises:
        SpaceError: When a name or a distribution is invalid, or the space is empty.

    Example:
        >>> import evotune as et
        >>> space = et.Space({"lr": et.Float(1e-4, 1e-1, log=True), "depth": et.Int(2, 8)})
        >>> space.grid_size(points=3)
        21
    """

    def __init__(self, parameters: Mapping[str, Distribution]):
        if isinstance(parameters, Space):
            parameters = parameters._parameters
        if not isinstance(parameters, Mapping):
            raise SpaceError(
                f"a space must be a dict of name -> Float/Int/Categorical, got {type(parameters).__name__}"
            )
        if not parameters:
            raise SpaceError("a space must have at least one parameter, got an empty dict")
        for name, dist in parameters.items():
            if not isinstance(name, str) or not name.strip():
                raise SpaceError(f"parameter names must be non-empty strings, got {name!r}")
            if not isinstance(dist, Distribution):
                raise SpaceError(
                    f"parameter {name!r} must be a Float, Int or Categorical, got {dist!r} "
                    f"({type(dist).__name__})"
                )
        self._parameters: dict[str, Distribution] = dict(parameters)
        self._names = tuple(self._parameters)

    @classmethod
    def coerce(cls, space: Space | Mapping[str, Distribution]) -> Space:
        """Return ``space`` itself when it is a Space, else wrap it."""
        return space if isinstance(space, Space) else cls(space)

    # -- mapping ------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Distribution:
        return self._parameters[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        inner = ", ".join(f"{n!r}: {d!r}" for n, d in self._parameters.items())
        return f"Space({{{inner}}})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping) and not isinstance(other, Space):
            try:
                other = Space(other)
            except SpaceError:
                return False
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.to_json())

    # -- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: dist.to_dict() for name, dist in self._parameters.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Space:
        if not isinstance(data, Mapping):
            raise SpaceError(f"a space must be a mapping of parameters, got {type(data).__name__}")
        return cls({name: distribution_from_dict(spec, name) for name, spec in data.items()})

    @classmethod
    def from_json(cls, text: str) -> Space:
        return cls.from_dict(json.loads(text))

    # -- parameter sets ----------------------------------------------------------------
    def validate(self, params: Any) -> Params:
        """Return ``params`` in canonical form (in space order) or raise ParamsError.

        The message names the missing, extra or out-of-range parameter and its value.
        """
        if not isinstance(params, Mapping):
            raise ParamsError(f"parameters must be a dict of name -> value, got {params!r}")
        missing = [n for n in self._names if n not in params]
        if missing:
            raise ParamsError(f"parameter {missing[0]!r} is missing (space has {list(self._names)})")
        extra = [n for n in params if n not in self._parameters]
        if extra:
            raise ParamsError(f"parameter {extra[0]!r} is not in the space (space has {list(self._names)})")
        return {name: self._parameters[name].validate(params[name], name) for name in self._names}

    def contains(self, params: Any) -> bool:
        try:
            self.validate(params)
        except ParamsError:
            return False
        return True

    def key(self, params: Mapping[str, Any]) -> tuple[Any, ...]:
        """A hashable identity of a parameter set: equal keys mean the same configuration."""
        return tuple(self._parameters[n].key(params[n]) for n in self._names)

    def sample(self, rng: np.random.Generator) -> Params:
        return {name: dist.sample(rng) for name, dist in self._parameters.items()}

    def to_unit(self, params: Mapping[str, Any]) -> np.ndarray:
        """The unit coordinates of a parameter set, one per parameter, in space order."""
        return np.array([self._parameters[n].to_unit(params[n]) for n in self._names], dtype=float)

    def from_unit(self, point: Any) -> Params:
        return {n: self._parameters[n].from_unit(float(u)) for n, u in zip(self._names, point)}

    def mutate(
        self, params: Mapping[str, Any], rng: np.random.Generator, rate: float | None = None,
        scale: float = 0.1,
    ) -> Params:
        """Mutate each parameter with probability ``rate`` (default 1/len); at least one changes."""
        rate = 1.0 / len(self) if rate is None else rate
        chosen = [n for n in self._names if rng.random() < rate and self[n].cardinality > 1]
        if not chosen:
            candidates = [n for n in self._names if self[n].cardinality > 1] or list(self._names)
            chosen = [candidates[int(rng.integers(len(candidates)))]]
        child = dict(params)
        for name in chosen:
            child[name] = self._parameters[name].mutate(params[name], rng, scale)
        return child

    def mutate_units(
        self, units: np.ndarray, rng: np.random.Generator, rate: float | np.ndarray | None = None,
        scale: float = 0.1,
    ) -> np.ndarray:
        """:meth:`mutate` for many points at once, in unit coordinates.

        Args:
            units: ``(n, len(self))`` unit coordinates, one row per point to mutate.
            rng: The random generator.
            rate: Probability that each parameter moves: one number, one per row, or None (1/len).
                At least one parameter of each row moves (one that has more than one value).
            scale: Gaussian step in unit coordinates (see :meth:`Distribution.mutate_units`).

        Returns:
            A new ``(n, len(self))`` array of unit coordinates of valid values; :meth:`from_unit`
            turns a row into parameters.
        """
        units = np.array(units, dtype=float, ndmin=2)
        rows, width = units.shape
        rates = np.broadcast_to(np.asarray(1.0 / width if rate is None else rate, dtype=float), (rows,))
        movable = np.array([self._parameters[n].cardinality > 1 for n in self._names])
        chosen = (rng.random((rows, width)) < rates[:, None]) & movable
        if movable.any():
            idle = np.flatnonzero(~chosen.any(axis=1))
            choices = np.flatnonzero(movable)
            chosen[idle, choices[rng.integers(len(choices), size=len(idle))]] = True
        for column, name in enumerate(self._names):
            moving = chosen[:, column]
            if moving.any():
                units[moving, column] = self._parameters[name].mutate_units(units[moving, column], rng, scale)
        return units

    def crossover(self, a: Mapping[str, Any], b: Mapping[str, Any], rng: np.random.Generator,
                  blend: float = 0.5) -> Params:
        """Per parameter, take one parent's value, or with probability ``blend`` a blend of both."""
        child = {}
        for name, dist in self._parameters.items():
            if a[name] != b[name] and rng.random() < blend:
                child[name] = dist.crossover(a[name], b[name], rng)
            else:
                child[name] = a[name] if rng.random() < 0.5 else b[name]
        return child

    # -- grid -------------------------------------------------------------------------------
    def grid_axes(self, points: int | None = None) -> list[list[Any]]:
        """The grid values of each parameter, in space order.

        Raises:
            SpaceError: Naming the parameter whose grid is undefined (a Float without step
                when ``points`` is None).
        """
        axes = []
        for name in self._names:
            try:
                axes.append(self._parameters[name].grid(points))
            except SpaceError as error:
                raise SpaceError(f"parameter {name!r}: {error}") from None
        return axes

    def grid_size(self, points: int | None = None) -> int:
        size = 1
        for axis in self.grid_axes(points):
            size *= len(axis)
        return size

    def grid_point(self, index: int, axes: list[list[Any]]) -> Params:
        """The ``index``-th cell of the grid in row-major order (last parameter fastest)."""
        params = {}
        for name, axis in zip(reversed(self._names), reversed(axes)):
            index, position = divmod(index, len(axis))
            params[name] = axis[position]
        return {n: params[n] for n in self._names}
