"""Questions about a study's unfinished trials, answered from its history: which RUNNING trials
an ``optimize`` loop watches and which were started by hand, what a waiting strategy waits for,
and whether ``optimize`` would start every WAITING trial.
"""

from __future__ import annotations

from typing import Any

from evotune.trial import TrialState


def running_trials(history: Any, *, watched: bool) -> list[int]:
    """Numbers of the RUNNING trials of ``history`` that an ``optimize`` loop watches (stamps
    their heartbeats), or, with ``watched=False``, those started by hand (``ask``)."""
    return [t.number for t in history if t.state is TrialState.RUNNING and (t.heartbeat_at is not None) == watched]


def waiting_for(history: Any) -> str:
    """The unfinished trials a strategy waits for, in words: those of other workers, and those
    started by hand (``ask``), which nothing but a ``tell`` finishes."""
    by_hand, others = running_trials(history, watched=False), running_trials(history, watched=True)
    parts = []
    if others:
        parts.append(f"trial(s) {', '.join(map(str, others))} of other workers")
    if by_hand:
        parts.append(f"trial(s) {', '.join(map(str, by_hand))} started by hand (`ask`), which only a `tell` "
                     f"finishes")
    return " and ".join(parts) or "running trials"


def starts_every_waiting(history: Any, max_trials: int | None) -> bool:
    """Whether ``optimize(max_trials=...)`` would start every WAITING trial of ``history`` (a
    study's history: its trials, in number order, and ``n_started``).

    The loop lets a study reach ``max_trials`` started trials plus one per retry in it (a retry
    stands in for the trial it repeats), and starts the queued trials first, in order: they all
    start when the trials started or queued fit within that budget.
    """
    if max_trials is None:
        return True
    waiting = sum(t.state is TrialState.WAITING for t in history)
    retries = sum("retry_of" in t.attrs for t in history)
    return history.n_started + waiting <= max_trials + retries
