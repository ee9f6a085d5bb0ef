"""Read-only access to a storage for the dashboard, with an incremental cache of trials.

The dashboard polls; re-reading 10,000 trials on every poll would be wasteful, so the
reader keeps each study's trials and fetches only what changed since the last read: the
new trials and the ones that were still running or waiting. Only reading methods of the
storage are ever called.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from evotune.plot import StudySnapshot
from evotune.space import Space
from evotune.storage import Storage, StudyRecord, StudySummary
from evotune.trial import Trial

#: Seconds during which a study read is reused instead of asking the storage again.
FRESH_SECONDS = 0.25
#: Studies whose derived results (tables, figures) are kept; each keeps only its latest revision's.
DERIVED_STUDIES = 16


class ReadOnlyStorage:
    """Exposes only the reading methods of a storage, so the dashboard cannot write by mistake."""

    def __init__(self, storage: Storage):
        self._storage = storage
        self.url = storage.url
        self.safe_url = storage.safe_url

    def list_studies(self) -> list[StudySummary]:
        return self._storage.list_studies()

    def load_study(self, name: str) -> StudyRecord:
        return self._storage.load_study(name)

    def get_trials(self, study_id: int, start: int = 0, numbers: list[int] | None = None) -> list[Trial]:
        return self._storage.get_trials(study_id, start=start, numbers=numbers)


@dataclass
class CachedStudy:
    """One study as last read: its record, its trials, and a revision that grows on change."""

    record: StudyRecord
    space: Space
    trials: list[Trial] = field(default_factory=list)
    unfinished: set[int] = field(default_factory=set)
    revision: int = 0
    read_at: float = 0.0
    #: Unique per cached study (a deleted and recreated study gets a new one): with the
    #: revision, it keys whatever is derived from the trials.
    token: int = field(default_factory=lambda: next(_tokens))

    @property
    def version(self) -> tuple[int, int]:
        return (self.token, self.revision)

    def snapshot(self) -> StudySnapshot:
        return StudySnapshot(self.record.name, self.space, self.record.direction, self.record.metric,
                             list(self.trials))


_tokens = itertools.count()


def _outcome(trial: Trial) -> tuple[Any, ...]:
    return (trial.state, trial.value, trial.error, trial.finished_at, trial.started_at)


class StudyReader:
    """Reads studies for the dashboard; thread-safe (Starlette serves requests from a pool).

    Args:
        storage: Any storage; only its reading methods are used.
        fresh_seconds: How long a read is reused before asking the storage again.
    """

    def __init__(self, storage: Storage, fresh_seconds: float = FRESH_SECONDS):
        self.storage = ReadOnlyStorage(storage)
        self.fresh_seconds = fresh_seconds
        self._lock = threading.Lock()
        self._studies: dict[str, CachedStudy] = {}
        self._derived: dict[int, tuple[int, dict[Hashable, Any]]] = {}

    def summaries(self) -> list[StudySummary]:
        return self.storage.list_studies()

    def study(self, name: str) -> CachedStudy:
        """The study's current state, refreshed incrementally.

        Raises:
            StudyNotFoundError: When the storage has no study of that name.
        """
        with self._lock:
            cached = self._studies.get(name)
            now = time.monotonic()
            if cached is not None and now - cached.read_at < self.fresh_seconds:
                return cached
            record = self.storage.load_study(name)
            if cached is None or (cached.record.study_id, cached.record.created_at) != (
                    record.study_id, record.created_at):  # SQLite may reuse a deleted study's id
                cached = CachedStudy(record, Space.from_dict(record.space))
                self._studies[name] = cached
            self._refresh(cached)
            cached.record = record
            cached.read_at = now
            return cached

    def _refresh(self, cached: CachedStudy) -> None:
        fresh = self.storage.get_trials(cached.record.study_id, start=len(cached.trials),
                                        numbers=sorted(cached.unfinished))
        changed = False
        for trial in fresh:
            if trial.number < len(cached.trials):
                if _outcome(cached.trials[trial.number]) != _outcome(trial):
                    changed = True  # a heartbeat alone is not a change worth redrawing for
                cached.trials[trial.number] = trial
            else:
                cached.trials.append(trial)
                changed = True
            if trial.state.finished:
                cached.unfinished.discard(trial.number)
            else:
                cached.unfinished.add(trial.number)
        if changed:
            cached.revision += 1

    def derived(self, cached: CachedStudy, key: Hashable, compute: Callable[[], Any]) -> Any:
        """A value computed from the study's current revision, cached until the revision changes."""
        revision = cached.revision
        with self._lock:
            stored = self._derived.get(cached.token)
            if stored is not None and stored[0] == revision and key in stored[1]:
                return stored[1][key]
        value = compute()
        with self._lock:
            stored = self._derived.pop(cached.token, None)
            if stored is None or stored[0] != revision:
                stored = (revision, {})
            stored[1][key] = value
            self._derived[cached.token] = stored  # most recently used last
            while len(self._derived) > DERIVED_STUDIES:
                self._derived.pop(next(iter(self._derived)))
        return value
