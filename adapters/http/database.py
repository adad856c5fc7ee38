"""The database is down: answer 503 within seconds, and work again as soon as it is back.

Without this, a request to a stopped PostgreSQL waited for minutes: eventsourcing retries every
read and write of the log 10 times (``@retry(max_attempts=10, wait=0.2)`` in
``eventsourcing/postgres.py``), and each attempt waited for its connection pool to hand out a
connection (``POSTGRES_CONNECT_TIMEOUT``, 30 s by default) that the pool could not make, and
the answer after all that was a 500 (the times measured: bench/RESULTS.md, "Numbers moved from
comments").

Two parts:

- Bounded waits (``engine/settings.py``, ``adapters/bootstrap.py``): 5 s for a pooled
  connection, 5 s for a new one (libpq ``connect_timeout``, for the log's pool and the
  SQLAlchemy engine of the views and the API's tables).
- :class:`PostgresGate`, installed by ``create_app`` on the log's datastore: once an attempt
  fails with a connection-level error, the next attempts first check that PostgreSQL accepts a
  connection (one probe at a time, at most one a second, 2 s timeout) and fail at once while it
  does not. For the first seconds of an outage the failure is one the library retries (10
  attempts 0.2 s apart: a restart of a second or two passes unnoticed, a longer one is a 503
  after ~2 s); once the database has been refusing for longer than that, the failure is not
  retried and a request is answered at once. When a probe succeeds the pool's idle connections
  are checked (those broken by the outage are replaced) and requests go through again; no
  restart needed. The worker and the CLI do not install it: they would rather wait than answer.

The error then reaches the one handler in ``errors.py`` (:func:`database_unavailable` decides
what counts as "unavailable"): 503 ``{"error": "unavailable", "message": "数据库暂时不可用，请稍后
重试"}`` with ``Retry-After``. A write that got the 503 was not stored (the log's insert is one
transaction); sending it again is safe, intake is idempotent.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import psycopg
import psycopg_pool
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from sqlalchemy import exc as sa_exc

from adapters.exception_chain import causes

if TYPE_CHECKING:
    from adapters.bootstrap import Runtime

log = logging.getLogger("sanshi.http.database")

UNAVAILABLE_MESSAGE = "数据库暂时不可用，请稍后重试"
RETRY_AFTER_SECONDS = 5
PROBE_TIMEOUT_SECONDS = 2
PROBE_INTERVAL_SECONDS = 1.0
# How long an outage may be a restart in progress: until then, requests wait through the
# library's retries; after that they are answered at once.
RIDE_THROUGH_SECONDS = 3.0


class DatabaseUnavailable(StoreOperationalError):
    """Raised by the gate in the first seconds of an outage. An eventsourcing
    ``OperationalError``, so that the library's retry loop treats it as a failed connection:
    retried, then given up after its attempts (~2 s)."""


class DatabaseDown(Exception):
    """Raised by the gate when the database has refused connections for longer than
    :data:`RIDE_THROUGH_SECONDS`: not an eventsourcing error, so not retried."""


# Exception classes that may mean "the database is not there"; database_unavailable() looks
# closer. Registered together with one handler in errors.py.
AVAILABILITY_ERRORS: tuple[type[Exception], ...] = (
    DatabaseDown,
    StoreOperationalError,
    StoreInterfaceError,
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
)


def database_unavailable(exc: BaseException) -> bool:
    """Is this the database being away (down, restarting, refusing connections, out of
    connections, a lock or pool wait that timed out), as opposed to a bug? Looks at the
    exception and what caused it: eventsourcing and SQLAlchemy wrap the driver's errors.

    Unavailable: a connection that could not be made or was lost (psycopg ``OperationalError``
    without an SQLSTATE, or SQLSTATE class 08 connection exception, 53 insufficient resources,
    55 lock not available, 57 operator intervention such as admin shutdown / cannot connect
    now, 58 system error), psycopg ``InterfaceError`` (the connection is closed), a pool wait
    that timed out (psycopg_pool, SQLAlchemy ``QueuePool``), an invalidated SQLAlchemy
    connection, SQLite's "database is locked", and the gate's own two. Everything
    else (syntax, constraint, data errors, a missing table) stays a 500: a bug must not look
    like an outage.
    """
    for e in causes(exc):
        if isinstance(
            e, DatabaseDown | DatabaseUnavailable | psycopg_pool.PoolTimeout | sa_exc.TimeoutError
        ):
            return True
        if isinstance(e, sa_exc.DBAPIError) and e.connection_invalidated:
            return True
        if isinstance(e, psycopg.OperationalError):
            state = e.sqlstate or ""
            return state == "" or state[:2] in {"08", "53", "55", "57", "58"}
        if isinstance(e, psycopg.InterfaceError):
            return True
        if isinstance(e, sqlite3.OperationalError):
            text = str(e).lower()
            return "locked" in text or "busy" in text
    return False


class PostgresGate:
    """Fail fast while PostgreSQL is down (see the module docstring).

    ``probe`` opens and closes one connection, raising if it cannot; ``on_recovery`` runs once
    when a probe succeeds after a failure (the pool's check of its idle connections).
    """

    def __init__(
        self,
        probe: Callable[[], None],
        on_recovery: Callable[[], None] | None = None,
        interval: float = PROBE_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._probe = probe
        self._on_recovery = on_recovery
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._suspect = False  # an attempt failed: probe before the next one
        self._down = False  # the last probe failed
        self._down_since = 0.0
        self._probed_at = float("-inf")

    def failed(self) -> None:
        """A connection-level error happened on the way to the database."""
        self._suspect = True

    def check(self) -> None:
        """Before an attempt: while a probe says the database refuses connections, raise at
        once (:class:`DatabaseUnavailable`, then :class:`DatabaseDown`). Costs nothing while
        nothing has failed."""
        if not self._suspect:
            return
        with self._lock:  # one probe at a time; the others wait for its answer
            if not self._suspect:
                return
            now = self._clock()
            if self._down and now - self._probed_at < self._interval:
                raise self._refusal(now)
            try:
                self._probe()
            except Exception as exc:
                # The time of the answer: those who waited for this probe take it as theirs.
                self._probed_at = self._clock()
                if not self._down:
                    log.warning("database unavailable: %s", type(exc).__name__)
                    self._down, self._down_since = True, now
                raise self._refusal(self._probed_at) from exc
            was_down, self._down, self._suspect = self._down, False, False
            if self._on_recovery is not None:
                try:
                    self._on_recovery()
                except Exception:  # a broken idle connection costs one retry; never fail for it
                    log.warning("pool check after recovery failed", exc_info=True)
            if was_down:
                log.warning("database available again")

    def _refusal(self, now: float) -> Exception:
        if now - self._down_since < RIDE_THROUGH_SECONDS:
            return DatabaseUnavailable(UNAVAILABLE_MESSAGE)
        return DatabaseDown(UNAVAILABLE_MESSAGE)


def install_postgres_gate(runtime: Runtime) -> PostgresGate | None:
    """Put a gate in front of the log's PostgreSQL pool (``runtime.app.recorder.datastore``),
    once per runtime; None when the log is not on PostgreSQL."""
    datastore = getattr(runtime.app.recorder, "datastore", None)
    pool = getattr(datastore, "pool", None)
    if datastore is None or not isinstance(pool, psycopg_pool.ConnectionPool):
        return None
    if not isinstance(pool.kwargs, dict):  # connection parameters from a callable: not ours
        return None
    existing = getattr(datastore, "sanshi_gate", None)
    if isinstance(existing, PostgresGate):
        return existing
    params = {
        k: v for k, v in pool.kwargs.items() if k in ("dbname", "host", "port", "user", "password")
    }

    def probe() -> None:
        psycopg.connect(**params, connect_timeout=PROBE_TIMEOUT_SECONDS).close()

    gate = PostgresGate(probe, on_recovery=pool.check)
    original = datastore.get_connection

    @contextmanager
    def get_connection() -> Iterator[Any]:
        gate.check()
        try:
            with original() as conn:
                yield conn
        except (StoreOperationalError, StoreInterfaceError):
            gate.failed()
            raise

    # An instance attribute: the recorders call self.datastore.get_connection().
    datastore.get_connection = get_connection
    datastore.sanshi_gate = gate
    return gate
