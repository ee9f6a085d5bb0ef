"""Study: the ask / evaluate / tell loop, with every trial recorded in a storage.

Four of its concerns live in modules of their own, which :class:`Study` inherits: how it names
and checks its metric (:mod:`evotune.study_metric`), the trials it holds beside its strategy's
proposals, queued, recorded by hand or retried (:mod:`evotune.study_queue`), how ``optimize``
runs its trials (:mod:`evotune.study_optimize`) and its exports (:mod:`evotune.study_export`).
Importing it gives the ``evotune`` logger its handler (:mod:`evotune.log`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import numpy as np

from evotune.exceptions import (
    ConfigError,
    NonFiniteResultError,
    ParamsError,
    StudyConflictError,
    TrialStateError,
)
from evotune.execution.heartbeat import worker_attrs
from evotune.execution.loop import waiting_for
from evotune.log import logger  # noqa: F401  (importing it gives the "evotune" logger its handler)
from evotune.results import DEFAULT_METRIC, storable
from evotune.space import Distribution, Space
from evotune.storage import Storage, StudySummary, open_storage
from evotune.storage.base import DuplicateTrialError, config_key
from evotune.storage.schema import dumps, name_problem
from evotune.strategies import (
    WAIT,
    History,
    Strategy,
    UnknownStrategy,
    default_strategy,
    stored_strategy,
)
from evotune.study_export import TrialExport
from evotune.study_metric import MetricRules
from evotune.study_optimize import Optimization
from evotune.study_queue import TrialQueue
from evotune.trial import Trial, TrialState

DIRECTIONS = ("minimize", "maximize")
#: Tries to create a trial when other workers keep taking the proposed configuration first.
_MAX_DUPLICATE_RETRIES = 50


def _shown(text: str) -> str:
    """``text`` quoted for a message, cut short when it is long."""
    return repr(text) if len(text) <= 80 else f"{text[:60]!r}... ({len(text)} characters)"


def _check_attrs(attrs: Any) -> None:
    """Refuse trial attributes that are not a mapping of names to values the storage can write."""
    if attrs is None:
        return
    if not isinstance(attrs, Mapping):
        raise ConfigError(f"attrs must be a dict of name -> value, got {attrs!r}")
    for name, value in attrs.items():
        try:
            if not isinstance(name, str):
                raise TypeError("the name is not a string")
            dumps(value)
        except (TypeError, ValueError) as problem:
            raise ConfigError(f"attrs[{name!r}] = {value!r} cannot be stored as JSON ({problem})") from None


class Study(MetricRules, TrialQueue, Optimization, TrialExport):
    """A named search over a space, recorded trial by trial in a storage.

    Args:
        space: A :class:`Space` or a dict of name -> Float / Int / Categorical. May be None
            only when the study already exists in ``storage`` (its stored space is used).
        direction: "minimize" (default) or "maximize".
        metric: Name of the metric to optimize when the objective returns several.
        strategy: How to propose trials; None uses the default strategy (seeded by ``seed``),
            or the stored one when resuming. A study run with a strategy of your own (a
            :class:`Strategy` subclass) opens without it for reading, but runs more trials only
            when it is passed again.
        storage: None (in memory), a URL (``sqlite:///evotune.db``, ``postgresql://...``) or
            a Storage.
        name: The study's name; with a persistent storage, the same name resumes the study.
        seed: Seed of the default strategy.

    Raises:
        SpaceError: For an invalid space.
        StudyConflictError: When an existing study of that name has another space or direction.
        ConfigError: For an invalid direction, metric or strategy.

    Example:
        >>> import evotune as et
        >>> study = et.Study({"x": et.Float(-5, 5)}, strategy=et.RandomSearch(seed=1))
        >>> best = study.optimize(lambda p: (p["x"] - 1) ** 2, max_trials=30)
        >>> round(study.best.params["x"])
        1
    """

    def __init__(
        self, space: Space | Mapping[str, Distribution] | None = None, direction: str = "minimize",
        metric: str | None = None, strategy: Strategy | None = None, storage: Storage | str | None = None,
        name: str | None = None, seed: int | None = None,
    ):
        if direction not in DIRECTIONS:
            raise ConfigError(f"direction must be 'minimize' or 'maximize', got {direction!r}")
        if metric is not None and (not isinstance(metric, str) or not metric):
            raise ConfigError(f"metric must be a non-empty string or None, got {metric!r}")
        for field, text in (("metric", metric), ("name", name)):
            problem = name_problem(text) if isinstance(text, str) else None
            if problem is not None:
                raise ConfigError(f"{field} {_shown(text)} cannot be stored: {problem}")
        if strategy is not None and not isinstance(strategy, Strategy):
            raise ConfigError(
                f"strategy must be a Strategy such as et.RandomSearch(), got {strategy!r}"
            )
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ConfigError(f"name must be a non-empty string or None, got {name!r}")
        parsed = Space.coerce(space) if space is not None else None
        if parsed is None and name is None:
            raise ConfigError("name is required to open a stored study (space=None); give the study's name, "
                              "or a space to create a new study")
        self.storage = open_storage(storage)
        self.name = name or f"study-{uuid.uuid4().hex[:8]}"
        if parsed is None:
            record = self.storage.load_study(self.name)
        else:
            chosen = strategy or default_strategy(seed)
            record, created = self.storage.create_study(
                self.name, parsed.to_dict(), direction, metric, chosen.to_config(),
            )
            if not created:
                self._check_matches(record, parsed, direction, metric)
                if metric is not None and record.metric is None:
                    record = self._name_metric(record, metric)
        self._record = record
        self.space = Space.from_dict(record.space)
        self.direction = record.direction
        self.metric = record.metric
        stored = record.attrs.get("strategy", record.strategy)
        if strategy is not None and not strategy.seed_given and stored.get("type") == strategy.name \
                and isinstance(stored.get("seed"), int):
            strategy.seed = stored["seed"]  # an unseeded strategy resumes the stored sequence
        self.strategy = strategy if strategy is not None else stored_strategy(stored)
        if strategy is not None and strategy.to_config() != stored:
            self.storage.set_study_attrs(record.study_id, {"strategy": strategy.to_config()})
        self.stop_reason: str | None = None
        self._history = History(self.space, self.direction)
        self._unfinished: set[int] = set()
        self._skipped: set[int] = set()  # queued trials skipped unrun (see _claim_waiting)
        self._sync()

    def _check_matches(self, record: Any, space: Space, direction: str, metric: str | None) -> None:
        if Space.from_dict(record.space) != space:
            raise StudyConflictError(
                f"study {self.name!r} already exists in {self.storage.safe_url!r} with a different space: "
                f"stored {Space.from_dict(record.space)!r}, given {space!r}; use another name or the "
                f"stored space"
            )
        if record.direction != direction:
            raise StudyConflictError(
                f"study {self.name!r} already exists with direction={record.direction!r}, "
                f"got direction={direction!r}"
            )
        if metric is not None and record.metric is not None and record.metric != metric:
            raise StudyConflictError(
                f"study {self.name!r} already exists with metric={record.metric!r}, got metric={metric!r}; "
                f"open it with that metric (or none), or give a study of {metric!r} another name"
            )

    @classmethod
    def load(cls, name: str, storage: Storage | str, strategy: Strategy | None = None) -> Study:
        """Open an existing study (StudyNotFoundError when there is none).

        A study run with a strategy of your own opens without it, to read its trials; pass the
        strategy again (``strategy=``) to run more.
        """
        return cls(None, name=name, storage=storage, strategy=strategy)

    def __repr__(self) -> str:
        return (f"Study(name={self.name!r}, direction={self.direction!r}, trials={len(self._history)}, "
                f"strategy={self.strategy!r}, storage={self.storage.safe_url!r})")

    # -- history ---------------------------------------------------------------------------
    @property
    def _study_id(self) -> int:
        return self._record.study_id

    def _sync(self) -> None:
        """Bring the history up to date with the storage (new trials and finished ones)."""
        fresh = self.storage.get_trials(self._study_id, start=len(self._history), numbers=sorted(self._unfinished))
        for trial in fresh:
            self._remember(trial)
        if self.metric is None and any(t.state is TrialState.COMPLETE and t.metrics.keys() != {DEFAULT_METRIC}
                                       for t in fresh):
            self._refresh_metric()  # another process may have given the study its metric

    def _remember(self, trial: Trial) -> None:
        if trial.number > len(self._history):
            self._sync()
        if "skipped_for" in trial.attrs:
            self._skipped.add(trial.number)
        self._history._record(trial)
        if trial.state.finished:
            self._unfinished.discard(trial.number)
        else:
            self._unfinished.add(trial.number)

    @property
    def trials(self) -> list[Trial]:
        """Every trial, in number order (read fresh from the storage)."""
        self._sync()
        return list(self._history)

    @property
    def history(self) -> History:
        return self._history

    @property
    def best(self) -> Trial | None:
        """The best COMPLETE trial for the study's direction, or None before any completes."""
        self._sync()
        return self._history.best()

    def _best_value(self) -> float | None:
        best = self._history.best()
        return None if best is None else best.value

    def stop(self, reason: str = "stopped by a callback") -> None:
        """Ask a running :meth:`optimize` to start no new trial; the running ones finish.

        Call it from a callback (``callbacks=[...]``), say when a trial shows that the rest of
        the run is pointless. ``stop_reason`` becomes ``reason`` unless the run already has one.

        Raises:
            ConfigError: For a reason that is not a non-empty string.

        Example:
            >>> import evotune as et
            >>> study = et.Study({"x": et.Float(0, 1)})
            >>> _ = study.optimize(lambda p: p["x"], max_trials=50,
            ...                    callbacks=[lambda s, t: s.stop("good enough") if t.number == 4 else None])
            >>> len(study.trials), study.stop_reason
            (5, 'good enough')
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"reason must be a non-empty string, got {reason!r}")
        if self.stop_reason is None:
            self.stop_reason = reason

    # -- ask and tell ------------------------------------------------------------------------
    def ask(self) -> Trial:
        """Start the next trial (enqueued first, then the strategy's proposal) and return it.

        The trial is yours to run, for as long as it takes: it stays RUNNING until you
        :meth:`tell` its result (or ``tell(trial, error="...")`` to give up on it). Nothing
        watches it for signs of life, so an ``optimize`` running on the same study never
        declares it lost; a trial you abandon stays RUNNING until told.

        Raises:
            TrialStateError: When the strategy has nothing to propose right now (exhausted,
                or waiting for running trials to finish).
            ConfigError: When the study's strategy, one of your own, was not passed again
                (see ``strategy`` in :class:`Study`) and no queued trial is waiting.
        """
        started = self._start_trial(max_trials=None, watched=False)
        if not isinstance(started, Trial):
            if started == "wait":
                raise TrialStateError(f"no trial to ask for now: the strategy waits for {waiting_for(self._history)} "
                                      f"to finish before the next generation")
            raise TrialStateError(f"no trial to ask for: {started}")
        # The caller may edit the params it trains with; the recorded trial must not change.
        return started.replace(params=dict(started.params))

    def _start_trial(self, max_trials: int | None, worker: str | None = None, *, watched: bool) -> Trial | str:
        """A RUNNING trial, or the reason there is none: 'budget', 'wait' or 'exhausted'.

        ``watched``: the caller stamps the trial's heartbeats (the optimize loop), so a trial
        whose stamps stop is failed as lost; False for a trial run by hand (``ask``).
        Queued trials skipped unrun (see :meth:`_claim_waiting`) do not count towards ``max_trials``.
        """
        self._sync()
        if any(self._history[n].state is TrialState.WAITING for n in self._unfinished):
            claimed = self._claim_waiting(max_trials, worker, watched=watched)
            if claimed is not None:
                return claimed
            if max_trials is not None and self._n_started() >= self._limit(max_trials):
                return "budget"
            self._sync()
        if max_trials is not None and self._n_started() >= self._limit(max_trials):
            return "budget"
        if isinstance(self.strategy, UnknownStrategy):
            raise self.strategy.error(self.name)
        for _ in range(_MAX_DUPLICATE_RETRIES):
            proposal = self.strategy.propose(self.space, self._history, len(self._history))
            if proposal is None:
                return "exhausted"
            if proposal is WAIT:
                return "wait"
            params = self.space.validate(proposal.params)
            try:
                trial = self.storage.create_trial(
                    self._study_id, params, TrialState.RUNNING, key=config_key(self.space, params),
                    origin=proposal.origin, generation=proposal.generation, parents=proposal.parents,
                    attrs=worker_attrs(worker) if worker else None, max_trials=self._limit(max_trials), unique=True,
                    watched=watched,
                )
            except DuplicateTrialError:
                self._sync()  # another worker took this configuration; propose again
                continue
            if trial is None:
                return "budget"
            self._remember(trial)
            return trial
        return "exhausted"

    def _n_started(self) -> int:
        return self._history.n_started

    def tell(
        self, trial: Trial | int, result: float | Mapping[str, float] | None = None, *,
        error: str | None = None, attrs: Mapping[str, Any] | None = None,
    ) -> Trial:
        """Record the result of a RUNNING trial (a number, or a dict of named metrics).

        Give ``error=`` instead of a result to record a failure. A NaN or infinite value is
        recorded as a FAILED trial, like a diverged training run. ``attrs`` are stored with the
        trial, so they must be storable as JSON (numpy numbers are stored as numbers, NaN and
        infinities as text). A NUL character in ``error`` is stored as the text ``\\x00``.

        Raises:
            ConfigError: For both a result and an error, an error that is not a string, or
                attributes that JSON cannot store (the trial stays RUNNING).
            ResultError: For a result of the wrong type or without the study's metric, or, in a
                study without a metric, naming another metric than its complete trials report
                or than another process's result gave it at the same moment (the trial stays
                RUNNING, so it can be told again). A study without a metric
                takes the first metric a result names alone as its own, as :meth:`add` does.
            TrialStateError: For a trial that is not RUNNING.
        """
        number = trial.number if isinstance(trial, Trial) else trial
        if isinstance(number, (bool, np.bool_)) or not isinstance(number, (int, np.integer)):
            raise ConfigError(f"trial must be a Trial or a trial number, got {trial!r}")
        number = int(number)
        if error is not None and not isinstance(error, str):
            raise ConfigError(f"error must be a string describing the failure, got {error!r}")
        if error is not None and result is not None:
            raise ConfigError(f"give a result or error=, not both: got result {result!r} and error {error!r}")
        if error is not None:  # a NUL byte (in a command's stderr, say) is shown, not stored: PostgreSQL refuses it
            error = error.replace("\x00", "\\x00")
        if isinstance(attrs, Mapping):  # numpy numbers, NaN: stored as Report(attrs=...) stores them
            attrs = {name: storable(value) for name, value in attrs.items()}
        _check_attrs(attrs)
        if error is not None:
            return self._finish(number, TrialState.FAILED, error=error, attrs=attrs)
        try:
            value, metrics, adopt = self._parse_result(result)
        except NonFiniteResultError as problem:
            return self._finish(number, TrialState.FAILED, error=str(problem), attrs=attrs)
        running = number in self._unfinished and self._history[number].state is TrialState.RUNNING
        if adopt is not None and running:  # claimed before the write; else the write refuses, adopting nothing
            self._claim_metric(adopt)
        return self._finish(number, TrialState.COMPLETE, value=value, metrics=metrics, attrs=attrs)

    def _finish(self, number: int, state: TrialState, **fields: Any) -> Trial:
        attrs = dict(fields.pop("attrs", None) or {})
        done = self.storage.finish_trial(self._study_id, number, state, attrs=attrs, **fields)
        self._remember(done)
        return done


def list_studies(storage: Storage | str) -> list[StudySummary]:
    """Summaries of every study in a storage (name, strategy, counts, best value, activity)."""
    return open_storage(storage).list_studies()


__all__ = ["DIRECTIONS", "ParamsError", "Study", "list_studies"]
