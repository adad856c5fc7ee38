"""The accounts view (``view_accounts``, ``view_account_tokens``): who can log in, as what.

Follows the accounts' log (``engine.accounts``; the adapter gives a reader of it) from its own
position, each batch in one transaction with the position (``UPDATE … WHERE position =
expected``: of two processes catching up at once, one applies the batch and the other re-reads),
and can be dropped and rebuilt from the log at any time (:meth:`AccountsView.rebuild`). It is
caught up before every read, so a change an admin makes is seen by the next request of any
process: no restart.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from engine.accounts import Account, AccountEvent, apply
from engine.config import Role
from projections.tables import create_schema

metadata = MetaData()

view_accounts = Table(
    "view_accounts",
    metadata,
    Column("account_id", String(36), primary_key=True),
    Column("login", String(40), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("unit", String(64), nullable=True),
    Column("disabled", Boolean, nullable=False),
    Column("password_hash", Text, nullable=True),  # argon2id; never the password
    Column("version", Integer, nullable=False),
)

view_account_tokens = Table(
    "view_account_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),  # sha256 hex; never the token
    Column("token_id", String(16), nullable=False),
    Column("account_id", String(36), nullable=False, index=True),
    Column("revoked", Boolean, nullable=False),
)

view_accounts_tracking = Table(
    "view_accounts_tracking",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("position", Integer, nullable=False),
)

TABLES = (view_accounts, view_account_tokens)
NAME = "accounts"

ReadAfter = Callable[[int, int], list[tuple[int, AccountEvent]]]


@dataclass(frozen=True)
class AccountRow:
    id: UUID
    login: str
    name: str
    role: str
    unit: str | None
    disabled: bool
    password_hash: str | None
    version: int


class AccountsView:
    def __init__(self, engine: Engine, read_after: ReadAfter, batch: int = 1000) -> None:
        self.engine = engine
        self._read_after = read_after
        self._batch = batch
        self._lock = threading.Lock()
        create_schema(metadata, engine)
        # Not check-then-insert: two processes starting together would both insert.
        ins: Any = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        with engine.begin() as conn:
            conn.execute(
                ins(view_accounts_tracking)
                .values(name=NAME, position=0)
                .on_conflict_do_nothing(index_elements=["name"])
            )

    # ---- following the log -----------------------------------------------------------------

    def position(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(view_accounts_tracking.c.position).where(view_accounts_tracking.c.name == NAME)
                ).scalar()
                or 0
            )

    def catch_up(self) -> int:
        applied = 0
        with self._lock:
            while True:
                pos = self.position()
                events = self._read_after(pos, self._batch)
                if not events:
                    return applied
                with self.engine.begin() as conn:
                    moved = conn.execute(
                        update(view_accounts_tracking)
                        .where(view_accounts_tracking.c.name == NAME, view_accounts_tracking.c.position == pos)
                        .values(position=events[-1][0])
                    )
                    if moved.rowcount != 1:
                        continue  # another process applied them: re-read from its position
                    for _, event in events:
                        self._apply(conn, event)
                applied += len(events)

    def rebuild(self) -> int:
        with self._lock, self.engine.begin() as conn:
            for t in TABLES:
                conn.execute(delete(t))
            conn.execute(update(view_accounts_tracking).where(view_accounts_tracking.c.name == NAME).values(position=0))
        return self.catch_up()

    def _apply(self, conn: Connection, event: AccountEvent) -> None:
        current = self._load(conn, event.account_id)
        account = apply(current, event)
        values = {
            "login": account.login,
            "name": account.name,
            "role": account.role.value,
            "unit": account.unit,
            "disabled": account.disabled,
            "password_hash": account.password_hash,
            "version": account.version,
        }
        if current is None:
            conn.execute(insert(view_accounts).values(account_id=str(account.id), **values))
        else:
            conn.execute(update(view_accounts).where(view_accounts.c.account_id == str(account.id)).values(**values))
        for token_id, (token_hash, revoked) in account.tokens.items():
            known = current.tokens.get(token_id) if current is not None else None
            if known is None:
                conn.execute(
                    insert(view_account_tokens).values(
                        token_hash=token_hash, token_id=token_id, account_id=str(account.id), revoked=revoked
                    )
                )
            elif known[1] != revoked:
                conn.execute(
                    update(view_account_tokens).where(view_account_tokens.c.token_hash == token_hash).values(revoked=revoked)
                )

    def _load(self, conn: Connection, account_id: UUID) -> Account | None:
        row = conn.execute(select(view_accounts).where(view_accounts.c.account_id == str(account_id))).first()
        if row is None:
            return None
        tokens = {
            t.token_id: (t.token_hash, bool(t.revoked))
            for t in conn.execute(
                select(view_account_tokens).where(view_account_tokens.c.account_id == str(account_id))
            )
        }
        return Account(
            id=account_id,
            login=row.login,
            name=row.name,
            role=Role(row.role),
            unit=row.unit,
            disabled=bool(row.disabled),
            password_hash=row.password_hash,
            tokens=tokens,
            version=row.version,
        )

    # ---- reads (each catches up first) -------------------------------------------------------

    def _row(self, where: object) -> AccountRow | None:
        self.catch_up()
        with self.engine.connect() as conn:
            r = conn.execute(select(view_accounts).where(where)).first()  # type: ignore[arg-type]
        return _row(r) if r is not None else None

    def by_login(self, login: str) -> AccountRow | None:
        return self._row(view_accounts.c.login == login.strip().lower())

    def by_id(self, account_id: UUID | str) -> AccountRow | None:
        return self._row(view_accounts.c.account_id == str(account_id))

    def by_token_hash(self, token_hash: str) -> AccountRow | None:
        """The holder of a personal token that is not revoked (the hash is the key: no
        byte-by-byte comparison of secrets)."""
        self.catch_up()
        with self.engine.connect() as conn:
            r = conn.execute(
                select(view_accounts)
                .join(view_account_tokens, view_account_tokens.c.account_id == view_accounts.c.account_id)
                .where(view_account_tokens.c.token_hash == token_hash, view_account_tokens.c.revoked.is_(False))
            ).first()
        return _row(r) if r is not None else None

    def all(self) -> list[AccountRow]:
        self.catch_up()
        with self.engine.connect() as conn:
            rows = conn.execute(select(view_accounts).order_by(view_accounts.c.role, view_accounts.c.unit, view_accounts.c.login)).all()
        return [_row(r) for r in rows]

    def names(self, ids: set[str]) -> dict[str, AccountRow]:
        if not ids:
            return {}
        self.catch_up()
        with self.engine.connect() as conn:
            rows = conn.execute(select(view_accounts).where(view_accounts.c.account_id.in_(sorted(ids)))).all()
        return {r.account_id: _row(r) for r in rows}

    def tokens_of(self, account_id: UUID) -> list[tuple[str, bool]]:
        self.catch_up()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(view_account_tokens.c.token_id, view_account_tokens.c.revoked).where(
                    view_account_tokens.c.account_id == str(account_id)
                )
            ).all()
        return [(r.token_id, bool(r.revoked)) for r in rows]


def _row(r: Any) -> AccountRow:
    return AccountRow(
        id=UUID(r.account_id),
        login=r.login,
        name=r.name,
        role=r.role,
        unit=r.unit,
        disabled=bool(r.disabled),
        password_hash=r.password_hash,
        version=int(r.version),
    )
