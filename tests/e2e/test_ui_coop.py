"""吹哨报到 in a real browser (tests/e2e/test_ui_flow.py's server and Chromium): 茶亭路社区, leading
a case, whistles two departments in; each sees it in 协办待反馈, reports in (报到) and reports its
part (协办反馈); the community cannot resolve until both are in, then resolves; the centre's
协办与吹哨 figures count the whistle and both report-ins. Screenshots go to test-artifacts/
(and /tmp/sanshi-whistle-*.png for a look by hand)."""

from __future__ import annotations

import shutil
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.test_ui_flow import OPERATOR, UNIT, _api, _page, _shot, server

pytestmark = pytest.mark.date_sensitive
__all__ = ["server"]  # the fixtures, shared with the other walk

DEPARTMENTS = {"chengguan": "demo-unit-chengguan", "zhujian": "demo-unit-zhujian"}


def _copy(path: Any, name: str) -> None:
    shutil.copy(path, f"/tmp/sanshi-whistle-{name}.png")


def test_a_community_whistles_two_departments_in_and_resolves(browser: Any, server: str) -> None:
    case = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-WHISTLE-{time.time_ns()}", "received_at": "2026-11-02 09:30:00",
        "content": "茶亭路幸福里小区北门道路施工，夜间噪音扰民，渣土车占道，路灯也被挖断",
        "address": "北海市海城区茶亭路幸福里小区北门",
    })
    cid = case["id"]
    if case["status"] != "dispatched" or case.get("assigned_unit") != "chatinglu":
        _api(server, OPERATOR, "POST", f"/api/cases/{cid}/dispatch", {"unit": "chatinglu"})
    _api(server, UNIT, "POST", f"/api/cases/{cid}/claim")

    # ---- the community whistles 城管 and 住建 in ------------------------------------------------
    lead = _page(browser, server, UNIT)
    lead.locator(f"[data-testid=inbox-table] tr[data-case-id='{cid}']").click()
    card = lead.get_by_test_id("case-detail")
    card.get_by_test_id("whistle-unit-chengguan").check()
    card.get_by_test_id("whistle-unit-zhujian").check()
    card.get_by_test_id("whistle-reason").fill("施工噪音、渣土占道，需城管、住建到场")
    card.get_by_test_id("do-whistle").click()
    card.get_by_test_id("whistle").wait_for()
    assert card.get_by_test_id("part").count() == 2
    assert card.get_by_test_id("do-resolve").count() == 0  # not while the parts are out
    _copy(_shot(lead, "8-吹哨报到-community-whistled.png"), "1-whistled")

    # ---- each department reports in and reports its part -------------------------------------
    pages = []
    for unit, token in DEPARTMENTS.items():
        page = _page(browser, server, token)
        pages.append(page)
        page.get_by_test_id("tab-assists").click()
        page.locator(f"[data-testid=assists-table] tr[data-case-id='{cid}']").click()
        detail = page.get_by_test_id("case-detail")
        detail.get_by_test_id("do-claim-part").filter(has_text="报到").click()
        detail.locator(f"[data-testid=part][data-unit='{unit}'][data-state='claimed']").wait_for()
        assert detail.get_by_test_id("do-resolve").count() == 0  # an assisting unit never resolves
        detail.get_by_test_id("part-feedback").fill(f"{unit} 已到场处置，已责令夜间停工")
        detail.get_by_test_id("do-report-part").click()
        detail.locator(f"[data-testid=part][data-unit='{unit}'][data-state='reported']").wait_for()
        if unit == "zhujian":
            _copy(_shot(page, "9-协办反馈-department-reported.png"), "2-reported")

    # ---- the lead resolves once both parts are in ---------------------------------------------
    lead.get_by_test_id("tab-inbox").click()
    lead.locator(f"[data-testid=inbox-table] tr[data-case-id='{cid}']").click()
    card = lead.get_by_test_id("case-detail")
    card.get_by_test_id("resolve-result").fill("城管、住建到场处置，施工方承诺夜间停工，路灯已修复")
    card.get_by_test_id("do-resolve").click()
    card.get_by_test_id("status").filter(has_text="已办结").wait_for()
    assert card.locator("[data-testid=part][data-state='reported']").count() == 2
    _copy(_shot(lead, "10-吹哨报到-lead-resolved.png"), "3-resolved")

    # ---- the centre's figures --------------------------------------------------------------------
    op = _page(browser, server, OPERATOR)
    op.get_by_test_id("tab-coop").click()
    whistles = op.get_by_test_id("coop-whistles")
    whistles.wait_for()
    expect(whistles).to_contain_text("茶亭路社区")
    reports = op.get_by_test_id("coop-reports").inner_text()
    assert "区城市管理局" in reports and "区住房和城乡建设局" in reports
    _copy(_shot(op, "11-协办与吹哨-figures.png"), "4-figures")
    for page in (lead, op, *pages):
        assert not page.errors, page.errors
