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
from operator import itemgetter
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Column, Connection, Date, Table, Uuid

from projections.sealed import SEALED_COLUMNS, TextSealer, opener
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


# Bound parameters per statement: SQLite allows 32,766, PostgreSQL 65,535.
MAX_PARAMS = 30_000


class Upsert:
    """Insert rows, or overwrite / add to the existing ones, in bulk.

    Measured for 1,000 rows on PostgreSQL 15: one multi-row ``INSERT … VALUES …`` 440 ms (the
    client-side handling of 38k parameters), ``executemany`` 120 ms, ``COPY`` into a temporary
    table and one ``INSERT … SELECT … ON CONFLICT`` 35–60 ms. So PostgreSQL gets COPY; SQLite,
    in-process, gets ``executemany``."""

    def __init__(
        self, sql: DriverSQL, table: str, columns: Sequence[str], conflict: str, sets: str
    ) -> None:
        self.sqlite = sql.sqlite
        cols = ", ".join(_q(c) for c in columns)
        target = _q(table)
        tail = f"ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
        if self.sqlite:
            marks = ", ".join([sql.ph] * len(columns))
            self.statement = f"INSERT INTO {target} ({cols}) VALUES ({marks}) {tail}"
        else:
            stage = _q(f"stage_{table}")
            self.create_stage = (
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} "
                f"(LIKE {target} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            self.copy = f"COPY {stage} ({cols}) FROM STDIN"
            self.statement = f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {stage} {tail}"
            self.clear_stage = f"TRUNCATE {stage}"

    def run(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.sqlite:
            conn.exec_driver_sql(self.statement, [tuple(r) for r in rows])
            return
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute(self.create_stage)
            with cur.copy(self.copy) as copy:
                for r in rows:
                    copy.write_row(r)
            cur.execute(self.statement)
            cur.execute(self.clear_stage)  # two upserts into one table in one transaction


class RowWriter:
    """Upsert / delete / select-by-id of rows of one table keyed by case_id.

    ``columns``: what is written (besides case_id); ``update_columns``: what an existing row
    gets overwritten with (the rest was fixed at intake). ``sealer`` (SANSHI_CIPHER_KEY): the
    text columns of ``projections.sealed`` are sealed as they are written and opened as they
    are selected, so the rows in the projector stay plain."""

    def __init__(
        self,
        sql: DriverSQL,
        table: Table,
        columns: Sequence[str],
        update_columns: Sequence[str],
        sealer: TextSealer | None = None,
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.key_out = sql.out(table.c.case_id)
        self.key_in = sql.into(table.c.case_id)
        self.outs = [sql.out(table.c[c]) for c in self.columns]
        self.ins = [sql.into(table.c[c]) for c in self.columns]
        if sealer is not None:
            # Text columns have no driver converter, so the sealer takes their place.
            seal, open_ = sealer.seal_text, opener(sealer)
            for i, c in enumerate(self.columns):
                if c in SEALED_COLUMNS:
                    assert self.outs[i] is None and self.ins[i] is None
                    self.outs[i], self.ins[i] = seal, open_
        # Building ~50 parameters per row is the projector's hottest Python: one C-level
        # itemgetter, then converters only where the driver needs them (uuid, date on SQLite).
        self._get = itemgetter("case_id", *self.columns)
        self._converted = [
            (i, conv)
            for i, conv in enumerate([self.key_out, *self.outs])
            if conv is not None and conv is not _sqlite_bool_out
        ]
        key = _q("case_id")
        self._upsert = Upsert(
            sql,
            table.name,
            ["case_id", *self.columns],
            key,
            ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in update_columns),
        )
        self.ph = sql.ph
        name = _q(table.name)
        cols = ", ".join(_q(c) for c in self.columns)
        self._delete_head = f"DELETE FROM {name} WHERE {key} IN "
        self._select_head = f"SELECT {key}, {cols} FROM {name} WHERE {key} IN "

    def _key(self, cid: UUID) -> Any:
        return self.key_out(cid) if self.key_out else cid

    def _params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        values: tuple[Any, ...] = self._get(row)
        if not self._converted:
            return values
        out = list(values)
        for i, conv in self._converted:
            v = out[i]
            if v is not None:
                out[i] = conv(v)
        return tuple(out)

    def upsert(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._upsert.run(conn, [self._params(r) for r in rows])

    def _in(self, ids: Sequence[UUID]) -> tuple[str, tuple[Any, ...]]:
        return "(" + ", ".join([self.ph] * len(ids)) + ")", tuple(self._key(i) for i in ids)

    def delete(self, conn: Connection, ids: Sequence[UUID]) -> None:
        for i in range(0, len(ids), MAX_PARAMS):
            marks, params = self._in(ids[i : i + MAX_PARAMS])
            conn.exec_driver_sql(self._delete_head + marks, params)

    def select(self, conn: Connection, ids: Sequence[UUID]) -> list[dict[str, Any]]:
        if not ids:
            return []
        marks, params = self._in(ids)
        result = conn.exec_driver_sql(self._select_head + marks, params)
        rows = []
        for rec in result:
            key = rec[0]
            row: dict[str, Any] = {"case_id": self.key_in(key) if self.key_in else key}
            for c, conv, v in zip(self.columns, self.ins, rec[1:], strict=True):
                row[c] = conv(v) if conv is not None and v is not None else v
            rows.append(row)
        return rows


class CountsWriter:
    """Adds summed deltas to view_counts and view_counts_month: insert, or add to the row."""

    def __init__(self, sql: DriverSQL) -> None:
        self.date_out = sql.out(view_counts.c.day)
        self._daily = self._adder(sql, "view_counts", ["kind", "key", "day", "month"], "day")
        self._monthly = self._adder(sql, "view_counts_month", ["kind", "key", "month"], "month")

    @staticmethod
    def _adder(sql: DriverSQL, table: str, keys: list[str], last_key: str) -> Upsert:
        cols = [*keys, *COUNT_FIELDS]
        adds = ", ".join(f"{_q(f)} = {_q(table)}.{_q(f)} + excluded.{_q(f)}" for f in COUNT_FIELDS)
        conflict = f"{_q('kind')}, {_q('key')}, {_q(last_key)}"
        return Upsert(sql, table, cols, conflict, adds)

    def add(
        self, conn: Connection, rows: Sequence[tuple[str, str, dt.date, str, list[int]]]
    ) -> None:
        conv = self.date_out
        monthly: dict[tuple[str, str, str], list[int]] = {}
        for kind, key, _day, month, vector in rows:
            total = monthly.get((kind, key, month))
            if total is None:
                monthly[(kind, key, month)] = list(vector)
            else:
                for i, v in enumerate(vector):
                    total[i] += v
        self._daily.run(
            conn,
            [
                (kind, key, conv(day) if conv else day, month, *vector)
                for kind, key, day, month, vector in rows
            ],
        )
        self._monthly.run(conn, [(*k, *v) for k, v in monthly.items() if any(v)])
