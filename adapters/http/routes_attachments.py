"""附件 and 属地 routes (docs/attachments.md, docs/http-api.md "Attachments", "Places").

Every read of an attachment goes through its case, with the case's own rule (``load_case``:
a unit sees the cases ever dispatched to it, any other case answers 404 as if absent), and the
case must name the digest asked for: knowing a digest opens nothing. The only way out without a
key is Open311's ``media_url``: an image's preview (no metadata), for a case whose category is
about public space, and only after the centre marked that attachment public.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from adapters.attachments.fetch import PhotoFetcher
from adapters.http.errors import ERROR_RESPONSES, ApiError
from adapters.http.policy import (
    Open311View,
    Permission,
    Principal,
    acting_unit,
    allow,
    check_role,
    open311_view,
)
from adapters.http.routes_cases import audit, load_case, parse_case_id, runtime_of
from adapters.http.unit_view import lens_for_case
from adapters.jsonable import jsonable
from engine.application import CaseNotFound
from engine.attachments import (
    DIGEST,
    KIND_LABELS,
    STAGE_LABELS,
    AttachmentKind,
    AttachmentNameRefused,
    AttachmentTooLarge,
    Stage,
)
from engine.config import Role
from engine.domain import Case
from engine.places import PlaceFinder, point_of, to_datum
from projections.areas import counts_by_area

router = APIRouter(prefix="/api", tags=["attachments 附件"], responses=ERROR_RESPONSES)
public_router = APIRouter(prefix="/open311/v2", tags=["open311"])

UPLOAD_PATH = r"^/api/cases/[^/]+/attachments$"


def _url(case: Case, digest: str, preview: bool = False) -> str:
    return f"/api/cases/{case.id}/attachments/{digest}" + ("/preview" if preview else "")


def public_media_url(case: Case) -> str | None:
    """Open311's ``media_url`` for a case: its first image the centre marked public."""
    for a in case.attachments:
        if a.get("public") and a.get("preview"):
            return f"/open311/v2/media/{case.id}/{a['digest']}.jpg"
    return None


def attachment_view(case: Case, a: dict[str, Any], principal: Principal, config: Any) -> dict[str, Any]:
    lens = lens_for_case(principal, case)
    unit = a.get("unit")
    return {
        "digest": a["digest"],
        "sha256": a["digest"],
        "kind": a["kind"],
        "kind_name": KIND_LABELS.get(AttachmentKind(a["kind"]), a["kind"]),
        "mime": a["mime"],
        "size": a["size"],
        "name": lens.text(case.id, a["name"]) if lens else a["name"],
        "stage": a["stage"],
        "stage_name": STAGE_LABELS.get(Stage(a["stage"]), a["stage"]),
        "public": bool(a.get("public")),
        "unit": unit,
        "unit_name": config.unit(unit).name if unit and config.has_unit(unit) else None,
        "at": jsonable(a.get("at")),
        "url": _url(case, a["digest"]),
        "preview_url": _url(case, a["digest"], preview=True) if a.get("preview") else None,
    }


@router.post(
    "/cases/{case_id}/attachments",
    status_code=201,
    summary="上传附件（话务员：受理附件；承办单位：办结凭证）",
    responses={413: {"description": "文件过大"}},
)
async def upload(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.CASE_READ)],
    file: Annotated[UploadFile, File(description="照片、录音或 PDF 文档")],
    public: Annotated[bool, Form(description="公开（仅话务员；公共空间类工单经 Open311 展示预览图）")] = False,
) -> JSONResponse:
    """The type is read from the content (magic bytes), not the name or the declared type; a
    name whose extension contradicts the content is 422, an empty file 422, a file over the
    configured limit 413, a name that is a path 400. The case records the attachment as an event
    (AttachmentAdded: SHA-256, type, size, name)."""
    if principal.role not in (Role.OPERATOR, Role.UNIT):
        check_role(principal, Permission.CENTRE_ACT)  # 403 in the usual words
    case = load_case(request, case_id, principal)
    unit = acting_unit(principal) if principal.role == Role.UNIT else None
    if public and unit is not None:
        raise ApiError(403, "forbidden", "只有中心可以将附件设为公开")
    rt = runtime_of(request)
    data = await file.read(rt.config.attachments.max_bytes + 1)
    try:
        case, found = rt.attachments.add(
            case.id, data, file.filename or "", principal.id, unit=unit, public=public
        )
    except AttachmentTooLarge as exc:
        raise ApiError(413, "too_large", exc.message) from None
    except AttachmentNameRefused as exc:
        raise ApiError(400, "bad_request", exc.message) from None
    return JSONResponse(attachment_view(case, found, principal, rt.config), status_code=201)


@router.get("/cases/{case_id}/attachments", summary="工单的附件列表")
def list_attachments(
    request: Request, case_id: str, principal: Annotated[Principal, allow(Permission.CASE_READ)]
) -> list[dict[str, Any]]:
    case = load_case(request, case_id, principal)
    config = runtime_of(request).config
    return [attachment_view(case, a, principal, config) for a in case.attachments]


def _content_response(request: Request, case: Case, digest: str, preview: bool) -> Response:
    content = runtime_of(request).attachments.content(case, digest, preview=preview)
    if content is None:
        raise ApiError(404, "not_found", "附件不存在")
    inline = content.mime.startswith(("image/", "audio/"))
    name = content.name if not preview else content.name.rsplit(".", 1)[0] + "-预览.jpg"
    disposition = ("inline" if inline else "attachment") + f"; filename*=UTF-8''{quote(name)}"
    return Response(
        content.data,
        media_type=content.mime,
        headers={
            "Content-Disposition": disposition,
            "Cache-Control": "private, no-store",
            # Served from our origin: whatever the bytes are, they run nothing here.
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


@router.get("/cases/{case_id}/attachments/{digest}", summary="下载附件（与工单同样的查看权限）")
def download(
    request: Request,
    case_id: str,
    digest: str,
    principal: Annotated[Principal, allow(Permission.CASE_READ)],
) -> Response:
    case = load_case(request, case_id, principal)
    response = _content_response(request, case, digest, preview=False)
    audit(request, principal, case, "attachment")
    return response


@router.get("/cases/{case_id}/attachments/{digest}/preview", summary="附件预览图（图片，去除元数据）")
def preview(
    request: Request,
    case_id: str,
    digest: str,
    principal: Annotated[Principal, allow(Permission.CASE_READ)],
) -> Response:
    case = load_case(request, case_id, principal)
    return _content_response(request, case, digest, preview=True)


class PublicBody(BaseModel):
    public: bool


@router.post("/cases/{case_id}/attachments/{digest}/public", summary="设置附件是否公开（中心）")
def set_public(
    request: Request,
    case_id: str,
    digest: str,
    body: PublicBody,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> dict[str, Any]:
    case = load_case(request, case_id, principal)
    if not DIGEST.match(digest) or case.attachment(digest) is None:
        raise ApiError(404, "not_found", "附件不存在")
    rt = runtime_of(request)
    case = rt.attachments.set_public(case.id, digest, body.public, principal.id)
    found = case.attachment(digest)
    assert found is not None
    return attachment_view(case, found, principal, rt.config)


@router.post("/cases/{case_id}/attachments/fetch", summary="抓取 APP 照片（仅限配置允许的主机）")
def fetch_photos(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> dict[str, Any]:
    case = load_case(request, case_id, principal)
    results = PhotoFetcher(runtime_of(request).attachments).import_case(case.id)
    return {"results": [r.__dict__ for r in results]}


@router.get("/cases/{case_id}/photo-fetches", summary="APP 照片抓取情况（待抓取、已保存、失败原因、未抓取的主机）")
def photo_fetches(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, allow(Permission.CENTRE_ACT)],
) -> dict[str, Any]:
    """Each photo URL of the app record: ``stored``, ``pending`` (with the next try), ``failed``
    (with the reason, after the bounded retries) or ``kept`` (a host not listed: never
    requested, kept as given). adapters/attachments/queue.py."""
    from adapters.attachments.fetch import photo_urls

    case = load_case(request, case_id, principal)
    rt = runtime_of(request)
    queued = {f.url: f for f in rt.photo_queue.of_case(case.id)}
    held = {a.get("source_url") for a in case.attachments}
    fetcher = rt.photo_queue.fetcher
    out = []
    for url in photo_urls(case.extra):
        if url in held:
            out.append({"url": url, "status": "stored", "attempts": queued[url].attempts if url in queued else None,
                        "reason": "", "next_at": None})
        elif url in queued:
            out.append(queued[url].to_dict())
        elif not fetcher.allowed(url):
            out.append({"url": url, "status": "kept", "attempts": 0,
                        "reason": "不在允许抓取的主机列表中，按原样保存", "next_at": None})
        else:
            out.append({"url": url, "status": "not_queued", "attempts": 0, "reason": "", "next_at": None})
    return {"photos": out}


# ---- 属地: polygons, a case's place, counts by area --------------------------------------------


def _finder(request: Request) -> PlaceFinder | None:
    rt = runtime_of(request)
    cached: PlaceFinder | None = getattr(request.app.state, "place_finder", None)
    if cached is None and rt.config.places is not None:
        cached = PlaceFinder.from_config(rt.config)
        request.app.state.place_finder = cached
    return cached


@router.get("/places/areas", tags=["places 属地"], summary="社区/街道边界（GeoJSON，示意）")
def areas(
    request: Request, principal: Annotated[Principal, allow(Permission.CASE_READ)]
) -> dict[str, Any]:
    finder = _finder(request)
    if finder is None:
        return {"type": "FeatureCollection", "features": []}
    config = runtime_of(request).config
    collection = finder.feature_collection()
    for f in collection["features"]:
        f["properties"]["name"] = config.unit(f["properties"]["unit"]).name
    return collection


@router.get("/cases/{case_id}/place", tags=["places 属地"], summary="工单的位置（坐标与属地）")
def case_place(
    request: Request, case_id: str, principal: Annotated[Principal, allow(Permission.CASE_READ)]
) -> dict[str, Any]:
    case = load_case(request, case_id, principal)
    finder = _finder(request)
    point = point_of(case.extra or {}, case.channel)
    shown = to_datum(point, finder.datum) if point is not None and finder is not None else point
    return {
        "case_id": str(case.id),
        "point": {"lat": shown.lat, "lng": shown.lng, "datum": shown.datum.value} if shown else None,
        "locality": case.locality,
        "street": case.street,
    }


@router.get("/places/counts", tags=["places 属地"], summary="各社区/街道工单数（领导地图）")
def area_counts(
    request: Request,
    principal: Annotated[Principal, allow(Permission.STATS_READ)],
    from_: Annotated[dt.date | None, Query(alias="from")] = None,
    to: Annotated[dt.date | None, Query()] = None,
) -> dict[str, Any]:
    return counts_by_area(runtime_of(request).read_model, from_, to)


# ---- Open311: the public preview -----------------------------------------------------------------


@public_router.get("/media/{case_id}/{name}", summary="公开附件预览（公共空间类工单，中心设为公开的图片）")
def public_media(request: Request, case_id: str, name: str) -> Response:
    digest = name.removesuffix(".jpg")
    try:
        case = runtime_of(request).app.get_case(UUID(case_id))
    except (ValueError, CaseNotFound):
        raise ApiError(404, "not_found", "资源不存在") from None
    view = open311_view(None, channel=case.channel, category=case.category, units_ever=[])
    found = case.attachment(digest) if DIGEST.match(digest) else None
    if view != Open311View.PUBLIC or found is None or not found.get("public") or not found.get("preview"):
        raise ApiError(404, "not_found", "资源不存在")
    content = runtime_of(request).attachments.content(case, digest, preview=True)
    if content is None:
        raise ApiError(404, "not_found", "资源不存在")
    return Response(
        content.data,
        media_type="image/jpeg",
        headers={"Cache-Control": "public, max-age=300", "Content-Security-Policy": "default-src 'none'; sandbox"},
    )


__all__ = ["UPLOAD_PATH", "parse_case_id", "public_media_url", "public_router", "router"]
