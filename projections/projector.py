"""The projector: follows the event log and keeps the ``view_`` tables up to date.

It polls the log from its tracked position (``log_reader``: one plain ``SELECT`` on PostgreSQL,
``recorder.select_notifications`` otherwise; SQLite has no subscriptions, and on PostgreSQL
eventsourcing locks the events table per insert, so notification ids become visible in order
and polling by position never skips one). Each batch of events is applied in ONE database
transaction together with the new position, so every event is applied exactly once, across
crashes and across several projectors running at once:

- the transaction starts by moving the tracking row from the position the batch was read at to
  the batch's last id (``UPDATE … WHERE position = expected``). That takes the row lock on
  PostgreSQL and the write lock on SQLite (``BEGIN IMMEDIATE``); if another projector got there
  first, nothing matches, the batch is dropped and re-read from the new position.
- a crash before commit loses the whole batch, views and position together.

Batches make a rebuild run at a fair fraction of read speed: the case rows of a batch come from
a cache of open cases or one query, events are decoded from their stored JSON straight into
dicts (``log_reader``), the fold runs in memory, each touched case is written once per batch
however many events it had (new cases by COPY on PostgreSQL, known ones with only the columns
the batch changed), and the counter upserts are summed per (scope, key, day) first (see
``driver_sql``). Live catch-up uses 1,000 events a transaction (a SQLite write lock held
briefly); once a read comes back full there is a backlog (a rebuild, a catch-up after a pause)
and PostgreSQL goes on with 10,000 (``backlog_batch_size``: fewer transactions and round trips
for the same events, a faster rebuild: bench/RESULTS.md); ``sanshi projections rebuild`` 10,000
on both.

Events the views cannot apply (隔离事件, quarantine). The log accepts what the domain accepted,
and a view may still fail on it (a value its database cannot hold, an attribute a handler does
not expect, an event name the fold has no rule for: ``fold.UnknownEvent``). Such an event must not stop the views: the batch that fails is applied again
event by event inside one transaction, each slice under a savepoint, halving the failing slices
down to the events that fail alone (``_apply_carefully``); those are set aside in
``view_quarantine`` with their position, case, topic and error, in the same transaction as the
good events and the position, so exactly-once still holds and a batch without a bad event costs
nothing extra. Later events of the same case apply to the case's row as the fold knows it,
without the set-aside event (a case whose ``Received`` was set aside has no row, so its later
events have nothing to apply to, as for a truncated log). A rebuild does the same from an empty
quarantine, so it lists the same events. Errors of the database itself (connection lost, lock
timeout, deadlock: the OperationalError family) are never the event's fault: they fail the
catch-up as before and it is retried; and a connection lost in the middle fails the whole
transaction, so nothing is set aside by it. After a fix of the fold, a rebuild applies them.

Some values have a sensible view and apply instead: instants beyond year 1 or 9999 in UTC are
clamped (``tables.utc_naive``), and NUL in any text (PostgreSQL's text cannot hold it) becomes
U+FFFD in the views (``log_reader``); the log keeps the original.

One thread on purpose. Writing a batch in a second thread while the next one is folded, and
reading the next batch ahead in a thread, were both tried on PostgreSQL and gained little or
nothing (bench/RESULTS.md, "Tried and left out"): every round trip of the writer waits for the
GIL behind the fold (up to the interpreter's switch interval), and the server, the fold and
everything else share the machine's two cores. Neither was worth a second thread and the
exactly-once reasoning it needs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import math
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from sqlalchemy import Connection, Engine, String, func, inspect, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from engine.application import SanshiApplication
from engine.domain import LEGACY_CENTRE
from engine.routing.callers import CallerKeys
from projections.coop import COOP_EVENTS, CoopFold, CoopPending, CoopWrites
from projections.driver_sql import CountsWriter, DriverSQL, RowWriter
from projections.fold import TERMINAL, UNREAD, CaseFold, CaseRow, Deltas, month_of
from projections.knowledge import KnowledgeFold, KnowledgePending
from projections.knowledge import wanted as knowledge_wanted
from projections.lessons import LESSON_EVENTS, LessonFold, Pending
from projections.log_reader import CASE_ID, ID, TOPIC, VERSION, LogReader, Stored
from projections.projects import ProjectFold, ProjectPending
from projections.projects import wanted as project_wanted
from projections.returns import RETURN_EVENTS, ReturnFold, ReturnWrites
from projections.sealed import TextSealer
from projections.search import SEARCH_EVENTS, SEARCH_TABLES, SearchFold, SearchKeys, SearchWrites
from projections.shelf import SHELF_EVENTS, ShelfFold, ShelfWrites
from projections.tables import (
    CASE_COLUMNS,
    INTAKE_COLUMNS,
    OPEN_COLUMNS,
    PROJECTION_TABLES,
    QUARANTINE_ERROR_CHARS,
    create_tables,
    view_cases,
    view_knowledge,
    view_lessons,
    view_open_cases,
    view_quarantine,
    view_tracking,
)

log = logging.getLogger("sanshi.projections")

DEFAULT_NAME = "sanshi_views"
LOAD_CHUNK = 500
BACKLOG_BATCH = 10_000
# How old recent_position() may be before it asks the database again (seconds).
RECENT_FOR = 1.0
# How long a read's catch-up waits for the views' position row that another process holds
# (PostgreSQL; seconds). A live batch holds it for well under a second, a 10,000-event backlog
# batch a few seconds on a slow machine; a process stopped inside its batch (paused, frozen,
# swapped out) holds it until it goes on. Past this, the read answers from the views as they
# are instead of hanging behind it.
READ_LOCK_WAIT = 10.0
# The cyclic GC's youngest-generation threshold while a backlog is applied (CPython's default:
# 700). A 10,000-event batch keeps tens of thousands of tracked objects alive (fetched rows, case
# rows, write parameters), so the default ran hundreds of young and a few full collections over
# them a rebuild; with this, a fraction of that GC time (bench/RESULTS.md, second pass).
GC_YOUNG_THRESHOLD = 20_000

Progress = Callable[[int, int], None]  # (last notification id applied, events in the batch)
# What NUL becomes in the views' text (the log keeps it): U+FFFD REPLACEMENT CHARACTER shows
# that something was there.
NUL_IN_VIEWS = "\ufffd"


def _database_fault(exc: BaseException) -> bool:
    """An error of the database or the connection, not of the event being applied: never a
    reason to set an event aside (the catch-up fails and is retried)."""
    transient: tuple[type[BaseException], ...] = (
        sa_exc.OperationalError,
        sqlite3.OperationalError,
        ConnectionError,
        TimeoutError,
        MemoryError,
    )
    try:
        import psycopg

        transient = (*transient, psycopg.OperationalError, psycopg.InterfaceError)
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, Exception):
        return True  # KeyboardInterrupt, SystemExit: not the event's doing
    return isinstance(exc, transient) or isinstance(
        getattr(exc, "orig", None), transient
    )


def _lock_not_available(exc: BaseException) -> bool:
    """PostgreSQL's lock_timeout (SQLSTATE 55P03), raised by the driver or wrapped by SQLAlchemy."""
    for e in (exc, getattr(exc, "orig", None), exc.__cause__):
        if getattr(e, "sqlstate", None) == "55P03":
            return True
    return False


def describe_error(exc: BaseException) -> str:
    """The error as the quarantine lists it: its class and the first line of its message, cut
    short (a database's message may go on with the row's values: the resident's text)."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return text.replace("\x00", NUL_IN_VIEWS)[:QUARANTINE_ERROR_CHARS]


@dataclass(frozen=True)
class Quarantined:
    """An event the views could not apply (隔离事件)."""

    position: int
    case_id: str
    version: int
    topic: str
    event_type: str
    error: str


class _PositionMoved(Exception):
    """Another projector applied these events first (or the views were reset)."""

    def __init__(self, position: int) -> None:
        super().__init__(position)
        self.position = position


class Projector:
    def __init__(
        self,
        app: Application[UUID],
        engine: Engine,
        *,
        centre: str | None = None,
        name: str = DEFAULT_NAME,
        batch_size: int = 1000,
        backlog_batch_size: int | None = None,
        cache_size: int = 20_000,
        sealer: TextSealer | None = None,
        search_keys: SearchKeys | None = None,
    ) -> None:
        self.app = app
        self.engine = engine
        self.name = name
        self.batch_size = batch_size
        # Once a read comes back full (a backlog): PostgreSQL takes 10,000 events a
        # transaction, SQLite keeps its short write locks.
        if backlog_batch_size is None:
            backlog_batch_size = batch_size if engine.dialect.name == "sqlite" else BACKLOG_BATCH
        self.backlog_batch_size = backlog_batch_size
        self._sql = DriverSQL(engine.dialect.name)
        if centre is None:  # the configured centre of the application's district
            centre = app.config.centre.id if isinstance(app, SanshiApplication) else LEGACY_CENTRE
        # The router's lessons (view_lessons): place keys need the district's place names.
        self.lessons = LessonFold(
            app.config if isinstance(app, SanshiApplication) else None, sealer
        )
        self.coop = CoopFold()  # 主办/协办: the part rows (projections.coop)
        # 退单 and what became of each (view_returns).
        self.returns = ReturnFold()
        self.shelf = ShelfFold()  # 认领大厅: listings and claims (projections.shelf)
        self.knowledge = KnowledgeFold()  # 知识库: the entries (projections.knowledge)
        self.projects = ProjectFold()  # 实事项目 (projections.projects)
        # 查找 and 来电弹屏 (projections.search): keyed numbers and names, the words of the text
        # (keyed too with the cipher key: a sealer means the key is set).
        if search_keys is None:
            search_keys = SearchKeys.default(hashed=sealer is not None)
        self.search = SearchFold(engine.dialect.name, search_keys)
        # The open cases' callers keyed for the router's duplicate index under the same
        # district secret (engine.routing.callers).
        self.fold = CaseFold(
            centre, stamp=self._sql.stamp, callers=CallerKeys(search_keys.key)
        )
        self._reader = LogReader(app.recorder, app.mapper, unread=UNREAD, nul=NUL_IN_VIEWS)
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
        self._sealer = sealer
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
        self._move_statement = (
            f'UPDATE "view_tracking" SET "position" = {self._sql.ph} '
            f'WHERE "name" = {self._sql.ph} AND "position" = {self._sql.ph}'
        )
        # Rows of recently touched open cases, valid while no other projector has written
        # since our last batch (checked against the tracking position): saves reloading the
        # rows of cases that are being worked on, which is most of them.
        self.cache_size = cache_size
        self._cache: OrderedDict[UUID, CaseRow] = OrderedDict()
        self._cache_position: int | None = None
        # recent_position(): the newest position this process has read or moved to; the
        # database is asked again only when it is older than RECENT_FOR seconds.
        self._recent = 0
        self._recent_at = -math.inf
        self.read_lock_wait = READ_LOCK_WAIT
        # Set for the length of a read's catch-up (under self._lock): _move_position's bound.
        self._lock_wait: float | None = None

    # ---- schema and position -------------------------------------------------------------

    def ensure_schema(self) -> None:
        """Create the view tables and the tracking row if missing (idempotent). Views left by
        a version with other columns are dropped and recreated empty (position 0): the next
        catch-up rebuilds them from the log."""
        had_lessons = inspect(self.engine).has_table(view_lessons.name)
        had_knowledge = inspect(self.engine).has_table(view_knowledge.name)
        create_tables(self.engine)
        with self._writer.begin() as conn:
            conn.execute(self._insert_tracking)
        if not self._schema_is_current():
            log.warning("view tables are from another version: rebuilding them from the log")
            self.reset()
        elif not (had_lessons and had_knowledge) and self.position() > 0:
            # Views from before the lessons view: its rows would start at today's position.
            log.warning("no lessons view yet: rebuilding the views from the log")
            self.reset()

    def _schema_is_current(self) -> bool:
        """Our columns, and our length for every string column: a ``varchar(500)`` left by an
        older version where a Text column now stands would refuse sealed text on PostgreSQL."""
        found = inspect(self.engine)
        for table in (*PROJECTION_TABLES, *SEARCH_TABLES):
            if not found.has_table(table.name):
                return False
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
        self._saw(int(value or 0), read=True)
        return int(value or 0)

    def recent_position(self) -> int:
        """The position as of at most RECENT_FOR seconds ago, or newer: for a reader to whom
        an older position is never wrong, only more work (the router's lessons read the log
        after it: a query per decision saved). A reset here starts it over."""
        if time.monotonic() - self._recent_at > RECENT_FOR:
            return self.position()
        return self._recent

    def _saw(self, position: int, read: bool = False) -> None:
        self._recent = max(self._recent, position)
        if read:
            self._recent_at = time.monotonic()

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
        size = self.batch_size
        with self._lock, contextlib.ExitStack() as backlog:
            pos = self.position()
            conn: Connection | None = None
            try:
                while max_events is None or applied < max_events:
                    limit = size if max_events is None else min(size, max_events - applied)
                    events = self._reader.read(pos, limit)
                    if not events:
                        break
                    if len(events) == limit and size < self.backlog_batch_size:
                        # A full batch: there is a backlog (a rebuild, a catch-up after a
                        # pause). Bigger batches from now on, and fewer GC passes over them.
                        size = self.backlog_batch_size
                        backlog.enter_context(_fewer_collections())
                    if conn is None:
                        # One connection for the whole catch-up (a checkout pings the server).
                        conn = self._writer.connect()
                    try:
                        self._apply_batch(conn, events, pos)
                    except _PositionMoved as moved:
                        pos = moved.position
                        continue
                    except Exception as exc:
                        if _database_fault(exc):
                            raise
                        # An event of this batch cannot be applied: find it, set it aside,
                        # apply the rest (one transaction, as the batch would have been).
                        try:
                            self._apply_carefully(conn, events, pos, exc)
                        except _PositionMoved as moved:
                            pos = moved.position
                            continue
                    pos = events[-1][ID]
                    self._saw(pos)
                    applied += len(events)
                    if progress is not None:
                        progress(pos, len(events))
            finally:
                if conn is not None:
                    conn.close()
        return applied

    def catch_up_quietly(self) -> None:
        """For ``app.on_saved``: the command is already saved, so a projection failure must
        not turn into a command failure; it is logged and the next catch-up retries."""
        try:
            self.catch_up()
        except Exception:
            log.exception("projection catch-up failed; will retry on the next event")

    def catch_up_briefly(self) -> None:
        """As ``catch_up_quietly``, waiting at most ``read_lock_wait`` seconds for the views:
        for this process's catch-up in another thread, and on PostgreSQL for the position row
        another process holds. For a read (``ReadModel.before_read``) and the server's
        catch-up thread after a save: past the wait the read answers from the views as they
        are, and what the holder applies shows on a later read, instead of every read hanging
        while a process is stopped inside its batch (paused, frozen, swapped out). The
        thread's catch-up left undone is done by the next save's or read's."""
        wait = self.read_lock_wait
        # SQLite: one writer at a time anyway (its busy timeout), and no catch-up thread here.
        if not self._lock.acquire(timeout=wait if self._dialect == "postgresql" else -1):
            log.warning("视图追赶等待超过 %.0f 秒（本进程另一追赶未完成）：本次读取使用现有视图", wait)
            return
        try:
            self._lock_wait = wait
            self.catch_up()
        except Exception as exc:
            if _lock_not_available(exc):
                log.warning(
                    "视图追赶等待超过 %.0f 秒（另一进程正占用视图位置）：本次读取使用现有视图", wait
                )
            else:
                log.exception("projection catch-up failed; will retry on the next event")
        finally:
            self._lock_wait = None
            self._lock.release()

    # ---- rebuild -------------------------------------------------------------------------

    def reset(self) -> None:
        """Drop and recreate every view table and set the position to 0, in one transaction
        (both SQLite and PostgreSQL roll DDL back): a rebuild also picks up a new layout."""
        with self._lock, self._writer.begin() as conn:
            self._cache.clear()
            self._cache_position = None
            self._recent, self._recent_at = 0, -math.inf
            conn.execute(
                update(view_tracking)
                .where(view_tracking.c.name == self.name)
                .values(position=0)
            )
            for table in reversed((*PROJECTION_TABLES, *SEARCH_TABLES)):
                table.drop(conn, checkfirst=True)
            for table in (*PROJECTION_TABLES, *SEARCH_TABLES):
                table.create(conn)

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drop the views' contents and replay the whole log. Killed half-way, the views hold
        a consistent prefix of the log with its position: ``catch_up`` (or ``rebuild`` again)
        finishes with the same numbers as an uninterrupted rebuild."""
        self.reset()
        return self.catch_up(progress=progress)

    # ---- one batch -----------------------------------------------------------------------

    def _apply_batch(self, conn: Connection, events: Sequence[Stored], expected: int) -> None:
        """One transaction: move the position, fold the batch onto its cases' rows, write."""
        try:
            with conn.begin():
                self._move_position(conn, expected, events[-1][ID])
                batch = self._prepare(conn, events, expected)
                self._write(conn, batch)
        except BaseException:
            self._forget()  # the cached rows were changed in place
            raise

    def _apply_carefully(
        self, conn: Connection, events: Sequence[Stored], expected: int, first: Exception
    ) -> None:
        """The batch failed on an event's account (``first``): apply it again in one
        transaction, slice by slice under savepoints, and set aside the events that fail on
        their own. The cache is not used: after a rolled-back slice the database is the truth."""
        if conn.in_transaction():  # a failed pipeline may leave it open: the batch is void
            conn.rollback()
        set_aside: list[tuple[Stored, Exception]] = []
        try:
            with conn.begin():
                self._move_position(conn, expected, events[-1][ID])
                self._apply_slice(conn, events, set_aside, first)
                self._set_aside(conn, set_aside)
        finally:
            self._forget()
        for e, exc in set_aside:
            log.error(
                "event %s (case %s, %s) set aside: the views cannot apply it: %s",
                e[ID],
                e[CASE_ID],
                e[TOPIC],
                describe_error(exc),
            )

    def _apply_slice(
        self,
        conn: Connection,
        events: Sequence[Stored],
        set_aside: list[tuple[Stored, Exception]],
        failed: Exception | None = None,
    ) -> None:
        """Apply ``events`` under a savepoint; if they fail, halve them (a slice of one that
        fails is set aside). ``failed``: the error this slice is already known to give."""
        if failed is None:
            self._forget()  # rows from the database as it is now (inside our transaction)
            savepoint = conn.begin_nested()
            try:
                batch = self._prepare(conn, events, -1)
                self._write(conn, batch)
            except Exception as exc:
                if savepoint.is_active:
                    savepoint.rollback()
                if _database_fault(exc):
                    raise
                failed = exc
            else:
                savepoint.commit()
                return
        if len(events) == 1:
            set_aside.append((events[0], failed))
            return
        middle = len(events) // 2
        self._apply_slice(conn, events[:middle], set_aside)
        self._apply_slice(conn, events[middle:], set_aside)

    def _set_aside(self, conn: Connection, set_aside: list[tuple[Stored, Exception]]) -> None:
        if not set_aside:
            return
        seal = self._sealer.seal_text if self._sealer is not None else None
        rows = []
        for e, exc in set_aside:
            topic = str(e[TOPIC]).replace("\x00", NUL_IN_VIEWS)
            error = describe_error(exc)
            rows.append(
                {
                    "position": int(e[ID]),
                    "case_id": str(e[CASE_ID]).replace("\x00", NUL_IN_VIEWS),
                    "version": int(e[VERSION]),
                    "topic": topic,
                    "event_type": topic.rsplit(".", 1)[-1].rsplit(":", 1)[-1],
                    "error": seal(error) if seal is not None else error,
                }
            )
        conn.execute(view_quarantine.insert(), rows)

    def quarantined(self, limit: int = 1000, offset: int = 0) -> list[Quarantined]:
        """The events set aside, oldest first."""
        from projections.sealed import opener

        open_ = opener(self._sealer) if self._sealer is not None else None
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(view_quarantine)
                .order_by(view_quarantine.c.position)
                .limit(limit)
                .offset(offset)
            ).all()
        return [
            Quarantined(
                position=r.position,
                case_id=r.case_id,
                version=r.version,
                topic=r.topic,
                event_type=r.event_type,
                error=open_(r.error) if open_ is not None else r.error,
            )
            for r in rows
        ]

    def quarantined_count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(view_quarantine)).scalar() or 0)

    def _move_position(self, conn: Connection, expected: int, last: int) -> None:
        """The first statement of a batch's transaction: it takes the tracking row (the write
        lock on SQLite) and refuses the batch if another projector moved the position."""
        if self._sql.sqlite:
            moved = conn.exec_driver_sql(self._move_statement, (last, self.name, expected))
            rowcount = moved.rowcount
        else:
            raw: Any = conn.connection.driver_connection
            with raw.cursor() as cur:
                with raw.pipeline():  # BEGIN and these two: one round trip
                    # Views and position commit together, so a batch lost in a server crash
                    # is simply applied again: no need to wait for the WAL flush.
                    cur.execute("SET LOCAL synchronous_commit TO OFF")
                    if self._lock_wait is not None:
                        cur.execute(f"SET LOCAL lock_timeout = {int(self._lock_wait * 1000)}")
                    cur.execute(self._move_statement, (last, self.name, expected))
                rowcount = cur.rowcount
        if rowcount != 1:
            raise _PositionMoved(self._position_in(conn))

    def _forget(self) -> None:
        """The cached rows may be ahead of the database (a batch folded, then not
        committed): drop them, the database has the truth."""
        self._cache.clear()
        self._cache_position = None

    def _position_in(self, conn: Connection) -> int:
        value = conn.execute(
            select(view_tracking.c.position).where(view_tracking.c.name == self.name)
        ).scalar()
        return int(value or 0)

    def _prepare(self, conn: Connection, events: Sequence[Stored], expected: int) -> _Batch:
        """Fold a batch onto its cases' rows (from the cache, or loaded with ``conn``) and
        turn the result into the parameters of its writes. The cache is updated at once and
        dropped if the batch does not commit."""
        if self._cache_position != expected:
            # Someone else wrote the views since our last batch (or we never did): what we
            # remember about cases may be stale.
            self._cache.clear()
        first_versions: dict[UUID, int] = {}
        for e in events:
            first_versions.setdefault(e[CASE_ID], e[VERSION])
        rows, missing = self._cached_rows(first_versions)
        was_open = set(rows)  # the cache holds open cases only
        for i in range(0, len(missing), LOAD_CHUNK):
            for loaded in self._cases.select(conn, missing[i : i + LOAD_CHUNK]):
                cid = loaded["case_id"]
                rows[cid] = loaded
                if loaded["status"] not in TERMINAL:
                    was_open.add(cid)
        # What the known rows hold before the batch: only the columns it changes are updated.
        cases_before = {cid: self._cases.update_values(row) for cid, row in rows.items()}
        open_before = {cid: self._open.update_values(rows[cid]) for cid in was_open}
        deltas = Deltas()
        apply = self.fold.apply
        decode = self._reader.decoder.decode
        note = self.lessons.note
        pending: list[Pending] = []
        coop: list[CoopPending] = []
        returns = ReturnWrites()
        shelf = ShelfWrites()
        knowledge: list[KnowledgePending] = []
        projects: list[ProjectPending] = []
        search = SearchWrites()
        note_search = self.search.note
        # Decoded one at a time and dropped: a batch of decoded events alive at once (~100
        # objects each) made the cyclic GC scan them over and over.
        for e in events:
            cid = e[CASE_ID]
            name, state = decode(e)
            row = apply(rows.get(cid), cid, name, state, deltas)
            if knowledge_wanted(name, state):
                knowledge.append(KnowledgePending(int(e[ID]), cid, name, state))
            if project_wanted(name):
                projects.append(ProjectPending(int(e[ID]), cid, name, state))
            if name in SEARCH_EVENTS and (row is not None or name == "Received"):
                note_search(search, e[ID], cid, name, state)
            if row is not None:
                rows[cid] = row
                if name in LESSON_EVENTS and (lesson := note(e[ID], cid, name, state, row)):
                    pending.append(lesson)
                if name in COOP_EVENTS:
                    coop.append(CoopPending(cid, name, state, row["received_day"], row["unit"]))
                if name in RETURN_EVENTS:
                    self.returns.note(returns, cid, name, state, row)
                if name in SHELF_EVENTS:
                    self.shelf.note(shelf, cid, name, state, row)
        batch = self._batch(events, rows.values(), cases_before, open_before, deltas)
        batch.lessons = self.lessons.rows(conn, pending)
        batch.coop = self.coop.prepare(conn, coop)
        batch.returns = returns
        batch.shelf = shelf
        batch.knowledge = knowledge
        batch.projects = projects
        batch.search = search
        self._remember(rows.values())
        self._cache_position = batch.last
        return batch

    def _cached_rows(
        self, first_versions: dict[UUID, int]
    ) -> tuple[dict[UUID, CaseRow], list[UUID]]:
        """The rows of these cases that the cache has, and the ids to load. ``first_versions``:
        the version of each case's first event in the batch; a case that starts with its
        ``Received`` (version 1) has no row yet, so it is not looked for."""
        rows: dict[UUID, CaseRow] = {}
        missing: list[UUID] = []
        cache = self._cache
        for cid, version in first_versions.items():
            cached = cache.get(cid)
            if cached is not None:
                rows[cid] = cached
            elif version > 1:
                missing.append(cid)
        return rows, missing

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

    def _batch(
        self,
        events: Sequence[Stored],
        rows: Iterable[CaseRow],
        cases_before: dict[UUID, tuple[Any, ...]],
        open_before: dict[UUID, tuple[Any, ...]],
        deltas: Deltas,
    ) -> _Batch:
        # Every row here had an event in this batch. A case seen for the first time is
        # inserted whole (on PostgreSQL, COPY straight into the table); a known one gets the
        # columns the batch changed. Parameters are taken now, before the rows are cached.
        cases, open_ = self._cases, self._open
        batch = _Batch(events[-1][ID], len(events))
        for row in rows:
            cid = row["case_id"]
            terminal = row["status"] in TERMINAL
            before = cases_before.get(cid)
            if before is None:
                batch.new_cases.append(cases.insert_params(row))  # with its text from Received
                if not terminal:
                    batch.new_open.append(open_.insert_params(row))
                continue
            _add_update(batch.known_cases, cases.update_params(before, row))
            open_was = open_before.get(cid)
            if open_was is None:
                continue  # it was terminal: no open row
            if terminal:
                batch.closed.append(cid)
            else:
                _add_update(batch.known_open, open_.update_params(open_was, row))
        batch.counts = [
            (kind, key, day, month_of(day), vector)
            for (kind, key, day), vector in deltas.nonzero()
        ]
        return batch

    def _write(self, conn: Connection, batch: _Batch) -> None:
        """A prepared batch's writes. On PostgreSQL the statements after the two COPYs go in
        one pipeline: one round trip instead of one each."""
        self._cases.insert(conn, batch.new_cases)
        self._open.insert(conn, batch.new_open)
        if batch.lessons:
            conn.execute(view_lessons.insert(), batch.lessons)
        if batch.coop is not None:
            self.coop.write(conn, batch.coop)
        if batch.returns:
            ReturnFold.write(conn, batch.returns)
        if batch.shelf:
            ShelfFold.write(conn, batch.shelf)
        if batch.knowledge:
            self.knowledge.write(conn, batch.knowledge)
        if batch.projects:
            self.projects.write(conn, batch.projects)
        if batch.search:
            self.search.write(conn, batch.search)
        pipeline: Any = (
            contextlib.nullcontext()
            if self._sql.sqlite
            else conn.connection.driver_connection.pipeline()  # type: ignore[union-attr]
        )
        with pipeline:
            self._cases.update(conn, batch.known_cases)
            self._open.update(conn, batch.known_open)
            self._open.delete(conn, batch.closed)
            self._counts.add(conn, batch.counts)


@dataclass
class _Batch:
    """A folded batch: the parameters of the writes of its transaction."""

    last: int  # id of its last event: the position it moves to
    size: int  # events
    new_cases: list[tuple[Any, ...]] = field(default_factory=list)
    known_cases: dict[tuple[int, ...], list[tuple[Any, ...]]] = field(default_factory=dict)
    new_open: list[tuple[Any, ...]] = field(default_factory=list)
    known_open: dict[tuple[int, ...], list[tuple[Any, ...]]] = field(default_factory=dict)
    closed: list[UUID] = field(default_factory=list)
    counts: list[tuple[str, str, dt.date, str, list[int]]] = field(default_factory=list)
    lessons: list[dict[str, Any]] = field(default_factory=list)  # view_lessons rows
    coop: CoopWrites | None = None  # view_parts / view_whistles (projections.coop)
    returns: ReturnWrites = field(default_factory=ReturnWrites)  # view_returns writes
    shelf: ShelfWrites = field(default_factory=ShelfWrites)  # view_shelf(_claims) writes
    knowledge: list[KnowledgePending] = field(default_factory=list)  # projections.knowledge
    projects: list[ProjectPending] = field(default_factory=list)  # projections.projects
    search: SearchWrites = field(default_factory=SearchWrites)  # view_search


def _add_update(
    updates: dict[tuple[int, ...], list[tuple[Any, ...]]],
    update: tuple[tuple[int, ...], tuple[Any, ...]] | None,
) -> None:
    if update is not None:
        changed, params = update
        updates.setdefault(changed, []).append(params)


_gc_lock = threading.Lock()
_gc_depth = 0
_gc_saved: tuple[int, int, int] = (0, 0, 0)


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the young-generation GC threshold for a while (process-wide: the first of nested
    or concurrent users saves the thresholds, the last one restores them). Garbage cycles are
    still collected, just in fewer, larger passes."""
    global _gc_depth, _gc_saved
    with _gc_lock:
        if _gc_depth == 0:
            _gc_saved = gc.get_threshold()
            young, *older = _gc_saved
            if 0 < young < GC_YOUNG_THRESHOLD:
                gc.set_threshold(GC_YOUNG_THRESHOLD, *older)
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0:
                gc.set_threshold(*_gc_saved)
