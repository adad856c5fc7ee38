"""The app's photos fetched after intake (docs/attachments.md, "The app's photo URLs").

Intake never waits for a photo: when an app record with photo URLs on an allowed host
(``attachments.fetch_hosts``) is recorded, each such URL becomes a row of ``photo_fetches``
(pending), and a step *after* the case is saved fetches it:

- in-process (``sanshi serve`` without Kafka, ``sanshi ingest``): a background thread of this
  process (:class:`PhotoQueue`'s ``kick``), woken after each intake and at the next retry;
- with Kafka: ``sanshi worker``'s own step after the poll's offsets are committed
  (``adapters.transport.worker.FetchPhotos``), so a photo host that is slow or down delays no
  record and loses none.

The rows are queued when the intake commands are applied (``apply_commands``), for accepted
records and for duplicates alike: a poll delivered again after a crash queues the same rows
again, which the primary key makes harmless. A failure to queue is logged and the case stays.

A failed fetch is recorded with its reason. A network failure (timeout, connection refused,
HTTP 404/5xx) is retried after 1, 5 and 30 minutes, then given up (``failed``); a content the
checks refuse (not an image, too large) fails at once: fetching it again gives the same bytes.
A URL on a host not listed is never queued and never requested; the case keeps it as given.

Not a projection: the table records what this process did (like dead letters), not what the
log says, so a rebuild of the views leaves it alone. A lost row costs only a photo, and the
centre can still fetch by hand (``POST /api/cases/{id}/attachments/fetch``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

from adapters.attachments.fetch import Fetched, PhotoFetcher, photo_urls
from projections.tables import create_schema

if TYPE_CHECKING:
    from engine.attachments import AttachmentService

log = logging.getLogger("sanshi.photos")

PENDING, STORED, FAILED = "pending", "stored", "failed"
# Waits before the 2nd, 3rd and 4th try; after the 4th failure the URL is given up.
RETRY_AFTER = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30))
MAX_ATTEMPTS = len(RETRY_AFTER) + 1

metadata = MetaData()

photo_fetches = Table(
    "photo_fetches",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("url_sha256", String(64), primary_key=True),  # the URL may be long; its digest is the key
    Column("url", Text, nullable=False),
    Column("status", String(16), nullable=False, index=True),  # pending | stored | failed
    Column("attempts", Integer, nullable=False),
    Column("reason", Text, nullable=False),  # the last failure's reason ("" if none)
    Column("next_at", DateTime, nullable=False, index=True),  # naive UTC
    Column("updated_at", DateTime, nullable=False),
)


def _utc(at: dt.datetime) -> dt.datetime:
    return at.astimezone(dt.UTC).replace(tzinfo=None)


def _key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class PhotoFetch:
    case_id: UUID
    url: str
    status: str
    attempts: int
    reason: str
    next_at: dt.datetime  # UTC

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "attempts": self.attempts,
            "reason": self.reason,
            "next_at": self.next_at.isoformat() if self.status == PENDING else None,
        }


def _row(r: Any) -> PhotoFetch:
    return PhotoFetch(UUID(r.case_id), r.url, r.status, r.attempts, r.reason, r.next_at.replace(tzinfo=dt.UTC))


class PhotoQueue:
    def __init__(
        self,
        engine: Engine,
        service: AttachmentService,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.engine = engine
        self.service = service
        self.now = now
        self.fetcher = PhotoFetcher(service)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one drain at a time in this process
        self._starting = threading.Lock()
        create_schema(metadata, engine)

    # ---- queueing --------------------------------------------------------------------------

    def enqueue(self, case_id: UUID, urls: Iterable[str]) -> int:
        """Queue the URLs on an allowed host (others are never requested). Idempotent."""
        wanted = [u for u in dict.fromkeys(urls) if self.fetcher.allowed(u)]
        if not wanted:
            return 0
        now = _utc(self.now())
        queued = 0
        for url in wanted:
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(photo_fetches).values(
                        case_id=str(case_id), url_sha256=_key(url), url=url, status=PENDING,
                        attempts=0, reason="", next_at=now, updated_at=now,
                    ))
                queued += 1
            except IntegrityError:
                pass  # queued already (a redelivered poll, a duplicate record)
        return queued

    def enqueue_cases(self, cases: Sequence[tuple[UUID, Any]]) -> int:
        """(case id, the command's ``extra``) of app records just applied."""
        if not self.fetcher.hosts:
            return 0  # nothing may be fetched: no query at all
        return sum(self.enqueue(case_id, photo_urls(extra)) for case_id, extra in cases)

    # ---- fetching --------------------------------------------------------------------------

    def due(self, limit: int = 20) -> list[PhotoFetch]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(photo_fetches)
                .where(and_(photo_fetches.c.status == PENDING, photo_fetches.c.next_at <= _utc(self.now())))
                .order_by(photo_fetches.c.next_at)
                .limit(limit)
            ).all()
        return [_row(r) for r in rows]

    def run_due(self, limit: int = 20) -> int:
        """Fetch up to ``limit`` due URLs, record each outcome; returns how many were tried."""
        with self._lock:
            items = self.due(limit)
            for item in items:
                try:
                    result = self.fetcher.import_url(item.case_id, item.url)
                except Exception as exc:  # a store or database hiccup: retried like a network one
                    log.warning("photo fetch for case %s failed: %s", item.case_id, type(exc).__name__)
                    result = Fetched(item.url, "failed", f"内部错误 ({type(exc).__name__})")
                self._record(item, result)
            return len(items)

    def _record(self, item: PhotoFetch, result: Fetched) -> None:
        now = self.now()
        attempts = item.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "updated_at": _utc(now)}
        if result.outcome in ("stored", "duplicate"):
            values.update(status=STORED, reason="")
        elif result.outcome == "kept" or result.final or attempts >= MAX_ATTEMPTS:  # the allowed hosts changed since it was queued
            values.update(status=FAILED, reason=result.detail)
        else:
            values.update(status=PENDING, reason=result.detail, next_at=_utc(now + RETRY_AFTER[attempts - 1]))
        if values["status"] != STORED:
            log.info("photo fetch for case %s: %s (%s, attempt %d)", item.case_id, values["status"],
                     result.detail, attempts)
        with self.engine.begin() as conn:
            conn.execute(
                update(photo_fetches)
                .where(and_(photo_fetches.c.case_id == str(item.case_id),
                            photo_fetches.c.url_sha256 == _key(item.url)))
                .values(**values)
            )

    def of_case(self, case_id: UUID) -> list[PhotoFetch]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(photo_fetches).where(photo_fetches.c.case_id == str(case_id))
            ).all()
        return [_row(r) for r in rows]

    def next_due(self) -> dt.datetime | None:
        with self.engine.connect() as conn:
            at = conn.execute(
                select(photo_fetches.c.next_at)
                .where(photo_fetches.c.status == PENDING)
                .order_by(photo_fetches.c.next_at)
                .limit(1)
            ).scalar()
        return at.replace(tzinfo=dt.UTC) if at is not None else None

    # ---- the in-process background step ----------------------------------------------------

    def kick(self) -> None:
        """After an in-process intake: fetch in the background, never in the request.

        Not for ``memory://``: its one shared connection (``projections.tables.make_engine``)
        must not be used by a second thread during a request; there the queue waits for an
        explicit :meth:`run_due` (tests) or the centre's fetch by hand."""
        if isinstance(self.engine.pool, StaticPool):
            return
        if self._thread is None or not self._thread.is_alive():
            with self._starting:
                if self._thread is None or not self._thread.is_alive():
                    self._stop.clear()
                    self._thread = threading.Thread(target=self._loop, name="photo-fetch", daemon=True)
                    self._thread.start()
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                while self.run_due() and not self._stop.is_set():
                    pass
                nxt = self.next_due()
            except Exception:  # the database away: try again in a while
                log.exception("photo fetch step failed; will retry")
                nxt = None
            wait = 60.0 if nxt is None else max(0.05, min(60.0, (nxt - self.now()).total_seconds()))
            self._wake.wait(wait)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._thread = None
