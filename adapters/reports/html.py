"""The print pages: a report (projections.reports.Report) and one case (工单打印) as HTML for A4.

Every value is escaped; the page has no script and no inline ``style`` (the server's CSP allows
neither): its look is adapters/web/static/report.css, linked from the page, or written into it
(``inline_css``) for a file the CLI saves, which is opened without the server. The chart is SVG
drawn with presentation attributes. The web UI (reports.js) shows the same ``.sheet`` element
inside the app, so what the leader previews is what prints.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from adapters.web import static_dir
from engine.deadlines import SHANGHAI
from engine.vocabulary import CHANNELS, DEADLINE_KINDS, RATINGS, STATS_DIMENSIONS, rates
from projections.reports import Report

CSS_PATH = "/static/report.css"
# The print page lists this many overdue cases and 批示件; the workbook has all of them.
PRINT_ROWS = 40
# A case fits one A4 page: its content and history are cut to this much (the system has all).
CASE_CONTENT_CHARS = 700
CASE_EVENTS = 14
EVENT_NOTE_CHARS = 40
RESULT_CHARS = 200
# What an event's note says, by the field its type carries.
NOTE_FIELDS = ("result", "reason", "note", "text", "reply", "comment", "summary")


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _document(
    title: str, body: str, inline_css: bool, page_class: str, css_href: str = CSS_PATH
) -> str:
    if inline_css:
        css = (static_dir() / "report.css").read_text(encoding="utf-8")
        head_css = f"<style>\n{css}\n</style>"
    else:
        head_css = f'<link rel="stylesheet" href="{_e(css_href)}">'
    return (
        "<!doctype html>\n"
        '<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n{head_css}\n</head>\n"
        f'<body class="print-page">\n<article class="sheet {page_class}">\n{body}\n</article>\n'
        "</body>\n</html>\n"
    )


def _percent(r: Mapping[str, Any] | None) -> str:
    if r is None or r.get("value") is None:
        return "—"
    return f"{r['value'] * 100:.2f}%"


def _rate_cell(r: Mapping[str, Any]) -> str:
    return (
        f'<td class="rp-num"><span class="rp-rate">{_percent(r)}</span>'
        f'<small>{r["numerator"]}/{r["denominator"]}</small></td>'
    )


def _local(value: Any) -> str:
    """A time as Beijing wall-clock minutes (the views store UTC)."""
    if value is None or value == "":
        return "—"
    t: dt.datetime
    if isinstance(value, str):
        try:
            t = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    elif isinstance(value, dt.datetime):
        t = value
    else:
        return str(value)
    t = t if t.tzinfo else t.replace(tzinfo=dt.UTC)
    return t.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


# ---- the report ------------------------------------------------------------------------------------


def render_report_html(report: Report, inline_css: bool = False, css_href: str = CSS_PATH) -> str:
    p = report.period
    parts = [
        f'<header class="rp-sheet-head"><h1 data-testid="report-title">{_e(report.title)}</h1>',
        f'<p class="rp-meta">受理日期 {p.start.isoformat()} 至 {p.last_day.isoformat()}（北京时间）'
        f" · 对比上期 {_e(report.previous.label)}"
        f" · 超期与批示截至 {_local(report.generated_at)}</p></header>",
        _overview(report),
        _trend(report),
    ]
    for table in report.tables:
        parts.append(_table(table.title, STATS_DIMENSIONS.label(table.by), table.rows, table.total, table.note))
    parts += [_rises(report), _overdue(report), _instructions(report)]
    return _document(report.title, "\n".join(parts), inline_css, "report-sheet", css_href)


def _overview(report: Report) -> str:
    rows = []
    for term in rates():
        now, before = report.total[term.code], report.previous_total[term.code]
        change = "—"
        if now["value"] is not None and before["value"] is not None:
            change = f"{(now['value'] - before['value']) * 100:+.2f}"
        rows.append(
            f'<tr data-rate="{term.code}"><th>{_e(term.label)}</th>'
            f'<td class="rp-num rp-big">{_percent(now)}</td>'
            f'<td class="rp-num">{now["numerator"]}/{now["denominator"]}</td>'
            f'<td class="rp-num">{_percent(before)}</td><td class="rp-num">{change}</td></tr>'
        )
    t = report.total
    counts = (
        f'<p class="rp-counts">受理 <b>{t["received"]}</b> 件（有效受理 {t["accepted"]}，合并 {t["merged"]}，'
        f'不予受理 {t["rejected"]}） · 派单 {t["dispatched"]} · 办结 {t["resolved"]} · '
        f'退单 {t["returned"]} · 回访 {t["followups"]} · 上期受理 {report.previous_total["received"]}</p>'
    )
    return (
        '<section class="rp-overview"><h2>七率概览</h2>' + counts
        + '<table class="rp-rates" data-testid="report-rates"><thead><tr><th>指标</th><th>本期</th>'
        "<th>分子/分母</th><th>上期</th><th>变化（百分点）</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table></section>"
    )


def _trend(report: Report) -> str:
    rows = report.trend
    if not rows:
        return ""
    width, height, pad_l, pad_b, pad_t = 680, 170, 34, 22, 10
    top = max([1] + [max(int(r["received"]), int(r["resolved"])) for r in rows])
    n = len(rows)
    step = (width - pad_l - 6) / n
    inner = height - pad_b - pad_t

    def y(v: Any) -> float:
        return float(pad_t + inner * (1 - int(v) / top))

    bars, points, labels = [], [], []
    every = max(1, -(-n // 12))  # at most a dozen dates under the axis
    for i, r in enumerate(rows):
        x = pad_l + i * step
        bars.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{y(r["received"]):.1f}" width="{step * 0.7:.1f}" '
            f'height="{pad_t + inner - y(r["received"]):.1f}" fill="#9cb9dc"><title>{_e(r["name"])} 受理 {r["received"]}</title></rect>'
        )
        points.append(f"{x + step / 2:.1f},{y(r['resolved']):.1f}")
        if i % every == 0:
            label = r["key"][5:] if report.trend_unit == "day" else r["key"]
            labels.append(
                f'<text x="{x + step / 2:.1f}" y="{height - 6}" font-size="9" text-anchor="middle" fill="#555">{_e(label)}</text>'
            )
    axis = (
        f'<line x1="{pad_l}" y1="{pad_t + inner}" x2="{width}" y2="{pad_t + inner}" stroke="#888"/>'
        f'<text x="{pad_l - 4}" y="{pad_t + 8}" font-size="9" text-anchor="end" fill="#555">{top}</text>'
        f'<text x="{pad_l - 4}" y="{pad_t + inner}" font-size="9" text-anchor="end" fill="#555">0</text>'
    )
    line = f'<polyline points="{" ".join(points)}" fill="none" stroke="#1d5fa8" stroke-width="2"/>'
    svg = (
        f'<svg class="rp-chart" viewBox="0 0 {width} {height}" role="img" aria-label="受理与办结趋势" '
        f'xmlns="http://www.w3.org/2000/svg">{axis}{"".join(bars)}{line}{"".join(labels)}</svg>'
    )
    unit = "按日" if report.trend_unit == "day" else "按月"
    return (
        f'<section class="rp-trend"><h2>趋势（{unit}）</h2>'
        '<p class="rp-legend"><span class="rp-key rp-bar"></span>受理 <span class="rp-key rp-line"></span>办结</p>'
        f"{svg}</section>"
    )


def _table(
    title: str,
    by_label: str,
    rows: Sequence[Mapping[str, Any]],
    total: Mapping[str, Any] | None,
    note: str,
) -> str:
    head = f"<th>{_e(by_label)}</th><th>受理</th><th>办结</th>" + "".join(
        f"<th>{_e(t.label)}</th>" for t in rates()
    )
    if note:
        body = f'<tr><td colspan="{3 + len(rates())}" class="rp-note">{_e(note)}</td></tr>'
    else:
        lines = [_row(r, r["name"]) for r in rows]
        if total is not None:
            lines.append(_row(total, f"合计（{total['name']}）", "rp-total"))
        body = "".join(lines)
    return (
        f'<section class="rp-breakdown"><h2>{_e(title)}</h2><table class="rp-grid">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
    )


def _row(r: Mapping[str, Any], name: str, cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    cells = "".join(_rate_cell(r[t.code]) for t in rates())
    return (
        f'<tr{attr}><th>{_e(name)}</th><td class="rp-num">{r["received"]}</td>'
        f'<td class="rp-num">{r["resolved"]}</td>{cells}</tr>'
    )


def _rises(report: Report) -> str:
    if not report.rises:
        body = '<tr><td colspan="7" class="rp-note">已按街道和分类筛选，或本期无受理</td></tr>'
    else:
        body = "".join(
            f'<tr{" class=rp-candidate" if r.candidate else ""}><td>{_e(STATS_DIMENSIONS.label(r.kind))}</td>'
            f"<th>{_e(r.name)}</th><td class=rp-num>{r.received}</td><td class=rp-num>{r.previous}</td>"
            f"<td class=rp-num>{r.change:+d}</td>"
            f"<td class=rp-num>{'—' if r.change_ratio is None else f'{r.change_ratio * 100:+.1f}%'}</td>"
            f"<td>{'每月一题候选' if r.candidate else ''}</td></tr>"
            for r in report.rises
        )
    return (
        '<section class="rp-rises"><h2>高频诉求（较上期增加最多的分类与街道）</h2><table class="rp-grid">'
        "<thead><tr><th>类型</th><th>名称</th><th>本期</th><th>上期</th><th>增加</th><th>增幅</th><th></th>"
        f"</tr></thead><tbody>{body}</tbody></table></section>"
    )


def _more(total: int) -> str:
    return (
        f'<p class="rp-note">共 {total} 件，此处列出前 {PRINT_ROWS} 件，全部见 Excel 报表。</p>'
        if total > PRINT_ROWS
        else ""
    )


def _overdue(report: Report) -> str:
    rows = report.overdue
    body = "".join(
        f"<tr><td>{_e(r.get('order_no') or str(r['case_id'])[:8])}</td><td>{_local(r.get('received_at'))}</td>"
        f"<td>{_e(r.get('unit_name'))}</td><td>{_e(r.get('category_name'))}</td>"
        f"<td>{_e(DEADLINE_KINDS.label(r.get('overdue_kind')) if r.get('overdue_kind') else '')}</td>"
        f"<td>{_local(r.get('claim_deadline') if r.get('overdue_kind') == 'claim' else r.get('handle_deadline'))}</td></tr>"
        for r in rows[:PRINT_ROWS]
    ) or '<tr><td colspan="6" class="rp-note">无超期工单</td></tr>'
    return (
        f'<section class="rp-overdue"><h2>超期工单（{len(rows)} 件）</h2><table class="rp-grid">'
        "<thead><tr><th>工单</th><th>受理时间</th><th>承办单位</th><th>分类</th><th>超期环节</th><th>时限</th>"
        f"</tr></thead><tbody>{body}</tbody></table>{_more(len(rows))}</section>"
    )


def _instructions(report: Report) -> str:
    c = report.instruction_counts
    rows = report.instructions
    body = "".join(
        f"<tr><td>{_e(str(r['case_id'])[:8])}</td><td>{_local(r.get('received_at'))}</td>"
        f"<td>{_e(r.get('unit_name') or '')}</td><td>{_e(r.get('status_name'))}</td>"
        f"<td class=rp-num>{r.get('instructions_answered')}/{r.get('instructions')}</td>"
        f"<td>{_local(r.get('instruction_due')) if r.get('instruction_due') else '已回复'}"
        f"{'（已超期）' if r.get('instruction_overdue') else ''}</td></tr>"
        for r in rows[:PRINT_ROWS]
    ) or '<tr><td colspan="6" class="rp-note">无批示件</td></tr>'
    return (
        f'<section class="rp-instructions"><h2>批示件（{c.get("cases", 0)} 件）</h2>'
        f'<p class="rp-counts">批示 {c.get("instructions", 0)} 次 · 已回复 {c.get("answered", 0)}'
        f' · 按时回复 {c.get("answered_on_time", 0)} · 待回复 {c.get("pending", 0)}'
        f' · 待回复已超期 {c.get("pending_overdue", 0)}</p><table class="rp-grid">'
        "<thead><tr><th>工单</th><th>受理时间</th><th>承办单位</th><th>状态</th><th>回复/批示</th><th>回复期限</th>"
        f"</tr></thead><tbody>{body}</tbody></table>{_more(len(rows))}</section>"
    )


# ---- 工单打印: one case on one A4 page ------------------------------------------------------------


def _cut(text: Any, n: int) -> str:
    t = "" if text is None else " ".join(str(text).split())
    return t if len(t) <= n else t[:n] + "…"


def _event_note(e: Mapping[str, Any]) -> str:
    data = e.get("data")
    if not isinstance(data, dict):
        return ""
    return next((str(data[f]) for f in NOTE_FIELDS if isinstance(data.get(f), str) and data[f]), "")


def render_case_html(
    case: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    district: str,
    printed_at: dt.datetime,
    inline_css: bool = False,
    css_href: str = CSS_PATH,
) -> str:
    """``case``: the case as the caller may see it (adapters.http.views.case_view: a unit's
    copy is masked); ``events``: its history as the caller may see it."""
    d = case.get("dispatch") or {}
    number = case.get("order_no") or case.get("id")
    content = str(case.get("content") or "")
    if len(content) > CASE_CONTENT_CHARS:
        content = content[:CASE_CONTENT_CHARS] + "……（全文见系统）"
    # A long address would push the page over: the fields keep to one line each.
    case = {**case, "address": _cut(case.get("address"), 60)}
    phone = case.get("caller_phone") or "—"
    if case.get("masked") and case.get("confidential"):
        phone = "保密件，请联系中心转达"
    fields = [
        ("工单编号", number),
        ("状态", case.get("status_name")),
        ("渠道", CHANNELS.label(case.get("channel"))),
        ("受理时间", _local(case.get("received_at"))),
        ("来电人", case.get("caller_name") or "—"),
        ("联系电话", phone),
        ("诉求地址", case.get("address") or "—"),
        ("属地", case.get("street_name") or "—"),
        ("分类", case.get("category_name") or "—"),
        ("承办单位", case.get("assigned_unit_name") or d.get("unit_name") or "—"),
        ("签收时限", _local(d.get("claim_deadline")) if d else "—"),
        ("办理时限", _local(d.get("handle_deadline")) if d else "—"),
        ("办结时间", _local(case.get("resolved_at"))),
        ("回访评价", RATINGS.label(case.get("rating")) if case.get("rating") else "—"),
    ]
    cells = [f"<th>{_e(k)}</th><td>{_e(v)}</td>" for k, v in fields]
    grid = "".join(f"<tr>{''.join(cells[i : i + 2])}</tr>" for i in range(0, len(cells), 2))
    flags = [
        label
        for label, on in (("紧急", case.get("urgent")), ("保密件", case.get("confidential")),
                          ("来电人信息已脱敏", case.get("masked")))
        if on
    ]
    instructions = "".join(
        f"<li>{_local(i.get('at'))} {_e(_cut(i.get('text') or '', EVENT_NOTE_CHARS))}"
        f"{'（已回复：' + _e(_cut(i.get('reply'), EVENT_NOTE_CHARS)) + '）' if i.get('reply') else ''}</li>"
        for i in (case.get("instructions") or [])[:3]
    )
    history = list(events)
    shown = history[-CASE_EVENTS:]
    timeline = "".join(
        f"<tr><td>{_local(e.get('at') or e.get('recorded_at'))}</td><td>{_e(e.get('type_name'))}</td>"
        f"<td>{_e(e.get('unit_name') or '')}</td><td>{_e(_cut(_event_note(e), EVENT_NOTE_CHARS))}</td></tr>"
        for e in shown
    )
    results = [
        str(e["data"]["result"]) for e in history
        if isinstance(e.get("data"), dict) and e["data"].get("result")
    ]
    result = _cut(results[-1], RESULT_CHARS) if results else ""
    earlier = (
        f'<p class="rp-note">（此前另有 {len(history) - len(shown)} 条记录，见系统）</p>'
        if len(history) > len(shown)
        else ""
    )
    body = (
        f'<header class="rp-sheet-head"><h1>{_e(district)}诉求工单</h1>'
        f'<p class="rp-meta">工单编号 <b data-testid="print-order-no">{_e(number)}</b>'
        f"{' · ' + _e('、'.join(flags)) if flags else ''} · 打印时间 {_local(printed_at)}</p></header>"
        f'<table class="rp-fields">{grid}</table>'
        f'<h2>诉求内容</h2><div class="rp-content" data-testid="print-content">{_e(content)}</div>'
        + (f"<h2>领导批示</h2><ul class=\"rp-instr\">{instructions}</ul>" if instructions else "")
        + (f"<h2>办理结果</h2><div class=\"rp-result\">{_e(result)}</div>" if result else "")
        + f'<h2>办理过程</h2><table class="rp-grid rp-timeline"><thead><tr><th>时间</th><th>事项</th>'
        f"<th>单位</th><th>说明</th></tr></thead><tbody>{timeline}</tbody></table>{earlier}"
        '<table class="rp-sign"><tr><th>承办人</th><td></td><th>审核人</th><td></td><th>日期</th><td></td></tr></table>'
    )
    return _document(f"工单 {number}", body, inline_css, "case-sheet", css_href)
