"""Merges under the centre's hand, 一表通 and 通报/追责 through the HTTP API (issue 17): the flows
a user walks, and every refusal 409 with nothing written."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.bootstrap import Runtime
from engine.application import now_shanghai
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

pytestmark = pytest.mark.date_sensitive

OP = auth(OPERATOR)


def _log(rt: Runtime) -> int:
    return rt.app.recorder.max_notification_id() or 0


def _post(client: Any, path: str, body: dict[str, Any], token: dict[str, str] = OP) -> Any:
    return client.post(path, json=body, headers=token)


def _merged_pair(client: Any, rt: Runtime) -> tuple[UUID, UUID]:
    """An original with a unit and a case merged into it by hand."""
    original = case_in(rt, Status.DISPATCHED)
    dup = case_in(rt, Status.RECEIVED)
    r = _post(client, f"/api/cases/{dup}/merge", {"into": str(original), "note": "同一盏路灯"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "merged" and r.json()["merged_into"] == str(original)
    return original, dup


def test_hand_merge_lists_the_caller_and_unmerge_routes_the_case_as_its_own() -> None:
    with api_client() as (client, rt):
        original, dup = _merged_pair(client, rt)
        body = client.get(f"/api/cases/{original}", headers=OP).json()
        assert body["reported_by"] == 2
        assert [c["id"] for c in body["merged_callers"]] == [str(dup)]
        assert body["merged_callers"][0]["caller_name"] == "张伟"
        # The unit holding the original sees the callers, names masked.
        unit_view = client.get(f"/api/cases/{original}", headers=auth(ASSIGNED)).json()
        assert unit_view["reported_by"] == 2
        assert unit_view["merged_callers"][0]["caller_name"] == "张某"
        merged = client.get(f"/api/cases/{dup}", headers=OP).json()
        assert "unmerge" in merged["actions"] and "merge" not in merged["actions"]
        merge_event = [e for e in client.get(f"/api/cases/{dup}/events", headers=OP).json() if e["type"] == "Merged"]
        assert merge_event[0]["data"]["reason"]["note"] == "同一盏路灯"

        r = _post(client, f"/api/cases/{dup}/unmerge", {"note": "不是同一件事"})
        assert r.status_code == 200, r.text
        # Its own case now: routed (the vague text goes to the manual queue) and not merged.
        assert r.json()["status"] in ("received", "dispatched") and r.json()["merged_into"] is None
        assert client.get(f"/api/cases/{original}", headers=OP).json()["reported_by"] == 1
        types = [e["type"] for e in client.get(f"/api/cases/{dup}/events", headers=OP).json()]
        assert "Unmerged" in types
        queue = [c["case_id"] for c in client.get("/api/queue/manual", headers=OP).json()]
        assert r.json()["status"] == "dispatched" or str(dup) in queue


def test_refused_merges_are_409_and_write_nothing() -> None:
    with api_client() as (client, rt):
        original, dup = _merged_pair(client, rt)
        other = case_in(rt, Status.RECEIVED)
        closed = case_in(rt, Status.RESOLVED)
        refusals = [
            (other, {"into": str(other)}),  # into itself
            (other, {"into": str(dup)}),  # a chain: dup is merged into original
            (other, {"into": str(closed)}),  # not open
            (original, {"into": str(other)}),  # original is with a unit, not at the centre
        ]
        for cid, body in refusals:
            before = _log(rt)
            r = _post(client, f"/api/cases/{cid}/merge", body)
            assert r.status_code == 409, (body, r.text)
            assert _log(rt) == before
        # Unmerge of a case that is not merged.
        before = _log(rt)
        r = _post(client, f"/api/cases/{other}/unmerge", {"note": "x"})
        assert r.status_code == 409 and r.json()["error"] == "illegal_transition"
        assert _log(rt) == before
        # Bad values: 422, an unknown id 404.
        assert _post(client, f"/api/cases/{other}/merge", {"into": "nope"}).status_code == 422
        assert _post(client, f"/api/cases/{other}/merge", {"into": str(uuid4())}).status_code == 404
        assert _post(client, f"/api/cases/{other}/merge", {}).status_code == 422


def test_every_merged_caller_is_called_back_when_the_original_is_resolved() -> None:
    with api_client() as (client, rt):
        original, dup = _merged_pair(client, rt)
        dup2 = case_in(rt, Status.RECEIVED)
        assert _post(client, f"/api/cases/{dup2}/merge", {"into": str(original)}).status_code == 200
        # Not before the original is resolved.
        before = _log(rt)
        r = _post(client, f"/api/cases/{dup}/followup", {"solved": True, "rating": "satisfied"})
        assert r.status_code == 422 and _log(rt) == before
        rt.app.claim(original, ASSIGNED_UNIT, "unit:test")
        r = _post(client, f"/api/cases/{original}/resolve", {"result": "已更换灯泡"}, auth(ASSIGNED))
        assert r.status_code == 200, r.text
        queue = {c["case_id"] for c in client.get("/api/queue/followup", headers=OP).json()["rows"]}
        assert {str(original), str(dup), str(dup2)} <= queue
        told = client.get(f"/api/cases/{dup}", headers=OP).json()
        assert told["callback_due"] and told["original_result"] == "已更换灯泡"
        assert "followup" in told["actions"]
        ok = _post(client, f"/api/cases/{dup}/followup", {"solved": True, "rating": "satisfied"})
        assert ok.status_code == 200 and ok.json()["status"] == "closed"
        # Dissatisfied: the caller's case becomes its own case again, routed.
        bad = _post(client, f"/api/cases/{dup2}/followup", {"solved": False, "rating": "dissatisfied"})
        assert bad.status_code == 200 and bad.json()["merged_into"] is None
        assert bad.json()["status"] in ("received", "dispatched")
        # Both ratings count for the unit that resolved the original.
        day = now_shanghai().date()
        stats = client.get(
            "/api/stats",
            params={"by": "unit", "from": str(day - dt.timedelta(days=1)), "to": str(day + dt.timedelta(days=1))},
            headers=OP,
        ).json()
        unit_row = next(r for r in stats["rows"] if r["key"] == ASSIGNED_UNIT)
        assert unit_row["rated"] == 2 and unit_row["satisfied"] == 1 and unit_row["dissatisfied"] == 1


def test_a_form_with_three_items_to_three_units() -> None:
    with api_client() as (client, rt):
        items = [
            {"content": "茶亭路12号门口的路灯不亮了，晚上很黑", "address": "海城区茶亭路12号"},
            {"content": "东一巷菜场门口小商贩占道摆摊经营，把人行道都堵住了", "address": "海城区东一巷"},
            {"content": "小区楼下餐馆油烟扰民，噪音很大，半夜还在营业", "address": "海城区和平路8号"},
        ]
        body = {"ref": f"WG-{uuid4().hex[:8]}", "kind": "inspection", "title": "网格巡查", "items": items}
        r = _post(client, "/api/forms", body)
        assert r.status_code == 201, r.text
        form = r.json()
        assert len(form["items"]) == 3 and not form["complete"]
        assert [i["item"] for i in form["items"]] == [1, 2, 3]
        units = [i["unit"] for i in form["items"]]
        assert None not in units and len(set(units)) == 3, units
        again = _post(client, "/api/forms", body)
        assert again.status_code == 200 and again.json()["duplicate"] and again.json()["id"] == form["id"]
        # Each item knows its parent; the parent reads back.
        first = form["items"][0]["case_id"]
        assert client.get(f"/api/cases/{first}", headers=OP).json()["form"]["form_id"] == form["id"]
        assert client.get(f"/api/forms/{form['id']}", headers=OP).json()["items"] == form["items"]
        # A unit reads the parent of its item, the others without their text; another form 404.
        unit_token = auth(f"demo-unit-{units[0]}")
        seen = client.get(f"/api/forms/{form['id']}", headers=unit_token).json()
        assert [i["content"] is not None for i in seen["items"]] == [True, False, False]
        assert client.get(f"/api/forms/{uuid4()}", headers=OP).status_code == 404
        # Complete when every item is.
        for i in form["items"]:
            cid = UUID(i["case_id"])
            rt.app.claim(cid, i["unit"], "unit:test")
            rt.app.resolve(cid, i["unit"], "已处理", "unit:test")
        done = client.get(f"/api/forms/{form['id']}", headers=OP).json()
        assert done["complete"] and done["items_done"] == 3
        bad = {**body, "ref": "WG-bad", "items": []}
        assert _post(client, "/api/forms", bad).status_code == 422
        assert _post(client, "/api/forms", {**body, "ref": "WG-bad2", "kind": "party"}).status_code == 422
        before = _log(rt)  # a reference too long for its items' references (ref#n): 422
        assert _post(client, "/api/forms", {**body, "ref": "W" * 101}).status_code == 422
        assert _post(client, "/api/forms", {**body, "ref": "WG-bad3", "title": ""}).status_code == 422
        assert _log(rt) == before


def test_censures_count_in_the_units_monthly_figures() -> None:
    with api_client() as (client, rt):
        cid = case_in(rt, Status.DISPATCHED)
        r = _post(client, "/api/censures", {"kind": "notice", "unit": ASSIGNED_UNIT, "reason": "超期未签收", "case_id": str(cid)})
        assert r.status_code == 201, r.text
        assert _post(client, "/api/censures", {"kind": "accountability", "unit": ASSIGNED_UNIT, "reason": "推诿"}).status_code == 201
        for bad in (
            {"kind": "notice", "unit": "no-such-unit", "reason": "x"},
            {"kind": "praise", "unit": ASSIGNED_UNIT, "reason": "x"},
            {"kind": "notice", "unit": ASSIGNED_UNIT, "reason": ""},
        ):
            before = _log(rt)
            assert _post(client, "/api/censures", bad).status_code == 422, bad
            assert _log(rt) == before
        assert _post(client, "/api/censures", {"kind": "notice", "unit": ASSIGNED_UNIT, "reason": "x", "case_id": str(uuid4())}).status_code == 404
        assert _post(client, "/api/censures", {"kind": "notice", "unit": ASSIGNED_UNIT, "reason": "x"}, auth(OTHER_UNIT)).status_code == 403
        month = now_shanghai().date().replace(day=1)
        stats = client.get("/api/stats", params={"by": "unit", "from": str(month), "to": str(month + dt.timedelta(days=32))}, headers=OP).json()
        row = next(r for r in stats["rows"] if r["key"] == ASSIGNED_UNIT)
        assert (row["notices"], row["accountabilities"]) == (1, 1)
        assert (stats["total"]["notices"], stats["total"]["accountabilities"]) == (1, 1)
