"""RandomSearch: independent draws from every distribution."""

from __future__ import annotations

from evotune.space import Space
from evotune.strategies.base import History, Proposal, Strategy, draw_unseen, make_rng

#: Draws tried for an unseen configuration before the cells of a small finite space are walked.
MAX_DRAWS = 64


class RandomSearch(Strategy):
    """Draw each parameter independently: uniform, log-uniform, integer, stepped or a choice.

    Trial ``n`` is drawn from a generator seeded by ``(seed, n)``, so the same seed gives
    the same sequence whatever the number of workers, and across stop and resume. A
    configuration already tried is drawn again (a few times), so small discrete spaces are
    not evaluated twice; once every configuration was tried the strategy is exhausted.

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

    def propose(self, space: Space, history: History, number: int) -> Proposal | None:
        if history.n_distinct >= self.size(space):
            return None
        params = draw_unseen(space, history, make_rng(self.seed, number), MAX_DRAWS)
        return None if params is None else Proposal(params=params, origin="random")
