"""Small scenario tests of the rules the fold documents (the oracle is tests/support/fold_oracle.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from adapters.bootstrap import Runtime
from engine.config import Ranking
from engine.deadlines import SHANGHAI
from engine.domain import Rating
from tests.support.fold_oracle import (
    COUNTS,
    LAMP,
    OP,
    RATE_PARTS,
    STALL,
    T0,
    demo_config,
    intake,
    make_runtime,
)

# ---------------------------------------------------------------------------------------------
# The rules, case by case
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def rt() -> Any:
    runtime = make_runtime()
    yield runtime
    runtime.close()


def _stats(rt: Runtime, by: str | None = None, **kw: Any) -> dict[str, Any]:
    return rt.read_model.stats(by, **kw)  # type: ignore[no-any-return]


def test_a_case_resolved_reopened_and_resolved_again_is_one_resolved_case(rt: Runtime) -> None:
    app = rt.app
    r = app.receive(intake(LAMP.format(n=1), "茶亭路1号"))
    unit = r.unit
    assert unit == "chatinglu"
    at = T0 + dt.timedelta(hours=1)
    app.claim(r.case_id, unit, "u", at=at)
    app.resolve(r.case_id, unit, "已修复", "u", at=at)
    assert _stats(rt)["total"]["handling_rate"]["value"] == 1.0
    app.follow_up(r.case_id, False, Rating.DISSATISFIED, OP, at=at + dt.timedelta(days=1))
    reopened = _stats(rt)["total"]
    # 重办: back with the unit, no longer resolved; the follow-up itself is counted.
    assert reopened["resolved"] == 0
    assert reopened["handling_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    assert reopened["satisfaction_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    assert reopened["dispatched"] == 2
    app.claim(r.case_id, unit, "u", at=at + dt.timedelta(days=1, hours=1))
    app.resolve(r.case_id, unit, "已彻底修复", "u", at=at + dt.timedelta(days=2))
    again = _stats(rt)["total"]
    assert again["resolved"] == 1
    assert again["handling_rate"]["value"] == 1.0
    assert again["response_rate"] == {"value": 1.0, "numerator": 2, "denominator": 2}


def test_recategorising_moves_the_case_to_its_latest_category(rt: Runtime) -> None:
    app = rt.app
    r = app.receive(intake("我想反映一个情况，麻烦你们记一下"))  # manual queue, category other
    assert r.status == "received"
    assert {row["key"] for row in _stats(rt, "category")["rows"]} == {"other"}
    app.reclassify(r.case_id, "housing", OP, at=T0)
    rows = _stats(rt, "category")["rows"]
    assert [(row["key"], row["name"], row["received"]) for row in rows] == [("housing", "住房物业", 1)]


def test_a_returned_case_leaves_the_units_workload_but_counts_in_its_return_rate(
    rt: Runtime,
) -> None:
    app = rt.app
    r = app.receive(intake(LAMP.format(n=5), "茶亭路5号"))
    first = r.unit  # 茶亭路社区; after its return the centre sends it up to 中街街道
    app.return_case(r.case_id, first, "不属于本单位", "u", at=T0 + dt.timedelta(hours=2))
    units = {row["key"]: row for row in _stats(rt, "unit")["rows"]}
    assert units[first]["received"] == 0  # waiting for review: with the centre already
    app.review_return(r.case_id, True, OP, unit="zhongjie", at=T0 + dt.timedelta(hours=3))
    second = app.get_case(r.case_id).assigned_unit
    assert second is not None and second != first
    units = {row["key"]: row for row in _stats(rt, "unit")["rows"]}
    assert units[first]["received"] == 0
    assert units[first]["return_rate"] == {"value": 1.0, "numerator": 1, "denominator": 1}
    assert units[second]["received"] == 1
    assert units[second]["handling_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    total = _stats(rt)["total"]
    for field in COUNTS:
        assert sum(row[field] for row in units.values()) == total[field], field


def test_counts_land_on_the_received_day_whenever_the_work_is_done(rt: Runtime) -> None:
    app = rt.app
    r = app.receive(intake(LAMP.format(n=2), "茶亭路2号", at=dt.datetime(2026, 3, 31, 23, 30, tzinfo=SHANGHAI)))
    later = dt.datetime(2026, 4, 3, 10, 0, tzinfo=SHANGHAI)
    app.claim(r.case_id, r.unit, "u", at=later)
    app.resolve(r.case_id, r.unit, "已修复", "u", at=later)
    march = _stats(rt, **{"from_": dt.date(2026, 3, 1), "to": dt.date(2026, 4, 1)})["total"]
    april = _stats(rt, **{"from_": dt.date(2026, 4, 1), "to": dt.date(2026, 5, 1)})["total"]
    assert (march["received"], march["resolved"], march["dispatched"]) == (1, 1, 1)
    assert march["response_rate"]["numerator"] == 0  # claimed after the claim deadline
    assert (april["received"], april["resolved"]) == (0, 0)
    # 23:30 Shanghai on 31 March is still March even though it is 15:30 UTC.
    assert [row["key"] for row in _stats(rt, "month")["rows"]] == ["2026-03"]


def test_rates_are_null_when_their_denominator_is_zero(rt: Runtime) -> None:
    empty = _stats(rt)
    assert empty["rows"] == []
    for field in RATE_PARTS:
        assert empty["total"][field] == {"value": None, "numerator": 0, "denominator": 0}
    rt.app.receive(intake(LAMP.format(n=3), "茶亭路3号"))
    total = _stats(rt)["total"]
    assert total["handling_rate"] == {"value": 0.0, "numerator": 0, "denominator": 1}
    assert total["mediation_success_rate"]["value"] is None
    assert total["satisfaction_rate"]["value"] is None


def test_stats_json_shape(rt: Runtime) -> None:
    rt.app.receive(intake(LAMP.format(n=4), "茶亭路4号"))
    data = _stats(rt, "unit", from_="2026-03-01", to="2026-04-01")
    assert list(data) == ["from", "to", "by", "rows", "total"]
    assert (data["from"], data["to"], data["by"]) == ("2026-03-01", "2026-04-01", "unit")
    row = data["rows"][0]
    assert (row["key"], row["name"]) == ("chatinglu", "茶亭路社区")
    assert list(row)[:2] == ["key", "name"]
    for field in RATE_PARTS:
        assert set(row[field]) == {"value", "numerator", "denominator"}
    assert set(data["total"]) == set(row)


def test_ranking_orders_units_of_a_kind_by_their_rates_and_leaves_out_small_ones() -> None:
    base = demo_config(merge_similarity=1.0)  # similar lamps, not merged
    config = base.model_copy(update={"ranking": Ranking(min_volume=2)})
    rt = make_runtime(config=config)
    app = rt.app
    at = T0 + dt.timedelta(hours=1)
    for n in range(3):  # 城管: three cases, all claimed at once and resolved on time
        r = app.receive(intake(STALL.format(n=n), "东一巷"))
        assert r.unit == "chengguan"
        app.claim(r.case_id, r.unit, "u", at=at)
        app.resolve(r.case_id, r.unit, "已清理", "u", at=at)
    for n in range(3):  # 茶亭路社区: three lamps, claimed late, one resolved
        r = app.receive(intake(LAMP.format(n=100 + n), f"茶亭路{100 + n}号"))
        assert r.unit == "chatinglu"
        app.claim(r.case_id, r.unit, "u", at=T0 + dt.timedelta(days=5))
        if n == 0:
            app.resolve(r.case_id, r.unit, "已修复", "u", at=T0 + dt.timedelta(days=20))
    r = app.receive(intake("公司拖欠工资两个月，老板不给", "云南路"))  # 人社: one case only
    assert r.unit == "renshe"
    report = rt.read_model.ranking()
    groups = {g["kind"]: g for g in report["groups"]}
    # Each kind apart: 城管 first of the departments, 茶亭路社区 first (and only) of the communities.
    departments, communities = groups["department"], groups["community"]
    assert [(row["rank"], row["key"]) for row in departments["rows"]] == [(1, "chengguan")]
    assert departments["rows"][0]["score"] == 1.0
    assert departments["rows"][0]["name"] == "区城市管理局"
    assert [(row["rank"], row["of"], row["key"]) for row in communities["rows"]] == [(1, 1, "chatinglu")]
    assert 0.0 <= communities["rows"][0]["score"] < 0.5
    # 人社 had one case (below 2): listed apart, not ranked; so is every department with none.
    apart = {row["key"]: row for row in departments["unranked"]}
    assert apart["renshe"]["reason"] == "below_min_volume" and apart["renshe"]["rank"] is None
    assert {"zhujian", "jiaoyu"} <= set(apart)
    assert departments["unranked"][0]["key"] == "renshe"  # most cases first
    assert "centre" not in groups
    rt.close()
