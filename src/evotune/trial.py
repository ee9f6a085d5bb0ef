"""Trial records: one evaluation of one parameter set, and its lifecycle state."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


class TrialState(str, enum.Enum):
    """Where a trial is in its life.

    WAITING: enqueued, not yet started. RUNNING: handed to a worker. COMPLETE: finished with
    a value. FAILED: raised, returned garbage, timed out, was interrupted or lost its worker
    (the reason is in ``Trial.error``).
    """

    WAITING = "WAITING"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"

    @property
    def finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.FAILED)

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Trial:
    """One evaluation of a parameter set.

    Attributes:
        number: Position in the study, unique and gap-free from 0.
        params: The parameter values, in space order.
        state: See :class:`TrialState`.
        value: The optimized metric, once COMPLETE.
        metrics: Every named metric the objective returned.
        error: For a FAILED trial, the reason (and a traceback when there was one).
        started_at, finished_at: UTC timestamps.
        generation: For evolutionary studies, the generation the trial belongs to.
        parents: Trial numbers of the parents it was bred from.
        origin: How it was proposed: "random", "grid", "manual", "initial", "mutation",
            "crossover", "quadratic", ...
        attrs: Free-form JSON data (worker, stdout tail, ...).
    """

    number: int
    params: dict[str, Any]
    state: TrialState = TrialState.RUNNING
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    generation: int | None = None
    parents: tuple[int, ...] = ()
    origin: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    heartbeat_at: datetime | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, or None while not finished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def replace(self, **changes: Any) -> Trial:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view of the trial."""
        return {
            "number": self.number,
            "state": self.state.value,
            "value": self.value,
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "error": self.error,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration": self.duration,
            "generation": self.generation,
            "parents": list(self.parents),
            "origin": self.origin,
            "attrs": dict(self.attrs),
        }
