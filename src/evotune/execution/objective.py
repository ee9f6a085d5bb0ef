"""Calling the objective and capturing what happened, in this process or in a worker.

An objective sent to worker processes or to a cluster travels as a :class:`Payload`: its
cloudpickle bytes (so lambdas and closures defined in ``__main__`` or a notebook work) and
their digest. Each worker keeps the last few objectives it loaded, keyed by digest, so a
large objective (one that closes over a data set, say) crosses the wire about once per
worker: it is sent by digest only, and a worker that does not know the digest answers
:attr:`Outcome.missing`, upon which the trial is sent again with the bytes.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evotune.exceptions import ObjectiveError

#: Objectives smaller than this (bytes) are sent with every trial: no round trip on a cache miss.
INLINE_PAYLOAD_BYTES = 100_000
#: Objectives each worker process keeps loaded.
_CACHE_SIZE = 4
_cache: OrderedDict[str, Callable[..., Any]] = OrderedDict()


@dataclass
class Outcome:
    """What one call of the objective produced: a result, or an exception and its traceback.

    Attributes:
        result: The objective's return value.
        error: ``"ExceptionType: message"`` when the objective raised.
        traceback: The formatted traceback of that exception.
        exception: The exception itself (None when it could not be sent back).
        duration: Seconds spent in the objective.
        worker: ``host:pid`` of the process that ran it.
        missing: The worker does not hold the objective: send it again with its bytes.
        load_error: The objective could not be loaded in the worker (``error`` says why).
        exception_data: The exception, pickled by the worker (see :meth:`restore_exception`).
    """

    result: Any = None
    error: str | None = None
    traceback: str | None = None
    exception: BaseException | None = None
    duration: float = 0.0
    worker: str | None = None
    missing: bool = False
    load_error: bool = False
    exception_data: bytes | None = None

    def restore_exception(self) -> None:
        """Unpickle the exception a worker sent back (dropped when that is impossible here)."""
        if self.exception_data is not None:
            import cloudpickle

            try:
                self.exception = cloudpickle.loads(self.exception_data)
            except Exception:  # noqa: BLE001 - keep the message, drop the exception
                self.exception = None
            self.exception_data = None


@dataclass(frozen=True)
class Payload:
    """An objective on its way to a worker: its digest, and its bytes unless left out."""

    digest: str
    data: bytes | None

    def __repr__(self) -> str:  # shown by executors' dashboards and logs
        size = "cached" if self.data is None else f"{len(self.data)} bytes"
        return f"Payload({self.digest[:12]}, {size})"


def worker_name() -> str:
    """``host:pid`` of this process, as recorded with each trial."""
    return f"{socket.gethostname()}:{os.getpid()}"


def evaluate(objective: Callable[[dict[str, Any]], Any], params: dict[str, Any]) -> Outcome:
    """Call ``objective(params)``; exceptions (not KeyboardInterrupt) become a failed Outcome."""
    start = time.perf_counter()
    try:
        result = objective(dict(params))
    except Exception as error:  # noqa: BLE001 - every failure of user code is recorded
        return Outcome(
            error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc(),
            exception=error, duration=time.perf_counter() - start, worker=worker_name(),
        )
    return Outcome(result=result, duration=time.perf_counter() - start, worker=worker_name())


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


def make_payload(objective: Callable[..., Any]) -> tuple[Payload, Payload]:
    """The payloads of an objective: (what to send first, what to send on a cache miss).

    Raises:
        ObjectiveError: When the objective cannot be serialized.
    """
    data = pickle_objective(objective)
    digest = hashlib.sha256(data).hexdigest()
    full = Payload(digest, data)
    return (full if len(data) <= INLINE_PAYLOAD_BYTES else Payload(digest, None)), full


def _load(payload: Payload) -> Callable[..., Any] | None:
    objective = _cache.get(payload.digest)
    if objective is not None:
        _cache.move_to_end(payload.digest)
        return objective
    if payload.data is None:
        return None
    import cloudpickle

    objective = cloudpickle.loads(payload.data)
    _cache[payload.digest] = objective
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return objective


def evaluate_payload(payload: Payload, params: dict[str, Any]) -> Outcome:
    """Worker side of :func:`make_payload`: load the objective (once per worker) and evaluate."""
    try:
        objective = _load(payload)
    except Exception as error:  # noqa: BLE001 - e.g. a module missing on this machine
        return Outcome(
            error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc(),
            worker=worker_name(), load_error=True,
        )
    if objective is None:
        return Outcome(missing=True, worker=worker_name())
    outcome = evaluate(objective, params)
    if outcome.exception is not None:
        # Sent as bytes: an exception class the parent cannot import must not lose the trial.
        import cloudpickle

        try:
            outcome.exception_data = cloudpickle.dumps(outcome.exception)
        except Exception:  # noqa: BLE001 - keep the message, drop the unpicklable exception
            pass
        outcome.exception = None
    return outcome


#: Longest per-trial time limit, in seconds (about 31 years): the interval timer refuses longer ones.
MAX_TRIAL_TIMEOUT = 1e9


class TimeLimited:
    """An objective with a per-trial time limit: past ``seconds``, it raises ``TimeoutError``.

    The limit is a real-time interval timer (``SIGALRM``), so it works where trials run in the
    main thread of their process: in this process (``n_jobs=1``) and in evotune's worker
    processes (``n_jobs=N``). Where that is impossible (a thread of a Dask worker, a thread
    pool, Windows) the objective runs without a limit. Code inside a long C call is stopped
    when it returns to Python.
    """

    def __init__(self, objective: Callable[..., Any], seconds: float):
        self.objective = objective
        self.seconds = float(seconds)

    def __call__(self, params: dict[str, Any]) -> Any:
        import signal
        import threading

        if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
            return self.objective(params)

        def expire(_signum: int, _frame: Any) -> None:
            raise TimeoutError(f"the trial ran longer than its trial_timeout of {self.seconds:g} s")

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            return self.objective(params)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
