"""A start gate for trials on Dask: once the run stops, a trial queued ahead does not start.

The loop keeps a trial queued ahead of each worker thread of a cluster (see
:mod:`~evotune.execution.runners`). When the run stops, those must not run; but a Dask
future's ``cancel()`` cannot be limited to a trial not yet started: it drops a running one
too. So each trial submitted to Dask first looks at the run's gate, a ``distributed.Event``
set (open) while the run goes on. Stopping clears it (closed), and a trial that a worker
starts after that returns at once, not started, without calling the objective; the loop
records it as it records a cancelled one. Trials already running finish.

Only public Dask API is used: ``distributed.get_client()`` in this process (the default
client) and ``Event(name).is_set()`` in the worker: one round trip to the scheduler per trial,
about half a millisecond on a ``LocalCluster``. Other executors do without a gate. When the
default client talks to another scheduler than the executor, the workers find the gate closed
from the first trial on; the runner then goes on without a gate (see
``ExecutorRunner.outcome``). A cleared event is deleted by the scheduler, so a closed gate
leaves nothing behind.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from evotune.execution.objective import Outcome, Payload, evaluate_payload, worker_name

logger = logging.getLogger("evotune")


class StartGate:
    """The gate of one run: a ``distributed.Event`` by a unique name, set while trials may start."""

    def __init__(self, event: Any):
        self.event = event
        self.name: str = event.name

    @classmethod
    def open(cls) -> StartGate | None:
        """A new, open gate on the default Dask client's scheduler; None when there is no usable
        client (none, closed, or asynchronous): the run then goes on without a gate."""
        import distributed

        try:
            client = distributed.get_client()
        except ValueError:  # no default client: made with set_as_default=False, or closed
            return None
        if client.asynchronous or client.status != "running":
            return None
        event = distributed.Event(f"evotune-start-gate-{uuid.uuid4().hex}", client=client)
        try:
            event.set()
        except Exception as error:  # noqa: BLE001 - the scheduler cannot be reached: no gate
            logger.debug("no start gate on the Dask scheduler: %s: %s", type(error).__name__, error)
            return None
        return cls(event)

    def close(self) -> None:
        """Let no more trials start. Clearing the event deletes it on the scheduler."""
        try:
            self.event.clear()
        except Exception as error:  # noqa: BLE001 - the scheduler is gone, and the event with it
            logger.debug("cannot close the start gate %s: %s: %s", self.name, type(error).__name__, error)


def evaluate_gated(gate: str, payload: Payload, params: dict[str, Any]) -> Outcome:
    """Worker side: evaluate, unless the gate ``gate`` is closed (:attr:`Outcome.not_started`).

    When the gate cannot be read, the trial runs: running a trial after a stop is the lesser
    harm than losing one.
    """
    import distributed

    try:
        is_open = distributed.Event(gate).is_set()
    except Exception:  # noqa: BLE001 - run the trial
        is_open = True
    if not is_open:
        return Outcome(not_started=True, worker=worker_name())
    return evaluate_payload(payload, params)
