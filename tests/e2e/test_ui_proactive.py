"""主动治理 and 诉源治理 on the leader's screen in a real browser (test_ui_flow's server).

Fourteen quiet days of June 2025 bring one street-lamp case a day to 中街街道 (茶亭路); on
16 June ten more come in, four of them from four callers about 茶亭路8号. The leader opens
主动治理 over those days: 中街街道 × 市政设施 on 16 June is the one candidate (10 against a
usual level below 2), its 查看工单 lists those ten cases; 茶亭路8号 is a repeated place with
four callers; the 诉源治理 table is drawn with its definitions. Screenshots go to
test-artifacts/ (looked at). Fixed dates in the past: nothing depends on the day it runs."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.test_ui_flow import LEADER, OPERATOR, _api, _page, _shot, server

pytestmark = pytest.mark.date_sensitive  # the server stamps "now"; the data's dates are fixed
__all__ = ["server"]

FIRST = dt.date(2025, 6, 2)
SURGE = dt.date(2025, 6, 16)
PROBLEMS = ("门口的路灯不亮了", "路灯一闪一闪的", "路灯白天也亮着浪费电", "路灯杆上的灯罩掉了")


def _case(server: str, day: dt.date, n: int, address: str, phone: str) -> dict[str, Any]:
    return _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-SURGE-{day:%m%d}-{n}-{uuid.uuid4().hex[:8]}",
        "received_at": f"{day.isoformat()} {9 + n % 8:02d}:{(7 * n) % 60:02d}:00",
        "content": f"{address.removeprefix('北海市海城区')}{PROBLEMS[n % len(PROBLEMS)]}（编号 {uuid.uuid4().hex}）",
        "address": address,
        "caller_phone": phone,
        "category": "municipal",
    })


def test_the_leader_sees_the_surge_its_cases_the_repeated_place_and_source_governance(browser: Any, server: str) -> None:
    for i in range((SURGE - FIRST).days):
        _case(server, FIRST + dt.timedelta(days=i), i, f"北海市海城区茶亭路{100 + i}号", f"1390000{i:04d}")
    made = []
    for n in range(10):
        address = "北海市海城区茶亭路8号" if n < 4 else f"北海市海城区茶亭路{20 + n}号"
        made.append(_case(server, SURGE, n, address, f"1370000{n:04d}"))
    # A surge counts valid cases (有效受理): a report the router merged into an earlier one of
    # the four at 茶亭路8号 (lamp problems at one door) is a repeated call, not another case.
    merged = sum(1 for m in made if m["status"] == "merged")
    assert merged <= 3, made
    valid = str(10 - merged)
    api = _api(server, LEADER, "GET", f"/api/proactive/surges?window=day&from={FIRST}&to=2025-06-20")
    assert [(r["place"], r["category"], r["from"], r["count"]) for r in api["rows"]] == [
        ("zhongjie", "municipal", SURGE.isoformat(), 10 - merged)
    ], api["rows"]

    page = _page(browser, server, LEADER)
    # The screen's first query (its default dates, no surge) is answered only after the
    # leader's own: a late answer to an older query must not draw over the newer one (it did,
    # on a slow machine: "no surge" where the surge had been).
    held: list[Any] = []
    page.route("**/api/proactive/surges?*", lambda route: held.append(route) if not held else route.continue_())
    page.get_by_role("button", name="主动治理").click()
    card = page.get_by_test_id("surges")
    card.wait_for()
    page.get_by_test_id("surge-from").fill(FIRST.isoformat())
    page.get_by_test_id("surge-to").fill("2025-06-20")
    page.get_by_test_id("surge-refresh").click()
    row = page.get_by_test_id("surge-row")
    row.first.wait_for()
    assert len(held) == 1
    with page.expect_response("**/api/proactive/surges?*"):
        held[0].continue_()
    page.wait_for_timeout(1000)  # the late answer has arrived; give the page time to draw it
    assert row.count() == 1, "the older query's answer replaced the leader's"
    text = row.inner_text()
    assert "中街街道" in text and "市政设施" in text and "2025-06-16" in text
    assert row.locator('[data-field="count"]').inner_text() == valid
    assert float(row.locator('[data-field="baseline"]').inner_text()) < 2
    expect(card).to_contain_text("每月一题")
    row.get_by_test_id("surge-cases").click()
    cases = page.get_by_test_id("proactive-cases")
    cases.wait_for()
    assert cases.locator("tbody tr").count() == 10 - merged
    assert page.get_by_test_id("proactive-cases-count").inner_text() == valid
    _shot(page, "proactive-surge.png")

    page.get_by_test_id("repeat-day").fill(SURGE.isoformat())
    page.get_by_test_id("repeat-refresh").click()
    repeat = page.locator('[data-testid="repeat-row"][data-address="茶亭路8号"]')
    repeat.wait_for()
    expect(repeat.locator("td").nth(4)).to_contain_text("4")
    repeat.get_by_test_id("repeat-cases").click()
    page.get_by_test_id("repeat-drill").get_by_test_id("proactive-cases").wait_for()
    assert page.get_by_test_id("repeat-drill").locator("tbody tr").count() == 4

    source = page.get_by_test_id("source-table")
    source.wait_for()
    heads = source.locator("thead").inner_text()
    assert "纠纷调解成功率" in heads and "诉前调解成功率" in heads
    page.get_by_test_id("source-governance").scroll_into_view_if_needed()
    _shot(page, "proactive-repeated-source.png")
    assert not page.errors, page.errors
