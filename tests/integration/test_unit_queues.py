"""A unit's work queues (issue 17): 待签收, 办理中, 今日到期, 已超期, 协办待反馈, 批示 — counted, paged,
the most pressing first, and "today" the service clock's day in Beijing time.

The first test fixes the service clock (``app.clock``) and walks it over the handling
deadline: a case is 今日到期 on its deadline's day, 已超期 the day after; a suspended case
(挂起中) is in neither, and after 恢复办理 its deadline has moved by the paused working days.
The second reads the clock as it runs (``date_sensitive``: CI runs it again on moved clocks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient

from adapters.bootstrap import Runtime
from engine.deadlines import SHANGHAI, compute_clocks
from engine.vocabulary import UNIT_QUEUES
from tests.support.api import (
    ASSIGNED,
    ASSIGNED_UNIT,
    LAMP,
    LAMP_ADDRESS,
    OPERATOR,
    OTHER_UNIT,
    api_client,
    auth,
    intake,
)

MONDAY = dt.datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI)


class Clock:
    """The service's clock, set by the test."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def env(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, Runtime]]:
    # The queues' SQL (the day's bounds, the missed deadline's order) on both databases.
    db = "memory://" if request.param == "sqlite" else request.getfixturevalue("fresh_postgres_url")
    with api_client(db) as pair:
        yield pair


def lamp_case(runtime: Runtime, at: dt.datetime, claim: bool = True) -> UUID:
    text = LAMP.format(n=7) + f"（灯杆编号 {uuid4().hex}）"
    r = runtime.app.receive(intake(text, LAMP_ADDRESS.format(n=7), at=at))
    assert r.status == "dispatched" and r.unit == ASSIGNED_UNIT, r
    if claim:
        runtime.app.claim(r.case_id, ASSIGNED_UNIT, "unit:test", at=at + dt.timedelta(minutes=10))
    return r.case_id


def deadlines(runtime: Runtime, cid: UUID) -> tuple[dt.datetime, dt.datetime]:
    d = runtime.app.get_case(cid).dispatch
    assert d is not None
    return d.claim_deadline, d.handle_deadline


def queue(client: TestClient, name: str, token: str = ASSIGNED, **params: Any) -> dict[str, Any]:
    r = client.get(f"/api/units/{ASSIGNED_UNIT}/queues/{name}", headers=auth(token), params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ids(page: dict[str, Any]) -> list[str]:
    return [row["case_id"] for row in page["rows"]]


def counts(client: TestClient, token: str = ASSIGNED) -> dict[str, int]:
    r = client.get(f"/api/units/{ASSIGNED_UNIT}/queues", headers=auth(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [q["name"] for q in body["queues"]] == [t.label for t in UNIT_QUEUES]
    return {q["queue"]: q["total"] for q in body["queues"]}


def test_due_today_and_overdue_follow_the_service_clock(env: tuple[TestClient, Runtime]) -> None:
    client, runtime = env
    clock = Clock(MONDAY)
    runtime.app.clock = clock
    a = lamp_case(runtime, MONDAY)
    b = lamp_case(runtime, MONDAY + dt.timedelta(minutes=30))
    unclaimed = lamp_case(runtime, MONDAY, claim=False)
    later = lamp_case(runtime, MONDAY + dt.timedelta(days=1))
    old = lamp_case(runtime, MONDAY - dt.timedelta(days=21))
    held = lamp_case(runtime, MONDAY)
    runtime.app.request_hold(held, ASSIGNED_UNIT, "等待鉴定结果", "unit:test", at=MONDAY + dt.timedelta(hours=1))
    runtime.app.decide_hold(held, True, "operator:test", at=MONDAY + dt.timedelta(hours=2))

    _, due = deadlines(runtime, a)
    assert deadlines(runtime, b)[1] == due == deadlines(runtime, held)[1]
    claim_due, _ = deadlines(runtime, unclaimed)
    # On the deadline's day, in the morning (Beijing time).
    clock.now = due.replace(hour=10, minute=0, second=0)
    assert claim_due < clock.now and deadlines(runtime, old)[1] < clock.now
    assert deadlines(runtime, later)[1].date() > due.date()

    today = queue(client, "due_today")
    assert today["name"] == "今日到期" and today["total"] == 2
    assert ids(today) == [str(a), str(b)]  # the same deadline: the earlier received first
    assert all(not row["overdue"] for row in today["rows"])
    late = queue(client, "overdue")
    # The deadline missed first comes first: the old case's handling deadline, then the claim.
    assert ids(late) == [str(old), str(unclaimed)]
    assert [row["overdue_kind"] for row in late["rows"]] == ["handle", "claim"]
    assert str(held) not in ids(today) + ids(late)
    assert counts(client) == {
        "to_claim": 1, "handling": 5, "due_today": 2, "overdue": 2, "assists": 0, "instructions": 0,
    }
    # Paged: one at a time, in the same order, with the count over all of them.
    first, second = queue(client, "overdue", limit=1), queue(client, "overdue", limit=1, offset=1)
    assert (first["total"], second["total"]) == (2, 2)
    assert ids(first) + ids(second) == ids(late)
    # The centre reads the unit's queues too (the same numbers), another unit may not.
    assert queue(client, "due_today", token=OPERATOR)["total"] == 2
    refused = client.get(f"/api/units/{ASSIGNED_UNIT}/queues/overdue", headers=auth(OTHER_UNIT))
    assert refused.status_code == 403
    assert client.get(f"/api/units/{ASSIGNED_UNIT}/queues/soon", headers=auth(ASSIGNED)).status_code == 422

    # Just before midnight it is still today; a second after the deadline, it is late.
    clock.now = due
    assert queue(client, "due_today")["total"] == 2
    clock.now = due + dt.timedelta(seconds=1)
    # Midnight: a new day, whose own deadlines are due (the case received a day later, when
    # the next day is a working day).
    next_due = deadlines(runtime, later)[1]
    expected = [str(later)] if next_due.date() == clock.now.date() else []
    assert ids(queue(client, "due_today")) == expected
    assert ids(queue(client, "overdue")) == [str(old), str(unclaimed), str(a), str(b)]

    # The suspended case was never late: its clock stood still. Resumed the next morning, its
    # deadline moved later by the paused working days.
    clock.now = due.replace(hour=9, minute=0, second=0) + dt.timedelta(days=1)
    assert str(held) not in ids(queue(client, "overdue"))
    runtime.app.resume(held, "operator:test")
    assert deadlines(runtime, held)[1] > clock.now
    assert str(held) not in ids(queue(client, "overdue"))
    assert str(held) in ids(queue(client, "handling"))


def test_a_waiting_instruction_and_the_queue_to_claim(env: tuple[TestClient, Runtime]) -> None:
    client, runtime = env
    runtime.app.clock = Clock(MONDAY + dt.timedelta(hours=3))
    waiting = lamp_case(runtime, MONDAY, claim=False)
    instructed = lamp_case(runtime, MONDAY)
    runtime.app.instruct(instructed, "请三日内核实路灯故障", "leader:test")
    assert ids(queue(client, "to_claim")) == [str(waiting)]
    page = queue(client, "instructions")
    assert ids(page) == [str(instructed)] and page["rows"][0]["instruction_due"]
    # What a unit reads passes its lens: no caller's phone.
    assert "13812345678" not in str(page)
    # The leader's 批示跟踪 counts every 批示件 and pages them.
    tracking = client.get("/api/queue/instructions?limit=1", headers=auth(OPERATOR)).json()
    assert (tracking["total"], tracking["counts"]["pending"], len(tracking["rows"])) == (1, 1, 1)


@pytest.mark.date_sensitive
def test_due_today_on_the_clock_as_it_runs(env: tuple[TestClient, Runtime]) -> None:
    """Today is whatever day the service's clock says (moved in CI by TEST_NOW): a case received
    long ago is late, one received now is not, and one whose handling deadline the calendar
    puts today is due today — none, on a day that is no working day."""
    client, runtime = env
    app = runtime.app
    now = app.clock()
    old = lamp_case(runtime, now - dt.timedelta(days=45))
    fresh = lamp_case(runtime, now - dt.timedelta(minutes=20))
    case = app.get_case(fresh)
    policy = runtime.config.deadline_policy(case.category, case.leaf)
    today = now.astimezone(SHANGHAI).date()
    received = None
    for back in range(1, 40):
        at = dt.datetime.combine(today - dt.timedelta(days=back), dt.time(9, 0), tzinfo=SHANGHAI)
        if compute_clocks(policy, False, at, app.calendar).handle_deadline.date() == today:
            received = at
            break
    due = lamp_case(runtime, received) if received is not None else None

    late = ids(queue(client, "overdue"))
    assert str(old) in late and str(fresh) not in late
    today_ids = ids(queue(client, "due_today"))
    assert str(fresh) not in today_ids and str(old) not in today_ids
    if due is not None:
        assert today_ids == [str(due)] and str(due) not in late
    else:
        assert today_ids == []


def test_the_centres_extension_requests_counted_and_paged(env: tuple[TestClient, Runtime]) -> None:
    """待审延期: every request for more time waiting for the centre, the oldest request first
    (not the case received first, nor the nearest deadline); a decided request leaves the queue."""
    client, runtime = env
    runtime.app.clock = Clock(MONDAY + dt.timedelta(days=2))
    later = lamp_case(runtime, MONDAY + dt.timedelta(days=1))
    sooner = lamp_case(runtime, MONDAY)
    # ``later`` (received last, deadline last) asked first, an hour before ``sooner``.
    for hours, cid in ((1, later), (2, sooner)):
        until = deadlines(runtime, cid)[1] + dt.timedelta(days=3)
        runtime.app.request_extension(
            cid, ASSIGNED_UNIT, until, "需要协调供电部门", "unit:test",
            at=MONDAY + dt.timedelta(days=1, hours=hours),
        )
    page = client.get("/api/queue/extensions", headers=auth(OPERATOR)).json()
    assert page["total"] == 2 and [r["case_id"] for r in page["rows"]] == [str(later), str(sooner)]
    assert all(r["extension_requested_to"] and r["unit_name"] for r in page["rows"])
    one = client.get("/api/queue/extensions?limit=1&offset=1", headers=auth(OPERATOR)).json()
    assert (one["total"], [r["case_id"] for r in one["rows"]]) == (2, [str(sooner)])
    # Filtered to a unit: its requests only (another unit has none).
    mine = client.get(f"/api/queue/extensions?unit={ASSIGNED_UNIT}", headers=auth(OPERATOR)).json()
    assert mine["total"] == 2
    assert client.get("/api/queue/extensions?unit=chengguan", headers=auth(OPERATOR)).json()["total"] == 0
    for path in ("/api/queue/holds", "/api/queue/returns", "/api/queue/followup"):
        assert client.get(f"{path}?unit=chengguan", headers=auth(OPERATOR)).json()["total"] == 0, path
    runtime.app.decide_extension(later, False, "operator:test", note="请按原时限办结")
    page = client.get("/api/queue/extensions", headers=auth(OPERATOR)).json()
    assert page["total"] == 1 and page["rows"][0]["case_id"] == str(sooner)
    assert client.get("/api/queue/extensions", headers=auth(ASSIGNED)).status_code == 403


def test_the_manual_and_hold_queues_are_counted_and_paged(env: tuple[TestClient, Runtime]) -> None:
    """待派单 and 待审挂起 with ``limit``/``offset``: the count over all of them and one page,
    oldest first; without, the whole list as before."""
    client, runtime = env
    runtime.app.clock = Clock(MONDAY + dt.timedelta(days=1))
    vague = [
        runtime.app.receive(
            intake(f"我想反映一个情况，麻烦你们记一下（{uuid4().hex[:8]}）", at=MONDAY + dt.timedelta(minutes=m)),
            route=False,
        ).case_id
        for m in (30, 0, 10)
    ]
    whole = client.get("/api/queue/manual", headers=auth(OPERATOR)).json()
    assert isinstance(whole, list) and [r["case_id"] for r in whole] == [str(vague[i]) for i in (1, 2, 0)]
    pages = [client.get(f"/api/queue/manual?limit=2&offset={o}", headers=auth(OPERATOR)).json() for o in (0, 2)]
    assert [p["total"] for p in pages] == [3, 3]
    assert [r["case_id"] for p in pages for r in p["rows"]] == [r["case_id"] for r in whole]

    held = [lamp_case(runtime, MONDAY + dt.timedelta(minutes=m)) for m in (0, 5)]
    for i, cid in enumerate(reversed(held)):
        runtime.app.request_hold(cid, ASSIGNED_UNIT, "等待鉴定结果", "unit:test", at=MONDAY + dt.timedelta(hours=1 + i))
    page = client.get("/api/queue/holds?limit=1", headers=auth(OPERATOR)).json()
    assert page["total"] == 2 and [r["case_id"] for r in page["rows"]] == [str(held[1])]
    assert len(client.get("/api/queue/holds", headers=auth(OPERATOR)).json()) == 2
    mine = client.get(f"/api/queue/holds?unit={ASSIGNED_UNIT}", headers=auth(OPERATOR)).json()
    assert mine["total"] == 2
    assert client.get("/api/queue/holds?unit=chengguan", headers=auth(OPERATOR)).json()["total"] == 0
