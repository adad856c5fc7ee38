"""The accounts' event log in the database (``account_events``) and argon2 password hashing.

The log is append-only: one row per event, a global ``seq`` that the ``view_accounts``
projection follows (``projections.accounts``) and a unique (account_id, version), so that of
two changes made to one person at once only the first is kept; the other is refused (409) and
writes nothing. The login's uniqueness is checked against the log itself (``login_claims``:
one row per login ever taken, in the same transaction), not against the projection, which may
lag behind in another process.

Nothing secret is stored: a password as its argon2id hash (argon2-cffi, a maintained binding
of the reference implementation, with its default parameters: RFC 9106's second recommended
option), a personal token as the sha256 of a 256-bit random value (no need for a slow hash:
it cannot be guessed).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    exc,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Engine

from engine.accounts import AccountError, AccountEvent
from projections.tables import create_schema

metadata = MetaData()

account_events = Table(
    "account_events",
    metadata,
    Column("seq", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True, autoincrement=True),
    Column("account_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(40), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("by", String(200), nullable=False),
    Column("data", JSON, nullable=False),
    UniqueConstraint("account_id", "version", name="account_events_version"),
)

login_claims = Table(
    "account_logins",
    metadata,
    Column("login", String(40), primary_key=True),
    Column("account_id", String(36), nullable=False),
)

TOKEN_PREFIX = "sanshi_p_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_personal_token() -> tuple[str, str, str]:
    """(token id, token, its sha256). The id is public (lists, revocation); the token is
    shown once."""
    token_id = secrets.token_hex(4)
    token = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    return token_id, token, token_digest(token)


class Passwords:
    """argon2id through argon2-cffi. ``verify_unknown`` spends the same work on a login that
    does not exist, so the answer's time does not tell which logins do."""

    def __init__(self) -> None:
        self._argon = Argon2()
        self._dummy = self._argon.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._argon.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._argon.verify(password_hash or self._dummy, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    def verify_unknown(self, password: str) -> None:
        self.verify(self._dummy, password + "\x00")


def _utc(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:  # SQLite gives back the wall time it was given: UTC (below)
        return at.replace(tzinfo=dt.UTC)
    return at


class SqlAccountLog:
    """:class:`engine.accounts.AccountLog` over SQLAlchemy (SQLite and PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_schema(metadata, engine)

    def append(self, events: Sequence[AccountEvent]) -> None:
        rows = [
            {
                "account_id": str(e.account_id),
                "version": e.version,
                "type": e.type,
                # Stored in UTC: SQLite keeps no zone.
                "at": e.at.astimezone(dt.UTC).replace(tzinfo=None)
                if self.engine.dialect.name == "sqlite"
                else e.at,
                "by": e.by,
                "data": orjson.loads(orjson.dumps(e.data)),
            }
            for e in events
        ]
        try:
            with self.engine.begin() as conn:
                for e in events:
                    if e.version == 1:
                        conn.execute(
                            insert(login_claims).values(login=e.data["login"], account_id=str(e.account_id))
                        )
                conn.execute(insert(account_events), rows)
        except exc.IntegrityError as err:
            raise AccountError(409, "账号刚被他人修改或登录名已被使用，请刷新后重试") from err

    def login_taken(self, login: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(login_claims.c.login).where(login_claims.c.login == login)).first() is not None

    def load(self, account_id: UUID) -> list[AccountEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(account_events)
                .where(account_events.c.account_id == str(account_id))
                .order_by(account_events.c.version)
            ).all()
        return [self._event(r) for r in rows]

    def after(self, position: int, limit: int = 1000) -> list[tuple[int, AccountEvent]]:
        """Events after ``position`` (a ``seq``), in order: what the projection follows."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(account_events)
                .where(account_events.c.seq > position)
                .order_by(account_events.c.seq)
                .limit(limit)
            ).all()
        return [(int(r.seq), self._event(r)) for r in rows]

    def head(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.max(account_events.c.seq))).scalar() or 0)

    @staticmethod
    def _event(r: Any) -> AccountEvent:
        return AccountEvent(
            account_id=UUID(r.account_id),
            version=int(r.version),
            type=str(r.type),
            at=_utc(r.at),
            by=str(r.by),
            data=dict(r.data),
        )
