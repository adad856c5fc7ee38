"""A report (projections.reports.Report) as an Excel workbook, with openpyxl.

Rates are real numbers (0.9212) with the ``0.00%`` format, counts integers, so a reader can sum
and chart them in Excel; every sheet has its header row frozen and Chinese headers. Sheets:
概览, 分街道, 分诉求分类, 分渠道, 分承办单位, 趋势 (with a line chart), 高频诉求, 超期工单, 批示件.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import LineChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from engine.deadlines import SHANGHAI
from engine.vocabulary import COUNTS, DEADLINE_KINDS, STATS_DIMENSIONS, rates
from projections.reports import Report

PERCENT = "0.00%"
WHEN = "yyyy-mm-dd hh:mm"
# Counts beside the rates in every table (all of them are in the API's JSON).
TABLE_COUNTS = ("received", "accepted", "dispatched", "resolved", "returned", "rated")
HEADER_FILL = PatternFill("solid", fgColor="DDE7F3")
BOLD = Font(bold=True)


def render_xlsx(report: Report) -> bytes:
    wb = Workbook()
    overview = wb.active
    assert overview is not None
    overview.title = "概览"
    _overview(overview, report)
    for table in report.tables:
        ws = wb.create_sheet(table.title[:31])
        _rates_table(ws, table.rows, table.total, STATS_DIMENSIONS.label(table.by), table.note)
    _trend(wb.create_sheet("趋势"), report)
    _rises(wb.create_sheet("高频诉求"), report)
    _overdue(wb.create_sheet("超期工单"), report)
    _instructions(wb.create_sheet("批示件"), report)
    wb.properties.title = report.title
    wb.properties.creator = "三事 sanshi"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# ---- sheets ---------------------------------------------------------------------------------------


def _overview(ws: Worksheet, report: Report) -> None:
    ws.append([report.title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([f"受理日期 {report.period.start.isoformat()} 至 {report.period.last_day.isoformat()}（北京时间）；"
               f"对比上期 {report.previous.label}；超期与批示截至 {_local(report.generated_at):%Y-%m-%d %H:%M}"])
    ws.append([])
    header = ["指标", "分子", "分母", "本期", "上期", "变化（百分点）", "分子口径", "分母口径"]
    ws.append(header)
    head_row = ws.max_row
    _style_header(ws, head_row, len(header))
    for term in rates():
        now, before = report.total[term.code], report.previous_total[term.code]
        change = (
            (now["value"] - before["value"]) * 100
            if now["value"] is not None and before["value"] is not None
            else None
        )
        ws.append([
            term.label,
            now["numerator"],
            now["denominator"],
            now["value"],
            before["value"],
            change,
            "+".join(COUNTS.label(n) for n in term.numerator),
            COUNTS.label(term.denominator),
        ])
        r = ws.max_row
        ws.cell(r, 4).number_format = PERCENT
        ws.cell(r, 5).number_format = PERCENT
        ws.cell(r, 6).number_format = "+0.00;-0.00;0.00"
    ws.append([])
    ws.append(["数量", "本期", "上期"])
    _style_header(ws, ws.max_row, 3)
    for f in ("received", "accepted", "merged", "rejected", "dispatched", "resolved", "returned",
              "followups", "rated", "notices", "accountabilities"):
        ws.append([COUNTS.label(f), report.total[f], report.previous_total[f]])
    ws.freeze_panes = ws.cell(head_row + 1, 1)
    _widths(ws, [16, 10, 10, 10, 10, 14, 22, 14])


def _rates_table(
    ws: Worksheet,
    rows: Sequence[dict[str, Any]],
    total: dict[str, Any] | None,
    by_label: str,
    note: str,
) -> None:
    header = [by_label, "编码"] + [COUNTS.label(f) for f in TABLE_COUNTS]
    for term in rates():
        header += [term.label, f"{term.label}分子", f"{term.label}分母"]
    ws.append(header)
    _style_header(ws, 1, len(header))
    ws.freeze_panes = "C2"
    if note:
        ws.append([note])
        _widths(ws, [24, 16])
        return
    for row in rows:
        _rates_row(ws, row, row["name"], row["key"])
    if total is not None:
        _rates_row(ws, total, f"合计（{total['name']}）", "")
        for c in ws[ws.max_row]:
            c.font = BOLD
    _widths(ws, [24, 16] + [9] * len(TABLE_COUNTS) + [12, 9, 9] * len(rates()))


def _rates_row(ws: Worksheet, row: dict[str, Any], name: str, key: str) -> None:
    line: list[Any] = [name, key] + [row[f] for f in TABLE_COUNTS]
    for term in rates():
        r = row[term.code]
        line += [r["value"], r["numerator"], r["denominator"]]
    ws.append(line)
    first_rate = 3 + len(TABLE_COUNTS)
    for i in range(len(rates())):
        ws.cell(ws.max_row, first_rate + 3 * i).number_format = PERCENT


def _trend(ws: Worksheet, report: Report) -> None:
    header = ["日期" if report.trend_unit == "day" else "月份", "受理", "办结",
              "办结率", "按时办结率", "满意率"]
    ws.append(header)
    _style_header(ws, 1, len(header))
    ws.freeze_panes = "B2"
    for row in report.trend:
        when: Any = dt.date.fromisoformat(row["key"]) if report.trend_unit == "day" else row["name"]
        ws.append([when, row["received"], row["resolved"], row["handling_rate"]["value"],
                   row["on_time_rate"]["value"], row["satisfaction_rate"]["value"]])
        r = ws.max_row
        if report.trend_unit == "day":
            ws.cell(r, 1).number_format = "yyyy-mm-dd"
        for c in (4, 5, 6):
            ws.cell(r, c).number_format = PERCENT
    _widths(ws, [12, 9, 9, 10, 12, 10])
    n = len(report.trend)
    if n:
        chart = LineChart()
        chart.title = "受理与办结"
        chart.y_axis.title = "件"
        chart.x_axis.title = header[0]
        chart.height, chart.width = 8, 18
        # openpyxl 3.1 leaves the axes' "deleted" flag unset, which recent Excel reads as hidden.
        chart.x_axis.delete = False
        chart.y_axis.delete = False
        chart.add_data(Reference(ws, min_col=2, max_col=3, min_row=1, max_row=n + 1), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=2, max_row=n + 1))
        if report.trend_unit == "day":
            chart.x_axis.number_format = "m-d"
        ws.add_chart(chart, "H2")


def _rises(ws: Worksheet, report: Report) -> None:
    header = ["类型", "名称", "编码", "本期受理", "上期受理", "增加", "增幅", "每月一题候选"]
    ws.append(header)
    _style_header(ws, 1, len(header))
    ws.freeze_panes = "A2"
    for r in report.rises:
        ws.append([STATS_DIMENSIONS.label(r.kind), r.name, r.key, r.received, r.previous,
                   r.change, r.change_ratio, "是" if r.candidate else ""])
        ws.cell(ws.max_row, 7).number_format = PERCENT
    if not report.rises:
        ws.append(["（已按街道或分类筛选，或本期无受理）"])
    _widths(ws, [10, 24, 18, 10, 10, 8, 10, 12])


def _overdue(ws: Worksheet, report: Report) -> None:
    header = ["工单", "受理时间", "状态", "承办单位", "分类", "街道", "超期环节", "时限", "诉求地址"]
    ws.append(header)
    _style_header(ws, 1, len(header))
    ws.freeze_panes = "A2"
    for r in report.overdue:
        kind = r.get("overdue_kind")
        deadline = r.get("claim_deadline") if kind == "claim" else r.get("handle_deadline")
        ws.append([
            str(r["case_id"]),
            _excel_time(r.get("received_at")),
            r.get("status_name"),
            r.get("unit_name"),
            r.get("category_name") or "",
            r.get("street_name") or "",
            DEADLINE_KINDS.label(kind) if kind else "",
            _excel_time(deadline),
            r.get("address") or "",
        ])
        ws.cell(ws.max_row, 2).number_format = WHEN
        ws.cell(ws.max_row, 8).number_format = WHEN
    _widths(ws, [38, 17, 10, 18, 14, 14, 10, 17, 30])


def _instructions(ws: Worksheet, report: Report) -> None:
    c = report.instruction_counts
    ws.append(["批示件", c.get("cases", 0), "批示", c.get("instructions", 0), "已回复",
               c.get("answered", 0), "按时回复", c.get("answered_on_time", 0), "待回复",
               c.get("pending", 0), "待回复已超期", c.get("pending_overdue", 0)])
    ws.append([])
    header = ["工单", "受理时间", "状态", "承办单位", "分类", "批示次数", "已回复", "按时回复",
              "回复期限", "回复超期"]
    ws.append(header)
    _style_header(ws, 3, len(header))
    ws.freeze_panes = "A4"
    for r in report.instructions:
        ws.append([
            str(r["case_id"]),
            _excel_time(r.get("received_at")),
            r.get("status_name"),
            r.get("unit_name") or "",
            r.get("category_name") or "",
            r.get("instructions"),
            r.get("instructions_answered"),
            r.get("instructions_on_time"),
            _excel_time(r.get("instruction_due")),
            "是" if r.get("instruction_overdue") else "",
        ])
        ws.cell(ws.max_row, 2).number_format = WHEN
        ws.cell(ws.max_row, 9).number_format = WHEN
    _widths(ws, [38, 17, 10, 18, 14, 9, 9, 9, 17, 9])


# ---- helpers --------------------------------------------------------------------------------------


def _style_header(ws: Worksheet, row: int, n: int) -> None:
    for col in range(1, n + 1):
        cell = ws.cell(row, col)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _widths(ws: Worksheet, widths: Iterable[int]) -> None:
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w


def _local(t: dt.datetime) -> dt.datetime:
    return t.astimezone(SHANGHAI) if t.tzinfo else t


def _excel_time(value: Any) -> dt.datetime | None:
    """Excel has no time zones: the Beijing wall-clock time, naive."""
    if value is None or value == "":
        return None
    t: dt.datetime
    if isinstance(value, str):
        t = dt.datetime.fromisoformat(value)
    elif isinstance(value, dt.datetime):
        t = value
    else:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(SHANGHAI).replace(tzinfo=None, microsecond=0)
