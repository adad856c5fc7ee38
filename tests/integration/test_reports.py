"""Reports (日报/周报/月报, docs/reports.md) and 工单打印.

The July 2026 month of tests/support/cohandled_month.py (counted by hand there) is read through
``GET /api/reports``: the Excel workbook, read back with openpyxl, holds real numbers with a
percent format, and they are the numbers ``GET /api/stats`` serves for the same period and
filters. The published-figures month (March 2026, tests/integration/test_projections_scenario.py)
is reported through ``sanshi report``: 办结率 92.12%, 满意率 97.46%, 调解成功率 83.75%.

The overdue list and the 批示件 are as of a fixed instant (the app's clock is set), never today.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from adapters.bootstrap import Runtime
from adapters.cli import main
from adapters.http import create_app
from engine.deadlines import SHANGHAI
from engine.domain import Status
from engine.vocabulary import rates
from tests.integration.test_projections_scenario import DEFAULT, live_month
from tests.support.api import ASSIGNED, OPERATOR, api_client, auth, case_in
from tests.support.cohandled_month import JulyCases, july_month
from tests.support.fold_oracle import demo_config, make_runtime

LEADER = {"Authorization": "Bearer demo-leader-token"}
ADMIN = {"Authorization": "Bearer demo-admin-token"}
AS_OF = dt.datetime(2026, 8, 5, 10, 0, tzinfo=SHANGHAI)  # F3 is overdue then; C4's 批示 answered
JULY_WINDOW = "from=2026-07-01&to=2026-08-01"
SHEETS = {"street": "分街道", "category": "分诉求分类", "channel": "分渠道", "unit": "分承办单位"}
# A table sheet: name, key, six counts, then (rate, numerator, denominator) for each rate.
COUNTS = ("received", "accepted", "dispatched", "resolved", "returned", "rated")


@pytest.fixture(scope="module")
def july(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Runtime, JulyCases]]:
    db = tmp_path_factory.mktemp("reports") / "sanshi.db"
    rt = make_runtime(f"sqlite:///{db}")
    cases = july_month(rt)
    rt.app.clock = lambda: AS_OF
    try:
        with TestClient(create_app(rt), raise_server_exceptions=False) as client:
            yield client, rt, cases
    finally:
        rt.close()


def _workbook(client: TestClient, query: str) -> tuple[Any, Any]:
    r = client.get(f"/api/reports?{query}&format=xlsx", headers=LEADER)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    return load_workbook(io.BytesIO(r.content)), r


def _table(ws: Worksheet) -> dict[str, list[Any]]:
    """Key → the row's cells; the total (合计) under "total"."""
    out: dict[str, list[Any]] = {}
    for row in ws.iter_rows(min_row=2):
        name = row[0].value
        if name is None:
            continue
        out["total" if str(name).startswith("合计") else (row[1].value or "")] = list(row)
    return out


def _assert_row_equals_api(cells: list[Any], api: dict[str, Any], total: bool = False) -> None:
    assert cells[0].value == (f"合计（{api['name']}）" if total else api["name"])
    for i, f in enumerate(COUNTS, start=2):
        assert cells[i].value == api[f], f
        assert isinstance(cells[i].value, int)
    first = 2 + len(COUNTS)
    for j, term in enumerate(rates()):
        value, numerator, denominator = cells[first + 3 * j : first + 3 * j + 3]
        expected = api[term.code]
        # A real number, not text; Excel keeps 15 significant digits (openpyxl writes so many).
        if expected["value"] is None:
            assert value.value is None, term.code
        else:
            assert value.value == pytest.approx(expected["value"], rel=1e-13, abs=0), term.code
        assert value.value is None or isinstance(value.value, int | float)  # 100% reads back as 1
        assert value.number_format == "0.00%"
        assert (numerator.value, denominator.value) == (expected["numerator"], expected["denominator"])


def test_the_monthly_workbook_holds_the_numbers_of_the_stats_api(july: Any) -> None:
    client, rt, cases = july
    wb, response = _workbook(client, "period=2026-07")
    # The file name says the period: Chinese for filename*, ASCII for the rest.
    disposition = response.headers["content-disposition"]
    assert 'filename="sanshi-month-2026-07.xlsx"' in disposition
    assert "filename*=UTF-8''" + quote("三事月报_2026-07.xlsx") in disposition
    assert wb.sheetnames == ["概览", "分街道", "分诉求分类", "分渠道", "分承办单位", "趋势", "高频诉求", "超期工单", "批示件"]

    for by, sheet in SHEETS.items():
        api = client.get(f"/api/stats?by={by}&{JULY_WINDOW}", headers=LEADER).json()
        ws = wb[sheet]
        assert ws.freeze_panes == "C2"
        assert ws["A1"].value == {"street": "街道", "category": "诉求分类", "channel": "渠道", "unit": "承办单位"}[by]
        table = _table(ws)
        assert len(table) == len(api["rows"]) + 1, by
        for row in api["rows"]:
            _assert_row_equals_api(table[row["key"]], row)
        _assert_row_equals_api(table["total"], api["total"], total=True)

    # 概览: the seven rates of the district, numerator and denominator beside each.
    total = client.get(f"/api/stats?{JULY_WINDOW}", headers=LEADER).json()["total"]
    overview = {row[0].value: row for row in wb["概览"].iter_rows(min_row=5, max_row=11)}
    for term in rates():
        row = overview[term.label]
        assert (row[1].value, row[2].value) == (total[term.code]["numerator"], total[term.code]["denominator"])
        assert row[3].value == pytest.approx(total[term.code]["value"], rel=1e-13, abs=0)
        assert row[3].number_format == "0.00%"
    # The hand count of July: 办结率 12/13, 满意率 4/5.
    assert f"{overview['办结率'][3].value:.2%}" == "92.31%" and overview["满意率"][3].value == 0.8

    # 趋势: a row per day of July, a line chart over it; the days add up to the month.
    trend = wb["趋势"]
    days = [r for r in trend.iter_rows(min_row=2, values_only=True)]
    assert len(days) == 31 and days[0][0] == dt.datetime(2026, 7, 1)
    assert sum(d[1] for d in days) == total["received"] == 15
    assert len(trend._charts) == 1

    # 高频诉求: June had nothing, so every July category and street rose; 市政设施 (C1-C5, F1,
    # M: 7) most, and it is a 每月一题 candidate.
    rises = [r for r in wb["高频诉求"].iter_rows(min_row=2, values_only=True)]
    first = rises[0]
    assert (first[0], first[1], first[3], first[4], first[5], first[7]) == ("诉求分类", "市政设施", 7, 0, 7, "是")
    assert not any(r[7] == "是" and not r[2] for r in rises), "a case without a category is no topic"

    # 超期工单 as of 5 August: F3, still with 生态环境 past its handling deadline.
    overdue = [r for r in wb["超期工单"].iter_rows(min_row=2, values_only=True)]
    assert [r[0] for r in overdue] == [str(r["case_id"]) for r in rt.read_model.overdue(AS_OF)]
    assert [r[0] for r in overdue] == [str(cases.ids["F3"])]
    assert overdue[0][6] == "办理时限"
    # 批示件: C4's, answered on time.
    instructions = wb["批示件"]
    assert [c.value for c in instructions[1]][:8] == ["批示件", 1, "批示", 1, "已回复", 1, "按时回复", 1]
    assert instructions["A4"].value == str(cases.ids["C4"])


def test_a_filtered_weekly_report_is_the_stats_api_with_that_filter(july: Any) -> None:
    client, _, _ = july
    wb, response = _workbook(client, "period=2026-W28&street=zhongjie")
    disposition = response.headers["content-disposition"]
    assert "filename*=UTF-8''" + quote("三事周报_2026-W28_街道-中街街道.xlsx") in disposition
    assert 'filename="sanshi-week-2026-W28-street-zhongjie.xlsx"' in disposition
    window = "from=2026-07-06&to=2026-07-13&street=zhongjie"
    for by in ("category", "channel", "street"):
        api = client.get(f"/api/stats?by={by}&{window}", headers=LEADER).json()
        table = _table(wb[SHEETS[by]])
        for row in api["rows"]:
            _assert_row_equals_api(table[row["key"]], row)
        _assert_row_equals_api(table["total"], api["total"], total=True)
    # A unit's counts cannot be cut by street (ReadModel.stats): the sheet says so.
    assert wb["分承办单位"]["A2"].value == "按街道、分类或渠道筛选时不能按承办单位统计"
    days = [r for r in wb["趋势"].iter_rows(min_row=2, values_only=True)]
    assert [d[0].date() for d in days] == [dt.date(2026, 7, 6) + dt.timedelta(days=i) for i in range(7)]


def test_the_json_and_the_print_page_carry_the_same_figures(july: Any) -> None:
    client, _, _ = july
    body = client.get("/api/reports?period=2026-07", headers=LEADER).json()
    assert body["total"] == client.get(f"/api/stats?{JULY_WINDOW}", headers=LEADER).json()["total"]
    assert (body["period"]["kind"], body["period"]["label"], body["file_name"]) == ("month", "2026年7月", "三事月报_2026-07.xlsx")
    page = client.get("/api/reports?period=2026-07&format=html", headers=LEADER)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    # The stylesheet by its absolute address: the web UI opens the page at a blob: address.
    assert re.search(r'<link rel="stylesheet" href="http://[^"]+/static/report\.css">', html)
    assert "<script" not in html
    assert "海城区三事月报 · 2026年7月" in html
    assert 'data-rate="handling_rate"><th>办结率</th><td class="rp-num rp-big">92.31%</td><td class="rp-num">12/13</td>' in html
    css = client.get("/static/report.css").text
    assert "@page { size: A4;" in css


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("period=2026-13", 422, "没有这个日期或周"),
        ("period=last-month", 422, "格式不对"),
        ("", 422, "请给出报表周期"),
        ("from=2026-07-10&to=2026-07-01", 422, "应晚于开始日期"),
        ("period=2026-07&format=pdf", 422, ""),
        ("period=2026-07&street=" + "x" * 200, 422, ""),
    ],
)
def test_a_bad_report_request_says_what_is_wrong(july: Any, query: str, status: int, says: str) -> None:
    client, _, _ = july
    r = client.get(f"/api/reports?{query}", headers=LEADER)
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message"} and says in body["message"]


def test_a_case_prints_on_its_own_page_and_the_print_is_audited(july: Any) -> None:
    client, _, cases = july
    cid = cases.ids["C4"]
    page = client.get(f"/api/cases/{cid}/print", headers=LEADER)
    assert page.status_code == 200, page.text
    html = page.text
    assert "海城区诉求工单" in html and "<script" not in html
    assert "请尽快修复，注意夜间安全" in html  # the leader's 批示 and its reply
    assert "已安排今晚抢修" in html
    assert "打印时间 2026-08-05 10:00" in html
    trail = client.get(f"/api/audit?case_id={cid}", headers=ADMIN).json()
    assert any(e["what"] == "print" and e["role"] == "leader" for e in trail)
    # Another unit cannot print it: as if it did not exist.
    other = client.get(f"/api/cases/{cid}/print", headers={"Authorization": "Bearer demo-unit-chengguan"})
    assert other.status_code == 404


# ---- the published figures through `sanshi report` -----------------------------------------------


@pytest.mark.slow
def test_the_published_figures_month_reports_92_12_97_46_83_75(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = f"sqlite:///{tmp_path / 'sanshi.db'}"
    rt = make_runtime(db, demo_config(merge_similarity=1.0))
    try:
        live_month(rt, DEFAULT)
    finally:
        rt.close()
    for key in [k for k in os.environ if k.startswith("SANSHI_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SANSHI_DB", db)
    runner = CliRunner()
    args = ["report", "--period", "2026-03", "--format", "xlsx", "--out", str(tmp_path), "--as-of", "2026-04-30T12:00"]
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "办结率 92.12%，满意率 97.46%，调解成功率 83.75%" in result.output
    path = tmp_path / "三事月报_2026-03.xlsx"
    assert str(path) in result.output
    wb = load_workbook(path)
    overview = {row[0].value: row for row in wb["概览"].iter_rows(min_row=5, max_row=11)}
    shown = {label: f"{overview[label][3].value:.2%}" for label in ("办结率", "满意率", "调解成功率")}
    assert shown == {"办结率": "92.12%", "满意率": "97.46%", "调解成功率": "83.75%"}
    assert (overview["办结率"][1].value, overview["办结率"][2].value) == (DEFAULT.resolved, DEFAULT.accepted)
    assert (overview["满意率"][1].value, overview["满意率"][2].value) == (DEFAULT.satisfied, DEFAULT.rated)
    police = _table(wb["分渠道"])["police"]
    first = 2 + len(COUNTS)
    mediation = [t.code for t in rates()].index("mediation_success_rate")
    assert [c.value for c in police[first + 3 * mediation : first + 3 * mediation + 3]] == [0.8375, 67, 80]

    # The print page of the same month, saved by the CLI with its stylesheet inside.
    page = tmp_path / "march.html"
    result = runner.invoke(main, ["report", "--period", "2026-03", "--format", "html", "--out", str(page),
                                  "--as-of", "2026-04-30T12:00"])
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    assert "@page { size: A4;" in html
    for label, figure in (("办结率", "92.12%"), ("满意率", "97.46%"), ("调解成功率", "83.75%")):
        assert f"<th>{label}</th><td class=\"rp-num rp-big\">{figure}</td>" in html
    # JSON: the figures as the API serves them.
    result = runner.invoke(main, ["report", "--period", "2026-03", "--format", "json", "--out", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    body = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert body["total"]["handling_rate"] == {"value": 0.9212, "numerator": 2303, "denominator": 2500}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--period", "2026-13"], "没有这个日期或周"),
        (["--period", "上个月"], "格式不对"),
        ([], "请给出报表周期"),
        (["--from", "2026-07-10", "--to", "2026-07-01"], "应晚于开始日期"),
        (["--period", "2026-07", "--format", "pdf"], "pdf"),
    ],
)
def test_the_cli_refuses_a_bad_period_with_exit_code_2(
    args: list[str], says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("SANSHI_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("SANSHI_DB", f"sqlite:///{tmp_path / 'empty.db'}")
    result = CliRunner().invoke(main, ["report", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert not list(tmp_path.glob("*.xlsx"))


def test_a_unit_prints_its_case_with_the_caller_masked() -> None:
    with api_client() as (client, runtime):
        cid = case_in(runtime, Status.DISPATCHED)
        as_unit = client.get(f"/api/cases/{cid}/print", headers=auth(ASSIGNED))
        assert as_unit.status_code == 200, as_unit.text
        assert "138****5678" in as_unit.text and "13812345678" not in as_unit.text
        assert "来电人信息已脱敏" in as_unit.text
        as_operator = client.get(f"/api/cases/{cid}/print", headers=auth(OPERATOR))
        assert "13812345678" in as_operator.text
