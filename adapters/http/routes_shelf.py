"""认领大厅 routes (docs/http-api.md, docs/lifecycle.md "The open shelf"): the centre puts a case
on the shelf (上架) or takes it off (下架) and decides the claims (认领审核); a unit (a helper
outside government or a department) sees the items of the services it offers and applies to
claim one (认领申请); a unit's own claims; the helpers' figures (社会力量与微服务).

A unit never sees a case through the shelf: it reads the centre's summary of the item, and the
case itself only once the centre has accepted its claim (the case is then dispatched to it, and
read like any case of its inbox). A case that is not on the shelf, or whose service the unit
does not offer, answers a unit's claim exactly as a case that does not exist (404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.policy import (
    Permission,
    Principal,
    acting_unit,
    allow,
    require_known_unit,
    require_own_unit,
)
from adapters.http.routes_cases import CaseJSON, parse_case_id, runtime_of, view
from adapters.http.routes_read import QueryDate, parse_day
from adapters.http.schemas import _Body
from adapters.jsonable import jsonable
from engine.application import CaseNotFound
from engine.config import Role
from engine.contract import Note, Reason, RequiredCode
from projections.shelf_queries import ShelfViews

router = APIRouter(prefix="/api", tags=["shelf 认领大厅"], responses=ERROR_RESPONSES)


class ShelveBody(_Body):
    service: RequiredCode = Field(description="所需服务（服务菜单代码，如 elderly_care 助老）")
    summary: Reason = Field(description="需求说明：认领单位看到的内容，不写来电人姓名和号码")


class UnshelveBody(_Body):
    note: Note = Field("", description="下架说明")


class ClaimBody(_Body):
    note: Reason = Field(description="认领说明：如何办理、何时到场")


class DecideClaimBody(_Body):
    accepted: bool = Field(description="true 同意认领（派给认领单位）；false 拒绝（仍在认领大厅）")
    note: Note = Field("", description="审核意见；拒绝时必填，认领单位可见")


@router.get("/shelf", summary="认领大厅：上架待认领的事项（单位只见本单位服务清单内的事项及本单位的申请）")
def shelf(
    request: Request,
    principal: Annotated[Principal, allow(Permission.SHELF_READ)],
) -> Any:
    unit = acting_unit(principal) if principal.role == Role.UNIT else None
    return jsonable(ShelfViews(runtime_of(request).read_model).items(unit))


@router.get(
    "/units/{unit}/claims",
    tags=["units 承办单位"],
    summary="本单位的认领申请及审核结果，新者在前",
)
def unit_claims(
    request: Request,
    unit: str,
    principal: Annotated[Principal, allow(Permission.INBOX_READ)],
) -> Any:
    require_own_unit(principal, unit)
    rt = runtime_of(request)
    require_known_unit(rt.config, unit)
    return jsonable(ShelfViews(rt.read_model).claims_of(unit))


@router.post("/cases/{case_id}/shelf", summary="上架认领（中心：工单在中心待派单时，放入认领大厅）")
def shelve(
    request: Request,
    case_id: str,
    body: ShelveBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.shelve(
        parse_case_id(case_id), body.service, body.summary, principal.id
    )
    return view(request, case, principal, "shelve")


@router.post("/cases/{case_id}/shelf/withdraw", summary="下架（中心；待审核的认领申请失效）")
def unshelve(
    request: Request,
    case_id: str,
    body: UnshelveBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.unshelve(parse_case_id(case_id), principal.id, note=body.note)
    return view(request, case, principal, "unshelve")


@router.post("/cases/{case_id}/claims", status_code=201, summary="认领申请（单位：认领大厅中本单位服务清单内的事项）")
def apply_claim(
    request: Request,
    case_id: str,
    body: ClaimBody,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> Any:
    rt = runtime_of(request)
    unit = acting_unit(principal)
    case = rt.app.get_case(parse_case_id(case_id))
    if unit not in case.units_ever and not rt.app.shelf_visible_to(case, unit):
        raise CaseNotFound(case.id)  # not on the shelf for this unit: as if absent
    case = rt.app.apply_claim(case.id, unit, body.note, principal.id)
    claim = case.shelf_claims[-1]
    # The applicant learns of its claim, not of the case (which it may not read yet).
    return jsonable(
        {
            "case_id": case.id,
            "number": claim["number"],
            "unit": claim["unit"],
            "note": claim["note"],
            "state": claim["state"],
            "applied_at": claim["at"],
        }
    )


@router.post(
    "/cases/{case_id}/claims/{number}/decide",
    summary="认领审核（中心）：同意则派给认领单位，拒绝须写理由且事项仍在认领大厅",
)
def decide_claim(
    request: Request,
    case_id: str,
    number: int,
    body: DecideClaimBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    if not 1 <= number <= 10_000:
        raise ApiError(422, "invalid_request", "认领申请序号 number 须在 1–10000 之间")
    case = runtime_of(request).app.decide_claim(
        parse_case_id(case_id), number, body.accepted, principal.id, note=body.note
    )
    return view(request, case, principal, "decide_claim")


@router.get(
    "/stats/helpers",
    tags=["stats 考核"],
    summary="社会力量与微服务：社会企业、社会组织、志愿服务队的微服务数、认领与满意率（不计入承办单位排名）",
)
def helper_figures(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
) -> Any:
    start, end = parse_day(from_, "from"), parse_day(to, "to")
    rm = runtime_of(request).read_model
    return jsonable(
        ShelfViews(rm).figures(start.date() if start else None, end.date() if end else None)
    )
