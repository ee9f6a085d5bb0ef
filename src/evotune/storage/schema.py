"""The SQL layout of evotune's storage: tables, the statements of the per-trial hot path, and
the decoding of rows into records.

One row per study, one row per trial; params, metrics and attributes are JSON text (never
pickle). The hot-path statements are built once, so SQLAlchemy reuses their compiled form.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from evotune.exceptions import StorageError
from evotune.trial import Trial, TrialState

metadata = sa.MetaData()

meta_table = sa.Table(
    "evotune_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

#: Longest study or metric name a storage holds (PostgreSQL refuses longer ones).
NAME_LENGTH = 512


def name_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored as a study's or a metric's name; None when it can."""
    if len(text) > NAME_LENGTH:
        return f"it has {len(text)} characters; at most {NAME_LENGTH} are stored"
    if "\x00" in text:
        return "it holds a NUL character, which PostgreSQL cannot store"
    return None


studies_table = sa.Table(
    "evotune_studies", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(NAME_LENGTH), nullable=False, unique=True),
    sa.Column("space", sa.Text, nullable=False),
    sa.Column("direction", sa.String(16), nullable=False),
    sa.Column("metric", sa.String(NAME_LENGTH)),
    sa.Column("strategy", sa.Text, nullable=False),
    sa.Column("attrs", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("next_number", sa.Integer, nullable=False),
    sa.Column("n_started", sa.Integer, nullable=False),
)

trials_table = sa.Table(
    "evotune_trials", metadata,
    sa.Column("study_id", sa.Integer, sa.ForeignKey("evotune_studies.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("generation", sa.Integer),
    sa.Column("parents", sa.Text, nullable=False),
    sa.Column("origin", sa.String(64)),
    sa.Column("attrs", sa.Text, nullable=False),
    sa.Column("key", sa.String(64)),
    sa.Index("ix_evotune_trials_key", "study_id", "key"),
    sa.Index("ix_evotune_trials_state", "study_id", "state"),
)

TRIAL_COLUMNS = [c for c in trials_table.c if c.name not in ("study_id", "key")]

_bind = sa.bindparam
SELECT_COUNTERS = sa.select(studies_table.c.next_number, studies_table.c.n_started).where(studies_table.c.id == _bind("sid"))
SELECT_COUNTERS_LOCKED = SELECT_COUNTERS.with_for_update()
UPDATE_COUNTERS = studies_table.update().where(studies_table.c.id == _bind("sid")).values(
    next_number=_bind("next_number"), n_started=_bind("n_started"))
SELECT_KEY = sa.select(trials_table.c.number).where(
    trials_table.c.study_id == _bind("sid"), trials_table.c.key == _bind("k")).limit(1)
# A trial that holds the configuration: any one but a FAILED one (see create_trial's unless_held).
SELECT_HELD = sa.select(trials_table.c.number).where(
    trials_table.c.study_id == _bind("sid"), trials_table.c.key == _bind("k"),
    trials_table.c.state != "FAILED").limit(1)
INSERT_TRIAL = trials_table.insert()
SELECT_TRIAL = sa.select(*TRIAL_COLUMNS).where(trials_table.c.study_id == _bind("sid"), trials_table.c.number == _bind("n"))
# "state = RUNNING" again at the update: on PostgreSQL another worker may have failed the trial as
# lost since it was read; the update then matches no row and finish_trial refuses.
FINISH_TRIAL = trials_table.update().where(
    trials_table.c.study_id == _bind("sid"), trials_table.c.number == _bind("n"), trials_table.c.state == "RUNNING").values(
    state=_bind("new_state"), value=_bind("new_value"), metrics=_bind("new_metrics"), error=_bind("new_error"),
    finished_at=_bind("new_finished_at"), attrs=_bind("new_attrs"))
SELECT_FROM = sa.select(*TRIAL_COLUMNS).where(
    trials_table.c.study_id == _bind("sid"), trials_table.c.number >= _bind("start")).order_by(trials_table.c.number)


def stamp(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def row_to_trial(row: Any) -> Trial:
    try:
        return Trial(
            number=row.number, params=json.loads(row.params), state=TrialState(row.state),
            value=row.value, metrics=json.loads(row.metrics), error=row.error,
            started_at=stamp(row.started_at), finished_at=stamp(row.finished_at),
            generation=row.generation, parents=tuple(json.loads(row.parents)), origin=row.origin,
            attrs=json.loads(row.attrs), heartbeat_at=stamp(row.heartbeat_at),
        )
    except (TypeError, ValueError, OverflowError, OSError):
        raise damaged(row, f"trial {row.number}", ("params", "metrics", "parents", "attrs"), "state") from None


def strategy_type(row: Any) -> str:
    """The type of the strategy a study row now uses: the last one stored in its attrs (a study
    reopened with another strategy), else the one it was created with."""
    try:
        return str(json.loads(row.attrs).get("strategy", json.loads(row.strategy)).get("type", "?"))
    except (TypeError, ValueError, AttributeError):
        raise damaged(row, f"study {row.name!r}", ("strategy", "attrs")) from None


def damaged(row: Any, what: str, json_columns: Sequence[str], state_column: str | None = None) -> StorageError:
    """The error for a row evotune cannot have written (edited by hand, or a damaged file)."""
    for column in json_columns:
        text = getattr(row, column)
        try:
            json.loads(text)
        except (TypeError, ValueError):
            return StorageError(f"{what}: column {column!r} holds {str(text)[:80]!r}, which is not the JSON "
                                f"evotune writes; the database was edited or is damaged")
    if state_column is not None and getattr(row, state_column) not in TrialState._value2member_map_:
        return StorageError(f"{what}: column {state_column!r} holds {getattr(row, state_column)!r}, which is "
                            f"not a trial state; the database was edited or is damaged")
    return StorageError(f"{what} cannot be read; the database was edited or is damaged")
