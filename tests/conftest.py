"""Shared pytest setup. This part: real PostgreSQL and Kafka servers.

Fixtures (each server starts lazily, on the first test that asks for it, once
per session, and is stopped at session end):

- ``pg_server``          -> tests.support.services.PostgresServer (``.url``,
                            ``.create_database(name)``, ``.restart()``)
- ``postgres_url``       -> "postgresql://sanshi:sanshi@127.0.0.1:PORT/sanshi"
- ``fresh_postgres_url`` -> URL of a new, empty database for this test only
- ``kafka_broker``       -> tests.support.services.KafkaBroker (``.bootstrap``,
                            ``.restart()``, ``.kill()``)
- ``kafka_bootstrap``    -> "127.0.0.1:PORT"

A fault test that restarts or kills a server should use its own instance
(``with PostgresServer() as pg:`` / ``with KafkaBroker() as k:``) rather than the
shared one, or leave it running when done.

If a server cannot be started (not installed): with SANSHI_REQUIRE_SERVICES=1 or
CI=true the test fails, otherwise it is skipped. Install with
``scripts/install-test-deps.sh``.

Markers registered here: ``postgres``, ``kafka``, ``slow``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn, TypeVar

import pytest

_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from tests.support import moved_clock  # noqa: E402  (moves the clocks when TEST_NOW is set)
from tests.support.services import (  # noqa: E402
    KafkaBroker,
    PostgresServer,
    ServiceError,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs a real PostgreSQL server")
    config.addinivalue_line("markers", "kafka: needs a real Kafka broker")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line(
        "markers",
        "date_sensitive: its outcome can depend on today's date (intake and read routes that take "
        "'now', the browser's clock); CI runs these again under moved clocks "
        "(tests/support/moved_clock.py). A test acting at fixed instants does not need it; "
        "tests/support/clock_probe.py lists the tests that read the clock",
    )
    # kafka-python 3.0.x loads its protocol schemas with importlib.resources'
    # legacy API: ~100 DeprecationWarnings per session, not ours to fix.
    config.addinivalue_line("filterwarnings", "ignore:read_text is deprecated:DeprecationWarning")
    config.addinivalue_line("filterwarnings", "ignore:open_text is deprecated:DeprecationWarning")


def services_required() -> bool:
    """True in CI: a service that cannot start fails the test, never skips it."""
    return (
        os.environ.get("SANSHI_REQUIRE_SERVICES") == "1"
        or os.environ.get("CI", "").lower() == "true"
    )


def _unavailable(what: str, err: BaseException) -> NoReturn:
    msg = f"{what} unavailable: {err}"
    if services_required():
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


OwnServer = TypeVar("OwnServer", PostgresServer, KafkaBroker)


def own_server(server: OwnServer) -> OwnServer:
    """A server of the test's own, to stop, kill or restart, started; one that cannot start
    fails the test in CI and skips it elsewhere, as the shared fixtures do."""
    try:
        return server.start()
    except (ServiceError, OSError) as e:
        server.stop()
        _unavailable(type(server).__name__, e)


_startup: dict[str, float] = {}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    error: BaseException | None = None
    try:
        server.start()
    except (ServiceError, OSError) as e:
        server.stop()
        error = e
    if error is not None:  # raised outside the except block: no chained traceback
        _unavailable("PostgreSQL", error)
    if server.startup_seconds is not None:
        _startup["postgres"] = server.startup_seconds
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(pg_server: PostgresServer) -> str:
    return pg_server.url


@pytest.fixture
def fresh_postgres_url(pg_server: PostgresServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex}"
    url = pg_server.create_database(name)
    yield url
    if pg_server.running:
        with contextlib.suppress(ServiceError):  # the server goes at session end anyway
            pg_server.drop_database(name)


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[KafkaBroker]:
    broker = KafkaBroker()
    error: BaseException | None = None
    try:
        broker.start()
    except (ServiceError, OSError) as e:
        broker.stop()
        error = e
    if error is not None:  # raised outside the except block: no chained traceback
        _unavailable("Kafka broker", error)
    if broker.startup_seconds is not None:
        _startup["kafka"] = broker.startup_seconds
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker) -> str:
    return kafka_broker.bootstrap


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The moved-clock passes collect only the test files that name ``date_sensitive``
    (scripts/test-all.sh; collecting the whole suite cost each pass ~17 s of a core). A test
    marked in a file that does not name the marker (through a helper's mark, say) would be left
    out of them unseen: every run that collects it stops here instead."""
    texts: dict[Path, bool] = {}
    unnamed = set()
    for item in items:
        if item.get_closest_marker("date_sensitive") is None:
            continue
        path = Path(item.path)
        if path not in texts:
            texts[path] = "date_sensitive" in path.read_text(encoding="utf-8")
        if not texts[path]:
            unnamed.add(str(path))
    if unnamed:
        raise pytest.UsageError(
            "date_sensitive tests in files that do not name the marker (the moved-clock passes "
            f"would skip them; name it in the file): {sorted(unnamed)}"
        )


def pytest_report_header(config: pytest.Config) -> str | None:
    moved = moved_clock.moved_to()
    return f"clocks moved to {moved.isoformat()} ({moved_clock.ENV})" if moved else None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _startup:
        parts = ", ".join(f"{name} {secs:.1f}s" for name, secs in sorted(_startup.items()))
        terminalreporter.write_line(f"test services started: {parts}")
