"""What counts as "the database is unavailable" (503, retry later) and what stays a bug (500).

The outage itself, with a real PostgreSQL stopped under the API, is in
``tests/faults/test_database_down.py``.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import psycopg.errors
import psycopg_pool
import pytest
from eventsourcing.persistence import IntegrityError as StoreIntegrityError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from eventsourcing.persistence import ProgrammingError as StoreProgrammingError
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from adapters.http.database import DatabaseDown, DatabaseUnavailable, database_unavailable
from tests.support.api import LAMP, LAMP_ADDRESS, OPERATOR, api_client, auth


def wrapped(outer: type[Exception], inner: BaseException) -> Exception:
    """``outer`` raised from ``inner``, as eventsourcing and SQLAlchemy wrap driver errors."""
    try:
        try:
            raise inner
        except BaseException as e:
            if issubclass(outer, sa_exc.DBAPIError):
                raise outer("SELECT 1", {}, e) from e
            raise outer(str(e)) from e
    except Exception as e:
        return e
    raise AssertionError("unreachable")


AWAY = {
    "connection refused": psycopg.OperationalError("connection failed: Connection refused"),
    "server shutting down": psycopg.errors.AdminShutdown("terminating connection"),
    "server starting": psycopg.errors.CannotConnectNow("the database system is starting up"),
    "too many connections": psycopg.errors.TooManyConnections("too many clients"),
    "lock timeout": psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
    "connection closed": psycopg.InterfaceError("the connection is closed"),
    "pool wait": psycopg_pool.PoolTimeout("couldn't get a connection after 5.00 sec"),
    "via eventsourcing": wrapped(StoreOperationalError, psycopg.OperationalError("server closed")),
    "via SQLAlchemy": wrapped(sa_exc.OperationalError, psycopg.OperationalError("refused")),
    "SQLite locked": wrapped(sa_exc.OperationalError, sqlite3.OperationalError("database is locked")),
    "SQLAlchemy pool": sa_exc.TimeoutError("QueuePool limit of size 5 overflow 10 reached"),
    "the gate, early": DatabaseUnavailable("down"),
    "the gate, later": DatabaseDown("down"),
}
BUGS = {
    "missing table": psycopg.errors.UndefinedTable('relation "x" does not exist'),
    "syntax": psycopg.errors.SyntaxError("syntax error at or near"),
    "unique violation": psycopg.errors.UniqueViolation("duplicate key"),
    "version conflict": wrapped(StoreIntegrityError, psycopg.errors.UniqueViolation("duplicate")),
    "statement too complex": psycopg.errors.StatementTooComplex("stack depth limit exceeded"),
    "store programming": wrapped(StoreProgrammingError, psycopg.errors.UndefinedColumn("no column")),
    "SQLite no table": wrapped(sa_exc.OperationalError, sqlite3.OperationalError("no such table: x")),
    "plain bug": KeyError("unit"),
}


@pytest.mark.parametrize("exc", AWAY.values(), ids=AWAY.keys())
def test_the_database_being_away_is_unavailable(exc: BaseException) -> None:
    assert database_unavailable(exc)


@pytest.mark.parametrize("exc", BUGS.values(), ids=BUGS.keys())
def test_bugs_are_not_unavailable(exc: BaseException) -> None:
    assert not database_unavailable(exc)


def test_a_broken_schema_is_a_500_not_a_503(tmp_path: Path) -> None:
    """A view table gone (a bug or a botched migration) must not pass for an outage: retrying
    later would not help, and the log must show it."""
    with api_client(f"sqlite:///{tmp_path / 'sanshi.db'}") as (client, runtime):
        r = client.post(
            "/api/cases",
            json={"order_no": "BUG1", "received_at": "2026-09-21 10:00:00",
                  "content": LAMP.format(n=1), "address": LAMP_ADDRESS.format(n=1)},
            headers=auth(OPERATOR),
        )
        assert r.status_code == 201
        with runtime.views_engine.begin() as conn:
            conn.execute(text("DROP TABLE view_cases"))
        listed = client.get("/api/cases", headers=auth(OPERATOR))
        assert listed.status_code == 500, listed.text
        assert listed.json() == {"error": "internal", "message": "服务器内部错误，已记录"}
        assert "retry-after" not in listed.headers
        # The log itself is fine: the case reads.
        assert client.get(f"/api/cases/{r.json()['id']}", headers=auth(OPERATOR)).status_code == 200
        assert client.get("/healthz").status_code == 200


def test_the_gate_probes_once_for_everyone_waiting() -> None:
    """A database host that does not answer (each probe takes its whole timeout): requests
    arriving together share one probe instead of queueing a probe each."""
    import threading
    import time

    from adapters.http.database import PostgresGate

    probes = []

    def slow_refusal() -> None:
        probes.append(time.monotonic())
        time.sleep(0.3)  # longer than the interval between probes
        raise OSError("timeout expired")

    gate = PostgresGate(slow_refusal, interval=0.2)
    gate.check()  # nothing failed yet: no probe
    assert not probes
    gate.failed()
    took: list[float] = []

    def request() -> None:
        t0 = time.monotonic()
        with pytest.raises(DatabaseUnavailable):
            gate.check()
        took.append(time.monotonic() - t0)

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(probes) == 1 and max(took) < 1.0, (len(probes), took)
