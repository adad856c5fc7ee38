"""The API's own tables, in the same database as the log: issued tokens (hashes only) and the
audit trail of reads of personal data (谁、何时、查看了哪件工单).

Neither table is a projection: they are not rebuilt from the log, and a rebuild of the
projections leaves them alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from engine.deadlines import SHANGHAI
from engine.settings import Settings
from projections.tables import create_schema, ping_when_idle

metadata = MetaData()

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 hex of the token
    Column("role", String(16), nullable=False),
    Column("unit", String(64), nullable=True),
    Column("name", String(100), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)

api_audit = Table(
    "api_audit",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("principal", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("unit", String(64), nullable=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("what", String(64), nullable=False),  # e.g. case, events
    Column("masked", Boolean, nullable=False),
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def sql_engine_for(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url()
    if url == "sqlite://":
        # In-memory: one shared connection, or every checkout sees an empty database.
        return create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    if url.startswith("sqlite:"):
        return create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    return ping_when_idle(create_engine(url))


@dataclass(frozen=True)
class IssuedToken:
    role: str
    unit: str | None
    name: str


class ApiStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # The audit row of every answer that shows a case: on PostgreSQL one statement in
        # autocommit, without BEGIN and COMMIT round trips (bench/RESULTS.md, API). Not on
        # SQLite, where make_engine's explicit BEGIN would open a transaction autocommit never
        # commits, and the row would be lost (tests/integration/test_audit_durable.py).
        self._audit_writer = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else None
        )
        create_schema(metadata, engine)

    # ---- tokens --------------------------------------------------------------------------

    def create_token(self, role: str, unit: str | None, name: str) -> str:
        """A new random token; only its hash is stored. The caller shows it once."""
        token = "sanshi_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                insert(api_tokens).values(
                    token_hash=token_hash(token),
                    role=role,
                    unit=unit,
                    name=name,
                    created_at=dt.datetime.now(SHANGHAI),
                    revoked=False,
                )
            )
        return token

    def lookup_token(self, token: str) -> IssuedToken | None:
        # The hash is the primary key: the lookup does not compare secrets byte by byte.
        h = token_hash(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(api_tokens.c.role, api_tokens.c.unit, api_tokens.c.name).where(
                    api_tokens.c.token_hash == h, api_tokens.c.revoked.is_(False)
                )
            ).first()
        if row is None:
            return None
        return IssuedToken(role=row.role, unit=row.unit, name=row.name)

    def revoke_token(self, token_or_fingerprint: str) -> int:
        """停用: the token itself, or the fingerprint that audit entries and event principals
        show (the first 8+ hex of its hash). Every request looks the hash up, so the next
        request with it is refused. Returns how many were revoked (0: no such token; an
        ambiguous fingerprint revokes nothing and raises ValueError)."""
        value = token_or_fingerprint.strip()
        with self.engine.begin() as conn:
            hashes = [token_hash(value)]
            found = conn.execute(
                select(api_tokens.c.token_hash).where(api_tokens.c.token_hash == hashes[0])
            ).scalars().all()
            if not found and 8 <= len(value) <= 64 and all(c in "0123456789abcdef" for c in value.lower()):
                found = conn.execute(
                    select(api_tokens.c.token_hash).where(
                        api_tokens.c.token_hash.startswith(value.lower(), autoescape=True)
                    )
                ).scalars().all()
                if len(found) > 1:
                    raise ValueError(f"指纹 {value} 对应 {len(found)} 个令牌，请给出更长的指纹")
            if not found:
                return 0
            done = conn.execute(
                update(api_tokens)
                .where(api_tokens.c.token_hash.in_(found), api_tokens.c.revoked.is_(False))
                .values(revoked=True)
            )
            return int(done.rowcount or 0)

    # ---- audit ---------------------------------------------------------------------------

    def record_read(
        self, *, principal: str, role: str, unit: str | None, case_id: str, what: str, masked: bool
    ) -> None:
        row = insert(api_audit).values(
            at=dt.datetime.now(SHANGHAI),
            principal=principal,
            role=role,
            unit=unit,
            case_id=case_id,
            what=what,
            masked=masked,
        )
        if self._audit_writer is None:
            with self.engine.begin() as conn:
                conn.execute(row)
            return
        with self._audit_writer.connect() as conn:
            conn.execute(row)

    def audit_entries(
        self, case_id: str | None = None, principal: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[dict[str, Any]]:
        q = select(api_audit).order_by(api_audit.c.id.desc()).limit(limit).offset(offset)
        if case_id:
            q = q.where(api_audit.c.case_id == case_id)
        if principal:
            q = q.where(api_audit.c.principal == principal)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        out = []
        for r in rows:
            at = r["at"]
            if at is not None and at.tzinfo is None:  # SQLite keeps the wall time, not the zone
                at = at.replace(tzinfo=SHANGHAI)
            out.append(
                {
                    "id": r["id"],
                    "at": at.isoformat() if at else None,
                    "principal": r["principal"],
                    "role": r["role"],
                    "unit": r["unit"],
                    "case_id": r["case_id"],
                    "what": r["what"],
                    "masked": bool(r["masked"]),
                }
            )
        return out
