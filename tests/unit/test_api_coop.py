"""主办/协办 and 吹哨报到 over HTTP: a co-handled case from dispatch to resolution, the refusals
(409, nothing written), what an assisting unit sees and is offered, its 协办待反馈 queue, and
the figures (docs/rates.md: the district counts each case once, a part has its own figures)."""

from __future__ import annotations

from typing import Any

from adapters.bootstrap import Runtime
from engine.domain import Status
from tests.support.api import (
    ASSIGNED,
    ASSIGNED_UNIT,
    OPERATOR,
    OTHER_UNIT,
    api_client,
    auth,
    case_in,
)

ZHUJIAN = "demo-unit-zhujian"


def _post(client: Any, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(path, headers=auth(token), json=body)


def test_a_case_co_handled_from_dispatch_to_resolution() -> None:
    with api_client() as (client, rt):
        cid = case_in(rt, Status.RECEIVED)
        r = _post(client, f"/api/cases/{cid}/dispatch", OPERATOR,
                  {"unit": ASSIGNED_UNIT, "assisting": ["chengguan", "zhujian"], "note": "联合处置"})
        assert r.status_code == 200, r.text
        assert [(p["unit"], p["state"]) for p in r.json()["parts"]] == [
            ("chengguan", "assigned"), ("zhujian", "assigned")
        ]
        # The assisting unit reads the case (masked) and is offered its part's actions only.
        seen = client.get(f"/api/cases/{cid}", headers=auth(OTHER_UNIT)).json()
        assert seen["masked"] is True and seen["caller_phone"] != "13812345678"
        assert seen["actions"] == ["part/claim", "part/return"]
        assert [p["state_name"] for p in seen["parts"]] == ["待签收", "待签收"]
        queue = client.get("/api/units/chengguan/assists", headers=auth(OTHER_UNIT)).json()
        assert [q["case_id"] for q in queue] == [str(cid)] and queue[0]["part"]["state"] == "assigned"
        assert "caller_phone" not in queue[0]
        _post(client, f"/api/cases/{cid}/claim", ASSIGNED)
        lead = client.get(f"/api/cases/{cid}", headers=auth(ASSIGNED)).json()
        assert "resolve" not in lead["actions"] and "whistle" in lead["actions"]
        version = rt.app.get_case(cid).version
        r = _post(client, f"/api/cases/{cid}/resolve", ASSIGNED, {"result": "已修复"})
        assert r.status_code == 409 and "协办" in r.json()["message"]
        r = _post(client, f"/api/cases/{cid}/resolve", OTHER_UNIT, {"result": "已修复"})
        assert r.status_code == 403
        r = _post(client, f"/api/cases/{cid}/part/report", OTHER_UNIT, {"feedback": "已排查"})
        assert r.status_code == 409  # not yet signed for
        assert rt.app.get_case(cid).version == version
        assert _post(client, f"/api/cases/{cid}/part/claim", OTHER_UNIT).status_code == 200
        r = _post(client, f"/api/cases/{cid}/part/report", OTHER_UNIT, {"feedback": "线路正常，13812345678已告知"})
        assert r.status_code == 200
        shown = next(p for p in r.json()["parts"] if p["unit"] == "chengguan")
        assert shown["state"] == "reported" and "13812345678" not in shown["feedback"]
        assert client.get("/api/units/chengguan/assists", headers=auth(OTHER_UNIT)).json() == []
        r = _post(client, f"/api/cases/{cid}/part/return", ZHUJIAN, {"reason": "不属住建"})
        assert r.status_code == 200
        assert "parts/close" in client.get(f"/api/cases/{cid}", headers=auth(OPERATOR)).json()["actions"]
        assert _post(client, f"/api/cases/{cid}/parts/2/close", OPERATOR, {"note": ""}).status_code == 422
        assert _post(client, f"/api/cases/{cid}/parts/2/close", OPERATOR, {"note": "同意退回"}).status_code == 200
        r = _post(client, f"/api/cases/{cid}/resolve", ASSIGNED, {"result": "已修复"})
        assert r.status_code == 200 and r.json()["status"] == "resolved"


def _whistled_case(rt: Runtime, client: Any) -> str:
    cid = case_in(rt, Status.CLAIMED)
    r = _post(client, f"/api/cases/{cid}/whistle", ASSIGNED,
              {"departments": ["chengguan", "zhujian"], "reason": "施工噪音，需城管住建到场"})
    assert r.status_code == 200, r.text
    assert r.json()["whistles"][0]["department_names"] == ["区城市管理局", "区住房和城乡建设局"]
    return str(cid)


def test_figures_count_the_case_once_and_each_part_on_its_own() -> None:
    with api_client() as (client, rt):
        before = client.get("/api/stats?by=unit", headers=auth(OPERATOR)).json()["total"]
        cid = _whistled_case(rt, client)
        _post(client, f"/api/cases/{cid}/part/claim", OTHER_UNIT)
        _post(client, f"/api/cases/{cid}/part/report", OTHER_UNIT, {"feedback": "已到场"})
        _post(client, f"/api/cases/{cid}/part/claim", ZHUJIAN)
        _post(client, f"/api/cases/{cid}/part/report", ZHUJIAN, {"feedback": "已责令停工"})
        assert _post(client, f"/api/cases/{cid}/resolve", ASSIGNED, {"result": "已协调"}).status_code == 200
        stats = client.get("/api/stats?by=unit", headers=auth(OPERATOR)).json()
        total = stats["total"]
        # One case: one received, one dispatch, one resolution, whatever the parts.
        assert total["received"] - before["received"] == 1
        assert total["dispatched"] - before["dispatched"] == 1
        assert total["resolved"] - before["resolved"] == 1
        rows = {r["key"]: r for r in stats["rows"]}
        assert rows[ASSIGNED_UNIT]["resolved"] >= 1
        assert "chengguan" not in rows and "zhujian" not in rows  # parts are not in the seven rates
        figures = client.get("/api/stats/coop", headers=auth(OPERATOR)).json()
        assert figures["whistles"] == [
            {"key": ASSIGNED_UNIT, "name": "茶亭路社区", "whistles": 1, "called": 2}
        ]
        parts = {r["key"]: r for r in figures["parts"]}
        assert parts["chengguan"]["parts"] == 1 and parts["chengguan"]["reported_on_time"] == 1
        assert parts["chengguan"]["response_rate"]["value"] == 1.0
        reports = {r["key"]: r for r in figures["reports"]}
        assert reports["zhujian"]["whistled"] == 1 and reports["zhujian"]["reported_in"] == 1
        assert reports["zhujian"]["mean_minutes_to_report"] is not None
        assert figures["total"]["parts"] == 2 and figures["total"]["report"]["whistled"] == 2
        assert client.get("/api/stats/coop?from=2026-13-01", headers=auth(OPERATOR)).status_code == 400


def test_a_whistle_by_a_department_is_refused_and_writes_nothing() -> None:
    with api_client() as (client, rt):
        cid = case_in(rt, Status.RECEIVED)
        _post(client, f"/api/cases/{cid}/dispatch", OPERATOR, {"unit": "chengguan"})
        _post(client, f"/api/cases/{cid}/claim", OTHER_UNIT)
        version = rt.app.get_case(cid).version
        r = _post(client, f"/api/cases/{cid}/whistle", OTHER_UNIT,
                  {"departments": ["zhujian"], "reason": "多部门"})
        assert r.status_code == 422 and "街道" in r.json()["message"]
        r = _post(client, f"/api/cases/{cid}/whistle", OTHER_UNIT, {"departments": [], "reason": "x"})
        assert r.status_code == 422
        assert rt.app.get_case(cid).version == version
