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

Batches (1,000 events by default) make a rebuild run at a good fraction of raw read speed: the
case rows of a batch are loaded with one query, the fold runs in memory, and the writes are a
handful of ``executemany`` statements whose counter upserts are already summed per
(scope, key, day).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from projections.fold import TERMINAL, CaseFold, CaseRow, Deltas, month_of
from projections.tables import (
    CASE_COLUMNS,
    COUNT_FIELDS,
    OPEN_ONLY_COLUMNS,
    STATE_COLUMNS,
    VIEW_TABLES,
    create_tables,
    view_cases,
    view_counts,
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
    ) -> None:
        self.app = app
        self.engine = engine
        self.name = name
        self.batch_size = batch_size
        self.fold = CaseFold(centre)
        self._dialect = engine.dialect.name
        # SQLite: take the write lock at BEGIN (see tables.make_engine).
        self._writer = (
            engine.execution_options(sqlite_begin="IMMEDIATE")
            if self._dialect == "sqlite"
            else engine
        )
        self._lock = threading.RLock()
        ins: Any = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = ins(view_counts)
        self._upsert_counts = stmt.on_conflict_do_update(
            index_elements=["kind", "key", "day"],
            set_={f: view_counts.c[f] + stmt.excluded[f] for f in COUNT_FIELDS},
        )
        self._insert_tracking = (
            ins(view_tracking)
            .values(name=name, position=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        self._update_cases = update(view_cases).where(
            view_cases.c.case_id == bindparam("b_case_id")
        )
        self._update_open = update(view_open_cases).where(
            view_open_cases.c.case_id == bindparam("b_case_id")
        )

    # ---- schema and position -------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the view tables and the tracking row if missing (idempotent)."""
        create_tables(self.engine)
        with self._writer.begin() as conn:
            conn.execute(self._insert_tracking)

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
                notes = self.app.recorder.select_notifications(
                    pos, self.batch_size, inclusive_of_start=False
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
        """Empty every view and set the position to 0, in one transaction."""
        with self._lock, self._writer.begin() as conn:
            conn.execute(
                update(view_tracking)
                .where(view_tracking.c.name == self.name)
                .values(position=0)
            )
            if self._dialect == "postgresql":
                names = ", ".join(t.name for t in VIEW_TABLES)
                conn.execute(text(f"TRUNCATE {names}"))
            else:
                for table in VIEW_TABLES:
                    conn.execute(delete(table))

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
        with self._writer.begin() as conn:
            moved = conn.execute(
                update(view_tracking)
                .where(view_tracking.c.name == self.name, view_tracking.c.position == expected)
                .values(position=notes[-1].id)
            )
            if moved.rowcount != 1:
                raise _PositionMoved
            rows = self._load(conn, {e.originator_id for e in events})
            deltas = Deltas()
            apply = self.fold.apply
            for e in events:
                cid = e.originator_id
                row = apply(rows.get(cid), e, deltas)
                if row is not None:
                    rows[cid] = row
            self._write(conn, rows.values(), deltas)

    def _load(self, conn: Connection, ids: set[UUID]) -> dict[UUID, CaseRow]:
        rows: dict[UUID, CaseRow] = {}
        wanted = list(ids)
        for i in range(0, len(wanted), LOAD_CHUNK):
            chunk = wanted[i : i + LOAD_CHUNK]
            for r in conn.execute(select(view_cases).where(view_cases.c.case_id.in_(chunk))):
                row = dict(r._mapping)
                row["_existing"] = True
                row["_was_terminal"] = row["status"] in TERMINAL
                row["_changed"] = False
                rows[row["case_id"]] = row
        return rows

    def _write(self, conn: Connection, rows: Iterable[CaseRow], deltas: Deltas) -> None:
        new_cases: list[dict[str, Any]] = []
        changed_cases: list[dict[str, Any]] = []
        new_open: list[dict[str, Any]] = []
        changed_open: list[dict[str, Any]] = []
        closed_open: list[UUID] = []
        for row in rows:
            if not row.get("_changed"):
                continue
            cid = row["case_id"]
            terminal = row["status"] in TERMINAL
            if row.get("_existing"):
                changed_cases.append({"b_case_id": cid, **{c: row[c] for c in CASE_COLUMNS}})
                if terminal:
                    if not row["_was_terminal"]:
                        closed_open.append(cid)
                else:
                    changed_open.append({"b_case_id": cid, **{c: row[c] for c in STATE_COLUMNS}})
            else:
                new_cases.append({"case_id": cid, **{c: row[c] for c in CASE_COLUMNS}})
                if not terminal:
                    open_row = {"case_id": cid, **{c: row[c] for c in STATE_COLUMNS}}
                    for c in OPEN_ONLY_COLUMNS:
                        open_row[c] = row["_content"] if c == "content" else row[c]
                    new_open.append(open_row)
        if new_cases:
            conn.execute(insert(view_cases), new_cases)
        if changed_cases:
            conn.execute(self._update_cases, changed_cases)
        if new_open:
            conn.execute(insert(view_open_cases), new_open)
        if changed_open:
            conn.execute(self._update_open, changed_open)
        if closed_open:
            conn.execute(delete(view_open_cases).where(view_open_cases.c.case_id.in_(closed_open)))
        counts = [
            {
                "kind": kind,
                "key": key,
                "day": day,
                "month": month_of(day),
                **dict(zip(COUNT_FIELDS, vector, strict=True)),
            }
            for (kind, key, day), vector in deltas.nonzero()
        ]
        if counts:
            conn.execute(self._upsert_counts, counts)


def wait_until_caught_up(projector: Projector, timeout: float = 30.0) -> bool:
    """For tests and the worker's readiness: True once the position reaches the log head."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if projector.lag() == 0:
            return True
        time.sleep(0.05)
    return False
