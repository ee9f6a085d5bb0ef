"""Calling the objective and capturing what happened, in this process or in a worker."""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evotune.exceptions import ObjectiveError


@dataclass
class Outcome:
    """What one call of the objective produced: a result, or an exception and its traceback."""

    result: Any = None
    error: str | None = None
    traceback: str | None = None
    exception: BaseException | None = None
    duration: float = 0.0


def evaluate(objective: Callable[[dict[str, Any]], Any], params: dict[str, Any]) -> Outcome:
    """Call ``objective(params)``; exceptions (not KeyboardInterrupt) become a failed Outcome."""
    start = time.perf_counter()
    try:
        result = objective(dict(params))
    except Exception as error:  # noqa: BLE001 - every failure of user code is recorded
        return Outcome(
            error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc(),
            exception=error, duration=time.perf_counter() - start,
        )
    return Outcome(result=result, duration=time.perf_counter() - start)


def pickle_objective(objective: Callable[..., Any]) -> bytes:
    """Serialize an objective (lambdas and closures included) for a worker.

    Raises:
        ObjectiveError: When it cannot be serialized, saying what to change.
    """
    import cloudpickle

    try:
        return cloudpickle.dumps(objective)
    except Exception as error:  # noqa: BLE001 - cloudpickle raises many kinds
        raise ObjectiveError(
            f"the objective {getattr(objective, '__name__', objective)!r} cannot be sent to worker "
            f"processes: {type(error).__name__}: {error}. Create unpicklable resources (open files, "
            f"locks, connections) inside the objective, or use n_jobs=1"
        ) from error


@functools.lru_cache(maxsize=8)
def _load(payload: bytes) -> Callable[..., Any]:
    import cloudpickle

    return cloudpickle.loads(payload)


def evaluate_payload(payload: bytes, params: dict[str, Any]) -> Outcome:
    """Worker side of :func:`pickle_objective`: load (once per worker) and evaluate."""
    outcome = evaluate(_load(payload), params)
    if outcome.exception is not None:
        try:
            import cloudpickle

            cloudpickle.dumps(outcome.exception)
        except Exception:  # noqa: BLE001 - keep the message, drop the unpicklable exception
            outcome.exception = None
    return outcome
