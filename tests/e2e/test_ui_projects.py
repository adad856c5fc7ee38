"""实事项目 in a real browser (issue 20): a leader picks the lamp cases of one street out of the
case list (filtered by street, category and words), opens a project over them with a plan; the
owner community reports progress and completes it; after the follow-up calls the project's page
shows every resident called back and its 满意率.

The cases are received on fixed days of October 2026 through the API; the project's deadline is
a fixed far day (the server opens it on its own today)."""

from __future__ import annotations

import time
from typing import Any

from playwright.sync_api import expect

from tests.e2e.test_ui_flow import (  # noqa: F401
    LEADER,
    OPERATOR,
    UNIT,
    _api,
    _page,
    _shot,
    server,
)

N = 5


def _lamp(server: str, n: int, mark: str) -> str:  # noqa: F811
    case = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-PRJ-{time.time_ns()}", "received_at": f"2026-10-{3 + n:02d} 09:30:00",
        "content": f"茶亭路幸福里小区{n + 30}栋门口的路灯坏了，晚上漆黑（{mark}，灯杆编号 P{n}{time.time_ns() % 10000}）",
        "address": f"北海市海城区茶亭路幸福里小区{n + 30}栋", "keep_separate": True,
    })
    if case["status"] == "received":
        _api(server, OPERATOR, "POST", f"/api/cases/{case['id']}/dispatch", {"unit": "chatinglu"})
    return str(case["id"])


def test_a_leader_turns_picked_cases_into_a_project_the_unit_completes_it_and_the_figures_show(browser: Any, server: str) -> None:  # noqa: F811
    mark = f"照明改造{time.time_ns() % 100000}"
    ids = [_lamp(server, n, mark) for n in range(N)]

    # ---- the leader: pick the street's lamp cases and open the project ---------------------
    leader = _page(browser, server, LEADER)
    leader.get_by_test_id("tab-projects").click()
    leader.get_by_test_id("project-new").click()
    leader.get_by_test_id("project-title-input").fill("幸福里小区路灯整体改造")
    leader.get_by_test_id("project-owner").select_option("chatinglu")
    leader.get_by_test_id("project-deadline").fill("2099-12-31")
    leader.get_by_test_id("project-budget").fill("区财政 30 万元")
    leader.get_by_test_id("milestone-title").fill("更换灯杆")
    leader.get_by_test_id("milestone-due").fill("2099-12-01")
    leader.get_by_test_id("pick-street").select_option("zhongjie")
    leader.get_by_test_id("pick-category").select_option("municipal")
    leader.get_by_test_id("pick-q").fill(mark)
    leader.get_by_test_id("pick-search").click()
    leader.locator("[data-testid=pick-row]").nth(N - 1).wait_for()
    assert leader.locator("[data-testid=pick-row]").count() == N
    leader.get_by_test_id("pick-all").check()
    assert leader.get_by_test_id("pick-count").inner_text() == f"已选 {N} 件"
    leader.get_by_test_id("pick-submit").click()
    leader.get_by_test_id("project-title").filter(has_text="幸福里小区路灯整体改造").wait_for()
    assert leader.locator("[data-testid=linked-case]").count() == N
    assert leader.get_by_test_id("project-cases").inner_text().endswith(f"{N} 件")
    assert leader.get_by_test_id("project-status").inner_text() == "实施中"
    _shot(leader, "projects-opened.png")
    projects = _api(server, LEADER, "GET", "/api/projects")["rows"]
    (project,) = [p for p in projects if p["title"] == "幸福里小区路灯整体改造"]
    pid = project["project_id"]
    assert sorted(c["case_id"] for c in _api(server, LEADER, "GET", f"/api/projects/{pid}")["cases"]) == sorted(ids)

    # ---- the owner community: progress, then completion ---------------------------------------
    unit = _page(browser, server, UNIT)
    unit.get_by_test_id("tab-projects").click()
    unit.locator(f"tr[data-project-id='{pid}']").click()
    unit.get_by_test_id("progress-note").fill("灯杆已全部更换")
    unit.get_by_test_id("progress-done").check()
    unit.locator("[data-testid=progress-form] button[type=submit]").click()
    unit.get_by_test_id("progress-list").filter(has_text="灯杆已全部更换").wait_for()
    unit.get_by_test_id("complete-result").fill("幸福里小区路灯已全部更换并通电")
    unit.locator("[data-testid=complete-form] button[type=submit]").click()
    unit.get_by_test_id("project-status").filter(has_text="已完成").wait_for()
    assert unit.get_by_test_id("project-result").inner_text().startswith("完成情况：幸福里小区路灯已全部更换并通电")

    # ---- 回访 (the operator's calls, through the API), then the leader reads the figures -----
    for cid in ids:
        _api(server, OPERATOR, "POST", f"/api/cases/{cid}/followup", {"solved": True, "rating": "satisfied"})
    leader.get_by_test_id("tab-projects").click()
    leader.locator(f"tr[data-project-id='{pid}']").click()
    leader.get_by_test_id("project-called-back").filter(has_text=f"{N}/{N} 人").wait_for()
    expect(leader.get_by_test_id("project-satisfaction")).to_contain_text("100.0%")
    assert leader.get_by_test_id("project-milestones").inner_text().endswith("1/1")
    assert leader.locator("[data-testid=linked-case]").filter(has_text="满意").count() == N
    path = _shot(leader, "projects-completed.png")
    assert path.exists()

    # 四张清单 on the leader's dashboard: a filter and a row dimension of the comparison table.
    leader.get_by_test_id("tab-dashboard").click()
    options = leader.locator("[data-testid=filter-case_list] option").all_inner_texts()
    assert options == ["全部清单", "问题清单", "意见清单", "需求清单", "实事项目清单"]
    assert "清单" in leader.locator("[data-testid=table-by] option").all_inner_texts()
    assert not leader.errors and not unit.errors, (leader.errors, unit.errors)
