"""Categorical: a choice among values that JSON can store, ordered or not."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from evotune.exceptions import ParamsError, SpaceError
from evotune.space.base import Distribution, _cell_centres, _cells, _describe, _reject_unknown

_JSON_SCALARS = (str, bool, int, float, type(None))


class Categorical(Distribution):
    """A choice among a list of values (strings, numbers, booleans or None).

    Args:
        choices: The values, at least one, no duplicates, each storable as JSON.
        ordered: Treat the choices as ordered: mutation steps to a nearby choice instead
            of resampling any other.

    Example:
        >>> Categorical(["relu", "tanh"]).grid()
        ['relu', 'tanh']
    """

    kind = "categorical"

    def __init__(self, choices: Sequence[Any], *, ordered: bool = False, **unknown: Any):
        _reject_unknown("Categorical", unknown, "choices, ordered")
        if isinstance(choices, (str, bytes)) or not isinstance(choices, (Sequence, np.ndarray)):
            raise SpaceError(f"Categorical choices must be a list of values, got {_describe(choices)}")
        values = [c.item() if isinstance(c, np.generic) else c for c in choices]
        if not values:
            raise SpaceError("Categorical choices must not be empty, got []")
        keys = []
        for value in values:
            if not isinstance(value, _JSON_SCALARS) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                raise SpaceError(
                    "Categorical choices must be strings, numbers, booleans or None that JSON can "
                    f"store, got {_describe(value)}"
                )
            keys.append(json.dumps(value))
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise SpaceError(f"Categorical choices must be unique, got duplicates {', '.join(duplicates)}")
        if not isinstance(ordered, (bool, np.bool_)):
            raise SpaceError(f"Categorical ordered must be True or False, got {_describe(ordered)}")
        self.choices = tuple(values)
        self.ordered = bool(ordered)
        self._index = {k: i for i, k in enumerate(keys)}
        self._frozen = True

    def __repr__(self) -> str:
        extra = ", ordered=True" if self.ordered else ""
        return f"Categorical({list(self.choices)!r}{extra})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices), "ordered": self.ordered}

    @property
    def cardinality(self) -> float:
        return len(self.choices)

    def index(self, value: Any) -> int:
        """Position of ``value`` among the choices (raises ParamsError when absent)."""
        return self._index[json.dumps(self.validate(value))]

    def validate(self, value: Any, name: str = "value") -> Any:
        if isinstance(value, np.generic):
            value = value.item()
        try:
            key = json.dumps(value)
        except (TypeError, ValueError):
            key = None
        if key is None or key not in self._index:
            raise ParamsError(
                f"parameter {name!r} must be one of {list(self.choices)!r}, got {_describe(value)}"
            )
        return self.choices[self._index[key]]

    def to_unit(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Any:
        u = min(max(float(u), 0.0), 1.0)
        return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]

    def mutate(self, value: Any, rng: np.random.Generator, scale: float = 0.1) -> Any:
        """Unordered: any other choice, uniformly. Ordered: a step in the unit coordinate."""
        if len(self.choices) == 1:
            return value
        if self.ordered:
            return super().mutate(value, rng, scale)
        current = self.index(value)
        pick = int(rng.integers(len(self.choices) - 1))
        return self.choices[pick + (pick >= current)]

    def snap_units(self, units: np.ndarray) -> np.ndarray:
        return _cell_centres(units, len(self.choices))

    def mutate_units(self, units: np.ndarray, rng: np.random.Generator, scale: float = 0.1) -> np.ndarray:
        """Unordered: any other choice, uniformly. Ordered: a step in the unit coordinate."""
        count = len(self.choices)
        if count == 1:
            return self.snap_units(units)
        if self.ordered:
            return super().mutate_units(units, rng, scale)
        pick = rng.integers(count - 1, size=np.shape(units))
        return (pick + (pick >= _cells(units, count)) + 0.5) / count

    def _neighbour(self, value: Any, direction: int) -> Any:
        index = self.index(value) + direction
        if not 0 <= index < len(self.choices):
            index -= 2 * direction
        return self.choices[index]

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> Any:
        """Unordered: one parent's choice. Ordered: blend like a number."""
        if self.ordered:
            return super().crossover(a, b, rng)
        return a if rng.random() < 0.5 else b

    def grid(self, points: int | None = None) -> list[Any]:
        return list(self.choices)

    def key(self, value: Any) -> Any:
        return json.dumps(value)
