"""认领大厅 in a real browser (tests/e2e/test_ui_flow.py's server and Chromium): the centre puts a
resident's need on the shelf from its 待派单 queue; a volunteer team and a social enterprise see
it in their 认领大厅 and apply; the centre refuses the volunteers (with a reason they then read)
and accepts the enterprise, whose 工单箱 gets the case; resolved and called back, it shows as
微服务 on the leader's screen. Screenshots go to test-artifacts/ (and /tmp/sanshi-shelf-*.png
for a look by hand)."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from typing import Any

import pytest
from playwright.sync_api import expect

from engine.deadlines import SHANGHAI
from tests.e2e.test_ui_flow import LEADER, OPERATOR, _api, _page, _shot, server

pytestmark = pytest.mark.date_sensitive
__all__ = ["server"]  # the fixtures, shared with the other walks

VOLUNTEERS = "demo-unit-hongmajia-vt"  # 海城红马甲志愿服务队
ENTERPRISE = "demo-unit-yinling-se"  # 北海银铃助老服务中心
LAWYERS = "demo-unit-fayuan-so"  # 海城法律援助志愿者协会: offers 法律咨询 only


def _copy(path: Any, name: str) -> None:
    shutil.copy(path, f"/tmp/sanshi-shelf-{name}.png")


def test_a_need_is_shelved_claimed_refused_accepted_and_counted_as_a_micro_service(
    browser: Any, server: str
) -> None:
    # Everything happens on the server's day (its clock is moved in CI's date-sensitive runs):
    # the call came in an hour ago, the claims and the resolution are now.
    now = dt.datetime.fromisoformat(_api(server, LEADER, "GET", "/api/proactive/surges")["now"]).astimezone(SHANGHAI)
    received = now - dt.timedelta(hours=1)
    case = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-SHELF-{time.time_ns()}", "received_at": received.isoformat(timespec="seconds"),
        "content": "家中老人独居，子女在外地，希望有人每周上门探望，帮忙买菜",
        "address": "北海市海城区四川路",
    })
    cid = case["id"]
    assert case["status"] == "received" and "shelve" in case["shelf_actions"], case

    # ---- the centre lists it from 待派单 ----------------------------------------------------------
    op = _page(browser, server, OPERATOR)
    op.get_by_test_id("tab-queue").click()
    op.locator(f"[data-testid=queue-table] tr[data-case-id='{cid}']").click()
    box = op.get_by_test_id("case-detail").get_by_test_id("shelf-case")
    box.get_by_test_id("shelf-service-select").locator("option[value=elderly_care]").wait_for(state="attached")
    box.get_by_test_id("shelf-service-select").select_option("elderly_care")
    box.get_by_test_id("shelf-summary").fill("四川路一位独居老人，需每周上门探望、代购生活用品")
    box.get_by_test_id("shelf-list").click()
    op.get_by_test_id("case-detail").get_by_test_id("shelf-case").filter(has_text="暂无待审核的认领申请").wait_for()

    # ---- two helpers apply; the lawyers (法律咨询 only) do not see it ---------------------------
    for token, note in ((VOLUNTEERS, "周三上午两名队员上门"), (ENTERPRISE, "每周二、五各上门一次")):
        page = _page(browser, server, token)
        page.get_by_test_id("tab-shelf").click()
        item = page.locator(f"[data-testid=shelf-item][data-case='{cid}']")
        item.get_by_test_id("shelf-claim-note").fill(note)
        item.get_by_test_id("shelf-apply").click()
        item.locator("[data-testid=shelf-claim][data-state=pending]").wait_for()
        assert item.get_by_test_id("shelf-claim").count() == 1  # its own claim, never another's
        if token == VOLUNTEERS:
            volunteers = page
            _copy(_shot(page, "shelf-1-volunteers-applied.png"), "1-volunteers-applied")
        assert not page.errors, page.errors
    lawyers = _page(browser, server, LAWYERS)
    lawyers.get_by_test_id("tab-shelf").click()
    lawyers.get_by_test_id("shelf-items").locator("[data-testid=shelf-empty], [data-testid=shelf-item]").first.wait_for()
    assert lawyers.locator(f"[data-testid=shelf-item][data-case='{cid}']").count() == 0

    # ---- the centre refuses the volunteers, with a reason, then accepts the enterprise --------
    op.get_by_test_id("tab-shelf").click()
    item = op.locator(f"[data-testid=shelf-item][data-case='{cid}']")
    item.locator("[data-testid=shelf-claim][data-state=pending]").nth(1).wait_for()
    first = item.locator("[data-testid=shelf-claim][data-unit='hongmajia-vt']")
    first.get_by_test_id("shelf-refuse-reason").fill("队员本周已排满，请其他单位认领")
    first.get_by_test_id("shelf-refuse").click()
    item.locator("[data-testid=shelf-claim][data-unit='hongmajia-vt'][data-state=refused]").wait_for()
    _copy(_shot(op, "shelf-2-centre-refused-one.png"), "2-centre-refused-one")
    item.locator("[data-testid=shelf-claim][data-unit='yinling-se']").get_by_test_id("shelf-accept").click()
    op.locator(f"[data-testid=shelf-item][data-case='{cid}']").wait_for(state="detached")
    assert not op.errors, op.errors

    # The volunteers read the refusal and its reason.
    volunteers.reload()
    volunteers.get_by_test_id("tab-shelf").click()
    mine = volunteers.get_by_test_id("shelf-my-claims")
    mine.locator("[data-testid=shelf-claim][data-state=refused]").wait_for()
    expect(mine).to_contain_text("队员本周已排满")

    # ---- the enterprise handles it as any unit; the leader sees it as 微服务 ---------------------
    enterprise = _page(browser, server, ENTERPRISE)
    enterprise.locator(f"[data-testid=inbox-table] tr[data-case-id='{cid}']").wait_for()
    _api(server, ENTERPRISE, "POST", f"/api/cases/{cid}/claim")
    _api(server, ENTERPRISE, "POST", f"/api/cases/{cid}/resolve", {"result": "已安排每周二、五上门探望并代购"})
    _api(server, OPERATOR, "POST", f"/api/cases/{cid}/followup", {"solved": True, "rating": "satisfied"})
    leader = _page(browser, server, LEADER)
    # The dashboard over the server's days, not the browser's.
    leader.get_by_test_id("rates").wait_for()
    leader.get_by_test_id("from").fill(received.date().isoformat())
    leader.get_by_test_id("to").fill((now.date() + dt.timedelta(days=1)).isoformat())
    leader.get_by_test_id("refresh-dashboard").click()
    card = leader.get_by_test_id("helpers-card")
    # The card first shows the default period, then the server's day: wait for the second.
    expect(card.locator("tr[data-key='hongmajia-vt']").locator("td").nth(6)).not_to_have_text("0")  # refused
    row = card.locator("tr[data-key='yinling-se']")
    micro = int(row.locator("td").nth(2).inner_text())
    assert micro >= 1
    card.scroll_into_view_if_needed()
    _copy(_shot(leader, "shelf-3-leader-micro-services.png"), "3-leader-micro-services")
    # Not in the ranking of government units.
    assert "志愿服务队" not in leader.locator("[data-testid=ranking], .card:has(h2:text('承办单位排名'))").first.inner_text()
    assert not leader.errors, leader.errors
