"""主办/协办 and 吹哨报到 routes (docs/http-api.md): the centre adds assisting units and closes a
part, the street or community leading a case whistles departments in, an assisting unit claims
(报到), reports (协办反馈) or returns its part; a unit's 协办待反馈 queue; the figures.

Each route declares one permission (policy.allow) and calls the application service; a refused
action is 409/422 and writes nothing (errors.py), as for every lifecycle command.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.policy import (
    Permission,
    Principal,
    acting_unit,
    allow,
    require_known_unit,
    require_own_unit,
)
from adapters.http.routes_cases import CaseJSON, _unit_case, parse_case_id, runtime_of, view
from adapters.http.routes_read import QueryDate, _for_reader, parse_day
from adapters.http.schemas import (
    AssistBody,
    ClosePartBody,
    PartReportBody,
    PartReturnBody,
    WhistleBody,
)
from adapters.jsonable import jsonable
from projections.coop_queries import CoopViews

router = APIRouter(prefix="/api", tags=["coop 主办/协办"], responses=ERROR_RESPONSES)


@router.post("/cases/{case_id}/assist", summary="增派协办单位（中心；主办单位办理中）")
def add_assist(
    request: Request,
    case_id: str,
    body: AssistBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.add_assist(
        parse_case_id(case_id), body.units, principal.id, note=body.note
    )
    return view(request, case, principal, "add_assist")


@router.post("/cases/{case_id}/parts/{number}/close", summary="关闭协办任务（中心，须写意见）")
def close_part(
    request: Request,
    case_id: str,
    number: int,
    body: ClosePartBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    if not 1 <= number <= 10_000:
        raise ApiError(422, "invalid_request", "协办任务序号 number 须在 1–10000 之间")
    case = runtime_of(request).app.close_part(
        parse_case_id(case_id), number, body.note, principal.id
    )
    return view(request, case, principal, "close_part")


@router.post("/cases/{case_id}/whistle", summary="吹哨报到（主办的街道、社区点名部门限时报到）")
def whistle(
    request: Request,
    case_id: str,
    body: WhistleBody,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.whistle(
        cid, acting_unit(principal), body.departments, body.reason, principal.id
    )
    return view(request, case, principal, "whistle")


@router.post("/cases/{case_id}/part/claim", summary="协办签收 / 报到（协办单位）")
def claim_part(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.claim_part(cid, acting_unit(principal), principal.id)
    return view(request, case, principal, "claim_part")


@router.post("/cases/{case_id}/part/report", summary="协办反馈（协办单位，填写办理情况）")
def report_part(
    request: Request,
    case_id: str,
    body: PartReportBody,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.report_part(
        cid, acting_unit(principal), body.feedback, principal.id
    )
    return view(request, case, principal, "report_part")


@router.post("/cases/{case_id}/part/return", summary="协办退回（协办单位，须说明理由）")
def return_part(
    request: Request,
    case_id: str,
    body: PartReturnBody,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.return_part(
        cid, acting_unit(principal), body.reason, principal.id
    )
    return view(request, case, principal, "return_part")


@router.get(
    "/units/{unit}/assists",
    tags=["units 承办单位"],
    summary="协办待反馈：本单位未完成的协办任务，派出早者在前",
)
def assist_queue(
    request: Request,
    unit: str,
    principal: Annotated[Principal, allow(Permission.INBOX_READ)],
) -> Any:
    require_own_unit(principal, unit)
    rt = runtime_of(request)
    require_known_unit(rt.config, unit)
    rows = CoopViews(rt.read_model).assist_queue(unit, rt.app.clock())
    shaped = _for_reader(request, principal, rows)
    return jsonable(shaped)


@router.get("/stats/coop", tags=["stats 考核"], summary="协办与吹哨统计：协办响应/按时反馈、吹哨次数、报到率与用时")
def coop_figures(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
) -> Any:
    start, end = parse_day(from_, "from"), parse_day(to, "to")
    rm = runtime_of(request).read_model
    return jsonable(
        CoopViews(rm).figures(start.date() if start else None, end.date() if end else None)
    )
