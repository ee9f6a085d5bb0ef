"""The optimization loop: start trials, run them on a runner, record outcomes, decide when to stop.

The loop drives a study through a narrow interface (``_start_trial``, ``tell``,
``_remember``...) passed in as an argument, so this module stays below the study.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import numbers
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from evotune.exceptions import ConfigError, ResultError
from evotune.execution.objective import Outcome, evaluate, evaluate_payload, pickle_objective
from evotune.execution.progress import ProgressDisplay
from evotune.results import parse_result
from evotune.stopping import StopCriteria
from evotune.trial import Trial, TrialState

logger = logging.getLogger("evotune")

#: Longest pause while waiting for other workers' trials before asking the strategy again.
_MAX_POLL = 1.0


class _InlineExecutor(cf.Executor):
    """Runs each call at submission, in this thread: n_jobs=1 needs no pickling."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> cf.Future:
        future: cf.Future = cf.Future()
        future.set_result(fn(*args, **kwargs))
        return future


def resolve_n_jobs(n_jobs: Any) -> int:
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0 or n_jobs < -1:
        raise ConfigError(f"n_jobs must be a positive integer or -1 (all cores), got {n_jobs!r}")
    return os.cpu_count() or 1 if n_jobs == -1 else int(n_jobs)


class _Heartbeat(threading.Thread):
    """Marks this worker's running trials alive, and fails other workers' stale ones."""

    def __init__(self, study: Any, running: Callable[[], list[int]], interval: float, grace: float):
        super().__init__(name="evotune-heartbeat", daemon=True)
        self.study, self.running, self.interval, self.grace = study, running, interval, grace
        self.stop_event = threading.Event()
        self.lost: list[Trial] = []

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            try:
                self.study.storage.heartbeat(self.study._study_id, self.running())
                self.lost.extend(self.study.storage.fail_stale_trials(self.study._study_id, self.grace))
            except Exception as error:  # noqa: BLE001 - a storage hiccup must not kill the run
                logger.warning("heartbeat failed: %s", error)


def run_optimization(
    study: Any, objective: Callable[[dict[str, Any]], Any], *, max_trials: int | None,
    timeout: float | None, target: float | None, patience: int | None, max_failures: int | None,
    n_jobs: int, executor: Any, catch: Any, show_progress: bool | None,
    callbacks: Sequence[Callable[[Any, Trial], Any]], heartbeat_interval: float = 10.0,
    grace_period: float | None = None, retries: int = 0, max_concurrent: int | None = None,
    resources: dict[str, Any] | None = None,
) -> Trial | None:
    """See ``Study.optimize``; extra options: heartbeat_interval, grace_period (seconds before a
    silent RUNNING trial of another worker counts as lost), retries (times a lost trial is
    queued again), max_concurrent (trials in flight on an executor), resources (passed to
    executors that accept ``resources=``, such as Dask's)."""
    criteria = StopCriteria(max_trials, timeout, target, patience, max_failures, study.direction)
    n_jobs = resolve_n_jobs(n_jobs)
    if isinstance(catch, type):
        catch = (catch,)
    if not isinstance(catch, tuple) or not all(isinstance(c, type) and issubclass(c, BaseException) for c in catch):
        raise ConfigError(f"catch must be an exception class or a tuple of them, got {catch!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ConfigError(f"retries must be an integer >= 0, got {retries!r}")
    if not (isinstance(heartbeat_interval, (int, float)) and heartbeat_interval > 0):
        raise ConfigError(f"heartbeat_interval must be a number > 0, got {heartbeat_interval!r}")
    grace = grace_period if grace_period is not None else max(60.0, 6 * heartbeat_interval)

    owned = None
    if executor is not None:
        if not hasattr(executor, "submit"):
            raise ConfigError(f"executor must be a concurrent.futures.Executor, got {executor!r}")
        capacity = max_concurrent or getattr(executor, "_max_workers", None) or n_jobs
        pool = executor
    elif n_jobs > 1:
        import multiprocessing

        owned = pool = cf.ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn"))
        capacity = n_jobs
    else:
        pool, capacity = _InlineExecutor(), 1
    if max_concurrent is not None:
        capacity = min(capacity, max_concurrent)
    if pool is not None and not isinstance(pool, _InlineExecutor):
        payload = pickle_objective(objective)
        call: Callable[..., Any] = evaluate_payload
        first_arg: Any = payload
    else:
        call, first_arg = evaluate, objective

    study.history.budget = max_trials
    for lost in study.storage.fail_stale_trials(study._study_id, grace):
        logger.warning("trial %d lost its worker; marked FAILED", lost.number)
        if retries and int(lost.attrs.get("attempt", 0)) < retries:
            study._retry(lost)
    study._sync()
    start = time.monotonic()
    running: dict[cf.Future, Trial] = {}
    ours: set[int] = set()
    failures = 0
    since_improvement = 0
    best_value = study._best_value()
    progress = ProgressDisplay(show_progress, max_trials, study.history.n_started, timeout)
    heartbeat = _Heartbeat(study, lambda: [t.number for t in running.values()], heartbeat_interval, grace)
    heartbeat.start()
    study.stop_reason = None
    poll = 0.05

    def submit(trial: Trial) -> None:
        kwargs = {"resources": resources} if resources else {}
        running[pool.submit(call, first_arg, trial.params, **kwargs)] = trial

    try:
        while True:
            while study.stop_reason is None and len(running) < capacity:
                reason = criteria.check(time.monotonic() - start, best_value, since_improvement, failures)
                if reason is not None:
                    study.stop_reason = reason
                    break
                started = study._start_trial(max_trials)
                if isinstance(started, Trial):
                    ours.add(started.number)
                    poll = 0.05
                    submit(started)
                    continue
                if started == "wait" and not running:
                    time.sleep(poll)  # other workers hold the trials we depend on
                    poll = min(poll * 2, _MAX_POLL)
                    continue
                if started == "budget":
                    if study.history.n_started >= (max_trials or 0) and not running:
                        study.stop_reason = "max_trials reached"
                elif started == "exhausted" and not running:
                    study.stop_reason = "queue empty" if study.strategy.name == "manual" else "strategy exhausted"
                break
            if not running:
                if study.stop_reason is None:
                    study.stop_reason = "max_trials reached"
                break
            done, _ = cf.wait(list(running), timeout=heartbeat_interval, return_when=cf.FIRST_COMPLETED)
            for future in done:
                trial = running.pop(future)
                finished, raise_error = _record(study, trial, future, catch)
                if finished.state is TrialState.FAILED:
                    failures += 1
                since_improvement += 1
                value = study._best_value()
                if value is not None and (best_value is None or value != best_value):
                    best_value, since_improvement = value, 0
                progress.update(study.history.n_finished, best_value)
                for callback in callbacks:
                    callback(study, finished)
                if raise_error is not None:
                    raise raise_error
            for lost in heartbeat.lost[:]:
                heartbeat.lost.remove(lost)
                study._remember(lost)
                if retries and int(lost.attrs.get("attempt", 0)) < retries:
                    study._retry(lost)
    except BaseException as error:
        reason = "interrupted" if isinstance(error, KeyboardInterrupt) else f"aborted: {type(error).__name__}"
        study.stop_reason = study.stop_reason or reason
        if isinstance(error, KeyboardInterrupt):
            study.stop_reason = "interrupted"
        for future in running:
            future.cancel()
        _fail_unfinished(study, ours, "interrupted" if isinstance(error, KeyboardInterrupt) else reason)
        raise
    finally:
        heartbeat.stop_event.set()
        progress.close()
        if owned is not None:
            owned.shutdown(wait=False, cancel_futures=True)
    logger.info("study %r stopped: %s", study.name, study.stop_reason)
    return study.best


def _record(study: Any, trial: Trial, future: cf.Future, catch: tuple[type, ...]) -> tuple[Trial, BaseException | None]:
    """Store the outcome of a finished future; return the trial and an error to raise, if any."""
    try:
        outcome: Outcome = future.result()
    except cf.process.BrokenProcessPool:
        return study.tell(trial, error="worker lost"), None
    except Exception as error:  # noqa: BLE001 - an executor failure is the trial's failure
        return study.tell(trial, error=f"{type(error).__name__}: {error}"), None
    attrs = {"duration_objective": outcome.duration}
    if outcome.error is not None:
        message = outcome.error + ("\n" + outcome.traceback if outcome.traceback else "")
        finished = study.tell(trial, error=message, attrs=attrs)
        exc = outcome.exception
        if exc is not None and not isinstance(exc, catch):
            return finished, exc
        return finished, None
    try:
        parse_result(outcome.result, study.metric)
    except ResultError as problem:
        return study.tell(trial, error=f"objective returned an invalid result: {problem}", attrs=attrs), None
    return study.tell(trial, outcome.result, attrs=attrs), None


def _fail_unfinished(study: Any, numbers: set[int], reason: str) -> None:
    study._sync()
    for number in sorted(numbers):
        if study.history[number].state is TrialState.RUNNING:
            try:
                study.tell(number, error=reason)
            except Exception:  # noqa: BLE001 - best effort while shutting down
                pass
