"""Where trials run: in this process, in local worker processes, or on any Executor.

A runner hides the differences: how the objective travels (directly, or as a pickled
:class:`~evotune.execution.objective.Payload`), how many trials may run at once, which extra
arguments the executor takes (Dask's ``resources=`` and ``pure=False``), and what to do when
a worker dies.
"""

from __future__ import annotations

import concurrent.futures as cf
import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from evotune.exceptions import ConfigError
from evotune.execution.objective import Outcome, evaluate, evaluate_payload, make_payload
from evotune.execution.pool import acquire_pool, available_cores, release_pool, replace_pool

#: Seconds between two reads of a Dask cluster's size (it may scale while the study runs).
_CLUSTER_REFRESH = 5.0
#: Trials kept in flight per free slot of a cluster: the second one waits in the scheduler, so a
#: worker starts its next trial without waiting for a round trip through this process.
_CLUSTER_DEPTH = 2

Resources = Mapping[str, float] | Callable[[dict[str, Any]], Mapping[str, float]] | None


def is_lost_worker(error: BaseException) -> bool:
    """True when an executor reports that the process running a trial died."""
    if isinstance(error, BrokenProcessPool):
        return True
    distributed = sys.modules.get("distributed")
    killed = getattr(distributed, "KilledWorker", None)
    return killed is not None and isinstance(error, killed)


def _is_dask(executor: Any) -> bool:
    module = sys.modules.get("distributed.cfexecutor")
    return module is not None and isinstance(executor, module.ClientExecutor)


def check_resources(resources: Any) -> Resources:
    """Validate ``resources=``: None, a mapping name -> amount, or a function of the params."""
    if resources is None or callable(resources):
        return resources
    if not isinstance(resources, Mapping) or not all(
        isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
        for k, v in resources.items()
    ):
        raise ConfigError(
            "resources must be a dict of resource name -> positive amount (e.g. {'GPU': 1}), or a "
            f"function params -> such a dict; got {resources!r}"
        )
    return dict(resources)


class Runner:
    """Runs trials; ``capacity`` is how many may be in flight at once."""

    capacity: int = 1

    def submit(self, params: dict[str, Any], *, resend: bool = False) -> cf.Future:
        """Start evaluating ``params``; ``resend`` includes the objective's bytes (cache miss)."""
        raise NotImplementedError

    def outcome(self, future: cf.Future) -> Outcome:
        """The finished future's outcome; raises what the executor raised."""
        outcome: Outcome = future.result()
        outcome.restore_exception()
        return outcome

    def refresh(self) -> None:
        """Update ``capacity`` (a cluster may have grown or shrunk)."""

    def recover(self) -> bool:
        """After a lost worker: make the runner usable again; False when it cannot be."""
        return True

    def close(self, abort: bool = False) -> None:
        """Release workers; ``abort`` also stops trials still running."""


class InlineRunner(Runner):
    """Runs each trial at submission, in this thread: n_jobs=1 needs no pickling."""

    def __init__(self, objective: Callable[..., Any]):
        self.objective = objective

    def submit(self, params: dict[str, Any], *, resend: bool = False) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(evaluate(self.objective, params))
        return future


class ThreadRunner(Runner):
    """A ThreadPoolExecutor shares this process's memory: the objective is called directly."""

    def __init__(self, objective: Callable[..., Any], executor: cf.ThreadPoolExecutor, limit: int | None):
        self.objective, self.executor = objective, executor
        self.capacity = limit or executor._max_workers  # type: ignore[attr-defined]

    def submit(self, params: dict[str, Any], *, resend: bool = False) -> cf.Future:
        return self.executor.submit(evaluate, self.objective, params)


class ProcessRunner(Runner):
    """Local worker processes from the shared pool (see :mod:`evotune.execution.pool`)."""

    def __init__(self, objective: Callable[..., Any], n_jobs: int, limit: int | None):
        self.first, self.full = make_payload(objective)
        self.pool = acquire_pool(n_jobs)
        self.capacity = min(n_jobs, limit or n_jobs)

    def submit(self, params: dict[str, Any], *, resend: bool = False) -> cf.Future:
        payload = self.full if resend else self.first
        try:
            return self.pool.submit(evaluate_payload, payload, params)
        except cf.process.BrokenProcessPool:  # a worker died while idle: start fresh ones
            self.pool = replace_pool(self.pool)
            return self.pool.submit(evaluate_payload, payload, params)

    def recover(self) -> bool:
        if getattr(self.pool, "_broken", False):  # futures of an already replaced pool: nothing to do
            self.pool = replace_pool(self.pool)
        return True

    def close(self, abort: bool = False) -> None:
        release_pool(self.pool, abort=abort)


class ExecutorRunner(Runner):
    """Any ``concurrent.futures.Executor``: another process pool, Dask's ``ClientExecutor``...

    The objective is pickled with cloudpickle here, so an executor that pickles with the
    standard library still runs lambdas and closures. For Dask, each trial is submitted with
    ``pure=False`` (two trials with the same parameters both run) and the ``resources`` the
    user gave; the capacity follows the cluster's size.
    """

    def __init__(self, objective: Callable[..., Any], executor: Any, limit: int | None, resources: Resources):
        self.first, self.full = make_payload(objective)
        self.executor, self.limit, self.resources = executor, limit, resources
        self.dask = _is_dask(executor)
        if resources is not None and not self.dask:
            raise ConfigError(
                f"resources= needs an executor that schedules by resources, such as Dask's "
                f"client.get_executor(); {type(executor).__name__} does not; got resources={resources!r}"
            )
        self._checked_at = 0.0
        self.capacity = 1
        self.refresh()

    def submit(self, params: dict[str, Any], *, resend: bool = False) -> cf.Future:
        payload = self.full if resend else self.first
        if not self.dask:
            return self.executor.submit(evaluate_payload, payload, params)
        resources = self.resources(dict(params)) if callable(self.resources) else self.resources
        extra: dict[str, Any] = {"pure": False}
        if resources:
            extra["resources"] = dict(resources)
        return self.executor.submit(evaluate_payload, payload, params, **extra)

    def refresh(self) -> None:
        if self.limit is not None and not self.dask:
            self.capacity = self.limit
            return
        now = time.monotonic()
        if now - self._checked_at < _CLUSTER_REFRESH:
            return
        self._checked_at = now
        size = _dask_slots(self.executor, self.resources) if self.dask else None
        if size is not None:
            size *= _CLUSTER_DEPTH
        else:
            size = getattr(self.executor, "_max_workers", None) or available_cores()
        self.capacity = max(1, min(size, self.limit or size))

    def recover(self) -> bool:
        broken = getattr(self.executor, "_broken", False)
        return not broken  # a user's broken process pool cannot be rebuilt from here


def _dask_slots(executor: Any, resources: Resources) -> int | None:
    """Trials a Dask cluster can run at once: its threads, or fewer when resources are scarcer."""
    client = getattr(executor, "_client", None)
    if client is None:
        return None
    try:
        workers = client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:  # older distributed: no n_workers argument
        workers = client.scheduler_info()["workers"]
    except Exception:  # noqa: BLE001 - keep the previous capacity when the scheduler is busy
        return None
    slots = sum(int(info.get("nthreads", 1)) for info in workers.values())
    if isinstance(resources, Mapping) and resources:
        by_resources = 0
        for info in workers.values():
            held = info.get("resources", {}) or {}
            by_resources += min(int(held.get(name, 0) // amount) for name, amount in resources.items())
        slots = min(slots, by_resources)
    return max(1, slots)


def make_runner(objective: Callable[..., Any], n_jobs: int, executor: Any, max_concurrent: int | None,
                resources: Resources) -> Runner:
    """The runner for ``optimize``'s ``n_jobs`` / ``executor`` / ``max_concurrent`` / ``resources``.

    Raises:
        ConfigError: For an executor without ``submit``, for n_jobs given with an executor, or
            for resources with an executor that cannot use them.
        ObjectiveError: When the objective must travel to other processes and cannot be pickled.
    """
    if executor is not None:
        if not callable(getattr(executor, "submit", None)):
            raise ConfigError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
        if n_jobs != 1:
            raise ConfigError(
                f"n_jobs and executor cannot both be given (got n_jobs={n_jobs}); the executor decides "
                f"where trials run, and max_concurrent limits how many run at once"
            )
        if isinstance(executor, cf.ThreadPoolExecutor) and resources is None:
            return ThreadRunner(objective, executor, max_concurrent)
        return ExecutorRunner(objective, executor, max_concurrent, resources)
    if resources is not None:
        raise ConfigError(
            f"resources= is passed to a Dask executor (executor=client.get_executor()); got "
            f"resources={resources!r} without an executor"
        )
    if n_jobs > 1 and (max_concurrent or n_jobs) > 1:
        return ProcessRunner(objective, n_jobs, max_concurrent)
    return InlineRunner(objective)
