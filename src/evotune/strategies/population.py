"""Ledger: what an evolutionary strategy needs to know about the history, kept up to date cheaply.

A strategy must stay a pure function of the history, yet scanning thousands of trials at every
proposal would make each proposal slower than the last. The ledger reads each new trial once and
re-reads only the trials still running, so a proposal costs about the same at trial 50 and at
trial 5,000. Everything it holds is derived from the history alone: a new ledger built from the
same history (for instance after resuming a study from storage) holds the same facts.
"""

from __future__ import annotations

import bisect
import math
import weakref

import numpy as np

from evotune.space import Space
from evotune.strategies.base import History
from evotune.trial import Trial, TrialState

#: Origins of the trials an evolutionary strategy proposes itself; every other trial (enqueued,
#: added, or proposed by another strategy earlier in the study) joins the population as a guest.
OWN_ORIGINS = frozenset({"initial", "mutation", "crossover", "quadratic", "random"})
#: Trials the mutation scale waits for an unfinished one (more than run at once in practice).
SCALE_WAIT = 64
#: Starts of the errors of failed trials whose configuration is not to blame (Ctrl-C, a dead
#: worker, a queued copy skipped); the surrogate does not count them against it.
NOT_THE_CONFIGURATION = ("interrupted", "worker lost", "skipped, not run")


def is_own(trial: Trial) -> bool:
    """True for a trial the evolutionary strategy proposed (a retry included)."""
    return trial.origin in OWN_ORIGINS and trial.generation is not None


class Ledger:
    """Incremental facts about one history: slots per generation, ranking, mutation scale.

    Attributes:
        space: The space of the history.
        unfinished: Numbers of the trials not yet COMPLETE or FAILED.
        slots: Generation -> trials proposed for it (retries excluded).
        first: Generation -> number of its first trial.
        max_generation: Highest generation proposed so far (-1 before any).
        n_foreign: Trials the strategy did not propose (manual or earlier strategies).
        n_initial: Trials of the first population proposed so far.
        before_first_child: Trials (retries aside) numbered before the first child, once there is one.
        units: Number -> unit coordinates, for COMPLETE and FAILED trials.
        losses: Number -> loss, for COMPLETE trials.
        log_scale: Logarithm of the adapted mutation scale.
    """

    def __init__(self, space: Space, history: History):
        self.space = space
        self._history = weakref.ref(history)
        self._length = 0
        self.unfinished: set[int] = set()
        self.slots: dict[int, int] = {}
        self.first: dict[int, int] = {}
        self.max_generation = -1
        self.n_foreign = 0
        self.n_initial = 0
        self.before_first_child: int | None = None
        self._counted = 0
        self._ranked: list[tuple[float, int, int]] = []  # (loss, -place, number), best first
        self._completed: list[tuple[int, int]] = []  # (place, number), oldest first
        self._failed: list[int] = []
        self._keys: dict[int, tuple] = {}  # failed trial -> its configuration
        self._completed_keys: dict[tuple, int] = {}  # configuration -> first COMPLETE trial of it
        self.units: dict[int, np.ndarray] = {}
        self.losses: dict[int, float] = {}
        self._generations: dict[int, int] = {}
        self._scale_next = 0
        self._retries: dict[int, int] = {}  # trial -> its first retry
        self._places: dict[int, int] = {}  # retry -> number of the first trial it repeats
        self._stood_in: set[int] = set()  # retries already judged in their original's place
        self.log_scale: float | None = None

    def follows(self, history: History) -> bool:
        """True when this ledger was built from ``history`` (and the history only grew)."""
        return self._history() is history and len(history) >= self._length

    @property
    def n_ranked(self) -> int:
        return len(self._ranked)

    def update(self) -> None:
        """Read the trials added since the last call and those that finished since."""
        history = self._history()
        if history is None:
            return
        for number in range(self._length, len(history)):
            trial = history[number]
            retry = "retry_of" in trial.attrs
            if retry:
                original = int(trial.attrs["retry_of"])
                self._retries.setdefault(original, number)
                self._places[number] = self.place(original)
            if is_own(trial):
                generation = int(trial.generation)  # type: ignore[arg-type]
                self._generations[number] = generation
                if generation > 0 and not retry and self.before_first_child is None:
                    self.before_first_child = self._counted
                if not retry:
                    self.slots[generation] = self.slots.get(generation, 0) + 1
                    self.first.setdefault(generation, number)
                    self.max_generation = max(self.max_generation, generation)
                    self.n_initial += trial.origin == "initial"
            elif not retry:
                self.n_foreign += 1
            self._counted += not retry
            if trial.state.finished:
                self._finish(history, trial)
            else:
                self.unfinished.add(number)
        self._length = len(history)
        for number in [n for n in self.unfinished if history[n].state.finished]:
            self.unfinished.discard(number)
            self._finish(history, history[number])

    def _finish(self, history: History, trial: Trial) -> None:
        if trial.state is TrialState.FAILED:
            if not (trial.error or "").startswith(NOT_THE_CONFIGURATION):
                bisect.insort(self._failed, trial.number)
                self.units[trial.number] = self.space.to_unit(trial.params)
                self._keys[trial.number] = self.space.key(trial.params)
            return
        if trial.state is not TrialState.COMPLETE or trial.value is None:
            return
        loss = history.loss(trial)
        # Among equal losses the newest ranks first, so a population on a plateau (common with
        # accuracies of small datasets) keeps moving instead of clinging to its oldest members.
        place = self.place(trial.number)
        bisect.insort(self._ranked, (loss, -place, trial.number))
        bisect.insort(self._completed, (place, trial.number))
        self.losses[trial.number] = loss
        self.units[trial.number] = self.space.to_unit(trial.params)
        key = self.space.key(trial.params)
        self._completed_keys[key] = min(trial.number, self._completed_keys.get(key, trial.number))

    def place(self, number: int) -> int:
        """Where a trial stands among the others when they are ordered by age: its number, or
        for a retry the number of the first trial it repeats (a retry of a trial that Ctrl-C
        interrupted while later ones ran takes a later number, yet stands where its trial did)."""
        return self._places.get(number, number)

    def generation_of(self, number: int) -> int:
        """The generation of a trial; guests count as generation 0."""
        return self._generations.get(number, 0)

    def unfinished_before(self, number: int) -> bool:
        return any(n < number for n in self.unfinished)

    def best(self, count: int, before: int | None = None) -> list[tuple[float, int]]:
        """``(loss, number)`` of the ``count`` best COMPLETE trials (numbered below ``before``);
        among equal losses the latest :meth:`place` first."""
        result: list[tuple[float, int]] = []
        for loss, _, number in self._ranked:
            if len(result) >= count:
                break
            if before is None or number < before:
                result.append((loss, number))
        return result

    def failed(self, count: int, before: int | None = None) -> list[int]:
        """Numbers of the ``count`` most recent FAILED trials (numbered below ``before``) that
        count against their configuration: not interrupted or lost, and never completed (a
        configuration that completed on another try is judged by that result)."""
        end = len(self._failed) if before is None else bisect.bisect_left(self._failed, before)
        chosen: list[int] = []
        for index in range(end - 1, -1, -1):
            if len(chosen) >= count:
                break
            number = self._failed[index]
            completed = self._completed_keys.get(self._keys[number])
            if completed is None or (before is not None and completed >= before):
                chosen.append(number)
        return chosen[::-1]

    def population(self, size: int, elite: int, before: int | None = None) -> list[tuple[float, int]]:
        """The ``elite`` best COMPLETE trials plus the most recent others, ``size`` in all, best first.

        Only trials numbered below ``before`` count when it is given. Recency, and the order of
        equal losses, go by :meth:`place`, so a retry stands where the trial it repeats did.
        """
        members = self.best(elite, before)
        chosen = {number for _, number in members}
        for _, number in reversed(self._completed):
            if len(members) >= size:
                break
            if (before is None or number < before) and number not in chosen:
                members.append((self.losses[number], number))
        return sorted(members, key=lambda member: (member[0], -self.place(member[1])))

    def advance_scale(self, limit: int, initial: float, up: float, down: float, low: float, high: float) -> float:
        """Apply the success rule to mutation children numbered below ``limit``, in number order.

        A mutation child succeeds when it completes no worse than its parent: on a plateau, where
        many configurations score the same, the step then grows until it finds an edge. Trials are
        taken in number order and only up to the first unfinished one, so the scale never depends
        on the order in which trials happened to finish; a trial still unfinished
        :data:`SCALE_WAIT` trials later (one asked for by hand and never told, say) is passed
        over rather than holding the scale back for good.

        A child that failed through no fault of its configuration (interrupted, its worker lost,
        cancelled before it started) is not a failed step: its retry (numbered below ``limit``),
        which has its parameters and parents, is judged in its place, so a run resumed after a
        Ctrl-C with :meth:`~evotune.Study.requeue_interrupted` takes the steps of an
        uninterrupted one, in the same order; without a retry the child is passed over. A retry
        that comes only after its original was passed over is judged in its own place.
        """
        history = self._history()
        if self.log_scale is None:
            self.log_scale = initial
        end = min(limit, self._length)
        while history is not None and self._scale_next < end:
            number = self._scale_next
            if number in self.unfinished:
                if end - number <= SCALE_WAIT:
                    break
                self._scale_next += 1
                continue
            trial = history[number]
            if is_own(trial) and trial.origin == "mutation" and number not in self._stood_in:
                chain = self._stand_ins(history, number, end)
                judged = chain[-1] if chain else None
                if judged is not None and judged in self.unfinished:  # its retry, still running
                    if end - judged <= SCALE_WAIT:
                        break
                elif judged is not None:
                    parent = min((self.losses.get(p, math.inf) for p in trial.parents), default=math.inf)
                    success = self.losses.get(judged, math.inf) <= parent
                    self.log_scale = min(max(self.log_scale + (up if success else down), low), high)
                    self._stood_in.update(chain[1:])
            self._scale_next += 1
        return self.log_scale

    def _stand_ins(self, history: History, number: int, end: int) -> list[int]:
        """Trial ``number`` followed by its retries numbered below ``end`` up to the first that
        did not fail through no fault of its configuration, whose outcome is the child's (the
        last may be unfinished); empty when the last one has no retry yet."""
        chain = [number]
        while True:
            trial = history[chain[-1]]
            if trial.state is not TrialState.FAILED:
                return chain
            retry = self._retries.get(chain[-1])
            if retry is not None and retry < end:
                chain.append(retry)
            elif (trial.error or "").startswith(NOT_THE_CONFIGURATION):
                return []
            else:
                return chain  # the configuration failed
