"""Blobs in a database table (``attachment_blobs``: address, bytes): PostgreSQL's ``bytea`` in
production (docs/attachments.md says why), SQLite's BLOB for an in-memory runtime.

Not a projection: the bytes are not in the log and cannot be rebuilt from it, so a rebuild of
the views leaves this table alone (like the API's tokens and audit trail)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    insert,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from adapters.attachments.local import ADDRESS
from projections.tables import create_schema

metadata = MetaData()

attachment_blobs = Table(
    "attachment_blobs",
    metadata,
    Column("address", String(64), primary_key=True),
    Column("data", LargeBinary, nullable=False),  # bytea on PostgreSQL
    Column("size", Integer, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)


class SqlBlobs:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        create_schema(metadata, engine)

    def put(self, address: str, data: bytes) -> None:
        if not ADDRESS.match(address):
            raise ValueError("not a blob address")
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    insert(attachment_blobs).values(
                        address=address, data=data, size=len(data),
                        stored_at=dt.datetime.now(dt.UTC),
                    )
                )
        except IntegrityError:
            pass  # the same address was stored meanwhile: the same content, nothing to do

    def get(self, address: str) -> bytes | None:
        if not ADDRESS.match(address):
            return None
        with self.engine.connect() as conn:
            value = conn.execute(
                select(attachment_blobs.c.data).where(attachment_blobs.c.address == address)
            ).scalar()
        return bytes(value) if value is not None else None

    def has(self, address: str) -> bool:
        if not ADDRESS.match(address):
            return False
        with self.engine.connect() as conn:
            return conn.execute(
                select(attachment_blobs.c.address).where(attachment_blobs.c.address == address)
            ).first() is not None
