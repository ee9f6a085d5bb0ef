"""Calling the objective and capturing what happened, in this process or in a worker.

An objective sent to worker processes or to a cluster travels as a :class:`Payload`: its
cloudpickle bytes (so lambdas and closures defined in ``__main__`` or a notebook work) and
their digest. Each worker keeps the last few objectives it loaded, keyed by digest, so a
large objective (one that closes over a data set, say) crosses the wire about once per
worker: it is sent by digest only, and a worker that does not know the digest answers
:attr:`Outcome.missing`, upon which the trial is sent again with the bytes.

What comes back crosses the boundary as plain data and bytes, never as the user's objects
themselves, so that nothing the objective returns or raises can break the pool: a result
becomes floats where it holds numbers (a float subclass arrives as a float) and is
cloudpickled in the worker; an exception travels with the qualified names of its class and
bases, so that ``catch=`` applies to its type even when the instance cannot be pickled.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import numbers
import os
import socket
import sys
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from evotune.exceptions import ObjectiveError
from evotune.results import Report, error_text

#: Objectives smaller than this (bytes) are sent with every trial: no round trip on a cache miss.
INLINE_PAYLOAD_BYTES = 100_000
#: Objectives each worker process keeps loaded.
_CACHE_SIZE = 4
_cache: OrderedDict[str, Callable[..., Any]] = OrderedDict()


def qualified_name(cls: type) -> str:
    """``module.QualifiedName`` of a class, as compared across processes by ``catch=``."""
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass
class Outcome:
    """What one call of the objective produced: a result, or an exception and its traceback.

    Attributes:
        result: The objective's return value.
        error: ``"ExceptionType: message"`` when the objective raised, or why its result
            cannot be used.
        traceback: The formatted traceback of that exception.
        exception: The exception itself (None when it could not be sent back).
        exception_types: Qualified names of the exception's class and its bases, most
            derived first (``("urllib.error.HTTPError", ..., "builtins.BaseException", ...)``).
        duration: Seconds spent in the objective.
        worker: ``host:pid`` of the process that ran it.
        missing: The worker does not hold the objective: send it again with its bytes.
        load_error: The objective could not be loaded in the worker (``error`` says why).
        not_started: The run had stopped when a worker came to start the trial, so the
            objective was not called (see :mod:`~evotune.execution.gate`).
        exception_data: The exception, pickled by the worker (see :meth:`restore`).
        result_data: The result, pickled by the worker (see :meth:`restore`).
    """

    result: Any = None
    error: str | None = None
    traceback: str | None = None
    exception: BaseException | None = None
    exception_types: tuple[str, ...] = ()
    duration: float = 0.0
    worker: str | None = None
    missing: bool = False
    load_error: bool = False
    not_started: bool = False
    exception_data: bytes | None = None
    result_data: bytes | None = None

    def restore(self) -> None:
        """Unpickle what a worker sent back.

        An exception that cannot be unpickled here is dropped (its message, traceback and
        type names stay); a result that cannot be unpickled here becomes the trial's ``error``.
        """
        import cloudpickle

        if self.exception_data is not None:
            try:
                self.exception = cloudpickle.loads(self.exception_data)
            except Exception:  # noqa: BLE001 - keep the message and the type names
                self.exception = None
            self.exception_data = None
        if self.result_data is not None:
            try:
                self.result = cloudpickle.loads(self.result_data)
            except Exception as error:  # noqa: BLE001 - the trial fails, not the pool
                self.error = (f"objective returned a result that cannot be unpickled in the process running "
                              f"the study: {error_text(error)}; {_RETURN_PLAIN}")
            self.result_data = None

    def caught_by(self, catch: tuple[type[BaseException], ...]) -> bool:
        """Whether ``catch`` covers the exception: by its class, or by the names of its class
        and bases when the exception itself could not be sent back."""
        if self.exception is not None and isinstance(self.exception, catch):
            return True
        return not {qualified_name(cls) for cls in catch}.isdisjoint(self.exception_types)

    def uncaught(self) -> BaseException:
        """The exception to raise when ``catch`` does not cover it: the objective's own, or, when
        it could not be sent back, an ObjectiveError naming its type, message and traceback."""
        if self.exception is not None:
            return self.exception
        message = (self.error or "").partition(": ")[2]
        where = f" in worker {self.worker}" if self.worker else ""
        return ObjectiveError(
            f"the objective raised {self.exception_types[0]}: {message}{where}, which catch= does not cover; "
            f"the exception itself cannot be sent back to this process (it does not survive pickling), so it "
            f"is raised as this ObjectiveError. Its traceback in the worker:\n{self.traceback or ''}"
        )


#: How to fix a result that cannot cross between processes.
_RETURN_PLAIN = "return a number, a dict of named numbers, or a Report whose attrs are plain data"


@dataclass(frozen=True)
class Payload:
    """An objective on its way to a worker: its digest, and its bytes unless left out."""

    digest: str
    data: bytes | None
    #: Run by evotune's own worker processes, which hold the main script as ``__main__``.
    share_main: bool = False

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
            error=error_text(error), traceback=traceback.format_exc(),
            exception=error, exception_types=tuple(qualified_name(cls) for cls in type(error).__mro__),
            duration=time.perf_counter() - start, worker=worker_name(),
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
            f"processes: {error_text(error)}. Create unpicklable resources (open files, "
            f"locks, connections) inside the objective, or use n_jobs=1"
        ) from error


def make_payload(objective: Callable[..., Any], *, share_main: bool = False) -> tuple[Payload, Payload]:
    """The payloads of an objective: (what to send first, what to send on a cache miss).

    Args:
        objective: The objective.
        share_main: The workers are evotune's own (see :func:`_share_main`).

    Raises:
        ObjectiveError: When the objective cannot be serialized.
    """
    data = pickle_objective(objective)
    digest = hashlib.sha256(data).hexdigest()
    full = Payload(digest, data, share_main)
    return (full if len(data) <= INLINE_PAYLOAD_BYTES else Payload(digest, None, share_main)), full


def _load(payload: Payload) -> Callable[..., Any] | None:
    objective = _cache.get(payload.digest)
    if objective is not None:
        _cache.move_to_end(payload.digest)
        return objective
    if payload.data is None:
        return None
    import cloudpickle

    objective = cloudpickle.loads(payload.data)
    if payload.share_main:
        _share_main(objective)
    _cache[payload.digest] = objective
    while len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return objective


def _share_main(objective: Callable[..., Any]) -> None:
    """Put the copies of the main script's functions and classes that the objective uses into this
    worker's ``__main__``.

    An objective from the main script (or a notebook) arrives by value, with copies of the
    script's functions it calls. Code that pickles one of them again by name, as a
    ``multiprocessing.Pool`` inside the objective does, looks the name up in ``__main__`` and
    must find that very copy there.
    """
    while True:  # down to the user's function
        if isinstance(objective, TimeLimited):
            objective = objective.objective
        elif isinstance(objective, functools.partial):
            objective = objective.func
        else:
            break
    main, namespace = sys.modules.get("__main__"), getattr(objective, "__globals__", None)
    if main is None or not isinstance(namespace, dict) or namespace is getattr(main, "__dict__", None):
        return
    for name, value in list(namespace.items()):
        if (inspect.isfunction(value) or isinstance(value, type)) and getattr(value, "__module__", None) == "__main__" \
                and getattr(value, "__qualname__", None) == name:
            setattr(main, name, value)


def _plain(result: Any) -> Any:
    """The result with its numbers as floats (numpy scalars, float subclasses): what the study keeps
    of them anyway, and what unpickles anywhere."""
    if isinstance(result, Report):
        return dataclasses.replace(result, result=_plain(result.result))
    if isinstance(result, Mapping):
        return {name: _plain_number(value) for name, value in result.items()}
    return _plain_number(result)


def _plain_number(value: Any) -> Any:
    if type(value) in (int, float) or isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    try:
        return float(value)
    except Exception:  # noqa: BLE001 - left for the result checks to name
        return value


def _unpicklable_part(result: Any) -> str:
    """Which entry of a result fails to pickle, in words (empty when it is the whole)."""
    import cloudpickle

    if isinstance(result, Report):
        parts = [("its result", result.result)] + [(f"attrs[{k!r}]", v) for k, v in dict(result.attrs).items()]
    elif isinstance(result, Mapping):
        parts = [(f"its entry {k!r}", v) for k, v in result.items()]
    else:
        return ""
    for where, value in parts:
        try:
            cloudpickle.dumps(value)
        except Exception:  # noqa: BLE001 - found it
            return f" ({where}, a {type(value).__name__})"
    return ""


def evaluate_payload(payload: Payload, params: dict[str, Any]) -> Outcome:
    """Worker side of :func:`make_payload`: load the objective (once per worker) and evaluate.

    The result and the exception go back pickled (see :meth:`Outcome.restore`).
    """
    try:
        objective = _load(payload)
    except Exception as error:  # noqa: BLE001 - e.g. a module missing on this machine
        return Outcome(
            error=error_text(error), traceback=traceback.format_exc(),
            worker=worker_name(), load_error=True,
        )
    if objective is None:
        return Outcome(missing=True, worker=worker_name())
    outcome = evaluate(objective, params)
    import cloudpickle

    if outcome.exception is not None:
        # Sent as bytes: an exception class the parent cannot import must not lose the trial.
        try:
            outcome.exception_data = cloudpickle.dumps(outcome.exception)
        except Exception:  # noqa: BLE001 - keep the message and type names, drop the exception
            pass
        outcome.exception = None
        return outcome
    result, outcome.result = _plain(outcome.result), None
    try:
        outcome.result_data = cloudpickle.dumps(result)
    except Exception as error:  # noqa: BLE001 - the trial fails, not the pool
        outcome.error = (f"objective returned a result that cannot be sent back from its worker process"
                         f"{_unpicklable_part(result)}: {error_text(error)}; {_RETURN_PLAIN}")
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
