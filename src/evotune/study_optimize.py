"""Running a study: ``optimize`` checks its options and hands the study to the execution loop.

Options that ``optimize`` does not name itself (``retries``, ``heartbeat_interval``, ...) are
those of :func:`evotune.execution.loop.run_optimization`, plus ``trial_timeout``; an unknown one is
refused, with the closest known name as a hint. A study searching a grid logs the grid's size
when the run starts and, after three trials, an estimate of the time the rest will take.

:class:`Optimization` holds these for :class:`~evotune.study.Study`, which inherits them; they use
the study's ``name``, ``space``, ``strategy`` and history.
"""

from __future__ import annotations

import difflib
import inspect
import logging
import numbers
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from evotune.exceptions import ConfigError
from evotune.execution.loop import check_callbacks, run_optimization
from evotune.execution.objective import MAX_TRIAL_TIMEOUT, TimeLimited
from evotune.space import Space
from evotune.strategies import GridSearch, UnknownStrategy
from evotune.strategies.grid import grid_cells_done
from evotune.trial import Trial

if TYPE_CHECKING:
    from evotune.study import Study

logger = logging.getLogger("evotune")

#: The options ``optimize`` passes on to the loop (heartbeat_interval, retries, ...).
_LOOP_OPTIONS = tuple(
    name for name, parameter in inspect.signature(run_optimization).parameters.items()
    if parameter.kind is parameter.KEYWORD_ONLY and parameter.default is not parameter.empty
) + ("trial_timeout",)


class Optimization:
    """How a study runs its trials (see the module documentation)."""

    name: str
    space: Space
    strategy: Any
    _history: Any

    def optimize(
        self, objective: Callable[[dict[str, Any]], Any], max_trials: int | None = None,
        timeout: float | None = None, target: float | None = None, patience: int | None = None,
        max_failures: int | None = None, *, n_jobs: int = 1, executor: Any = None,
        catch: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
        show_progress: bool | None = None, callbacks: Sequence[Callable[[Study, Trial], Any]] = (),
        **options: Any,
    ) -> Trial | None:
        """Run trials until a stopping criterion holds; return the best trial.

        Args:
            objective: ``objective(params) -> number | dict of named metrics``.
            max_trials: Total trials of the study to reach, counting earlier runs and every
                worker; None for no limit.
            timeout: Seconds after which no new trial starts.
            target: Stop once the best value reaches it.
            patience: Stop after this many finished trials without improvement.
            max_failures: Stop after this many failed trials in this call.
            n_jobs: Worker processes (-1: one per core). 1 runs in this process.
            executor: Any ``concurrent.futures.Executor`` (e.g. Dask ``client.get_executor()``).
            catch: Exceptions recorded as FAILED trials; others are recorded, then raised.
            show_progress: Progress bar on stderr (default: when stderr is a terminal).
            callbacks: Called as ``callback(study, trial)`` after each finished trial.
            **options: ``trial_timeout`` (seconds one trial may run before it is stopped and
                recorded FAILED with a TimeoutError; enforced in this process and in worker
                processes, not in threads such as Dask's), ``retries`` (times a trial whose worker died is queued again, default 0),
                ``heartbeat_interval`` (seconds between liveness stamps of running trials,
                default 10), ``grace_period`` (seconds of silence after which another worker's
                RUNNING trial counts as lost, default six heartbeats and at least 60),
                ``max_concurrent`` (trials of this call in flight at once) and ``resources``
                (Dask resources per trial: a dict such as ``{"GPU": 1}``, or a function of the
                params returning one). See docs/parallel.md.

        Returns:
            The best trial, or None when none completed. ``study.stop_reason`` says why it stopped.

        Raises:
            ConfigError: For an invalid option, naming it and its value; or for a study whose
                strategy, one of your own, was not passed again (see ``strategy`` above).
            KeyboardInterrupt: After marking the running trials FAILED ("interrupted").
        """
        if not callable(objective):
            raise ConfigError(f"objective must be callable, got {objective!r}")
        for option in options:
            if option not in _LOOP_OPTIONS:
                close = difflib.get_close_matches(option, [*_LOOP_OPTIONS, "n_jobs", "max_trials", "timeout",
                                                           "target", "patience", "max_failures"], n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ConfigError(f"optimize() got an unknown option {option}={options[option]!r} (other options: "
                                  f"{', '.join(_LOOP_OPTIONS)}){hint}")
        trial_timeout = options.pop("trial_timeout", None)
        if trial_timeout is not None:
            if isinstance(trial_timeout, (bool, np.bool_)) or not isinstance(trial_timeout, numbers.Real) \
                    or not 0 < trial_timeout <= MAX_TRIAL_TIMEOUT:
                raise ConfigError(f"trial_timeout must be a number of seconds > 0 and at most {MAX_TRIAL_TIMEOUT:.0e} "
                                  f"(about 31 years), or None for no limit, got {trial_timeout!r}")
            objective = TimeLimited(objective, float(trial_timeout))
        if isinstance(self.strategy, UnknownStrategy):
            raise self.strategy.error(self.name)
        if isinstance(self.strategy, GridSearch):
            callbacks = [*check_callbacks(callbacks), self._grid_announcer(n_jobs)]
        return run_optimization(
            self, objective, max_trials=max_trials, timeout=timeout, target=target, patience=patience,
            max_failures=max_failures, n_jobs=n_jobs, executor=executor, catch=catch,
            show_progress=show_progress, callbacks=callbacks, **options,
        )

    def _grid_announcer(self, n_jobs: int) -> Callable[[Study, Trial], None]:
        """Log the grid size now and, after a few trials, the estimated total time.

        Both count the grid cells already in the study, as ``evotune grid-size`` does: the
        trials off the grid and the repeats of a cell take no cell from those left to run.
        """
        size = self.strategy.size(self.space)  # type: ignore[attr-defined]
        axes = self.space.grid_axes(self.strategy.points)  # type: ignore[attr-defined]
        self._sync()
        logger.info("grid of %d cells for study %r (%d of them already in the study)", size, self.name,
                    grid_cells_done(self.space, axes, self._history))
        timed: list[float] = []

        def announce(study: Study, trial: Trial) -> None:
            if trial.duration is None or len(timed) >= 3:
                return
            timed.append(trial.duration)
            if len(timed) == 3:
                workers = max(1, n_jobs if n_jobs > 0 else (os.cpu_count() or 1))
                remaining = size - grid_cells_done(study.space, axes, study.history)
                estimate = sorted(timed)[1] * remaining / workers
                logger.info("grid: %d cells left, about %s at %.3g s per trial", remaining,
                            _duration_text(estimate), sorted(timed)[1])

        return announce


def _duration_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
