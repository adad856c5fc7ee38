"""领导驾驶舱 in a real browser (issue 19): the leader builds a street × rate table for one month
with a channel filter, sorts it, reads a rate's definition on hover, clicks a numerator and
gets the list of its cases (the list's count is the cell's number); the trend by week marks
nothing open for a past month; the overdue list follows the filters.

The cases are received in October 2026 (fixed instants) through the API: 12345 hotline lamps in
茶亭路 (中街街道), two of them resolved by the community, and app reports beside them.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from engine.vocabulary import rate
from tests.e2e.test_ui_flow import (  # noqa: F401
    ARTIFACTS,
    LEADER,
    OPERATOR,
    UNIT,
    _api,
    _page,
    _shot,
    server,
)

# The dashboard's default dates are relative to today; CI runs it again on moved clocks.
pytestmark = pytest.mark.date_sensitive

OCTOBER = ("2026-10-01", "2026-11-01")


def _hotline(server: str, n: int, month: str = "2026-10") -> str:  # noqa: F811
    case = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-TBL-{time.time_ns()}", "received_at": f"{month}-{3 + n:02d} 09:30:00",
        "content": f"茶亭路幸福里小区{n + 10}栋门口的路灯坏了，晚上漆黑（灯杆编号 T{n}{time.time_ns() % 10000}）",
        "address": f"北海市海城区茶亭路幸福里小区{n + 10}栋", "keep_separate": True,
    })
    if case["status"] == "received":
        _api(server, OPERATOR, "POST", f"/api/cases/{case['id']}/dispatch", {"unit": "chatinglu"})
    return str(case["id"])


def test_a_street_table_for_a_month_with_a_channel_filter_opens_a_numerators_cases(browser: Any, server: str) -> None:  # noqa: F811
    ids = [_hotline(server, n) for n in range(4)]
    for cid in ids[:2]:
        _api(server, UNIT, "POST", f"/api/cases/{cid}/claim")
        _api(server, UNIT, "POST", f"/api/cases/{cid}/resolve", {"result": "已更换灯泡"})
    for n in range(2):
        _api(server, OPERATOR, "POST", "/api/intake/app", {
            "submission_id": f"ui-tbl-app-{time.time_ns()}", "received_at": f"2026-10-{20 + n} 10:00:00",
            "content": f"东一巷菜场门口占道经营第{n}摊，堵住了路", "address": "东一巷",
        })
    expected = _api(server, LEADER, "GET", f"/api/stats?by=street&from={OCTOBER[0]}&to={OCTOBER[1]}&channel=hotline")

    page = _page(browser, server, LEADER)
    page.get_by_test_id("rates").wait_for()
    # By default the trend is the last 12 months up to the browser's today; a month the server
    # says is not over yet (its clock: CI moves the server's clock, not the browser's) is dashed
    # and noted, and no other.
    page.get_by_test_id("trend-chart").wait_for()
    shown = {"from": page.get_by_test_id("from").input_value(), "to": page.get_by_test_id("to").input_value()}
    months = _api(server, LEADER, "GET", f"/api/stats/trend?granularity=month&from={shown['from']}&to={shown['to']}")
    still_open = [r for r in months["rows"] if r["open"]]
    if still_open:
        page.get_by_test_id("trend-open").wait_for()
    else:
        assert page.get_by_test_id("trend-open").count() == 0
    assert page.locator("[data-testid=trend-chart] text").filter(has_text="*").count() == len(still_open)
    page.get_by_test_id("from").fill(OCTOBER[0])
    page.get_by_test_id("to").fill(OCTOBER[1])
    page.get_by_test_id("filter-channel").select_option("hotline")
    table = page.get_by_test_id("comparison")
    table.and_(page.locator("[data-generation]")).wait_for()
    generation = int(table.get_attribute("data-generation") or 0)
    page.get_by_test_id("refresh-dashboard").click()
    page.locator(f"[data-testid=comparison][data-generation='{generation + 1}']").wait_for()
    # Unit rows cannot be cut by a channel: the table says why instead of showing numbers.
    expect(page.get_by_test_id("comparison-error")).to_contain_text("不是工单本身的属性")
    page.get_by_test_id("table-by").select_option("street")
    page.locator(f"[data-testid=comparison][data-generation='{generation + 2}']").wait_for()

    rows = page.locator("[data-testid=comparison-table] tbody tr:not(.total-row)")
    assert rows.count() == len(expected["rows"]) >= 1
    street = expected["rows"][0]
    row = page.locator(f"[data-testid=comparison-table] tbody tr[data-key='{street['key']}']")
    cell = row.locator("td[data-rate=handling_rate]")
    assert cell.get_attribute("title") == rate("handling_rate").definition  # 口径 on hover
    numerator = cell.locator("button[data-field='handling_rate.numerator']")
    assert int(numerator.inner_text()) == street["handling_rate"]["numerator"] == 2
    assert int(cell.locator("button[data-field='handling_rate.denominator']").inner_text()) == street["handling_rate"]["denominator"] == 4
    header = page.locator("[data-testid=comparison-table] th[data-sort=response_rate]")
    assert header.get_attribute("title") == rate("response_rate").definition
    header.click()  # sorted on the client, every row kept
    assert rows.count() == len(expected["rows"])

    numerator.click()
    drill = page.get_by_test_id("drill")
    drill.get_by_test_id("drill-table").wait_for()
    assert int(drill.get_by_test_id("drill-count").inner_text()) == 2
    assert drill.get_by_test_id("drill-total").inner_text() == "共 2 件"
    listed = {r.get_attribute("data-case-id") for r in drill.locator("[data-testid=drill-table] tbody tr").all()}
    assert listed == set(ids[:2])
    _shot(page, "20-领导驾驶舱-对比表下钻.png")

    # The trend by week over a past month: no period open; the overdue list follows the filter.
    page.get_by_test_id("trend-granularity").select_option("week")
    page.get_by_test_id("trend-chart").wait_for()
    assert page.get_by_test_id("trend-open").count() == 0
    page.get_by_test_id("overdue-total").wait_for()
    total = int(page.get_by_test_id("overdue-total").inner_text().strip("共 件"))
    api_total = _api(server, LEADER, "GET", f"/api/overdue?from={OCTOBER[0]}&to={OCTOBER[1]}&channel=hotline&limit=1")["total"]
    assert total == api_total
    page.screenshot(path=str(ARTIFACTS / "21-领导驾驶舱-全页.png"), full_page=True)
    # The browser logs the refused unit × channel table (422) as a failed load; nothing else.
    assert [e for e in page.errors if "status of 422" not in e] == [], page.errors
    assert len(page.errors) == 1


MARCH = ("2025-03-01", "2025-04-01")


def _dashboard_kind(url: str) -> str | None:
    """Which of the dashboard's cards a request is for: the comparison table, the rates, the
    trend or the overdue list (the 通报/追责 card asks /api/stats?by=unit for its month: None)."""
    parts = urlsplit(url)
    if parts.path == "/api/stats" and not parts.query.startswith("by="):
        return "table" if "by=" in parts.query else "rates"
    return {"/api/stats/trend": "trend", "/api/overdue": "overdue"}.get(parts.path)


def test_the_dashboard_shows_the_leaders_query_when_its_opening_answers_come_last(browser: Any, server: str) -> None:  # noqa: F811
    # The dashboard loads with its default period (the last 12 months) when it opens; on a slow
    # machine those answers can come after the leader's own query: they must not draw over it.
    for n in range(3):
        _hotline(server, n, "2025-03")
    march = _api(server, LEADER, "GET", f"/api/stats?by=unit&from={MARCH[0]}&to={MARCH[1]}")
    march_overdue = _api(server, LEADER, "GET", f"/api/overdue?from={MARCH[0]}&to={MARCH[1]}&limit=1")["total"]
    assert march["total"]["received"] == 3

    page = _page(browser, server, LEADER)
    for card in ("rates", "comparison"):
        page.get_by_test_id(card).and_(page.locator("[data-generation]")).wait_for()
    held: dict[str, Any] = {}

    def hold(route: Any) -> None:
        kind = _dashboard_kind(route.request.url)
        if kind is None or kind in held:
            route.continue_()
        else:
            held[kind] = route

    page.route("**/api/**", hold)
    page.get_by_test_id("tab-dashboard").click()  # the screen again, its opening queries held
    deadline = time.monotonic() + 10
    while len(held) < 4 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert sorted(held) == ["overdue", "rates", "table", "trend"]
    shown = {"from": page.get_by_test_id("from").input_value(), "to": page.get_by_test_id("to").input_value()}
    opening = _api(server, LEADER, "GET", f"/api/stats?by=unit&from={shown['from']}&to={shown['to']}")
    opening_overdue = _api(server, LEADER, "GET", f"/api/overdue?from={shown['from']}&to={shown['to']}&limit=1")["total"]
    assert opening["total"]["received"] != march["total"]["received"]  # the two answers differ

    page.get_by_test_id("from").fill(MARCH[0])
    page.get_by_test_id("to").fill(MARCH[1])
    page.get_by_test_id("refresh-dashboard").click()
    page.locator("[data-testid=comparison][data-generation='1']").wait_for()
    page.locator("[data-testid=rates][data-generation='1']").wait_for()
    page.get_by_test_id("overdue-total").filter(has_text=f"共 {march_overdue} 件").wait_for()
    page.get_by_test_id("trend-chart").wait_for()
    for route in held.values():
        url = route.request.url
        with page.expect_response(lambda r, url=url: r.url == url):
            route.continue_()
    page.wait_for_timeout(1000)  # the late answers have arrived; give the page time to draw them

    received = str(march["total"]["received"])
    rows = page.locator("[data-testid=comparison-table] tbody tr:not(.total-row)")
    assert {r.get_attribute("data-key") for r in rows.all()} == {r["key"] for r in march["rows"]}, (
        "the opening query's table replaced the leader's")
    total_row = page.locator("[data-testid=comparison-table] tr.total-row td[data-field=received]")
    assert total_row.inner_text() == received
    assert page.get_by_test_id("kpi-received").locator("strong").inner_text() == received
    assert page.get_by_test_id("overdue-total").inner_text() == f"共 {march_overdue} 件"
    # One bar, March 2025's: the opening period's twelve months are not drawn.
    bars = page.locator("[data-testid=trend-chart] rect")
    assert bars.count() == 1 and (bars.first.locator("title").text_content() or "").endswith(f"{received} 件")
    assert (opening_overdue, opening["total"]["received"]) != (march_overdue, march["total"]["received"])
    assert not page.errors, page.errors
