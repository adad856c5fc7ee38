"""Routes of 实事项目 (practical projects, engine/projects.py, docs/http-api.md).

The centre or a leader opens a project and links cases to it (many at once); the owner unit
reports progress on a milestone and completes it (or the centre does), which resolves every
linked case still open with the project's result, so each resident is called back through the
one 回访 flow. Reads are the project view (projections.projects). As every route: one
permission, the application service as the only write path, domain errors mapped in errors.py
(a case closed, merged or in another project: 409; nothing written).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.policy import Permission, Principal, allow
from adapters.http.routes_cases import runtime_of
from adapters.jsonable import jsonable
from engine.config import Role
from engine.contract import BusinessDay, Note, Reason, RequiredCode, Result, WholeNumber
from engine.projects import MAX_LINK_AT_ONCE, MAX_MILESTONES
from projections.projects import ProjectViews

router = APIRouter(prefix="/api", tags=["projects 实事项目"], responses=ERROR_RESPONSES)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MilestoneBody(_Body):
    title: Annotated[Reason, Field(max_length=200)] = Field(description="节点名称")
    due: BusinessDay = Field(description="节点完成日期 YYYY-MM-DD")


class ProjectBody(_Body):
    title: Annotated[Reason, Field(max_length=200)] = Field(description="项目名称")
    owner_unit: RequiredCode = Field(description="牵头单位 id")
    deadline: BusinessDay = Field(description="完成时限 YYYY-MM-DD（当天结束前完成为按期）")
    budget: Note = Field("", description="预算（文字，如：区财政 80 万元）")
    milestones: list[MilestoneBody] = Field(
        min_length=1, max_length=MAX_MILESTONES, description="实施计划：节点"
    )
    case_ids: list[UUID] = Field(
        default_factory=list, max_length=MAX_LINK_AT_ONCE, description="立项时关联的工单"
    )


class LinkBody(_Body):
    case_ids: list[UUID] = Field(min_length=1, max_length=MAX_LINK_AT_ONCE, description="关联的工单")


class ProgressBody(_Body):
    milestone: WholeNumber = Field(ge=1, le=MAX_MILESTONES, description="节点序号（1 起）")
    note: Reason = Field(description="进度说明")
    done: bool = Field(False, description="该节点已完成")


class CompleteBody(_Body):
    result: Result = Field(description="项目完成情况（告知每位关联群众的办理结果）")


def _project_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ApiError(404, "not_found", f"实事项目 {value[:64]} 不存在") from None


def _detail(request: Request, project_id: UUID, principal: Principal) -> dict[str, Any]:
    """The project as the view has it; a unit sees only the projects it carries out (another
    unit's answers as an absent one: 404)."""
    found = ProjectViews(runtime_of(request).read_model).detail(project_id)
    if found is None or (principal.role == Role.UNIT and found["owner_unit"] != principal.unit):
        raise ApiError(404, "not_found", f"实事项目 {project_id} 不存在")
    out: dict[str, Any] = jsonable(found)
    return out


def _unit_of(principal: Principal) -> str | None:
    return principal.unit if principal.role == Role.UNIT else None


@router.get("/projects", summary="实事项目列表（含每个项目的关联工单、节点、回访与满意率）")
def list_projects(
    request: Request, principal: Annotated[Principal, allow(Permission.PROJECT_READ)]
) -> Any:
    rows = ProjectViews(runtime_of(request).read_model).list(_unit_of(principal))
    return jsonable({"rows": rows})


@router.post("/projects", status_code=201, summary="实事项目立项（可同时关联多件工单）")
def open_project(
    request: Request,
    body: ProjectBody,
    principal: Annotated[Principal, allow(Permission.PROJECT_PLAN)],
) -> JSONResponse:
    project = runtime_of(request).app.open_project(
        body.title,
        body.owner_unit,
        body.deadline,
        body.budget,
        [{"title": m.title, "due": m.due} for m in body.milestones],
        principal.id,
        case_ids=body.case_ids,
    )
    return JSONResponse(_detail(request, project.id, principal), status_code=201)


@router.get("/projects/{project_id}", summary="实事项目详情：计划节点、关联工单、进度与指标")
def project_detail(
    request: Request,
    project_id: str,
    principal: Annotated[Principal, allow(Permission.PROJECT_READ)],
) -> Any:
    pid = _project_id(project_id)
    out = _detail(request, pid, principal)
    project = runtime_of(request).app.get_project(pid)
    out["progress"] = jsonable(project.progress)
    return out


@router.post("/projects/{project_id}/cases", summary="关联工单（一次多件；每件工单只能属于一个项目）")
def link_cases(
    request: Request,
    project_id: str,
    body: LinkBody,
    principal: Annotated[Principal, allow(Permission.PROJECT_PLAN)],
) -> Any:
    """409, nothing written: a case closed, rejected, merged or already resolved, or in
    another project, or a completed project. 404: a case not found."""
    pid = _project_id(project_id)
    runtime_of(request).app.link_to_project(pid, body.case_ids, principal.id)
    return _detail(request, pid, principal)


@router.post("/projects/{project_id}/progress", summary="报告进度（牵头单位，针对计划节点）")
def report_progress(
    request: Request,
    project_id: str,
    body: ProgressBody,
    principal: Annotated[Principal, allow(Permission.PROJECT_PROGRESS)],
) -> Any:
    pid = _project_id(project_id)
    _detail(request, pid, principal)  # another unit's project: 404
    assert principal.unit is not None
    runtime_of(request).app.report_project_progress(
        pid, principal.unit, body.milestone, body.note, body.done, principal.id
    )
    return _detail(request, pid, principal)


@router.post("/projects/{project_id}/complete", summary="项目完成：关联工单以项目结果办结，转入回访")
def complete_project(
    request: Request,
    project_id: str,
    body: CompleteBody,
    principal: Annotated[Principal, allow(Permission.PROJECT_COMPLETE)],
) -> Any:
    pid = _project_id(project_id)
    _detail(request, pid, principal)  # another unit's project: 404
    _, resolved = runtime_of(request).app.complete_project(
        pid, body.result, principal.id, unit=_unit_of(principal)
    )
    out = _detail(request, pid, principal)
    out["resolved_now"] = len(resolved)
    return out
