"""Open311 GeoReport v2 service requests (docs/channels.md): a form a GeoReport client posts becomes an
:class:`engine.intake.IntakeCommand` of the app channel; the district's categories are the
services it may name.

- service_code = our category code; service_name = its Chinese name; the service's attributes
  are the concern (三事) and the appeal type.
- The same client, service, text and place is the same request (a retry): the command's
  source_ref is a digest of them, so it becomes the same case.

Unlike the file channels, a request is answered at once: a request that cannot become a case is
refused (:class:`RequestRefused`) to the client, never dead-lettered. No HTTP here: the routes
and GeoReport's JSON/XML rendering are ``adapters.http.open311``'s.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.config import SanshiConfig
from engine.contract import APPEAL_TYPES as CONTRACT_APPEAL_TYPES
from engine.contract import (
    MAX_ATTRIBUTES,
    MAX_CODE,
    Address,
    AttributeValue,
    Code,
    Description,
    Email,
    Name,
    Phone,
    Ref,
    Url,
)
from engine.deadlines import SHANGHAI
from engine.intake import Channel, Concern, IntakeCommand
from engine.vocabulary import APPEAL_TYPES as APPEAL_TYPE_TERMS
from engine.vocabulary import CONCERNS

from .common import RecordError, flag

APPEAL_TYPES = list(CONTRACT_APPEAL_TYPES)


class RequestRefused(ValueError):
    """The request cannot become a case; ``message`` says why, in Chinese, for the client.
    ``unknown_service``: its service_code names no category (GeoReport answers that 404, the
    rest 400)."""

    def __init__(self, message: str, unknown_service: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.unknown_service = unknown_service


# ---- services ----------------------------------------------------------------------------------


def service(config: SanshiConfig, code: str) -> dict[str, Any]:
    c = config.category(code)
    return {
        "service_code": c.code,
        "service_name": c.name,
        "description": c.description or "、".join(c.keywords) or c.name,
        "metadata": True,
        "type": "realtime",
        "keywords": ",".join(c.keywords),
        "group": config.district.name,
    }


def services(config: SanshiConfig) -> list[dict[str, Any]]:
    return [service(config, c.code) for c in config.categories]


def service_definition(config: SanshiConfig, service_code: str) -> dict[str, Any]:
    if service_code not in config.category_codes():
        raise RequestRefused(f"service_code 不存在：{service_code[:64]}", unknown_service=True)
    return {
        "service_code": service_code,
        "attributes": [
            {
                "variable": True,
                "code": "concern",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "三事分级："
                + " / ".join(f"{t.code} {t.long_label}" for t in CONCERNS),
                "order": 1,
                "description": "诉求等级（三事）",
                "values": [{"key": t.code, "name": t.long_label} for t in CONCERNS],
            },
            {
                "variable": True,
                "code": "appeal_type",
                "datatype": "singlevaluelist",
                "required": False,
                "datatype_description": "诉求类型",
                "order": 2,
                "description": "诉求类型",
                "values": [{"key": t.code, "name": t.label} for t in APPEAL_TYPE_TERMS],
            },
        ],
    }


# ---- service request → intake command ----------------------------------------------------------


class PostFields(BaseModel):
    """What a POST may carry, under the input contract (engine.contract): every text clean and
    bounded; attribute[...] values short (the service lists their values). Unknown fields are
    ignored, as GeoReport clients may send more than this service reads."""

    model_config = ConfigDict(extra="ignore")

    api_key: Annotated[str, Field(max_length=500)] = ""
    service_code: Code = ""
    description: Description = ""
    lat: Annotated[str, Field(max_length=64)] = ""
    long: Annotated[str, Field(max_length=64)] = ""
    address_string: Address = ""
    address_id: Ref = ""
    email: Email = ""
    device_id: Ref = ""
    account_id: Ref = ""
    first_name: Name = ""
    last_name: Name = ""
    phone: Phone = ""
    media_url: Url = ""
    attributes: Annotated[dict[Code, AttributeValue], Field(max_length=MAX_ATTRIBUTES)] = {}

    @property
    def appeal_type(self) -> str:
        return self.attributes.get("appeal_type", "")


def post_fields(raw: dict[str, Any]) -> dict[str, str]:
    """The fields this service reads (attribute[...] included), as text: numbers are spelled
    out, null is absent, and anything else (an object, a list) is refused rather than turned
    into its Python spelling. Other fields are ignored, whatever they hold."""
    out: dict[str, str] = {}
    for key, value in raw.items():
        name = str(key)
        if value is None or not (name in PostFields.model_fields or name.startswith("attribute[")):
            continue
        if isinstance(value, str):
            out[name] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = str(value)
        else:
            raise RequestRefused(f"{name[: MAX_CODE + 11]} 须为文本或数字")
    return out


def _checked_post(fields: dict[str, str]) -> PostFields:
    attributes = {
        k[len("attribute[") : -1][:MAX_CODE + 1]: v
        for k, v in fields.items()
        if k.startswith("attribute[") and k.endswith("]")
    }
    plain = {k: v for k, v in fields.items() if not k.startswith("attribute[")}
    try:
        return PostFields.model_validate({**plain, "attributes": attributes})
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False, include_input=False):
            loc = [str(p) for p in err["loc"]]
            attribute = loc[:1] == ["attributes"] and len(loc) > 1
            where = f"attribute[{loc[1]}]" if attribute else ".".join(loc)
            limit = (err.get("ctx") or {}).get("max_length")
            if err["type"] in ("string_too_long", "too_long") and limit is not None:
                what = f"太长（最多 {limit} {'项' if err['type'] == 'too_long' else '字'}）"
            else:
                what = err["msg"]
            problems.append(f"{where}：{what}")
        raise RequestRefused("请求参数有误：" + "；".join(problems)) from None


def service_request(
    fields: dict[str, str], config: SanshiConfig, sender: str, now: dt.datetime | None = None
) -> IntakeCommand:
    """The command for a service request: ``fields`` as :func:`post_fields` gave them,
    ``sender`` the fingerprint of the key that posted it (a retry by the same client is the
    same case). Raises :class:`RequestRefused`."""
    post = _checked_post(fields)  # the input contract, before anything is looked at
    code = fields.get("service_code", "")
    if not code:
        raise RequestRefused("缺少 service_code")
    if code not in config.category_codes():
        raise RequestRefused(f"service_code 不存在：{code[:64]}", unknown_service=True)
    description = fields.get("description", "").strip()
    if not description:
        raise RequestRefused("缺少 description（诉求内容）")
    lat, lng = fields.get("lat", ""), fields.get("long", "")
    address = fields.get("address_string", "").strip()
    if not address and not (lat and lng) and not fields.get("address_id"):
        raise RequestRefused("缺少位置：lat/long、address_string 或 address_id 至少一项")
    lat_f = lng_f = None
    if lat and lng:
        try:
            lat_f, lng_f = float(lat), float(lng)
        except ValueError:
            raise RequestRefused("lat/long 必须是数字") from None
        if not (-90 <= lat_f <= 90 and -180 <= lng_f <= 180):
            raise RequestRefused("lat/long 超出范围")
    concern = fields.get("attribute[concern]", "worry")
    if concern not in {c.value for c in Concern}:
        raise RequestRefused("attribute[concern] 只能是 worry / trouble / anguish")
    if post.appeal_type not in ("", *APPEAL_TYPES):
        raise RequestRefused(f"attribute[appeal_type] 只能是 {' / '.join(APPEAL_TYPES)}")

    # 保密件 read as every door reads a yes/no; a value that is neither is refused, never taken
    # as "no" (a resident who ticked the box must not become an ordinary case).
    try:
        confidential = flag(fields, "attribute[confidential]", "保密件")
    except RecordError as exc:
        raise RequestRefused(str(exc)) from None

    # The same client + service + text + place is the same request (a retry): one case.
    who = fields.get("device_id") or fields.get("account_id") or fields.get("email") or ""
    digest = hashlib.sha256(
        "\x1f".join([sender, who, code, description, lat, lng, address]).encode("utf-8")
    ).hexdigest()[:32]
    name = "".join(x for x in (fields.get("last_name", ""), fields.get("first_name", "")) if x)
    extra: dict[str, Any] = {
        "open311": {
            k: v
            for k, v in fields.items()
            if k in ("service_code", "device_id", "account_id", "address_id", "media_url")
            or k.startswith("attribute[")
        },
        "photos": [fields["media_url"]] if fields.get("media_url") else [],
    }
    if fields.get("email"):
        extra["email"] = fields["email"]
    if lat_f is not None:
        extra["lat"], extra["lng"] = lat_f, lng_f
    try:
        return IntakeCommand(
            channel=Channel.APP,
            source_ref=f"open311-{digest}",
            received_at=now or dt.datetime.now(SHANGHAI),
            content=description,
            address=address,
            caller_name=name,
            caller_phone=fields.get("phone", ""),
            appeal_type=fields.get("attribute[appeal_type]", ""),
            urgent=concern == Concern.ANGUISH.value,
            category_hint=code,
            concern=Concern(concern),
            confidential=confidential,
            extra=extra,
        )
    except ValidationError as exc:
        problems = "；".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise RequestRefused(f"请求参数有误：{problems}") from None
