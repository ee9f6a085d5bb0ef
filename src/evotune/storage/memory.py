"""MemoryStorage: studies kept in this process only."""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from evotune.exceptions import StudyNotFoundError, TrialStateError
from evotune.space import Space
from evotune.storage.base import (
    DuplicateTrialError,
    Storage,
    StudyRecord,
    StudySummary,
    config_key,
    utcnow,
)
from evotune.trial import Trial, TrialState


class MemoryStorage(Storage):
    """Keeps everything in a dict; fast, thread-safe, gone when the process ends."""

    url = "memory"

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._studies: dict[str, StudyRecord] = {}
        self._trials: dict[int, list[Trial]] = {}
        self._keys: dict[int, dict[str, list[int]]] = {}  # study -> configuration key -> its trial numbers
        self._started: dict[int, int] = {}
        self._next_id = 1

    def __getstate__(self) -> dict[str, Any]:
        """Pickle a snapshot of the studies (the lock cannot be pickled; a new one is made)."""
        with self._lock:
            return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()
        for record in self._studies.values():  # pickled by an evotune that kept only a set of keys
            if isinstance(self._keys.get(record.study_id), set):
                space, index = Space.from_dict(record.space), {}
                for trial in self._trials[record.study_id]:
                    index.setdefault(config_key(space, trial.params), []).append(trial.number)
                self._keys[record.study_id] = index

    def create_study(self, name, space, direction, metric, strategy, attrs=None):
        with self._lock:
            if name in self._studies:
                return self._studies[name], False
            record = StudyRecord(self._next_id, name, copy.deepcopy(space), direction, metric,
                                 copy.deepcopy(strategy), utcnow(), dict(attrs or {}))
            self._next_id += 1
            self._studies[name] = record
            self._trials[record.study_id] = []
            self._keys[record.study_id] = {}
            self._started[record.study_id] = 0
            return record, True

    def load_study(self, name: str) -> StudyRecord:
        with self._lock:
            if name not in self._studies:
                raise StudyNotFoundError(f"no study named {name!r} in storage 'memory'")
            return self._studies[name]

    def list_studies(self) -> list[StudySummary]:
        with self._lock:
            out = []
            for record in self._studies.values():
                trials = self._trials[record.study_id]
                complete = [t for t in trials if t.state is TrialState.COMPLETE]
                values = [t.value for t in complete if t.value is not None]
                best = (min(values) if record.direction == "minimize" else max(values)) if values else None
                stamps = [t.finished_at or t.started_at for t in trials if t.finished_at or t.started_at]
                out.append(StudySummary(
                    record.name, record.direction, record.metric,
                    record.attrs.get("strategy", record.strategy).get("type", "?"),
                    len(trials), len(complete), sum(t.state is TrialState.FAILED for t in trials),
                    best, record.created_at, max(stamps) if stamps else None,
                ))
            return out

    def delete_study(self, name: str) -> None:
        with self._lock:
            record = self.load_study(name)
            del self._studies[name], self._trials[record.study_id], self._keys[record.study_id]
            del self._started[record.study_id]

    def set_study_attrs(self, study_id: int, attrs: dict[str, Any]) -> None:
        with self._lock:
            for name, record in self._studies.items():
                if record.study_id == study_id:
                    self._studies[name] = StudyRecord(
                        record.study_id, record.name, record.space, record.direction, record.metric,
                        record.strategy, record.created_at, {**record.attrs, **copy.deepcopy(attrs)},
                    )

    def set_study_metric(self, study_id: int, metric: str) -> str:
        with self._lock:
            for name, record in self._studies.items():
                if record.study_id == study_id:
                    if record.metric is None:
                        self._studies[name] = dataclasses.replace(record, metric=metric)
                    return self._studies[name].metric
            raise StudyNotFoundError(f"study id {study_id} no longer exists in storage 'memory'")

    def create_trial(self, study_id, params, state, *, key=None, origin=None, generation=None,
                     parents=(), attrs=None, value=None, metrics=None, max_trials=None, unique=False,
                     unless_held=False, watched=True):
        with self._lock:
            trials = self._trials[study_id]
            same_key = self._keys[study_id].get(key, []) if key is not None else []
            if unique and same_key:
                raise DuplicateTrialError(key)
            if unless_held and any(trials[n].state is not TrialState.FAILED for n in same_key):
                raise DuplicateTrialError(key)
            if state is TrialState.RUNNING and max_trials is not None:
                if self._started[study_id] >= max_trials:
                    return None
            now = utcnow()
            trial = Trial(
                number=len(trials), params=copy.deepcopy(params), state=state, value=value,
                metrics=dict(metrics or {}), started_at=None if state is TrialState.WAITING else now,
                finished_at=now if state.finished else None, generation=generation,
                parents=tuple(parents), origin=origin, attrs=copy.deepcopy(attrs or {}),
                heartbeat_at=now if state is TrialState.RUNNING and watched else None,
            )
            trials.append(trial)
            self._started[study_id] += state is not TrialState.WAITING
            if key is not None:
                self._keys[study_id].setdefault(key, []).append(trial.number)
            return trial

    def claim_waiting_trial(self, study_id, max_trials=None, worker=None, watched=True, attrs=None):
        with self._lock:
            trials = self._trials[study_id]
            if max_trials is not None and self._started[study_id] >= max_trials:
                return None
            for trial in trials:
                if trial.state is TrialState.WAITING:
                    now = utcnow()
                    merged = {**trial.attrs, **(attrs or {}), **({"worker": worker} if worker else {})}
                    claimed = trial.replace(state=TrialState.RUNNING, started_at=now,
                                            heartbeat_at=now if watched else None, attrs=merged)
                    trials[trial.number] = claimed
                    self._started[study_id] += 1
                    return claimed
            return None

    def finish_trial(self, study_id, number, state, *, value=None, metrics=None, error=None, attrs=None):
        with self._lock:
            trials = self._trials[study_id]
            if not 0 <= number < len(trials):
                raise TrialStateError(f"trial {number} does not exist in this study")
            trial = trials[number]
            if trial.state is not TrialState.RUNNING:
                raise TrialStateError(
                    f"trial {number} is {trial.state.value}, only a RUNNING trial can be finished"
                )
            done = trial.replace(state=state, value=value, metrics=dict(metrics or {}), error=error,
                                 finished_at=utcnow(), attrs={**trial.attrs, **(attrs or {})})
            self._trials[study_id][number] = done
            return done

    def heartbeat(self, study_id: int, numbers: Sequence[int]) -> None:
        with self._lock:
            now = utcnow()
            trials = self._trials[study_id]
            for n in numbers:
                if 0 <= n < len(trials) and trials[n].state is TrialState.RUNNING:
                    trials[n] = trials[n].replace(heartbeat_at=now)

    def fail_stale_trials(self, study_id: int, grace_seconds: float) -> list[Trial]:
        with self._lock:
            now = utcnow()
            lost = []
            for trial in self._trials[study_id]:
                beat = trial.heartbeat_at  # None: a trial run by hand, which only its owner finishes
                if trial.state is TrialState.RUNNING and beat and (now - beat).total_seconds() > grace_seconds:
                    lost.append(self.finish_trial(study_id, trial.number, TrialState.FAILED, error="worker lost"))
            return lost

    def get_trials(self, study_id, start=0, numbers=None):
        with self._lock:
            trials = self._trials[study_id]
            chosen = {n for n in (numbers or ()) if n < start and n < len(trials)}
            return [trials[n] for n in sorted(chosen)] + trials[start:]
