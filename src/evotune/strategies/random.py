"""RandomSearch: independent draws from every distribution."""

from __future__ import annotations

from evotune.space import Space
from evotune.strategies.base import History, Proposal, Strategy, make_rng

#: Draws tried for an unseen configuration before a small discrete space counts as exhausted.
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
        if len(history) >= self.size(space):
            return None
        rng = make_rng(self.seed, number)
        for _ in range(MAX_DRAWS):
            params = space.sample(rng)
            if not history.seen(params):
                return Proposal(params=params, origin="random")
        return Proposal(params=params, origin="random")
