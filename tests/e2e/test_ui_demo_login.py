"""演示登录 in Chromium (issue 18): `sanshi serve --demo` shows one button per role on the login
screen; each click logs in as that named person and lands on that role's screen. A server not in
demo mode shows no such button. Screenshots in /tmp/sanshi-demo-login-*.png."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.http.demo_login import DEMO_PEOPLE
from tests.e2e.test_ui_flow import REPO, VIEWPORT, _free_port, browser, server  # noqa: F401
from tests.support.moved_clock import CLI_CODE

SHOTS = Path("/tmp")

# Each role's first screen (app.js TABS) and a tab only that role has.
LANDING = {
    "operator": ("intake", "tab-queue"),
    "unit": ("inbox", "tab-inbox"),
    "leader": ("dashboard", "tab-instructions"),
    "admin": ("dashboard", "tab-people"),
}


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`sanshi serve --demo` for real, on its own SQLite file."""
    port = _free_port()
    db = tmp_path_factory.mktemp("demo-ui") / "sanshi.db"
    env = {**os.environ, "SANSHI_DB": f"sqlite:///{db}"}
    env.pop("SANSHI_KAFKA", None)
    log = (tmp_path_factory.getbasetemp() / "serve-demo.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI_CODE, "serve", "--demo",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("sanshi serve --demo did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _new_page(browser: Any, base: str) -> Any:  # noqa: F811
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors
    page.goto(base + "/")
    return page


def test_each_role_button_logs_in_as_that_person_and_lands_on_its_screen(browser: Any, demo_server: str) -> None:  # noqa: F811
    page = _new_page(browser, demo_server)
    box = page.get_by_test_id("demo-login")
    box.wait_for()
    buttons = box.locator("button")
    assert buttons.count() == len(DEMO_PEOPLE)
    page.screenshot(path=str(SHOTS / "sanshi-demo-login-0-buttons.png"), full_page=True)

    for i, person in enumerate(DEMO_PEOPLE, start=1):
        button = page.get_by_test_id(f"demo-login-{person.login}")
        button.wait_for()
        label = button.inner_text()
        button.click()
        first, own_tab = LANDING[person.role.value]
        page.locator(f"[data-testid=tab-{first}].active").wait_for()
        assert page.get_by_test_id(own_tab).is_visible()
        who = page.get_by_test_id("who").inner_text()
        assert person.name in who, (who, label)
        if person.role.value == "unit":
            unit_name = label.split("·", 1)[1].split()[0]
            assert unit_name in who  # 刘芳（茶亭路社区）
        # A real session: the cookie, not a shared token in the page's storage.
        cookies = {c["name"] for c in page.context.cookies()}
        assert "sanshi_session" in cookies
        assert page.evaluate("sessionStorage.getItem('sanshi-token')") is None
        page.wait_for_load_state("networkidle")  # the screen loaded (退出 while it loads: 401s)
        page.screenshot(path=str(SHOTS / f"sanshi-demo-login-{i}-{person.login}.png"))
        page.locator("#logout").click()
        page.get_by_test_id("demo-login").wait_for()
    assert not page.errors, page.errors


def test_a_server_not_in_demo_mode_shows_no_demo_buttons(browser: Any, server: str) -> None:  # noqa: F811
    page = _new_page(browser, server)
    page.get_by_test_id("person-login-form").wait_for()
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("demo-login").count() == 0
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(server + "/api/demo/accounts", timeout=5)
    assert err.value.code == 404
    page.screenshot(path=str(SHOTS / "sanshi-demo-login-production.png"))
