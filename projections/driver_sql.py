"""The projector's hot path, at the DB-API level.

Measured on a 137k-event log: SQLAlchemy's per-parameter type processing (UtcDateTime, then the
SQLite DATETIME formatter, for ~15 datetime columns per case row) took more than half of a
rebuild. Here the statements go to ``cursor.executemany`` through ``exec_driver_sql``, and
timestamps live in the projector's rows in the database's own representation from the moment an
event brings them (:meth:`DriverSQL.stamp`), so writing a row converts none of them.
Values are stored exactly as SQLAlchemy stores them, so ``projections.queries`` reads them back
through the normal column types:

- SQLite: datetime ``'YYYY-MM-DD HH:MM:SS.ffffff'`` in UTC (these strings sort in time order,
  which is what the fold's one comparison needs), date ISO, uuid 32 hex digits, bool 0/1;
- PostgreSQL: naive UTC ``timestamp``, native ``date`` / ``uuid`` / ``boolean``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Column, Connection, Date, Table, Uuid

from projections.tables import COUNT_FIELDS, UtcDateTime, view_counts

Converter = Callable[[Any], Any]
UTC = dt.UTC


def _q(name: str) -> str:
    return f'"{name}"'


def _sqlite_stamp(v: dt.datetime) -> str:
    return v.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _pg_stamp(v: dt.datetime) -> dt.datetime:
    return v.astimezone(UTC).replace(tzinfo=None)


def _sqlite_date_out(v: dt.date | None) -> str | None:
    return None if v is None else v.isoformat()


def _sqlite_date_in(v: str | None) -> dt.date | None:
    return None if v is None else dt.date.fromisoformat(v)


def _sqlite_uuid_out(v: UUID | None) -> str | None:
    return None if v is None else v.hex


def _sqlite_uuid_in(v: str | None) -> UUID | None:
    return None if v is None else UUID(hex=v)


def _sqlite_bool_out(v: bool | None) -> int | None:
    return None if v is None else int(v)


def _sqlite_bool_in(v: int | None) -> bool | None:
    return None if v is None else bool(v)


class DriverSQL:
    """Statements and converters for one dialect (``sqlite`` or ``postgresql``)."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"
        self.ph = "?" if self.sqlite else "%s"

    def stamp(self, value: dt.datetime) -> Any:
        """An aware datetime in the database's representation (naive UTC)."""
        return _sqlite_stamp(value) if self.sqlite else _pg_stamp(value)

    def out(self, column: Column[Any]) -> Converter | None:
        """Python value → driver parameter (timestamps are already native: none)."""
        if not self.sqlite or isinstance(column.type, UtcDateTime):
            return None
        t = column.type
        if isinstance(t, Date):
            return _sqlite_date_out
        if isinstance(t, Uuid):
            return _sqlite_uuid_out
        if isinstance(t, Boolean):
            return _sqlite_bool_out
        return None

    def into(self, column: Column[Any]) -> Converter | None:
        """Driver value → Python value (timestamps stay native: none)."""
        if not self.sqlite or isinstance(column.type, UtcDateTime):
            return None
        t = column.type
        if isinstance(t, Date):
            return _sqlite_date_in
        if isinstance(t, Uuid):
            return _sqlite_uuid_in
        if isinstance(t, Boolean):
            return _sqlite_bool_in
        return None


class RowWriter:
    """INSERT / UPDATE / DELETE / SELECT-by-id of whole rows of one table keyed by case_id."""

    def __init__(self, sql: DriverSQL, table: Table, columns: Sequence[str]) -> None:
        self.table = table
        self.columns = tuple(columns)  # without case_id
        self.key_out = sql.out(table.c.case_id)
        self.key_in = sql.into(table.c.case_id)
        self.outs = [sql.out(table.c[c]) for c in self.columns]
        self.ins = [sql.into(table.c[c]) for c in self.columns]
        ph = sql.ph
        name = _q(table.name)
        cols = ", ".join(_q(c) for c in self.columns)
        self.insert_sql = (
            f"INSERT INTO {name} ({_q('case_id')}, {cols}) "
            f"VALUES ({', '.join([ph] * (len(self.columns) + 1))})"
        )
        sets = ", ".join(f"{_q(c)} = {ph}" for c in self.columns)
        self.update_sql = f"UPDATE {name} SET {sets} WHERE {_q('case_id')} = {ph}"
        self.delete_sql = f"DELETE FROM {name} WHERE {_q('case_id')} = {ph}"
        self._select_head = f"SELECT {_q('case_id')}, {cols} FROM {name} WHERE {_q('case_id')} IN "
        self.ph = ph

    def _key(self, cid: UUID) -> Any:
        return self.key_out(cid) if self.key_out else cid

    def _values(self, row: dict[str, Any]) -> list[Any]:
        out = []
        for c, conv in zip(self.columns, self.outs, strict=True):
            v = row[c]
            out.append(conv(v) if conv is not None and v is not None else v)
        return out

    def insert(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            params = [(self._key(r["case_id"]), *self._values(r)) for r in rows]
            conn.exec_driver_sql(self.insert_sql, params)

    def update(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            params = [(*self._values(r), self._key(r["case_id"])) for r in rows]
            conn.exec_driver_sql(self.update_sql, params)

    def delete(self, conn: Connection, ids: Sequence[UUID]) -> None:
        if ids:
            conn.exec_driver_sql(self.delete_sql, [(self._key(i),) for i in ids])

    def select(self, conn: Connection, ids: Sequence[UUID]) -> list[dict[str, Any]]:
        if not ids:
            return []
        stmt = self._select_head + "(" + ", ".join([self.ph] * len(ids)) + ")"
        result = conn.exec_driver_sql(stmt, tuple(self._key(i) for i in ids))
        rows = []
        for rec in result:
            key = rec[0]
            row: dict[str, Any] = {"case_id": self.key_in(key) if self.key_in else key}
            for c, conv, v in zip(self.columns, self.ins, rec[1:], strict=True):
                row[c] = conv(v) if conv is not None and v is not None else v
            rows.append(row)
        return rows


class CountsWriter:
    """Adds summed deltas to view_counts: insert, or add to the existing row."""

    def __init__(self, sql: DriverSQL) -> None:
        self.date_out = sql.out(view_counts.c.day)
        ph = sql.ph
        cols = ["kind", "key", "day", "month", *COUNT_FIELDS]
        adds = ", ".join(f"{_q(f)} = {_q('view_counts')}.{_q(f)} + excluded.{_q(f)}" for f in COUNT_FIELDS)
        self.sql = (
            f"INSERT INTO {_q('view_counts')} ({', '.join(_q(c) for c in cols)}) "
            f"VALUES ({', '.join([ph] * len(cols))}) "
            f"ON CONFLICT ({_q('kind')}, {_q('key')}, {_q('day')}) DO UPDATE SET {adds}"
        )

    def add(self, conn: Connection, rows: Sequence[tuple[str, str, dt.date, str, list[int]]]) -> None:
        if not rows:
            return
        conv = self.date_out
        params = [
            (kind, key, conv(day) if conv else day, month, *vector)
            for kind, key, day, month, vector in rows
        ]
        conn.exec_driver_sql(self.sql, params)
