"""A city's districts in a real browser (docs/city.md): `sanshi serve --city` mounts each
district's app at /d/{district}/, and its web UI must work there as on a server of its own.

Each district's page loads its scripts and asks its own API (every request of the page stays
under the page's mount, none fails), shows its own district, and a person logged in to one
district stays logged in there after logging in to the other in the same browser (each
district's session cookie is scoped to its mount, so neither replaces the other)."""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_ui_flow import VIEWPORT, _shot, browser
from tests.integration.test_city import _city_file
from tests.support.served import served

__all__ = ["browser"]

DISTRICTS = {  # mount → (its name, its admin's token)
    "haicheng": ("海城区", "demo-admin-token"),
    "yinhai": ("银海区", "yinhai-demo-admin-token"),
}
PASSWORD = "Sanshi-city-2026"


@pytest.fixture(scope="module")
def city_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("city-ui")
    file = _city_file(tmp, f"sqlite:///{tmp / 'haicheng.db'}", f"sqlite:///{tmp / 'yinhai.db'}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANSHI_")}
    with served(env, tmp / "serve.log", "--city", str(file), "--clock-interval", "0") as base:
        yield base


def _post(url: str, token: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url, method="POST", data=json.dumps(body).encode("utf-8"),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read().decode("utf-8"))


def _open(context: Any, mount: str) -> tuple[Any, list[str], list[str]]:
    """A page of the district at ``mount``; the addresses it asked for and what went wrong."""
    page = context.new_page()
    asked: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
    page.on("response", lambda r: errors.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(mount + "/")
    return page, asked, errors


def _person_login(page: Any, login: str) -> None:
    page.get_by_test_id("login-name").fill(login)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("person-login").click()
    page.get_by_test_id("who").filter(has_text=re.compile(".+")).wait_for()


def test_each_district_works_under_its_mount_and_keeps_its_own_session(
    browser: Any, city_server: str
) -> None:
    for d, (_, admin) in DISTRICTS.items():
        _post(f"{city_server}/d/{d}/api/people", admin,
              {"login": f"{d}-leader", "name": f"{d}领导", "role": "leader", "password": PASSWORD})

    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        pages = {}
        for d, (name, _) in DISTRICTS.items():
            mount = f"{city_server}/d/{d}"
            page, asked, errors = _open(context, mount)
            _person_login(page, f"{d}-leader")
            page.get_by_test_id("rates").wait_for()
            assert page.locator("#district-name").inner_text().startswith(name)
            assert not errors, errors
            own = [u for u in asked if u.startswith(city_server)]
            assert own and all(u.startswith(mount + "/") for u in own), [
                u for u in own if not u.startswith(mount + "/")
            ]
            assert any("/static/app.js" in u for u in own) and any("/api/meta" in u for u in own)
            pages[d] = page
        _shot(pages["yinhai"], "city-yinhai-leader.png")

        # Two sessions side by side: a reload of the first district's page finds its own.
        cookies = {c["path"]: c["name"] for c in context.cookies()}
        assert set(cookies) == {"/d/haicheng", "/d/yinhai"}, context.cookies()
        first = pages["haicheng"]
        first.reload()
        first.get_by_test_id("who").filter(has_text="haicheng领导").wait_for()
        assert first.locator("#district-name").inner_text().startswith("海城区")
    finally:
        context.close()


def test_the_city_answers_its_health_check(city_server: str) -> None:
    with urllib.request.urlopen(city_server + "/healthz", timeout=10) as r:
        assert r.status == 200 and json.loads(r.read()) == {"status": "ok"}


def test_a_page_served_at_the_server_root_still_asks_the_root(browser: Any, tmp_path: Path) -> None:
    """The same scripts on a district's own server: the mount is empty, nothing moves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANSHI_")}
    env["SANSHI_DB"] = f"sqlite:///{tmp_path / 's.db'}"
    with served(env, tmp_path / "serve.log") as base:
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        try:
            page, asked, errors = _open(context, base)
            page.get_by_test_id("token").fill("demo-leader-token")
            page.get_by_test_id("login").click()
            page.get_by_test_id("rates").wait_for()
            assert not errors, errors
            assert any(u == f"{base}/api/meta" or u.startswith(f"{base}/api/meta?") for u in asked), asked
        finally:
            context.close()
