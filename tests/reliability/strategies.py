"""A strategy that leaves a trace of what it saw, so a test can prove it saw every trial."""

from __future__ import annotations

import time
from dataclasses import replace

from evotune.space import Space
from evotune.strategies import History, Proposal, RandomSearch


class SeeingSearch(RandomSearch):
    """Random search whose proposals record, in ``origin``, what the history held when proposing.

    ``origin`` reads ``seen:<finished trials>:<all trials>:<time of the proposal>``.
    """

    def propose(self, space: Space, history: History, number: int) -> Proposal | None:
        proposal = super().propose(space, history, number)
        if isinstance(proposal, Proposal):
            return replace(proposal, origin=f"seen:{history.n_finished}:{len(history)}:{time.time():.6f}")
        return proposal


def seen(origin: str | None) -> tuple[int, int, float]:
    """(finished trials, all trials, time) a SeeingSearch proposal saw."""
    assert origin is not None and origin.startswith("seen:"), origin
    _, finished, total, stamp = origin.split(":")
    return int(finished), int(total), float(stamp)
