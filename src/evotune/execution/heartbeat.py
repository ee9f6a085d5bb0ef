"""Heartbeats: how workers sharing a study tell a slow trial from a dead one.

Every ``optimize`` call runs a :class:`Heartbeat` thread. Every ``interval`` seconds it
stamps the trials this call is running, then marks FAILED ("worker lost") any watched RUNNING
trial of the study, whichever ``optimize`` call started it, whose last stamp is older than the
grace period: its worker was killed, lost its machine or its network. The main loop then
records those trials and, when asked, queues them again.

A trial whose ``optimize`` process died on this machine need not wait for the grace period:
each trial records the process that started it (``attrs["worker"]``, ``host:pid``, and on Linux
``attrs["process_scope"]``: the kernel's boot id and the PID namespace, which together say
where that process id means something), and :func:`dead_local_trials` finds those whose
process is gone, so a run resumed right after a crash (``kill -9``, the OOM killer) retries them
at once. The boot id tells apart machines that share a host name; the namespace, containers
that share a kernel but not their process ids. Without a scope recorded, only the grace period
applies.

Only trials started by an ``optimize`` loop are watched (they get a first stamp when they
start). A trial started by ``Study.ask`` or ``evotune suggest`` is run by hand, perhaps for
hours, with nothing to stamp it: it carries no stamp and is never failed here.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Iterable
from typing import Any

from evotune.trial import Trial, TrialState

logger = logging.getLogger("evotune")

#: Error recorded for a trial whose worker died.
WORKER_LOST = "worker lost"


def default_grace(interval: float) -> float:
    """Grace period when none is given: six missed heartbeats, and at least a minute."""
    return max(60.0, 6.0 * interval)


class Heartbeat(threading.Thread):
    """Stamps this worker's running trials, and fails other workers' silent ones.

    Args:
        storage: The study's storage.
        study_id: The study's id in it.
        interval: Seconds between beats.
        grace: Seconds of silence after which a RUNNING trial counts as lost.
    """

    def __init__(self, storage: Any, study_id: int, interval: float, grace: float):
        super().__init__(name="evotune-heartbeat", daemon=True)
        self.storage, self.study_id, self.interval, self.grace = storage, study_id, interval, grace
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._running: set[int] = set()
        self._lost: list[Trial] = []

    def track(self, number: int) -> None:
        with self._lock:
            self._running.add(number)

    def untrack(self, number: int) -> None:
        with self._lock:
            self._running.discard(number)

    def take_lost(self) -> list[Trial]:
        """Trials found lost since the last call."""
        with self._lock:
            lost, self._lost = self._lost, []
        return lost

    def beat(self) -> None:
        """One heartbeat: stamp our trials, then fail every stale watched one of the study."""
        with self._lock:
            numbers = sorted(self._running)
        self.storage.heartbeat(self.study_id, numbers)
        lost = self.storage.fail_stale_trials(self.study_id, self.grace)
        if lost:
            with self._lock:
                self._lost.extend(lost)

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.beat()
            except Exception as error:  # noqa: BLE001 - a storage hiccup must not end the study
                logger.warning("heartbeat failed: %s", error)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=self.interval + 5)


def report_lost(trials: Iterable[Trial]) -> None:
    for trial in trials:
        logger.warning("trial %d lost its worker (%s); marked FAILED", trial.number,
                       trial.attrs.get("worker", "unknown worker"))


def process_scope() -> str | None:
    """Where this process's id is meaningful: the kernel's boot id and the PID namespace (Linux;
    None elsewhere). Two processes with the same scope see the same process ids. Read once per
    process (every trial records it)."""
    return _scope_of(os.getpid())


@functools.lru_cache(maxsize=1)
def _scope_of(pid: int) -> str | None:  # keyed by the process id: a forked child reads its own
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            boot_id = boot.read().strip()
        return f"{boot_id}/{os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return None


def worker_attrs(worker: str) -> dict[str, str]:
    """The attributes a trial started by the ``optimize`` process ``worker`` (``host:pid``) records."""
    scope = process_scope()
    return {"worker": worker} if scope is None else {"worker": worker, "process_scope": scope}


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process, or a platform without signals
        return True
    return True


def dead_local_trials(trials: Iterable[Trial]) -> list[Trial]:
    """The watched RUNNING trials whose ``optimize`` process, in this process's scope (see
    :func:`process_scope`), no longer exists: their worker died, and no heartbeat will come."""
    host, scope = socket.gethostname(), process_scope()
    if scope is None:
        return []
    dead = []
    for trial in trials:
        worker = str(trial.attrs.get("worker", ""))
        worker_host, _, pid = worker.rpartition(":")
        if (trial.state is TrialState.RUNNING and trial.heartbeat_at is not None and worker_host == host
                and trial.attrs.get("process_scope") == scope and pid.isdigit()
                and int(pid) != os.getpid() and not _process_exists(int(pid))):
            dead.append(trial)
    return dead
