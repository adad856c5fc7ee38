"""演示登录 in Chromium (issue 18): `sanshi serve --demo` shows one button per role on the login
screen; each click logs in as that named person and lands on that role's screen. A server not in
demo mode shows no such button. Screenshots in /tmp/sanshi-demo-login-*.png."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from adapters.http.demo_login import DEMO_PEOPLE
from tests.e2e.test_ui_flow import OPERATOR, REPO, VIEWPORT, _api, _free_port, server  # noqa: F401
from tests.support.served import served
from tests.unit.test_attachments_api import photo

PHOTO = photo(43)

SHOTS = Path("/tmp")

# Each role's first screen (app.js TABS) and a tab only that role has.
LANDING = {
    "operator": ("intake", "tab-queue"),
    "unit": ("inbox", "tab-inbox"),
    "leader": ("dashboard", "tab-instructions"),
    "admin": ("dashboard", "tab-people"),
}


@pytest.fixture(scope="module")
def photo_site() -> Iterator[tuple[str, Counter[str]]]:
    """A photo host the district allows (its config's attachments.fetch_hosts)."""
    seen: Counter[str] = Counter()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen[self.path] += 1
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PHOTO)))
            self.end_headers()
            self.wfile.write(PHOTO)

        def log_message(self, *args: object) -> None:
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{site.server_port}", seen
    finally:
        site.shutdown()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory, photo_site: tuple[str, Counter[str]]) -> Iterator[str]:
    """`sanshi serve --demo` for real, on its own SQLite file, with the demo district's config
    allowing the test's photo host."""
    where = tmp_path_factory.mktemp("demo-ui")
    db = where / "sanshi.db"
    data = REPO / "engine" / "data"
    shutil.copy(data / "haicheng-areas.geojson", where / "haicheng-areas.geojson")
    text = (data / "haicheng.yaml").read_text(encoding="utf-8")
    assert "  fetch_hosts: []\n" in text
    (where / "district.yaml").write_text(
        text.replace("  fetch_hosts: []\n", f"  fetch_hosts: ['{photo_site[0]}']\n"), encoding="utf-8")
    env = {**os.environ, "SANSHI_DB": f"sqlite:///{db}", "SANSHI_CONFIG": str(where / "district.yaml")}
    env.pop("SANSHI_KAFKA", None)
    with served(env, tmp_path_factory.getbasetemp() / "serve-demo.log", "--demo") as base:
        yield base


def _new_page(browser: Any, base: str) -> Any:
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors
    page.goto(base + "/")
    return page


def test_each_role_button_logs_in_as_that_person_and_lands_on_its_screen(browser: Any, demo_server: str) -> None:
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


def test_the_demo_operator_sees_the_app_photo_fetched_after_intake(
    browser: Any, demo_server: str, photo_site: tuple[str, Counter[str]]
) -> None:
    """An app record with two photo URLs: the allowed host's is fetched after intake and shown
    on the case (its preview read with the demo person's cookie session); the other host's is
    kept as given and never requested."""
    host, seen = photo_site
    allowed = f"http://{host}/app/现场.png"
    other = f"http://localhost:{host.split(':')[1]}/internal.png"
    stamp = time.time_ns() % 10**9
    r = _api(demo_server, OPERATOR, "POST", "/api/intake/app", {
        "submission_id": f"UI-PHOTO-{stamp}", "photos": [allowed, other],
        "content": f"茶亭路幸福里小区{stamp % 97}栋门口的路灯不亮了，晚上很黑", "address": "北海市海城区茶亭路幸福里小区",
    })
    cid = r["case_id"]
    deadline = time.monotonic() + 20
    while True:
        states = {p["url"]: p["status"] for p in _api(demo_server, OPERATOR, "GET", f"/api/cases/{cid}/photo-fetches")["photos"]}
        if states[allowed] == "stored" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert states == {allowed: "stored", other: "kept"}
    assert "/internal.png" not in seen and sum(seen.values()) == 1

    page = _new_page(browser, demo_server)
    page.get_by_test_id("demo-login-demo.operator").click()
    page.get_by_test_id("who").filter(has_text="陈晓雯").wait_for()
    page.wait_for_load_state("networkidle")
    page.get_by_test_id("tab-search").click()
    page.get_by_test_id("open-id").fill(cid)
    page.get_by_role("button", name="打开").click()
    preview = page.get_by_test_id("attachment-preview")
    preview.wait_for()
    page.wait_for_function("() => (document.querySelector('[data-testid=attachment-preview]')?.src || '').startsWith('data:image/')")
    page.locator("[data-testid=photo-fetch][data-status=stored]").wait_for()
    kept = page.locator("[data-testid=photo-fetch][data-status=kept]")
    expect(kept).to_contain_text("未抓取")
    expect(kept).to_contain_text("internal.png")
    assert re.search("已保存为附件", page.get_by_test_id("attachments").inner_text())
    page.get_by_test_id("attachments").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "sanshi-demo-login-photos.png"))
    assert not page.errors, page.errors
