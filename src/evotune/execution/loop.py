"""The optimization loop: start trials, run them on a runner, record outcomes, decide when to stop.

The loop drives a study through a narrow interface (``_start_trial``, ``tell``, ``_sync``,
``_remember``, ``_retry``, ``_parse_result``, ``_unfinished``, ``history``, ``storage``) passed in
as an argument, so this module stays below the study.

Many loops, in one process or on many machines, may drive the same study through a shared
storage. The storage hands out trial numbers and enforces ``max_trials`` atomically, so the
budget is global; each loop syncs the history before asking the strategy, so strategies see
every trial finished anywhere.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from evotune.exceptions import ConfigError, ObjectiveError, ResultError, TrialStateError
from evotune.execution.heartbeat import WORKER_LOST, Heartbeat, dead_local_trials, report_lost
from evotune.execution.objective import worker_name
from evotune.execution.options import _check_options, check_callbacks
from evotune.execution.pool import resolve_n_jobs
from evotune.execution.progress import ProgressDisplay
from evotune.execution.runners import Runner, check_resources, is_lost_worker, make_runner
from evotune.execution.unfinished import running_trials, starts_every_waiting, waiting_for
from evotune.results import RefusalStreak, Report, error_text, refusal, storable, storable_only
from evotune.stopping import StopCriteria
from evotune.trial import Trial, TrialState

logger = logging.getLogger("evotune")

#: Longest pause while waiting for other workers' trials before asking the strategy again.
_MAX_POLL = 1.0


def run_optimization(
    study: Any, objective: Callable[[dict[str, Any]], Any], *, max_trials: int | None,
    timeout: float | None, target: float | None, patience: int | None, max_failures: int | None,
    n_jobs: int, executor: Any, catch: Any, show_progress: bool | None,
    callbacks: Sequence[Callable[[Any, Trial], Any]], heartbeat_interval: float = 10.0,
    grace_period: float | None = None, retries: int = 0, max_concurrent: int | None = None,
    resources: Any = None,
) -> Trial | None:
    """See ``Study.optimize``. Options beyond its documented arguments:

    Args:
        heartbeat_interval: Seconds between two stamps of this call's running trials.
        grace_period: Seconds of silence after which another worker's RUNNING trial counts as
            lost (marked FAILED, "worker lost"); default: six heartbeats, at least 60 s. A trial
            whose local worker process died is marked at once.
        retries: Times a lost trial is queued again (the retry does not count against
            ``max_trials`` a second time).
        max_concurrent: At most this many trials of this call in flight at once.
        resources: For a Dask executor: resources each trial holds while it runs, as a dict
            (``{"GPU": 1}``) or a function of the params returning one.
    """
    criteria = StopCriteria(max_trials, timeout, target, patience, max_failures, study.direction)
    callbacks = check_callbacks(callbacks)
    catch, grace = _check_options(catch, retries, heartbeat_interval, grace_period, max_concurrent)
    runner = make_runner(objective, resolve_n_jobs(n_jobs), executor, max_concurrent, check_resources(resources))
    run = _Run(study, runner, criteria, catch, callbacks, retries, max_trials)
    heartbeat = Heartbeat(study.storage, study._study_id, float(heartbeat_interval), grace)
    run.heartbeat = heartbeat
    aborted = True
    try:
        run.recover(study.storage.fail_stale_trials(study._study_id, grace))
        study._sync()
        run.recover(run.fail_dead_local())
        run.progress = ProgressDisplay(show_progress, run.total(), study.history.n_finished, timeout,
                                       best=study._best_value())
        heartbeat.start()
        run.loop()
        aborted = False
    except BaseException as error:
        interrupted = isinstance(error, KeyboardInterrupt)
        study.stop_reason = "interrupted" if interrupted else (study.stop_reason or f"aborted: {type(error).__name__}")
        if interrupted:
            run.abandon("interrupted")
        else:  # a broken executor took the other running trials down too
            run.abandon(WORKER_LOST if is_lost_worker(error) else f"aborted: {error_text(error)}")
        raise
    finally:
        heartbeat.stop()
        if run.progress is not None:
            run.progress.close()
        runner.close(abort=aborted)
    logger.info("study %r stopped: %s", study.name, study.stop_reason)
    return study.best


class _Run:
    """The state of one ``optimize`` call."""

    def __init__(self, study: Any, runner: Runner, criteria: StopCriteria, catch: tuple[type[BaseException], ...],
                 callbacks: tuple[Callable[[Any, Trial], Any], ...], retries: int, max_trials: int | None):
        self.study, self.runner, self.criteria, self.catch = study, runner, criteria, catch
        self.callbacks, self.retries, self.max_trials = callbacks, retries, max_trials
        self.heartbeat: Heartbeat | None = None
        self.progress: ProgressDisplay | None = None
        self.running: dict[cf.Future, Trial] = {}
        self.worker = worker_name()
        self.start = time.monotonic()
        self.failures = self.finished = 0
        self.refusals = RefusalStreak()  # stops the run when its first results all lack the metric
        self.told_waiting = False  # said which trials a waiting strategy waits for
        self.withdrawn = False  # cancelled, once stopping, the submitted trials not yet started
        self.since_improvement = 0
        self.best_value = study._best_value()
        self._retried = 0  # retries in the study (seen so far); each extends the budget by one
        self._scanned = 0
        study.history.budget = max_trials
        study.stop_reason = None

    # -- budget ------------------------------------------------------------------------------
    def budget(self) -> int | None:
        """``max_trials`` plus the retries of lost trials, which stand in for the lost ones."""
        if self.max_trials is None:
            return None
        history = self.study.history
        for number in range(self._scanned, len(history)):
            self._retried += "retry_of" in history[number].attrs
        self._scanned = len(history)
        return self.max_trials + self._retried

    def total(self) -> int | None:
        """The trials the study may reach in this run: the budget plus the queued trials skipped
        unrun (see ``Study._limit``); the progress bar's length."""
        return self.study._limit(self.budget())

    # -- main loop ---------------------------------------------------------------------------
    def loop(self) -> None:
        study = self.study
        while True:
            self.fill()
            if self.running and self.stopping():
                self.withdraw_unstarted()
            if not self.running:
                if study.stop_reason is None:
                    study.stop_reason = "max_trials reached"
                return
            done, _ = cf.wait(list(self.running), timeout=self.wait_time(), return_when=cf.FIRST_COMPLETED)
            for future in done:
                self.collect(future)
            self.handle_lost()
            self.runner.refresh()

    def stopping(self) -> bool:
        """Whether this run stops: it has a stop reason (``study.stop()`` from a callback gives
        one), or a stopping criterion holds now, which becomes the reason."""
        study = self.study
        if study.stop_reason is None:
            study.stop_reason = self.criteria.check(time.monotonic() - self.start, self.best_value,
                                                    self.since_improvement, self.failures)
        return study.stop_reason is not None

    def wait_time(self) -> float:
        """Seconds to wait for a trial to finish: a heartbeat interval, or less when the
        timeout comes first, so that the trials queued ahead are cancelled on time."""
        wait = self.heartbeat.interval if self.heartbeat is not None else 10.0
        timeout = self.criteria.timeout
        if timeout is not None and self.study.stop_reason is None:
            wait = min(wait, max(0.0, timeout - (time.monotonic() - self.start)))
        return wait

    def fill(self) -> None:
        """Start trials until the runner is full, a criterion holds, or none can start now."""
        study, poll = self.study, 0.05
        while len(self.running) < self.runner.capacity and not self.stopping():
            budget = self.budget()
            started = study._start_trial(budget, worker=self.worker, watched=True)  # stamped by the heartbeat
            if isinstance(started, Trial):
                self.submit(started)
                poll, self.told_waiting = 0.05, False
                continue
            if started in ("wait", "budget", "exhausted") and not self.running:
                lost = self.fail_dead_local()
                if lost:  # a process of this machine died with trials of the study: retry them now
                    self.recover(lost)
                    continue
            if started == "wait" and not self.running:
                if poll == _MAX_POLL and not self.told_waiting:  # say once what it waits for
                    self.told_waiting = True
                    logger.info("study %r waits for %s to finish before the next generation", study.name,
                                waiting_for(study.history))
                time.sleep(poll)  # other workers hold the trials the strategy waits for
                poll = min(poll * 2, _MAX_POLL)
                self.handle_lost()
                continue
            if started == "budget" and not self.running:
                study.stop_reason = "max_trials reached"
            elif started == "exhausted" and not self.running:
                self.warn_running_elsewhere()
                study.stop_reason = "queue empty" if study.strategy.name == "manual" else "strategy exhausted"
            return

    def submit(self, trial: Trial, resend: bool = False) -> None:
        if self.heartbeat is not None:
            self.heartbeat.track(trial.number)  # first: the inline runner runs the trial within submit
        try:
            future = self.runner.submit(dict(trial.params), resend=resend)
        except BaseException:  # the inline runner calls the objective here: Ctrl-C lands here
            self.running[cf.Future()] = trial  # so that abandon() marks the trial FAILED
            raise
        self.running[future] = trial

    def withdraw_unstarted(self) -> None:
        """Once the run stops: cancel the submitted trials that no worker has started, so that
        none starts after the stop (a cluster holds a trial queued ahead per worker thread).

        Each is recorded FAILED ("skipped, not run: ..."; strategies do not hold that against its
        configuration) and queued again as a retry, which stands in for it in the budget: a later
        run, or another worker of the study, runs the configuration, as an uninterrupted run
        would have. Trials already started finish normally. On Dask nothing is cancelled here:
        the runner closes its start gate, and the trials queued ahead come back not started
        (:attr:`~evotune.execution.objective.Outcome.not_started`), recorded the same way by :meth:`skip`.
        """
        if self.withdrawn:
            return
        self.withdrawn = True
        for future in self.runner.cancel_unstarted(list(self.running)):
            self.skip(self.running.pop(future))
        self.show_progress()

    def skip(self, trial: Trial) -> None:
        """Record FAILED, and queue again, a trial that did not start because the run stopped:
        cancelled (see :meth:`withdraw_unstarted`), or reached by its worker only after the stop."""
        reason = self.study.stop_reason
        if self.heartbeat is not None:
            self.heartbeat.untrack(trial.number)
        try:
            cancelled = self.study.tell(trial, error=f"skipped, not run: cancelled before it started, as the run "
                                                     f"stopped ({reason})")
        except TrialStateError:  # declared lost by another worker meanwhile
            self.study._sync()
            return
        retry = self.study._retry(cancelled, attempted=False)
        queued = f"; queued again as trial {retry.number}" if retry is not None else ""
        logger.info("trial %d cancelled before it started (the run stopped: %s)%s", trial.number, reason, queued)

    # -- outcomes ----------------------------------------------------------------------------
    def collect(self, future: cf.Future) -> None:
        """Record a finished future's trial, count it, call the callbacks.

        When recording fails (a Ctrl-C or SIGTERM that lands meanwhile, a storage error), the
        trial goes back among the running ones before the error propagates, so that
        :meth:`abandon` marks it FAILED rather than leaving it RUNNING.
        """
        trial = self.running.pop(future)
        try:
            self._collect(future, trial)
        except BaseException:
            if not self.study.history[trial.number].state.finished:
                self.running[future] = trial
            raise

    def _collect(self, future: cf.Future, trial: Trial) -> None:
        try:
            outcome = self.runner.outcome(future)
        except BaseException as error:  # noqa: BLE001 - an executor failure is the trial's failure
            if isinstance(error, KeyboardInterrupt):
                raise
            if not is_lost_worker(error):
                self.finish(trial, error=error_text(error))
                return
            try:
                usable = self.runner.recover()
            except ConfigError as fatal:  # the workers cannot start at all: no retry would help
                self.finish(trial, error=f"aborted: {error_text(fatal)}")
                raise fatal from None
            logger.warning("trial %d lost its worker process (%s)", trial.number, type(error).__name__)
            finished = self.finish(trial, error=WORKER_LOST)
            if finished is not None:
                self.recover([finished])
            if not usable:
                raise
            return
        if outcome.not_started or (outcome.missing and self.withdrawn):  # the run stopped first
            self.skip(trial)
            self.show_progress()
            return
        if outcome.missing:  # the worker does not hold the objective yet: send it with its bytes
            self.running[self.runner.submit(dict(trial.params), resend=True)] = trial
            return
        attrs: dict[str, Any] = {"duration_objective": outcome.duration}
        if outcome.worker:
            attrs["executed_by"] = outcome.worker
        if outcome.error is not None:
            message = outcome.error + ("\n" + outcome.traceback if outcome.traceback else "")
            self.finish(trial, error=message, attrs=attrs)
            if outcome.load_error:
                raise ObjectiveError(f"the objective cannot be loaded in worker {outcome.worker}: {outcome.error}")
            if outcome.exception_types and not outcome.caught_by(self.catch):  # by type, even when the
                raise outcome.uncaught()  # exception itself could not cross from a worker
            return
        result = outcome.result
        if isinstance(result, Report):  # an objective that keeps logs with the trial, or failed on its own
            attrs.update(result.attrs)
            if result.error is not None:
                self.finish(trial, error=result.error, attrs=attrs)
                return
            result = result.result
        try:
            self.study._parse_result(result)  # the checks of tell, which writes nothing
        except ResultError as problem:
            error, kept = refusal(problem, result)
            if self.finish(trial, error=error, attrs={**attrs, **kept}) is not None and self.refusals.add(
                    error, result, self.study.metric, self.finished) and self.study.stop_reason is None:
                self.study.stop_reason = f"the first {self.finished} results were refused: {problem}"
                logger.warning("study %r stops: every later result would be refused alike: %s (what came back is "
                               "kept in the trials' attrs)", self.study.name, error)
            return
        self.finish(trial, result, attrs=attrs)

    def finish(self, trial: Trial, result: Any = None, *, error: str | None = None,
               attrs: dict[str, Any] | None = None) -> Trial | None:
        """Tell the study; None when another worker already declared the trial lost.

        ``tell`` stores numpy values among ``attrs`` as Python numbers (see
        :func:`~evotune.results.storable`). A result the study refuses to record (attrs JSON
        cannot store, say) fails this trial with the reason, keeping the attrs that can be
        stored; it does not stop the run.
        """
        if self.heartbeat is not None:
            self.heartbeat.untrack(trial.number)
        try:
            try:
                finished = self._tell(trial, result, error, attrs)
            except ConfigError as problem:
                finished = self.study.tell(trial, error=f"the trial's result cannot be recorded: {problem}",
                                           attrs=storable_only(storable(attrs)))
        except TrialStateError:
            logger.warning("trial %d finished after it was declared lost; its result is not recorded",
                           trial.number)
            self.study._sync()
            return None
        self.count(finished)
        return finished

    def _tell(self, trial: Trial, result: Any, error: str | None, attrs: dict[str, Any] | None) -> Trial:
        if error is not None:
            return self.study.tell(trial, error=error, attrs=attrs)
        try:
            return self.study.tell(trial, result, attrs=attrs)
        except ResultError as problem:  # another process gave the study a metric meanwhile
            error, kept = refusal(problem, result)
            return self.study.tell(trial, error=error, attrs={**(attrs or {}), **kept})

    def count(self, finished: Trial) -> None:
        self.finished += 1
        if finished.state is TrialState.FAILED:
            self.failures += 1
        self.since_improvement += 1
        value = self.study._best_value()
        if value is not None and value != self.best_value:
            self.best_value, self.since_improvement = value, 0
        self.show_progress()
        for callback in self.callbacks:
            callback(self.study, finished)

    def show_progress(self) -> None:
        """Update the progress bar: trials finished, of the budget (retries extend it), best value."""
        if self.progress is not None:
            self.progress.update(self.study.history.n_finished, self.best_value, total=self.total())

    # -- lost trials -------------------------------------------------------------------------
    def handle_lost(self) -> None:
        if self.heartbeat is not None:
            self.recover(self.heartbeat.take_lost())

    def recover(self, lost: list[Trial]) -> None:
        """Record trials found lost, and queue them again when retries allow."""
        report_lost(lost)
        for trial in lost:
            self.study._remember(trial)
            if self.retries and int(trial.attrs.get("attempt", 0)) < self.retries:
                retry = self.study._retry(trial)
                if retry is not None:
                    logger.info("trial %d queued again as trial %d", trial.number, retry.number)
        if lost:
            self.show_progress()

    def fail_dead_local(self) -> list[Trial]:
        """Mark FAILED ("worker lost") the RUNNING trials whose process on this machine is gone."""
        lost = []
        history = self.study.history
        running = [history[number] for number in sorted(self.study._unfinished)]  # cheap: not every trial
        for trial in dead_local_trials(running):
            try:
                lost.append(self.study.storage.finish_trial(self.study._study_id, trial.number, TrialState.FAILED,
                                                            error=WORKER_LOST))
            except TrialStateError:  # finished, or found lost by another worker, meanwhile
                continue
        return lost

    def warn_running_elsewhere(self) -> None:
        """Before stopping with nothing left to propose: say which trials other workers still run."""
        others = running_trials(self.study.history, watched=True)
        if others:
            grace = self.heartbeat.grace if self.heartbeat is not None else None
            after = f" after the grace period ({grace:g} s)" if grace else ""
            logger.warning(
                "study %r: nothing left to propose, but trial(s) %s of other workers are still RUNNING; if their "
                "worker died, they are marked FAILED%s, and a later run with retries (as `evotune run` has) queues "
                "them again", self.study.name,
                ", ".join(map(str, others)), after)

    def abandon(self, reason: str) -> None:
        """After an error or Ctrl-C: cancel what has not started, mark our trials FAILED."""
        for future in self.running:
            future.cancel()
        for trial in self.running.values():
            try:
                self.study.tell(trial, error=reason)
            except Exception:  # noqa: BLE001 - best effort while shutting down
                pass
        self.running.clear()


__all__ = ["check_callbacks", "run_optimization", "running_trials", "starts_every_waiting", "waiting_for"]
