"""Local worker processes for ``optimize(n_jobs=N)``, started once and reused.

Starting a Python process and importing the objective's modules takes a good fraction of a
second, so the pool outlives one ``optimize`` call: the next call with the same number of
processes, the same ``sys.path`` and the same current folder reuses the workers (and the
objectives they already loaded), unless a module of the user's code (any module outside the
standard library and site-packages) was reloaded since the workers started: after an edit and
``importlib.reload`` (or IPython's ``%autoreload``) the workers would still run the old code,
so new ones are started. An idle pool shuts itself down after :data:`IDLE_SECONDS`;
:func:`shutdown_pool` stops it at once (do so after changing environment variables that
the objective reads: running workers keep those of their start).

Workers are started with the "spawn" method: a fresh interpreter is safe with the threads
(heartbeat, database pools, Dask clients) of the process that runs the study, where "fork"
is not. Each worker exits on its own when the process that started it is gone (killed by
``kill -9`` or the out-of-memory killer, which leave it no chance to stop its pool): an orphan
would otherwise keep running its trial while a resumed study runs the same configuration
again, then wait forever for work. Each worker also reports that it started
(:func:`pool_started`): a pool whose workers all die before that cannot start at all, most
likely because the main script starts an optimization when a worker imports it.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import functools
import logging
import multiprocessing
import numbers
import os
import site
import sys
import sysconfig
import threading
import time
from typing import Any

from evotune.exceptions import ConfigError

#: Seconds an unused pool keeps its processes before shutting down.
IDLE_SECONDS = 300.0
#: Seconds between a worker's checks that the process that started it is still alive.
PARENT_CHECK_SECONDS = 1.0
#: Exit status of a worker that outlived the process that started it.
ORPHAN_EXIT_STATUS = 70

_lock = threading.Lock()
_pool: cf.ProcessPoolExecutor | None = None
_size = 0
_started_in: tuple[tuple[str, ...], str] = ((), "")
_users = 0
_idle_timer: threading.Timer | None = None
#: The import spec of each of the user's modules when the shared pool's workers started, or when
#: first seen since: a reload (``importlib.reload``, ``%autoreload``) gives the module a new one.
_module_stamps: dict[str, Any] = {}

logger = logging.getLogger("evotune")


def available_cores() -> int:
    """Cores this process may run on (honours CPU affinity, as set by containers and taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def resolve_n_jobs(n_jobs: Any) -> int:
    """Validate ``n_jobs`` and turn -1 into the number of available cores.

    Raises:
        ConfigError: Unless n_jobs is an integer >= 1 or -1.
    """
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0 or n_jobs < -1:
        raise ConfigError(f"n_jobs must be an integer >= 1, or -1 for every core; got {n_jobs!r}")
    return available_cores() if n_jobs == -1 else int(n_jobs)


def _broken(pool: cf.ProcessPoolExecutor) -> bool:
    return bool(getattr(pool, "_broken", False)) or bool(getattr(pool, "_shutdown_thread", False))


@functools.lru_cache(maxsize=1)
def _library_folders() -> tuple[str, ...]:
    """Folders of the standard library and of installed packages: code there is not edited."""
    paths = sysconfig.get_paths()
    folders = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    try:
        folders.update(site.getsitepackages())
        folders.add(site.getusersitepackages())
    except AttributeError:  # an old virtualenv's site module
        pass
    return tuple(os.path.join(folder, "") for folder in folders if folder)


def changed_modules(*, restart: bool = False) -> list[str]:
    """Names of the user's modules reloaded in this process since the shared pool's workers started.

    The user's modules are those loaded from a file outside the standard library and the
    installed packages. A reload (``importlib.reload``, which ``%autoreload`` calls) finds the
    module anew: the workers, which imported the older code, must be replaced. A file edited
    but not reloaded is not: this process runs the older code too, and so do the workers. The
    main script is left out: its functions reach the workers by value, and it cannot be
    reloaded. One attribute read per module: well under a millisecond for hundreds.

    Args:
        restart: New workers start now: stamp every module anew (and report none).
    """
    if restart:
        _module_stamps.clear()
    changed = []
    libraries = _library_folders()
    for name, module in list(sys.modules.items()):
        if name in ("__main__", "__mp_main__"):
            continue
        try:
            spec = getattr(module, "__dict__", {}).get("__spec__")
            origin = getattr(spec, "origin", None)
        except Exception:  # noqa: BLE001 - an odd entry of sys.modules
            continue
        if not isinstance(origin, str) or origin.startswith(libraries) or not os.path.isabs(origin):
            continue
        if _module_stamps.setdefault(name, spec) is not spec:
            changed.append(name)
    return changed


def acquire_pool(size: int) -> cf.ProcessPoolExecutor:
    """A pool of ``size`` spawned worker processes: the shared one when it is free, else new.

    Give it back with :func:`release_pool`.
    """
    global _pool, _size, _users, _idle_timer, _started_in
    # Workers import the objective's modules with the path and folder of their start: a pool
    # started before sys.path or the current folder changed is replaced, and so is one whose
    # workers hold an older version of a module reloaded since.
    context = (tuple(sys.path), os.getcwd())
    with _lock:
        if _idle_timer is not None:
            _idle_timer.cancel()
            _idle_timer = None
        if _pool is not None and _users == 0:
            changed = changed_modules()
            if changed:
                logger.info("module(s) %s reloaded since the worker processes started: starting new ones",
                            ", ".join(sorted(changed)[:5]) + (", ..." if len(changed) > 5 else ""))
            if changed or _size != size or _broken(_pool) or _started_in != context:
                _stop(_pool, kill=False)
                _pool = None
        if _pool is None:
            _pool, _size, _started_in = _new_pool(size), size, context
            changed_modules(restart=True)
        elif _users > 0:  # busy with another optimize call (in another thread): a private pool
            return _new_pool(size)
        _users = 1
        return _pool


class WorkerPool(cf.ProcessPoolExecutor):
    """Spawned worker processes that watch the process that started them (:func:`watch_parent`)
    and report that they started (:func:`pool_started`).

    The report goes through a pipe, whose writing end each worker inherits when it is spawned:
    unlike a named semaphore, it cannot vanish under a worker still starting when the pool is
    dropped.
    """

    def __init__(self, size: int):
        context = multiprocessing.get_context("spawn")
        self._started, report = context.Pipe(duplex=False)
        super().__init__(size, mp_context=context, initializer=watch_parent, initargs=(os.getpid(), report))

    @property
    def started(self) -> bool:
        """Whether a worker ever got past its start."""
        try:
            return self._started.poll()
        except OSError:  # closed
            return False


def _new_pool(size: int) -> cf.ProcessPoolExecutor:
    return WorkerPool(size)


def pool_started(pool: cf.ProcessPoolExecutor) -> bool:
    """Whether a worker of ``pool`` ever got past its start: imported the main script and began
    waiting for trials. True for a pool that is not evotune's own."""
    return not isinstance(pool, WorkerPool) or pool.started


def watch_parent(parent: int, report: Any = None) -> None:
    """Run in each worker at its start: exit at once when ``parent`` is no longer its parent.

    A worker whose parent died is adopted by another process, so its parent id changes; the
    check runs in a daemon thread, beside the trial the worker may be running.

    Args:
        parent: The process id of the process that started the pool.
        report: The writing end of a pipe, to tell the pool this worker started.
    """
    if report is not None:
        try:
            report.send_bytes(b"1")
            report.close()
        except OSError:  # the pool is gone already
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(ORPHAN_EXIT_STATUS)

    threading.Thread(target=watch, name="evotune-parent-watch", daemon=True).start()


def release_pool(pool: cf.ProcessPoolExecutor, *, abort: bool = False) -> None:
    """Give back a pool from :func:`acquire_pool` or :func:`replace_pool`.

    Args:
        pool: The pool.
        abort: Stop its workers now, running trials included (after an error or Ctrl-C).
    """
    global _pool, _users, _idle_timer
    with _lock:
        if pool is not _pool:
            _stop(pool, kill=abort)
            return
        _users = 0
        if abort or _broken(pool):
            _pool = None
            _stop(pool, kill=abort)
            return
        _idle_timer = threading.Timer(IDLE_SECONDS, shutdown_pool)
        _idle_timer.daemon = True
        _idle_timer.start()


def replace_pool(pool: cf.ProcessPoolExecutor) -> cf.ProcessPoolExecutor:
    """A fresh pool of the same size in place of a broken one (one of its workers died)."""
    global _pool
    size = pool._max_workers  # type: ignore[attr-defined]
    with _lock:
        fresh = _new_pool(size)
        if pool is _pool:
            _pool = fresh
            changed_modules(restart=True)
    _stop(pool, kill=True)
    return fresh


def _stop(pool: cf.ProcessPoolExecutor, kill: bool) -> None:
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    if kill:
        for process in workers:
            if process.is_alive():
                process.kill()


def shutdown_pool() -> None:
    """Stop the shared worker processes now (they restart on the next ``optimize(n_jobs>1)``)."""
    global _pool, _users, _idle_timer
    with _lock:
        if _idle_timer is not None:
            _idle_timer.cancel()
            _idle_timer = None
        pool, _pool = _pool, None
        busy = _users > 0
        _users = 0
    if pool is not None:
        pool.shutdown(wait=not busy, cancel_futures=True)


def pool_processes() -> list[int]:
    """Process ids of the shared pool's workers (empty when there is none)."""
    with _lock:
        return sorted(getattr(_pool, "_processes", None) or {}) if _pool is not None else []


# Stop the workers before the interpreter tears its modules down, which would otherwise
# leave the pool's manager thread to fail noisily at exit.
atexit.register(shutdown_pool)
