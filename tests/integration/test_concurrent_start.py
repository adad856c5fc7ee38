"""Several processes start on one fresh PostgreSQL database at the same moment (``sanshi serve
--workers 2``, three Kafka workers started together): each creates the tables it needs, and
none of them fails because another one is creating the same ones.

Each start is its own application with its own connection pools, released together by a
barrier from real threads: PostgreSQL sees the same concurrent DDL as from processes.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from adapters.bootstrap import Runtime, bootstrap
from adapters.http.app import create_app
from engine.config import load_config
from engine.domain import Status
from engine.routing.keyword import KeywordRouter
from engine.settings import Settings
from tests.support.lifecycle import build
from tests.support.services import PostgresServer

pytestmark = pytest.mark.postgres

STARTS = 6
ROUNDS = 4


def start_together(url: str) -> tuple[list[Runtime], list[BaseException]]:
    config = load_config()
    settings = Settings(db=url, kafka=None, config_path=None, cipher_key=None)
    barrier = threading.Barrier(STARTS)
    started: list[Runtime] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def start() -> None:
        barrier.wait()
        try:
            runtime = bootstrap(settings=settings, config=config, router=KeywordRouter(config))
            create_app(runtime)  # the API's own stores: accounts, tokens, outbox, photos
        except BaseException as exc:
            with lock:
                errors.append(exc)
        else:
            with lock:
                started.append(runtime)

    threads = [threading.Thread(target=start) for _ in range(STARTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return started, errors


@pytest.fixture
def fresh_databases(pg_server: PostgresServer) -> Iterator[list[str]]:
    names = [f"t_{uuid.uuid4().hex}" for _ in range(ROUNDS)]
    yield [pg_server.create_database(n) for n in names]
    for n in names:
        pg_server.drop_database(n)


def test_six_starts_on_one_fresh_database_all_come_up_and_share_one_log(
    fresh_databases: list[str],
) -> None:
    for url in fresh_databases:
        started, errors = start_together(url)
        try:
            assert errors == [], [f"{type(e).__name__}: {e}" for e in errors]
            assert len(started) == STARTS
            # One log: a case received through one start is read through every other.
            cid = build(started[0].app, Status.DISPATCHED)
            for r in started[1:]:
                assert r.app.get_case(cid).status == Status.DISPATCHED
        finally:
            for r in started:
                r.close()
