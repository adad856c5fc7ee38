"""查找 and 来电弹屏 in a real browser (tests/e2e/test_ui_flow.py's server and Chromium, 1366×768):
the operator types a number that has called before and sees its cases under the form; then
finds a case by its order number and by a word of its text in 工单查询, and opens it: the page
shows the order number. Screenshots to test-artifacts/ and /tmp/sanshi-search-*.png."""

from __future__ import annotations

import shutil
import time
from typing import Any

import pytest

from tests.e2e.test_ui_flow import OPERATOR, _api, _page, _shot, server

pytestmark = pytest.mark.date_sensitive
__all__ = ["server"]


def test_the_operator_sees_a_callers_history_and_finds_cases(browser: Any, server: str) -> None:
    n = time.time_ns()
    phone = f"139{n % 100_000_000:08d}"  # a number only this run has used
    word = f"榕树{n % 10_000}"  # a made-up word of the text, only in this run's case
    first = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-SEARCH-{n}-1", "received_at": "2026-11-02 09:30:00",
        "content": f"茶亭路22号门前{word}的树枝压着电线，刮风时很危险",
        "address": "北海市海城区茶亭路22号", "caller_phone": phone, "caller_name": "李女士",
    })
    _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-SEARCH-{n}-2", "received_at": "2026-11-03 10:00:00",
        "content": "小区门口垃圾桶满了没人清运，臭气很大", "address": "北海市海城区茶亭路22号",
        "caller_phone": phone, "caller_name": "李女士",
    })
    order_no = first["order_no"]
    assert order_no

    page = _page(browser, server, OPERATOR)
    spaced = f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}"
    page.get_by_test_id("caller_phone").press_sequentially(spaced, delay=15)
    history = page.get_by_test_id("caller-history")
    history.get_by_test_id("history-row").nth(1).wait_for(timeout=5000)
    assert history.get_by_test_id("history-row").count() == 2
    assert order_no in history.inner_text()
    shutil.copy(_shot(page, "11-来电弹屏-caller-history.png"), "/tmp/sanshi-search-1-history.png")

    page.get_by_test_id("tab-search").click()
    for q in (order_no, word):
        page.get_by_test_id("find-q").fill(q)
        page.get_by_test_id("find-submit").click()
        row = page.locator(f"[data-testid=find-table] tr[data-case-id='{first['id']}']")
        row.wait_for(timeout=5000)
        assert page.locator("[data-testid=find-table] tbody tr").count() == 1
    row.click()
    page.get_by_test_id("case-order-no").filter(has_text=order_no).wait_for(timeout=5000)
    shutil.copy(_shot(page, "12-查找-found-by-word.png"), "/tmp/sanshi-search-2-found.png")


def _hold_first(page: Any, pattern: str) -> list[Any]:
    """Holds the first request to ``pattern`` (until the test lets it go); lets the rest through."""
    held: list[Any] = []
    page.route(pattern, lambda route: held.append(route) if not held else route.continue_())
    return held


def _release(page: Any, route: Any) -> None:
    url = route.request.url
    with page.expect_response(lambda r: r.url == url):
        route.continue_()
    page.wait_for_timeout(1000)  # the late answer has arrived; give the page time to draw it


def test_the_list_shows_the_operators_query_when_the_opening_list_comes_last(browser: Any, server: str) -> None:
    # 工单查询 lists the latest cases when it opens; on a slow machine that list can arrive after
    # the operator's own query (查询 with a word, or 查找): it must not draw over the answer.
    # Nor may a case clicked first, answered last, replace the one clicked after it.
    n = time.time_ns()
    word = f"凤凰木{n % 10_000}"
    mine = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-SEARCH-LATE-{n}-1", "received_at": "2026-11-04 09:30:00",
        "content": f"东一巷{word}旁的井盖松动，车一过就响", "address": "北海市海城区东一巷",
    })
    other = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-SEARCH-LATE-{n}-2", "received_at": "2026-11-04 10:00:00",
        "content": "东一巷菜场门口积水很深，下雨天过不去", "address": "北海市海城区东一巷",
    })
    assert len(_api(server, OPERATOR, "GET", "/api/cases?limit=200")) >= 2  # the opening list: more than the answer
    page = _page(browser, server, OPERATOR)
    mine_row = f"tr[data-case-id='{mine['id']}']"

    # 查询 with a word.
    held = _hold_first(page, "**/api/cases?*")
    page.get_by_test_id("tab-search").click()
    page.get_by_test_id("search-q").fill(word)
    page.get_by_test_id("search-q").press("Enter")
    page.locator(f"[data-testid=search-table] {mine_row}").wait_for()
    assert len(held) == 1 and "q=" not in held[0].request.url, [r.request.url for r in held]
    _release(page, held[0])
    rows = page.locator("[data-testid=search-table] tbody tr")
    assert rows.count() == 1, "the opening list replaced the operator's query"
    assert rows.first.get_attribute("data-case-id") == mine["id"]
    page.unroute("**/api/cases?*")

    # 查找 draws in the same list.
    held = _hold_first(page, "**/api/cases?*")
    page.get_by_test_id("tab-search").click()
    page.get_by_test_id("find-q").fill(word)
    page.get_by_test_id("find-submit").click()
    page.locator(f"[data-testid=find-table] {mine_row}").wait_for()
    assert len(held) == 1
    _release(page, held[0])
    assert page.get_by_test_id("search-table").count() == 0, "the opening list replaced 查找's answer"
    assert page.locator("[data-testid=find-table] tbody tr").count() == 1
    page.unroute("**/api/cases?*")

    # One case clicked, then at once another: the detail is the one clicked last.
    page.get_by_test_id("tab-search").click()
    page.locator(f"[data-testid=search-table] tr[data-case-id='{other['id']}']").wait_for()
    held = _hold_first(page, f"**/api/cases/{mine['id']}*")
    page.locator(f"[data-testid=search-table] {mine_row}").click()
    page.locator(f"[data-testid=search-table] tr[data-case-id='{other['id']}']").click()
    detail = page.get_by_test_id("case-detail")
    detail.and_(page.locator(f"[data-case-id='{other['id']}']")).wait_for()
    assert len(held) == 1
    _release(page, held[0])
    assert detail.get_attribute("data-case-id") == other["id"], "the case clicked first replaced the one clicked last"
    assert not page.errors, page.errors
