"""The storage interface shared by the in-memory and SQL backends.

A storage keeps studies and their trials. It sits below the study and knows nothing of
strategies or objectives: params, metrics and attributes go in and out as JSON-ready data.
Every method is one short transaction, safe to call from several processes at once (for
backends that can be shared), and a finished trial is durable when ``finish_trial`` returns.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from evotune.space import Space
from evotune.trial import Trial, TrialState

#: Version of the stored layout; a database written with a higher number is refused.
SCHEMA_VERSION = 1


def config_key(space: Space, params: Mapping[str, Any]) -> str:
    """The key under which the storage finds the trials of a configuration (``create_trial(key=)``)."""
    return hashlib.sha1(json.dumps(space.key(params)).encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class StudyRecord:
    """What a storage keeps about a study besides its trials."""

    study_id: int
    name: str
    space: dict[str, Any]
    direction: str
    metric: str | None
    strategy: dict[str, Any]
    created_at: datetime
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StudySummary:
    """One line of :meth:`Storage.list_studies`.

    ``strategy`` is the type of the strategy the study now uses: the one it was last opened
    with (``attrs["strategy"]``), else the one it was created with, as :class:`~evotune.Study` uses.
    """

    name: str
    direction: str
    metric: str | None
    strategy: str
    n_trials: int
    n_complete: int
    n_failed: int
    best_value: float | None
    created_at: datetime
    last_activity: datetime | None


_PASSWORD = re.compile(r"(?<=://)([^/@:]*):[^/@]*@")


def redact_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``: what messages and pages may show."""
    return _PASSWORD.sub(r"\1:***@", url)


class DuplicateTrialError(Exception):
    """Internal: another worker already created a trial with the same configuration (with
    ``unique``), or a trial holds that configuration (with ``unless_held``)."""


class Storage(ABC):
    """Abstract storage; see :class:`MemoryStorage` and :class:`SQLStorage`."""

    url: str = "memory"

    def __copy__(self) -> Storage:
        """The storage itself: a storage is a handle to shared records, not a value to copy."""
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Storage:
        """The storage itself, as for :meth:`__copy__`.

        scikit-learn's ``clone`` deep-copies the parameters of an estimator, so a search cloned
        by ``cross_val_score`` or a pipeline records into the same storage as the original;
        an independent copy of a ``MemoryStorage`` would take the records with it when dropped.
        Pickling is unchanged: it still makes a snapshot (memory) or reconnects by URL (SQL).
        """
        return self

    @property
    def safe_url(self) -> str:
        """The URL without its password, for error messages, logs and pages."""
        return redact_url(self.url)

    @abstractmethod
    def create_study(
        self, name: str, space: dict[str, Any], direction: str, metric: str | None,
        strategy: dict[str, Any], attrs: dict[str, Any] | None = None,
    ) -> tuple[StudyRecord, bool]:
        """Create the study, or return the existing one of that name.

        Returns:
            The record and True when it was created, False when it already existed.
        """

    @abstractmethod
    def load_study(self, name: str) -> StudyRecord:
        """Raises StudyNotFoundError when there is no study of that name."""

    @abstractmethod
    def list_studies(self) -> list[StudySummary]: ...

    @abstractmethod
    def delete_study(self, name: str) -> None: ...

    @abstractmethod
    def set_study_attrs(self, study_id: int, attrs: dict[str, Any]) -> None:
        """Merge ``attrs`` into the study's attributes."""

    @abstractmethod
    def set_study_metric(self, study_id: int, metric: str) -> str:
        """Name the metric of a study recorded without one, unless it has one by now.

        A compare-and-set, in one transaction: the metric is stored only while the study has
        none, and a study's metric never changes once stored. Of two processes naming different
        metrics at once, the first wins; the other gets the winner's metric back. (The study
        checks beforehand that its trials allow the metric.)

        Returns:
            The study's metric afterwards: ``metric`` when it was stored (or already was the
            study's), else the one the study already had.

        Raises:
            StudyNotFoundError: When the study no longer exists.
        """

    @abstractmethod
    def create_trial(
        self, study_id: int, params: dict[str, Any], state: TrialState, *, key: str | None = None,
        origin: str | None = None, generation: int | None = None, parents: Sequence[int] = (),
        attrs: dict[str, Any] | None = None, value: float | None = None,
        metrics: dict[str, float] | None = None, max_trials: int | None = None, unique: bool = False,
        unless_held: bool = False, watched: bool = True,
    ) -> Trial | None:
        """Append a trial with the next number, atomically.

        ``key`` identifies the configuration: with ``unique``, when a trial with the same key
        exists, raise :class:`DuplicateTrialError`; with ``unless_held``, raise it when a trial
        with the same key holds the configuration: one that is WAITING, RUNNING or COMPLETE (a
        configuration whose trials all FAILED may be queued again). Both are checked in the
        transaction that inserts, so of two processes creating such a trial at once, exactly one
        does; nothing is written when it is refused. ``max_trials`` bounds the number of started (non
        WAITING) trials: return None, creating nothing, when a RUNNING trial would exceed it.
        A COMPLETE trial (a manual record) is created finished. A RUNNING trial that is
        ``watched`` gets its first heartbeat now (see :meth:`fail_stale_trials`); an unwatched
        one (run by hand, through ``ask``) gets none and stays RUNNING until it is finished.
        """

    @abstractmethod
    def claim_waiting_trial(self, study_id: int, max_trials: int | None = None,
                            worker: str | None = None, watched: bool = True,
                            attrs: dict[str, Any] | None = None) -> Trial | None:
        """Move the oldest WAITING trial to RUNNING and return it (None if none or over budget).

        ``watched`` as for :meth:`create_trial`; ``worker`` and ``attrs`` are added to the
        trial's attributes (``attrs["worker"]`` the worker).
        """

    @abstractmethod
    def finish_trial(
        self, study_id: int, number: int, state: TrialState, *, value: float | None = None,
        metrics: dict[str, float] | None = None, error: str | None = None,
        attrs: dict[str, Any] | None = None,
    ) -> Trial:
        """Record the outcome of a RUNNING trial; raises TrialStateError if it is not RUNNING."""

    @abstractmethod
    def heartbeat(self, study_id: int, numbers: Sequence[int]) -> None:
        """Mark these RUNNING trials alive now (a trial stamped once is watched from then on)."""

    @abstractmethod
    def fail_stale_trials(self, study_id: int, grace_seconds: float) -> list[Trial]:
        """Mark FAILED ("worker lost") each watched RUNNING trial whose heartbeat is older than the grace.

        A watched trial is one with a heartbeat stamp (``heartbeat_at``). A RUNNING trial without
        one was started by hand and is never failed here: only its owner finishes it.
        """

    @abstractmethod
    def get_trials(self, study_id: int, start: int = 0, numbers: Sequence[int] | None = None) -> list[Trial]:
        """Trials numbered ``start`` and above, plus those in ``numbers``, in number order."""

    def close(self) -> None:
        """Release connections (a no-op for memory)."""
