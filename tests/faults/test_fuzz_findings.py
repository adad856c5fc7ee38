"""What the whole-path fuzzer found on the newer doors (一表通, attachments, knowledge, search,
people, 协办), each pinned by the smallest request that showed it (tests/faults/whole_path.py)."""

from __future__ import annotations

import json

import pytest

from engine.domain import Status
from tests.support.api import OPERATOR, api_client, auth, case_in

OP = auth(OPERATOR)


def _form(items: object) -> dict[str, object]:
    return {"ref": "F-MSG", "kind": "inspection", "title": "茶亭路网格巡查", "items": items}


def test_a_refused_list_is_counted_in_items_and_a_lone_surrogate_is_named_in_chinese() -> None:
    """A form of 21 items said "太长（最多 20 字）" (characters, for a list), an empty one an
    English sentence; a lone surrogate (``"\\ud800"``, valid JSON) and a UUID field given a
    list answered in pydantic's English. Each is 422 in Chinese, and writes nothing."""
    with api_client() as (client, rt):
        case = case_in(rt, Status.DISPATCHED)
        head = rt.app.recorder.max_notification_id() or 0
        item = {"content": "路灯不亮", "address": "茶亭路"}
        r = client.post("/api/forms", json=_form([item] * 21), headers=OP)
        assert r.status_code == 422 and "items：太多（最多 20 项）" in r.json()["message"], r.text
        r = client.post("/api/forms", json=_form([]), headers=OP)
        assert r.status_code == 422 and "items：太少（至少 1 项）" in r.json()["message"], r.text
        raw = json.dumps(_form([{"content": "路灯不亮", "address": "灯\udfff坏"}]))
        r = client.post("/api/forms", content=raw, headers={**OP, "Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        assert r.json()["message"] == "items.0.address：含无效字符（不成对的代理项），不能保存"
        r = client.post(f"/api/cases/{case}/merge", json={"into": []}, headers=OP)
        assert r.status_code == 422 and r.json()["message"] == "into：不是合法的编号", r.text
        r = client.get("/api/knowledge/proposals", params={"state": "pending\x00"}, headers=OP)
        assert r.status_code == 422 and r.json()["message"] == "state：取值无效", r.text
        assert (rt.app.recorder.max_notification_id() or 0) == head


def _login_with_nul(db: str) -> None:
    with api_client(db) as (client, _):
        r = client.post("/api/session", json={"login": "zhang\x00wei", "password": "correct horse 电池"})
        assert r.status_code == 422, r.text
        assert r.json()["message"].startswith("login：含空字符"), r.text


def test_a_login_with_nul_is_refused_on_sqlite() -> None:
    _login_with_nul("memory://")


@pytest.mark.postgres
def test_a_login_with_nul_is_refused_on_postgres_not_a_500(pg_server: object) -> None:
    """``POST /api/session`` looked the login up in the people view as it came: PostgreSQL
    refuses a NUL in a query string (DataError), so a login with one was a 500 there."""
    _login_with_nul(pg_server.create_database("t_fuzz_login_nul"))  # type: ignore[attr-defined]


# ---- the newer doors: 实事项目, 管理设置, 媒体监督 (tests/faults/whole_path.py) -------------------


def test_a_count_of_the_wrong_kind_is_refused_in_chinese() -> None:
    """A milestone number given as null, 1.5 or a list, a rule's priority as 1.5 or 5,000
    digits: each answered pydantic's English ("Input should be a valid integer, got a number
    with a fractional part"). Each is 422 in Chinese, and writes nothing."""
    from tests.support.api import ADMIN, LEADER

    with api_client() as (client, rt):
        head = rt.app.recorder.max_notification_id() or 0
        project = {"title": "茶亭路路灯改造", "owner_unit": "chatinglu", "deadline": "2027-06-30",
                   "milestones": [{"title": "第1阶段", "due": "2027-03-31"}]}
        r = client.post("/api/projects", json=project, headers=auth(LEADER))
        assert r.status_code == 201, r.text
        head = rt.app.recorder.max_notification_id() or 0
        path = f"/api/projects/{r.json()['project_id']}/progress"
        value: object
        for value in (None, 1.5, [1]):
            r = client.post(path, json={"milestone": value, "note": "已完成设计"}, headers=auth("demo-unit-chatinglu"))
            assert r.status_code == 422 and r.json()["message"] == "milestone：须为整数", r.text
        rule = {"category": "municipal", "keywords": ["路灯"], "to": "chengguan"}
        for value, said in ((1.5, "须为整数"), ("1" * 5000, "须为整数（数字太长）")):
            r = client.post("/api/admin/rules", json={**rule, "priority": value}, headers=auth(ADMIN))
            assert r.status_code == 422 and r.json()["message"] == f"priority：{said}", r.text
        assert (rt.app.recorder.max_notification_id() or 0) == head


def test_an_empty_outlet_is_said_empty_not_counted_in_items() -> None:
    """媒体监督 with ``"outlet": ""`` answered "outlet：太少（至少 1 项）" (a string counted as a
    list: its length is checked after its own validator, pydantic's generic too_short). It is
    "不能为空或太短", and nothing is written."""
    with api_client() as (client, rt):
        head = rt.app.recorder.max_notification_id() or 0
        record = {"outlet": "", "title": "茶亭路路灯熄灭近月", "url": "https://www.bhrb.example.cn/1.html",
                  "published_at": "2026-11-02T07:30:00+08:00", "passage": "记者走访发现茶亭路路灯已熄灭近一个月。"}
        r = client.post("/api/intake/media", json=record, headers=OP)
        assert r.status_code == 422 and r.json()["message"] == "outlet：不能为空或太短", r.text
        r = client.post("/api/intake/media", json={**record, "outlet": "北海日报", "title": ""}, headers=OP)
        assert r.status_code == 422 and r.json()["message"] == "title：不能为空或太短", r.text
        assert (rt.app.recorder.max_notification_id() or 0) == head
