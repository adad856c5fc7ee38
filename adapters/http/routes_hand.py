"""Routes of merges under the centre's hand (合并 / 撤销合并, N 人反映), 一表通 forms and 通报/追责
(docs/lifecycle.md, docs/http-api.md).

As every route: one permission, the application service as the only write path, domain errors
mapped in errors.py (a refused merge is 409 and writes nothing).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adapters.http.errors import ERROR_RESPONSES
from adapters.http.policy import Permission, Principal, allow, can_see_case
from adapters.http.routes_cases import CaseJSON, parse_case_id, runtime_of, view
from adapters.http.views import unit_name
from engine.application import CaseNotFound, SanshiApplication
from engine.config import Role, SanshiConfig
from engine.contract import Address, Content, Note, Reason, RequiredCode, SourceRef
from engine.domain import Status
from engine.forms import MAX_FORM_ITEMS, Form
from engine.vocabulary import CENSURE_KINDS, FORM_KINDS, STATUSES, CensureKind, FormKind

router = APIRouter(prefix="/api", tags=["centre 中心"], responses=ERROR_RESPONSES)

# An item of a form is complete (办结) in these statuses; the form when all its items are.
ENDED = frozenset({Status.RESOLVED, Status.ANSWERED_DIRECTLY, Status.CLOSED, Status.REJECTED})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MergeBody(_Body):
    into: UUID = Field(description="原件（并入的工单）id")
    note: Note = Field("", description="合并说明")


class UnmergeBody(_Body):
    note: Note = Field("", description="撤销合并的理由")


class FormItem(_Body):
    content: Content = Field(description="事项内容")
    address: Address = Field("", description="事项地址")


class FormBody(_Body):
    # Shorter than a source reference: each item's is ``ref#n``.
    ref: Annotated[SourceRef, Field(max_length=100)] = Field(
        description="一表通编号（同一编号再次提交不重复立案）"
    )
    kind: FormKind = Field(description="类型：inspection 网格巡查 / visit 入户走访 / meeting 会议议定")
    title: Note = Field(description="标题，如：茶亭路网格 11 月第 2 次巡查")
    items: list[FormItem] = Field(min_length=1, max_length=MAX_FORM_ITEMS, description="事项")


class CensureBody(_Body):
    kind: CensureKind = Field(description="notice 通报 / accountability 追责")
    unit: RequiredCode = Field(description="被通报/追责的单位 id")
    reason: Reason = Field(description="理由")
    case_id: UUID | None = Field(None, description="相关工单（可选）")


# ---- merges ------------------------------------------------------------------------------------


@router.post("/cases/{case_id}/merge", tags=["cases 工单"], summary="合并（并入原件，可写说明）")
def merge(
    request: Request,
    case_id: str,
    body: MergeBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    """409 (nothing written): into itself, into a case not open, into a merged case, or a case
    that others are merged into."""
    case = runtime_of(request).app.merge(
        parse_case_id(case_id), body.into, principal.id, note=body.note
    )
    return view(request, case, principal, "merge")


@router.post("/cases/{case_id}/unmerge", tags=["cases 工单"], summary="撤销合并（单独立案并派单）")
def unmerge(
    request: Request,
    case_id: str,
    body: UnmergeBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    case = runtime_of(request).app.unmerge(parse_case_id(case_id), principal.id, note=body.note)
    return view(request, case, principal, "unmerge")


# ---- 一表通 --------------------------------------------------------------------------------------


@router.post("/forms", status_code=201, summary="一表通：一张表多个事项，各自立案分拨")
def submit_form(
    request: Request,
    body: FormBody,
    principal: Annotated[Principal, allow(Permission.CASE_CREATE)],
) -> JSONResponse:
    """201 with the parent and its items; the same `ref` again is 200 with `duplicate: true`."""
    rt = runtime_of(request)
    form, duplicate = rt.app.submit_form(
        body.ref,
        body.kind.value,
        body.title,
        [{"content": i.content, "address": i.address} for i in body.items],
        principal.id,
    )
    out = form_view(rt.app, form, principal, rt.config)
    out["duplicate"] = duplicate
    return JSONResponse(out, status_code=200 if duplicate else 201)


@router.get("/forms/{form_id}", summary="一表通：查看全部事项及其承办单位、状态")
def get_form(
    request: Request,
    form_id: str,
    principal: Annotated[Principal, allow(Permission.CASE_READ)],
) -> dict[str, Any]:
    """A unit reads the form of an item it was given (the other items: unit and status only);
    any other form answers as an absent one (404)."""
    rt = runtime_of(request)
    fid = parse_case_id(form_id)
    form, _ = rt.app.get_form(fid)
    out = form_view(rt.app, form, principal, rt.config)
    if principal.role == Role.UNIT and not any(i["visible"] for i in out["items"]):
        raise CaseNotFound(fid)
    return out


def form_view(
    app: SanshiApplication, form: Form, principal: Principal, config: SanshiConfig
) -> dict[str, Any]:
    _, cases = app.get_form(form.id)
    by_id = {c.id: c for c in cases}
    items = []
    for entry in form.items:
        cid = UUID(str(entry["case_id"]))
        case = by_id.get(cid)
        if case is None:  # not received (cannot happen in one transaction; never a 500)
            continue
        visible = can_see_case(principal, list(case.units_ever))
        unit = case.assigned_unit or case.resolved_unit or (case.dispatch.unit if case.dispatch else None)
        items.append(
            {
                "item": entry["item"],
                "case_id": str(cid),
                "visible": visible,
                "content": case.content if visible else None,
                "address": case.address if visible else None,
                "category": case.category,
                "unit": unit,
                "unit_name": unit_name(config, unit) if unit else None,
                "status": case.status.value,
                "status_name": STATUSES.label(case.status),
                "done": case.status in ENDED,
            }
        )
    done = sum(1 for i in items if i["done"])
    return {
        "id": str(form.id),
        "ref": form.ref,
        "kind": form.kind,
        "kind_name": FORM_KINDS.label(form.kind),
        "title": form.title,
        "submitted_at": form.submitted_at.isoformat(),
        "items": items,
        "items_done": done,
        "complete": bool(items) and done == len(items),
    }


# ---- 通报 / 追责 --------------------------------------------------------------------------------


@router.post("/censures", status_code=201, summary="通报 / 追责：中心对承办单位记录（计入月度考核）")
def censure(
    request: Request,
    body: CensureBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> dict[str, Any]:
    rt = runtime_of(request)
    record = rt.app.censure(
        body.kind.value, body.unit, body.reason, principal.id, case_id=body.case_id
    )
    return {
        "id": str(record.id),
        "kind": record.kind,
        "kind_name": CENSURE_KINDS.label(record.kind),
        "unit": record.unit,
        "unit_name": unit_name(rt.config, record.unit),
        "reason": record.reason,
        "case_id": str(record.case_id) if record.case_id else None,
        "at": record.at.isoformat(),
    }
