"""Reports (日报/周报/月报, a custom range) as JSON, Excel or a print page, and one case's print
page (工单打印). docs/reports.md; the figures are the read model's (projections/reports.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.policy import Permission, Principal, allow
from adapters.http.routes_cases import audit, load_case, runtime_of
from adapters.http.routes_read import QueryDate
from adapters.http.views import case_view, event_view
from adapters.reports.as_json import report_json
from adapters.reports.html import render_case_html, render_report_html
from adapters.reports.xlsx import render_xlsx
from engine.contract import Code
from projections.reports import PeriodError, build_report, parse_period

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PeriodText = Annotated[str, Query(max_length=32)]


def content_disposition(kind: str, name: str, ascii_name: str) -> str:
    """A Chinese file name for the browsers that read ``filename*`` (RFC 5987, all current
    ones) and an ASCII one for the rest."""
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"



def _css_href(request: Request) -> str:
    """The stylesheet's absolute address: the web UI opens the page as a document of its own
    (a blob: address, where a path like /static/report.css would not resolve)."""
    return str(request.url_for("static", path="report.css"))

@router.get(
    "/reports",
    tags=["stats 考核"],
    summary="报表：日报、周报、月报或自定区间（JSON、Excel 或打印页）",
)
def report(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    period: PeriodText | None = None,
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
    street: Code | None = None,
    category: Code | None = None,
    channel: Code | None = None,
    format: Literal["json", "xlsx", "html"] = "json",
) -> Any:
    try:
        p = parse_period(period, from_, to)
    except PeriodError as e:
        raise ApiError(422, "invalid_request", str(e)) from None
    rt = runtime_of(request)
    filters = {"street": street, "category": category, "channel": channel}
    built = build_report(rt.read_model, p, rt.app.clock(), filters)
    if format == "xlsx":
        return Response(
            render_xlsx(built),
            media_type=XLSX,
            headers={
                "Content-Disposition": content_disposition(
                    "attachment", built.file_stem() + ".xlsx", built.ascii_stem() + ".xlsx"
                )
            },
        )
    if format == "html":
        return HTMLResponse(
            render_report_html(built, css_href=_css_href(request)),
            headers={
                "Content-Disposition": content_disposition(
                    "inline", built.file_stem() + ".html", built.ascii_stem() + ".html"
                )
            },
        )
    return report_json(built)


@router.get(
    "/cases/{case_id}/print",
    tags=["cases 工单"],
    summary="工单打印：一件工单一页 A4（承办单位看到的来电人信息脱敏）",
    response_class=HTMLResponse,
)
def print_case(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.CASE_READ)],
) -> HTMLResponse:
    case = load_case(request, case_id, principal)
    # A printed case carries the caller's name and number: audited like a read.
    audit(request, principal, case, "print")
    rt = runtime_of(request)
    shown = case_view(case, principal, rt.config)
    events = [event_view(e, principal, rt.config, case) for e in rt.app.events.get(case.id)]
    return HTMLResponse(
        render_case_html(
            shown, events, rt.config.district.name, rt.app.clock(), css_href=_css_href(request)
        )
    )
