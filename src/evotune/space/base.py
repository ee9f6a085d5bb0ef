"""The base of every distribution, and the helpers that Float, Int and Categorical share.

Each distribution is an immutable value that validates itself once, in ``__init__``, and
owns its operators: sampling, mutation, crossover, grid points and the JSON round-trip.
Every operator works through the *unit* coordinate ``u`` in ``[0, 1]``: a log-scale
parameter is uniform in ``u`` over the logarithm of its range, and a discrete parameter
gives each of its values an equal slice of ``[0, 1]``. Strategies can therefore treat any
parameter as a number in ``[0, 1]`` without branching on its type.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from evotune.exceptions import ParamsError, SpaceError

#: Blend-crossover extension: children may land this fraction of the parents' distance
#: beyond either parent (in unit coordinates).
BLEND_ALPHA = 0.25


def _reflect(u: float) -> float:
    """Fold any real number back into [0, 1] by mirroring at the bounds (no loops)."""
    u = math.fmod(abs(u), 2.0)
    return 2.0 - u if u > 1.0 else u


def _reflect_all(units: np.ndarray) -> np.ndarray:
    """:func:`_reflect` over an array."""
    units = np.fmod(np.abs(units), 2.0)
    return np.where(units > 1.0, 2.0 - units, units)


def _cells(units: np.ndarray, count: int) -> np.ndarray:
    """Which of ``count`` equal slices of ``[0, 1]`` holds each unit coordinate (0 to count - 1)."""
    return np.minimum(np.floor(np.clip(units, 0.0, 1.0) * count), count - 1)


def _cell_centres(units: np.ndarray, count: int) -> np.ndarray:
    """The centre of the slice of ``[0, 1]`` (one of ``count`` equal slices) holding each unit."""
    return (_cells(units, count) + 0.5) / count


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _reject_unknown(kind: str, unknown: dict[str, Any], allowed: str) -> None:
    """Raise SpaceError for a keyword the distribution does not take (a typo such as ``logg``)."""
    if unknown:
        name = sorted(unknown)[0]
        raise SpaceError(
            f"{kind} got an unknown keyword {name}={unknown[name]!r}; the keywords are {allowed}"
        )


class Distribution(ABC):
    """Base of Float, Int and Categorical; see the module docstring for the unit coordinate."""

    kind: str = ""
    #: Whether the unit coordinate orders the values, so that a trend along it means something:
    #: always for numbers, for choices only when declared ``ordered``.
    ordered: bool = True

    # -- identity ---------------------------------------------------------------------
    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description that :func:`distribution_from_dict` turns back into it."""

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(f"{type(self).__name__} is immutable; create a new one instead")
        object.__setattr__(self, name, value)

    # -- values -----------------------------------------------------------------------
    @abstractmethod
    def validate(self, value: Any, name: str = "value") -> Any:
        """Return the canonical form of ``value`` or raise ParamsError naming ``name``."""

    def contains(self, value: Any) -> bool:
        """True when ``value`` is a valid value of this distribution."""
        try:
            self.validate(value)
        except ParamsError:
            return False
        return True

    @abstractmethod
    def to_unit(self, value: Any) -> float:
        """Map a valid value to its unit coordinate in [0, 1]."""

    @abstractmethod
    def from_unit(self, u: float) -> Any:
        """Map a unit coordinate in [0, 1] to a valid value."""

    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value from the distribution (uniform in the unit coordinate)."""
        return self.from_unit(float(rng.random()))

    @property
    def cardinality(self) -> float:
        """Number of distinct values (``math.inf`` for a continuous Float)."""
        return math.inf

    # -- operators --------------------------------------------------------------------
    def mutate(self, value: Any, rng: np.random.Generator, scale: float = 0.1) -> Any:
        """Return a nearby value: a Gaussian step of ``scale`` in the unit coordinate.

        The step is mirrored at the bounds, so the result is always inside the space. For a
        discrete parameter whose step rounds back to ``value``, the nearest neighbour in the
        direction of the step is taken, so a mutation always changes something when it can.
        """
        u = self.to_unit(value)
        delta = float(rng.normal(0.0, scale))
        child = self.from_unit(_reflect(u + delta))
        if child == value and self.cardinality > 1:
            child = self._neighbour(value, 1 if delta >= 0 else -1)
        return child

    def _neighbour(self, value: Any, direction: int) -> Any:
        return value

    def snap_units(self, units: np.ndarray) -> np.ndarray:
        """The unit coordinates of the values ``from_unit`` gives for ``units`` (an array).

        Two unit coordinates that snap to the same number are the same configuration.
        """
        return np.clip(units, 0.0, 1.0)

    def mutate_units(self, units: np.ndarray, rng: np.random.Generator, scale: float = 0.1) -> np.ndarray:
        """:meth:`mutate` for many values at once, in unit coordinates (an array in, an array out).

        Each coordinate takes a Gaussian step of ``scale``, mirrored at the bounds, and is snapped
        to a valid value; unlike :meth:`mutate`, a discrete step may round back to where it
        started. Made for screening many candidates cheaply: convert the chosen ones with
        :meth:`from_unit`.
        """
        return self.snap_units(_reflect_all(units + rng.normal(0.0, scale, np.shape(units))))

    def crossover(self, a: Any, b: Any, rng: np.random.Generator) -> Any:
        """Blend two parents: a uniform draw around and between them in unit coordinates."""
        ua, ub = self.to_unit(a), self.to_unit(b)
        low, high = min(ua, ub), max(ua, ub)
        spread = (high - low) * BLEND_ALPHA
        return self.from_unit(_reflect(float(rng.uniform(low - spread, high + spread))))

    @abstractmethod
    def grid(self, points: int | None = None) -> list[Any]:
        """The grid values of this parameter (see GridSearch)."""

    def key(self, value: Any) -> Any:
        """A hashable form of a valid value, equal for values that are the same configuration."""
        return value
