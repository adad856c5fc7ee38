"""退单审核, 转办 and 未接通结案 over HTTP as the centre and units meet them (issue 17): the
return waits in 待审退单, the unit cannot approve it, approved it goes to the unit named,
refused it goes back with the note the unit reads; refused actions are 409 and write nothing;
the queues are counted and paged; the disputed returns are counted per unit pair."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from adapters.bootstrap import Runtime
from engine.domain import Status
from tests.support.api import (
    ASSIGNED,
    ASSIGNED_UNIT,
    LEADER,
    OPERATOR,
    api_client,
    auth,
    case_in,
    case_with_return_review,
)

# Reads today's date: CI runs it again on moved clocks (tests/support/moved_clock.py).
pytestmark = pytest.mark.date_sensitive

OP, UNIT, STREET = auth(OPERATOR), auth(ASSIGNED), auth("demo-unit-zhongjie")


@pytest.fixture
def env() -> Iterator[tuple[Any, Runtime]]:
    with api_client() as pair:
        yield pair


def _log(rt: Runtime) -> int:
    return rt.app.recorder.max_notification_id() or 0


def test_a_return_waits_for_review_and_the_unit_named_gets_it_with_the_note(
    env: tuple[Any, Runtime],
) -> None:
    client, rt = env
    cid = case_in(rt, Status.CLAIMED)
    r = client.post(
        f"/api/cases/{cid}/return",
        json={"reason": "主干道路灯属中街街道，联系人张伟13812345678说过", "suggested_unit": "zhongjie"},
        headers=UNIT,
    )
    assert r.status_code == 200, r.text
    seen = r.json()
    # Not re-routed: waiting at the centre; the unit sees its return, masked, and no approval.
    assert seen["status"] == "returned" and seen["assigned_unit"] is None
    assert seen["return_review"]["suggested_unit"] == "zhongjie"
    assert "13812345678" not in seen["return_review"]["reason"] and "张伟" not in str(seen)
    assert "principal" not in seen["return_review"] and seen["actions"] == []
    n = _log(rt)
    own = client.post(f"/api/cases/{cid}/return/review", json={"approved": True}, headers=UNIT)
    assert own.status_code == 403 and _log(rt) == n  # never its own approval

    queue = client.get("/api/queue/returns", headers=OP).json()
    assert queue["total"] == 1 and queue["rows"][0]["case_id"] == str(cid)
    row = queue["rows"][0]
    assert (row["return_from"], row["return_suggested"]) == (ASSIGNED_UNIT, "zhongjie")
    assert row["return_from_name"] == "茶亭路社区" and row["return_suggested_name"] == "中街街道"
    assert "return/review" in client.get(f"/api/cases/{cid}", headers=OP).json()["actions"]

    done = client.post(
        f"/api/cases/{cid}/return/review",
        json={"approved": True, "note": "同意，请街道统筹，来电人张伟"},
        headers=OP,
    ).json()
    assert done["status"] == "dispatched" and done["assigned_unit"] == "zhongjie"
    assert client.get("/api/queue/returns", headers=OP).json()["total"] == 0
    # The street reads the dispatch note and the centre's notes, the caller masked.
    street = client.get(f"/api/cases/{cid}", headers=STREET).json()
    assert street["dispatch"]["note"] == "同意，请街道统筹，来电人张某"
    assert [n["kind"] for n in street["centre_notes"]] == ["review_return"]
    assert "张伟" not in str(street) and "13812345678" not in str(street)
    # Nothing to review any more: 409, nothing written.
    n = _log(rt)
    again = client.post(f"/api/cases/{cid}/return/review", json={"approved": False, "note": "x"}, headers=OP)
    assert again.status_code == 409 and again.json()["error"] == "illegal_transition" and _log(rt) == n


def test_a_refused_return_goes_back_with_the_note_the_unit_reads(env: tuple[Any, Runtime]) -> None:
    client, rt = env
    cid = case_with_return_review(rt)
    n = _log(rt)
    no_note = client.post(f"/api/cases/{cid}/return/review", json={"approved": False}, headers=OP)
    assert no_note.status_code == 422 and _log(rt) == n
    back = client.post(
        f"/api/cases/{cid}/return/review",
        json={"approved": False, "note": "经核实属茶亭路社区维护，请继续办理"},
        headers=OP,
    ).json()
    assert back["status"] == "claimed" and back["assigned_unit"] == ASSIGNED_UNIT
    seen = client.get(f"/api/cases/{cid}", headers=UNIT).json()
    assert seen["return_refusal"] == "经核实属茶亭路社区维护，请继续办理"
    assert "resolve" in seen["actions"] and "return" in seen["actions"]
    inbox = client.get(f"/api/units/{ASSIGNED_UNIT}/inbox", headers=UNIT).json()
    assert str(cid) in {r["case_id"] for r in inbox}
    events = client.get(f"/api/cases/{cid}/events", headers=UNIT).json()
    reviewed = next(e for e in events if e["type"] == "ReturnReviewed")
    assert reviewed["data"]["approved"] is False and reviewed["type_name"] == "退单审核"


def test_approving_a_return_without_a_unit_to_send_it_to_is_refused(env: tuple[Any, Runtime]) -> None:
    client, rt = env
    cid = case_with_return_review(rt, suggested=None)
    n = _log(rt)
    r = client.post(f"/api/cases/{cid}/return/review", json={"approved": True}, headers=OP)
    assert r.status_code == 422 and _log(rt) == n
    back_to_it = client.post(
        f"/api/cases/{cid}/return/review", json={"approved": True, "unit": ASSIGNED_UNIT}, headers=OP
    )
    assert back_to_it.status_code == 422 and _log(rt) == n
    ok = client.post(f"/api/cases/{cid}/return/review", json={"approved": True, "unit": "zhujian"}, headers=OP)
    assert ok.status_code == 200 and ok.json()["assigned_unit"] == "zhujian"


def test_transfer_by_the_centre(env: tuple[Any, Runtime]) -> None:
    client, rt = env
    cid = case_in(rt, Status.CLAIMED)
    assert "transfer" in client.get(f"/api/cases/{cid}", headers=OP).json()["actions"]
    n = _log(rt)
    for body in ({"unit": "zhongjie", "note": " "}, {"unit": ASSIGNED_UNIT, "note": "转"}):
        assert client.post(f"/api/cases/{cid}/transfer", json=body, headers=OP).status_code == 422
    assert client.post(
        f"/api/cases/{cid}/transfer", json={"unit": "zhongjie", "note": "转"}, headers=UNIT
    ).status_code == 403
    assert _log(rt) == n
    moved = client.post(
        f"/api/cases/{cid}/transfer", json={"unit": "zhongjie", "note": "属街道统筹事项"}, headers=OP
    ).json()
    assert moved["status"] == "dispatched" and moved["assigned_unit"] == "zhongjie"
    assert moved["dispatch"]["note"] == "属街道统筹事项"
    resolved = case_in(rt, Status.RESOLVED)
    n = _log(rt)
    refused = client.post(
        f"/api/cases/{resolved}/transfer", json={"unit": "zhongjie", "note": "转"}, headers=OP
    )
    assert refused.status_code == 409 and _log(rt) == n


def test_closing_without_contact_and_the_paged_followup_queue(env: tuple[Any, Runtime]) -> None:
    client, rt = env
    cases = [case_in(rt, Status.RESOLVED) for _ in range(3)]
    first = cases[0]
    page = client.get("/api/queue/followup?limit=2", headers=OP).json()
    assert page["total"] == 3 and len(page["rows"]) == 2 and page["max_unanswered"] == 3
    rest = client.get("/api/queue/followup?limit=2&offset=2", headers=OP).json()
    ids = [r["case_id"] for r in page["rows"] + rest["rows"]]
    assert ids == [str(c) for c in cases]  # the longest waiting first
    for attempt in (1, 2, 3):
        n = _log(rt)
        early = client.post(f"/api/cases/{first}/close/unreachable", json={}, headers=OP)
        assert early.status_code == 409 and _log(rt) == n
        seen = client.post(
            f"/api/cases/{first}/callback/unanswered", json={"note": "无人接听"}, headers=OP
        ).json()
        assert seen["callbacks_unanswered"] == attempt
    row = next(
        r for r in client.get("/api/queue/followup", headers=OP).json()["rows"] if r["case_id"] == str(first)
    )
    assert row["callbacks_unanswered"] == 3 and row["callback_closable"] is True
    assert "close/unreachable" in client.get(f"/api/cases/{first}", headers=OP).json()["actions"]
    closed = client.post(f"/api/cases/{first}/close/unreachable", json={"note": "三次未接通"}, headers=OP)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert client.get("/api/queue/followup", headers=OP).json()["total"] == 2
    # Counted apart: a 未接通结案 on the unit that resolved it, no follow-up, still resolved.
    units = {r["key"]: r for r in client.get("/api/stats?by=unit", headers=auth(LEADER)).json()["rows"]}
    chatinglu = units[ASSIGNED_UNIT]
    assert chatinglu["closed_unreachable"] == 1 and chatinglu["followups"] == 0
    assert chatinglu["resolved"] == 3


def test_disputed_returns_per_unit_pair(env: tuple[Any, Runtime]) -> None:
    client, rt = env
    a, b, c = (case_with_return_review(rt) for _ in range(3))
    client.post(f"/api/cases/{a}/return/review", json={"approved": True}, headers=OP)
    client.post(f"/api/cases/{b}/return/review", json={"approved": False, "note": "属社区"}, headers=OP)
    # The street returns the approved one back to the community: the opposite pair.
    rt.app.claim(a, "zhongjie", "unit:test")
    rt.app.return_case(a, "zhongjie", "属社区", "unit:test", suggested_unit=ASSIGNED_UNIT)
    pairs = client.get("/api/stats/returns", headers=auth(LEADER)).json()
    rows = {(r["unit"], r["suggested_unit"]): r for r in pairs["rows"]}
    there = rows[(ASSIGNED_UNIT, "zhongjie")]
    assert (there["returns"], there["approved"], there["approved_to_suggested"], there["refused"], there["pending"]) == (3, 1, 1, 1, 1)
    assert there["reverse"] == 1 and there["refusal_rate"]["value"] == 0.5
    back = rows[("zhongjie", ASSIGNED_UNIT)]
    assert (back["returns"], back["pending"], back["reverse"]) == (1, 1, 3)
    assert pairs["total"]["returns"] == 4
    only_street = client.get("/api/stats/returns?unit=zhujian", headers=auth(LEADER)).json()
    assert only_street["rows"] == []
    assert client.get("/api/stats/returns", headers=UNIT).status_code == 403
    assert {UUID(r["case_id"]) for r in client.get("/api/queue/returns", headers=OP).json()["rows"]} == {a, c}
