"""``projections.tables.ping_when_idle``: the pools on PostgreSQL ask a connection whether it is
alive only when it has sat idle, and replace a dead one before handing it out. Real
PostgreSQL; a backend killed with ``pg_terminate_backend`` stands for a restart or a dropped
link."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

from projections.tables import IDLE_BEFORE_PING_S, make_engine, ping_when_idle


def _sa_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@pytest.fixture
def engine(fresh_postgres_url: str) -> Iterator[Engine]:
    e = ping_when_idle(create_engine(_sa_url(fresh_postgres_url), pool_size=1, max_overflow=0),
                       idle_seconds=0.2)
    yield e
    e.dispose()


def _pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        calls.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return calls


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.1)


def test_a_connection_in_use_is_not_asked(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    pings = _pings(engine, monkeypatch)
    for _ in range(20):
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert pings == []


def test_a_connection_that_sat_idle_is_asked_once_per_checkout(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _backend_pid(engine)
    pings = _pings(engine, monkeypatch)
    time.sleep(0.3)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert len(pings) == 1


def test_an_idle_connection_that_died_is_replaced_before_it_is_handed_out(
    engine: Engine, fresh_postgres_url: str
) -> None:
    dead = _backend_pid(engine)
    _terminate(fresh_postgres_url, dead)
    time.sleep(0.3)
    with engine.connect() as conn:  # no error: the check found it dead and reconnected
        alive = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    assert alive != dead


def test_a_connection_that_died_while_hot_fails_once_then_the_pool_recovers(
    fresh_postgres_url: str,
) -> None:
    """The trade made for the round trip: a connection back in the pool a moment ago is not
    asked, so the one statement that finds it dead fails (as one in flight during a restart
    does with any check), and the next checkout gets a new connection."""
    e = ping_when_idle(create_engine(_sa_url(fresh_postgres_url), pool_size=1, max_overflow=0),
                       idle_seconds=60)
    try:
        dead = _backend_pid(e)
        _terminate(fresh_postgres_url, dead)
        with pytest.raises(OperationalError), e.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert _backend_pid(e) != dead
    finally:
        e.dispose()


def test_the_views_engine_checks_a_connection_idle_past_the_default(
    fresh_postgres_url: str,
) -> None:
    e = make_engine(fresh_postgres_url)
    try:
        dead = _backend_pid(e)
        _terminate(fresh_postgres_url, dead)
        time.sleep(IDLE_BEFORE_PING_S + 0.1)
        assert _backend_pid(e) != dead
    finally:
        e.dispose()
