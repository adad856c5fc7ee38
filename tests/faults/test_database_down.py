"""PostgreSQL stopped under the HTTP API: a quick, clear 503, and back to work by itself.

A hotline operator pressing 受理 while the database is away must hear it at once: 503
``{"error": "unavailable", "message": "数据库暂时不可用，请稍后重试"}`` with ``Retry-After``,
within a few seconds (it used to take 122-302 s and answer 500), from every kind of route:
intake, case reads, lists, Open311, and ``/healthz`` for the load balancer. When the server is
started again the same requests succeed without restarting the API, what was refused can be
sent again (once), and nothing accepted before the outage is lost.

The server is stopped for real (``pg_ctl stop``, fast and immediate), nothing is mocked.
"""

from __future__ import annotations

import threading
import time
import uuid
import warnings
from typing import Any

import pytest

from adapters.bootstrap import bootstrap
from adapters.http import create_app
from engine.settings import Settings
from tests.faults.support import assert_each_once, received_counts, size
from tests.support.services import PostgresServer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

OPERATOR = {"Authorization": "Bearer demo-operator-token"}
UNIT = {"Authorization": "Bearer demo-unit-chatinglu"}
UNAVAILABLE = {"error": "unavailable", "message": "数据库暂时不可用，请稍后重试"}
QUICK = 10.0  # seconds: what "at once" may take on two loaded cores (measured: ~2 s)
OUTAGE = size(20, 120)  # seconds the server stays down while requests keep coming


def _record(n: int) -> dict[str, Any]:
    return {
        "order_no": f"PGDOWN{n:05d}",
        "received_at": "2026-09-21T10:00:00+08:00",
        "caller_phone": "13912345678",
        "caller_name": "陈伟",
        "content": f"茶亭路{n}号门口路灯坏了，编号PGDOWN{n:05d}，请尽快修理",
        "address": f"北海市海城区茶亭路{n}号",
    }


# /healthz gives the database state and the log's head only to a leader, an admin or the
# metrics token.
LEADER = {"Authorization": "Bearer demo-leader-token"}


def _timed(call: Any) -> tuple[Any, float]:
    t0 = time.monotonic()
    r = call()
    return r, time.monotonic() - t0


def _assert_unavailable(r: Any, took: float, what: str) -> None:
    assert r.status_code == 503, (what, r.status_code, r.text[:300])
    assert took < QUICK, f"{what} took {took:.1f}s to answer 503"
    assert int(r.headers["retry-after"]) > 0, what
    if "/open311/" in what:
        assert r.json() == [{"code": 503, "description": UNAVAILABLE["message"]}], r.text
    elif what == "/healthz":
        assert r.json() == {"status": "unavailable"}, r.text  # the public answer: one bit
    else:
        assert r.json() == UNAVAILABLE, r.text


@pytest.fixture
def pg() -> Any:
    from tests.conftest import own_server

    server = own_server(PostgresServer())
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_stopped_under_the_api_answers_503_quickly_and_recovers(
    pg: PostgresServer, mode: str
) -> None:
    url = pg.create_database("down")
    # Acknowledged means stored, also across an immediate stop (see test_service_restarts).
    pg._psql("postgres", 'ALTER DATABASE "down" SET synchronous_commit = on')
    runtime = bootstrap(Settings(db=url, kafka=None, config_path=None, cipher_key=None))
    try:
        with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
            before = {}
            for n in range(1, 21):
                r = client.post("/api/cases", json=_record(n), headers=OPERATOR)
                assert r.status_code == 201, r.text
                before[r.json()["id"]] = r.json()["content"]
            some = next(iter(before))
            assert client.get("/healthz", headers=LEADER).json()["database"] == "ok"

            pg._shutdown(mode)  # stopped: nothing listens on the port any more
            reads = {
                "POST /api/cases": lambda: client.post("/api/cases", json=_record(99), headers=OPERATOR),
                f"/api/cases/{some}": lambda: client.get(f"/api/cases/{some}", headers=OPERATOR),
                f"/api/cases/{some}/events": lambda: client.get(f"/api/cases/{some}/events", headers=OPERATOR),
                "/api/cases": lambda: client.get("/api/cases", headers=OPERATOR),
                "/api/units/chatinglu/inbox": lambda: client.get("/api/units/chatinglu/inbox", headers=UNIT),
                "/api/stats": lambda: client.get("/api/stats?by=unit", headers=OPERATOR),
                "/open311/v2/requests.json": lambda: client.get("/open311/v2/requests.json"),
                f"/open311/v2/requests/{some}.json": lambda: client.get(
                    f"/open311/v2/requests/{some}.json", params={"api_key": "demo-operator-token"}),
                "POST /open311/v2/requests.json": lambda: client.post("/open311/v2/requests.json", data={
                    "api_key": "demo-operator-token", "service_code": "municipal",
                    "description": "茶亭路3号井盖缺失", "address_string": "海城区茶亭路3号"}),
            }
            timings: dict[str, float] = {}
            for what, call in reads.items():
                r, took = _timed(call)
                _assert_unavailable(r, took, what)
                timings[what] = took
            r, took = _timed(lambda: client.get("/healthz"))
            _assert_unavailable(r, took, "/healthz")
            assert r.json() == {"status": "unavailable"}  # the public answer says nothing more
            detailed, took = _timed(lambda: client.get("/healthz", headers=LEADER))
            assert detailed.status_code == 503 and took < QUICK, (took, detailed.text)
            assert detailed.json()["status"] == detailed.json()["database"] == "unavailable"

            # Operators keep pressing while it is down: every answer quick, concurrent ones too.
            worst, answered = 0.0, 0
            deadline = time.monotonic() + OUTAGE
            while time.monotonic() < deadline:
                results: list[tuple[Any, float]] = []
                calls = [reads["POST /api/cases"], reads[f"/api/cases/{some}"]] * 3
                threads = [
                    threading.Thread(target=lambda c=c, out=results: out.append(_timed(c)))
                    for c in calls
                ]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=60)
                assert len(results) == len(calls), "a request hung"
                for r, took in results:
                    _assert_unavailable(r, took, "during the outage")
                    worst = max(worst, took)
                answered += len(results)
                time.sleep(1)

            pg.start()  # same data folder, same port
            started = time.monotonic()
            while client.get("/healthz").status_code != 200:
                assert time.monotonic() - started < 60, "the API did not come back by itself"
                time.sleep(0.1)
            recovered = time.monotonic() - started

            # The refused record was not stored: sent again, it is a new case, once.
            again = client.post("/api/cases", json=_record(99), headers=OPERATOR)
            assert again.status_code == 201 and again.json()["duplicate"] is False, again.text
            resent = client.post("/api/cases", json=_record(99), headers=OPERATOR)
            assert resent.status_code == 200 and resent.json()["duplicate"] is True
            got = client.get(f"/api/cases/{some}", headers=OPERATOR)
            assert got.status_code == 200 and got.json()["content"] == before[some]
            listed = client.get("/api/cases", params={"limit": 500}, headers=OPERATOR).json()
            assert set(before) | {again.json()["id"]} <= {row["case_id"] for row in listed}
            assert client.get("/open311/v2/requests.json").status_code == 200
            assert client.get("/healthz", headers=LEADER).json()["events"] > 0

        expected = {uuid.UUID(cid) for cid in before} | {uuid.UUID(again.json()["id"])}
        # Every case accepted before the outage once, the refused ones only as re-sent.
        assert_each_once(received_counts(runtime.app), expected)
        slowest = max(timings.values())
        print(
            f"\npostgres stopped ({mode}) under the API: 503 in {min(timings.values()):.1f}-"
            f"{slowest:.1f}s on {len(timings)} routes, /healthz 503; {answered} more requests "
            f"over {OUTAGE}s all 503, slowest {worst:.1f}s; after the start the API answered "
            f"again in {recovered:.1f}s without a restart; 0 lost, 0 doubled"
        )
    finally:
        runtime.close()
