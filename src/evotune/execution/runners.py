"""Where trials run: in this process, in local worker processes, or on any Executor.

A runner hides the differences: how the objective travels (directly, or as a pickled
:class:`~evotune.execution.objective.Payload`), how many trials may run at once, which extra
arguments the executor takes (Dask's ``resources=`` and ``pure=False``), and what to do when
a worker dies.

Two mistakes that would otherwise go on silently end the run with a ConfigError: local
workers that cannot even start (a main script without the ``if __name__ == "__main__":``
guard), and Dask resources that no worker of the cluster holds (the trial would wait
forever). A cluster with no worker yet is waited for: its workers may still be starting.

When the run stops, :meth:`Runner.cancel_unstarted` withdraws the trials submitted ahead that
no worker has started; on Dask, where a future's ``cancel()`` would drop a running trial too,
a start gate does it (:mod:`~evotune.execution.gate`).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from evotune.exceptions import ConfigError
from evotune.execution.gate import StartGate, evaluate_gated
from evotune.execution.objective import Outcome, evaluate, evaluate_payload, make_payload
from evotune.execution.pool import acquire_pool, available_cores, pool_started, release_pool, replace_pool

#: Seconds between two reads of a Dask cluster's size (it may scale while the study runs).
_CLUSTER_REFRESH = 5.0
#: Trials kept in flight per free slot of a cluster: the second one waits in the scheduler, so a
#: worker starts its next trial without waiting for a round trip through this process.
_CLUSTER_DEPTH = 2
#: Fresh local pools in a row whose workers all died before starting: then they cannot start at all
#: (two, so that one worker killed while starting, by the out-of-memory killer say, is not taken for it).
_FAILED_STARTS = 2

logger = logging.getLogger("evotune")

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
        outcome.restore()
        return outcome

    def cancel_unstarted(self, futures: list[cf.Future]) -> list[cf.Future]:
        """Once the run stops: cancel the trials of ``futures`` that no worker has started, and
        return those cancelled (they never run). Trials already started finish.

        ``Future.cancel()`` does just that for ``concurrent.futures`` executors: it cancels only a
        call still pending (a process pool's call handed to a worker counts as started). A runner
        may instead let its trials come back with :attr:`Outcome.not_started` when a worker
        reaches them after this call.
        """
        return [future for future in futures if future.cancel()]

    def refresh(self) -> None:
        """Update ``capacity`` (a cluster may have grown or shrunk)."""

    def recover(self) -> bool:
        """After a lost worker: make the runner usable again; False when it cannot be.

        Raises:
            ConfigError: When no retry can help (the workers cannot start at all).
        """
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
        self.first, self.full = make_payload(objective, share_main=True)
        self.pool = acquire_pool(n_jobs)
        self.capacity = min(n_jobs, limit or n_jobs)
        self.failed_starts = 0  # pools in a row whose workers died before starting

    def submit(self, params: dict[str, Any], *, resend: bool = False) -> cf.Future:
        payload = self.full if resend else self.first
        try:
            return self.pool.submit(evaluate_payload, payload, params)
        except cf.process.BrokenProcessPool:  # a worker died while idle: start fresh ones
            self._replace()
            return self.pool.submit(evaluate_payload, payload, params)

    def recover(self) -> bool:
        if getattr(self.pool, "_broken", False):  # futures of an already replaced pool: nothing to do
            self._replace()
        return True

    def _replace(self) -> None:
        """Start fresh workers in place of the broken pool, unless its workers cannot start at all."""
        self.failed_starts = 0 if pool_started(self.pool) else self.failed_starts + 1
        if self.failed_starts >= _FAILED_STARTS:
            size = self.pool._max_workers  # type: ignore[attr-defined]
            raise ConfigError(
                f"the worker processes of optimize(n_jobs={size}) exited while starting, before running any "
                f"trial ({self.failed_starts} times in a row). Most likely the script that calls optimize lacks "
                f"the `if __name__ == \"__main__\":` guard: each worker imports that script, which must not "
                f"start an optimization when imported; put the code that runs the study under the guard. "
                f"Otherwise importing the main script fails in a new process: see what the workers printed"
            )
        self.pool = replace_pool(self.pool)

    def close(self, abort: bool = False) -> None:
        release_pool(self.pool, abort=abort)


class ExecutorRunner(Runner):
    """Any ``concurrent.futures.Executor``: another process pool, Dask's ``ClientExecutor``...

    The objective is pickled with cloudpickle here, so an executor that pickles with the
    standard library still runs lambdas and closures. For Dask, each trial is submitted with
    ``pure=False`` (two trials with the same parameters both run) and the ``resources`` the
    user gave; the capacity follows the cluster's size; each trial goes through the run's
    start gate (:class:`~evotune.execution.gate.StartGate`), opened at the first trial.
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
        self.workers: dict[str, Any] | None = None  # the cluster's workers, as last read
        self._requests_checked: set[frozenset[tuple[str, float]]] = set()
        self._requests_waiting: dict[frozenset[tuple[str, float]], dict[str, float]] = {}  # before any worker
        self.gate: StartGate | None = None
        self.gated = self.dask  # until the gate is found missing, or cannot be opened
        self.stopped = False  # cancel_unstarted was called: the gate is closed
        self.refresh()
        if isinstance(resources, Mapping):
            self._check_held(resources)

    def submit(self, params: dict[str, Any], *, resend: bool = False) -> cf.Future:
        payload = self.full if resend else self.first
        if not self.dask:
            return self.executor.submit(evaluate_payload, payload, params)
        resources = self.resources(dict(params)) if callable(self.resources) else self.resources
        extra: dict[str, Any] = {"pure": False}
        if resources:
            self._check_held(resources)
            extra["resources"] = dict(resources)
        if self.gated and self.gate is None:
            self.gate = StartGate.open()
            self.gated = self.gate is not None
        if self.gated and self.gate is not None:
            return self.executor.submit(evaluate_gated, self.gate.name, payload, params, **extra)
        return self.executor.submit(evaluate_payload, payload, params, **extra)

    def outcome(self, future: cf.Future) -> Outcome:
        """The finished future's outcome. A trial that found the gate closed before this run
        closed it is asked to be sent again (as on a cache miss), and the run goes on without a
        gate: the default Dask client, which holds the gate, talks to another scheduler than
        the executor (or the scheduler lost the gate)."""
        outcome = super().outcome(future)
        if not outcome.not_started or self.stopped:
            return outcome
        if self.gated:
            self.gated = False
            logger.warning("Dask workers do not see this run's start gate: the default client "
                           "(distributed.get_client()) is connected to another scheduler than the executor, or the "
                           "scheduler restarted; the run goes on without it, so trials queued ahead may still start "
                           "after the run stops (to choose the client, call optimize within `with "
                           "client.as_current():`)")
        return Outcome(missing=True, worker=outcome.worker)

    def cancel_unstarted(self, futures: list[cf.Future]) -> list[cf.Future]:
        """For Dask, close the gate and cancel nothing: a Dask future's ``cancel()`` would drop a
        running trial too. The trials a worker reaches after this come back not started."""
        if not self.dask:
            return super().cancel_unstarted(futures)
        self.stopped = True
        if self.gate is not None:
            self.gate.close()
        return []

    def _check_held(self, resources: Mapping[str, float]) -> None:
        """Refuse a request of resources that no worker of the cluster holds: Dask would keep the
        trial waiting forever, and say nothing. Each distinct request is checked until a worker
        holds it once (a dict also before the first trial); workers that leave later are waited for.

        A cluster with no worker yet is waited for (the requests are checked when the first
        workers join, see :meth:`refresh`), and so are workers that hold the resources but are busy. Workers that would join later with the resources cannot be told apart from a
        mistake, such as forgetting ``--resources`` on ``dask worker``; the error says to start them
        first.

        Raises:
            ConfigError: Naming the request and what the workers hold.
        """
        request = frozenset((name, float(amount)) for name, amount in resources.items())
        if request in self._requests_checked:
            return
        if not self.workers:  # checked once workers join (see refresh)
            self._requests_waiting[request] = dict(resources)
            return
        if any(_fits(info, resources) for info in self.workers.values()):
            self._requests_checked.add(request)
            return
        held = Counter(repr(dict(info.get("resources") or {})) for info in self.workers.values())
        described = ", ".join(f"{count} with {'no resources' if what == '{}' else what}"
                              for what, count in sorted(held.items()))
        raise ConfigError(
            f"resources={dict(resources)!r}: no worker of the Dask cluster holds them, so the trial would wait "
            f"forever; its {len(self.workers)} worker(s): {described}. Start the workers with the resources "
            f"(dask worker <scheduler> --resources \"GPU=1\", or LocalCluster(resources={{...}})) before "
            f"optimize, or ask for less"
        )

    def refresh(self) -> None:
        if self.limit is not None and not self.dask:
            self.capacity = self.limit
            return
        now = time.monotonic()
        if now - self._checked_at < _CLUSTER_REFRESH:
            return
        self._checked_at = now
        size = None
        if self.dask:
            workers = _dask_workers(self.executor)
            if workers is not None:  # else keep what was last read: the scheduler may be busy
                self.workers = workers
            if self.workers and self._requests_waiting:  # the first workers joined: check what waits
                waiting, self._requests_waiting = self._requests_waiting, {}
                for resources in waiting.values():
                    self._check_held(resources)
            size = _dask_slots(self.workers, self.resources) if self.workers is not None else None
        if size is not None:
            size *= _CLUSTER_DEPTH
        else:
            size = getattr(self.executor, "_max_workers", None) or available_cores()
        self.capacity = max(1, min(size, self.limit or size))

    def recover(self) -> bool:
        broken = getattr(self.executor, "_broken", False)
        return not broken  # a user's broken process pool cannot be rebuilt from here

    def close(self, abort: bool = False) -> None:
        if self.gate is not None:  # deletes the gate's event on the scheduler
            self.gate.close()


def _dask_workers(executor: Any) -> dict[str, Any] | None:
    """The workers of a Dask executor's cluster (address -> info), None when unknown."""
    client = getattr(executor, "_client", None)
    if client is None:
        return None
    try:
        try:
            return dict(client.scheduler_info(n_workers=-1)["workers"])
        except TypeError:  # older distributed: no n_workers argument
            return dict(client.scheduler_info()["workers"])
    except Exception:  # noqa: BLE001 - keep the previous capacity when the scheduler is busy
        return None


def _fits(info: Mapping[str, Any], resources: Mapping[str, float]) -> bool:
    held = info.get("resources", {}) or {}
    return all(held.get(name, 0) >= amount for name, amount in resources.items())


def _dask_slots(workers: Mapping[str, Any], resources: Resources) -> int:
    """Trials a Dask cluster can run at once: its threads, or fewer when resources are scarcer."""
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
