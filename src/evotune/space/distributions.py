"""The three kinds of hyperparameter: Float, Int and Categorical.

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
import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from evotune.exceptions import ParamsError, SpaceError

#: Largest magnitude of an Int bound (what databases store as a 64-bit integer).
INT_LIMIT = 2**63
#: Most values a stepped Float may have (beyond, steps are below the precision of a float).
MAX_STEPS = 1e12
#: Most values one parameter may give a grid: a longer axis is refused before it is built, since
#: no grid search could walk it and building it could exhaust the memory.
MAX_GRID_VALUES = 1_000_000
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


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_finite_real(value: Any) -> bool:
    """A real number that a float can hold (an integer of 400 digits cannot)."""
    if not _is_real(value):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


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


#: What to do about a log-scale Int with too many integers for a grid (it cannot have a step).
LOG_INT_GRID_REMEDY = (
    "give the grid a number of points (GridSearch(points=N), or points = N in [strategy]) to take "
    "N log-spaced integers, narrow the range, or use a Categorical of the values you want "
    "(e.g. powers of two)"
)


def _check_grid_length(distribution: Distribution, count: int, remedy: str) -> None:
    if count > MAX_GRID_VALUES:
        raise SpaceError(
            f"{distribution!r} has {count:,} grid values, more than a grid search can walk "
            f"(at most {MAX_GRID_VALUES:,} a parameter): {remedy}, or tune it with "
            f"RandomSearch or EvolutionarySearch"
        )


class Float(Distribution):
    """A real-valued hyperparameter on ``[low, high]``.

    Args:
        low: Lower bound (inclusive).
        high: Upper bound (inclusive); must be greater than ``low``.
        log: Sample uniformly in log space; requires ``low > 0``.
        step: Restrict values to ``low, low + step, ...`` up to ``high``.

    Raises:
        SpaceError: When a bound, ``log`` or ``step`` breaks a rule.

    Example:
        >>> Float(1e-5, 1e-1, log=True)
        Float(1e-05, 0.1, log=True)
        >>> Float(0.0, 0.5, step=0.1).grid()
        [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
    """

    kind = "float"

    def __init__(self, low: float, high: float, *, log: bool = False, step: float | None = None,
                 **unknown: Any):
        _reject_unknown("Float", unknown, "low, high, log, step")
        for field, value in (("low", low), ("high", high)):
            if not _is_finite_real(value):
                raise SpaceError(f"Float {field} must be a finite number, got {_describe(value)}")
        low, high = float(low), float(high)
        if not low < high:
            raise SpaceError(f"Float low must be < high, got low={low!r} high={high!r}")
        if not math.isfinite(high - low):
            raise SpaceError(f"Float high - low must be a finite number, got low={low!r} high={high!r}")
        if not isinstance(log, (bool, np.bool_)):
            raise SpaceError(f"Float log must be True or False, got {_describe(log)}")
        if log and low <= 0:
            raise SpaceError(f"Float with log=True needs low > 0, got low={low!r}")
        if log and not math.log(high) > math.log(low):
            raise SpaceError(f"Float with log=True needs a range wider in log scale, got low={low!r} high={high!r}")
        if step is not None:
            if not _is_finite_real(step) or step <= 0:
                raise SpaceError(f"Float step must be a number > 0, got step={step!r}")
            step = float(step)
            if step > (high - low) * (1 + 1e-9):  # 5.1 - 5.0 is 0.0999...: a step of 0.1 fits
                raise SpaceError(
                    f"Float step must not exceed high - low = {high - low!r}, got step={step!r}"
                )
            if log:
                raise SpaceError("Float cannot have both log=True and a step; choose one")
            if not (high - low) / step < MAX_STEPS:
                raise SpaceError(
                    f"Float step={step!r} is too small for [{low!r}, {high!r}]: more than {MAX_STEPS:.0e} values; "
                    f"use a larger step, or none for a continuous range"
                )
        self.low, self.high, self.log, self.step = low, high, bool(log), step
        self._count = int(math.floor((high - low) / step + 1e-9)) + 1 if step else 0
        self._frozen = True

    def __repr__(self) -> str:
        extra = ", log=True" if self.log else (f", step={self.step!r}" if self.step else "")
        return f"Float({self.low!r}, {self.high!r}{extra})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log, "step": self.step}

    @property
    def cardinality(self) -> float:
        return self._count if self.step else math.inf

    def _snap(self, index: int) -> float:
        # Round away float noise (0.1 + 0.2) at 12 decimals, or finer for a tiny step, then
        # clamp, so the result never leaves [low, high] whatever the bounds.
        digits = 12 - min(0, math.floor(math.log10(self.step)))  # type: ignore[arg-type]
        value = round(self.low + index * self.step, digits)  # type: ignore[operator]
        return min(max(value, self.low), self.high)

    def validate(self, value: Any, name: str = "value") -> float:
        if not _is_finite_real(value):
            raise ParamsError(f"parameter {name!r} must be a finite number, got {_describe(value)}")
        value = float(value)
        tolerance = 1e-12 * max(1.0, abs(self.low), abs(self.high))
        if not self.low - tolerance <= value <= self.high + tolerance:
            raise ParamsError(
                f"parameter {name!r} must be in [{self.low!r}, {self.high!r}], got {value!r}"
            )
        if self.step:
            index = (value - self.low) / self.step
            if abs(index - round(index)) > 1e-6:
                raise ParamsError(
                    f"parameter {name!r} must be on a step of {self.step!r} from {self.low!r}, "
                    f"got {value!r}"
                )
            return self._snap(int(round(index)))
        return min(max(value, self.low), self.high)

    def to_unit(self, value: Any) -> float:
        if self.step:
            return (round((value - self.low) / self.step) + 0.5) / self._count
        if self.log:
            return (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (value - self.low) / (self.high - self.low)

    def from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.step:
            return self._snap(min(int(u * self._count), self._count - 1))
        if self.log:
            if u <= 0.0 or u >= 1.0:  # exp(log(x)) is not always x: give the bounds exactly
                return self.low if u <= 0.0 else self.high
            span = math.log(self.high) - math.log(self.low)
            return min(max(math.exp(math.log(self.low) + u * span), self.low), self.high)
        return min(max(self.low + u * (self.high - self.low), self.low), self.high)

    def snap_units(self, units: np.ndarray) -> np.ndarray:
        return _cell_centres(units, self._count) if self.step else super().snap_units(units)

    def _neighbour(self, value: Any, direction: int) -> float:
        if not self.step:  # a step too small to move a large value: the next float that way
            bound = self.high if direction > 0 else self.low
            return math.nextafter(value, bound if value != bound else self.low + self.high - bound)
        index = round((value - self.low) / self.step)  # type: ignore[operator]
        if not 0 <= index + direction < self._count:
            direction = -direction
        return self._snap(index + direction)

    def grid(self, points: int | None = None) -> list[float]:
        if self.step:
            _check_grid_length(self, self._count, "give it a larger step")
            return [self._snap(i) for i in range(self._count)]
        if points is None:
            raise SpaceError(
                f"{self!r} has no step, so its grid is undefined: give it a step "
                f"(Float(low, high, step=...)) or pass GridSearch(points=N)"
            )
        _check_grid_length(self, points, "ask for fewer points")
        if self.log:
            values = np.geomspace(self.low, self.high, points)
        else:
            values = np.linspace(self.low, self.high, points)
        return [float(v) for v in values]

    def key(self, value: Any) -> Any:
        return float(f"{value:.12g}")


class Int(Distribution):
    """An integer hyperparameter on ``[low, high]``, both bounds included.

    Args:
        low: Lower bound (an integer).
        high: Upper bound (an integer greater than ``low``).
        log: Sample uniformly in log space; requires ``low >= 1``.
        step: Restrict values to ``low, low + step, ...`` up to ``high``.

    Example:
        >>> Int(2, 5).grid()
        [2, 3, 4, 5]
        >>> Int(16, 1024, log=True).grid(points=7)  # a log scale takes ``points`` values
        [16, 32, 64, 128, 256, 512, 1024]
    """

    kind = "int"

    def __init__(self, low: int, high: int, *, log: bool = False, step: int = 1, **unknown: Any):
        _reject_unknown("Int", unknown, "low, high, log, step")
        for field, value in (("low", low), ("high", high), ("step", step)):
            if not isinstance(value, (numbers.Integral, float)) or isinstance(value, (bool, np.bool_)) or (
                isinstance(value, float) and not value.is_integer()
            ):
                raise SpaceError(f"Int {field} must be an integer, got {_describe(value)}")
        low, high, step = int(low), int(high), int(step)
        for field, value in (("low", low), ("high", high)):
            if not -INT_LIMIT <= value <= INT_LIMIT:
                raise SpaceError(f"Int {field} must be between -2**63 and 2**63, got {value!r}")
        if not low < high:
            raise SpaceError(f"Int low must be < high, got low={low!r} high={high!r}")
        if not isinstance(log, (bool, np.bool_)):
            raise SpaceError(f"Int log must be True or False, got {_describe(log)}")
        if log and low < 1:
            raise SpaceError(f"Int with log=True needs low >= 1, got low={low!r}")
        if step < 1:
            raise SpaceError(f"Int step must be an integer >= 1, got step={step!r}")
        if step > high - low:
            raise SpaceError(f"Int step must not exceed high - low = {high - low}, got step={step!r}")
        if log and step != 1:
            raise SpaceError("Int cannot have both log=True and a step; choose one")
        if log and not math.log(high + 0.5) > math.log(low - 0.5):
            raise SpaceError(f"Int with log=True needs a range wider in log scale, got low={low!r} high={high!r}")
        self.low, self.high, self.log, self.step = low, high, bool(log), step
        self._count = (high - low) // step + 1
        self._frozen = True

    def __repr__(self) -> str:
        extra = ", log=True" if self.log else (f", step={self.step}" if self.step != 1 else "")
        return f"Int({self.low}, {self.high}{extra})"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log, "step": self.step}

    @property
    def cardinality(self) -> float:
        return self._count

    def validate(self, value: Any, name: str = "value") -> int:
        if isinstance(value, (bool, np.bool_)) or not _is_real(value):
            raise ParamsError(f"parameter {name!r} must be an integer, got {_describe(value)}")
        if isinstance(value, numbers.Integral):
            value = int(value)
        elif _is_finite_real(value) and float(value).is_integer():
            value = int(value)
        else:
            raise ParamsError(f"parameter {name!r} must be an integer, got {_describe(value)}")
        if not self.low <= value <= self.high:
            raise ParamsError(f"parameter {name!r} must be in [{self.low}, {self.high}], got {value}")
        if (value - self.low) % self.step:
            raise ParamsError(
                f"parameter {name!r} must be on a step of {self.step} from {self.low}, got {value}"
            )
        return value

    def _log_edges(self) -> tuple[float, float]:
        return math.log(self.low - 0.5), math.log(self.high + 0.5)

    def to_unit(self, value: Any) -> float:
        if self.log:
            lo, hi = self._log_edges()
            return (math.log(value) - lo) / (hi - lo)
        return ((value - self.low) // self.step + 0.5) / self._count

    def from_unit(self, u: float) -> int:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            lo, hi = self._log_edges()
            return min(max(int(round(math.exp(lo + u * (hi - lo)))), self.low), self.high)
        return self.low + self.step * min(int(u * self._count), self._count - 1)

    def snap_units(self, units: np.ndarray) -> np.ndarray:
        if self.log:
            lo, hi = self._log_edges()
            values = np.clip(np.rint(np.exp(lo + np.clip(units, 0.0, 1.0) * (hi - lo))), self.low, self.high)
            return (np.log(values) - lo) / (hi - lo)
        return _cell_centres(units, self._count)

    def _neighbour(self, value: Any, direction: int) -> int:
        child = value + direction * self.step
        if not self.low <= child <= self.high:
            child = value - direction * self.step
        return child

    def grid(self, points: int | None = None) -> list[int]:
        """Every integer (or step); for ``log=True`` with more integers than ``points``, ``points``
        log-spaced ones."""
        if self.log and points is not None and points < self._count:
            _check_grid_length(self, points, "ask for fewer points")
            return _log_spaced_integers(self.low, self.high, points)
        _check_grid_length(self, self._count, LOG_INT_GRID_REMEDY if self.log else "give it a larger step")
        return list(range(self.low, self.high + 1, self.step))


def _log_spaced_integers(low: int, high: int, count: int) -> list[int]:
    """``count`` distinct integers from ``low`` to ``high``, as evenly spaced in log scale as
    integers allow (the near-equal ones at the low end are pushed apart).

    Needs more integers in the range than ``count``.
    """
    values = [int(round(float(v))) for v in np.geomspace(low, high, count)]
    values[0], values[-1] = low, high
    for i in range(1, count):  # distinct, going up...
        values[i] = max(values[i], values[i - 1] + 1)
    values[-1] = high
    for i in range(count - 2, -1, -1):  # ...and back under ``high`` (only rounding can push past it)
        values[i] = min(values[i], values[i + 1] - 1)
    return values


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


_KINDS: dict[str, type[Distribution]] = {"float": Float, "int": Int, "categorical": Categorical}


def distribution_from_dict(data: dict[str, Any], name: str = "parameter") -> Distribution:
    """Rebuild a distribution from :meth:`Distribution.to_dict` output.

    Raises:
        SpaceError: When the type is unknown or a field is missing or invalid.
    """
    if not isinstance(data, dict):
        raise SpaceError(f"{name}: a distribution must be a mapping, got {_describe(data)}")
    fields = dict(data)
    kind = fields.pop("type", None)
    if not isinstance(kind, str) or kind not in _KINDS:  # a list or a table is not a name
        raise SpaceError(
            f"{name}: type must be one of {sorted(_KINDS)}, got {kind!r}"
        )
    allowed = {
        "float": {"low", "high", "log", "step"},
        "int": {"low", "high", "log", "step"},
        "categorical": {"choices", "ordered"},
    }[kind]
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise SpaceError(f"{name}: unknown key {unknown[0]!r} for type {kind!r} (allowed: {sorted(allowed)})")
    try:
        if kind == "categorical":
            if "choices" not in fields:
                raise SpaceError("a categorical needs 'choices'")
            return Categorical(fields["choices"], ordered=fields.get("ordered", False))
        for required in ("low", "high"):
            if required not in fields:
                raise SpaceError(f"a {kind} needs {required!r}")
        if kind == "int" and fields.get("step") is None:
            fields.pop("step", None)
        return _KINDS[kind](fields.pop("low"), fields.pop("high"), **fields)
    except SpaceError as error:
        raise SpaceError(f"{name}: {error}") from None
