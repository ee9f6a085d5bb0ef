"""The trials a study holds beside its strategy's proposals: queued guesses, runs recorded by hand,
and retries of trials that were interrupted or lost.

* ``enqueue`` queues a configuration to run before the strategy's proposals, unless a trial
  already holds it (COMPLETE, RUNNING or WAITING); one whose trials all FAILED may be queued
  again.
* ``add`` records a run done elsewhere. A queued copy of the same configuration is then skipped
  when its turn comes (recorded FAILED, ``attrs["skipped_for"]``), and uses no budget.
* ``requeue_interrupted`` and the loop's retries queue a trial's configuration again, once per
  attempt; a retry stands in for the trial it repeats.

Processes sharing the study may do these at the same moment. ``enqueue`` and the retries
insert their WAITING trial only while no trial holds its configuration, checked by the storage
in the transaction that inserts (``create_trial(unless_held=True)``): of two processes queueing
one guess, or resuming one study and each retrying the same interrupted trial, exactly one
queues it (a retry then extends the budget by one; a queued guess does not); the other queues
nothing. A retry is therefore also
refused when a trial recorded the configuration meanwhile, as it would have been skipped unrun.
As a second line of defence, a queued trial whose configuration another trial completed or
runs is skipped when its turn comes (see :meth:`TrialQueue._claim_waiting`).

:class:`TrialQueue` holds these for :class:`~evotune.study.Study`, which inherits them; they use
the study's ``storage``, ``space``, ``name`` and history.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from evotune.execution.heartbeat import worker_attrs
from evotune.execution.loop import starts_every_waiting
from evotune.space import Space
from evotune.stopping import StopCriteria
from evotune.storage.base import DuplicateTrialError, config_key
from evotune.trial import Trial, TrialState

logger = logging.getLogger("evotune")


class TrialQueue:
    """Queued, hand-recorded and retried trials of a study (see the module documentation)."""

    storage: Any
    space: Space
    name: str
    direction: str
    _history: Any
    _skipped: set[int]

    def _trials_of(self, params: Mapping[str, Any]) -> list[Trial]:
        """The trials of this configuration, in number order (as far as the history knows)."""
        return [self._history[n] for n in self._history.numbers_of(params)]

    def _held(self, params: Mapping[str, Any]) -> bool:
        """Whether a trial holds this configuration, as far as the history knows (see :meth:`trial_holding`)."""
        return any(t.state is not TrialState.FAILED for t in self._trials_of(params))

    def trial_holding(self, params: Mapping[str, Any]) -> Trial | None:
        """The trial that holds this configuration, so that :meth:`enqueue` refuses it.

        That is its first COMPLETE trial, else its first RUNNING one, else its first WAITING one;
        None when it has none, such as a configuration whose every trial FAILED (which may be
        queued again).

        Raises:
            ParamsError: For a missing, extra or out-of-range parameter.

        Example:
            >>> import evotune as et
            >>> study = et.Study({"bs": et.Categorical([64, 256])}, strategy=et.ManualSearch())
            >>> study.trial_holding({"bs": 256}) is None
            True
            >>> study.enqueue({"bs": 256}).number, study.trial_holding({"bs": 256}).state.value
            (0, 'WAITING')
        """
        checked = self.space.validate(params)
        self._sync()
        trials = self._trials_of(checked)
        for state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING):
            holder = next((t for t in trials if t.state is state), None)
            if holder is not None:
                return holder
        return None

    def enqueue(self, params: Mapping[str, Any]) -> Trial | None:
        """Queue a parameter set to evaluate before the strategy's own proposals.

        Returns the queued trial, or None when a trial already holds that configuration: one
        that is COMPLETE, RUNNING or WAITING (see :meth:`trial_holding`). A configuration whose
        trials all FAILED, say for a transient reason, is queued again.

        Raises:
            ParamsError: For a missing, extra or out-of-range parameter (nothing is written).
        """
        checked = self.space.validate(params)
        holder = self.trial_holding(checked)
        if holder is None:
            try:  # refused when another process queued or recorded it since the check
                trial = self.storage.create_trial(
                    self._study_id, checked, TrialState.WAITING, key=config_key(self.space, checked),
                    origin="manual", attrs={"source": "enqueue"}, unless_held=True,
                )
            except DuplicateTrialError:
                holder = self.trial_holding(checked)
            else:
                assert trial is not None
                self._remember(trial)
                return trial
        if holder is not None:
            logger.info("study %r already has %s in trial %d (%s); not queued again", self.name, checked,
                        holder.number, holder.state.value)
        return None

    def add(self, params: Mapping[str, Any], result: float | Mapping[str, float]) -> Trial:
        """Record a run done elsewhere, as a COMPLETE trial.

        A study without a metric takes the metric of the first result that names one alone (a
        dict of one metric) as its own; later results must report it. A queued (WAITING) trial
        of the same configuration is not run: it is skipped, recorded FAILED, when its turn
        comes.

        Raises:
            ParamsError: For parameters outside the space. ResultError: For a result that is
                not a finite number, lacks the study's metric, or names another metric than
                the complete trials of a study without a metric (or than the one another
                process's result, recorded at the same moment, gave it first). Nothing is
                written on error.
        """
        checked = self.space.validate(params)
        value, metrics, adopt = self._parse_result(result)
        self._claim_metric(adopt)  # before the write: refused when another result named another metric first
        trial = self.storage.create_trial(
            self._study_id, checked, TrialState.COMPLETE, key=config_key(self.space, checked),
            origin="manual", attrs={"source": "add"}, value=value, metrics=metrics,
        )
        assert trial is not None
        self._remember(trial)
        queued = [t.number for t in self._trials_of(checked) if t.state is TrialState.WAITING]
        if queued:
            logger.info("study %r: trial %d records %s, which trial(s) %s queued; they will be skipped, not run",
                        self.name, trial.number, checked, ", ".join(map(str, queued)))
        return trial

    def _limit(self, max_trials: int | None) -> int | None:
        """``max_trials`` plus the queued trials skipped unrun, which used no budget."""
        return None if max_trials is None else max_trials + len(self._skipped)

    def _claim_waiting(self, max_trials: int | None, worker: str | None, *, watched: bool) -> Trial | None:
        """Start the oldest queued (WAITING) trial, or return None when none may start.

        A queued configuration that a COMPLETE trial recorded meanwhile (with :meth:`add` or
        :meth:`tell`), or that another trial is running (two copies queued in a database written
        by an earlier evotune, whose storage lacked the conditional insert, say), is not run again:
        its trial is skipped, recorded FAILED with ``attrs["skipped_for"]`` that trial's number,
        and the next one is claimed.
        (The storage can finish only a RUNNING trial, and claims only the oldest WAITING one,
        so :meth:`add` cannot record its result into the queued trial itself.)
        """
        while True:
            claimed = self.storage.claim_waiting_trial(
                self._study_id, self._limit(max_trials), worker, watched=watched,
                attrs=worker_attrs(worker) if worker else None)
            if claimed is None:
                return None
            self._remember(claimed)
            recorded = next((t for t in self._trials_of(claimed.params) if t.number != claimed.number
                             and t.state in (TrialState.COMPLETE, TrialState.RUNNING)), None)
            if recorded is None:
                return claimed
            logger.info("study %r: queued trial %d skipped, not run: trial %d holds %s (%s)", self.name,
                        claimed.number, recorded.number, claimed.params, recorded.state.value)
            self._finish(claimed.number, TrialState.FAILED, attrs={"skipped_for": recorded.number},
                         error=f"skipped, not run: trial {recorded.number} holds this configuration "
                               f"({recorded.state.value}), recorded or started after it was queued")

    def _retry(self, trial: Trial, *, attempted: bool = True) -> Trial | None:
        """Queue a lost, interrupted or cancelled trial's parameters again (``optimize(retries=...)``,
        :meth:`requeue_interrupted`, a stop that cancelled trials not yet started).

        Args:
            attempted: The trial used one of its attempts (its worker was lost): the retry's
                ``attrs["attempt"]``, which ``optimize(retries=N)`` compares with N, is one more.
                False for a trial that Ctrl-C interrupted or a stop cancelled: its retry keeps
                the count, so a stop does not use up the retries a lost worker is allowed.

        Returns None, queueing nothing, when a trial holds the configuration by now (see
        :meth:`trial_holding`): another process retried it at the same moment, or ran or
        recorded it since.
        """
        attempt = int(trial.attrs.get("attempt", 0)) + int(attempted)
        key = config_key(self.space, trial.params)
        try:
            retried = self.storage.create_trial(
                self._study_id, dict(trial.params), TrialState.WAITING, key=key, origin=trial.origin,
                generation=trial.generation, parents=trial.parents,
                attrs={"retry_of": trial.number, "attempt": attempt}, unless_held=True,
            )
        except DuplicateTrialError:
            holder = self.trial_holding(trial.params)
            held = f"trial {holder.number} holds it ({holder.state.value})" if holder is not None else "it is held"
            logger.info("study %r: trial %d not queued again: %s, queued or run by another process since",
                        self.name, trial.number, held)
            return None
        if retried is not None:
            self._remember(retried)
        return retried

    def requeue_interrupted(self, max_trials: int | None = None, target: float | None = None) -> list[Trial]:
        """Queue again, once each, the trials a Ctrl-C interrupted, so that a resumed run tries them.

        Ctrl-C records the running trials FAILED ("interrupted"). Left alone, a resumed grid, or
        a resumed queue of guesses, skips their configurations. Call this before resuming with
        :meth:`optimize`, giving it the same ``max_trials`` and ``target``. It queues the
        interrupted trials only when that run will start every one of them; a retry queued while
        the budget is used up would wait in the study for ever. It queues nothing once ``target``
        is reached, nor for a configuration that a trial holds by now (recorded with
        :meth:`add`, or queued, since). A retry stands in for the trial it repeats, so it does not
        use the budget a second time. Each interrupted trial is queued once even when several processes resume
        the study at the same moment (see the module documentation). ``evotune run`` calls it on
        every resume.

        Returns:
            The queued trials (WAITING, with ``attrs["retry_of"]`` the interrupted trial's
            number), or an empty list.

        Example:
            >>> import evotune as et
            >>> study = et.Study({"x": et.Float(0, 1)})
            >>> _ = study.tell(study.ask(), error="interrupted")  # what Ctrl-C leaves behind
            >>> [t.attrs["retry_of"] for t in study.requeue_interrupted(max_trials=10)]
            [0]
        """
        self._sync()
        criteria = StopCriteria(max_trials=max_trials, target=target, direction=self.direction)
        if criteria.reached_target(self._best_value()):
            return []
        history = self._history
        retried = {t.attrs.get("retry_of") for t in history}
        interrupted = [t for t in history if t.state is TrialState.FAILED and t.error == "interrupted"
                       and t.number not in retried and not self._held(t.params)]
        if not interrupted or not starts_every_waiting(history, self._limit(max_trials)):
            return []
        retries = (self._retry(trial, attempted=False) for trial in interrupted)
        return [retry for retry in retries if retry is not None]
