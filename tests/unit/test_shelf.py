"""认领大厅 (the open shelf) through the HTTP API: the centre puts a need on the shelf, helpers
see it by the services they offer and apply to claim it, the centre refuses one claim (the item
stays on the shelf) and accepts another (the claimant handles it as any unit: 签收, 办结, 回访),
or takes an item off; a helper never sees a case that is not on the shelf or not its own; the
helpers' figures (微服务, claims, 满意率) are counted apart and they are in no ranking."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Runtime
from engine.domain import Rating, Status
from tests.support.api import OPERATOR, api_client, auth, case_in

LEADER = "demo-leader-token"
VOLUNTEERS = "demo-unit-hongmajia-vt"  # 海城红马甲志愿服务队: 助老 维修 环境清洁
ELDERLY_SE = "demo-unit-yinling-se"  # 北海银铃助老服务中心 (社会企业): 助老 环境清洁
LAWYERS = "demo-unit-fayuan-so"  # 海城法律援助志愿者协会 (社会组织): 法律咨询 only
DEPARTMENT = "demo-unit-minzheng"  # 区民政局: lists no services, sees every item


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[Any, Runtime]]:
    with api_client() as pair:
        yield pair


def shelved(client: Any, runtime: Runtime, service: str = "elderly_care") -> UUID:
    cid = case_in(runtime, Status.RECEIVED)
    r = client.post(
        f"/api/cases/{cid}/shelf",
        headers=auth(OPERATOR),
        json={"service": service, "summary": "独居老人行动不便，需每周上门探访、代购生活用品"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["shelf"]["service_name"] == runtime.config.service_name(service) != service
    return cid


def on_shelf(client: Any, token: str) -> dict[str, dict[str, Any]]:
    r = client.get("/api/shelf", headers=auth(token))
    assert r.status_code == 200, r.text
    return {item["case_id"]: item for item in r.json()["items"]}


def test_a_need_on_the_shelf_is_claimed_refused_accepted_resolved_and_rated(
    env: tuple[Any, Runtime],
) -> None:
    client, runtime = env
    cid = shelved(client, runtime)
    key = str(cid)
    # Seen by the helpers offering 助老 and by a department; not by the lawyers.
    assert key in on_shelf(client, VOLUNTEERS) and key in on_shelf(client, ELDERLY_SE)
    assert key in on_shelf(client, DEPARTMENT)
    assert key not in on_shelf(client, LAWYERS)
    # The centre's 待派单 says why it waits; dispatching it now is refused (409).
    manual = client.get("/api/queue/manual", headers=auth(OPERATOR)).json()
    assert any(r["case_id"] == key and "认领大厅" in (r["manual_reason"] or "") for r in manual)
    r = client.post(f"/api/cases/{cid}/dispatch", headers=auth(OPERATOR), json={"unit": "minzheng"})
    assert r.status_code == 409 and "认领大厅" in r.json()["message"]

    first = client.post(f"/api/cases/{cid}/claims", headers=auth(VOLUNTEERS), json={"note": "周三上午两名队员上门"})
    assert first.status_code == 201, first.text
    assert set(first.json()) == {"case_id", "number", "unit", "note", "state", "applied_at"}
    second = client.post(f"/api/cases/{cid}/claims", headers=auth(ELDERLY_SE), json={"note": "每周两次上门"})
    assert second.status_code == 201
    again = client.post(f"/api/cases/{cid}/claims", headers=auth(VOLUNTEERS), json={"note": "再次申请"})
    assert again.status_code == 409 and "等待中心审核" in again.json()["message"]
    # A helper sees its own claim on the item, never another's; the centre sees both.
    mine = on_shelf(client, VOLUNTEERS)[key]["claims"]
    assert [c["unit"] for c in mine] == ["hongmajia-vt"]
    assert [c["unit"] for c in on_shelf(client, OPERATOR)[key]["claims"]] == ["hongmajia-vt", "yinling-se"]
    # Not theirs yet: the case itself is 404 to both.
    assert client.get(f"/api/cases/{cid}", headers=auth(VOLUNTEERS)).status_code == 404

    no_reason = client.post(f"/api/cases/{cid}/claims/1/decide", headers=auth(OPERATOR), json={"accepted": False})
    assert no_reason.status_code == 422 and "理由" in no_reason.json()["message"]
    refused = client.post(
        f"/api/cases/{cid}/claims/1/decide", headers=auth(OPERATOR), json={"accepted": False, "note": "队员不足，另请专业机构"}
    )
    assert refused.status_code == 200 and refused.json()["shelf"] is not None  # still on the shelf
    claims = client.get("/api/units/hongmajia-vt/claims", headers=auth(VOLUNTEERS)).json()
    assert claims[0]["state"] == "refused" and claims[0]["reason"] == "队员不足，另请专业机构"
    retry = client.post(f"/api/cases/{cid}/claims", headers=auth(VOLUNTEERS), json={"note": "补充人手"})
    assert retry.status_code == 409 and "已拒绝" in retry.json()["message"]

    accepted = client.post(f"/api/cases/{cid}/claims/2/decide", headers=auth(OPERATOR), json={"accepted": True})
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["shelf"] is None and body["status"] == "dispatched" and body["assigned_unit"] == "yinling-se"
    twice = client.post(f"/api/cases/{cid}/claims/2/decide", headers=auth(OPERATOR), json={"accepted": True})
    assert twice.status_code == 409
    assert key not in on_shelf(client, ELDERLY_SE)
    # The claimant goes on as any unit: its inbox, 签收, 办结; the centre calls back.
    inbox = client.get("/api/units/yinling-se/inbox", headers=auth(ELDERLY_SE)).json()
    assert key in {r["case_id"] for r in inbox}
    assert client.post(f"/api/cases/{cid}/claim", headers=auth(ELDERLY_SE)).status_code == 200
    r = client.post(f"/api/cases/{cid}/resolve", headers=auth(ELDERLY_SE), json={"result": "已安排每周二、五上门"})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/cases/{cid}/followup", headers=auth(OPERATOR), json={"solved": True, "rating": "satisfied"})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    # The refused volunteers still cannot read it.
    assert client.get(f"/api/cases/{cid}", headers=auth(VOLUNTEERS)).status_code == 404

    figures = client.get("/api/stats/helpers", headers=auth(LEADER)).json()
    rows = {r["key"]: r for r in figures["rows"]}
    assert rows["yinling-se"]["micro_services"] >= 1 and rows["yinling-se"]["accepted"] >= 1
    assert rows["hongmajia-vt"]["refused"] >= 1
    assert rows["yinling-se"]["satisfaction_rate"]["value"] == 1.0
    assert {k["key"] for k in figures["kinds"]} <= {"social_enterprise", "social_org", "volunteer_team"}
    assert "minzheng" not in rows
    assert figures["total"]["micro_services"] == sum(r["micro_services"] for r in figures["rows"])


def test_withdrawing_lapses_the_waiting_claims_and_the_item_leaves_the_shelf(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    cid = shelved(client, runtime, "repair")
    assert client.post(f"/api/cases/{cid}/claims", headers=auth(VOLUNTEERS), json={"note": "带工具上门"}).status_code == 201
    r = client.post(f"/api/cases/{cid}/shelf/withdraw", headers=auth(OPERATOR), json={"note": "改由住建局处理"})
    assert r.status_code == 200 and r.json()["shelf"] is None
    assert [c["state"] for c in r.json()["shelf_claims"]] == ["lapsed"]
    assert str(cid) not in on_shelf(client, OPERATOR)
    again = client.post(f"/api/cases/{cid}/shelf/withdraw", headers=auth(OPERATOR), json={})
    assert again.status_code == 409 and "不在认领大厅" in again.json()["message"]
    # Off the shelf the case is 404 to the helper (it never held it), and the centre dispatches.
    late = client.post(f"/api/cases/{cid}/claims", headers=auth(VOLUNTEERS), json={"note": "仍可上门"})
    assert late.status_code == 404
    r = client.post(f"/api/cases/{cid}/dispatch", headers=auth(OPERATOR), json={"unit": "zhujian"})
    assert r.status_code == 200 and r.json()["assigned_unit"] == "zhujian"
    claims = client.get("/api/units/hongmajia-vt/claims", headers=auth(VOLUNTEERS)).json()
    assert next(c for c in claims if c["case_id"] == str(cid))["state"] == "lapsed"


def test_bad_shelf_requests_are_refused_in_chinese_and_write_nothing(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    cid = case_in(runtime, Status.RECEIVED)
    before = runtime.app.get_case(cid).version
    r = client.post(f"/api/cases/{cid}/shelf", headers=auth(OPERATOR), json={"service": "flying", "summary": "需求"})
    assert r.status_code == 422 and "服务菜单" in r.json()["message"]
    r = client.post(f"/api/cases/{cid}/shelf", headers=auth(OPERATOR), json={"service": "repair"})
    assert r.status_code == 422
    # Only a case waiting at the centre goes on the shelf.
    held = case_in(runtime, Status.CLAIMED)
    r = client.post(f"/api/cases/{held}/shelf", headers=auth(OPERATOR), json={"service": "repair", "summary": "修灯"})
    assert r.status_code == 409 and "不能执行" in r.json()["message"]
    # A helper applying for an item outside its services: as if it did not exist.
    legal = shelved(client, runtime, "legal_aid")
    r = client.post(f"/api/cases/{legal}/claims", headers=auth(VOLUNTEERS), json={"note": "可以帮忙"})
    assert r.status_code == 404
    assert client.post(f"/api/cases/{legal}/claims", headers=auth(LAWYERS), json={"note": "律师周五接待"}).status_code == 201
    assert runtime.app.get_case(cid).version == before


def test_helpers_are_not_ranked_and_a_helper_reads_no_other_unit_s_claims(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    ranking = client.get("/api/ranking", headers=auth(LEADER)).json()
    kinds = {g["kind"] for g in ranking["groups"]}
    assert kinds and not kinds & {"social_enterprise", "social_org", "volunteer_team"}
    assert client.get("/api/ranking?kind=volunteer_team", headers=auth(LEADER)).status_code == 422
    figures = client.get("/api/units/hongmajia-vt/figures", headers=auth(VOLUNTEERS)).json()
    assert "不参与承办单位排名" in figures["place"]["text"]
    assert client.get("/api/units/yinling-se/claims", headers=auth(VOLUNTEERS)).status_code == 403
    assert client.get("/api/stats/helpers", headers=auth(VOLUNTEERS)).status_code == 403


def test_the_shelf_views_are_rebuilt_from_the_log_to_the_same_rows(env: tuple[Any, Runtime]) -> None:
    client, runtime = env
    shelved(client, runtime, "cleaning")
    before_items = client.get("/api/shelf", headers=auth(OPERATOR)).json()
    before_figures = client.get("/api/stats/helpers", headers=auth(LEADER)).json()
    runtime.projector.rebuild()
    assert client.get("/api/shelf", headers=auth(OPERATOR)).json() == before_items
    assert client.get("/api/stats/helpers", headers=auth(LEADER)).json() == before_figures
    assert runtime.projector.quarantined_count() == 0


def test_the_helper_rating_counts_in_the_helpers_rate_and_a_dissatisfied_call_reopens(
    env: tuple[Any, Runtime],
) -> None:
    """回访 of a helper's item works unchanged: dissatisfied → 重办 back to the helper."""
    client, runtime = env
    cid = shelved(client, runtime, "elderly_care")
    client.post(f"/api/cases/{cid}/claims", headers=auth(VOLUNTEERS), json={"note": "上门"})
    app = runtime.app
    number = runtime.app.get_case(cid).shelf_claims[-1]["number"]
    app.decide_claim(cid, number, True, "operator:test")
    app.claim(cid, "hongmajia-vt", "unit:test")
    app.resolve(cid, "hongmajia-vt", "已上门", "unit:test")
    case = app.follow_up(cid, False, Rating.DISSATISFIED, "operator:test")
    assert case.assigned_unit == "hongmajia-vt"
