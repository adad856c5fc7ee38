"""领导驾驶舱 over HTTP (issue 19): comparison tables with any filters, sorted, exported with a
name that says period and filters; the cases behind each number; trends by day, week or month
with the open period marked; the overdue list filtered, paged and exported.

The cases are received in March 2026 (fixed instants), through the application service."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

from adapters.bootstrap import Runtime
from engine.deadlines import SHANGHAI
from engine.domain import Rating
from engine.intake import Channel
from engine.vocabulary import CHANNELS
from projections.leader_queries import LeaderViews
from tests.support.api import LEADER, OPERATOR, api_client, auth
from tests.support.fold_oracle import intake

MARCH = {"from": "2026-03-01", "to": "2026-04-01"}
TEXTS = [
    ("茶亭路{n}号的路灯不亮，晚上很黑", "茶亭路{n}号"),
    ("东一巷菜场门口占道经营第{n}摊，堵住了路", "东一巷"),
    ("小区电梯坏了{n}天没人修，物业不管", "四川路{n}号"),
    ("珠海路小区邻里纠纷第{n}次，楼上漏水不赔", "珠海路{n}号"),
]
CHANNELS_USED = [Channel.HOTLINE, Channel.APP, Channel.WALKIN]


def fill(runtime: Runtime) -> None:
    """24 cases over March 2026 in several streets and channels; a third resolved and followed
    up, a sixth returned, the rest left with their unit (overdue by now)."""
    app = runtime.app
    for i in range(24):
        content, address = TEXTS[i % len(TEXTS)]
        at = dt.datetime(2026, 3, 2 + i, 9, 0, tzinfo=SHANGHAI)
        r = app.receive(intake(content.format(n=i), address.format(n=i), at=at, channel=CHANNELS_USED[i % 3]))
        unit = app.get_case(r.case_id).assigned_unit
        if unit is None:
            continue
        later = at + dt.timedelta(hours=2)
        if i % 3 == 0:
            app.claim(r.case_id, unit, "unit:t", at=later)
            app.resolve(r.case_id, unit, "已处理", "unit:t", at=later + dt.timedelta(hours=5))
            app.follow_up(r.case_id, True, Rating.SATISFIED, "operator:t", at=later + dt.timedelta(days=1))
        elif i % 6 == 1:
            app.return_case(r.case_id, unit, "不属本单位", "unit:t", at=later)


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[Any, Runtime]]:
    with api_client() as (client, runtime):
        fill(runtime)
        yield client, runtime


def get(client: Any, path: str, **params: Any) -> Any:
    resp = client.get(path, params=params, headers=auth(LEADER))
    assert resp.status_code == 200, resp.text[:300]
    return resp.json()


def check_every_cell(client: Any, by: str, params: dict[str, str]) -> int:
    """Every count of every row, and both parts of every rate: the drill-down's count is the
    cell's number, its pages hold exactly its cases."""
    table = get(client, "/api/stats", by=by, **params)
    checked = 0
    for row in table["rows"]:
        for field, number in [
            ("received", row["received"]),
            ("accepted", row["accepted"]),
            ("dispatched", row["dispatched"]),
            ("returned", row["returned"]),
            ("handling_rate.numerator", row["handling_rate"]["numerator"]),
            ("handling_rate.denominator", row["handling_rate"]["denominator"]),
            ("satisfaction_rate.numerator", row["satisfaction_rate"]["numerator"]),
            ("response_rate.denominator", row["response_rate"]["denominator"]),
        ]:
            cases = get(client, "/api/stats/cases", field=field, by=by, key=row["key"], limit=500, **params)
            assert cases["count"] == number, (by, row["key"], field)
            assert sum(c["n"] for c in cases["rows"]) == number
            assert cases["total"] == len(cases["rows"])
            checked += 1
    return checked


def test_a_street_table_for_a_month_with_a_channel_filter_drills_to_its_cases(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    params = {**MARCH, "channel": "hotline"}
    table = get(client, "/api/stats", by="street", **params)
    assert table["filters"] == {"channel": "hotline"}
    assert sum(r["received"] for r in table["rows"]) == table["total"]["received"] == 8
    for r in table["rows"]:  # every rate cell carries its numerator and denominator
        assert set(r["response_rate"]) == {"value", "numerator", "denominator"}
    assert check_every_cell(client, "street", params) > 0


@pytest.mark.parametrize("by", ["community", "category", "appeal_type", "channel", "month"])
def test_every_row_dimension_with_combined_filters_drills_down_exactly(env: tuple[Any, Runtime], by: str) -> None:
    client, _ = env
    street = get(client, "/api/stats", by="street", **MARCH)["rows"][0]["key"]
    for params in ({**MARCH}, {**MARCH, "street": street, "channel": "app"}, {**MARCH, "appeal_type": "求助"}):
        assert check_every_cell(client, by, params) > 0, params


def test_a_paged_drill_down_lists_each_case_once(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    whole = get(client, "/api/stats/cases", field="received", **MARCH)
    assert whole["count"] == whole["total"] == 24 and len(whole["rows"]) == 24
    seen = []
    for offset in range(0, 24, 5):
        page = get(client, "/api/stats/cases", field="received", limit=5, offset=offset, **MARCH)
        assert page["total"] == 24
        seen += [c["case_id"] for c in page["rows"]]
    assert seen == [c["case_id"] for c in whole["rows"]]
    assert all("caller_phone" not in c and "caller_name" not in c for c in whole["rows"])


def test_unit_rows_drill_into_their_own_cases_and_refuse_event_counts_in_chinese(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    table = get(client, "/api/stats", by="unit", **MARCH)
    for row in table["rows"]:
        for field in ("received", "resolved", "handling_rate.denominator", "on_time_rate.numerator"):
            cases = get(client, "/api/stats/cases", field=field, by="unit", key=row["key"], **MARCH)
            number = row[field] if "." not in field else row[field.split(".")[0]][field.split(".")[1]]
            assert cases["count"] == number
    unit = table["rows"][0]["key"]
    refused = client.get("/api/stats/cases", params={"field": "dispatched", "by": "unit", "key": unit, **MARCH}, headers=auth(LEADER))
    assert refused.status_code == 422 and refused.json()["error"] == "invalid_query"
    assert "不是工单本身的属性" in refused.json()["message"]
    mixed = client.get("/api/stats", params={"by": "street", "unit": unit, **MARCH}, headers=auth(LEADER))
    assert mixed.status_code == 422 and "单位" in mixed.json()["message"]
    censures = client.get("/api/stats/cases", params={"field": "notices", **MARCH}, headers=auth(LEADER))
    assert censures.status_code == 422 and "通报" in censures.json()["message"]
    bad = client.get("/api/stats/cases", params={"field": "nonsense", **MARCH}, headers=auth(LEADER))
    assert bad.status_code == 422 and "没有这个计数" in bad.json()["message"]


def test_tables_sort_on_the_server_and_the_csv_keeps_the_order_and_names_period_and_filters(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    params = {**MARCH, "channel": "hotline", "by": "category"}
    rows = get(client, "/api/stats", sort="received", order="asc", **params)["rows"]
    assert [r["received"] for r in rows] == sorted(r["received"] for r in rows)
    by_rate = get(client, "/api/stats", sort="handling_rate", **params)["rows"]
    values = [r["handling_rate"]["value"] for r in by_rate]
    known = [v for v in values if v is not None]
    assert known == sorted(known, reverse=True) and values[: len(known)] == known
    resp = client.get("/api/stats", params={**params, "sort": "received", "order": "asc", "format": "csv"}, headers=auth(LEADER))
    assert resp.status_code == 200 and resp.text.startswith("\ufeff")
    disposition = resp.headers["content-disposition"]
    assert 'filename="sanshi-stats-category_2026-03-01_2026-03-31_channel-hotline.csv"' in disposition
    encoded = disposition.split("filename*=UTF-8''")[1]
    assert unquote(encoded) == f"七率_按诉求分类_2026-03-01至2026-03-31_渠道-{CHANNELS.label('hotline')}.csv"
    lines = list(csv.reader(io.StringIO(resp.text.lstrip("\ufeff"))))
    assert [line[0] for line in lines[1:-1]] == [r["key"] for r in rows]
    bad = client.get("/api/stats", params={**params, "sort": "nonsense"}, headers=auth(LEADER))
    assert bad.status_code == 422 and "sort" in bad.json()["message"]


def test_a_trend_by_week_adds_up_to_the_table_and_marks_partial_weeks(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    trend = get(client, "/api/stats/trend", granularity="week", **MARCH)
    rows = trend["rows"]
    # 2026-03-01 is a Sunday: the first week is cut by the range, so is the last.
    assert rows[0]["key"] == "2026-W09" and rows[0]["partial"] and rows[0]["from"] == "2026-03-01"
    assert rows[-1]["to"] == "2026-04-01" and rows[-1]["partial"]
    assert not any(r["open"] for r in rows)  # March 2026 is over
    total = get(client, "/api/stats", **MARCH)["total"]
    assert sum(r["received"] for r in rows) == total["received"] == 24
    assert sum(r["resolved"] for r in rows) == total["resolved"]
    days = get(client, "/api/stats/trend", granularity="day", **MARCH)["rows"]
    assert len(days) == 31 and sum(r["received"] for r in days) == 24
    filtered = get(client, "/api/stats/trend", granularity="month", channel="app", street="zhongjie", **MARCH)
    cases = get(client, "/api/stats/cases", field="received", channel="app", street="zhongjie", **MARCH)
    assert filtered["rows"][0]["received"] == cases["count"]
    too_long = client.get("/api/stats/trend", params={"granularity": "day", "from": "2020-01-01", "to": "2026-01-01"}, headers=auth(LEADER))
    assert too_long.status_code == 422 and "最多" in too_long.json()["message"]


def test_the_default_trend_is_the_last_twelve_months_with_the_current_one_open(env: tuple[Any, Runtime]) -> None:
    _, runtime = env
    now = dt.datetime(2026, 12, 2, 15, 0, tzinfo=SHANGHAI)  # a two-day December
    trend = LeaderViews(runtime.read_model).trend("month", None, None, {}, now)
    assert [r["key"] for r in trend["rows"]] == [f"2026-{m:02d}" for m in range(1, 13)]
    assert [r["open"] for r in trend["rows"]] == [False] * 11 + [True]
    march = trend["rows"][2]
    assert march["received"] == 24
    weeks = LeaderViews(runtime.read_model).trend("week", dt.date(2026, 11, 16), dt.date(2026, 12, 7), {}, now)
    assert [(r["key"], r["open"]) for r in weeks["rows"]] == [
        ("2026-W47", False), ("2026-W48", False), ("2026-W49", True),
    ]


def test_the_overdue_list_honours_the_filters_is_paged_and_exports(env: tuple[Any, Runtime]) -> None:
    client, _ = env
    everything = get(client, "/api/overdue", limit=500)
    assert everything["total"] == len(everything["rows"]) > 3
    assert all(r["overdue"] and len(r["snippet"]) <= 120 and "content" not in r for r in everything["rows"])
    page = get(client, "/api/overdue", limit=2, offset=1)
    assert page["total"] == everything["total"]
    assert [r["case_id"] for r in page["rows"]] == [r["case_id"] for r in everything["rows"][1:3]]
    app_only = get(client, "/api/overdue", channel="app", limit=500)
    assert 0 < app_only["total"] < everything["total"]
    assert {r["channel"] for r in app_only["rows"]} == {"app"}
    street = everything["rows"][0]["street"]
    in_street = get(client, "/api/overdue", street=street, channel="app", limit=500)
    assert all(r["street"] == street and r["channel"] == "app" for r in in_street["rows"])
    early = get(client, "/api/overdue", **{"from": "2026-03-01", "to": "2026-03-10"}, limit=500)
    assert 0 < early["total"] < everything["total"]
    resp = client.get("/api/overdue", params={"channel": "app", "format": "csv"}, headers=auth(OPERATOR))
    assert resp.status_code == 200
    assert "filename*=UTF-8''" in resp.headers["content-disposition"]
    assert unquote(resp.headers["content-disposition"].split("''")[1]).startswith("超期工单_全部时间_渠道-")
    lines = list(csv.reader(io.StringIO(resp.text.lstrip("\ufeff"))))
    assert len(lines) == app_only["total"] + 1 and lines[0][0] == "工单"


@pytest.mark.postgres
def test_combined_filters_and_drill_down_agree_on_postgresql(fresh_postgres_url: str) -> None:
    with api_client(fresh_postgres_url) as (client, runtime):
        fill(runtime)
        street = get(client, "/api/stats", by="street", **MARCH)["rows"][0]["key"]
        params = {**MARCH, "street": street, "channel": "app", "appeal_type": "求助"}
        for by in ("community", "category", "month", "appeal_type"):
            assert check_every_cell(client, by, params) > 0, by
        assert check_every_cell(client, "street", {**MARCH, "channel": "hotline"}) > 0
        assert get(client, "/api/overdue", channel="app", limit=3)["total"] > 0
