"""The ``evotune`` logger and where its messages go.

Evotune reports what a run does (a study stopping, a trial lost, a grid's size) on the ``evotune``
logger. Unless the application has given that logger a handler of its own, evotune gives it one
that writes ``[evotune] ...`` lines to standard error, at level INFO, without passing them on to
the root logger. Quiet it with ``logging.getLogger("evotune").setLevel(logging.WARNING)``.
"""

from __future__ import annotations

import logging
import sys
from typing import Any


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is at each record, not as it was at import: while a
    progress bar is shown, rich puts its console there, which prints the line above the bar.
    A stream given with ``setStream`` is used instead."""

    _chosen: Any = None

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return self._chosen if self._chosen is not None else sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:  # StreamHandler.__init__ passes sys.stderr: follow it
        self._chosen = None if value is sys.stderr else value


logger = logging.getLogger("evotune")
if not logger.handlers:
    _handler = _StderrHandler()
    _handler.setFormatter(logging.Formatter("[evotune] %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
