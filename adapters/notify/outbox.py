"""The notices' outbox: decided from the log, delivered through the port, recorded in the log.

Three steps, each safe to repeat (docs/notifications.md):

1. :meth:`Notifier.follow` reads the log after its own position (``notice_tracking``) and
   turns each event into notices (``engine.notices.decide``), one row per recipient and
   channel in ``notice_outbox``, keyed by the notice's idempotency key; the rows and the new
   position commit together, so each event is decided once. The log's own records of outcomes
   (``NoticeSent``, ``NoticeAbandoned``) close their rows, so an outbox rebuilt from the log
   knows what was sent.
2. :meth:`Notifier.scan` decides what the clock calls for: 即将到期 (an open case's handling
   deadline within ``deadline_warning_hours``, from the open-cases view) and the leaders'
   每日摘要 (once a day from ``digest_hour``). Their keys name the deadline and the day, so a
   second scan adds nothing.
3. :meth:`Notifier.deliver` sends the rows that are due: first it asks the log whether the
   notice has an outcome already (another sender, a crash after delivering), then sends through
   the channel's sender, then records ``NoticeSent`` through the application service. A failure
   is tried again after ``retry_seconds``; after ``max_attempts`` (or a refusal for good) the
   notice is ``NoticeAbandoned`` in the log and a dead letter (``source='notify'``).

Delivery is at least once, with the key: a sender killed between delivering and recording
delivers again on restart with the same ``Idempotency-Key``, and the receiver drops it.

Not a projection: ``sanshi projections rebuild`` leaves it alone; dropping its tables replays
the log from the start, and the log's outcomes stop every notice already sent.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from adapters.channels import DeadLetter
from engine.application import CaseNotFound, SanshiApplication
from engine.deadlines import SHANGHAI
from engine.notices import (
    DECIDING_EVENTS,
    NOTICE_EVENTS,
    Audience,
    Intent,
    NoticeChannel,
    NoticeKind,
    NotificationSettings,
    deadline_near,
    decide,
    digest,
    notice_key,
    resident_withheld,
)
from engine.vocabulary import DEADLINE_KINDS
from projections.fold import WITH_UNIT
from projections.log_reader import CASE_ID, ID, TOPIC, VERSION, LogReader
from projections.sealed import TextSealer
from projections.tables import create_schema, view_cases, view_open_cases

from .port import DeliveryFailed, NoticeSender, OutgoingNotice

if TYPE_CHECKING:
    from adapters.transport.dead_letters import DeadLetterStore

log = logging.getLogger("sanshi.notify")

PENDING, SENT, WITHHELD, DEAD = "pending", "sent", "withheld", "dead"
TRACKING_NAME = "sanshi_notices"
# Events read per transaction while following the log.
FOLLOW_BATCH = 1000
# The statuses of cases a unit holds: a deadline warning is for these only (a suspended case's
# clock is stopped).
HELD = sorted(WITH_UNIT)
WANTED = DECIDING_EVENTS | NOTICE_EVENTS

metadata = MetaData()

notice_outbox = Table(
    "notice_outbox",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("kind", String(24), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("audience", String(16), nullable=False),
    Column("target", String(128), nullable=False),
    Column("address", Text, nullable=False),  # "" for a resident (read from the case) and the webhook
    Column("case_id", String(36), index=True),
    Column("source", String(200), nullable=False),
    Column("fields", Text, nullable=False),  # JSON; sealed with SANSHI_CIPHER_KEY
    Column("status", String(16), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("receipt", Text, nullable=False),
    Column("next_at", DateTime, nullable=False, index=True),  # naive UTC
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

notice_tracking = Table(
    "notice_tracking",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


def _utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(tzinfo=None)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    return str(value)


@dataclass(frozen=True)
class OutboxRow:
    key: str
    kind: str
    channel: str
    audience: str
    target: str
    address: str
    case_id: UUID | None
    source: str
    fields: dict[str, Any]
    status: str
    attempts: int
    reason: str
    receipt: str
    next_at: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "channel": self.channel,
            "audience": self.audience,
            "target": self.target,
            "case_id": str(self.case_id) if self.case_id else None,
            "status": self.status,
            "attempts": self.attempts,
            "reason": self.reason,
        }


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0  # tries that failed (each is tried again or abandoned)
    abandoned: int = 0
    withheld: int = 0
    already: int = 0  # found with an outcome in the log: not sent again

    def __iadd__(self, other: DeliveryStats) -> DeliveryStats:
        self.sent += other.sent
        self.failed += other.failed
        self.abandoned += other.abandoned
        self.withheld += other.withheld
        self.already += other.already
        return self

    @property
    def tried(self) -> int:
        return self.sent + self.failed + self.withheld + self.already


@dataclass
class Notifier:
    app: SanshiApplication
    engine: Engine
    senders: Mapping[str, NoticeSender]
    dead_letters: DeadLetterStore | None = None
    sealer: TextSealer | None = None
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(SHANGHAI)
    # First start: from the log's beginning (tests) or from its head (a district turning
    # notifications on is told of what happens from then on, not of its whole past).
    from_start: bool = False
    totals: DeliveryStats = field(default_factory=DeliveryStats)

    def __post_init__(self) -> None:
        self._reader = LogReader(self.app.recorder, self.app.mapper)
        self._lock = threading.RLock()  # one step at a time in this process
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._insert: Any = (
            postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        )
        self._writer = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE")
            if self.engine.dialect.name == "sqlite"
            else self.engine
        )
        create_schema(metadata, self.engine)
        head = 0 if self.from_start else int(self.app.recorder.max_notification_id() or 0)
        with self._writer.begin() as conn:
            conn.execute(
                self._insert(notice_tracking)
                .values(name=TRACKING_NAME, position=head)
                .on_conflict_do_nothing(index_elements=["name"])
            )

    @property
    def settings(self) -> NotificationSettings:
        return self.app.config.notifications

    # ---- 1. the log → the outbox ------------------------------------------------------------

    def position(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(notice_tracking.c.position).where(notice_tracking.c.name == TRACKING_NAME)
                ).scalar()
                or 0
            )

    def follow(self, max_events: int | None = None) -> int:
        """Decide the notices of the events after the position; returns the events read."""
        read = 0
        with self._lock:
            pos = self.position()
            while max_events is None or read < max_events:
                events = self._reader.read(pos, FOLLOW_BATCH)
                if not events:
                    break
                rows: list[dict[str, Any]] = []
                outcomes: list[tuple[str, str, str]] = []
                now = self.now()
                for e in events:
                    if str(e[TOPIC]).rsplit(".", 1)[-1] not in WANTED:
                        continue  # decoding a Classified (the router's whole explanation) costs
                    name, state = self._reader.decoder.decode(e)
                    if name in NOTICE_EVENTS:
                        status = SENT if name == "NoticeSent" else DEAD
                        outcomes.append((str(state["key"]), status, str(state.get("reason") or "")))
                        continue
                    if not self.settings.enabled:
                        continue
                    for intent in decide(name, state, e[CASE_ID], int(e[VERSION])):
                        rows.extend(self._rows(intent, now))
                last = int(events[-1][ID])
                with self._writer.begin() as conn:
                    moved = conn.execute(
                        update(notice_tracking)
                        .where(and_(notice_tracking.c.name == TRACKING_NAME,
                                    notice_tracking.c.position == pos))
                        .values(position=last)
                    ).rowcount
                    if moved != 1:  # another notifier took these events: read on from there
                        pos = self._position_in(conn)
                        continue
                    self._add(conn, rows)
                    for key, status, reason in outcomes:
                        conn.execute(
                            update(notice_outbox)
                            .where(notice_outbox.c.key == key)
                            .values(status=status, reason=reason, updated_at=_utc(now))
                        )
                pos = last
                read += len(events)
        return read

    def _position_in(self, conn: Connection) -> int:
        return int(
            conn.execute(
                select(notice_tracking.c.position).where(notice_tracking.c.name == TRACKING_NAME)
            ).scalar()
            or 0
        )

    def _addresses(self, intent: Intent) -> list[tuple[str, str]]:
        """(channel, address) of each way this recipient is told, among the channels this
        process has a sender for."""
        if intent.audience == Audience.RESIDENT:
            found = [(NoticeChannel.SMS.value, "")]
        else:
            if intent.audience == Audience.UNIT:
                contact = self.settings.units.get(intent.target)
            else:
                contact = next((lead for lead in self.settings.leaders if lead.name == intent.target), None)
            if contact is None:
                return []
            found = [(NoticeChannel.EMAIL.value, a) for a in contact.email]
            found += [(NoticeChannel.SMS.value, a) for a in contact.sms]
            if contact.webhook:
                found.append((NoticeChannel.WEBHOOK.value, ""))
        return [(c, a) for c, a in found if c in self.senders]

    def _rows(self, intent: Intent, now: dt.datetime) -> list[dict[str, Any]]:
        text = json.dumps(intent.fields, ensure_ascii=False, default=_json_default)
        if self.sealer is not None:
            text = self.sealer.seal_text(text)
        at = _utc(now)
        return [
            {
                "key": notice_key(intent.source, intent.kind, intent.target, channel, address),
                "kind": intent.kind.value,
                "channel": channel,
                "audience": intent.audience.value,
                "target": intent.target,
                "address": address,
                "case_id": str(intent.case_id) if intent.case_id else None,
                "source": intent.source,
                "fields": text,
                "status": PENDING,
                "attempts": 0,
                "reason": "",
                "receipt": "",
                "next_at": at,
                "created_at": at,
                "updated_at": at,
            }
            for channel, address in self._addresses(intent)
        ]

    def _add(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        if not rows:
            return 0
        result = conn.execute(
            self._insert(notice_outbox).on_conflict_do_nothing(index_elements=["key"]), rows
        )
        return max(0, int(result.rowcount or 0))

    # ---- 2. what the clock calls for ----------------------------------------------------------

    def scan(self) -> int:
        """即将到期 and 每日摘要; returns how many rows were added."""
        if not self.settings.enabled:
            return 0
        now = self.now()
        with self._lock:
            intents = self._deadlines_near(now) + self._digests(now)
            rows = [r for i in intents for r in self._rows(i, now)]
            if not rows:
                return 0
            with self._writer.begin() as conn:
                return self._add(conn, rows)

    def _deadlines_near(self, now: dt.datetime) -> list[Intent]:
        t = view_open_cases
        horizon = now + dt.timedelta(hours=self.settings.deadline_warning_hours)
        stmt = select(t.c.case_id, t.c.unit, t.c.handle_deadline).where(
            t.c.status.in_(HELD),
            t.c.handle_escalated.is_(False),
            t.c.handle_deadline > now,
            t.c.handle_deadline <= horizon,
        )
        with self.engine.connect() as conn:
            found = conn.execute(stmt).all()
        return [
            deadline_near(cid, unit, _aware(deadline))
            for cid, unit, deadline in found
            if unit
        ]

    def _digests(self, now: dt.datetime) -> list[Intent]:
        leaders = self.settings.leaders
        local = now.astimezone(SHANGHAI)
        if not leaders or local.hour < self.settings.digest_hour:
            return []
        day = local.date() - dt.timedelta(days=1)
        start = dt.datetime.combine(day, dt.time(), SHANGHAI)
        end = start + dt.timedelta(days=1)
        with self.engine.connect() as conn:
            received = conn.execute(
                select(func.count()).select_from(view_cases).where(view_cases.c.received_day == day)
            ).scalar()
            resolved = conn.execute(
                select(func.count()).select_from(view_cases).where(
                    view_cases.c.resolved_at >= start, view_cases.c.resolved_at < end
                )
            ).scalar()
            open_ = conn.execute(select(func.count()).select_from(view_open_cases)).scalar()
            overdue = conn.execute(
                select(func.count()).select_from(view_open_cases).where(
                    view_open_cases.c.status.in_(HELD), view_open_cases.c.handle_deadline < now
                )
            ).scalar()
        figures = {
            "received": int(received or 0),
            "resolved": int(resolved or 0),
            "open": int(open_ or 0),
            "overdue": int(overdue or 0),
        }
        return [digest(day.isoformat(), lead.name, figures) for lead in leaders]

    # ---- 3. delivering --------------------------------------------------------------------

    def due(self, limit: int = 50) -> list[OutboxRow]:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(notice_outbox)
                .where(and_(notice_outbox.c.status == PENDING,
                            notice_outbox.c.next_at <= _utc(self.now())))
                .order_by(notice_outbox.c.next_at, notice_outbox.c.created_at)
                .limit(limit)
            ).all()
        return [self._row(r) for r in found]

    def deliver(self, limit: int = 50) -> DeliveryStats:
        stats = DeliveryStats()
        with self._lock:
            for row in self.due(limit):
                try:
                    self._deliver_one(row, stats)
                except Exception as exc:  # the log or the database away: the row stays pending
                    log.exception("notice %s: delivery step failed; will retry", row.key[:12])
                    self._postpone(row, f"内部错误 ({type(exc).__name__})")
        self.totals += stats
        return stats

    def _deliver_one(self, row: OutboxRow, stats: DeliveryStats) -> None:
        outcome = self.app.notice_outcome(row.key)
        if outcome is not None:  # told already (or given up): never again
            self._close(row.key, SENT if type(outcome).__name__ == "SentNotice" else DEAD, "")
            stats.already += 1
            return
        try:
            notice = self.compose(row)
        except _Withheld as w:
            self._close(row.key, WITHHELD, w.reason)
            stats.withheld += 1
            return
        sender = self.senders.get(row.channel)
        attempts = row.attempts + 1
        try:
            if sender is None:
                raise DeliveryFailed(f"未配置发送通道 {row.channel}", permanent=True)
            receipt = sender.send(notice)
        except DeliveryFailed as failure:
            stats.failed += 1
            self._failed(row, notice, attempts, failure, stats)
            return
        except Exception as exc:  # an adapter's bug must not stop the others
            stats.failed += 1
            self._failed(row, notice, attempts, DeliveryFailed(f"发送出错 ({type(exc).__name__})"), stats)
            return
        self.app.record_notice_sent(
            key=row.key, kind=row.kind, channel=row.channel, audience=row.audience,
            target=row.target, case_id=row.case_id, text=notice.body,
            receipt=receipt.detail, attempts=attempts, at=self.now(),
        )
        self._close(row.key, SENT, "", attempts=attempts, receipt=receipt.detail)
        stats.sent += 1

    def _failed(
        self, row: OutboxRow, notice: OutgoingNotice, attempts: int, failure: DeliveryFailed,
        stats: DeliveryStats,
    ) -> None:
        now = self.now()
        if failure.permanent or attempts >= self.settings.max_attempts:
            reason = f"{failure.reason}（第 {attempts} 次尝试后放弃）"
            self.app.record_notice_abandoned(
                key=row.key, kind=row.kind, channel=row.channel, audience=row.audience,
                target=row.target, case_id=row.case_id, reason=reason, attempts=attempts, at=now,
            )
            if self.dead_letters is not None:
                self.dead_letters.add([self._letter(row, notice, reason, now)])
            self._close(row.key, DEAD, reason, attempts=attempts)
            stats.abandoned += 1
            log.warning("notice %s to %s by %s abandoned: %s", row.key[:12], row.target, row.channel, reason)
            return
        wait = dt.timedelta(seconds=self.settings.retry_after(attempts))
        with self._writer.begin() as conn:
            conn.execute(
                update(notice_outbox)
                .where(notice_outbox.c.key == row.key)
                .values(attempts=attempts, reason=failure.reason, next_at=_utc(now + wait),
                        updated_at=_utc(now))
            )

    def _postpone(self, row: OutboxRow, reason: str) -> None:
        """Tried again after the backoff, not at once: a fault that lasts costs a try per wait,
        not a try per turn."""
        now = self.now()
        attempts = row.attempts + 1
        wait = dt.timedelta(seconds=self.settings.retry_after(attempts))
        try:
            with self._writer.begin() as conn:
                conn.execute(
                    update(notice_outbox)
                    .where(and_(notice_outbox.c.key == row.key, notice_outbox.c.status == PENDING))
                    .values(attempts=attempts, reason=reason, next_at=_utc(now + wait),
                            updated_at=_utc(now))
                )
        except Exception:  # the database itself away: the row is tried on the next turn
            log.warning("notice %s: could not postpone", row.key[:12])

    @staticmethod
    def _letter(row: OutboxRow, notice: OutgoingNotice, reason: str, now: dt.datetime) -> DeadLetter:
        import hashlib

        # The notice as it would have gone, without the address (a resident's number or a
        # contact's: personal data stays out of the dead letters).
        raw = json.dumps({**notice.payload(), "channel": row.channel}, ensure_ascii=False).encode("utf-8")
        return DeadLetter(
            channel=f"notice:{row.channel}",
            reason=reason,
            position=f"notice:{row.key}",
            raw=raw,
            raw_size=len(raw),
            raw_sha256=hashlib.sha256(raw).hexdigest(),
            source="notify",
            at=now,
        )

    def _close(
        self, key: str, status: str, reason: str, *, attempts: int | None = None, receipt: str = ""
    ) -> None:
        values: dict[str, Any] = {"status": status, "reason": reason, "updated_at": _utc(self.now())}
        if attempts is not None:
            values["attempts"] = attempts
        if receipt:
            values["receipt"] = receipt
        with self._writer.begin() as conn:
            conn.execute(update(notice_outbox).where(notice_outbox.c.key == key).values(**values))

    # ---- composing a notice from its row and the case -------------------------------------

    def compose(self, row: OutboxRow) -> OutgoingNotice:
        """The notice's text from its template, with the case as the log has it now; raises
        :class:`_Withheld` when a resident may not be told (保密件, declined, channel)."""
        config = self.app.config
        fields: dict[str, Any] = {"district": config.district.name, **row.fields}
        address = row.address
        order_no = ""
        if row.case_id is not None:
            try:
                case = self.app.get_case(row.case_id)
            except CaseNotFound:
                raise _Withheld("工单不存在") from None
            order_no = case.order_no or str(case.id)[:8]
            fields["order_no"] = order_no
            fields["category"] = _category_name(config, case.category)
            if row.kind in (NoticeKind.DEADLINE_NEAR.value, NoticeKind.OVERDUE.value) and (
                case.dispatch is None or case.dispatch.unit != row.target
                or case.status.value not in WITH_UNIT
            ):
                # Decided a while ago (the receiver was away): no longer this unit's to hurry.
                raise _Withheld("工单已不由该单位办理（已办结、转出或挂起）")
            if row.audience == Audience.RESIDENT.value:
                why = resident_withheld(
                    channel=case.channel, confidential=case.confidential, phone=case.caller_phone,
                    extra=case.extra or {}, settings=self.settings,
                )
                if why is not None:
                    raise _Withheld(why)
                address = case.caller_phone
                fields["received_at"] = case.received_at
        if row.audience == Audience.UNIT.value:
            fields["unit"] = config.unit(row.target).name if config.has_unit(row.target) else row.target
        if "deadline_kind" in fields:
            fields["deadline_kind"] = DEADLINE_KINDS.label(str(fields["deadline_kind"]))
        if "result" in fields:
            fields["result"] = _cut(str(fields["result"]), self.settings.result_chars)
        for name, value in list(fields.items()):
            fields[name] = _show(value)
        subject, body = self.settings.template(NoticeKind(row.kind)).render(fields)
        return OutgoingNotice(
            key=row.key, kind=row.kind, channel=row.channel, audience=row.audience,
            target=row.target, address=address, subject=subject, body=body,
            at=self.now(), case_id=row.case_id, order_no=order_no,
        )

    # ---- reading the outbox ---------------------------------------------------------------

    def _row(self, r: Any) -> OutboxRow:
        text = r.fields
        if self.sealer is not None:
            text = self.sealer.open_text(text)
        return OutboxRow(
            key=r.key, kind=r.kind, channel=r.channel, audience=r.audience, target=r.target,
            address=r.address, case_id=UUID(r.case_id) if r.case_id else None, source=r.source,
            fields=json.loads(text), status=r.status, attempts=r.attempts, reason=r.reason,
            receipt=r.receipt, next_at=r.next_at.replace(tzinfo=dt.UTC),
        )

    def rows(self, *, case_id: UUID | None = None, status: str | None = None) -> list[OutboxRow]:
        stmt = select(notice_outbox).order_by(notice_outbox.c.created_at, notice_outbox.c.key)
        if case_id is not None:
            stmt = stmt.where(notice_outbox.c.case_id == str(case_id))
        if status is not None:
            stmt = stmt.where(notice_outbox.c.status == status)
        with self.engine.connect() as conn:
            return [self._row(r) for r in conn.execute(stmt)]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(notice_outbox.c.status, func.count()).group_by(notice_outbox.c.status)
            ).all()
        return {status: int(n) for status, n in found}

    def next_due(self) -> dt.datetime | None:
        with self.engine.connect() as conn:
            at = conn.execute(
                select(func.min(notice_outbox.c.next_at)).where(notice_outbox.c.status == PENDING)
            ).scalar()
        return at.replace(tzinfo=dt.UTC) if at is not None else None

    def reset(self) -> None:
        """Forget the outbox (its rows and position): the next follow decides again from the
        log's beginning; the log's outcomes keep what was sent from being sent again."""
        with self._lock, self._writer.begin() as conn:
            conn.execute(notice_outbox.delete())
            conn.execute(update(notice_tracking).values(position=0))

    # ---- the whole step, and running it in the background ----------------------------------

    def step(self, limit: int = 50) -> DeliveryStats:
        """Follow the log, scan the clock, deliver what is due (one call of the worker's step)."""
        self.follow()
        self.scan()
        return self.deliver(limit)

    def kick(self) -> None:
        """``sanshi serve`` without Kafka: deliver in a thread of this process, woken after
        saves and at the next retry. Not for ``memory://`` (its one shared connection must not
        be used from a second thread: tests call :meth:`step`)."""
        if isinstance(self.engine.pool, StaticPool):
            return
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="notify", daemon=True)
            self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while self.step().tried and not self._stop.is_set():
                    pass
                nxt = self.next_due()
            except Exception:
                log.exception("notify step failed; will retry")
                nxt = None
            wait = 30.0 if nxt is None else max(0.05, min(30.0, (nxt - dt.datetime.now(dt.UTC)).total_seconds()))
            self._wake.wait(wait)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None

    def close(self) -> None:
        self.stop()
        for sender in self.senders.values():
            sender.close()


class _Withheld(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _aware(at: dt.datetime) -> dt.datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _show(value: Any) -> Any:
    """Instants as the resident and the unit read them: Beijing time to the minute."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[10] == "T":
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        return _aware(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    return value


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _category_name(config: Any, code: str | None) -> str:
    if not code:
        return "未分类"
    try:
        return str(config.category(code).name)
    except (KeyError, ValueError, StopIteration):
        return code


def build_senders(
    smtp_url: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
    sms_url: str | None,
    sms_key: str | None,
) -> dict[str, NoticeSender]:
    """The senders the settings configure (none: notices are not decided at all)."""
    from .http_senders import SmsGatewaySender, WebhookSender
    from .smtp import SmtpSender

    senders: dict[str, NoticeSender] = {}
    if smtp_url:
        senders["email"] = SmtpSender(smtp_url)
    if webhook_url:
        senders["webhook"] = WebhookSender(webhook_url, webhook_secret or "")
    if sms_url:
        senders["sms"] = SmsGatewaySender(sms_url, sms_key or "")
    return senders
