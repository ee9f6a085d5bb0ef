"""RandomSearch: independent draws from every distribution."""

from __future__ import annotations

import bisect
import weakref
from typing import Any

from evotune.space import Space
from evotune.strategies.base import History, Proposal, Strategy, draw_unseen, make_rng
from evotune.trial import Trial

#: Draws tried for an unseen configuration before the cells of a small finite space are walked.
MAX_DRAWS = 64
#: Origin of the trials queued or added by hand (``Study.enqueue``, ``Study.add``).
MANUAL = "manual"


def is_proposed(trial: Trial) -> bool:
    """True for a trial a strategy proposed: not queued or added by hand, and not a retry.

    Told apart by what it is not, so that a subclass may give its proposals another origin,
    and the trials of a strategy the study ran before count as proposals, as their numbers did.
    """
    return trial.origin != MANUAL and "retry_of" not in trial.attrs


class DrawIndex:
    """The index of the draw for a trial number: how many proposed trials come before it.

    Reads each trial of the history once (a proposal costs the same at trial 50 and at trial
    5,000) and keeps the numbers of the trials that are not proposals (queued or added by hand,
    retries). A trial number the history does not reach yet counts as a proposal, so without
    queued, added or retried trials the index is the trial number.
    """

    def __init__(self, history: History):
        self._history = weakref.ref(history)
        self._length = 0
        self._others: list[int] = []  # numbers of the trials that are not proposals, ascending

    def follows(self, history: History) -> bool:
        """True when this index was built from ``history`` (and the history only grew)."""
        return self._history() is history and len(history) >= self._length

    def of(self, number: int) -> int:
        history = self._history()
        if history is not None:
            for index in range(self._length, len(history)):
                if not is_proposed(history[index]):
                    self._others.append(index)
            self._length = len(history)
        return number - bisect.bisect_left(self._others, number)


class RandomSearch(Strategy):
    """Draw each parameter independently: uniform, log-uniform, integer, stepped or a choice.

    Draw ``k`` is made from a generator seeded by ``(seed, k)``, so the same seed gives the
    same sequence whatever the number of workers, and across stop and resume. ``k`` counts the
    proposed trials before it: trials queued or added by hand and retries do not count, so
    without them ``k`` is the trial number, and a trial that Ctrl-C interrupted and
    :meth:`~evotune.Study.requeue_interrupted` queued again does not shift the draws after it:
    the resumed run draws what an uninterrupted run would have drawn. A configuration already
    tried is drawn again (a few times), so small discrete spaces are not evaluated twice; once
    every configuration was tried the strategy is exhausted.

    Args:
        seed: See :class:`Strategy`.

    Example:
        >>> import evotune as et
        >>> study = et.Study({"x": et.Float(-1, 1)}, strategy=et.RandomSearch(seed=0))
        >>> _ = study.optimize(lambda p: p["x"] ** 2, max_trials=5)
        >>> len(study.trials)
        5
    """

    name = "random"

    def __init__(self, seed: int | None = None):
        super().__init__(seed)
        self._draw_index: DrawIndex | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_draw_index": None}  # a cache, rebuilt from the history

    def propose(self, space: Space, history: History, number: int) -> Proposal | None:
        if history.n_distinct >= self.size(space):
            return None
        if self._draw_index is None or not self._draw_index.follows(history):
            self._draw_index = DrawIndex(history)
        rng = make_rng(self.seed, self._draw_index.of(number))
        params = draw_unseen(space, history, rng, MAX_DRAWS)
        return None if params is None else Proposal(params=params, origin="random")
