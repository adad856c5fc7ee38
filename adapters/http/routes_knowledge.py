"""知识库 (knowledge base) routes (docs/http-api.md): entries, the intake form's suggestions, a
unit's proposed changes and the centre's decision on them, and 直办 from an entry.

Each route declares one permission (policy.allow): the centre (operators, admins) creates,
edits and retires entries and decides proposals; a unit proposes; everyone reads. A refused
command is 409 (a retired entry, a proposal already decided, an entry not offered) or 422 (bad
fields or dates) and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.policy import Permission, Principal, acting_unit, allow
from adapters.http.routes_cases import CaseJSON, parse_case_id, runtime_of, view
from adapters.http.schemas import _Body
from adapters.jsonable import jsonable
from engine.config import Role
from engine.contract import BusinessDay, Code, Content, Note, Result
from engine.deadlines import SHANGHAI
from engine.knowledge import EntryNotFound, KnowledgeEntry, KnowledgeService
from projections.knowledge import KnowledgeViews

router = APIRouter(prefix="/api", tags=["knowledge 知识库"], responses=ERROR_RESPONSES)


class EntryBody(_Body):
    question: Note = Field(description="问题（来电人常问的说法）")
    answer: Content = Field(description="答复口径")
    category: Code = Field("", description="分类代码（可空）")
    unit: Code = Field("", description="责任单位（可空：中心）")
    source: Note = Field("", description="来源（文件、办事指南、单位提供）")
    valid_from: BusinessDay | None = Field(None, description="有效期开始（含，YYYY-MM-DD）")
    valid_until: BusinessDay | None = Field(None, description="有效期截止（含，YYYY-MM-DD）")


class EntryChangeBody(_Body):
    """Only the fields given are changed."""

    question: Note | None = None
    answer: Content | None = None
    category: Code | None = None
    unit: Code | None = None
    source: Note | None = None
    valid_from: BusinessDay | None = None
    valid_until: BusinessDay | None = None


class ProposalBody(EntryChangeBody):
    note: Note = Field("", description="修改理由")


class RetireBody(_Body):
    reason: Note = Field(description="停用理由")


class DecideBody(_Body):
    accept: bool = Field(description="true 采纳，false 不采纳")
    note: Note = Field("", description="审核意见（不采纳须填写）")


class AnswerFromEntryBody(_Body):
    entry_id: UUID = Field(description="答复所用的知识库条目")
    answer: Result | None = Field(None, description="答复内容（空：用条目的答复口径）")


def _service(request: Request) -> KnowledgeService:
    rt = runtime_of(request)
    return KnowledgeService(rt.app, rt.config)


def _views(request: Request) -> KnowledgeViews:
    rt = runtime_of(request)
    return KnowledgeViews(rt.views_engine, rt.read_model.before_read)


def _today(request: Request) -> dt.date:
    return runtime_of(request).app.clock().astimezone(SHANGHAI).date()


def _entry_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ApiError(404, "not_found", f"知识库条目 {value[:64]} 不存在") from None


def _changes(body: EntryChangeBody) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    values.pop("note", None)
    return values


def _entry_json(request: Request, entry: KnowledgeEntry) -> dict[str, Any]:
    found = _views(request).entry(entry.id, _today(request))
    if found is None:  # the views follow the log elsewhere (Kafka mode): the aggregate itself
        found = {"id": str(entry.id), **entry.fields(), "retired": entry.retired}
    out: dict[str, Any] = jsonable(found)
    return out


def _guard(request: Request, action: Any) -> Any:
    try:
        return action()
    except EntryNotFound as e:
        raise ApiError(404, "not_found", str(e)) from None


@router.get("/knowledge", summary="知识库条目列表（默认不含已停用）")
def list_entries(
    request: Request,
    principal: Annotated[Principal, allow(Permission.KNOWLEDGE_READ)],
    include_retired: bool = False,
    offered: Annotated[bool, Query(description="只列今天可用的（未停用且在有效期内）")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    return jsonable(
        _views(request).entries(
            _today(request),
            include_retired=include_retired,
            offered_only=offered,
            limit=limit,
            offset=offset,
        )
    )


@router.get("/knowledge/suggest", summary="按来电内容推荐答复口径（只推荐有效期内的条目）")
def suggest(
    request: Request,
    principal: Annotated[Principal, allow(Permission.KNOWLEDGE_READ)],
    q: Annotated[Note, Query(description="来电内容（前 1000 字）")] = "",
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> Any:
    """Ranked by TF-IDF over character 1–3-grams (scikit-learn) of question and answer; entries
    retired or outside their validity today are never offered."""
    items = _views(request).suggest(q, _today(request), limit) if q.strip() else []
    return jsonable({"items": items})


@router.get("/knowledge/proposals", summary="修改建议（单位只看本单位提出的）")
def proposals(
    request: Request,
    principal: Annotated[Principal, allow(Permission.KNOWLEDGE_READ)],
    state: Annotated[str | None, Query(pattern="^(pending|accepted|rejected)$")] = None,
) -> Any:
    unit = principal.unit if principal.role == Role.UNIT else None
    return jsonable({"items": _views(request).proposals(state, unit)})


@router.get("/knowledge/{entry_id}", summary="一个知识库条目（含修改建议）")
def get_entry(
    request: Request,
    entry_id: str,
    principal: Annotated[Principal, allow(Permission.KNOWLEDGE_READ)],
) -> Any:
    found = _views(request).entry(_entry_id(entry_id), _today(request))
    if found is None:
        raise ApiError(404, "not_found", f"知识库条目 {entry_id[:64]} 不存在")
    if principal.role == Role.UNIT:
        found["proposals"] = [p for p in found["proposals"] if p["unit"] == principal.unit]
    return jsonable(found)


@router.post("/knowledge", status_code=201, summary="新增知识库条目（中心）")
def create_entry(
    request: Request,
    body: EntryBody,
    principal: Annotated[Principal, allow(Permission.KNOWLEDGE_EDIT)],
) -> JSONResponse:
    entry, _ = _service(request).create(body.model_dump(), principal.id)
    return JSONResponse(_entry_json(request, entry), status_code=201)


@router.post("/knowledge/{entry_id}/edit", summary="修改知识库条目（中心；已停用的不能改）")
def edit_entry(
    request: Request,
    entry_id: str,
    body: EntryChangeBody,
    principal: Annotated[Principal, allow(Permission.KNOWLEDGE_EDIT)],
) -> Any:
    eid = _entry_id(entry_id)
    entry = _guard(request, lambda: _service(request).edit(eid, _changes(body), principal.id))
    return _entry_json(request, entry)


@router.post("/knowledge/{entry_id}/retire", summary="停用知识库条目（中心）")
def retire_entry(
    request: Request,
    entry_id: str,
    body: RetireBody,
    principal: Annotated[Principal, allow(Permission.KNOWLEDGE_EDIT)],
) -> Any:
    eid = _entry_id(entry_id)
    entry = _guard(request, lambda: _service(request).retire(eid, body.reason, principal.id))
    return _entry_json(request, entry)


@router.post("/knowledge/{entry_id}/propose", status_code=201, summary="建议修改知识库条目（承办单位）")
def propose(
    request: Request,
    entry_id: str,
    body: ProposalBody,
    principal: Annotated[Principal, allow(Permission.KNOWLEDGE_PROPOSE)],
) -> JSONResponse:
    eid = _entry_id(entry_id)
    entry, number = _guard(
        request,
        lambda: _service(request).propose(
            eid, acting_unit(principal), _changes(body), body.note, principal.id
        ),
    )
    return JSONResponse({"entry_id": str(entry.id), "number": number}, status_code=201)


@router.post(
    "/knowledge/{entry_id}/proposals/{number}/decide", summary="审核修改建议：采纳或不采纳（中心）"
)
def decide(
    request: Request,
    entry_id: str,
    number: int,
    body: DecideBody,
    principal: Annotated[Principal, allow(Permission.KNOWLEDGE_EDIT)],
) -> Any:
    if not 1 <= number <= 10_000:
        raise ApiError(422, "invalid_request", "修改建议序号 number 须在 1–10000 之间")
    eid = _entry_id(entry_id)
    entry = _guard(
        request,
        lambda: _service(request).decide(eid, number, body.accept, body.note, principal.id),
    )
    return _entry_json(request, entry)


@router.post("/cases/{case_id}/answer-from-knowledge", summary="用知识库答复口径直办（话务员）")
def answer_from_entry(
    request: Request,
    case_id: str,
    body: AnswerFromEntryBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> CaseJSON:
    """直办 with the entry's answer (or the operator's wording of it); the case's AnsweredDirectly
    records the entry. 409 for an entry retired or outside its validity."""
    cid = parse_case_id(case_id)
    runtime_of(request).app.get_case(cid)  # 404 for an absent case before the entry is looked at
    try:
        case = runtime_of(request).app.answer_directly(
            cid, body.answer or "", principal.id, entry=body.entry_id
        )
    except EntryNotFound as e:
        raise ApiError(422, "invalid_request", str(e)) from None
    return view(request, case, principal, "answer_from_knowledge")
