"""The API on PostgreSQL answers a write without waiting for the views (a thread catches them
up after the saves, ``projections.wiring.catch_up_in_background``): every read still sees
every write made before it, and the views equal a rebuild from the log."""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from adapters.http import create_app
from engine.deadlines import SHANGHAI
from tests.support.api import OPERATOR, auth
from tests.support.fold_oracle import demo_config, make_runtime

pytestmark = pytest.mark.postgres

TEXTS = (
    "茶亭路12号路灯坏了，晚上一片黑",
    "东一巷菜场门口占道经营，堵住了路",
    "幸福小区3号楼电梯故障，老人下不了楼",
    "学校门口的下水道堵了，污水漫到人行道",
)


def test_every_read_sees_the_writes_before_it_and_the_views_equal_a_rebuild(
    fresh_postgres_url: str,
) -> None:
    rt = make_runtime(fresh_postgres_url, demo_config(merge_similarity=1.0))
    try:
        with TestClient(create_app(rt), raise_server_exceptions=False) as client:
            # The catch-up left the save (a thread's wake-up instead).
            assert rt.app.on_saved != rt.projector.catch_up_quietly
            today = dt.datetime.now(SHANGHAI).date()

            def create_and_claim(i: int) -> tuple[str, str]:
                record = {
                    "order_no": f"VB{i:06d}",
                    "received_at": dt.datetime.now(SHANGHAI).isoformat(timespec="seconds"),
                    "content": f"{TEXTS[i % len(TEXTS)]}（第{i}次反映）",
                    "caller_phone": "13912340000",
                }
                created = client.post("/api/cases", json=record, headers=auth(OPERATOR))
                assert created.status_code == 201, created.text
                case: dict[str, Any] = created.json()
                if case["status"] != "dispatched":
                    return case["id"], case["status"]
                unit = case["assigned_unit"]
                claimed = client.post(f"/api/cases/{case['id']}/claim", json={},
                                      headers=auth(f"demo-unit-{unit}"))
                assert claimed.status_code == 200, claimed.text
                # Read-your-writes: the unit's inbox (a view) shows the claim at once.
                inbox = client.get(f"/api/units/{unit}/inbox", headers=auth(f"demo-unit-{unit}"))
                assert inbox.status_code == 200, inbox.text
                row = next(r for r in _rows(inbox.json()) if r.get("case_id") == case["id"])
                assert row["status"] == "claimed", row
                return case["id"], "claimed"

            with ThreadPoolExecutor(8) as pool:
                done = list(pool.map(create_and_claim, range(48)))
            assert sum(status == "claimed" for _, status in done) >= 24, done

            # Right after the last answer: the figures count every case.
            live = {by: rt.read_model.stats(by, today, today + dt.timedelta(days=1))
                    for by in (None, "unit", "category")}
            assert live[None]["total"]["received"] == len(done)
            assert rt.projector.lag() == 0
            rt.projector.rebuild()
            for by, stats in live.items():
                assert rt.read_model.stats(by, today, today + dt.timedelta(days=1)) == stats, by
    finally:
        rt.close()


def _rows(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict):
        for key in ("rows", "cases", "items"):
            if isinstance(body.get(key), list):
                return list(body[key])
    assert isinstance(body, list), body
    return list(body)


def test_a_read_does_not_hang_behind_a_process_stopped_inside_its_batch(
    fresh_postgres_url: str,
) -> None:
    """Another process that stopped inside its views' batch (paused, frozen, swapped out)
    holds the views' position row until it goes on. A read waits a bounded time for it, then
    answers from the views as they are; once the holder is gone, the next read shows all."""
    rt = make_runtime(fresh_postgres_url, demo_config(merge_similarity=1.0))
    rt.projector.read_lock_wait = 1.0
    try:
        with TestClient(create_app(rt), raise_server_exceptions=False) as client:

            def create(n: int) -> str:
                record = {
                    "order_no": f"ST{n:06d}",
                    "received_at": dt.datetime.now(SHANGHAI).isoformat(timespec="seconds"),
                    "content": TEXTS[n],
                    "caller_phone": "13912340000",
                }
                created = client.post("/api/cases", json=record, headers=auth(OPERATOR))
                assert created.status_code == 201, created.text
                return str(created.json()["id"])

            def listed() -> set[str]:
                answer = client.get("/api/cases", params={"limit": 100}, headers=auth(OPERATOR))
                assert answer.status_code == 200, answer.text
                return {str(r.get("case_id") or r.get("id")) for r in _rows(answer.json())}

            first = create(0)
            assert first in listed()
            holder = psycopg.connect(fresh_postgres_url)
            try:
                # The stopped process: inside its batch's transaction, the row taken.
                holder.execute(
                    'UPDATE "view_tracking" SET "position" = "position" WHERE "name" = %s',
                    (rt.projector.name,),
                )
                second = create(1)
                with ThreadPoolExecutor(1) as pool:
                    started = time.monotonic()
                    read = pool.submit(listed)
                    try:
                        seen = read.result(timeout=20)
                    finally:
                        holder.rollback()  # a read still waiting (the old code) ends too
                    waited = time.monotonic() - started
                assert first in seen and second not in seen  # the views as they were
                assert waited < 10, waited
            finally:
                holder.close()
            assert second in listed()  # the holder gone: the next read catches up
            assert rt.projector.lag() == 0
    finally:
        rt.close()
