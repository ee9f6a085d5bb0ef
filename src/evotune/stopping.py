"""Stopping criteria shared by every strategy and executor."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from evotune.exceptions import ConfigError


def _check_positive(name: str, value: Any, integer: bool) -> None:
    if value is None:
        return
    kind = "an integer" if integer else "a number"
    ok = not isinstance(value, bool) and isinstance(value, numbers.Integral if integer else numbers.Real)
    if not ok or not value > 0 or (not integer and not math.isfinite(value)):
        raise ConfigError(f"{name} must be {kind} > 0 or None, got {value!r}")


@dataclass
class StopCriteria:
    """When ``optimize`` stops starting new trials.

    Attributes:
        max_trials: Total trials of the study (all runs, all workers) to reach.
        timeout: Seconds since this ``optimize`` call began.
        target: Stop once the best value reaches this (>= when maximizing, <= when minimizing).
        patience: Stop after this many finished trials without improving the best value.
        max_failures: Stop after this many failed trials in this ``optimize`` call.
    """

    max_trials: int | None = None
    timeout: float | None = None
    target: float | None = None
    patience: int | None = None
    max_failures: int | None = None
    direction: str = "minimize"

    def __post_init__(self) -> None:
        _check_positive("max_trials", self.max_trials, integer=True)
        _check_positive("timeout", self.timeout, integer=False)
        _check_positive("patience", self.patience, integer=True)
        _check_positive("max_failures", self.max_failures, integer=True)
        if self.target is not None and (
            isinstance(self.target, bool) or not isinstance(self.target, numbers.Real)
            or not math.isfinite(self.target)
        ):
            raise ConfigError(f"target must be a finite number or None, got {self.target!r}")

    def reached_target(self, best: float | None) -> bool:
        if self.target is None or best is None:
            return False
        return best >= self.target if self.direction == "maximize" else best <= self.target

    def check(self, elapsed: float, best: float | None, since_improvement: int, failures: int) -> str | None:
        """The reason to stop now, or None to go on."""
        if self.reached_target(best):
            return "target reached"
        if self.timeout is not None and elapsed >= self.timeout:
            return "timeout"
        if self.patience is not None and since_improvement >= self.patience:
            return "patience exhausted"
        if self.max_failures is not None and failures >= self.max_failures:
            return "max_failures reached"
        return None
