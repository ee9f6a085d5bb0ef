"""The numeric distributions: Float for real numbers and Int for integers.

Each spans ``[low, high]`` on a linear scale, a log scale or in steps, and refuses a grid
too long for any grid search to walk.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from evotune.exceptions import ParamsError, SpaceError
from evotune.space.base import Distribution, _cell_centres, _describe, _reject_unknown

#: Largest magnitude of an Int bound (what databases store as a 64-bit integer).
INT_LIMIT = 2**63
#: Most values a stepped Float may have (beyond, steps are below the precision of a float).
MAX_STEPS = 1e12
#: Most values one parameter may give a grid: a longer axis is refused before it is built, since
#: no grid search could walk it and building it could exhaust the memory.
MAX_GRID_VALUES = 1_000_000


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
