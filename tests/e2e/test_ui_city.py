"""A city's districts in a real browser (docs/city.md): `sanshi serve --city` mounts each
district's app at /d/{district}/, and its web UI must work there as on a server of its own.

Each district's page loads its scripts and asks its own API (every request of the page stays
under the page's mount, none fails), shows its own district, and a person logged in to one
district stays logged in there after logging in to the other in the same browser (each
district's session cookie is scoped to its mount, so neither replaces the other).

The city's own page (市级平台, at "/" and "/city/"): the city leader signs in with the city's
token and reads one row per district and the city's total, the same numbers as
/city/api/stats, a 跨区转办 counted out of one district, into the other, and once in the city."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from engine.deadlines import SHANGHAI
from tests.e2e.test_ui_flow import VIEWPORT, _shot
from tests.integration.test_city import CITY_LEADER, LAMP, VAGUE, _city_file
from tests.support.served import served

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


def _get(url: str, token: str) -> Any:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
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


# ---- 市级平台 -------------------------------------------------------------------------------------

OPERATORS = {"haicheng": "demo-operator-token", "yinhai": "yinhai-demo-operator-token"}
COUNT_COLUMNS = ("received", "accepted", "resolved", "transferred_in", "transferred_out")


def _case(base: str, district: str, ref: str, text: str, at: dt.datetime) -> Any:
    return _post(f"{base}/d/{district}/api/cases", OPERATORS[district], {
        "order_no": ref, "received_at": at.strftime("%Y-%m-%d %H:%M:%S"),
        "content": text, "address": "",
    })


def _sign_in(page: Any, token: str) -> None:
    page.get_by_test_id("token").fill(token)
    page.get_by_test_id("login").click()


def _query(page: Any, start: str, end: str) -> None:
    """Sets the range and asks again; waits until the new numbers are on the screen."""
    table = page.get_by_test_id("city-table")
    before = table.get_attribute("data-generation")
    page.get_by_test_id("from").fill(start)
    page.get_by_test_id("to").fill(end)
    page.get_by_test_id("refresh").click()
    page.wait_for_function(
        "g => document.getElementById('city-table').dataset.generation !== g", arg=before
    )


def _cell(page: Any, row: str, field: str) -> Any:
    return page.get_by_test_id(f"row-{row}").get_by_test_id(field)


def test_the_city_leader_reads_every_districts_figures_and_the_transfer_once(
    browser: Any, city_server: str
) -> None:
    stamp = time.time_ns() % 10**9
    at = dt.datetime.now(SHANGHAI) - dt.timedelta(minutes=2)
    # 海城区 receives two cases, one of them 银海区's; 银海区 receives one of its own.
    theirs = _case(city_server, "haicheng", f"CITY-UI-{stamp}-1", VAGUE.format(n=stamp), at)
    assert theirs["status"] == "received", theirs  # waiting at 海城区's centre
    _case(city_server, "haicheng", f"CITY-UI-{stamp}-2", LAMP.format(n=stamp % 97), at)
    _case(city_server, "yinhai", f"CITY-UI-{stamp}-3", LAMP.format(n=stamp % 89), at)
    moved = _post(f"{city_server}/d/haicheng/api/city/transfers", OPERATORS["haicheng"], {
        "case_id": theirs["id"], "to_district": "yinhai", "reason": "地址在银海区，属银海区办理",
    })
    assert moved["status"] == "transferred_out" and moved["duplicate"] is False
    # The day the cases were received, and the next (the hand-over's own time, after midnight).
    start, end = at.date().isoformat(), (at.date() + dt.timedelta(days=2)).isoformat()

    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page, asked, errors = _open(context, f"{city_server}/city")
        _sign_in(page, CITY_LEADER)
        page.get_by_test_id("row-haicheng").wait_for()
        expect(page.get_by_test_id("city-name")).to_contain_text("北海市")
        assert page.get_by_test_id("who").inner_text() == "市领导"
        _query(page, start, end)
        stats = _get(
            f"{city_server}/city/api/stats?" + urllib.parse.urlencode({"from": start, "to": end}),
            CITY_LEADER,
        )

        # What a leader notices: each district's 受理, the hand-over out of one and into the
        # other, and the city's total counting the moved case once.
        received = {d: _cell(page, d, "received").inner_text() for d in DISTRICTS}
        assert received == {"haicheng": "2", "yinhai": "2"}
        assert _cell(page, "haicheng", "transferred_out").inner_text() == "1"
        assert _cell(page, "haicheng", "transferred_in").inner_text() == "0"
        assert _cell(page, "yinhai", "transferred_in").inner_text() == "1"
        assert _cell(page, "yinhai", "transferred_out").inner_text() == "0"
        assert _cell(page, "total", "received").inner_text() == "3"
        assert _cell(page, "total", "transfers").inner_text() == "跨区转办 1 件"
        assert page.get_by_test_id("kpi-received").inner_text() == "3"

        # The columns carry the rates' Chinese names; a rate with nothing to divide by is "—".
        head = page.get_by_test_id("city-table").locator("thead").inner_text()
        for word in ("受理", "有效受理", "办结", "办结率", "满意率", "调解成功率", "跨区转入", "跨区转出"):
            assert word in head, word
        assert "NaN" not in page.get_by_test_id("city-table").inner_text()

        # Every number on the screen is the API's.
        rates = [t["code"] for t in _get(f"{city_server}/city/api/meta", CITY_LEADER)[
            "vocabulary"]["rates"]["terms"]]
        shown = {**{r["key"]: r for r in stats["rows"]}, "total": stats["total"]}
        for key, row in shown.items():
            for field in COUNT_COLUMNS if key != "total" else ("received", "accepted", "resolved"):
                assert _cell(page, key, field).inner_text() == str(row[field]), (key, field)
            for code in rates:
                cell = _cell(page, key, code)
                r = row[code]
                if r["denominator"]:
                    assert float(cell.get_attribute("data-value")) == r["value"], (key, code)
                    assert cell.inner_text().startswith(f"{r['value'] * 100:.1f}%"), (key, code)
                else:
                    assert cell.inner_text() == "—", (key, code)
        assert _cell(page, "total", "transfers").get_attribute("data-value") == str(
            stats["total"]["transfers"]
        )
        assert stats["total"]["received"] == 3 and stats["total"]["transfers"] == 1
        _shot(page, "city-leader-page.png")

        # A range with no case: every count 0 and every rate "—".
        _query(page, "2020-01-01", "2020-01-02")
        assert _cell(page, "total", "received").inner_text() == "0"
        assert _cell(page, "haicheng", "handling_rate").inner_text() == "—"
        assert _cell(page, "total", "satisfaction_rate").inner_text() == "—"

        # Nothing the page asked for left the server, and nothing failed.
        assert not errors, errors
        assert all(u.startswith(city_server + "/") for u in asked), asked

        # A district's name leads to that district's own page, at its mount.
        link = _cell(page, "yinhai", "district-link")
        assert link.evaluate("a => a.href") == f"{city_server}/d/yinhai/"
        link.click()
        page.wait_for_url(f"{city_server}/d/yinhai/")
        page.locator("#tabs").wait_for(state="attached")  # the district's own UI
    finally:
        context.close()


def test_a_wrong_token_is_told_in_chinese_and_the_city_token_stays_for_the_session(
    browser: Any, city_server: str
) -> None:
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        page, _, _ = _open(context, city_server)  # the server's root serves the city page too
        error = page.get_by_test_id("login-error")
        for wrong in ("not-the-city-token", "demo-leader-token"):  # a district's token neither
            _sign_in(page, wrong)
            error.filter(has_text="口令不正确").wait_for()
            assert page.get_by_test_id("city-table").is_hidden()
        _shot(page, "city-wrong-token.png")

        _sign_in(page, CITY_LEADER)
        page.get_by_test_id("row-total").wait_for()
        assert error.inner_text() == ""
        # The token is kept for the tab's session: a reload needs no second sign-in.
        page.reload()
        page.get_by_test_id("row-total").wait_for()
        assert page.get_by_test_id("token").is_hidden()
        page.get_by_test_id("logout").click()
        page.get_by_test_id("token").wait_for()
        page.reload()
        page.get_by_test_id("token").wait_for()
        assert page.get_by_test_id("city-table").is_hidden()
    finally:
        context.close()
