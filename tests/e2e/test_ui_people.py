"""The web UI in Chromium for named people (issue 18): the admin creates a clerk of 茶亭路社区
in 人员管理, the clerk logs in with the password (a cookie session), claims a case from the
inbox, and the case's history names the clerk. Screenshots in /tmp/sanshi-people-*.png."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.test_ui_flow import OPERATOR, VIEWPORT, _api, _page, server  # noqa: F401

pytestmark = pytest.mark.date_sensitive

ADMIN = "demo-admin-token"
SHOTS = Path("/tmp")


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"sanshi-people-{name}.png"), full_page=True)


def test_admin_creates_a_clerk_who_logs_in_and_claims(browser: Any, server: str) -> None:  # noqa: F811
    stamp = time.time_ns() % 10**9
    login, password = f"liu.{stamp}", "Liu-password-2026"
    admin = _page(browser, server, ADMIN)
    admin.get_by_test_id("tab-people").click()
    admin.get_by_test_id("person-login-new").fill(login)
    admin.get_by_test_id("person-name").fill("刘社工")
    admin.get_by_test_id("person-role").select_option("unit")
    admin.get_by_test_id("person-unit").select_option("chatinglu")
    admin.get_by_test_id("person-password").fill(password)
    admin.get_by_test_id("create-person").click()
    admin.locator(f"[data-testid=people-table] tr[data-person='{login}']").wait_for()
    expect(admin.locator("#toast")).to_contain_text("已新建账号 刘社工（承办单位，茶亭路社区）")
    _shot(admin, "1-admin-people")

    case = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-PEOPLE-{stamp}", "received_at": "2026-11-02 09:30:00",
        "content": f"茶亭路幸福里小区{stamp % 97}栋门口的路灯不亮了，晚上很黑", "address": "北海市海城区茶亭路幸福里小区",
    })
    if case["status"] == "received":
        _api(server, OPERATOR, "POST", f"/api/cases/{case['id']}/dispatch", {"unit": "chatinglu"})

    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    clerk = context.new_page()
    errors: list[str] = []
    clerk.on("pageerror", lambda e: errors.append(str(e)))
    clerk.goto(server + "/")
    clerk.get_by_test_id("login-name").fill(login)
    clerk.get_by_test_id("login-password").fill("wrong password")
    clerk.get_by_test_id("person-login").click()
    clerk.get_by_test_id("person-login-error").filter(has_text="登录名或密码错误").wait_for()
    clerk.get_by_test_id("login-password").fill(password)
    clerk.get_by_test_id("person-login").click()
    clerk.get_by_test_id("who").filter(has_text="刘社工（茶亭路社区）").wait_for()
    cookie = next(c for c in context.cookies() if c["name"] == "sanshi_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert clerk.evaluate("document.cookie") == ""  # the page cannot read the session

    row = clerk.locator(f"[data-testid=inbox-table] tr[data-case-id='{case['id']}']")
    row.wait_for()
    row.click()
    clerk.get_by_test_id("do-claim").click()
    card = clerk.get_by_test_id("case-detail")
    card.get_by_test_id("status").filter(has_text="已签收").wait_for()
    expect(clerk.locator("#toast")).to_contain_text("已签收")
    timeline = clerk.get_by_test_id("timeline")
    claimed = timeline.locator("li", has_text="签收")
    claimed.get_by_test_id("actor").filter(has_text="刘社工（茶亭路社区）").wait_for()
    _shot(clerk, "2-clerk-claimed")

    # The centre sees the same name in the history.
    op = _page(browser, server, OPERATOR)
    op.get_by_test_id("tab-search").click()
    op.get_by_test_id("open-id").fill(case["id"])
    op.get_by_role("button", name="打开").click()
    op.get_by_test_id("timeline").get_by_test_id("actor").filter(has_text=re.compile("刘社工")).wait_for()
    _shot(op, "3-operator-history")

    # A reload keeps the session; logging out ends it.
    clerk.reload()
    clerk.get_by_test_id("who").filter(has_text="刘社工").wait_for()
    clerk.locator("#logout").click()
    clerk.get_by_test_id("person-login-form").wait_for()
    assert not any(c["name"] == "sanshi_session" for c in context.cookies())
    assert not errors and not admin.errors, (errors, admin.errors)
    context.close()


def test_a_late_session_restore_does_not_redraw_under_the_clerk(browser: Any, server: str) -> None:  # noqa: F811
    """On a slow server the page's own session check (GET /api/auth/options, then /api/session)
    can answer after the clerk has logged in with the form and opened a case. It must not log in a
    second time: that redrew the whole screen and dropped the open case (a CI flake under load)."""
    stamp = time.time_ns() % 10**9
    login, password = f"wang.{stamp}", "Wang-password-2026"
    _api(server, ADMIN, "POST", "/api/people", {
        "login": login, "name": "王社工", "role": "unit", "unit": "chatinglu", "password": password})
    case = _api(server, OPERATOR, "POST", "/api/cases", {
        "order_no": f"UI-LATE-{stamp}", "received_at": "2026-11-02 10:30:00",
        "content": f"茶亭路幸福里小区{stamp % 89 + 100}栋后面的路灯坏了一个星期", "address": "北海市海城区茶亭路幸福里小区",
    })
    if case["status"] == "received":
        _api(server, OPERATOR, "POST", f"/api/cases/{case['id']}/dispatch", {"unit": "chatinglu"})

    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    clerk = context.new_page()
    held: list[Any] = []
    clerk.route("**/api/auth/options", lambda route: held.append(route))  # answered later, by hand
    clerk.goto(server + "/")
    clerk.get_by_test_id("login-name").fill(login)
    clerk.get_by_test_id("login-password").fill(password)
    clerk.get_by_test_id("person-login").click()
    clerk.get_by_test_id("who").filter(has_text="王社工（茶亭路社区）").wait_for()
    clerk.locator(f"[data-testid=inbox-table] tr[data-case-id='{case['id']}']").click()
    clerk.get_by_test_id("case-detail").get_by_test_id("do-claim").wait_for()

    assert held, "the page did not ask for the login options"
    with clerk.expect_response("**/api/session") as restored:
        held[0].continue_()
    assert restored.value.ok  # the cookie holds a session by now: the restore finds it
    clerk.wait_for_timeout(500)  # time for a second login to redraw, if it were going to
    detail = clerk.get_by_test_id("case-detail")
    assert detail.count() == 1 and detail.get_attribute("data-case-id") == case["id"]
    detail.get_by_test_id("do-claim").click()
    detail.get_by_test_id("status").filter(has_text="已签收").wait_for()
    context.close()


def test_the_person_clicked_last_is_the_one_shown(browser: Any, server: str) -> None:  # noqa: F811
    """Two people clicked one after the other, the first answered last: the detail, and the
    buttons that disable or reset an account, are the second person's, not the first's."""
    stamp = time.time_ns() % 10**9
    first = _api(server, ADMIN, "POST", "/api/people", {
        "login": f"zhao.{stamp}", "name": "赵社工", "role": "unit", "unit": "chatinglu"})
    second = _api(server, ADMIN, "POST", "/api/people", {
        "login": f"qian.{stamp}", "name": "钱社工", "role": "unit", "unit": "chatinglu"})
    admin = _page(browser, server, ADMIN)
    admin.get_by_test_id("tab-people").click()
    table = admin.get_by_test_id("people-table")
    table.locator(f"tr[data-person='{second['login']}']").wait_for()
    held: list[Any] = []
    admin.route(f"**/api/people/{first['id']}", lambda route: held.append(route))
    table.locator(f"tr[data-person='{first['login']}']").click()
    table.locator(f"tr[data-person='{second['login']}']").click()
    detail = admin.get_by_test_id("person-detail")
    detail.filter(has_text="钱社工").wait_for()
    assert len(held) == 1
    with admin.expect_response(lambda r: r.url == held[0].request.url):
        held[0].continue_()
    admin.wait_for_timeout(1000)  # the late answer has arrived; give the page time to draw it
    assert detail.count() == 1
    assert "钱社工" in detail.inner_text() and "赵社工" not in detail.inner_text(), detail.inner_text()
