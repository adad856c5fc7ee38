"""Every answer that shows a case leaves an audit row (who read which case, masked or not),
and the row is in the database for anyone who opens it afterwards: read from a new
connection of the database's own driver, not through the store that wrote it. On
PostgreSQL the row is written in autocommit; on SQLite a transaction the same write path
opened and never committed would lose it (it did, in a draft of that change)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from adapters.http.store import ApiStore
from projections.tables import make_engine


def write_reads(url: str, n: int) -> None:
    engine = make_engine(url)
    store = ApiStore(engine)
    for i in range(n):
        store.record_read(
            principal=f"unit:clerk-{i}", role="unit", unit="chengguan", case_id=f"case-{i}",
            what="claim", masked=True,
        )
    engine.dispose()


def test_audit_rows_are_stored_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    write_reads(f"sqlite:///{db}", 3)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT principal, case_id FROM api_audit ORDER BY id").fetchall()
    assert rows == [(f"unit:clerk-{i}", f"case-{i}") for i in range(3)]


@pytest.mark.postgres
def test_audit_rows_are_stored_on_postgres(fresh_postgres_url: str) -> None:
    write_reads(fresh_postgres_url, 3)
    with psycopg.connect(fresh_postgres_url) as conn:
        rows = conn.execute("SELECT principal, case_id FROM api_audit ORDER BY id").fetchall()
    assert rows == [(f"unit:clerk-{i}", f"case-{i}") for i in range(3)]
