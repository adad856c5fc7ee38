"""退单审核, 转办, 回访未接通 and 未接通结案 (docs/lifecycle.md), with their work queues (待审退单,
待回访) and the disputed returns per unit pair (docs/http-api.md).

Each route declares one permission (policy.allow) and calls the application service; a
refused action is 409 and writes nothing (errors.py). A unit cannot review its own return:
review and transfer are the centre's (``Permission.CENTRE_ACT``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from adapters.http.errors import ERROR_RESPONSES
from adapters.http.policy import Permission, Principal, allow
from adapters.http.routes_cases import CaseJSON, parse_case_id, runtime_of, view
from adapters.http.routes_read import QueryDate, parse_day, read_model
from adapters.http.schemas import CallbackNoteBody, ReviewReturnBody, TransferBody
from adapters.jsonable import jsonable
from engine.contract import Code

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


# ---- 退单审核 and 转办 (the centre) ----------------------------------------------------------------


@router.post(
    "/cases/{case_id}/return/review",
    tags=["cases 工单"],
    summary="退单审核（中心）：同意则转派建议单位或另选单位，不同意则退回原单位并附意见",
)
def review_return(
    request: Request,
    case_id: str,
    body: ReviewReturnBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.review_return(
        parse_case_id(case_id), body.approved, principal.id, note=body.note, unit=body.unit or None
    )
    return view(request, case, principal, "review_return")


@router.post(
    "/cases/{case_id}/transfer",
    tags=["cases 工单"],
    summary="转办（中心）：把承办单位手中的工单转给另一单位，附说明",
)
def transfer(
    request: Request,
    case_id: str,
    body: TransferBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.transfer(parse_case_id(case_id), body.unit, body.note, principal.id)
    return view(request, case, principal, "transfer")


# ---- 回访未接通 and 未接通结案 (the centre) ------------------------------------------------------------


@router.post(
    "/cases/{case_id}/callback/unanswered",
    tags=["cases 工单"],
    summary="回访未接通（记一次）",
)
def callback_unanswered(
    request: Request,
    case_id: str,
    body: CallbackNoteBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.callback_unanswered(
        parse_case_id(case_id), principal.id, note=body.note
    )
    return view(request, case, principal, "callback_unanswered")


@router.post(
    "/cases/{case_id}/close/unreachable",
    tags=["cases 工单"],
    summary="未接通结案（回访未接通达到规定次数后）",
)
def close_unreachable(
    request: Request,
    case_id: str,
    body: CallbackNoteBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.close_unreachable(
        parse_case_id(case_id), principal.id, note=body.note
    )
    return view(request, case, principal, "close_unreachable")


# ---- work queues and disputed returns ------------------------------------------------------------


@router.get("/queue/returns", tags=["centre 中心"], summary="待审退单：退单时间早者在前，分页")
def return_queue(
    request: Request,
    principal: Annotated[Principal, allow(Permission.QUEUE_READ)],
    limit: Limit = 50,
    offset: Offset = 0,
    unit: Annotated[Code | None, Query(description="只看这个单位的退单")] = None,
) -> Any:
    return jsonable(read_model(request).return_review_queue(limit=limit, offset=offset, unit=unit))


@router.get("/queue/extensions", tags=["centre 中心"], summary="待审延期：承办单位的延期申请，办理时限近者在前，分页")
def extension_queue(
    request: Request,
    principal: Annotated[Principal, allow(Permission.QUEUE_READ)],
    limit: Limit = 50,
    offset: Offset = 0,
    unit: Annotated[Code | None, Query(description="只看这个单位的申请")] = None,
) -> Any:
    rt = runtime_of(request)
    page = rt.read_model.extension_review_queue(rt.app.clock(), limit=limit, offset=offset, unit=unit)
    return jsonable(page)


@router.get("/queue/followup", tags=["centre 中心"], summary="待回访：已办结、直办，等待最久者在前，分页")
def follow_up_queue(
    request: Request,
    principal: Annotated[Principal, allow(Permission.QUEUE_READ)],
    limit: Limit = 50,
    offset: Offset = 0,
    unit: Annotated[Code | None, Query(description="只看这个单位办结的工单")] = None,
) -> Any:
    rt = runtime_of(request)
    page = read_model(request).callback_queue(limit=limit, offset=offset, unit=unit)
    page["max_unanswered"] = rt.config.callback.max_unanswered
    return jsonable(page)


@router.get(
    "/stats/returns",
    tags=["stats 考核"],
    summary="退单争议：按退单单位与建议单位统计退单及审核结果",
)
def return_pairs(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    from_: Annotated[QueryDate | None, Query(alias="from")] = None,
    to: QueryDate | None = None,
    unit: Code | None = None,
) -> Any:
    return jsonable(
        read_model(request).return_pairs(
            parse_day(from_, "from"), parse_day(to, "to"), unit=unit or None
        )
    )
