"""承办单位排名 (projections/ranking.py, docs/rates.md#the-ranking-承办单位排名): each kind of unit
ranked apart, a minimum volume, the district's weights from its file, and 本单位考核
(GET /api/units/{unit}/figures): a unit's own rates and place."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from adapters.bootstrap import Runtime
from engine.config import ConfigError, Ranking, SanshiConfig, load_config, parse_config
from engine.deadlines import SHANGHAI
from projections.queries import with_rates
from projections.ranking import RankingRule, group_by_kind
from tests.support.api import LAMP, LAMP_ADDRESS, LEADER, OTHER_UNIT, api_client, auth, intake

DEMO = resources.files("engine").joinpath("data/haicheng.yaml").read_text("utf-8")
WEIGHTS_LINE = re.compile(r"^  weights: .*$", re.MULTILINE)
MIN_VOLUME_LINE = re.compile(r"^  min_volume: \d+$", re.MULTILINE)


def config_with(weights: str | None = None, min_volume: str | None = None) -> SanshiConfig:
    """The demo district's file with its ``ranking:`` lines changed, parsed as a district's."""
    return parse_config(district_text(weights, min_volume), "haicheng-test.yaml")


def district_text(weights: str | None = None, min_volume: str | None = None) -> str:
    text = DEMO
    if weights is not None:
        text, n = WEIGHTS_LINE.subn(f"  weights: {weights}", text)
        assert n == 1
    if min_volume is not None:
        text, n = MIN_VOLUME_LINE.subn(f"  min_volume: {min_volume}", text)
        assert n == 1
    return text


def unit_row(key: str, cases: int, resolved: int, on_time: int, claimed: int, returned: int,
             followups: int, solved: int, satisfied: int) -> dict[str, Any]:
    """A unit's stats row as ReadModel.stats(by="unit") makes it: ``cases`` dispatched and held."""
    return with_rates(key, key, {
        "received": cases, "dispatched": cases, "resolved": resolved, "resolved_on_time": on_time,
        "claimed_on_time": claimed, "returned": returned, "followups": followups, "solved": solved,
        "rated": followups, "satisfied": satisfied,
    })


def perfect(key: str, cases: int) -> dict[str, Any]:
    return unit_row(key, cases, cases, cases, cases, 0, cases, cases, cases)


# ---- the rule ----------------------------------------------------------------------------------


def test_eight_perfect_cases_do_not_outrank_256_good_ones_when_the_minimum_is_20() -> None:
    small = perfect("small", 8)
    big = unit_row("big", 256, 230, 200, 240, 10, 200, 180, 170)
    ranked, apart = RankingRule.of(Ranking(min_volume=20)).rank([small, big])
    assert [(r["key"], r["rank"], r["of"]) for r in ranked] == [("big", 1, 1)]
    assert [(r["key"], r["rank"], r["reason"]) for r in apart] == [("small", None, "below_min_volume")]
    # The minimum is what does it: with none, the eight perfect cases come first.
    ranked, apart = RankingRule.of(Ranking(min_volume=1)).rank([small, big])
    assert [r["key"] for r in ranked] == ["small", "big"] and apart == []
    assert ranked[0]["score"] == 1.0 > ranked[1]["score"]


def test_weights_from_the_district_file_decide_the_order() -> None:
    # A resolves everything and satisfies half; B resolves half and satisfies everyone.
    a = unit_row("a", 40, 40, 40, 40, 0, 40, 40, 20)
    b = unit_row("b", 40, 20, 20, 40, 0, 40, 40, 40)
    handling_heavy = RankingRule.of(config_with("{handling_rate: 3, satisfaction_rate: 1}").ranking)
    ranked, _ = handling_heavy.rank([a, b])
    # A: .75 × 1 + .25 × .5 = .875; B: .75 × .5 + .25 × 1 = .625
    assert [(r["key"], r["score"]) for r in ranked] == [("a", 0.875), ("b", 0.625)]
    satisfaction_heavy = RankingRule.of(config_with("{handling_rate: 1, satisfaction_rate: 3}").ranking)
    ranked, _ = satisfaction_heavy.rank([a, b])
    assert [(r["key"], r["score"]) for r in ranked] == [("b", 0.875), ("a", 0.625)]
    assert satisfaction_heavy.weights == {"satisfaction_rate": 0.75, "handling_rate": 0.25}


def test_the_definition_is_written_from_the_weights() -> None:
    rule = RankingRule.of(config_with("{handling_rate: 3, return_rate: 1}", "5").ranking)
    text = rule.definition()
    assert text.startswith("综合得分 = 办结率×75% + （1−退单率）×25%；")
    assert "派单量不足 5 件的单位列为“样本不足”，不参与排名" in text
    for unweighted in ("满意率", "响应率", "解决率", "按时办结率"):
        assert unweighted not in text
    # The district's own file: today's weights, heaviest first.
    demo = RankingRule.of_config(load_config(None)).definition()
    assert demo.startswith(
        "综合得分 = 办结率×25% + 按时办结率×20% + 满意率×20% + 响应率×15% + （1−退单率）×10% + 解决率×10%"
    )


def test_the_default_weights_are_the_ones_the_ranking_always_had() -> None:
    assert RankingRule.of(Ranking()).weights == {
        "handling_rate": 0.25, "on_time_rate": 0.2, "satisfaction_rate": 0.2,
        "response_rate": 0.15, "return_rate": 0.1, "solved_rate": 0.1,
    }
    assert Ranking().min_volume == 20


def test_a_rate_without_data_is_left_out_and_the_others_scaled_up() -> None:
    # Everything on time, nobody called back yet: 满意率 and 解决率 have no data.
    unrated = unit_row("unrated", 30, 30, 30, 30, 0, 0, 0, 0)
    ranked, _ = RankingRule.of(Ranking()).rank([unrated])
    assert ranked[0]["score"] == 1.0
    assert ranked[0]["unscored"] == ["satisfaction_rate", "solved_rate"]
    # Weighted only on a rate it has no data for: listed apart, not ranked last.
    ranked, apart = RankingRule.of(Ranking(weights={"satisfaction_rate": 1})).rank([unrated])
    assert ranked == [] and apart[0]["reason"] == "no_data"


def test_equal_scores_share_a_place_listed_by_volume_then_id() -> None:
    rows = [perfect("c", 30), perfect("b", 50), perfect("a", 30), unit_row("d", 90, 45, 45, 90, 0, 0, 0, 0)]
    ranked, _ = RankingRule.of(Ranking()).rank(rows)
    assert [(r["key"], r["rank"]) for r in ranked] == [("b", 1), ("a", 1), ("c", 1), ("d", 4)]
    assert RankingRule.of(Ranking()).rank(list(reversed(rows)))[0] == ranked


def test_kinds_never_mix() -> None:
    config = load_config(None)
    # A street with perfect figures and a department with poor ones: each ranks among its own.
    rows = [perfect("zhongjie", 40), unit_row("chengguan", 40, 10, 5, 20, 8, 10, 5, 5),
            perfect("chatinglu", 40), perfect("zhongjie-sfs", 40), perfect("shuiwu", 40)]
    groups = group_by_kind(config, rows, lambda key, name: with_rates(key, name, {}))
    assert list(groups) == ["department", "street", "community", "judicial_office", "enterprise"]
    rule = RankingRule.of(config.ranking)
    for kind, members in groups.items():
        assert {config.unit(r["key"]).kind.value for r in members} == {kind}
        ranked, apart = rule.rank(members)
        assert len(ranked) == 1 and ranked[0]["rank"] == 1
        # Every other unit of the kind had no case: 样本不足, listed apart.
        assert len(apart) == len([u for u in config.units if u.kind.value == kind and u.active]) - 1
    assert "centre" not in {r["key"] for rs in groups.values() for r in rs}


# ---- the district file -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "min_volume", "says"),
    [
        ("{handling_rate: -5, satisfaction_rate: 1}", None, "ranking.weights.handling_rate: 须不小于 0"),
        ("{handling_rate: 1, speed_rate: 2}", None, "不认识的指标代码 speed_rate"),
        ("{handling_rate: 0, satisfaction_rate: 0}", None, "权重之和须大于 0"),
        ("{handling_rate: .nan}", None, "ranking.weights.handling_rate"),
        (None, "0", "ranking.min_volume: 须不小于 1"),
    ],
)
def test_a_bad_ranking_section_is_a_clear_error_at_load(weights: str | None, min_volume: str | None, says: str) -> None:
    text = district_text(weights, min_volume)
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "haicheng-test.yaml")
    problems = caught.value.problems
    assert len(problems) == 1 and says in problems[0], problems
    # The line named is the ranking section's line that is wrong.
    line = int(problems[0].split(":")[1])
    named = text.splitlines()[line - 1]
    assert named.startswith("  weights:" if weights else "  min_volume:"), named


# ---- over HTTP ---------------------------------------------------------------------------------

T = dt.datetime(2026, 11, 2, 9, 30, tzinfo=SHANGHAI)  # a Monday
OWN = "chatinglu"  # 茶亭路社区, the unit of tests.support.api's ASSIGNED token
OWN_TOKEN = f"demo-unit-{OWN}"
NEIGHBOUR = "zhuhailu"  # 珠海路社区, a community of the same street


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Runtime]]:
    """The demo district with a minimum volume of 2; 茶亭路社区 resolves its three lamps on time,
    珠海路社区 resolves one of two, late; 区城管局 gets one case (样本不足)."""
    folder = Path(tmp_path_factory.mktemp("ranking"))
    path = folder / "district.yaml"
    path.write_text(district_text(min_volume="2"), "utf-8")
    bundled = resources.files("engine").joinpath("data")
    places = load_config(None).places
    if places is not None and isinstance(places.geojson, str):  # its polygons, read beside it
        (folder / places.geojson).write_bytes(bundled.joinpath(places.geojson).read_bytes())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SANSHI_CONFIG", str(path))
        with api_client() as (client, runtime):
            app = runtime.app
            for n in range(3):
                r = app.receive(intake(LAMP.format(n=n), LAMP_ADDRESS.format(n=n), at=T))
                assert r.unit == OWN, r
                app.claim(r.case_id, OWN, "unit:test", at=T + dt.timedelta(minutes=30))
                app.resolve(r.case_id, OWN, "已更换灯泡", "unit:test", at=T + dt.timedelta(hours=3))
            for n in range(2):
                r = app.receive(intake(f"珠海路{n + 10}号路灯不亮，晚上很黑（灯杆 Z{n}）", f"海城区珠海路{n + 10}号", at=T))
                assert r.unit == NEIGHBOUR, r
                app.claim(r.case_id, NEIGHBOUR, "unit:test", at=T + dt.timedelta(days=3))
                if n == 0:
                    app.resolve(r.case_id, NEIGHBOUR, "已修复", "unit:test", at=T + dt.timedelta(days=20))
            r = app.receive(intake("珠海路菜市场门口占道经营严重，摊贩堵路", "海城区珠海路", at=T))
            assert r.unit == "chengguan", r
            yield client, runtime


def test_the_ranking_route_answers_per_kind_with_its_definition(served: tuple[Any, Runtime]) -> None:
    client, _ = served
    body = client.get("/api/ranking?from=2026-11-01&to=2026-12-01", headers=auth(LEADER)).json()
    assert body["min_volume"] == 2 and "派单量不足 2 件" in body["definition"]
    assert sum(body["weights"].values()) == pytest.approx(1.0)
    groups = {g["kind"]: g for g in body["groups"]}
    communities = groups["community"]
    assert communities["kind_name"] == "社区"
    assert [(r["key"], r["rank"], r["of"]) for r in communities["rows"]] == [(OWN, 1, 2), (NEIGHBOUR, 2, 2)]
    assert [r["key"] for r in groups["department"]["rows"]] == []
    assert groups["department"]["unranked"][0]["key"] == "chengguan"
    only = client.get("/api/ranking?kind=community&from=2026-11-01&to=2026-12-01", headers=auth(LEADER)).json()
    assert [g["kind"] for g in only["groups"]] == ["community"]
    assert only["groups"][0]["rows"] == communities["rows"]
    # Another month: nobody has a case, nobody is ranked.
    empty = client.get("/api/ranking?kind=community&from=2026-12-01&to=2027-01-01", headers=auth(LEADER)).json()
    assert empty["groups"][0]["rows"] == []


@pytest.mark.parametrize("kind", ["centre", "bogus"])
def test_an_unknown_kind_is_refused(served: tuple[Any, Runtime], kind: str) -> None:
    client, _ = served
    r = client.get(f"/api/ranking?kind={kind}", headers=auth(LEADER))
    assert r.status_code == 422 and "kind 只能是" in r.json()["message"]


def test_a_unit_sees_its_own_figures_as_the_stats_have_them(served: tuple[Any, Runtime]) -> None:
    client, _ = served
    period = "from=2026-11-01&to=2026-12-01"
    mine = client.get(f"/api/units/{OWN}/figures?{period}", headers=auth(OWN_TOKEN))
    assert mine.status_code == 200, mine.text
    body = mine.json()
    stats = client.get(f"/api/stats?unit={OWN}&{period}", headers=auth(LEADER)).json()
    assert body["figures"] == stats["total"]
    monthly = client.get(f"/api/stats?unit={OWN}&by=month&{period}", headers=auth(LEADER)).json()
    assert body["months"] == monthly["rows"] and [m["key"] for m in body["months"]] == ["2026-11"]
    assert body["figures"]["handling_rate"] == {"value": 1.0, "numerator": 3, "denominator": 3}
    assert body["place"]["text"] == "第 1 / 2 名（社区）"
    assert body["place"]["rank"] == 1 and body["place"]["of"] == 2
    assert body["definition"].startswith("综合得分 = ")
    neighbour = client.get(f"/api/units/{NEIGHBOUR}/figures?{period}", headers=auth(LEADER)).json()
    assert neighbour["place"]["text"] == "第 2 / 2 名（社区）"
    small = client.get(f"/api/units/chengguan/figures?{period}", headers=auth(OTHER_UNIT)).json()
    assert small["place"]["text"] == "样本不足（派单量 1 件，不足 2 件）" and not small["place"]["ranked"]
    centre = client.get(f"/api/units/centre/figures?{period}", headers=auth(LEADER)).json()
    assert centre["place"]["text"] == "中心不参与承办单位排名"


def test_a_unit_cannot_read_another_units_figures(served: tuple[Any, Runtime]) -> None:
    client, _ = served
    r = client.get(f"/api/units/{NEIGHBOUR}/figures", headers=auth(OWN_TOKEN))
    assert r.status_code == 403 and r.json()["message"] == "只能查看本单位的考核数据"
    assert client.get("/api/units/nowhere/figures", headers=auth(LEADER)).status_code == 404
    assert client.get("/api/units/nowhere/figures", headers=auth(OWN_TOKEN)).status_code == 403
