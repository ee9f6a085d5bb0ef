"""The progress display of ``optimize``: trials done, best so far, elapsed and remaining."""

from __future__ import annotations

import sys
import time
from typing import Any


class ProgressDisplay:
    """A rich progress bar on stderr; silent when disabled or rich is missing."""

    def __init__(self, enabled: bool | None, total: int | None, done: int, timeout: float | None):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self._bar: Any = None
        self._start = time.monotonic()
        self._timeout = timeout
        if not enabled:
            return
        try:
            from rich.progress import (
                BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
            )
        except ImportError:
            return
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("best {task.fields[best]}"), TimeElapsedColumn(), TimeRemainingColumn(),
            transient=False,
        )
        self._task = self._bar.add_task("trials", total=total, completed=done, best="-")
        self._bar.start()

    def update(self, done: int, best: float | None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, best="-" if best is None else f"{best:.6g}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
