"""The read side's own tables (prefix ``view_``), on the same database as the event log.

Everything here can be dropped and rebuilt from the log (``sanshi projections rebuild``).
SQLAlchemy Core, not the ORM: the projector writes thousands of rows per transaction and the
queries are aggregates, so plain tables are both faster and easier to read.

- ``view_tracking``: projection name → id of the last log notification applied. Written in the
  same transaction as the views, so every event is applied exactly once across crashes.
- ``view_counts``: one row per (scope kind, scope key, received day) with the counters behind
  the docs/rates.md rates. A month's rates cost a sum over at most ~31 rows per key, whatever the
  size of the history; ``view_counts_month`` holds the same per month for long ranges.
- ``view_cases``: one row per case: what the search and Open311 show, plus the case's own
  counter vector and the state the projector needs to place later events.
- ``view_open_cases``: one row per case that is not yet terminal (closed / rejected / merged):
  unit inboxes, the centre's manual queue, the follow-up queue, the deadline clock, the router's
  duplicate index at start-up. Carries the full text, which ``view_cases`` does not.
- ``view_quarantine`` (隔离事件): events of the log that the views could not apply, set aside with
  their position, case and error so the views go on with the rest (``projector``). Owned by the
  projections like the others: a reset empties it, a rebuild lists again what it cannot apply.
  Kept out of ``VIEW_TABLES`` (the numbers): its error text depends on the database.
- ``view_lessons`` (纠错经验): the router's lessons, one row per correction (``projections.lessons``).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Dialect,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
    create_engine,
    event,
    text,
)
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import StaticPool

from engine.deadlines import SHANGHAI

# The counters of docs/rates.md, in a fixed order (also the order of the vector in the fold).
COUNT_FIELDS: tuple[str, ...] = (
    "received",
    "merged",
    "rejected",
    "dispatched",
    "claimed_on_time",
    "returned",
    "resolved",
    "resolved_on_time",
    "mediations_concluded",
    "mediations_succeeded",
    "followups",
    "solved",
    "rated",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    # 通报 / 追责 of a unit by the centre (engine.forms.Censure): on the day it was made, for the
    # unit and the district total only (no case scope: a censure need not be about a case).
    "notices",
    "accountabilities",
    "closed_unreachable",  # 未接通结案: closed after unanswered follow-up calls (docs/rates.md)
)

SNIPPET_CHARS = 120


# The instants the views can hold, in naive UTC: a day inside ``datetime``'s range at both ends,
# so that reading one back in Asia/Shanghai (+8) or a day's arithmetic on it cannot overflow.
# The log keeps what the event said; a view shows a deadline of 9999-12-31T23:59:59-12:00 (after
# the end of year 9999 in UTC) as the last instant it can (docs/architecture.md: the log is the truth).
MIN_STAMP = dt.datetime(1, 1, 2)
MAX_STAMP = dt.datetime(9999, 12, 30)


def utc_naive(value: dt.datetime) -> dt.datetime:
    """An aware datetime as naive UTC, clamped to [MIN_STAMP, MAX_STAMP] (order preserved)."""
    try:
        utc = value.astimezone(dt.UTC).replace(tzinfo=None)
    except OverflowError:  # beyond year 1 or 9999 once in UTC
        return MAX_STAMP if value.year > 5000 else MIN_STAMP
    if utc > MAX_STAMP:
        return MAX_STAMP
    if utc < MIN_STAMP:
        return MIN_STAMP
    return utc


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes in, stored as naive UTC (portable between SQLite and PostgreSQL),
    aware Asia/Shanghai datetimes out."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime) or value.tzinfo is None:
            raise ValueError(f"need an aware datetime, got {value!r}")
        return utc_naive(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC).astimezone(SHANGHAI)


metadata = MetaData()

view_tracking = Table(
    "view_tracking",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False, default=0),
)

view_counts = Table(
    "view_counts",
    metadata,
    # total, unit, channel, category or street; "by month" groups rows by their month column
    Column("kind", String(16), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("month", String(7), nullable=False),
    *(Column(f, BigInteger, nullable=False, default=0) for f in COUNT_FIELDS),
)
Index("ix_view_counts_kind_day", view_counts.c.kind, view_counts.c.day)

# The same counters rolled up per month: a query over years reads months, not days (5 years of
# 45 units: 2,700 rows instead of 82,000), and only the partial months at its edges read days.
view_counts_month = Table(
    "view_counts_month",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("month", String(7), primary_key=True),
    *(Column(f, BigInteger, nullable=False, default=0) for f in COUNT_FIELDS),
)


def _state_columns() -> list[Column[Any]]:
    """What the projector keeps about a case's place in the lifecycle (both case tables)."""
    return [
        Column("status", String(24), nullable=False),
        Column("category", String(64), nullable=False, default=""),
        Column("locality", String(64), nullable=False, default=""),
        Column("street", String(64), nullable=False, default=""),
        Column("unit", String(64)),  # the unit it is with now (dispatched/claimed/mediating)
        Column("resp_unit", String(64), nullable=False),  # the unit its case-level counts sit with
        Column("urgent", Boolean, nullable=False, default=False),
        Column("escalation_level", Integer, nullable=False, default=0),
        Column("manual_reason", Text),
        Column("return_count", Integer, nullable=False, default=0),
        Column("dispatch_number", Integer, nullable=False, default=0),
        Column("dispatched_at", UtcDateTime),
        Column("claim_deadline", UtcDateTime),
        Column("handle_deadline", UtcDateTime),
        Column("claimed_at", UtcDateTime),
        Column("extension_requested_to", UtcDateTime),
        # 待审延期 oldest first: when the unit asked.
        Column("extension_requested_at", UtcDateTime),
        Column("claim_escalated", Boolean, nullable=False, default=False),
        Column("handle_escalated", Boolean, nullable=False, default=False),
        # 挂起: a request waiting for the centre, and the start of the current suspension.
        Column("hold_requested_at", UtcDateTime),
        Column("held_since", UtcDateTime),
        Column("resume_expected", UtcDateTime),  # the deadline clock resumes the case then
        # 领导批示: how many, answered, answered on time; the waiting one's time and deadline.
        Column("instructions", Integer, nullable=False, default=0),
        Column("instructions_answered", Integer, nullable=False, default=0),
        Column("instructions_on_time", Integer, nullable=False, default=0),
        Column("instruction_at", UtcDateTime),
        Column("instruction_due", UtcDateTime),
        # A merged caller due a callback: the original was resolved (待回访).
        Column("callback_due", Boolean, nullable=False, default=False),
        # 退单审核: the return waiting for the centre (when, by which unit, the unit it named,
        # its reason: sealed with SANSHI_CIPHER_KEY, a unit may quote the resident).
        Column("return_pending_at", UtcDateTime),
        Column("return_from", String(64)),
        Column("return_suggested", String(64)),
        Column("return_reason", Text),
        # 待回访: since when the case waits for its follow-up call, the calls nobody answered,
        # and whether that is enough for 未接通结案.
        Column("callback_since", UtcDateTime),
        Column("callbacks_unanswered", Integer, nullable=False, default=0),
        Column("callback_closable", Boolean, nullable=False, default=False),
    ]


view_cases = Table(
    "view_cases",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("source_ref", String(200), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("received_day", Date, nullable=False),
    Column("received_month", String(7), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("concern", String(16), nullable=False, default="worry"),
    # Text, not String(500) / String(120): with SANSHI_CIPHER_KEY these hold sealed base64
    # (projections.sealed), ~4.5 characters per character of Chinese, and PostgreSQL enforces
    # varchar lengths. The fold still cuts the plain text at 500 / SNIPPET_CHARS.
    Column("address", Text, nullable=False, default=""),
    Column("snippet", Text, nullable=False, default=""),
    Column("lat", Float),
    Column("lng", Float),
    Column("units", Text, nullable=False, default=""),  # "|a|b|": every unit it was sent to
    Column("merged_into", Uuid),
    Column("resolved_unit", String(64)),
    Column("resolved_at", UtcDateTime),
    Column("result", Text),
    *_state_columns(),
    # the case's own counter vector (what it contributes to its channel/category/street/total)
    *(Column(f, Integer, nullable=False, default=0) for f in COUNT_FIELDS),
)
Index("ix_view_cases_received_day", view_cases.c.received_day)
Index("ix_view_cases_status", view_cases.c.status)
Index("ix_view_cases_unit", view_cases.c.unit)
Index("ix_view_cases_category", view_cases.c.category)

view_open_cases = Table(
    "view_open_cases",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("channel", String(16), nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("content", Text, nullable=False),
    Column("address", Text, nullable=False, default=""),
    Column("concern", String(16), nullable=False, default="worry"),
    # For the router's duplicate index when it takes open cases over (a restart, a Kafka
    # worker's new places): who called, as the keyed hashes the index compares
    # (engine.routing.callers; never the number or the name), and the operator's 诉求类型
    # (a 咨询 is merged only for the same caller). The index then files a case it loads as it
    # files one it saw.
    Column("caller_key", String(16), nullable=False, default=""),
    Column("caller_name_key", String(16), nullable=False, default=""),
    Column("appeal_type", String(16), nullable=False, default=""),
    *_state_columns(),
)
Index("ix_view_open_cases_unit", view_open_cases.c.unit)
Index("ix_view_open_cases_status", view_open_cases.c.status)

# 纠错经验: every correction of the router, one row per lesson (projections.lessons): an
# operator's re-categorisation (text → category), a return (place+category → not this unit, and
# the unit it suggested), the unit the centre chose by hand (place+category → that unit). Routers
# load it at start-up and follow it by position, instead of scanning the log. ``position``: the
# log notification the lesson comes from. Text, place keys and the return's reason are sealed
# with SANSHI_CIPHER_KEY (the routers read every row, never look one up by place).
view_lessons = Table(
    "view_lessons",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("kind", String(16), primary_key=True),  # category · unit · not_unit
    Column("case_id", Uuid, nullable=False),
    Column("category", String(64), nullable=False),
    Column("unit", String(64)),
    Column("place", Text),
    Column("area", Text),
    Column("text", Text, nullable=False, default=""),
    Column("source", String(16), nullable=False),  # reclassify · return · suggested · dispatch
    Column("note", Text, nullable=False, default=""),
    Column("at", UtcDateTime, nullable=False),
)

# 主办/协办 (projections.coop): one row per part of a co-handled case, with its own clocks and
# what became of it; the figures of docs/rates.md (协办与吹哨) are sums over these rows. No text.
view_parts = Table(
    "view_parts",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("unit", String(64), nullable=False),  # the assisting unit
    Column("lead_unit", String(64)),  # the lead holding the case when the part was added
    Column("whistle", Integer),  # the whistle (吹哨) that called it in, if any
    Column("received_day", Date, nullable=False),  # the case's: figures count on that day
    Column("state", String(16), nullable=False),
    Column("added_at", UtcDateTime, nullable=False),
    Column("claim_deadline", UtcDateTime, nullable=False),
    Column("handle_deadline", UtcDateTime, nullable=False),
    Column("claimed_at", UtcDateTime),
    Column("claimed_on_time", Boolean),
    Column("reported_at", UtcDateTime),
    Column("reported_on_time", Boolean),
    Column("returned_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("claim_escalated", Boolean, nullable=False, default=False),
    Column("handle_escalated", Boolean, nullable=False, default=False),
)
Index("ix_view_parts_unit_state", view_parts.c.unit, view_parts.c.state)

# 吹哨报到: one row per whistle blown (the departments it called are parts above).
view_whistles = Table(
    "view_whistles",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("unit", String(64), nullable=False),  # the street or community that whistled
    Column("received_day", Date, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("due", UtcDateTime, nullable=False),
    Column("departments", Integer, nullable=False),
)
# 退单 (docs/lifecycle.md, Returns): one row per return, what became of it (pending, approved,
# refused, auto, lapsed) and where the case went; the disputed returns per unit pair
# (``ReadModel.return_pairs``) and the 待审退单 counts are sums over it (``projections.returns``).
view_returns = Table(
    "view_returns",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("number", Integer, primary_key=True),  # the case's return count at this return
    Column("unit", String(64), nullable=False),  # the unit that returned it
    Column("suggested_unit", String(64), nullable=False, default=""),  # "" when none named
    Column("returned_at", UtcDateTime, nullable=False),
    Column("returned_day", Date, nullable=False),
    Column("decision", String(16), nullable=False),  # engine.vocabulary.RETURN_DECISIONS
    Column("decided_at", UtcDateTime),
    Column("to_unit", String(64)),  # approved: where the centre sent it; refused: the unit
)
Index("ix_view_returns_day", view_returns.c.returned_day)

# 知识库 (projections.knowledge): one row per entry as it stands, with how many 咨询 were
# answered from it (直办 naming the entry); and one row per proposed change (建议修改). The
# entries are the centre's public answers, not residents' words: nothing here is sealed.
view_knowledge = Table(
    "view_knowledge",
    metadata,
    Column("entry_id", Uuid, primary_key=True),
    Column("ref", String(100), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("category", String(64), nullable=False, default=""),
    Column("unit", String(64), nullable=False, default=""),
    Column("source", Text, nullable=False, default=""),
    Column("valid_from", Date),
    Column("valid_until", Date),
    Column("retired", Boolean, nullable=False, default=False),
    Column("retired_reason", Text, nullable=False, default=""),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("changes", Integer, nullable=False, default=0),  # events after the creation
    Column("answers", Integer, nullable=False, default=0),  # 直办 from this entry
    Column("last_answered_at", UtcDateTime),
    Column("position", BigInteger, nullable=False),  # the last event applied (the ranker's key)
)

view_knowledge_proposals = Table(
    "view_knowledge_proposals",
    metadata,
    Column("entry_id", Uuid, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("unit", String(64), nullable=False),
    Column("changes", Text, nullable=False),  # JSON: field → [before, after]
    Column("note", Text, nullable=False, default=""),
    Column("state", String(16), nullable=False),  # pending · accepted · rejected
    Column("proposed_by", String(200), nullable=False),
    Column("proposed_at", UtcDateTime, nullable=False),
    Column("decided_by", String(200)),
    Column("decided_at", UtcDateTime),
    Column("decision_note", Text, nullable=False, default=""),
)
Index("ix_view_knowledge_proposals_state", view_knowledge_proposals.c.state)

# 认领大厅 (projections.shelf): one row per listing of a case on the open shelf, and one per
# claim made on it (认领申请) with what the centre decided. ``summary`` is the centre's own
# description written for the helpers (no caller's words or number), so it is not sealed.
view_shelf = Table(
    "view_shelf",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("number", Integer, primary_key=True),  # the case's listing number
    Column("service", String(64), nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("category", String(64), nullable=False, default=""),
    Column("street", String(64), nullable=False, default=""),
    Column("received_day", Date, nullable=False),
    Column("listed_at", UtcDateTime, nullable=False),
    Column("listed_day", Date, nullable=False),
    Column("state", String(16), nullable=False),  # engine.vocabulary.SHELF_STATES
    Column("unit", String(64)),  # taken: the claimant the centre accepted
    Column("ended_at", UtcDateTime),
)
Index("ix_view_shelf_state", view_shelf.c.state)

view_shelf_claims = Table(
    "view_shelf_claims",
    metadata,
    Column("case_id", Uuid, primary_key=True),
    Column("number", Integer, primary_key=True),  # the case's claim number
    Column("listing", Integer, nullable=False),
    Column("unit", String(64), nullable=False),
    Column("note", Text, nullable=False, default=""),
    Column("applied_at", UtcDateTime, nullable=False),
    Column("applied_day", Date, nullable=False),
    Column("state", String(16), nullable=False),  # engine.vocabulary.CLAIM_STATES
    Column("reason", Text, nullable=False, default=""),
    Column("decided_at", UtcDateTime),
)
Index("ix_view_shelf_claims_unit", view_shelf_claims.c.unit, view_shelf_claims.c.applied_day)

# 实事项目 (projections.projects): each project, its plan's milestones, its linked cases with
# what their residents said when called back after the project's completion.
view_projects = Table(
    "view_projects",
    metadata,
    Column("project_id", Uuid, primary_key=True),
    Column("title", Text, nullable=False),
    Column("owner_unit", String(64), nullable=False),
    Column("deadline", Date, nullable=False),
    Column("budget", Text, nullable=False, default=""),
    Column("status", String(16), nullable=False),  # open / completed (PROJECT_STATUSES)
    Column("opened_by", String(200), nullable=False),
    Column("opened_at", UtcDateTime, nullable=False),
    Column("completed_at", UtcDateTime),
    Column("result", Text, nullable=False, default=""),
    Column("on_time", Boolean),  # completed on or before the deadline day; None while open
    Column("progress_reports", Integer, nullable=False, default=0),
    Column("last_progress_at", UtcDateTime),
    Column("position", BigInteger, nullable=False),
)
view_project_milestones = Table(
    "view_project_milestones",
    metadata,
    Column("project_id", Uuid, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("due", Date, nullable=False),
    Column("done_at", UtcDateTime),
    Column("on_time", Boolean),  # reached on or before its due day; None until reached
    Column("reports", Integer, nullable=False, default=0),
    Column("last_note", Text, nullable=False, default=""),
)
view_project_cases = Table(
    "view_project_cases",
    metadata,
    Column("case_id", Uuid, primary_key=True),  # a case is in at most one project
    Column("project_id", Uuid, nullable=False),
    Column("linked_at", UtcDateTime, nullable=False),
    Column("project_done", Boolean, nullable=False, default=False),
    # 回访 after the project's completion: calls answered, the last one's answer.
    Column("followups", Integer, nullable=False, default=0),
    Column("rated", Integer, nullable=False, default=0),
    Column("satisfied", Integer, nullable=False, default=0),  # 满意 + 基本满意, per call
    Column("last_rating", String(32), nullable=False, default=""),
)
Index("ix_view_project_cases_project", view_project_cases.c.project_id)

VIEW_TABLES = (
    view_counts,
    view_counts_month,
    view_cases,
    view_open_cases,
    view_lessons,
    view_parts,
    view_whistles,
    view_returns,
    view_knowledge,
    view_knowledge_proposals,
    view_shelf,
    view_shelf_claims,
    view_projects,
    view_project_milestones,
    view_project_cases,
)

# Every column text, the error cut to ``QUARANTINE_ERROR_CHARS`` by the projector: whatever the
# event held, setting it aside must not fail in its turn (an odd case id or topic included).
view_quarantine = Table(
    "view_quarantine",
    metadata,
    Column("position", BigInteger, primary_key=True),  # the event's notification id
    Column("case_id", Text, nullable=False),
    Column("version", BigInteger, nullable=False),  # the case's version: the event's place in it
    Column("topic", Text, nullable=False),
    Column("event_type", Text, nullable=False),  # the class name: Received, Resolved, …
    Column("error", Text, nullable=False),  # sealed with SANSHI_CIPHER_KEY (projections.sealed)
)

# What a reset drops and recreates, and what the schema check compares.
PROJECTION_TABLES = (*VIEW_TABLES, view_quarantine)
QUARANTINE_ERROR_CHARS = 300

# Columns the projector keeps for each case between batches (view_cases minus case_id).
CASE_COLUMNS: tuple[str, ...] = tuple(c.name for c in view_cases.columns if c.name != "case_id")
# Fixed at intake: written once, never updated.
INTAKE_COLUMNS = frozenset(
    {
        "channel",
        "source_ref",
        "received_at",
        "received_day",
        "received_month",
        "concern",
        "address",
        "snippet",
        "lat",
        "lng",
        "content",
        "caller_key",
        "caller_name_key",
        "appeal_type",
    }
)
OPEN_COLUMNS: tuple[str, ...] = tuple(c.name for c in view_open_cases.columns if c.name != "case_id")


def make_engine(url: str) -> Engine:
    """An engine for the views on the log's database.

    SQLite: the driver's implicit transactions are replaced by explicit ``BEGIN`` so that a
    connection run with ``execution_options(sqlite_begin="IMMEDIATE")`` takes the write lock
    before it reads anything (the projector's tracking check); otherwise a WAL snapshot taken
    by a plain BEGIN could go stale and fail instead of waiting. ``sqlite://`` (memory mode)
    shares one connection, or every thread would see its own empty database.
    """
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            # WAL (set by the event store) + NORMAL: a power cut may lose the last commits of
            # the views, never corrupt them; as views and position commit together, the lost
            # batches are simply applied again. Saves an fsync per batch.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "")
            conn.exec_driver_sql(f"BEGIN {mode}".strip())

        return engine
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return ping_when_idle(create_engine(url, pool_size=5, max_overflow=10))


# A connection back in the pool for less than this is taken as alive without asking.
IDLE_BEFORE_PING_S = 2.0


def ping_when_idle(engine: Engine, idle_seconds: float = IDLE_BEFORE_PING_S) -> Engine:
    """SQLAlchemy's ``pool_pre_ping`` check, made only for a connection that has sat in the
    pool for ``idle_seconds`` or more (the pool's checkin and checkout events).

    ``pool_pre_ping`` sends ``SELECT 1`` at every checkout: under load that is one round trip
    more for every statement, and the API's read audit (one insert) paid two (bench/RESULTS.md,
    API write path, twentieth session). A connection used a moment ago is as alive as the
    last statement proved it; one that died since fails its statement with a disconnect
    error, which makes SQLAlchemy discard the pool's older connections, as a failed ping
    would have. A connection that fails this check is replaced before it is handed out (the
    checkout event's ``DisconnectionError``)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["sanshi_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("sanshi_idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        dialect = engine.dialect
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as e:
            if dialect.is_disconnect(e, dbapi_connection, None):
                raise DisconnectionError(str(e)) from e
            raise

    return engine


# The advisory lock's key under which tables are created on PostgreSQL: "sanshiRM" read as a
# 64-bit integer; the event store's tables have their own (``adapters.eventstore``).
SCHEMA_LOCK_KEY = int.from_bytes(b"sanshiRM", "big")


def create_schema(schema: MetaData, engine: Engine, tables: list[Table] | None = None) -> None:
    """``schema.create_all``, idempotent and safe when several processes start at once on a
    fresh database. Every store of the house creates its tables through this.

    - PostgreSQL: the check-then-create runs in one transaction under an advisory lock, so
      a second process waits and then finds the tables (its ``CREATE ... IF NOT EXISTS``
      racing the first one's would fail on ``pg_type``'s unique index).
    - SQLite: under the write lock from its BEGIN. With a plain BEGIN, another process
      creating its tables at the same moment (a worker and ``sanshi ingest`` starting
      together) makes the CREATE fail at once with "database is locked" instead of waiting.
    """
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            schema.create_all(conn, tables=tables, checkfirst=True)
        return
    bind = engine.execution_options(sqlite_begin="IMMEDIATE")
    schema.create_all(bind, tables=tables, checkfirst=True)


def create_tables(engine: Engine) -> None:
    """The views' tables (:func:`create_schema`)."""
    create_schema(metadata, engine)
