"""The 主动治理 and 诉源治理 routes: what a caller gets for good and bad input (422 with a
Chinese message, never a 500). Fixed dates: nothing depends on the day it runs."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.support.api import LEADER, OPERATOR, api_client, auth

PROBLEMS = ("门口的路灯不亮了", "路灯一闪一闪的", "路灯白天也亮着浪费电", "路灯杆上的灯罩掉了")


def _case(client, day: dt.date, n: int, address: str, phone: str) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/cases", headers=auth(OPERATOR), json={
        "order_no": f"API-SURGE-{day:%m%d}-{n}", "received_at": f"{day} {9 + n % 8:02d}:{n % 60:02d}:00",
        "content": f"{address}{PROBLEMS[n % len(PROBLEMS)]}（编号 {uuid.uuid4().hex}）", "address": f"北海市海城区{address}",
        "caller_phone": phone, "category": "municipal",
    })
    assert r.status_code == 201, r.text


def test_a_surge_and_a_repeated_place_come_back_with_their_cases_and_bad_input_is_422() -> None:
    first, surge = dt.date(2025, 6, 2), dt.date(2025, 6, 16)
    with api_client() as (client, _):
        for i in range((surge - first).days):
            _case(client, first + dt.timedelta(days=i), i, f"茶亭路{100 + i}号", f"1390000{i:04d}")
        for n in range(10):
            _case(client, surge, n, "茶亭路8号" if n < 3 else f"茶亭路{20 + n}号", f"1370000{n:04d}")
        h = auth(LEADER)
        out = client.get(f"/api/proactive/surges?window=day&from={first}&to=2025-06-20", headers=h).json()
        assert out["rows"], (out["windows"], out["method"])
        assert [(r["place"], r["category"], r["from"], r["count"], len(r["case_ids"])) for r in out["rows"]] == [
            ("zhongjie", "municipal", "2025-06-16", 10, 10)
        ]
        # The drill-down it names lists the same cases.
        drill = client.get("/api/stats/cases", params={**out["rows"][0]["drill"], "limit": 100}, headers=h).json()
        assert sorted(c["case_id"] for c in drill["rows"]) == sorted(out["rows"][0]["case_ids"])
        # By week it is no surge: 10 in a week that usually has 7 (one a day).
        week = client.get(f"/api/proactive/surges?window=week&from={first}&to=2025-06-23", headers=h).json()
        assert [w["from"] for w in week["windows"] if w["tested"]] == ["2025-06-09", "2025-06-16"] and week["rows"] == []
        rep = client.get(f"/api/proactive/repeated?day={surge}", headers=h).json()
        assert [(r["address"], r["callers"], r["cases"]) for r in rep["rows"]] == [("茶亭路8号", 3, 3)]
        figures = client.get("/api/stats/source-governance?by=street&from=2025-06-01&to=2025-07-01", headers=h)
        assert figures.status_code == 200 and figures.json()["total"]["disputes"] == 0
        for bad in ("/api/proactive/surges?window=month", "/api/proactive/surges?from=2025-06-20&to=2025-06-01",
                    "/api/proactive/surges?from=2020-01-01&to=2025-01-01", "/api/proactive/repeated?day=2025-13-01",
                    "/api/stats/source-governance?by=unit", "/api/stats/source-governance?from=2025-07-01&to=2025-06-01"):
            r = client.get(bad, headers=h)
            assert r.status_code in (400, 422), (bad, r.status_code, r.text)
            assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["message"]), (bad, r.text)
