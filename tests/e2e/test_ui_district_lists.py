"""Issue #20 on the leader's screen, from `sanshi demo` itself (not from cases the test made up):
a fortnight of the demo district at half its volume (fixed dates, September 2026, the typhoon on
its tenth day; at a third of it the storm's reports spread too thin over eight streets to stand
out in one) is simulated into a SQLite file and served; the leader sees

- the new channels (网格员上报, 企呼市应, 媒体监督, 诉前调解, 镇呼市应) as rows of the comparison
  table by channel, with the counts the API gives;
- the demo's 实事项目, completed, with its linked residents called back;
- the typhoon day found by the surge detector on 主动治理 (and its cases behind the candidate);
- the helpers' claims and 微服务 (社会力量与微服务) on the dashboard.

Screenshots go to test-artifacts/district-lists-*.png (looked at when the test was written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.test_ui_flow import LEADER, REPO, _api, _page, _shot
from tests.support.moved_clock import CLI_CODE
from tests.support.served import served

START, DAYS = "2026-09-07", 14
END = "2026-09-21"  # the day after the last simulated one
STORM = "2026-09-16"  # the demo puts its typhoon two thirds into the run
NEW_CHANNELS = {"grid": "网格员上报", "enterprise": "企呼市应", "media": "媒体监督", "court": "诉前调解", "town": "镇呼市应"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, Any]]]:
    """`sanshi demo` for a fortnight into a file, then `sanshi serve` on that file."""
    where = tmp_path_factory.mktemp("district-lists")
    db = where / "demo.db"
    env = {**os.environ, "SANSHI_DB": f"sqlite:///{db}"}
    env.pop("SANSHI_KAFKA", None)
    env.pop("SANSHI_CONFIG", None)
    run = subprocess.run(
        [sys.executable, "-c", CLI_CODE, "demo", "--days", str(DAYS), "--scale", "0.5", "--start", START,
         "--keep", "--db", str(db), "--format", "json"],
        cwd=REPO, env=env, capture_output=True, timeout=900,
    )
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    summary = json.loads(run.stdout)
    with served(env, where / "serve.log", start_within=90) as base:
        yield base, summary


def _dashboard_over_the_demo(page: Any) -> None:
    page.get_by_test_id("from").fill(START)
    page.get_by_test_id("to").fill(END)
    page.get_by_test_id("refresh-dashboard").click()


def test_the_leader_sees_the_new_channels_a_project_a_surge_and_the_helpers_claims(
    browser: Any, demo: tuple[str, dict[str, Any]]
) -> None:
    base, summary = demo
    simulated = {row["channel"]: row for row in summary["simulation"]["channels"]}
    assert set(NEW_CHANNELS) <= set(simulated), simulated.keys()

    leader = _page(browser, base, LEADER)
    leader.get_by_test_id("rates").wait_for()
    _dashboard_over_the_demo(leader)

    # ---- the comparison table by channel: a row for each new channel, the API's counts ------------
    by_channel = _api(base, LEADER, "GET", f"/api/stats?by=channel&from={START}&to={END}")
    received = {row["key"]: row["received"] for row in by_channel["rows"]}
    leader.get_by_test_id("table-by").select_option("channel")
    table = leader.get_by_test_id("comparison-table")
    for code, name in NEW_CHANNELS.items():
        assert received.get(code, 0) > 0, (code, received)
        row = table.locator("tr", has_text=name)
        row.first.wait_for()
        expect(row.first).to_contain_text(str(received[code]))
    _shot(leader, "district-lists-1-channels.png")

    # ---- 社会力量与微服务: the volunteers' and social enterprises' claims ------------------------------
    helpers = _api(base, LEADER, "GET", f"/api/stats/helpers?from={START}&to={END}")
    total = helpers["total"]
    assert total["claims"] >= 1 and total["accepted"] >= 1, total
    card = leader.get_by_test_id("helpers-card")
    card.scroll_into_view_if_needed()
    expect(leader.get_by_test_id("helpers-micro")).to_contain_text(f"微服务 {total['micro_services']} 件")
    assert leader.get_by_test_id("helpers-table").locator("tr", has_text="社会力量合计").inner_text().split()[1:4] == [
        str(total["micro_services"]), str(total["handling"]), str(total["claims"])]
    _shot(leader, "district-lists-2-helpers.png")

    # ---- 实事项目: the demo's project, completed, its residents called back --------------------------
    projects = _api(base, LEADER, "GET", "/api/projects")["rows"]
    assert len(projects) == 1, projects
    project = projects[0]
    assert project["status"] == "completed" and project["figures"]["cases"] >= 3, project
    leader.get_by_test_id("tab-projects").click()
    row = leader.get_by_test_id("project-row").filter(has_text=project["title"])
    row.wait_for()
    expect(row).to_contain_text("已完成")
    row.click()
    detail = leader.get_by_test_id("project-detail")
    detail.wait_for()
    linked = leader.get_by_test_id("linked-case")
    linked.nth(project["figures"]["cases"] - 1).wait_for()
    assert linked.count() == project["figures"]["cases"]
    expect(leader.get_by_test_id("project-figures")).to_contain_text(f"{project['figures']['called_back']}/{project['figures']['cases']}")
    _shot(leader, "district-lists-3-project.png")

    # ---- 主动治理: the typhoon day found from the views, nothing on the quiet days ------------------
    surges = _api(base, LEADER, "GET", f"/api/proactive/surges?window=day&from={START}&to={END}")
    flagged = {c["from"] for c in surges["rows"]}
    assert flagged == {STORM}, flagged  # the typhoon, and no quiet day
    leader.get_by_test_id("tab-proactive").click()
    leader.get_by_test_id("surge-from").fill(START)
    leader.get_by_test_id("surge-to").fill(END)
    leader.get_by_test_id("surge-refresh").click()
    rows = leader.get_by_test_id("surge-row")
    rows.first.wait_for()
    assert rows.count() == len(surges["rows"])
    first = surges["rows"][0]
    rows.first.get_by_role("button", name="查看工单").click()
    count = leader.get_by_test_id("proactive-cases-count").first
    count.wait_for()
    assert int(count.inner_text()) == first["count"]
    _shot(leader, "district-lists-4-surge.png")
    assert not leader.errors, leader.errors
