"""Case routes: intake by an operator, reads, and every lifecycle command of docs/http-api.md.

Each route declares one permission (policy.allow) and calls the application service, the only
write path; domain errors become 403/404/409/422 in errors.py.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from adapters.bootstrap import Runtime
from adapters.http.actors import name_actors
from adapters.http.errors import CASE_NOT_FOUND, ERROR_RESPONSES, ApiError
from adapters.http.intake import submit_record
from adapters.http.policy import (
    Permission,
    Principal,
    acting_unit,
    allow,
    can_see_case,
    sees_masked,
)
from adapters.http.schemas import (
    AnswerBody,
    ConcludeMediationBody,
    DecideExtensionBody,
    DecideHoldBody,
    DispatchBody,
    ExtendBody,
    FollowUpBody,
    HoldBody,
    HotlineRecord,
    InstructBody,
    InstructionReplyBody,
    ReclassifyBody,
    RejectBody,
    ResolveBody,
    ReturnBody,
    UrgeBody,
    record_dict,
)
from adapters.http.store import ApiStore
from adapters.http.unit_view import lens_for, lens_for_case
from adapters.http.views import case_view, event_view, notice_views
from adapters.http.views_hand import merge_fields
from adapters.jsonable import jsonable
from engine.application import CaseNotFound
from engine.config import Role
from engine.contract import Code
from engine.domain import Case

router = APIRouter(prefix="/api", tags=["cases 工单"], responses=ERROR_RESPONSES)

CaseJSON = dict[str, Any]


def runtime_of(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def parse_case_id(case_id: str) -> UUID:
    try:
        return UUID(case_id)
    except ValueError:
        raise ApiError(404, "not_found", CASE_NOT_FOUND) from None


def load_case(request: Request, case_id: str, principal: Principal) -> Case:
    """The case, if this caller may see it. A case a unit may not see answers exactly as one
    that does not exist (404, the same body; ``timing.UniformNotFound`` evens out the time):
    ids are derived from ``channel:source_ref``, so a 403 would tell another unit that an
    order number or a police incident is in the log."""
    case = runtime_of(request).app.get_case(parse_case_id(case_id))
    if not can_see_case(principal, list(case.units_ever)):
        raise CaseNotFound(case.id)
    return case


def audit(
    request: Request, principal: Principal, case: Case, what: str, masked: bool | None = None
) -> None:
    store: ApiStore = request.app.state.store
    store.record_read(
        principal=principal.id,
        role=principal.role.value,
        unit=principal.unit,
        case_id=str(case.id),
        what=what,
        masked=sees_masked(principal) if masked is None else masked,
    )


def view(request: Request, case: Case, principal: Principal, what: str) -> CaseJSON:
    """The case as this caller may see it; the answer carries personal data, so it is audited
    like a read (``what`` names the route that showed it)."""
    audit(request, principal, case, what)
    rt = runtime_of(request)
    return {**case_view(case, principal, rt.config), **merge_fields(rt.app, case, principal, rt.config)}


# ---- intake ------------------------------------------------------------------------------------


@router.post("/cases", status_code=201, summary="受理一条 12345 热线工单")
def create_case(
    request: Request,
    record: HotlineRecord,
    principal: Annotated[Principal, allow(Permission.CASE_CREATE)],
) -> JSONResponse:
    """201 with the case; the same `order_no` sent again is 200 with `duplicate: true`."""
    submitted = submit_record(runtime_of(request), "hotline", record_dict(record), principal.id)
    if submitted.status == "queued" or submitted.case_id is None:
        # Kafka mode: handed to the broker; the case appears when the worker has consumed it
        # (a re-sent record is recognised there as a duplicate).
        return JSONResponse(
            {
                "id": str(submitted.case_id) if submitted.case_id else None,
                "status": "queued",
                "duplicate": False,
            },
            status_code=202,
        )
    try:
        case = runtime_of(request).app.get_case(submitted.case_id)
    except CaseNotFound:
        return JSONResponse(
            {"id": str(submitted.case_id), "status": submitted.status, "duplicate": False},
            status_code=202,
        )
    body = view(request, case, principal, "create")
    body["duplicate"] = submitted.duplicate
    return JSONResponse(body, status_code=200 if submitted.duplicate else 201)


# ---- reads -------------------------------------------------------------------------------------


@router.get("/cases/{case_id}", summary="查看工单（承办单位仅限派给本单位的，来电人信息脱敏）")
def get_case(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.CASE_READ)],
) -> CaseJSON:
    case = load_case(request, case_id, principal)
    return view(request, case, principal, "case")


@router.get("/cases/{case_id}/events", summary="工单事件流（谁、何时、做了什么）")
def get_case_events(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.CASE_READ)],
) -> list[dict[str, Any]]:
    case = load_case(request, case_id, principal)
    audit(request, principal, case, "events")
    rt = runtime_of(request)
    events = [event_view(e, principal, rt.config, case) for e in rt.app.events.get(case.id)]
    # 通知 (docs/notifications.md): who was told, among the case's events by when.
    lens = lens_for_case(principal, case)
    for notice in notice_views(rt, case):
        events.append(notice if lens is None else lens.event(case.id, notice))
    events.sort(key=lambda e: e["recorded_at"])
    return name_actors(request, principal, events)


# ---- centre (operator) commands ----------------------------------------------------------------


@router.post("/cases/{case_id}/dispatch", summary="派单 / 转派")
def dispatch(
    request: Request,
    case_id: str,
    body: DispatchBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    rt = runtime_of(request)
    if body.assisting:  # 主办 + 协办 in one transaction (adapters/http/routes_coop.py)
        case = rt.app.dispatch_with_assist(
            parse_case_id(case_id), body.unit, body.assisting, principal.id, note=body.note
        )
        return view(request, case, principal, "dispatch")
    case = rt.app.dispatch(parse_case_id(case_id), body.unit, principal.id, note=body.note)
    return view(request, case, principal, "dispatch")


@router.post("/cases/{case_id}/extension/decide", summary="审批延期申请")
def decide_extension(
    request: Request,
    case_id: str,
    body: DecideExtensionBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.decide_extension(
        parse_case_id(case_id), body.granted, principal.id, note=body.note
    )
    return view(request, case, principal, "decide_extension")


@router.post("/cases/{case_id}/followup", summary="回访评价（不满意或未解决即重办）")
def follow_up(
    request: Request,
    case_id: str,
    body: FollowUpBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.follow_up(
        parse_case_id(case_id), body.solved, body.rating, principal.id, comment=body.comment
    )
    return view(request, case, principal, "follow_up")


@router.post("/cases/{case_id}/reclassify", summary="改分类（纠正智能分拨）")
def reclassify(
    request: Request,
    case_id: str,
    body: ReclassifyBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.reclassify(parse_case_id(case_id), body.category, principal.id)
    return view(request, case, principal, "reclassify")


@router.post("/cases/{case_id}/answer", summary="直办（话务员当场答复）")
def answer_directly(
    request: Request,
    case_id: str,
    body: AnswerBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.answer_directly(parse_case_id(case_id), body.answer, principal.id)
    return view(request, case, principal, "answer_directly")


@router.post("/cases/{case_id}/reject", summary="不予受理")
def reject(
    request: Request,
    case_id: str,
    body: RejectBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.reject(parse_case_id(case_id), body.reason, principal.id)
    return view(request, case, principal, "reject")


@router.post("/cases/{case_id}/urge", summary="催办")
def urge(
    request: Request,
    case_id: str,
    body: UrgeBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.urge(parse_case_id(case_id), body.note, principal.id)
    return view(request, case, principal, "urge")


# ---- unit commands -----------------------------------------------------------------------------


def _unit_case(request: Request, case_id: str, principal: Principal) -> UUID:
    """A unit acts only on a case dispatched to it; checked before the domain's own check so
    that another unit learns nothing about who holds the case."""
    return load_case(request, case_id, principal).id


@router.post("/cases/{case_id}/claim", summary="签收")
def claim(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = parse_case_id(case_id)
    try:
        case = runtime_of(request).app.claim(cid, acting_unit(principal), principal.id)
    except CaseNotFound:
        raise
    except Exception:
        # A claim succeeds only for the unit the case is dispatched to (the domain's own
        # check), which can see it; so the visibility read is made only when the claim is
        # refused, and a case this unit may not see is then 404 whatever the refusal said.
        # Every claim, the busiest unit command, reads its case once (bench/RESULTS.md, API).
        _unit_case(request, case_id, principal)
        raise
    return view(request, case, principal, "claim")


@router.post("/cases/{case_id}/return", summary="退单（须说明理由）")
def return_case(
    request: Request,
    case_id: str,
    body: ReturnBody,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.return_case(
        cid,
        acting_unit(principal),
        body.reason,
        principal.id,
        suggested_unit=body.suggested_unit or None,
    )
    return view(request, case, principal, "return_case")


@router.post("/cases/{case_id}/extend", summary="申请延期")
def request_extension(
    request: Request,
    case_id: str,
    body: ExtendBody,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.request_extension(
        cid, acting_unit(principal), body.until, body.reason, principal.id
    )
    return view(request, case, principal, "request_extension")


@router.post("/cases/{case_id}/mediation/start", summary="开始调解")
def start_mediation(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.start_mediation(cid, acting_unit(principal), principal.id)
    return view(request, case, principal, "start_mediation")


@router.post("/cases/{case_id}/mediation/conclude", summary="结束调解")
def conclude_mediation(
    request: Request,
    case_id: str,
    body: ConcludeMediationBody,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.conclude_mediation(
        cid, acting_unit(principal), body.agreement, body.summary, principal.id
    )
    return view(request, case, principal, "conclude_mediation")


@router.post("/cases/{case_id}/resolve", summary="办结（填写办理结果）")
def resolve(
    request: Request,
    case_id: str,
    body: ResolveBody,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.resolve(cid, acting_unit(principal), body.result, principal.id)
    return view(request, case, principal, "resolve")


@router.post(
    "/cases/{case_id}/contact",
    summary="查看联系方式（签收单位，留痕；保密件由中心转达）",
)
def reveal_contact(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> dict[str, Any]:
    """The caller's number for the unit that has claimed the case, to call the resident back.
    Recorded in the case's history (查看了联系方式: which unit, which token, when) and in the
    audit trail. 403 for a unit the case is not with, 409 before it is claimed and for a 保密件
    (保密件，请联系中心转达)."""
    cid = _unit_case(request, case_id, principal)
    case, phone = runtime_of(request).app.reveal_contact(cid, acting_unit(principal), principal.id)
    audit(request, principal, case, "contact", masked=False)
    return {"case_id": str(case.id), "caller_phone": phone}


# ---- 挂起 (suspension): the unit asks, the centre decides, either resumes ------------------------


@router.post("/cases/{case_id}/hold", summary="申请挂起（说明理由，可填预计恢复时间）")
def request_hold(
    request: Request,
    case_id: str,
    body: HoldBody,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.request_hold(
        cid,
        acting_unit(principal),
        body.reason,
        principal.id,
        expected_resume=body.expected_resume,
    )
    return view(request, case, principal, "request_hold")


@router.post("/cases/{case_id}/hold/decide", summary="审批挂起（中心；不同意须写意见）")
def decide_hold(
    request: Request,
    case_id: str,
    body: DecideHoldBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.decide_hold(
        parse_case_id(case_id), body.granted, principal.id, note=body.note
    )
    return view(request, case, principal, "decide_hold")


@router.post("/cases/{case_id}/resume", summary="恢复办理（承办单位或中心；办理时限顺延挂起的工作日）")
def resume(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.RESUME)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    unit = acting_unit(principal) if principal.role == Role.UNIT else None
    case = runtime_of(request).app.resume(cid, principal.id, unit=unit)
    return view(request, case, principal, "resume")


# ---- 领导批示: a leader writes, the unit answers, the leader tracks ------------------------------


@router.post("/cases/{case_id}/instruct", summary="领导批示（承办单位须在回复时限内回复）")
def instruct(
    request: Request,
    case_id: str,
    body: InstructBody,
    principal: Annotated[Principal, allow(Permission.LEADER_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.instruct(parse_case_id(case_id), body.text, principal.id)
    return view(request, case, principal, "instruct")


@router.post("/cases/{case_id}/instruction/reply", summary="批示回复（承办单位）")
def answer_instruction(
    request: Request,
    case_id: str,
    body: InstructionReplyBody,
    principal: Annotated[Principal, allow(Permission.UNIT_ACT)],
) -> CaseJSON:
    cid = _unit_case(request, case_id, principal)
    case = runtime_of(request).app.answer_instruction(
        cid, acting_unit(principal), body.reply, principal.id
    )
    return view(request, case, principal, "answer_instruction")


@router.get("/queue/holds", tags=["centre 中心"], summary="待审挂起：承办单位的挂起申请")
def hold_queue(
    request: Request,
    principal: Annotated[Principal, allow(Permission.QUEUE_READ)],
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
    offset: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    unit: Annotated[Code | None, Query(description="只看这个单位的申请（分页）")] = None,
) -> Any:
    rt = runtime_of(request)
    # With limit, offset or unit: counted and paged, as the other work queues; else the list.
    if limit is not None or offset is not None or unit:
        return jsonable(rt.read_model.hold_queue_page(limit or 50, offset or 0, unit))
    return jsonable(rt.read_model.hold_queue())


@router.get("/queue/instructions", tags=["leader 领导"], summary="批示跟踪：已回复/未回复、按时与否")
def instruction_queue(
    request: Request,
    principal: Annotated[Principal, allow(Permission.QUEUE_READ)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    # Bounded as every other list's (an offset past SQLite's integer was a 500).
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    rt = runtime_of(request)
    result = rt.read_model.instruction_tracking(rt.app.clock(), limit=limit, offset=offset)
    # As the other work queues: how many in all and which page (the UI's pager reads these).
    result.update(total=result["counts"]["cases"], limit=limit, offset=offset)
    lens = lens_for(principal, rt.app, [r["case_id"] for r in result["rows"]])
    if lens is not None:  # not a unit's queue today (QUEUE_READ), but never unshaped
        result["rows"] = [lens.row(r) for r in result["rows"]]
    return jsonable(result)
