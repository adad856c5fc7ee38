"""The dead-letter store (死信): table ``dead_letters`` in the log's database.

Every record that could not be read lands here with its channel, the reason, where it was
(``file:line``, ``http``, ``topic:partition:offset``) and its raw bytes. Inserts are
idempotent on the dead letter's deterministic id, so a redelivered or re-uploaded bad record
is stored once. In Kafka mode the worker fills this table from the ``sanshi.dlq`` topic (and
with what it dead-letters itself).

Whatever is dead-lettered is redacted with the channels' one identifier detector
(:func:`redacted`) before it is stored here or published to the DLQ topic, whoever made the
letter (an adapter, the engine refusing a command, the worker with a message it cannot read):
a police file sent to the wrong channel, or a message that is not JSON at all, still carries
ID and phone numbers. Redacting is idempotent, and the letter's id (from ``raw_sha256`` of
what arrived) is unchanged, so a redelivered letter is still stored once.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.pool import StaticPool

from adapters.channels import DeadLetter
from adapters.channels.privacy import redact_raw
from projections.tables import create_schema, ping_when_idle

from .sealing import Sealer

metadata = MetaData()

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("channel", String(32), nullable=False, index=True),
    Column("reason", Text, nullable=False),
    Column("position", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("raw_size", Integer, nullable=False),
    Column("raw_sha256", String(64), nullable=False),
    Column("redacted", Boolean, nullable=False, default=False),
    Column("source", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
)


def _engine_for(url: str) -> Engine:
    """Only when the runtime has no views engine to share. SQLite: explicit ``BEGIN`` (and
    ``BEGIN IMMEDIATE`` on request) instead of the driver's implicit transactions."""
    if not url.startswith("sqlite"):
        return ping_when_idle(create_engine(url))
    kwargs: dict[str, Any] = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    if url in ("sqlite://", "sqlite:///:memory:"):
        kwargs["poolclass"] = StaticPool
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


class DeadLetterStore:
    """With a ``sealer`` (SANSHI_CIPHER_KEY) the raw bytes are stored sealed and opened again
    by :meth:`list`; what was stored before a key was set reads as it is."""

    def __init__(self, engine: Engine, sealer: Sealer | None = None) -> None:
        self.engine = engine
        self.sealer = sealer
        create_schema(metadata, engine, tables=[dead_letters])

    @classmethod
    def from_url(cls, url: str, sealer: Sealer | None = None) -> DeadLetterStore:
        return cls(_engine_for(url), sealer)

    def add(self, letters: Iterable[DeadLetter]) -> int:
        """Store letters not stored before; returns how many were new."""
        rows = [_row(letter, self.sealer) for letter in letters]
        if not rows:
            return 0
        ids = [r["id"] for r in rows]
        new = 0
        # SQLite in WAL mode: a transaction that reads and then writes fails at once (no
        # waiting) when another connection wrote in between; taking the write lock first
        # makes it wait its turn instead.
        with self.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
            existing = set(
                conn.execute(select(dead_letters.c.id).where(dead_letters.c.id.in_(ids))).scalars()
            )
            fresh = {r["id"]: r for r in rows if r["id"] not in existing}
            if fresh:
                conn.execute(_insert_ignoring_duplicates(self.engine), list(fresh.values()))
                new = len(fresh)
        return new

    def list(
        self, limit: int = 100, channel: str | None = None, offset: int = 0
    ) -> list[dict[str, Any]]:
        stmt = select(dead_letters).order_by(dead_letters.c.created_at.desc(), dead_letters.c.id)
        if channel:
            stmt = stmt.where(dead_letters.c.channel == channel)
        stmt = stmt.limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        if self.sealer is not None:
            for row in rows:
                with contextlib.suppress(ValueError):  # another key's: shown as stored
                    row["raw"] = self.sealer.open(bytes(row["raw"]))
        return rows

    def count(self, channel: str | None = None) -> int:
        stmt = select(func.count()).select_from(dead_letters)
        if channel:
            stmt = stmt.where(dead_letters.c.channel == channel)
        with self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)


def _insert_ignoring_duplicates(engine: Engine) -> Any:
    # Two writers (the worker from the DLQ topic and from its own poll) may race on one id.
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(dead_letters).on_conflict_do_nothing(index_elements=["id"])
    if engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(dead_letters).on_conflict_do_nothing(index_elements=["id"])
    return dead_letters.insert()


def redacted(letter: DeadLetter) -> DeadLetter:
    """The letter with every identifier in its raw bytes masked (and flagged so)."""
    return dataclasses.replace(letter, raw=redact_raw(letter.raw), redacted=True)


def _row(letter: DeadLetter, sealer: Sealer | None = None) -> dict[str, Any]:
    letter = redacted(letter)
    return {
        "id": str(letter.id),
        "channel": letter.channel,
        "reason": letter.reason,
        "position": letter.position,
        "raw": sealer.seal(letter.raw) if sealer else letter.raw,
        "raw_size": letter.raw_size,
        "raw_sha256": letter.raw_sha256,
        "redacted": letter.redacted,
        "source": letter.source,
        "created_at": letter.at,
    }


# ---- the DLQ topic's message format --------------------------------------------------------


def to_message(letter: DeadLetter) -> bytes:
    letter = redacted(letter)
    return json.dumps(
        {
            "id": str(letter.id),
            "channel": letter.channel,
            "reason": letter.reason,
            "position": letter.position,
            "raw_b64": base64.b64encode(letter.raw).decode("ascii"),
            "raw_size": letter.raw_size,
            "raw_sha256": letter.raw_sha256,
            "redacted": letter.redacted,
            "source": letter.source,
            "at": letter.at.isoformat(),
        },
        ensure_ascii=False,
    ).encode("utf-8")


def from_message(data: bytes) -> DeadLetter:
    """Raises ValueError/KeyError/TypeError for a message that is not a dead letter."""
    body = json.loads(data)
    letter = DeadLetter(
        channel=str(body["channel"]),
        reason=str(body["reason"]),
        position=str(body["position"]),
        raw=base64.b64decode(body["raw_b64"], validate=True),
        raw_size=int(body["raw_size"]),
        raw_sha256=str(body["raw_sha256"]),
        redacted=bool(body.get("redacted", False)),
        source=str(body.get("source", "ingest")),
        at=dt.datetime.fromisoformat(body["at"]),
    )
    if str(letter.id) != body.get("id", str(letter.id)):
        raise ValueError("dead-letter id does not match its content")
    uuid.UUID(str(letter.id))
    return letter


def show_raw(raw: bytes) -> str:
    """Raw bytes for a person: as text when they decode, else escaped."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="backslashreplace")
