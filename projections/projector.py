"""The projector: follows the event log and keeps the ``view_`` tables up to date.

It polls ``recorder.select_notifications`` from its tracked position (SQLite has no
subscriptions; on PostgreSQL eventsourcing locks the events table per insert, so notification
ids become visible in order and polling by position never skips one). Each batch of events is
applied in ONE database transaction together with the new position, so every event is applied
exactly once, across crashes and across several projectors running at once:

- the transaction starts by moving the tracking row from the position the batch was read at to
  the batch's last id (``UPDATE … WHERE position = expected``). That takes the row lock on
  PostgreSQL and the write lock on SQLite (``BEGIN IMMEDIATE``); if another projector got there
  first, nothing matches, the batch is dropped and re-read from the new position.
- a crash before commit loses the whole batch, views and position together.

Batches make a rebuild run at a good fraction of read-and-decode speed: the case rows of a
batch come from a cache of open cases or one query, the fold runs in memory, each touched case
is written once per batch however many events it had, and the counter upserts are summed per
(scope, key, day) first (see ``driver_sql`` for the writes). Live catch-up uses 1,000 events a
transaction (a SQLite write lock held briefly); ``sanshi projections rebuild`` 10,000, where
more of a case's events fall into one batch (2–3× faster on an interleaved log).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from sqlalchemy import Connection, Engine, String, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite

from projections.driver_sql import CountsWriter, DriverSQL, RowWriter
from projections.fold import TERMINAL, CaseFold, CaseRow, Deltas, month_of
from projections.sealed import TextSealer
from projections.tables import (
    CASE_COLUMNS,
    INTAKE_COLUMNS,
    OPEN_COLUMNS,
    VIEW_TABLES,
    create_tables,
    view_cases,
    view_open_cases,
    view_tracking,
)

log = logging.getLogger("sanshi.projections")

DEFAULT_NAME = "sanshi_views"
LOAD_CHUNK = 500

Progress = Callable[[int, int], None]  # (last notification id applied, events in the batch)


class _PositionMoved(Exception):
    """Another projector applied these events first."""


class Projector:
    def __init__(
        self,
        app: Application[UUID],
        engine: Engine,
        *,
        centre: str = "centre",
        name: str = DEFAULT_NAME,
        batch_size: int = 1000,
        cache_size: int = 20_000,
        sealer: TextSealer | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.name = name
        self.batch_size = batch_size
        self._sql = DriverSQL(engine.dialect.name)
        self.fold = CaseFold(centre, stamp=self._sql.stamp)
        self._dialect = engine.dialect.name
        # SQLite: take the write lock at BEGIN (see tables.make_engine).
        self._writer = (
            engine.execution_options(sqlite_begin="IMMEDIATE")
            if self._dialect == "sqlite"
            else engine
        )
        self._lock = threading.RLock()
        ins: Any = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        self._insert_tracking = (
            ins(view_tracking)
            .values(name=name, position=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        sql = self._sql
        # Updates leave alone what intake fixed once and for all. With a sealer (the cipher
        # key) the writers seal the text columns and open them on reload (projections.sealed).
        self.sealed = sealer is not None
        self._cases = RowWriter(
            sql,
            view_cases,
            CASE_COLUMNS,
            [c for c in CASE_COLUMNS if c not in INTAKE_COLUMNS],
            sealer,
        )
        self._open = RowWriter(
            sql,
            view_open_cases,
            OPEN_COLUMNS,
            [c for c in OPEN_COLUMNS if c not in INTAKE_COLUMNS],
            sealer,
        )
        self._counts = CountsWriter(sql)
        # Rows of recently touched open cases, valid while no other projector has written
        # since our last batch (checked against the tracking position): saves reloading the
        # rows of cases that are being worked on, which is most of them.
        self.cache_size = cache_size
        self._cache: OrderedDict[UUID, CaseRow] = OrderedDict()
        self._cache_position: int | None = None

    # ---- schema and position -------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the view tables and the tracking row if missing (idempotent). Views left by
        a version with other columns are dropped and recreated empty (position 0): the next
        catch-up rebuilds them from the log."""
        create_tables(self.engine)
        with self._writer.begin() as conn:
            conn.execute(self._insert_tracking)
        if not self._schema_is_current():
            log.warning("view tables are from another version: rebuilding them from the log")
            self.reset()

    def _schema_is_current(self) -> bool:
        """Our columns, and our length for every string column: a ``varchar(500)`` left by an
        older version where a Text column now stands would refuse sealed text on PostgreSQL."""
        found = inspect(self.engine)
        for table in VIEW_TABLES:
            columns = {c["name"]: c["type"] for c in found.get_columns(table.name)}
            if set(columns) != {c.name for c in table.columns}:
                return False
            for c in table.columns:
                if isinstance(c.type, String) and (
                    getattr(columns[c.name], "length", None) != c.type.length
                ):
                    return False
        return True

    def position(self) -> int:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(view_tracking.c.position).where(view_tracking.c.name == self.name)
            ).scalar()
        return int(value or 0)

    def head(self) -> int:
        """Id of the newest notification in the log (0 when empty)."""
        return int(self.app.recorder.max_notification_id() or 0)

    def lag(self) -> int:
        return max(0, self.head() - self.position())

    # ---- following the log ---------------------------------------------------------------

    def catch_up(self, *, max_events: int | None = None, progress: Progress | None = None) -> int:
        """Apply every event after the tracked position, batch by batch; returns how many
        this call applied (events another projector applied meanwhile are not counted)."""
        applied = 0
        with self._lock:
            while max_events is None or applied < max_events:
                pos = self.position()
                limit = self.batch_size
                if max_events is not None:
                    limit = min(limit, max_events - applied)
                notes = self.app.recorder.select_notifications(
                    pos, limit, inclusive_of_start=False
                )
                if not notes:
                    break
                try:
                    self._apply_batch(notes, pos)
                except _PositionMoved:
                    continue
                applied += len(notes)
                if progress is not None:
                    progress(notes[-1].id, len(notes))
        return applied

    def catch_up_quietly(self) -> None:
        """For ``app.on_saved``: the command is already saved, so a projection failure must
        not turn into a command failure; it is logged and the next catch-up retries."""
        try:
            self.catch_up()
        except Exception:
            log.exception("projection catch-up failed; will retry on the next event")

    def run_forever(
        self, poll_interval: float = 1.0, stop: threading.Event | None = None
    ) -> None:
        """Follow the log until ``stop`` is set (for ``sanshi worker``). Errors (a database
        restart, a lock timeout) are logged and retried after ``poll_interval``."""
        stop = stop or threading.Event()
        while not stop.is_set():
            try:
                applied = self.catch_up()
            except Exception:
                log.exception("projection catch-up failed; retrying in %.1fs", poll_interval)
                applied = 0
            if applied == 0:
                stop.wait(poll_interval)

    # ---- rebuild -------------------------------------------------------------------------

    def reset(self) -> None:
        """Drop and recreate every view table and set the position to 0, in one transaction
        (both SQLite and PostgreSQL roll DDL back): a rebuild also picks up a new layout."""
        with self._lock, self._writer.begin() as conn:
            self._cache.clear()
            self._cache_position = None
            conn.execute(
                update(view_tracking)
                .where(view_tracking.c.name == self.name)
                .values(position=0)
            )
            for table in reversed(VIEW_TABLES):
                table.drop(conn, checkfirst=True)
            for table in VIEW_TABLES:
                table.create(conn)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drop the views' contents and replay the whole log. Killed half-way, the views hold
        a consistent prefix of the log with its position: ``catch_up`` (or ``rebuild`` again)
        finishes with the same numbers as an uninterrupted rebuild."""
        self.reset()
        return self.catch_up(progress=progress)

    # ---- one batch -----------------------------------------------------------------------

    def _apply_batch(self, notes: Sequence[Notification], expected: int) -> None:
        to_event = self.app.mapper.to_domain_event
        events = [to_event(n) for n in notes]
        last = notes[-1].id
        if self._cache_position != expected:
            # Someone else wrote the views since our last batch (or we never did): what we
            # remember about cases may be stale.
            self._cache.clear()
        try:
            with self._writer.begin() as conn:
                moved = conn.execute(
                    update(view_tracking)
                    .where(
                        view_tracking.c.name == self.name,
                        view_tracking.c.position == expected,
                    )
                    .values(position=last)
                )
                if moved.rowcount != 1:
                    raise _PositionMoved
                if self._dialect == "postgresql":
                    # Views and position commit together, so a batch lost in a server crash
                    # is simply applied again: no need to wait for the WAL flush.
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                rows, was_open, was_terminal = self._rows_for(
                    conn, {e.originator_id for e in events}
                )
                deltas = Deltas()
                apply = self.fold.apply
                for e in events:
                    cid = e.originator_id
                    row = apply(rows.get(cid), e, deltas)
                    if row is not None:
                        rows[cid] = row
                self._write(conn, rows.values(), was_open, was_terminal, deltas)
        except BaseException:
            # The rows were changed in place: forget them, the database has the truth.
            self._cache.clear()
            self._cache_position = None
            raise
        self._remember(rows.values())
        self._cache_position = last

    def _rows_for(
        self, conn: Connection, ids: set[UUID]
    ) -> tuple[dict[UUID, CaseRow], set[UUID], set[UUID]]:
        """The current rows of these cases (view_cases columns), from the cache or loaded;
        and which of them exist as open / as terminal cases."""
        rows: dict[UUID, CaseRow] = {}
        missing: list[UUID] = []
        cache = self._cache
        for cid in ids:
            cached = cache.get(cid)
            if cached is None:
                missing.append(cid)
            else:
                rows[cid] = cached
        was_open = set(rows)  # the cache holds open cases only
        was_terminal: set[UUID] = set()
        for i in range(0, len(missing), LOAD_CHUNK):
            for row in self._cases.select(conn, missing[i : i + LOAD_CHUNK]):
                cid = row["case_id"]
                rows[cid] = row
                (was_terminal if row["status"] in TERMINAL else was_open).add(cid)
        return rows, was_open, was_terminal

    def _remember(self, rows: Iterable[CaseRow]) -> None:
        cache = self._cache
        for row in rows:
            row.pop("content", None)
            cid = row["case_id"]
            if row["status"] in TERMINAL:
                cache.pop(cid, None)  # no event follows a terminal one
                continue
            cache[cid] = row
            cache.move_to_end(cid)
        while len(cache) > self.cache_size:
            cache.popitem(last=False)

    def _write(
        self,
        conn: Connection,
        rows: Iterable[CaseRow],
        was_open: set[UUID],
        was_terminal: set[UUID],
        deltas: Deltas,
    ) -> None:
        # Every row here had an event in this batch.
        cases: list[CaseRow] = []
        open_rows: list[CaseRow] = []
        closed: list[UUID] = []
        for row in rows:
            cid = row["case_id"]
            cases.append(row)
            if row["status"] in TERMINAL:
                if cid in was_open:
                    closed.append(cid)
            elif cid in was_open:
                # An update: the text stays as written at intake (not in update columns).
                row.setdefault("content", "")
                open_rows.append(row)
            elif cid not in was_terminal:
                open_rows.append(row)  # new: carries its text from Received
        self._cases.upsert(conn, cases)
        self._open.upsert(conn, open_rows)
        self._open.delete(conn, closed)
        self._counts.add(
            conn,
            [
                (kind, key, day, month_of(day), vector)
                for (kind, key, day), vector in deltas.nonzero()
            ],
        )


def wait_until_caught_up(projector: Projector, timeout: float = 30.0) -> bool:
    """For tests and the worker's readiness: True once the position reaches the log head."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if projector.lag() == 0:
            return True
        time.sleep(0.05)
    return False
