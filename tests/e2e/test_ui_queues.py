"""The web UI in Chromium for issue 17's work queues and monthly figures: a unit's 今日到期 and
已超期 queues (counts on the queue bar, the cases in them, the same numbers as the API), and the
leader's dashboard showing 通报/追责 per unit for a month (the same numbers as GET /api/stats).
"Today" is the server's: the cases are received at times relative to the clock this process and
the server share (moved together in CI, tests/support/moved_clock.py). Screenshots in
test-artifacts/."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from engine.deadlines import SHANGHAI
from tests.e2e.test_ui_flow import LEADER, OPERATOR, UNIT, _api, _page, _shot, server  # noqa: F401

pytestmark = pytest.mark.date_sensitive

UNIT_ID = "chatinglu"


def _lamp(base: str, at: dt.datetime) -> dict[str, Any]:
    """A street-lamp case for 茶亭路社区 received at ``at``, claimed by the unit now."""
    tail = uuid.uuid4().hex[:12]
    case = _api(base, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-Q-{time.time_ns()}", "received_at": at.strftime("%Y-%m-%d %H:%M:%S"),
        "content": f"茶亭路幸福里小区门口的路灯不亮了，晚上很黑（灯杆编号 {tail}）",
        "address": "北海市海城区茶亭路幸福里小区",
    })
    if case["status"] == "received":  # the router left it in the manual queue: dispatch by hand
        case = _api(base, OPERATOR, "POST", f"/api/cases/{case['id']}/dispatch", {"unit": UNIT_ID})
    return _api(base, UNIT, "POST", f"/api/cases/{case['id']}/claim")


def _handle_day(case: dict[str, Any]) -> dt.date:
    deadline = dt.datetime.fromisoformat(case["dispatch"]["handle_deadline"])
    return deadline.astimezone(SHANGHAI).date()


def test_a_units_due_today_and_overdue_queues(browser: Any, server: str) -> None:  # noqa: F811
    today = dt.datetime.now(SHANGHAI).date()
    # Late: received six weeks ago. Due today: received as many days back as the handling clock
    # runs, found by receiving a day further back each time (the cases between are in 办理中);
    # none on a day that is no working day (no deadline falls on it).
    late = _lamp(server, dt.datetime.combine(today - dt.timedelta(days=42), dt.time(9), tzinfo=SHANGHAI))
    due = None
    for back in range(1, 30):
        case = _lamp(server, dt.datetime.combine(today - dt.timedelta(days=back), dt.time(9), tzinfo=SHANGHAI))
        if _handle_day(case) <= today:
            due = case if _handle_day(case) == today else None
            break
    counts = {q["queue"]: q["total"] for q in _api(server, UNIT, "GET", f"/api/units/{UNIT_ID}/queues")["queues"]}
    assert counts["overdue"] >= 1

    page = _page(browser, server, UNIT)
    bar = page.get_by_test_id("unit-queues")
    bar.get_by_test_id("queue-overdue-count").wait_for()
    for code in ("to_claim", "handling", "due_today", "overdue", "instructions"):
        assert bar.get_by_test_id(f"queue-{code}-count").inner_text() == str(counts[code]), code
    expect(bar).to_contain_text("今日到期")
    expect(bar).to_contain_text("已超期")

    bar.get_by_test_id("queue-due_today").click()
    page.get_by_test_id("unit-queue-table-total").filter(has_text=f"共 {counts['due_today']} 件").wait_for()
    if due is not None:
        row = page.locator(f"[data-testid=unit-queue-table] tr[data-case-id='{due['id']}']")
        row.wait_for()
        assert "overdue" not in (row.get_attribute("class") or "")
    else:
        assert page.get_by_test_id("unit-queue-table").inner_text() == "暂无工单"
    _shot(page, "11-今日到期-unit-queue.png")

    bar.get_by_test_id("queue-overdue").click()
    page.get_by_test_id("unit-queue-table-total").filter(has_text=f"共 {counts['overdue']} 件").wait_for()
    row = page.locator(f"[data-testid=unit-queue-table] tr[data-case-id='{late['id']}']")
    row.wait_for()
    assert "overdue" in (row.get_attribute("class") or "") and "超期" in row.inner_text()
    if due is not None:
        assert page.locator(f"[data-testid=unit-queue-table] tr[data-case-id='{due['id']}']").count() == 0
    _shot(page, "12-已超期-unit-queue.png")
    # 全部 is the inbox as before.
    bar.get_by_test_id("queue-all").click()
    page.locator(f"[data-testid=inbox-table] tr[data-case-id='{late['id']}']").wait_for()
    assert not page.errors, page.errors


def test_the_dashboard_shows_notices_and_accountabilities(browser: Any, server: str) -> None:  # noqa: F811
    records = [
        _api(server, OPERATOR, "POST", "/api/censures", {"kind": kind, "unit": unit, "reason": reason})
        for kind, unit, reason in (
            ("notice", UNIT_ID, "路灯报修三次超期未签收"),
            ("notice", UNIT_ID, "回访不满意未整改"),
            ("accountability", UNIT_ID, "虚假办结"),
            ("notice", "chengguan", "占道经营投诉推诿"),
        )
    ]
    at = dt.datetime.fromisoformat(records[0]["at"]).astimezone(SHANGHAI)
    month = at.strftime("%Y-%m")
    first = at.date().replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    stats = _api(server, LEADER, "GET", f"/api/stats?by=unit&from={first}&to={following}")
    by_unit = {r["key"]: r for r in stats["rows"]}

    page = _page(browser, server, LEADER)
    card = page.get_by_test_id("censure-figures")
    card.wait_for()
    page.get_by_test_id("censure-month").fill(month)
    mine = card.locator(f"[data-testid=censure-table] tr[data-unit='{UNIT_ID}']")
    mine.locator("td[data-field=notices]").filter(has_text=str(by_unit[UNIT_ID]["notices"])).wait_for()
    for unit in (UNIT_ID, "chengguan"):
        row = card.locator(f"[data-testid=censure-table] tr[data-unit='{unit}']")
        for field in ("notices", "accountabilities"):
            assert row.locator(f"td[data-field={field}]").inner_text() == str(by_unit[unit][field])
    # What was recorded (this server's only censures) is what the stats count.
    assert (by_unit[UNIT_ID]["notices"], by_unit[UNIT_ID]["accountabilities"]) == (2, 1)
    assert card.get_by_test_id("censure-total-notices").inner_text() == str(stats["total"]["notices"])
    assert card.get_by_test_id("censure-total-accountabilities").inner_text() == str(
        stats["total"]["accountabilities"]
    )
    head = card.locator("thead").inner_text()
    assert "通报" in head and "追责" in head
    card.scroll_into_view_if_needed()
    _shot(page, "13-通报追责-leader-dashboard.png")
    assert not page.errors, page.errors


def test_the_centres_extension_requests(browser: Any, server: str) -> None:  # noqa: F811
    """待审延期: the unit asks for more time, the operator finds the request in its queue and
    approves it from the case; the queue no longer holds it."""
    case = _lamp(server, dt.datetime.now(SHANGHAI) - dt.timedelta(hours=1))
    until = dt.datetime.fromisoformat(case["dispatch"]["handle_deadline"]) + dt.timedelta(days=3)
    _api(server, UNIT, "POST", f"/api/cases/{case['id']}/extend",
         {"until": until.isoformat(), "reason": "需要协调供电部门更换电缆"})
    total = _api(server, OPERATOR, "GET", "/api/queue/extensions")["total"]

    op = _page(browser, server, OPERATOR)
    op.get_by_test_id("tab-extensions").click()
    op.get_by_test_id("extensions-table-total").filter(has_text=f"共 {total} 件").wait_for()
    # Narrowed to another unit: not there; to this one: there.
    op.get_by_test_id("extensions-table-unit").select_option("chengguan")
    op.get_by_test_id("extensions-table-total").filter(has_text="共 0 件").wait_for()
    op.get_by_test_id("extensions-table-unit").select_option(UNIT_ID)
    row = op.locator(f"[data-testid=extensions-table] tr[data-case-id='{case['id']}']")
    row.click()
    _shot(op, "14-待审延期-operator-queue.png")
    op.get_by_test_id("case-detail").get_by_role("button", name="同意", exact=True).click()
    op.get_by_test_id("extensions-table-total").filter(has_text=f"共 {total - 1} 件").wait_for()
    assert op.locator(f"[data-testid=extensions-table] tr[data-case-id='{case['id']}']").count() == 0
    assert not op.errors, op.errors


def test_a_queue_shows_the_unit_picked_last_when_an_earlier_pick_answers_last(browser: Any, server: str) -> None:  # noqa: F811
    """A paged queue narrowed to one unit, then at once to another: the first pick's answer,
    come last (a slow machine), must not redraw the pager with its count."""
    case = _lamp(server, dt.datetime.now(SHANGHAI) - dt.timedelta(hours=1))
    until = dt.datetime.fromisoformat(case["dispatch"]["handle_deadline"]) + dt.timedelta(days=3)
    _api(server, UNIT, "POST", f"/api/cases/{case['id']}/extend", {"until": until.isoformat(), "reason": "等待配件到货"})
    ours = _api(server, OPERATOR, "GET", f"/api/queue/extensions?unit={UNIT_ID}")["total"]
    theirs = _api(server, OPERATOR, "GET", "/api/queue/extensions?unit=chengguan")["total"]
    assert ours >= 1 and theirs != ours

    op = _page(browser, server, OPERATOR)
    op.get_by_test_id("tab-extensions").click()
    pick = op.get_by_test_id("extensions-table-unit")
    pick.wait_for()
    held: list[Any] = []
    op.route("**/api/queue/extensions?*", lambda route: held.append(route) if not held else route.continue_())
    pick.select_option("chengguan")
    pick.select_option(UNIT_ID)
    total = op.get_by_test_id("extensions-table-total")
    total.filter(has_text=f"共 {ours} 件").wait_for()
    op.locator(f"[data-testid=extensions-table] tr[data-case-id='{case['id']}']").wait_for()
    assert len(held) == 1 and "unit=chengguan" in held[0].request.url
    url = held[0].request.url
    with op.expect_response(lambda r: r.url == url):
        held[0].continue_()
    op.wait_for_timeout(1000)  # the late answer has arrived; give the page time to draw it
    assert total.inner_text() == f"共 {ours} 件", "the earlier pick's answer redrew the pager"
    assert pick.input_value() == UNIT_ID
    assert not op.errors, op.errors
