"""The progress display of ``optimize``: trials done, best so far, elapsed and remaining.

The display is fed by the loop in the process that runs the study, whatever executes the
trials (this process, local workers or a Dask cluster), so it looks the same everywhere. The
count is the study's: trials finished by other workers sharing the study count too.
"""

from __future__ import annotations

import sys
import time
from typing import Any


class ProgressDisplay:
    """A rich progress bar on stderr; silent when disabled or when rich is missing.

    Args:
        enabled: Show it; None shows it when stderr is a terminal.
        total: The trials the study may reach: ``max_trials``, plus one per retry (None: no
            bar length; with a timeout, the time left is shown).
        done: Trials of the study already finished.
        best: The study's best value so far (a resumed study has one from the start).
        timeout: The ``optimize`` timeout, for the time left when there is no total.
        console: A ``rich.console.Console`` to draw on (default: stderr).
    """

    def __init__(self, enabled: bool | None, total: int | None, done: int, timeout: float | None,
                 console: Any = None, best: float | None = None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._bar: Any = None
        self._start = time.monotonic()
        self._timeout = timeout
        self._total = total
        if not enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
        except ImportError:
            return
        remaining: Any = TimeRemainingColumn() if total is not None else TextColumn("{task.fields[left]}")
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), remaining,
            console=console if console is not None else Console(stderr=True), transient=False,
        )
        self._task = self._bar.add_task("trials", total=total, completed=done, best=_best_text(best),
                                        left=self._left())
        self._bar.start()

    def _left(self) -> str:
        if self._timeout is None:
            return ""
        seconds = max(0, int(self._timeout - (time.monotonic() - self._start)))
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d} left"

    @property
    def enabled(self) -> bool:
        return self._bar is not None

    def update(self, done: int, best: float | None, total: int | None = None) -> None:
        """Show ``done`` finished trials and the best value so far; ``total``, when given, is
        the bar's new length (retries of lost trials extend the budget)."""
        if self._bar is None:
            return
        if total is not None and self._total is not None and total != self._total:
            self._total = total
            self._bar.update(self._task, total=total)
        self._bar.update(self._task, completed=done, best=_best_text(best), left=self._left())

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def _best_text(best: float | None) -> str:
    return "-" if best is None else f"{best:.6g}"
