"""管理设置 routes (docs/http-api.md): the district's units, categories and routing rules as the
router uses them now (the file with the admin changes over it), the changes, and their history.

Admin role only (``Permission.DISTRICT_ADMIN``). Every change goes through
``engine.admin.AdminService`` on the application's store and takes effect at once in this
process (and at the next decision in the others). Bad fields 422, an unknown id 404, a change
the district forbids (the centre deactivated, a rule to a deactivated unit) 409; nothing is
written then.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from adapters.http.errors import ERROR_RESPONSES
from adapters.http.policy import Permission, Principal, allow
from adapters.http.routes_cases import runtime_of
from adapters.http.schemas import _Body
from adapters.jsonable import jsonable
from engine.admin import AdminOverlay, AdminService
from engine.config import CatalogueItem
from engine.contract import Code, Name, Note, WholeNumber

router = APIRouter(prefix="/api/admin", tags=["admin 管理设置"], responses=ERROR_RESPONSES)
Admin = Annotated[Principal, allow(Permission.DISTRICT_ADMIN)]
Keywords = Annotated[list[Name], Field(max_length=30)]


class UnitBody(_Body):
    id: Code = Field(description="单位代码（小写字母、数字、- _）")
    name: Name = Field(description="单位名称")
    kind: Code = Field(description="单位类型（/api/meta 的 unit_kinds）")
    parent: Code = Field("", description="上级单位（可空）")


class NameBody(_Body):
    name: Name = Field(description="新名称")


class ReasonBody(_Body):
    reason: Note = Field("", description="理由")


class CategoryBody(_Body):
    parent: Code = Field(description="上级分类（一级分类代码或二级分类代码）")
    code: Code = Field(description="分类代码末段（如 noise），或完整代码")
    name: Name = Field(description="中文名称")
    description: Note = ""
    keywords: Keywords = Field(default_factory=list, description="关键词（路由读取）")
    unit: Code = Field("", description="责任单位（派单目录；可空，也可为 locality）")
    handle_workdays: WholeNumber | None = Field(None, description="办理时限（工作日，1–60）")


class RuleBody(_Body):
    category: Code = Field(description="一级分类代码（规则按工单的一级分类匹配）")
    keywords: Keywords = Field(description="关键词：来电内容含其一即适用")
    to: Code = Field(description="承办单位代码，或 locality（属地）/ judicial_office（司法所）")
    priority: WholeNumber = Field(100, description="优先级 1–1000，大者先适用")


class RuleChangeBody(_Body):
    category: Code | None = None
    keywords: Keywords | None = None
    to: Code | None = None
    priority: WholeNumber | None = None


def _overlay(request: Request) -> AdminOverlay:
    overlay = runtime_of(request).admin
    assert overlay is not None  # bootstrap() always attaches it
    return overlay


def _service(request: Request) -> AdminService:
    return AdminService(runtime_of(request).app, _overlay(request))


def _items(items: list[CatalogueItem], parent: str, level: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        out.append({"code": item.code, "name": item.name, "parent": parent, "level": level,
                    "keywords": item.keywords})
        out.extend(_items(item.items, item.code, level + 1))
    return out


def settings(request: Request) -> dict[str, Any]:
    """What the router uses now, each row saying whether it came from the file or an admin."""
    overlay = _overlay(request)
    overlay.refresh(force=True)  # another process's change is shown at once
    live = overlay.live
    admin = AdminService(runtime_of(request).app, overlay).current()
    added_units = set(admin.units_added) if admin else set()
    added_codes = set(admin.categories_added) if admin else set()
    units = [
        {"id": u.id, "name": u.name, "kind": u.kind.value, "parent": u.parent, "active": u.active,
         "source": "admin" if u.id in added_units else "file"}
        for u in live.units
    ]
    categories: list[dict[str, Any]] = []
    for c in live.categories:
        categories.append({"code": c.code, "name": c.name, "parent": None, "level": 1,
                           "keywords": c.keywords})
        categories.extend(_items(live.catalogue.get(c.code, []), c.code, 2))
    for row in categories:
        entry = live.dispatch_entry(row["code"])
        row["unit"] = entry.to if entry else None
        row["handle_workdays"] = (
            entry.deadlines.normal.handle_workdays if entry and entry.deadlines else None
        )
        row["source"] = "admin" if row["code"] in added_codes else "file"
    rules = [
        {"id": rid, **{k: v for k, v in r.items() if k != "seq"}, "source": "admin"}
        for rid, r in sorted(
            (admin.rules.items() if admin else []),
            key=lambda kv: (-int(kv[1]["priority"]), int(kv[1]["seq"])),
        )
    ]
    rules += [
        {"id": f"file-{i + 1}", "category": r.category, "keywords": r.keywords, "to": r.to,
         "priority": None, "source": "file", "channels": r.channels}
        for i, r in enumerate(overlay.base.routing)
    ]
    retired = sorted((admin.retired if admin else {}).items())
    return {
        "units": units,
        "categories": categories,
        "rules": rules,
        "retired_categories": [{"code": c, "reason": why} for c, why in retired],
        "version": overlay.version,
    }


@router.get("/settings", summary="单位、分类、派单规则（当前生效：配置文件叠加管理修改）")
def get_settings(request: Request, principal: Admin) -> Any:
    return jsonable(settings(request))


@router.get("/history", summary="管理修改记录（谁、何时、改了什么：修改前/后）")
def history(request: Request, principal: Admin) -> Any:
    return jsonable({"items": _service(request).history()})


@router.post("/units", status_code=201, summary="新增单位")
def add_unit(request: Request, body: UnitBody, principal: Admin) -> JSONResponse:
    uid = _service(request).add_unit(body.model_dump(), principal.id)
    return JSONResponse({"id": uid}, status_code=201)


@router.post("/units/{admin_unit}/rename", summary="单位改名")
def rename_unit(request: Request, admin_unit: str, body: NameBody, principal: Admin) -> Any:
    _service(request).rename_unit(admin_unit[:64], body.name, principal.id)
    return {"id": admin_unit[:64]}


@router.post("/units/{admin_unit}/deactivate", summary="停用单位（不再派新单，已有工单照常办理）")
def deactivate_unit(request: Request, admin_unit: str, body: ReasonBody, principal: Admin) -> Any:
    _service(request).deactivate_unit(admin_unit[:64], body.reason, principal.id)
    return {"id": admin_unit[:64]}


@router.post("/categories", status_code=201, summary="新增分类（一级或二级分类下的子分类）")
def add_category(request: Request, body: CategoryBody, principal: Admin) -> JSONResponse:
    code = _service(request).add_category(body.model_dump(), principal.id)
    return JSONResponse({"code": code}, status_code=201)


@router.post("/categories/{admin_code}/relabel", summary="分类改名")
def relabel_category(request: Request, admin_code: str, body: NameBody, principal: Admin) -> Any:
    _service(request).relabel_category(admin_code[:128], body.name, principal.id)
    return {"code": admin_code[:128]}


@router.post("/categories/{admin_code}/retire", summary="停用分类（连同其子分类）")
def retire_category(request: Request, admin_code: str, body: ReasonBody, principal: Admin) -> Any:
    _service(request).retire_category(admin_code[:128], body.reason, principal.id)
    return {"code": admin_code[:128]}


@router.post("/rules", status_code=201, summary="新增派单规则（关键词 → 单位）")
def add_rule(request: Request, body: RuleBody, principal: Admin) -> JSONResponse:
    rid = _service(request).add_rule(body.model_dump(), principal.id)
    return JSONResponse({"id": rid}, status_code=201)


@router.post("/rules/{admin_rule}", summary="修改派单规则（只改给出的字段）")
def change_rule(request: Request, admin_rule: str, body: RuleChangeBody, principal: Admin) -> Any:
    values = body.model_dump(exclude_none=True)
    _service(request).change_rule(admin_rule[:32], values, principal.id)
    return {"id": admin_rule[:32]}


@router.post("/rules/{admin_rule}/remove", summary="删除派单规则")
def remove_rule(request: Request, admin_rule: str, principal: Admin) -> Any:
    _service(request).remove_rule(admin_rule[:32], principal.id)
    return {"id": admin_rule[:32]}
