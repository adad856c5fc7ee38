"""Open311 GeoReport v2 at /open311/v2/ (discovery, services, requests; JSON and XML): the
routes. What a posted request becomes (an intake command) and the services list are the
channel adapter's (``adapters.channels.open311``); errors answer in GeoReport's shape
(:func:`mount`).

- service_request_id = case id; status = open | closed, status_notes = the Chinese status name;
  agency_responsible = the handling unit's Chinese name; expected_datetime = handling deadline.
- POST requests.{json,xml} is form-encoded with ``api_key`` (an operator token). A missing or
  invalid key is 403, as the GeoReport spec says. The request is idempotent: the same client,
  service, text and place sent again returns the same service_request_id.
- GET answers without a key, as GeoReport clients expect, but what it shows depends on the key
  (``api_key`` query parameter, or a Bearer header). The rule is ``policy.open311_view``:
  anyone sees the narrow public record of cases about public space (id, service, status,
  agency, times, the street 街道 as the only location: no description, address, lat/long or
  media); disputes, police hand-overs and other personal categories are not listed at all (404
  by id). An operator, leader or admin key sees every case in full (description with phone /
  ID numbers masked, address, location, media); a unit's key sees its own cases (ever
  dispatched to it) in full and the rest as anyone does. A wrong or revoked key reads as no
  key. Full single-request reads are audited like ``GET /api/cases/{id}``. No view ever
  carries the caller's name or phone.
"""

from __future__ import annotations

import datetime as dt
import uuid
import warnings
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any
from xml.etree.ElementTree import Element, SubElement, tostring

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from adapters.channels import open311 as channel
from adapters.http.errors import ApiError, mount_error_format
from adapters.http.intake import submit_command
from adapters.http.policy import (
    Open311View,
    Permission,
    Principal,
    bearer_token,
    check_role,
    open311_reader,
    open311_view,
    principal_from_token,
)
from adapters.http.routes_attachments import public_media_url
from adapters.http.routes_cases import audit, runtime_of
from adapters.http.unit_view import UnitLens, lens_for, lens_for_case
from adapters.http.views import unit_name
from engine.application import CaseNotFound
from engine.config import SanshiConfig
from engine.contract import MAX_CODE, query_time_problem, text_problem
from engine.deadlines import SHANGHAI
from engine.domain import OPEN_STATUSES, Case, Status
from engine.vocabulary import STATUSES

if TYPE_CHECKING:
    from adapters.bootstrap import Runtime

router = APIRouter(prefix="/open311/v2", tags=["open311 GeoReport v2"])
# Errors under this prefix answer in GeoReport's shape (wider than the router's: an unknown
# version is still an Open311 client's mistake).
ERROR_PREFIX = "/open311/"

SPEC_URL = "http://wiki.open311.org/GeoReport_v2"
FORMATS = {"json": "application/json", "xml": "text/xml"}
MAX_RESULTS = 1000
DEFAULT_WINDOW = dt.timedelta(days=90)

# List containers and the element name of their items, for the XML rendering.
_ITEM = {
    "services": "service",
    "service_requests": "request",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
}


# ---- rendering ---------------------------------------------------------------------------------


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ApiError(404, "not_found", f"不支持的格式：{fmt[:20]}（可用 json 或 xml）")
    return fmt


def _xml_value(parent: Element, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            child = SubElement(parent, k)
            _xml_value(child, v)
    elif isinstance(value, list):
        item = _ITEM.get(parent.tag, "item")
        for v in value:
            _xml_value(SubElement(parent, item), v)
    elif value is None:
        return
    elif isinstance(value, bool):
        parent.text = "true" if value else "false"
    else:
        parent.text = str(value)


def render(fmt: str, root: str, data: Any, status: int = 200) -> Response:
    if fmt == "json":
        return JSONResponse(data, status_code=status)
    element = Element(root)
    _xml_value(element, data)
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(element, encoding="utf-8")
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")


def open311_error(request: Request, status: int, message: str) -> Response:
    """GeoReport errors: ``[{"code", "description"}]`` or ``<errors><error>``."""
    fmt = "xml" if request.url.path.endswith(".xml") else "json"
    return render(fmt, "errors", [{"code": status, "description": message}], status)


def _iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(SHANGHAI).isoformat(timespec="seconds") if t else None


def mount(app: FastAPI) -> None:
    """The routes, with GeoReport's error shape for everything under :data:`ERROR_PREFIX`."""
    app.include_router(router)
    mount_error_format(app, ERROR_PREFIX, open311_error)


def _refused(exc: channel.RequestRefused) -> ApiError:
    if exc.unknown_service:
        return ApiError(404, "not_found", exc.message)
    return ApiError(400, "bad_request", exc.message)


# ---- discovery and services --------------------------------------------------------------------


@router.get("/discovery.{fmt}", summary="Open311 服务发现")
def discovery(request: Request, fmt: str) -> Response:
    fmt = _fmt(fmt)
    rt = runtime_of(request)
    base = str(request.base_url).rstrip("/") + "/open311/v2/"
    data = {
        "changeset": "2026-01-01T00:00:00+08:00",
        "contact": f"{rt.config.district.name} {rt.config.centre.name}",
        "key_service": (
            "api_key 即 sanshi 令牌，向中心管理员申请。提交需话务员令牌；查询时不带令牌只显示公开摘要"
            "（无诉求内容与详细地址），话务员、领导、管理员令牌显示完整内容，承办单位令牌显示本单位工单的完整内容"
        ),
        "endpoints": [
            {
                "specification": SPEC_URL,
                "url": base,
                "changeset": "2026-01-01T00:00:00+08:00",
                "type": "production",
                "formats": list(FORMATS.values()),
            }
        ],
    }
    return render(fmt, "discovery", data)


@router.get("/services.{fmt}", summary="服务列表（诉求分类）")
def services(request: Request, fmt: str) -> Response:
    fmt = _fmt(fmt)
    return render(fmt, "services", channel.services(runtime_of(request).config))


@router.get("/services/{service_code}.{fmt}", summary="服务定义（附加属性）")
def service_definition(request: Request, service_code: str, fmt: str) -> Response:
    fmt = _fmt(fmt)
    try:
        data = channel.service_definition(runtime_of(request).config, service_code)
    except channel.RequestRefused as exc:
        raise _refused(exc) from None
    return render(fmt, "service_definition", data)


# ---- requests ----------------------------------------------------------------------------------


def _public_text(text: str) -> str:
    """Phone and ID numbers inside free text are masked before the text is published."""
    try:
        import helan

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            masked, _ = helan.mask(
                text,
                ops={
                    "PHONE": "partial",
                    "LANDLINE": "partial",
                    "ID_CARD": "partial",
                    "BANK_CARD": "partial",
                    "EMAIL": "partial",
                },
            )
        return str(masked)
    except Exception:  # masking must not take the endpoint down; publish nothing instead
        return ""


@dataclass(frozen=True)
class _Facts:
    """What a request is made of, from the aggregate (one request) or a read-model row (lists)."""

    id: str
    channel: str
    status: Status
    merged_into: str | None
    category: str
    unit: str | None  # agency_responsible
    units_ever: list[str]
    street: str | None
    received: dt.datetime | None
    updated: dt.datetime | None
    deadline: dt.datetime | None
    text: str
    address: str
    lat: Any
    lng: Any
    media: str | None
    # An image the centre marked public (adapters.http.routes_attachments): the only media an
    # anonymous reader sees, and only for a case of a public-space category.
    public_media: str | None = None


def _case_facts(case: Case) -> _Facts:
    extra = case.extra or {}
    nested = extra.get("open311")
    open311_extra: dict[str, Any] = nested if isinstance(nested, dict) else {}
    photos = extra.get("photos") or open311_extra.get("media_url")
    media = photos[0] if isinstance(photos, list) and photos else photos if isinstance(photos, str) else None
    return _Facts(
        id=str(case.id),
        channel=case.channel,
        status=Status(case.status),
        merged_into=str(case.merged_into) if case.merged_into else None,
        category=case.category or "other",
        unit=case.assigned_unit or case.resolved_unit or (case.dispatch.unit if case.dispatch else None),
        units_ever=list(case.units_ever),
        street=case.street,
        received=case.received_at,
        updated=max(case.status_times.values()) if case.status_times else case.received_at,
        deadline=case.dispatch.handle_deadline if case.dispatch else None,
        text=case.content,
        address=case.address,
        lat=extra.get("lat", open311_extra.get("lat")),
        lng=extra.get("lng", open311_extra.get("long")),
        media=media or public_media_url(case),
        public_media=public_media_url(case),
    )


def _row_facts(row: dict[str, Any]) -> _Facts:
    """Lists read the read model: the description is the first 120 characters there
    (``requests/{id}`` gives the whole text) and there is no media."""
    units = row.get("units") or []
    return _Facts(
        id=str(row["case_id"]),
        channel=row.get("channel") or "",
        status=Status(row["status"]),
        merged_into=str(row["merged_into"]) if row.get("merged_into") else None,
        category=row.get("category") or "other",
        unit=row.get("unit") or row.get("resolved_unit") or (units[-1] if units else None),
        units_ever=list(units),
        street=row.get("street") or None,
        received=row.get("received_at"),
        updated=row.get("updated_at") or row.get("received_at"),
        deadline=row.get("handle_deadline"),
        text=row.get("snippet") or "",
        address=row.get("address") or "",
        lat=row.get("lat"),
        lng=row.get("lng"),
        media=None,
    )


def _coarse_place(config: SanshiConfig, street: str | None) -> str | None:
    """The public location: the district and the street (街道) from the config, never a road,
    a house number or anything the resident wrote."""
    if not street or not config.has_unit(street):
        return None
    return f"{config.district.name}{config.unit(street).name}"


def view_of(reader: Principal | None, facts: _Facts) -> Open311View:
    return open311_view(
        reader, channel=facts.channel, category=facts.category, units_ever=facts.units_ever
    )


def request_item(facts: _Facts, config: SanshiConfig, view: Open311View) -> dict[str, Any]:
    """One GeoReport ``request``, full or public (``view``). Every field is always there (null
    when withheld), so clients see one shape whatever their key."""
    assert view != Open311View.HIDDEN
    full = view == Open311View.FULL
    notes = STATUSES.label(facts.status)
    if full and facts.status == Status.MERGED and facts.merged_into:
        notes += f"（并入 {facts.merged_into}）"
    code = facts.category
    return {
        "service_request_id": facts.id,
        "status": "open" if facts.status in OPEN_STATUSES else "closed",
        "status_notes": notes,
        "service_name": config.category(code).name if code in config.category_codes() else code,
        "service_code": code,
        "description": _public_text(facts.text) if full else None,
        "agency_responsible": unit_name(config, facts.unit or None),
        "service_notice": None,
        "requested_datetime": _iso(facts.received),
        "updated_datetime": _iso(facts.updated),
        "expected_datetime": _iso(facts.deadline),
        "address": (facts.address or None) if full else _coarse_place(config, facts.street),
        "address_id": None,
        "zipcode": None,
        "lat": facts.lat if full else None,
        "long": facts.lng if full else None,
        "media_url": facts.media if full else facts.public_media,
    }


def request_view(case: Case, config: SanshiConfig, reader: Principal | None = None) -> dict[str, Any] | None:
    """The request for one case as ``reader`` may see it (None: anonymous); None if hidden."""
    facts = _case_facts(case)
    view = view_of(reader, facts)
    if view == Open311View.HIDDEN:
        return None
    return request_item(for_lens(lens_for_case(reader, case), facts, view), config, view)


def for_lens(lens: UnitLens | None, facts: _Facts, view: Open311View) -> _Facts:
    """A unit's key reads its own cases in full, but as a unit reads them everywhere: the
    caller's name and number masked in the description and the address (``unit_view``)."""
    if lens is None or view != Open311View.FULL:
        return facts
    return replace(
        facts, text=lens.text(facts.id, facts.text), address=lens.text(facts.id, facts.address)
    )


def _parse_time(value: str | None, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "bad_request", f"{name} 必须是 ISO 8601 时间：{value[:40]}") from None
    t = t if t.tzinfo else t.replace(tzinfo=SHANGHAI)
    problem = query_time_problem(t)  # the input contract's range (engine.contract)
    if problem is not None:
        raise ApiError(400, "bad_request", f"{name} {problem}")
    return t


def _render_requests(fmt: str, items: list[dict[str, Any]], reader: Principal | None) -> Response:
    response = render(fmt, "service_requests", items)
    # The answer depends on the key: no shared cache may keep a keyed answer or serve it to
    # someone else.
    response.headers["Vary"] = "Authorization"
    if reader is not None:
        response.headers["Cache-Control"] = "private, no-store"
    return response


ApiKey = Annotated[
    str | None,
    Query(
        max_length=500,
        description="令牌（可选）：不带只显示公开摘要；话务员、领导、管理员看完整内容；承办单位看本单位工单的完整内容。"
        "也可用 Authorization: Bearer 头",
    ),
]


@router.get("/requests.{fmt}", summary="查询服务请求（工单）")
def list_requests(request: Request, fmt: str, api_key: ApiKey = None) -> Response:
    fmt = _fmt(fmt)
    rt = runtime_of(request)
    reader = open311_reader(request, api_key)
    q = request.query_params
    if q.get("service_request_id"):
        # Explicit ids: all other parameters are ignored (GeoReport v2).
        found: list[dict[str, Any]] = []
        for raw in q["service_request_id"].split(",")[:MAX_RESULTS]:
            case = _get_case(rt, raw.strip())
            item = request_view(case, rt.config, reader) if case is not None else None
            if item is not None:
                found.append(item)
        return _render_requests(fmt, found, reader)
    end = _parse_time(q.get("end_date"), "end_date")
    start = _parse_time(q.get("start_date"), "start_date")
    if start is None and end is None:
        start = dt.datetime.now(SHANGHAI) - DEFAULT_WINDOW
    # "open", "closed" or both, comma delimited (GeoReport v2).
    statuses = {x.strip() for x in (q.get("status") or "").split(",") if x.strip()}
    if not statuses <= {"open", "closed"}:
        raise ApiError(400, "bad_request", "status 只能是 open 或 closed（可用逗号分隔）")
    codes = [c.strip() for c in (q.get("service_code") or "").split(",") if c.strip()]
    if any(len(c) > MAX_CODE or text_problem(c) for c in codes):  # the input contract
        raise ApiError(400, "bad_request", "service_code 无效")
    filters: dict[str, Any] = {}
    if len(statuses) == 1:
        filters["open"] = statuses == {"open"}
    if len(codes) == 1:
        filters["category"] = codes[0]
    # The read model filters by received day; the exact times are checked below.
    if start:
        filters["from"] = start.astimezone(SHANGHAI).date()
    if end:
        filters["to"] = end.astimezone(SHANGHAI).date() + dt.timedelta(days=1)
    rm = rt.read_model
    shown: list[tuple[_Facts, Open311View]] = []
    offset = 0
    while len(shown) < MAX_RESULTS:
        rows = rm.cases(filters, MAX_RESULTS, offset)
        if not rows:
            break
        offset += len(rows)
        for row in rows:
            received = row["received_at"]
            if (start and received < start) or (end and received > end):
                continue
            if codes and (row.get("category") or "other") not in codes:
                continue
            facts = _row_facts(row)
            view = view_of(reader, facts)
            if view == Open311View.HIDDEN:
                continue
            shown.append((facts, view))
            if len(shown) == MAX_RESULTS:
                break
    lens = lens_for(reader, rt.app, (f.id for f, v in shown if v == Open311View.FULL))
    out = [request_item(for_lens(lens, f, v), rt.config, v) for f, v in shown]
    return _render_requests(fmt, out, reader)


def _get_case(rt: Runtime, raw: str) -> Case | None:
    try:
        cid = uuid.UUID(raw)
    except ValueError:
        return None
    try:
        return rt.app.get_case(cid)
    except CaseNotFound:
        return None


@router.get("/requests/{service_request_id}.{fmt}", summary="查询单个服务请求")
def get_request(request: Request, service_request_id: str, fmt: str, api_key: ApiKey = None) -> Response:
    fmt = _fmt(fmt)
    rt = runtime_of(request)
    reader = open311_reader(request, api_key)
    case = _get_case(rt, service_request_id)
    facts = _case_facts(case) if case is not None else None
    view = view_of(reader, facts) if facts is not None else Open311View.HIDDEN
    if case is None or facts is None or view == Open311View.HIDDEN:
        # A hidden case answers exactly like one that does not exist.
        raise ApiError(404, "not_found", f"service_request_id 不存在：{service_request_id[:64]}")
    item = request_item(for_lens(lens_for_case(reader, case), facts, view), rt.config, view)
    if reader is not None and view == Open311View.FULL:
        # The full view shows what the resident wrote and where: audited like the case API.
        audit(request, reader, case, "open311")
    return _render_requests(fmt, [item], reader)


_POST_FIELDS: dict[str, Any] = {
    "type": "object",
    "required": ["api_key", "service_code", "description"],
    "properties": {
        "api_key": {"type": "string", "description": "话务员令牌（operator token）"},
        "service_code": {"type": "string", "description": "诉求分类代码，见 services"},
        "description": {"type": "string", "maxLength": 4000, "description": "诉求内容"},
        "lat": {"type": "number"},
        "long": {"type": "number"},
        "address_string": {"type": "string"},
        "address_id": {"type": "string"},
        "email": {"type": "string"},
        "device_id": {"type": "string"},
        "account_id": {"type": "string"},
        "first_name": {"type": "string"},
        "last_name": {"type": "string"},
        "phone": {"type": "string"},
        "media_url": {"type": "string"},
        "attribute[concern]": {"type": "string", "enum": ["worry", "trouble", "anguish"]},
        "attribute[appeal_type]": {"type": "string", "enum": channel.APPEAL_TYPES},
        "attribute[confidential]": {
            "type": "string",
            "enum": ["true", "false"],
            "description": "保密件：承办单位看不到提交人姓名和电话，由中心转达",
        },
    },
}


@router.post(
    "/requests.{fmt}",
    summary="提交服务请求（表单编码，带 api_key）",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": _POST_FIELDS}},
        }
    },
)
async def create_request(request: Request, fmt: str) -> Response:
    fmt = _fmt(fmt)
    rt = runtime_of(request)
    ctype = request.headers.get("content-type", "")
    fields: dict[str, Any]
    if ctype.startswith("application/json"):
        try:
            raw = await request.json()
        except ValueError:
            raise ApiError(400, "bad_request", "请求体不是合法的 JSON") from None
        fields = raw if isinstance(raw, dict) else {}
    else:
        form = await request.form()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    try:
        fields = channel.post_fields(fields)
    except channel.RequestRefused as exc:
        raise _refused(exc) from None
    api_key = fields.get("api_key") or request.query_params.get("api_key") or bearer_token(request) or ""
    try:
        principal = principal_from_token(request, api_key)
        check_role(principal, Permission.CASE_CREATE)
    except ApiError as exc:
        raise ApiError(403, "forbidden", "api_key 缺失或无效" if exc.status == 401 else exc.message) from None
    try:
        command = channel.service_request(fields, rt.config, sender=principal.fingerprint)
    except channel.RequestRefused as exc:
        raise _refused(exc) from None
    submitted = submit_command(rt, command, principal.id, position="open311")
    item: dict[str, Any] = {
        "service_request_id": str(submitted.case_id) if submitted.case_id else None,
        "service_notice": "已受理，将按时限办理" if not submitted.duplicate else "该请求已提交过",
        "account_id": fields.get("account_id") or None,
    }
    return render(fmt, "service_requests", [item], status=201 if not submitted.duplicate else 200)
