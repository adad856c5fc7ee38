"""Read views (inbox, queues, stats, ranking, overdue, case list), the router preview for the
intake form, app / walk-in intake, and the audit trail.

Lists come from the read model (projections), never from replaying aggregates, and carry no
caller name or phone: personal data is only in the single-case view, whose reads are audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import StringConstraints

from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.intake import submit_record
from adapters.http.policy import Permission, Principal, allow, require_known_unit, require_own_unit
from adapters.http.routes_cases import runtime_of
from adapters.http.schemas import AppRecord, MediaRecord, TownRecord, WalkinRecord, record_dict
from adapters.http.store import ApiStore
from adapters.http.unit_view import lens_for
from adapters.http.views import category_name, unit_name
from adapters.jsonable import jsonable
from engine.application import CaseNotFound, now_shanghai
from engine.config import Role
from engine.contract import Address, Code, Content, Ref, SearchText, query_time_problem
from engine.deadlines import SHANGHAI
from engine.domain import Status
from engine.intake import Channel
from engine.routing.port import CaseFacts
from engine.vocabulary import STATS_DIMENSIONS, STATUSES, CaseList
from engine.vocabulary import as_json as vocabulary_json
from projections.queries import ReadModel

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

StatsBy = Literal["unit", "channel", "category", "street", "month", "appeal_type", "community", "case_list"]
# `2026-09-01` or an ISO 8601 time; parse_day applies the contract's query range.
QueryDate = Annotated[str, StringConstraints(max_length=64)]


def read_model(request: Request) -> ReadModel:
    return runtime_of(request).read_model


def parse_day(value: str | None, name: str) -> dt.datetime | None:
    """`2026-09-01` or a full ISO 8601 time; a date is midnight in Beijing time."""
    if value is None or value == "":
        return None
    try:
        if len(value) == 10:
            d = dt.date.fromisoformat(value)
            return query_bound(dt.datetime(d.year, d.month, d.day, tzinfo=SHANGHAI), name)
        t = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} 不是合法日期：{value[:40]}") from None
    return query_bound(t if t.tzinfo else t.replace(tzinfo=SHANGHAI), name)


def query_bound(t: dt.datetime, name: str) -> dt.datetime:
    """The input contract's range for a read route's time bound (engine.contract): a far year
    would overflow the read model's day and month arithmetic."""
    problem = query_time_problem(t)
    if problem is not None:
        raise ApiError(422, "invalid_request", f"{name} {problem}")
    return t


def _filters(**kw: str | None) -> dict[str, str]:
    return {k: v for k, v in kw.items() if v}


def figure_filters(
    street: Code | None = None,
    community: Code | None = None,
    category: Code | None = None,
    channel: Code | None = None,
    unit: Code | None = None,
    appeal_type: Code | None = None,
    case_list: CaseList | None = None,
) -> dict[str, str]:
    """The filters every figure route takes (对比表, 下钻, 趋势, 超期工单), declared once so that
    they accept the same spellings and refuse the same bad values; the ones given, by name.
    ``case_list``: one of the four lists (四张清单: problem / opinion / need / project)."""
    return _filters(
        street=street, community=community, category=category, channel=channel, unit=unit,
        appeal_type=appeal_type, case_list=case_list.value if case_list else None,
    )


FigureFilters = Annotated[dict[str, str], Depends(figure_filters)]


# ---- unit inbox and the centre's queues --------------------------------------------------------


@router.get("/units/{unit}/inbox", tags=["units 承办单位"], summary="单位工单箱：未办结工单，时限近者在前")
def inbox(
    request: Request,
    unit: str,
    principal: Annotated[Principal, allow(Permission.INBOX_READ)],
) -> Any:
    require_own_unit(principal, unit)
    require_known_unit(runtime_of(request).config, unit)
    return jsonable(_for_reader(request, principal, read_model(request).inbox(unit, now_shanghai())))


def _for_reader(
    request: Request, principal: Principal, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Rows as this reader may see them: a unit gets the fields ``unit_view`` chooses, the
    caller's name and number masked in the text."""
    lens = lens_for(principal, runtime_of(request).app, (r.get("case_id") for r in rows))
    return rows if lens is None else [lens.row(r) for r in rows]


@router.get("/queue/manual", tags=["centre 中心"], summary="中心人工派单队列")
def manual_queue(
    request: Request,
    principal: Annotated[Principal, allow(Permission.QUEUE_READ)],
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
    offset: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
) -> Any:
    # With limit or offset: counted and paged ({"total", "limit", "offset", "rows"}), as the
    # other work queues; without, the whole list (the shape older clients read).
    if limit is not None or offset is not None:
        return jsonable(read_model(request).manual_queue_page(limit or 50, offset or 0))
    return jsonable(read_model(request).manual_queue())


# 待回访 (GET /api/queue/followup, paged) is in routes_review with the other callback routes.


@router.get("/cases", tags=["cases 工单"], summary="工单列表（不含来电人信息）")
def list_cases(
    request: Request,
    principal: Annotated[Principal, allow(Permission.CASE_LIST)],
    status: Status | None = None,
    unit: Code | None = None,
    category: Code | None = None,
    channel: Channel | None = None,
    street: Code | None = None,
    q: Annotated[SearchText | None, Query(description="诉求内容（前120字）关键词")] = None,
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    filters: dict[str, Any] = _filters(
        status=status.value if status else None,
        unit=unit,
        category=category,
        channel=channel.value if channel else None,
        street=street,
        q=q,
    )
    if principal.role == Role.UNIT:
        # A unit lists only what was ever dispatched to it.
        if unit and unit != principal.unit:
            raise ApiError(403, "forbidden", "只能查看本单位的工单")
        filters["dispatched_to"] = principal.unit
    f, t = parse_day(from_, "from"), parse_day(to, "to")
    if f:
        filters["from"] = f
    if t:
        filters["to"] = t
    rows = read_model(request).cases(filters, limit, offset, now=now_shanghai())
    return jsonable(_for_reader(request, principal, rows))


# ---- leadership --------------------------------------------------------------------------------


@router.get("/stats", tags=["stats 考核"], summary="七率统计与对比表（与 sanshi stats --format json 相同）")
def stats(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    filters: FigureFilters,
    by: StatsBy | None = None,
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
    sort: Annotated[Code | None, Query(description="排序列：key/name/计数/率（按率值）")] = None,
    order: Literal["desc", "asc"] = "desc",
    format: Literal["json", "csv"] = "json",
) -> Any:
    from adapters.http.routes_leader import csv_download, export_name
    from projections.leader_queries import LeaderViews

    rm = read_model(request)
    start, end = parse_day(from_, "from"), parse_day(to, "to")
    result = jsonable(LeaderViews(rm).table(by, start, end, filters, sort, order == "desc"))
    if format == "csv":
        from adapters.cli.stats import render_csv

        what = f"七率_按{STATS_DIMENSIONS.label(by)}" if by else "七率_全区"
        ascii_what = f"sanshi-stats-{by or 'total'}"
        return csv_download(render_csv(result), *export_name(rm, what, ascii_what, start, end, filters))
    return result


@router.get("/ranking", tags=["stats 考核"], summary="承办单位排名：按单位类型分别排名，附权重与口径说明")
def ranking(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
    kind: Code | None = None,
) -> Any:
    rm = read_model(request)
    return jsonable(rm.ranking(parse_day(from_, "from"), parse_day(to, "to"), kind or None))


@router.get("/units/{unit}/figures", tags=["units 承办单位"], summary="本单位考核：七率、本类单位中的名次、月度趋势")
def unit_figures(
    request: Request,
    unit: str,
    principal: Annotated[Principal, allow(Permission.UNIT_FIGURES)],
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
) -> Any:
    if principal.role == Role.UNIT and principal.unit != unit:
        raise ApiError(403, "forbidden", "只能查看本单位的考核数据")
    require_known_unit(runtime_of(request).config, unit)
    rm = read_model(request)
    return jsonable(rm.unit_figures(unit, parse_day(from_, "from"), parse_day(to, "to")))


@router.get("/overdue", tags=["stats 考核"], summary="超期工单（可筛选、分页、导出）")
def overdue(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    filters: FigureFilters,
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    format: Literal["json", "csv"] = "json",
) -> Any:
    from adapters.http.routes_leader import csv_download, export_name, overdue_csv
    from projections.leader_queries import LeaderViews

    rm = read_model(request)
    start, end = parse_day(from_, "from"), parse_day(to, "to")
    views = LeaderViews(rm)
    s_day, e_day = (start.date() if start else None), (end.date() if end else None)
    if format == "csv":  # every row, not a page
        page = views.overdue_page(now_shanghai(), filters, s_day, e_day, None, 0)
        names = export_name(rm, "超期工单", "sanshi-overdue", start, end, filters)
        return csv_download(overdue_csv(page["rows"]), *names)
    return jsonable(views.overdue_page(now_shanghai(), filters, s_day, e_day, limit, offset))


# ---- intake form helpers -----------------------------------------------------------------------


@router.get("/routing/suggest", tags=["centre 中心"], summary="智能分拨预览：分类、承办单位、疑似重复件（不写入）")
def routing_suggest(
    request: Request,
    principal: Annotated[Principal, allow(Permission.ROUTING_SUGGEST)],
    text: Annotated[Content, Query()],
    address: Annotated[Address, Query()] = "",
    category: Annotated[Code, Query()] = "",
    urgent: bool = False,
) -> dict[str, Any]:
    rt = runtime_of(request)
    facts = CaseFacts(
        case_id=uuid.uuid4(),
        channel="hotline",
        content=text,
        address=address,
        category_hint=category,
        urgent=urgent,
        concern="worry",
        received_at=now_shanghai(),
    )
    decision = rt.router.decide(facts)
    dupes = []
    candidates = ([decision.merge_into] if decision.merge_into else []) + list(
        decision.possible_duplicates
    )
    for cand in candidates:
        item: dict[str, Any] = {
            "case_id": str(cand.case_id),
            "similarity": round(cand.similarity, 3),
            "would_merge": cand is decision.merge_into,
        }
        try:
            c = rt.app.get_case(cand.case_id)
        except CaseNotFound:
            continue
        status = Status(c.status)
        item.update(
            content=c.content[:200],
            address=c.address,
            status=status.value,
            status_name=STATUSES.label(status),
            received_at=c.received_at.isoformat(),
            unit_name=unit_name(rt.config, c.assigned_unit or c.resolved_unit),
        )
        dupes.append(item)
    return {
        "category": decision.category,
        "category_name": category_name(rt.config, decision.category),
        "confidence": round(decision.confidence, 3),
        "urgent": decision.urgent,
        "locality": decision.locality,
        "locality_name": unit_name(rt.config, decision.locality),
        "street": decision.street,
        "unit": decision.unit,
        "unit_name": unit_name(rt.config, decision.unit),
        "manual_reason": decision.manual_reason,
        "duplicates": dupes,
        "reason": jsonable(decision.reason),
    }


@router.get("/meta", tags=["centre 中心"], summary="单位、分类与词表（状态、渠道、七率等的中文名称）")
def meta(
    request: Request,
    principal: Annotated[Principal, allow(Permission.CASE_LIST)],
) -> dict[str, Any]:
    cfg = runtime_of(request).config
    return {
        "district": cfg.district.model_dump(),
        "me": {
            "role": principal.role.value,
            "unit": principal.unit,
            "unit_name": unit_name(cfg, principal.unit),
            "name": principal.name,
        },
        "units": [
            {"id": u.id, "name": u.name, "kind": u.kind.value, "parent": u.parent, "active": u.active}
            for u in cfg.units
        ],
        "categories": [{"code": c.code, "name": c.name} for c in cfg.categories],
        "statuses": STATUSES.labels(),
        # Every code with its Chinese label (engine.vocabulary): the web UI's only source of
        # the words it shows.
        "vocabulary": vocabulary_json(),
    }


# ---- app and walk-in intake (docs/channels.md) ----------------------------------------------------------


def _intake(request: Request, channel: str, record: dict[str, Any], principal: Principal) -> JSONResponse:
    submitted = submit_record(runtime_of(request), channel, record, principal.id)
    body = {
        "case_id": str(submitted.case_id) if submitted.case_id else None,
        "duplicate": submitted.duplicate,
        "status": submitted.status,
    }
    if submitted.duplicate:
        return JSONResponse(body, status_code=200)
    return JSONResponse(body, status_code=202 if submitted.case_id is None else 201)


@router.post("/intake/app", tags=["intake 受理"], status_code=201, summary="APP / 微网格 上报")
def intake_app(
    request: Request,
    record: AppRecord,
    principal: Annotated[Principal, allow(Permission.INTAKE_SUBMIT)],
) -> JSONResponse:
    return _intake(request, "app", record_dict(record), principal)


@router.post("/intake/walkin", tags=["intake 受理"], status_code=201, summary="到点反映 / 网格员代办")
def intake_walkin(
    request: Request,
    record: WalkinRecord,
    principal: Annotated[Principal, allow(Permission.INTAKE_SUBMIT)],
) -> JSONResponse:
    return _intake(request, "walkin", record_dict(record), principal)


@router.post("/intake/media", tags=["intake 受理"], status_code=201, summary="媒体监督（已发布的报道）")
def intake_media(
    request: Request,
    record: MediaRecord,
    principal: Annotated[Principal, allow(Permission.INTAKE_SUBMIT)],
) -> JSONResponse:
    return _intake(request, "media", record_dict(record), principal)


@router.post("/intake/town", tags=["intake 受理"], status_code=201, summary="镇呼市应（街道请求部门）")
def intake_town(
    request: Request,
    record: TownRecord,
    principal: Annotated[Principal, allow(Permission.INTAKE_SUBMIT)],
) -> JSONResponse:
    return _intake(request, "town", record_dict(record), principal)


# ---- audit -------------------------------------------------------------------------------------


@router.get("/audit", tags=["admin 管理"], summary="个人信息查阅记录（谁、何时、哪件工单）")
def audit_log(
    request: Request,
    principal: Annotated[Principal, allow(Permission.AUDIT_READ)],
    case_id: Annotated[Code | None, Query()] = None,
    who: Annotated[Ref | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[dict[str, Any]]:
    store: ApiStore = request.app.state.store
    return store.audit_entries(case_id=case_id, principal=who, limit=limit, offset=offset)


# ---- events the views set aside (隔离事件) -------------------------------------------------------


@router.get(
    "/admin/quarantine",
    tags=["admin 管理"],
    summary="隔离事件：统计视图无法应用、已隔离的事件（日志位置、工单、事件类型、原因）",
)
def quarantined_events(
    request: Request,
    principal: Annotated[Principal, allow(Permission.QUARANTINE_READ)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    projector = runtime_of(request).projector
    # Embedded mode: catch the views up first, as every other read does (what the log holds
    # now and cannot be applied is listed now).
    fresh = read_model(request).before_read
    if fresh is not None:
        fresh()
    rows = projector.quarantined(limit=limit, offset=offset)
    return {"total": projector.quarantined_count(), "rows": jsonable(rows)}
