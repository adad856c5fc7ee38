"""The web UI in Chromium for 管理设置 (issue 18): the admin adds a routing rule on the 管理设置
screen (油烟 in 生态环境 → 区城市管理局), the history shows who and what, and the operator's next
intake saying 油烟 goes to that unit at once, no restart; without the keyword it goes where the
district file says. Screenshots in /tmp and test-artifacts/."""

from __future__ import annotations

import shutil
from typing import Any

from playwright.sync_api import expect

from tests.e2e.test_ui_flow import (  # noqa: F401
    OPERATOR,
    _page,
    _shot,
    server,
)

ADMIN = "demo-admin-token"
SMOKE = "北部湾中路的烧烤店每天晚上油烟扰民严重，熏得没法开窗"
ADDRESS = "海城区北部湾中路18号"


def _keep(page: Any, name: str) -> None:
    path = _shot(page, name)
    shutil.copy(path, f"/tmp/{name}")


def _intake(op: Any, text: str, phone: str) -> Any:
    op.get_by_test_id("tab-intake").click()
    op.get_by_test_id("caller_name").fill("王先生")
    op.get_by_test_id("caller_phone").fill(phone)
    op.get_by_test_id("address").fill(ADDRESS)
    op.get_by_test_id("content").fill(text)
    op.get_by_test_id("submit-case").click()
    detail = op.get_by_test_id("intake-result").get_by_test_id("case-detail")
    detail.wait_for()
    return detail


def test_an_admin_rule_routes_the_next_intake(browser: Any, server: str) -> None:  # noqa: F811
    op = _page(browser, server, OPERATOR)
    before = _intake(op, SMOKE, "13977900002")
    assert before.get_by_test_id("assigned-unit").inner_text() == "市生态环境局海城分局"

    admin = _page(browser, server, ADMIN)
    admin.get_by_test_id("tab-district").click()
    rules = admin.get_by_test_id("ds-rules")
    rules.get_by_test_id("ds-rule").first.wait_for()
    # The district file's rules are listed, read-only, with Chinese names.
    expect(rules).to_contain_text("生态环境")
    expect(rules).to_contain_text("配置文件")
    rules.get_by_test_id("ds-rule-category").select_option("environment")
    rules.get_by_test_id("ds-rule-keywords").fill("油烟，烧烤")
    rules.get_by_test_id("ds-rule-to").select_option("chengguan")
    rules.get_by_test_id("ds-rule-priority").fill("200")
    rules.get_by_test_id("ds-rule-add").click()
    admin.locator("#toast").filter(has_text="已新增派单规则").wait_for()
    first = admin.get_by_test_id("ds-rules").get_by_test_id("ds-rule").first
    first.filter(has_text="油烟、烧烤").wait_for()
    expect(first).to_contain_text("区城市管理局")
    expect(first).to_contain_text("管理设置")
    history = admin.get_by_test_id("ds-history")
    row = history.get_by_test_id("ds-history-row").first
    expect(row).to_contain_text("新增派单规则")
    expect(row).to_contain_text("区城市管理局")
    _keep(admin, "ds-1-管理设置-新增规则.png")
    history.scroll_into_view_if_needed()
    _keep(admin, "ds-2-修改记录.png")

    # The operator's next intake is routed by it; the server was not restarted.
    after = _intake(op, "北部湾中路楼下的大排档油烟直往楼上窜，家里全是油味", "13977900003")
    assert after.get_by_test_id("assigned-unit").inner_text() == "区城市管理局"
    _keep(op, "ds-3-受理台-按新规则派单.png")
    other = _intake(op, "北部湾中路工地夜里施工噪音很大，吵得睡不着", "13977900004")
    assert other.get_by_test_id("assigned-unit").inner_text() == "市生态环境局海城分局"

    # A category leaf with its owner unit and days, and a unit deactivated, on the same screen.
    cats = admin.get_by_test_id("ds-categories")
    cats.get_by_test_id("ds-cat-parent").select_option("environment")
    cats.get_by_test_id("ds-cat-code").fill("smoke")
    cats.get_by_test_id("ds-cat-name").fill("餐饮油烟")
    cats.get_by_test_id("ds-cat-keywords").fill("油烟 大排档")
    cats.get_by_test_id("ds-cat-unit").select_option("chengguan")
    cats.get_by_test_id("ds-cat-days").fill("3")
    cats.get_by_test_id("ds-cat-add").click()
    leaf = admin.locator("[data-testid=ds-category][data-code='environment.smoke']")
    leaf.wait_for()
    expect(leaf).to_contain_text("餐饮油烟")
    expect(leaf).to_contain_text("3 个工作日")
    school = admin.locator("[data-testid=ds-unit][data-unit-id=jiaoyu]")
    school.get_by_test_id("ds-unit-deactivate").click()
    admin.locator("[data-testid=ds-unit][data-unit-id=jiaoyu]").filter(has_text="已停用").wait_for()
    rows = admin.get_by_test_id("ds-history").get_by_test_id("ds-history-row")
    assert [rows.nth(i).locator("td").nth(2).inner_text() for i in range(3)] == ["停用单位", "新增分类", "新增派单规则"]
    admin.get_by_test_id("ds-history").scroll_into_view_if_needed()
    _keep(admin, "ds-4-分类与停用单位.png")
    assert not admin.errors and not op.errors, (admin.errors, op.errors)
