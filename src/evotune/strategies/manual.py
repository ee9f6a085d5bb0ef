"""ManualSearch: evaluate only what the user enqueued."""

from __future__ import annotations

from evotune.space import Space
from evotune.strategies.base import History, Strategy


class ManualSearch(Strategy):
    """Run the enqueued parameter sets and nothing else.

    Queue educated guesses with ``Study.enqueue``; ``optimize`` runs them in order and stops
    with ``stop_reason == "queue empty"`` when none is left.

    Example:
        >>> import evotune as et
        >>> study = et.Study({"x": et.Int(0, 9)}, strategy=et.ManualSearch())
        >>> _ = study.enqueue({"x": 3})
        >>> _ = study.optimize(lambda p: p["x"])
        >>> study.stop_reason
        'queue empty'
    """

    name = "manual"

    def propose(self, space: Space, history: History, number: int) -> None:
        return None
