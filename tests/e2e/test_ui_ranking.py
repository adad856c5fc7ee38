"""承办单位排名 and 本单位考核 in a real browser (tests/e2e/test_ui_flow.py's server and Chromium).

The server reads the demo district with its ranking weights changed to 办结率 3 : 退单率 1 (the
other rates weigh nothing: whether a case was claimed on time depends on whether the router or
an operator dispatched it, which this test does not control). Two communities of 中街街道 get
20 lamp cases each in November 2026 (the minimum volume): 茶亭路社区 resolves all of them,
珠海路社区 half, neither returns one: scores 1.0 and .75 × .5 + .25 = .625. The leader's
dashboard ranks the communities apart from every other kind, 茶亭路社区 first, with the rule
written from those weights under the table; 茶亭路社区's clerk opens 本单位考核 and reads
第 1 / 2 名（社区） beside its own rates. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_ui_flow import LEADER, OPERATOR, UNIT, _api, _page, _shot, server

pytestmark = pytest.mark.date_sensitive
__all__ = ["server"]  # the fixtures, shared with the other walks

FIRST, SECOND = "chatinglu", "zhuhailu"
ROADS = {FIRST: "茶亭路", SECOND: "珠海路"}
PROBLEMS = ("门口的路灯不亮了", "路边井盖松动踩上去响", "人行道地砖翘起绊人", "下水道堵了污水漫到路面", "路灯杆歪斜有倒伏危险")
PER_UNIT = 20  # the demo district's ranking.min_volume
WEIGHTS = "{handling_rate: 3, return_rate: 1}"


@pytest.fixture(scope="module", autouse=True)
def weighted_district(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """SANSHI_CONFIG for the module's server (started after this): the demo district with
    ``ranking.weights`` set to WEIGHTS, its polygons beside it."""
    from engine.config import load_config

    folder = Path(tmp_path_factory.mktemp("weighted"))
    bundled = resources.files("engine").joinpath("data")
    text, n = re.subn(r"^  weights: .*$", f"  weights: {WEIGHTS}", bundled.joinpath("haicheng.yaml").read_text("utf-8"),
                      flags=re.MULTILINE)
    assert n == 1
    (folder / "district.yaml").write_text(text, "utf-8")
    places = load_config(None).places
    if places is not None and isinstance(places.geojson, str):
        (folder / places.geojson).write_bytes(bundled.joinpath(places.geojson).read_bytes())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SANSHI_CONFIG", str(folder / "district.yaml"))
        yield


def _cases_for(server: str, unit: str, resolve: int) -> None:
    token = f"demo-unit-{unit}"
    for n in range(PER_UNIT):
        road = ROADS[unit]
        case = _api(server, OPERATOR, "POST", "/api/cases", {
            "order_no": f"UI-RANK-{unit}-{n}-{time.time_ns()}", "received_at": "2026-11-02 09:30:00",
            "content": f"{road}{n + 1}号{PROBLEMS[n % len(PROBLEMS)]}（编号 {uuid.uuid4().hex}）",
            "address": f"北海市海城区{road}{n + 1}号",
        })
        cid = case["id"]
        if case["status"] == "received":  # the router left it in the manual queue
            _api(server, OPERATOR, "POST", f"/api/cases/{cid}/dispatch", {"unit": unit})
        else:
            assert case["status"] == "dispatched" and case.get("assigned_unit") == unit, case
        _api(server, token, "POST", f"/api/cases/{cid}/claim")
        if n < resolve:
            _api(server, token, "POST", f"/api/cases/{cid}/resolve", {"result": "已处理"})


def test_the_leader_sees_communities_ranked_apart_and_a_clerk_its_own_place(browser: Any, server: str) -> None:
    _cases_for(server, FIRST, resolve=PER_UNIT)
    _cases_for(server, SECOND, resolve=PER_UNIT // 2)

    # ---- 领导驾驶舱: the communities' table, with its rule ---------------------------------------
    leader = _page(browser, server, LEADER)
    leader.get_by_test_id("rates").wait_for()
    leader.get_by_test_id("from").fill("2026-11-01")
    leader.get_by_test_id("to").fill("2026-12-01")
    leader.get_by_test_id("refresh-dashboard").click()
    leader.get_by_test_id("ranking-kind-community").click()
    table = leader.locator("[data-testid=ranking-table][data-kind=community]")
    table.wait_for()
    ranked = table.get_by_test_id("ranking-row")
    ranked.first.wait_for()
    assert [(r.get_attribute("data-unit"), r.get_attribute("data-rank")) for r in ranked.all()] == [
        (FIRST, "1"), (SECOND, "2")]
    cells = [c.inner_text() for c in ranked.first.locator("td").all()]
    assert cells[:4] == ["1", "茶亭路社区", "100.0", "100.0%"]
    assert ranked.nth(1).locator("td").nth(2).inner_text() == "62.5"
    definition = leader.get_by_test_id("ranking-definition").inner_text()
    assert definition.startswith("综合得分 = 办结率×75% + （1−退单率）×25%；")
    assert "派单量不足 20 件的单位列为“样本不足”，不参与排名" in definition
    # The other communities had fewer cases: listed apart, never between the ranked two.
    assert table.get_by_test_id("ranking-unranked").inner_text().startswith("样本不足（派单量不足 20 件")
    _shot(leader, "11-承办单位排名-by-kind.png")
    # Departments are another table: neither community is in it.
    leader.get_by_test_id("ranking-kind-department").click()
    departments = leader.locator("[data-testid=ranking-table][data-kind=department]")
    departments.wait_for()
    assert departments.locator(f"[data-unit={FIRST}], [data-unit={SECOND}]").count() == 0

    # ---- 本单位考核: the clerk of 茶亭路社区 --------------------------------------------------------
    clerk = _page(browser, server, UNIT)  # demo-unit-chatinglu
    clerk.get_by_test_id("tab-figures").click()
    head = clerk.get_by_test_id("figures-head")
    head.and_(clerk.locator("[data-generation]")).wait_for()
    clerk.get_by_test_id("figures-from").fill("2026-11-01")
    clerk.get_by_test_id("figures-to").fill("2026-12-01")
    generation = int(head.get_attribute("data-generation") or 0)
    clerk.get_by_test_id("figures-refresh").click()
    clerk.locator(f"[data-testid=figures-head][data-generation='{generation + 1}']").wait_for()
    assert clerk.get_by_test_id("figures-place").inner_text() == "第 1 / 2 名（社区）"
    assert clerk.get_by_test_id("figures-score").inner_text() == "综合得分 100.0"
    assert clerk.get_by_test_id("rate-handling_rate").locator(".value").inner_text() == "100.0%"
    assert clerk.get_by_test_id("rate-handling_rate").locator(".frac").inner_text() == f"{PER_UNIT} / {PER_UNIT}"
    assert clerk.get_by_test_id("figures-definition").inner_text().startswith("名次口径：综合得分 = 办结率×75%")
    # Nothing that does not apply is printed as the word "null"; the month is drawn in the trend.
    assert "null" not in clerk.get_by_test_id("figures-head").inner_text()
    assert clerk.get_by_test_id("trend-chart").locator("rect").count() == 1
    months = clerk.get_by_test_id("figures-month")
    assert [m.get_attribute("data-month") for m in months.all()] == ["2026-11"]
    _shot(clerk, "12-本单位考核-unit-figures.png")
    clerk.screenshot(path=str(_shot(clerk, "12b-本单位考核-full.png")), full_page=True)

    other = _page(browser, server, f"demo-unit-{SECOND}")
    other.get_by_test_id("tab-figures").click()
    other.get_by_test_id("figures-from").fill("2026-11-01")
    other.get_by_test_id("figures-to").fill("2026-12-01")
    other.get_by_test_id("figures-refresh").click()
    other.get_by_test_id("figures-place").filter(has_text="第 2 / 2 名（社区）").wait_for()

    for page in (leader, clerk, other):
        assert not page.errors, page.errors
