"""Leadership's reads beyond the rate card (issue 19): the cases behind a number of a
comparison table (下钻) and trends by day, week or month; with the helpers the exports share
(a file name that says the period and the filters, in Chinese, RFC 5987 ``filename*``).

The tables themselves are ``GET /api/stats`` and the overdue list ``GET /api/overdue``
(``routes_read``); what they compute is ``projections.leader_queries``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from adapters.http.errors import ERROR_RESPONSES
from adapters.http.policy import Permission, Principal, allow
from adapters.http.routes_read import FigureFilters, QueryDate, StatsBy, parse_day, read_model
from adapters.jsonable import jsonable
from engine.application import now_shanghai
from engine.contract import Code
from engine.vocabulary import CASE_LISTS, CHANNELS, DEADLINE_KINDS, STATS_DIMENSIONS
from projections.leader_queries import LeaderViews
from projections.queries import ReadModel

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

# The filters of a table, in the order a file name lists them.
FILTER_ORDER = ("street", "community", "unit", "category", "channel", "appeal_type", "case_list")


@router.get(
    "/stats/cases",
    tags=["stats 考核"],
    summary="下钻：对比表某个数字背后的工单（与表格相同的期间、筛选与行），分页",
)
def stats_cases(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    filters: FigureFilters,
    field: Annotated[Code, Query(description="计数（如 resolved、accepted）或 率.numerator / 率.denominator")],
    by: StatsBy | None = None,
    key: Annotated[Code | None, Query(description="行：by 的取值（月份为 YYYY-MM）；不给 by 即合计行")] = None,
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    start, end = parse_day(from_, "from"), parse_day(to, "to")
    views = LeaderViews(read_model(request))
    return jsonable(
        views.cell_cases(
            field, by, key, start.date() if start else None, end.date() if end else None,
            filters, limit, offset, now=now_shanghai(),
        )
    )


@router.get("/stats/trend", tags=["stats 考核"], summary="趋势：按日、周或月的受理量与七率，未结束的时段标明")
def stats_trend(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    filters: FigureFilters,
    granularity: Literal["day", "week", "month"] = "month",
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
) -> Any:
    start, end = parse_day(from_, "from"), parse_day(to, "to")
    views = LeaderViews(read_model(request))
    return jsonable(
        views.trend(
            granularity, start.date() if start else None, end.date() if end else None,
            filters, now_shanghai(),
        )
    )


# ---- exports -------------------------------------------------------------------------------


def _filter_name(rm: ReadModel, kind: str, key: str) -> str:
    if kind == "channel":
        return CHANNELS.label(key)
    if kind == "case_list":
        return CASE_LISTS.label(key)
    return rm.name_of(kind, key)


def export_name(
    rm: ReadModel,
    what: str,
    ascii_what: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    filters: Mapping[str, str],
) -> tuple[str, str]:
    """The file name of an export, in Chinese and as an ASCII fallback, saying what it is, the
    period (its last day included: ``to`` is exclusive) and every filter:
    ``七率_按街道_2026-11-01至2026-11-30_渠道-12345热线.csv``."""
    if start is None and end is None:
        period, ascii_period = "全部时间", "all"
    else:
        first = start.date().isoformat() if start else "最早"
        last = (end.date() - dt.timedelta(days=1)).isoformat() if end else "至今"
        period = f"{first}至{last}"
        ascii_period = f"{start.date().isoformat() if start else 'start'}_{(end.date() - dt.timedelta(days=1)).isoformat() if end else 'now'}"
    parts, ascii_parts = [what, period], [ascii_what, ascii_period]
    for kind in FILTER_ORDER:
        key = filters.get(kind)
        if key:
            label = "诉求类型" if kind == "appeal_type" else STATS_DIMENSIONS.label(kind)
            if kind == "unit":
                label = "单位"
            parts.append(f"{label}-{_filter_name(rm, kind, key)}")
            ascii_parts.append(f"{kind}-{key}" if key.isascii() else kind)
    name = "_".join(parts).replace("/", "-") + ".csv"
    ascii_name = "_".join(ascii_parts).replace('"', "").replace("/", "-") + ".csv"
    return name, ascii_name


def csv_download(text: str, filename: str, ascii_filename: str) -> Response:
    """CSV with a BOM (Excel in China reads the Chinese headers), named in Chinese by RFC 5987
    ``filename*`` with an ASCII ``filename`` for clients that do not read it."""
    disposition = f"attachment; filename=\"{ascii_filename}\"; filename*=UTF-8''{quote(filename, safe='')}"
    return Response(
        "\ufeff" + text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": disposition},
    )


def overdue_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(["工单", "受理时间", "状态", "分类", "街道", "社区", "承办单位", "超期", "签收时限", "办理时限", "诉求内容（前120字）"])
    for r in rows:
        kind = r.get("overdue_kind")
        w.writerow([
            r["case_id"],
            _when(r.get("received_at")),
            r.get("status_name") or "",
            r.get("category_name") or "",
            r.get("street_name") or "",
            r.get("community_name") or "",
            r.get("unit_name") or "",
            DEADLINE_KINDS.label(kind) + "超期" if kind else "",
            _when(r.get("claim_deadline")),
            _when(r.get("handle_deadline")),
            r.get("snippet") or "",
        ])
    return buf.getvalue()


def _when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)
