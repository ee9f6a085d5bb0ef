"""RandomSearch: independent draws from every distribution."""

from __future__ import annotations

from typing import Any

from evotune.space import Space
from evotune.strategies.base import DrawIndex, History, Proposal, Strategy, draw_unseen, make_rng

#: Draws tried for an unseen configuration before the cells of a small finite space are walked.
MAX_DRAWS = 64


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
        # getattr: a strategy unpickled from an earlier evotune has no draw index
        if getattr(self, "_draw_index", None) is None or not self._draw_index.follows(history):
            self._draw_index = DrawIndex(history)
        rng = make_rng(self.seed, self._draw_index.of(number))
        params = draw_unseen(space, history, rng, MAX_DRAWS)
        return None if params is None else Proposal(params=params, origin="random")
