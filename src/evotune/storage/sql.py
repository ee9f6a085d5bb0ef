"""SQLStorage: studies and trials in SQLite (the embedded default) or PostgreSQL, through SQLAlchemy Core.

Layout: one row per study, one row per trial; params, metrics and attributes are JSON text
(never pickle). Every write on SQLite takes the write lock up front (see
:mod:`evotune.storage.connection`, which also owns the engine, reconnecting and read-only
sessions). PostgreSQL serializes trial creation per study with a row lock on the study
(``SELECT ... FOR UPDATE``, held until the commit; in READ COMMITTED each later statement of
the transaction sees what the previous holder committed). So the checks made before an insert
(budget, a configuration already created or held) and the insert are one atomic step on both.
Each method is one short transaction, committed before it returns.

Rows evotune cannot have written (edited by hand, a damaged file) and databases holding tables
of another program are StorageErrors; error messages never show the password of a URL. Opened
with ``read_only=True`` (as the dashboard, ``evotune studies`` and ``evotune plot`` do), the
storage creates no tables and refuses a database that holds no evotune tables.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from evotune.exceptions import SchemaVersionError, StorageError, StudyNotFoundError, TrialStateError
from evotune.storage.base import SCHEMA_VERSION, DuplicateTrialError, StudyRecord, StudySummary

# The connection layer's constants and URL normalizing are importable from here too.
from evotune.storage.connection import RECONNECT_ATTEMPTS as RECONNECT_ATTEMPTS
from evotune.storage.connection import RECONNECT_SECONDS as RECONNECT_SECONDS
from evotune.storage.connection import SQLDatabase, _reconnecting
from evotune.storage.connection import _normalize_url as _normalize_url
from evotune.storage.schema import (
    FINISH_TRIAL,
    INSERT_TRIAL,
    SELECT_COUNTERS,
    SELECT_COUNTERS_LOCKED,
    SELECT_FROM,
    SELECT_HELD,
    SELECT_KEY,
    SELECT_TRIAL,
    TRIAL_COLUMNS,
    UPDATE_COUNTERS,
    damaged,
    dumps,
    meta_table,
    metadata,
    row_to_trial,
    stamp,
    strategy_type,
    studies_table,
    trials_table,
)
from evotune.trial import Trial, TrialState


class SQLStorage(SQLDatabase):
    """Storage in a SQL database: ``sqlite:///path.db`` or ``postgresql://user@host/db``.

    Args:
        url: A SQLAlchemy database URL.
        timeout: Seconds a write waits for another process's lock before failing.
        read_only: Open an existing evotune database for reading only: create no table, change
            no setting of the database, and refuse every write. SQLite still needs to create its
            ``-wal`` and ``-shm`` files beside a database in WAL mode (evotune's), so the folder
            must be writable; on a read-only folder, open the URI
            ``sqlite:///file:/path/to.db?immutable=1&uri=true`` (no locks, no live updates).

    Raises:
        StorageError: When the URL is invalid, the driver is missing, or the database cannot
            be opened or is not an evotune database; when read-only, also when the SQLite
            file does not exist or the database holds no evotune tables.
        SchemaVersionError: When the database was written by a newer evotune.

    Example:
        >>> viewer = SQLStorage("sqlite:///evotune.db", read_only=True)  # doctest: +SKIP
    """

    def __init__(self, url: str, timeout: float = 60.0, *, read_only: bool = False):
        super().__init__(url, timeout, read_only=read_only)
        if read_only:
            self._check_readable()
        else:
            self._setup()
        self._opened = True

    # -- schema ---------------------------------------------------------------------------
    def _setup(self) -> None:
        for attempt in range(5):
            try:
                with self._transaction(write=True) as conn:
                    version = self._stored_version(conn)
                    if version is None or (isinstance(version, int) and version <= SCHEMA_VERSION):
                        # Only a database this evotune understands is changed (tables created).
                        metadata.create_all(conn, checkfirst=True)
                    if version is None:
                        conn.execute(meta_table.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
                        version = SCHEMA_VERSION
                break
            except IntegrityError:
                time.sleep(0.05 * (attempt + 1))  # another process created the schema meanwhile
            except StorageError as error:
                if ("already exists" in str(error) or "locked" in str(error)) and attempt < 4:
                    time.sleep(0.05 * (attempt + 1))
                    continue
                raise
        self._check_version(version)

    def _check_readable(self) -> None:
        """Check, without changing anything, that the database holds evotune's tables.

        Raises:
            StorageError: When evotune's tables are missing (another program's database, or
                one evotune never wrote to) or its version is not a number.
            SchemaVersionError: When the database was written by a newer evotune.
        """
        with self._transaction(write=False) as conn:
            version = self._stored_version(conn)
            existing = set(sa.inspect(conn).get_table_names())
        tables = (meta_table.name, studies_table.name, trials_table.name)
        missing = [name for name in tables if name not in existing]
        if version is None or missing:
            if len(missing) == len(tables):
                found = "it holds no evotune tables"
            else:
                found = f"it lacks the table(s) {', '.join(missing)}" if missing else "it has no schema_version"
            raise StorageError(
                f"storage {self.safe_url!r} is not an evotune database ({found}); it was opened for reading "
                f"only, so nothing was created: check the storage URL"
            )
        self._check_version(version)

    def _check_version(self, version: int | str | None) -> None:
        if not isinstance(version, int):
            raise StorageError(f"storage {self.safe_url!r}: schema_version {version!r} in table evotune_meta is not a "
                               f"number; the database was edited or is damaged")
        if version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"storage {self.safe_url!r} has schema version {version}, newer than this evotune "
                f"understands ({SCHEMA_VERSION}); upgrade evotune"
            )

    def _stored_version(self, conn: Connection) -> int | str | None:
        """The schema version the database holds (text when it is not a number), None when new.

        Raises:
            StorageError: When the database has evotune's table names without its version
                table: tables of another program, which evotune must not change.
        """
        existing = set(sa.inspect(conn).get_table_names())
        if meta_table.name not in existing:
            clashing = sorted(existing & {studies_table.name, trials_table.name})
            if clashing:
                raise StorageError(
                    f"storage {self.safe_url!r} has tables named {', '.join(clashing)} but no {meta_table.name}: they "
                    f"were not written by evotune, so the database is left as it is; use another database"
                )
            return None
        row = conn.execute(sa.select(meta_table.c.value).where(meta_table.c.key == "schema_version")).first()
        if row is None:
            return None
        return int(row.value) if row.value.strip().isdigit() else row.value

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "read_only": self.read_only}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], read_only=state.get("read_only", False))  # type: ignore[misc]

    # -- studies ---------------------------------------------------------------------------
    @staticmethod
    def _record(row: Any) -> StudyRecord:
        try:
            return StudyRecord(
                row.id, row.name, json.loads(row.space), row.direction, row.metric,
                json.loads(row.strategy), stamp(row.created_at), json.loads(row.attrs),  # type: ignore[arg-type]
            )
        except (TypeError, ValueError, OverflowError, OSError):
            raise damaged(row, f"study {row.name!r}", ("space", "strategy", "attrs")) from None

    @_reconnecting
    def create_study(self, name, space, direction, metric, strategy, attrs=None):
        try:
            with self._transaction(write=True) as conn:
                row = conn.execute(sa.select(studies_table).where(studies_table.c.name == name)).first()
                if row is not None:
                    return self._record(row), False
                conn.execute(studies_table.insert().values(
                    name=name, space=dumps(space), direction=direction, metric=metric,
                    strategy=dumps(strategy), attrs=dumps(attrs or {}), created_at=time.time(),
                    next_number=0, n_started=0,
                ))
                row = conn.execute(sa.select(studies_table).where(studies_table.c.name == name)).one()
                return self._record(row), True
        except IntegrityError:  # created by another process between our check and insert
            return self.load_study(name), False

    @_reconnecting
    def load_study(self, name: str) -> StudyRecord:
        with self._transaction(write=False) as conn:
            row = conn.execute(sa.select(studies_table).where(studies_table.c.name == name)).first()
        if row is None:
            raise StudyNotFoundError(f"no study named {name!r} in storage {self.safe_url!r}")
        return self._record(row)

    @_reconnecting
    def list_studies(self) -> list[StudySummary]:
        t = trials_table.c
        counts = (
            sa.select(
                t.study_id,
                sa.func.count().label("n"),
                sa.func.sum(sa.case((t.state == "COMPLETE", 1), else_=0)).label("complete"),
                sa.func.sum(sa.case((t.state == "FAILED", 1), else_=0)).label("failed"),
                sa.func.min(t.value).label("low"),
                sa.func.max(t.value).label("high"),
                sa.func.max(sa.func.coalesce(t.finished_at, t.started_at)).label("last"),
            ).group_by(t.study_id).subquery()
        )
        query = sa.select(studies_table, counts).select_from(
            studies_table.outerjoin(counts, counts.c.study_id == studies_table.c.id)
        ).order_by(studies_table.c.id)
        with self._transaction(write=False) as conn:
            rows = conn.execute(query).all()
        return [
            StudySummary(
                row.name, row.direction, row.metric, strategy_type(row),
                row.n or 0, row.complete or 0, row.failed or 0,
                row.low if row.direction == "minimize" else row.high,
                stamp(row.created_at), stamp(row.last),  # type: ignore[arg-type]
            )
            for row in rows
        ]

    @_reconnecting
    def delete_study(self, name: str) -> None:
        with self._transaction(write=True) as conn:
            row = conn.execute(sa.select(studies_table.c.id).where(studies_table.c.name == name)).first()
            if row is None:
                raise StudyNotFoundError(f"no study named {name!r} in storage {self.safe_url!r}")
            conn.execute(trials_table.delete().where(trials_table.c.study_id == row.id))
            conn.execute(studies_table.delete().where(studies_table.c.id == row.id))

    @_reconnecting
    def set_study_attrs(self, study_id: int, attrs: dict[str, Any]) -> None:
        with self._transaction(write=True) as conn:
            current = conn.execute(sa.select(studies_table.c.attrs).where(studies_table.c.id == study_id)).scalar_one()
            merged = {**json.loads(current), **attrs}
            conn.execute(studies_table.update().where(studies_table.c.id == study_id).values(attrs=dumps(merged)))

    @_reconnecting
    def set_study_metric(self, study_id: int, metric: str) -> str:
        # "metric IS NULL" in the update itself: on PostgreSQL a second writer waits for the row
        # lock, then re-checks the condition against the committed row, and changes nothing.
        with self._transaction(write=True) as conn:
            conn.execute(studies_table.update().where(
                studies_table.c.id == study_id, studies_table.c.metric.is_(None)).values(metric=metric))
            row = conn.execute(sa.select(studies_table.c.metric).where(studies_table.c.id == study_id)).first()
        if row is None:
            raise StudyNotFoundError(f"study id {study_id} no longer exists in storage {self.safe_url!r}")
        return row.metric

    # -- trials ----------------------------------------------------------------------------
    def _lock_study(self, conn: Connection, study_id: int) -> Any:
        query = SELECT_COUNTERS if self._sqlite else SELECT_COUNTERS_LOCKED
        row = conn.execute(query, {"sid": study_id}).first()
        if row is None:
            raise StudyNotFoundError(f"study id {study_id} no longer exists in storage {self.safe_url!r}")
        return row

    @_reconnecting
    def create_trial(self, study_id, params, state, *, key=None, origin=None, generation=None,
                     parents=(), attrs=None, value=None, metrics=None, max_trials=None, unique=False,
                     unless_held=False, watched=True):
        now = time.time()
        beat = now if state is TrialState.RUNNING and watched else None
        with self._transaction(write=True) as conn:
            counters = self._lock_study(conn, study_id)
            started = state is not TrialState.WAITING
            if state is TrialState.RUNNING and max_trials is not None and counters.n_started >= max_trials:
                return None
            for condition, query in ((unique, SELECT_KEY), (unless_held, SELECT_HELD)):
                if condition and key is not None and conn.execute(query, {"sid": study_id, "k": key}).first():
                    raise DuplicateTrialError(key)
            number = counters.next_number
            conn.execute(INSERT_TRIAL, dict(
                study_id=study_id, number=number, state=state.value, value=value, params=dumps(params),
                metrics=dumps(metrics or {}), error=None, started_at=now if started else None,
                finished_at=now if state.finished else None,
                heartbeat_at=beat, generation=generation,
                parents=dumps(list(parents)), origin=origin, attrs=dumps(attrs or {}), key=key,
            ))
            conn.execute(UPDATE_COUNTERS, {
                "sid": study_id, "next_number": number + 1, "n_started": counters.n_started + int(started),
            })
        return Trial(
            number=number, params=dict(params), state=state, value=value, metrics=dict(metrics or {}),
            started_at=stamp(now) if started else None, finished_at=stamp(now) if state.finished else None,
            generation=generation, parents=tuple(parents), origin=origin, attrs=dict(attrs or {}),
            heartbeat_at=stamp(beat),
        )

    @_reconnecting
    def claim_waiting_trial(self, study_id, max_trials=None, worker=None, watched=True, attrs=None):
        with self._transaction(write=True) as conn:
            counters = self._lock_study(conn, study_id)
            if max_trials is not None and counters.n_started >= max_trials:
                return None
            row = conn.execute(
                sa.select(*TRIAL_COLUMNS).where(trials_table.c.study_id == study_id, trials_table.c.state == "WAITING")
                .order_by(trials_table.c.number).limit(1)
            ).first()
            if row is None:
                return None
            now = time.time()
            beat = now if watched else None
            merged = {**json.loads(row.attrs), **(attrs or {}), **({"worker": worker} if worker else {})}
            conn.execute(trials_table.update().where(
                trials_table.c.study_id == study_id, trials_table.c.number == row.number
            ).values(state="RUNNING", started_at=now, heartbeat_at=beat, attrs=dumps(merged)))
            conn.execute(studies_table.update().where(studies_table.c.id == study_id).values(
                n_started=counters.n_started + 1))
        return row_to_trial(row).replace(
            state=TrialState.RUNNING, started_at=stamp(now), heartbeat_at=stamp(beat), attrs=merged)

    @_reconnecting
    def finish_trial(self, study_id, number, state, *, value=None, metrics=None, error=None, attrs=None):
        now = time.time()
        with self._transaction(write=True) as conn:
            row = conn.execute(SELECT_TRIAL, {"sid": study_id, "n": number}).first()
            if row is None:
                raise TrialStateError(f"trial {number} does not exist in this study")
            if row.state != "RUNNING":
                raise TrialStateError(f"trial {number} is {row.state}, only a RUNNING trial can be finished")
            merged = {**json.loads(row.attrs), **(attrs or {})}
            changed = conn.execute(FINISH_TRIAL, {
                "sid": study_id, "n": number, "new_state": state.value, "new_value": value,
                "new_metrics": dumps(metrics or {}), "new_error": error, "new_finished_at": now,
                "new_attrs": dumps(merged),
            }).rowcount
            if changed != 1:
                raise TrialStateError(f"trial {number} is no longer RUNNING, only a RUNNING trial can be finished")
        return row_to_trial(row).replace(
            state=state, value=value, metrics=dict(metrics or {}), error=error,
            finished_at=stamp(now), attrs=merged)

    @_reconnecting
    def heartbeat(self, study_id: int, numbers: Sequence[int]) -> None:
        if not numbers:
            return
        with self._transaction(write=True) as conn:
            conn.execute(trials_table.update().where(
                trials_table.c.study_id == study_id, trials_table.c.number.in_(list(numbers)),
                trials_table.c.state == "RUNNING",
            ).values(heartbeat_at=time.time()))

    @_reconnecting
    def fail_stale_trials(self, study_id: int, grace_seconds: float) -> list[Trial]:
        limit = time.time() - grace_seconds
        # A RUNNING trial without a stamp was started by hand (ask): only its owner finishes it.
        stale = sa.and_(trials_table.c.heartbeat_at.is_not(None), trials_table.c.heartbeat_at < limit)
        with self._transaction(write=True) as conn:
            rows = conn.execute(sa.select(*TRIAL_COLUMNS).where(
                trials_table.c.study_id == study_id, trials_table.c.state == "RUNNING",
                stale,
            )).all()
            now = time.time()
            failed = []
            for row in rows:
                # Conditions repeated: on PostgreSQL two workers may read the same stale trial;
                # only the one whose update matches reports it (and may retry it).
                changed = conn.execute(trials_table.update().where(
                    trials_table.c.study_id == study_id, trials_table.c.number == row.number,
                    trials_table.c.state == "RUNNING", stale,
                ).values(state="FAILED", error="worker lost", finished_at=now)).rowcount
                if changed == 1:
                    failed.append(row)
        return [
            row_to_trial(row).replace(state=TrialState.FAILED, error="worker lost", finished_at=stamp(now))
            for row in failed
        ]

    @_reconnecting
    def get_trials(self, study_id, start=0, numbers=None):
        condition = trials_table.c.number >= start
        extra = [n for n in (numbers or ()) if n < start]
        if not extra:
            with self._transaction(write=False) as conn:
                rows = conn.execute(SELECT_FROM, {"sid": study_id, "start": start}).all()
            return [row_to_trial(row) for row in rows]
        if extra:
            condition = sa.or_(condition, trials_table.c.number.in_(extra))
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                sa.select(*TRIAL_COLUMNS).where(trials_table.c.study_id == study_id, condition)
                .order_by(trials_table.c.number)
            ).all()
        return [row_to_trial(row) for row in rows]
