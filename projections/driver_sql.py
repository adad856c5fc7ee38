"""The projector's hot path, at the DB-API level.

SQLAlchemy's per-parameter type processing (UtcDateTime, then the SQLite DATETIME formatter, for
every datetime column of every case row) was most of a rebuild's time (bench/RESULTS.md,
"Numbers moved from comments"). Here the statements go straight to the driver (``run``; on
PostgreSQL psycopg's own cursor, so that the projector can pipeline them), and timestamps live
in the projector's rows in the database's own representation from the moment an event brings
them (:attr:`DriverSQL.stamp`), so writing a row converts none of them. Values are stored exactly as
SQLAlchemy stores them, so ``projections.queries`` reads them back through the normal column
types:

- SQLite: datetime ``'YYYY-MM-DD HH:MM:SS.ffffff'`` in UTC (these strings sort in time order,
  which is what the fold's one comparison needs), date ISO, uuid 32 hex digits, bool 0/1;
- PostgreSQL: naive UTC ``timestamp``, native ``date`` / ``uuid`` / ``boolean``.

How rows are written on PostgreSQL, each the fastest of the ways measured (bench/RESULTS.md):
new rows by binary ``COPY`` straight into their table (COPY into a temporary table and then
``INSERT … SELECT … ON CONFLICT`` cost more a table a batch, most of it creating and truncating
the temporary table); known rows by one ``UPDATE`` per row of just the columns the batch
changed, pipelined (one ``UPDATE … FROM unnest(arrays)`` was not faster: psycopg dumps list
elements in Python); counters by one ``INSERT … SELECT … FROM unnest(…) ON CONFLICT``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any, cast
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    Uuid,
)
from sqlalchemy.dialects import postgresql

from projections.sealed import SEALED_COLUMNS, TextSealer, opener
from projections.tables import (
    COUNT_FIELDS,
    MAX_STAMP,
    MIN_STAMP,
    UtcDateTime,
    utc_naive,
    view_counts,
    view_counts_month,
)

Converter = Callable[[Any], Any]
UTC = dt.UTC


def _q(name: str) -> str:
    return f'"{name}"'


def _sqlite_stamp(v: dt.datetime) -> str:
    return utc_naive(v).isoformat(" ", "microseconds")


def _pg_stamp(v: dt.datetime) -> dt.datetime:
    offset = v.utcoffset()
    if offset is None:  # naive: astimezone takes it as local time
        return utc_naive(v)
    try:
        utc = v.replace(tzinfo=None) - offset  # without building an aware UTC datetime
    except OverflowError:
        return utc_naive(v)
    # Far instants are clamped (tables.utc_naive); both sides of the test are constants.
    return utc if MIN_STAMP <= utc <= MAX_STAMP else utc_naive(v)


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
        # An aware datetime in the database's representation (naive UTC).
        self.stamp: Callable[[dt.datetime], Any] = _sqlite_stamp if self.sqlite else _pg_stamp

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


_PG = postgresql.base.PGDialect()  # type: ignore[no-untyped-call]
# BigInteger before Integer: it is a subclass.
_PG_TYPES: tuple[tuple[type[Any], str], ...] = (
    (Uuid, "uuid"),
    (Date, "date"),
    (Boolean, "bool"),
    (BigInteger, "int8"),
    (Integer, "int4"),
    (Float, "float8"),
)

def run(
    sql: DriverSQL, conn: Connection, statement: str, params: Any, *, many: bool = False
) -> None:
    """A write statement, once or for each parameter tuple (``many``). On PostgreSQL through
    psycopg's own cursor: inside the projector's pipeline (``psycopg.Connection.pipeline``)
    it is only queued, so several statements cost one round trip to the server."""
    if sql.sqlite:
        conn.exec_driver_sql(statement, list(params) if many else params)
        return
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cur:
        if many:
            cur.executemany(statement, params)
        else:
            cur.execute(statement, params)


# Bound parameters per statement: SQLite allows 32,766, PostgreSQL 65,535.
MAX_PARAMS = 30_000


def _array_type(column: Column[Any]) -> str:
    """PostgreSQL type of an array of this column's values. Strings go as ``text``: a cast to
    ``varchar(n)`` would cut a longer value silently, the assignment refuses it."""
    if isinstance(column.type, String):
        return "text"
    return str(column.type.compile(dialect=_PG))


def _int_array(values: Sequence[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def _pg_type(column: Column[Any]) -> str:
    """The PostgreSQL type a binary COPY sends for this column."""
    t = column.type
    if isinstance(t, String):
        return "text"
    if isinstance(t, DateTime | UtcDateTime):
        return "timestamp"
    for kind, name in _PG_TYPES:
        if isinstance(t, kind):
            return name
    raise TypeError(f"no binary COPY type for {column}")


def _unnest(table: Table, columns: Sequence[str]) -> str:
    """``unnest(%s::t1[], …) AS s(c1, …)``: rows given as one array parameter per column, in
    one statement (temporary tables to COPY into cost more per batch: each has to be created
    and truncated)."""
    arrays = ", ".join(f"%s::{_array_type(table.c[c])}[]" for c in columns)
    return f"unnest({arrays}) AS s({', '.join(_q(c) for c in columns)})"


class Upsert:
    """Insert rows, or add to the existing ones, in bulk.

    PostgreSQL: one ``INSERT … SELECT … FROM unnest(…) ON CONFLICT``, the rows given as one array
    per column: as fast as ``executemany`` for a hundred rows and faster for more
    (bench/RESULTS.md), and no temporary table to create and truncate for a COPY. SQLite,
    in-process, gets ``executemany``."""

    def __init__(
        self, sql: DriverSQL, table: Table, columns: Sequence[str], conflict: str, sets: str
    ) -> None:
        self.sql = sql
        self.sqlite = sql.sqlite
        cols = ", ".join(_q(c) for c in columns)
        target = _q(table.name)
        tail = f"ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
        if self.sqlite:
            marks = ", ".join([sql.ph] * len(columns))
            self.statement = f"INSERT INTO {target} ({cols}) VALUES ({marks}) {tail}"
        else:
            source = _unnest(table, columns)
            self.statement = f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {source} {tail}"
            # psycopg dumps a list element by element in Python; an array of integers is
            # cheaper written as its text form ('{1,0,2}', cast by the statement).
            self._arrays: list[Callable[[Sequence[Any]], Any]] = [
                _int_array if isinstance(table.c[c].type, Integer) else list for c in columns
            ]

    def run(self, conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.sqlite:
            run(self.sql, conn, self.statement, [tuple(r) for r in rows], many=True)
        else:
            arrays = zip(self._arrays, zip(*rows, strict=True), strict=True)
            run(self.sql, conn, self.statement, [to_array(c) for to_array, c in arrays])


class RowWriter:
    """Insert / update / delete / select-by-id of rows of one table keyed by case_id.

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
        # An update sends only the columns the batch changed (of those an event can change),
        # the key last.
        self.update_columns = tuple(update_columns)
        self._get_update = itemgetter(*self.update_columns)
        out_of = dict(zip(["case_id", *self.columns], [self.key_out, *self.outs], strict=True))
        self._update_outs = [
            None if conv is _sqlite_bool_out else conv
            for conv in (out_of[c] for c in self.update_columns)
        ]
        self._update_statements: dict[tuple[int, ...], str] = {}
        key = _q("case_id")
        self.ph = sql.ph
        self.sql = sql
        self.sqlite = sql.sqlite
        name = _q(table.name)
        cols = ", ".join(_q(c) for c in self.columns)
        if self.sqlite:
            marks = ", ".join([sql.ph] * (1 + len(self.columns)))
            self._insert = f"INSERT INTO {name} ({key}, {cols}) VALUES ({marks})"
        else:
            # New rows: COPY into the table itself (they cannot exist: the batch holds the
            # tracking row, and the case had no row when its rows were loaded).
            self._insert = f"COPY {name} ({key}, {cols}) FROM STDIN (FORMAT BINARY)"
            self._insert_types = [_pg_type(table.c[c]) for c in ["case_id", *self.columns]]
        self._delete_head = f"DELETE FROM {name} WHERE {key} IN "
        self._select_head = f"SELECT {key}, {cols} FROM {name} WHERE {key} IN "

    def _key(self, cid: UUID) -> Any:
        return self.key_out(cid) if self.key_out else cid

    def insert_params(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The parameters of inserting this row (every column)."""
        values: tuple[Any, ...] = self._get(row)
        if not self._converted:
            return values
        out = list(values)
        for i, conv in self._converted:
            v = out[i]
            if v is not None:
                out[i] = conv(v)
        return tuple(out)

    def update_values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        """The row's values of the update columns (as the fold has them), to compare."""
        return cast(tuple[Any, ...], self._get_update(row))

    def update_params(
        self, before: tuple[Any, ...], row: dict[str, Any]
    ) -> tuple[tuple[int, ...], tuple[Any, ...]] | None:
        """What updating this row sends, given its ``update_values`` before the batch:
        (the changed columns, their values and the key), or None if nothing changed."""
        after = self._get_update(row)
        changed = tuple(i for i, v in enumerate(after) if v != before[i])
        if not changed:
            return None
        outs = self._update_outs
        params = []
        for i in changed:
            v, conv = after[i], outs[i]
            params.append(conv(v) if conv is not None and v is not None else v)
        params.append(self._key(row["case_id"]))
        return changed, tuple(params)

    def insert(self, conn: Connection, params: Sequence[tuple[Any, ...]]) -> None:
        """Rows that are not in the table yet (``insert_params`` of each)."""
        if not params:
            return
        if self.sqlite:
            run(self.sql, conn, self._insert, params, many=True)
            return
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(self._insert) as copy:
            copy.set_types(self._insert_types)
            write = copy.write_row
            for p in params:
                write(p)

    def update(
        self, conn: Connection, params: dict[tuple[int, ...], list[tuple[Any, ...]]]
    ) -> None:
        """Rows that are in the table: ``update_params`` of each, by the columns changed.
        Most events change two to five columns (the status, a time, a unit), and an update
        of fewer columns costs less to send and to check."""
        for changed, rows in params.items():
            run(self.sql, conn, self._update_statement(changed), rows, many=True)

    def _update_statement(self, changed: tuple[int, ...]) -> str:
        statement = self._update_statements.get(changed)
        if statement is None:
            ph = self.ph
            sets = ", ".join(f"{_q(self.update_columns[i])} = {ph}" for i in changed)
            statement = f"UPDATE {_q(self.table.name)} SET {sets} WHERE {_q('case_id')} = {ph}"
            self._update_statements[changed] = statement
        return statement

    def _in(self, ids: Sequence[UUID]) -> tuple[str, tuple[Any, ...]]:
        return "(" + ", ".join([self.ph] * len(ids)) + ")", tuple(self._key(i) for i in ids)

    def delete(self, conn: Connection, ids: Sequence[UUID]) -> None:
        for i in range(0, len(ids), MAX_PARAMS):
            marks, params = self._in(ids[i : i + MAX_PARAMS])
            run(self.sql, conn, self._delete_head + marks, params)

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
        self._daily = self._adder(sql, view_counts, ["kind", "key", "day", "month"], "day")
        self._monthly = self._adder(sql, view_counts_month, ["kind", "key", "month"], "month")

    @staticmethod
    def _adder(sql: DriverSQL, table: Table, keys: list[str], last_key: str) -> Upsert:
        cols = [*keys, *COUNT_FIELDS]
        name = _q(table.name)
        adds = ", ".join(f"{_q(f)} = {name}.{_q(f)} + excluded.{_q(f)}" for f in COUNT_FIELDS)
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
